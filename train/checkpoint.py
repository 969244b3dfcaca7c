"""Checkpoints: one directory per step, written whole or not at all.

    run_dir/step-000123/model.safetensors    weights (safetensors: loading runs no code)
                        optimizer.pt          optimizer state (torch.save; loaded weights_only=True)
                        state.json            {"step", "state" (loader position, ...), "meta" (model config, train config, ...)}
                        tokenizer.model       copy of the tokenizer, so a checkpoint is self-contained
                        special_tokens.json
    run_dir/latest                            name of the newest complete step dir

A step is written into a temporary sibling directory and renamed into place, then ``latest``
is replaced atomically: a crash at any point leaves the previous checkpoint intact.

Loading checks everything before using it (state.json, the model config, every tensor's name,
shape, dtype and finiteness, the tokenizer's hash and vocab, the optimizer state) and raises
one error class, ``CheckpointError``, whose message names the file and what is wrong with it.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from contract.atomic import write_text_atomic
from contract.tokens import SPECIALS_FILE, file_sha256, load_special_tokens
from train.model import GPT, GPTConfig
from contract.tokens import Tokenizer

STEP_PREFIX = "step-"
CORRUPT_PREFIX = "corrupt-"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, truncated, corrupt or mismatched files."""


class ModelMismatch(ValueError):
    """A sound checkpoint of another model or optimizer than the settings build: the settings
    changed (a resume refuses it; it is not corrupt and is left where it is)."""


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
    if path is not None and special is None and (path.parent / SPECIALS_FILE).exists():
        special = load_special_tokens(path.parent)
    return path, special


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
        save_file({k: t.detach().contiguous() for k, t in tensors.items()}, tmp / "model.safetensors",
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
                (tmp / SPECIALS_FILE).write_text(json.dumps(special, indent=2))
            tok_meta = dict(meta.get("tokenizer") or {})
            tok_meta.update({"path": "tokenizer.model", "sha256": file_sha256(tok_path),
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
    if _complete(path) or (path.is_dir() and (path.name.startswith(STEP_PREFIX)
                                              or (path / "state.json").exists())):
        return path     # a step dir, even a damaged one: loading says what is wrong with it
    latest = latest_checkpoint(path)
    if latest is None:
        raise FileNotFoundError(f"no checkpoint at {path} (neither a step dir nor a run dir with one)")
    return latest


def read_state(path) -> dict:
    return _read_doc(resolve(path))


def checkpoints_newest_first(run_dir) -> list[Path]:
    """Every step dir of ``run_dir`` (complete or not), newest first: what a resume tries."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    return sorted((p for p in run_dir.iterdir() if p.is_dir() and p.name.startswith(STEP_PREFIX)), reverse=True)


def set_aside(step_dir: Path) -> Path:
    """Rename a corrupt step dir to ``corrupt-step-N`` (kept for inspection, never deleted):
    rotation and later saves of the same step then leave it alone."""
    target = step_dir.with_name(CORRUPT_PREFIX + step_dir.name)
    n = 1
    while target.exists():
        target = step_dir.with_name(f"{CORRUPT_PREFIX}{step_dir.name}.{n}")
        n += 1
    os.replace(step_dir, target)
    return target


def _read_doc(step_dir: Path) -> dict:
    """state.json, checked: a mapping with an integer step and a meta mapping."""
    path = step_dir / "state.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not readable JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("meta"), dict):
        raise CheckpointError(f"{path}: no meta block (not a checkpoint's state.json)")
    if not isinstance(doc.get("step"), int) or isinstance(doc.get("step"), bool):
        raise CheckpointError(f"{path}: no integer step")
    if not isinstance(doc.get("state", {}), dict):
        raise CheckpointError(f"{path}: state is not a mapping")
    return doc


def _model_config(step_dir: Path, meta: dict) -> GPTConfig:
    raw = meta.get("model_config")
    where = step_dir / "state.json"
    if not isinstance(raw, dict):
        raise CheckpointError(f"{where}: meta.model_config is missing")
    for key in ("vocab_size", "n_layer", "n_head", "n_embd", "seq_len"):
        v = raw.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise CheckpointError(f"{where}: meta.model_config.{key} is {v!r}, not a positive integer")
    try:
        return GPTConfig.from_dict(raw)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{where}: meta.model_config is not a valid model ({e})") from None


def _checked_tensors(step_dir: Path, model: torch.nn.Module, device) -> dict[str, torch.Tensor]:
    """The weights file's tensors, refused unless they are exactly the model's: same names,
    shapes, a floating dtype where the model has one, and no NaN/inf. Names, shapes and dtypes
    come from the header, before any tensor is read; the tensors are memory-mapped."""
    path = step_dir / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    try:
        with safe_open(path, framework="pt", device=str(device)) as f:
            aliases = json.loads((f.metadata() or {}).get("aliases") or "{}")
            header = {name: f.get_slice(name) for name in f.keys()}
            _check_header(path, header, aliases, unwrap(model).state_dict())
            tensors = {name: f.get_tensor(name) for name in header}
        for dup, kept in aliases.items():
            tensors[dup] = tensors[kept]
    except (SafetensorError, OSError, ValueError, TypeError, KeyError, AttributeError, RuntimeError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    for name, got in tensors.items():
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise CheckpointError(f"{path}: tensor {name!r} holds NaN or inf values")
    return tensors


def _check_header(path: Path, header: dict, aliases: dict, expected: dict) -> None:
    """Names (aliases included), shapes and dtype kinds of the file against the model's."""
    names = set(header) | {dup for dup, kept in aliases.items() if kept in header}
    missing = [k for k in expected if k not in names]
    unexpected = [k for k in names if k not in expected]
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit the model in state.json "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    for name, want in expected.items():
        entry = header[name] if name in header else header[aliases[name]]
        shape, dtype = tuple(entry.get_shape()), entry.get_dtype()
        if shape != tuple(want.shape):
            raise CheckpointError(f"{path}: tensor {name!r} has shape {shape}, the model in "
                                  f"state.json needs {tuple(want.shape)}")
        if want.is_floating_point() and not dtype.startswith(("F", "BF")):
            raise CheckpointError(f"{path}: tensor {name!r} has dtype {dtype}, not a floating type")


def _load_weights(step_dir: Path, model: torch.nn.Module, device) -> None:
    unwrap(model).load_state_dict(_checked_tensors(step_dir, model, device), strict=True)


def _has_tokenizer(step_dir: Path, meta: dict | None = None) -> bool:
    """Whether the checkpoint carries a tokenizer: its file, or the hash it was saved with."""
    if (step_dir / "tokenizer.model").exists():
        return True
    if meta is None:
        try:
            meta = _read_doc(step_dir)["meta"]
        except CheckpointError:
            return False
    return isinstance(meta.get("tokenizer"), dict) and bool(meta["tokenizer"].get("sha256"))


def load_tokenizer(step_dir: Path, meta: dict | None = None):
    """The checkpoint's own tokenizer, checked against the hash and vocab saved with it."""
    step_dir = Path(step_dir)
    meta = meta if meta is not None else _read_doc(step_dir)["meta"]
    path = step_dir / "tokenizer.model"
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (the checkpoint carries no tokenizer)")
    info = meta.get("tokenizer") if isinstance(meta.get("tokenizer"), dict) else {}
    want = info.get("sha256")
    if want and file_sha256(path) != want:
        raise CheckpointError(f"{path}: sha256 {file_sha256(path)} is not the {want} this checkpoint was "
                              f"saved with (another tokenizer)")
    try:
        tok = Tokenizer(path)
    except (OSError, RuntimeError, ValueError, TypeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not a usable tokenizer ({e})") from None
    vocab = (meta.get("model_config") or {}).get("vocab_size")
    if vocab is not None and tok.vocab_size != vocab:
        raise CheckpointError(f"{path}: vocab {tok.vocab_size} does not match the model's {vocab} "
                              f"(another tokenizer)")
    return tok


def load_checkpoint(path, device="cpu"):
    """(model in eval mode on ``device``, tokenizer, meta), everything checked first
    (CheckpointError otherwise). ``path``: a step dir or a run dir (its latest)."""
    step_dir = resolve(path)
    doc = _read_doc(step_dir)
    meta = doc["meta"]
    config = _model_config(step_dir, meta)
    tokenizer = load_tokenizer(step_dir, meta)
    model = GPT(config)
    _load_weights(step_dir, model, "cpu")
    model.to(device)
    model.eval()
    tok = dict(meta.get("tokenizer") or {})
    tok["path"] = str((step_dir / "tokenizer.model").resolve())
    meta["tokenizer"] = tok
    meta["step"] = doc["step"]
    meta["checkpoint"] = str(step_dir)
    return model, tokenizer, meta


def load_model(path, device="cpu") -> tuple[GPT, dict]:
    """(model in eval mode on ``device``, meta). ``path``: a step dir or a run dir (its latest).
    meta["tokenizer"]["path"] is made absolute (the copy in the step dir); meta["step"] is set.
    A checkpoint saved without a tokenizer loads too (its tokenizer is then not checked)."""
    step_dir = resolve(path)
    if _has_tokenizer(step_dir):
        model, _, meta = load_checkpoint(step_dir, device)
        return model, meta
    doc = _read_doc(step_dir)
    meta = doc["meta"]
    model = GPT(_model_config(step_dir, meta))
    _load_weights(step_dir, model, "cpu")
    model.to(device)
    model.eval()
    meta["step"] = doc["step"]
    meta["checkpoint"] = str(step_dir)
    return model, meta


def load_training_state(path, model, optimizer) -> dict:
    """Load weights into ``model`` and state into ``optimizer`` (one or a list); returns the
    saved ``state`` dict with ``step`` added. The checkpoint is checked against its own model
    config first (CheckpointError: it is damaged), then against ``model`` and ``optimizer``
    (ModelMismatch: the settings changed); either leaves the model's weights untouched."""
    step_dir = resolve(path)
    doc = _read_doc(step_dir)
    saved_cfg = _model_config(step_dir, doc["meta"])
    if _has_tokenizer(step_dir, doc["meta"]):
        load_tokenizer(step_dir, doc["meta"])
    with torch.device("meta"):
        shadow = GPT(saved_cfg)          # shapes only: is the checkpoint consistent with itself?
    device = next(unwrap(model).parameters()).device
    tensors = _checked_tensors(step_dir, shadow, device)
    have = unwrap(model).config.to_dict()
    diff = {k: (v, have.get(k)) for k, v in saved_cfg.to_dict().items() if have.get(k) != v}
    if diff:
        raise ModelMismatch(f"{step_dir} holds another model than the settings build "
                            + ", ".join(f"{k} {a} (settings: {b})" for k, (a, b) in sorted(diff.items()))
                            + "; resume with the settings it was trained with")
    saved = None
    if optimizer is not None:
        opt_file = step_dir / "optimizer.pt"
        if not opt_file.is_file():
            raise CheckpointError(f"{opt_file}: missing (the checkpoint has no optimizer state)")
        try:
            saved = torch.load(opt_file, map_location=device, weights_only=True)
        except Exception as e:      # torch raises many kinds for a damaged zip/pickle
            raise CheckpointError(f"{opt_file}: not a readable optimizer state ({type(e).__name__}: "
                                  f"{str(e).splitlines()[0] if str(e) else ''})") from None
        opts = list(optimizer) if isinstance(optimizer, (list, tuple)) else [optimizer]
        states = saved.get("optimizers") if isinstance(saved, dict) else None
        if not isinstance(states, list) or not all(isinstance(x, dict) for x in states):
            raise CheckpointError(f"{opt_file}: no list of optimizer states")
        if len(states) != len(opts):
            raise ModelMismatch(f"{opt_file}: {len(states)} optimizer state(s) for {len(opts)} optimizer(s); "
                                f"resume with the optimizer it was trained with")
    unwrap(model).load_state_dict(tensors, strict=True)
    if saved is not None:
        for o, sd in zip(opts, states):
            try:
                o.load_state_dict(sd)
            except (ValueError, KeyError, TypeError, RuntimeError) as e:
                raise ModelMismatch(f"{step_dir / 'optimizer.pt'}: does not fit the optimizer ({e}); "
                                    f"resume with the optimizer settings it was trained with") from None
    state = dict(doc.get("state") or {})
    state["step"] = doc["step"]
    return state
