"""Checkpoints: one directory per step, written whole or not at all.

    run_dir/step-000123/model.safetensors    weights (safetensors: loading runs no code)
                        optimizer.pt          optimizer state (torch.save; loaded weights_only=True)
                        state.json            {"step", "state" (loader position, ...), "meta" (model config, train config, ...)}
                        tokenizer.model       copy of the tokenizer, so a checkpoint is self-contained
                        special_tokens.json
    run_dir/latest                            name of the newest complete step dir

A step is written into a temporary sibling directory and renamed into place, then ``latest``
is replaced atomically: a crash at any point leaves the previous checkpoint intact.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from contract.atomic import write_text_atomic
from train import safetensors_io
from train.model import GPT, GPTConfig

STEP_PREFIX = "step-"


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain GPT inside DDP and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def step_dir_name(step: int) -> str:
    return f"{STEP_PREFIX}{step:06d}"


def _model_tensors(model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """state_dict without tied duplicates (safetensors stores no aliases); aliases map dup -> kept."""
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for name, t in unwrap(model).state_dict().items():
        key = (t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride())) if t.numel() else None
        if key is not None and key in seen:
            aliases[name] = seen[key]
            continue
        if key is not None:
            seen[key] = name
        tensors[name] = t
    return tensors, aliases


def _optimizer_states(optimizer) -> dict | None:
    if optimizer is None:
        return None
    if isinstance(optimizer, (list, tuple)):
        return {"optimizers": [o.state_dict() for o in optimizer]}
    return {"optimizers": [optimizer.state_dict()]}


def _tokenizer_files(meta: dict, tokenizer) -> tuple[Path | None, dict | None]:
    """Where the tokenizer comes from: an explicit Tokenizer/path, else meta["tokenizer"]["path"]."""
    path, special = None, None
    if tokenizer is not None:
        if hasattr(tokenizer, "model_path"):
            path, special = Path(tokenizer.model_path), dict(tokenizer.special)
        else:
            path = Path(tokenizer)
    elif isinstance(meta.get("tokenizer"), dict) and meta["tokenizer"].get("path"):
        path = Path(meta["tokenizer"]["path"])
        special = meta["tokenizer"].get("special_tokens")
    if path is not None and special is None:
        sidecar = path.parent / "special_tokens.json"
        if sidecar.exists():
            special = json.loads(sidecar.read_text())
    return path, special


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(run_dir, step: int, model, optimizer, state: dict, meta: dict, *,
                    tokenizer=None, keep: int | None = None) -> Path:
    """Write ``run_dir/step-NNNNNN`` atomically and point ``run_dir/latest`` at it.

    ``state``: JSON-able training state (loader position, counters). ``meta``: JSON-able
    description (train config, ...); the model config is added here. The tokenizer copied in is
    ``tokenizer`` (a Tokenizer or a path) or ``meta["tokenizer"]["path"]``. ``keep``: keep only
    the newest ``keep`` step dirs. Returns the step dir."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / step_dir_name(step)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=run_dir))
    try:
        meta = json.loads(json.dumps(meta or {}, default=str))
        net = unwrap(model)
        meta["model_config"] = net.config.to_dict()
        tensors, aliases = _model_tensors(net)
        safetensors_io.save_file(tensors, tmp / "model.safetensors",
                                 metadata={"format": "pt", "aliases": json.dumps(aliases)})
        opt = _optimizer_states(optimizer)
        if opt is not None:
            torch.save(opt, tmp / "optimizer.pt")
        tok_path, special = _tokenizer_files(meta, tokenizer)
        if tok_path is not None:
            if not tok_path.exists():
                raise FileNotFoundError(f"tokenizer model not found: {tok_path}")
            shutil.copyfile(tok_path, tmp / "tokenizer.model")
            if special is not None:
                (tmp / "special_tokens.json").write_text(json.dumps(special, indent=2))
            tok_meta = dict(meta.get("tokenizer") or {})
            tok_meta.update({"path": "tokenizer.model", "sha256": _sha256(tok_path),
                             "special_tokens": special, "vocab_size": net.config.vocab_size})
            meta["tokenizer"] = tok_meta
        doc = {"step": int(step), "state": state or {}, "meta": meta}
        (tmp / "state.json").write_text(json.dumps(doc, indent=1))
        for f in tmp.iterdir():          # data on disk before the rename makes it visible
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():               # re-saving a step (e.g. after a resume): replace it
            old = run_dir / f".{final.name}.old-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_text_atomic(run_dir / "latest", final.name + "\n")
    if keep:
        steps = sorted(p for p in run_dir.iterdir() if p.is_dir() and p.name.startswith(STEP_PREFIX))
        for old in steps[:-keep]:
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    return final


def _complete(step_dir: Path) -> bool:
    return (step_dir / "state.json").exists() and (step_dir / "model.safetensors").exists()


def latest_checkpoint(run_dir) -> Path | None:
    """The newest complete step dir of ``run_dir`` (``latest`` if valid, else the highest step)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return None
    pointer = run_dir / "latest"
    if pointer.exists():
        cand = run_dir / pointer.read_text().strip()
        if _complete(cand):
            return cand
    steps = sorted(p for p in run_dir.iterdir()
                   if p.is_dir() and p.name.startswith(STEP_PREFIX) and _complete(p))
    return steps[-1] if steps else None


def resolve(path) -> Path:
    """A step dir as given, or a run dir's latest step."""
    path = Path(path)
    if _complete(path):
        return path
    latest = latest_checkpoint(path)
    if latest is None:
        raise FileNotFoundError(f"no checkpoint at {path} (neither a step dir nor a run dir with one)")
    return latest


def read_state(path) -> dict:
    return json.loads((resolve(path) / "state.json").read_text())


def _load_weights(step_dir: Path, model: torch.nn.Module, device) -> None:
    tensors = safetensors_io.load_file(step_dir / "model.safetensors", device=device)
    aliases = json.loads(safetensors_io.load_metadata(step_dir / "model.safetensors").get("aliases") or "{}")
    for dup, kept in aliases.items():
        tensors[dup] = tensors[kept]
    missing, unexpected = unwrap(model).load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise ValueError(f"{step_dir / 'model.safetensors'}: weights do not fit the model "
                         f"(missing {missing[:5]}, unexpected {unexpected[:5]})")


def load_model(path, device="cpu") -> tuple[GPT, dict]:
    """(model in eval mode on ``device``, meta). ``path``: a step dir or a run dir (its latest).
    meta["tokenizer"]["path"] is made absolute (the copy in the step dir); meta["step"] is set."""
    step_dir = resolve(path)
    doc = json.loads((step_dir / "state.json").read_text())
    meta = doc.get("meta") or {}
    config = GPTConfig.from_dict(meta["model_config"])
    model = GPT(config)
    _load_weights(step_dir, model, "cpu")
    model.to(device)
    model.eval()
    if (step_dir / "tokenizer.model").exists():
        tok = dict(meta.get("tokenizer") or {})
        tok["path"] = str((step_dir / "tokenizer.model").resolve())
        meta["tokenizer"] = tok
    meta["step"] = doc.get("step")
    meta["checkpoint"] = str(step_dir)
    return model, meta


def load_training_state(path, model, optimizer) -> dict:
    """Load weights into ``model`` and state into ``optimizer`` (one or a list); returns the
    saved ``state`` dict with ``step`` added."""
    step_dir = resolve(path)
    doc = json.loads((step_dir / "state.json").read_text())
    device = next(unwrap(model).parameters()).device
    _load_weights(step_dir, model, device)
    if optimizer is not None:
        opt_file = step_dir / "optimizer.pt"
        if not opt_file.exists():
            raise FileNotFoundError(f"{opt_file}: checkpoint has no optimizer state")
        saved = torch.load(opt_file, map_location=device, weights_only=True)
        opts = list(optimizer) if isinstance(optimizer, (list, tuple)) else [optimizer]
        if len(saved["optimizers"]) != len(opts):
            raise ValueError(f"{opt_file}: {len(saved['optimizers'])} optimizer states for {len(opts)} optimizers")
        for o, sd in zip(opts, saved["optimizers"]):
            o.load_state_dict(sd)
    state = dict(doc.get("state") or {})
    state["step"] = doc.get("step")
    return state
