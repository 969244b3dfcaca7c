"""`train sft`: supervised fine-tuning of a pretrained checkpoint on conversations.

    train sft PIPELINE.yaml [--set train.sft.KEY=VALUE ...] [--resume] [--init CKPT]

Data: the built-in conversations (``train.sft_data``), the files in ``data`` and
``extra_data`` (JSONL/Parquet with a ``messages`` column; ``train probe`` writes such a
file). Each conversation is rendered by ``train.chat_format``; the loss covers only the
assistant's text and its ``<|assistant_end|>`` token.

Batching: ONE conversation per row, right-padded to the longest row of the batch (pad
targets are ignored). The model's attention is causal, so a row's real tokens never see
the padding after them, and no conversation ever attends to another — no cross-talk by
construction, with no attention-mask machinery. To keep padding low, batches are drawn
from length-sorted pools of shuffled conversations. A conversation longer than the
context is dropped (``overflow: drop``, the default) or cut (``overflow: truncate``); both
are counted in the log. A batch without a supervised token is skipped and counted (never
a NaN loss).

Writes ``<output>/train/sft/step-N/`` checkpoints in the pretraining format, and
``log.jsonl`` beside them; ``--resume`` continues from the latest one, batch for batch.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import time
from pathlib import Path

import torch

from train import config as train_config
from train.chat_format import render, render_prompt, stop_ids, decode_reply
from train.sft_data import builtin_conversations, load_conversations

# Every key, its kind and its constraint: train/config.py SCHEMAS["sft"].
DEFAULTS = train_config.defaults("sft")


# --- data -----------------------------------------------------------------------------------

def gather_conversations(params: dict) -> list[dict]:
    """Built-in conversations, then every user and extra file, in a fixed order."""
    convs: list[dict] = []
    b = params.get("builtin")
    if b and int(b.get("n", 0)) > 0:
        convs += builtin_conversations(int(b["n"]), int(b.get("seed", 0)), b.get("mix"),
                                       tuple(b.get("arithmetic_levels") or (1,)))
    for key in ("data", "extra_data"):
        files = params.get(key) or []
        if isinstance(files, (str, Path)):
            files = [files]
        for path in files:
            convs += load_conversations(path)
    if not convs:
        raise ValueError("no SFT conversations: enable train.sft.builtin or give train.sft.data files")
    return convs


def encode_conversations(convs: list[dict], tokenizer, max_len: int, overflow: str):
    """Render every conversation to (inputs, targets); returns (examples, counts).

    ``max_len`` bounds the input row length (rendered ids minus one). Counts say how many
    were kept, truncated, dropped for length, and dropped for having nothing to learn.
    """
    if overflow not in ("drop", "truncate"):
        raise ValueError(f"train.sft.overflow must be 'drop' or 'truncate', not {overflow!r}")
    examples, counts = [], {"conversations": len(convs), "kept": 0, "truncated": 0,
                            "dropped_too_long": 0, "dropped_no_supervised": 0}
    for c in convs:
        ids, mask = render(c["messages"], tokenizer)
        if len(ids) - 1 > max_len:
            if overflow == "drop":
                counts["dropped_too_long"] += 1
                continue
            ids, mask = ids[: max_len + 1], mask[: max_len + 1]
            counts["truncated"] += 1
        targets = [t if m else -1 for t, m in zip(ids[1:], mask[1:])]
        if not any(t >= 0 for t in targets):
            counts["dropped_no_supervised"] += 1
            continue
        examples.append((ids[:-1], targets))
        counts["kept"] += 1
    return examples, counts


def split_val(convs: list[dict], fraction: float) -> tuple[list[dict], list[dict]]:
    """Deterministic split by a hash of the messages (identical conversations land together)."""
    if fraction <= 0:
        return convs, []
    train, val = [], []
    for c in convs:
        h = hashlib.sha1(json.dumps(c["messages"], sort_keys=True).encode()).digest()
        (val if int.from_bytes(h[:4], "big") / 2**32 < fraction else train).append(c)
    if not train:  # tiny data sets: never leave training empty
        return val, []
    return train, val


def epoch_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Indices per batch for one epoch: shuffle, sort within pools of 16 batches by length
    (less padding), cut into batches, shuffle the batches. Deterministic in (seed, epoch)."""
    r = random.Random(seed * 100003 + epoch)
    order = list(range(len(lengths)))
    r.shuffle(order)
    pool = batch_size * 16
    batches = []
    for s in range(0, len(order), pool):
        chunk = sorted(order[s:s + pool], key=lambda i: lengths[i])
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    r.shuffle(batches)
    return batches


def collate(examples: list, idx: list[int], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad the rows to the batch's longest; pad inputs 0, pad targets -1 (ignored)."""
    T = max(len(examples[i][0]) for i in idx)
    x = torch.zeros(len(idx), T, dtype=torch.long)
    y = torch.full((len(idx), T), -1, dtype=torch.long)
    for r, i in enumerate(idx):
        inp, tgt = examples[i]
        x[r, : len(inp)] = torch.tensor(inp)
        y[r, : len(tgt)] = torch.tensor(tgt)
    return x.to(device), y.to(device)


class Schedule:
    """Steps -> batches across epochs, so a resumed run sees the same batches."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed = lengths, batch_size, seed
        self.per_epoch = math.ceil(len(lengths) / batch_size)
        self._cache: dict[int, list[list[int]]] = {}

    def batch(self, step: int) -> list[int]:
        epoch, i = divmod(step, self.per_epoch)
        if epoch not in self._cache:
            self._cache = {epoch: epoch_batches(self.lengths, self.batch_size, self.seed, epoch)}
        return self._cache[epoch][i]


def lr_at(step: int, total: int, lr: float, warmup: int, min_frac: float, time_frac: float = 0.0) -> float:
    """Linear warmup, then linear decay to ``lr * min_frac``. Under a time budget the decay
    follows time when time is further along than steps, so a slow machine still anneals."""
    if warmup and step < warmup:
        return lr * (step + 1) / warmup
    frac = max((step - warmup) / max(1, total - warmup), time_frac)
    return lr * (1.0 - (1.0 - min_frac) * min(1.0, frac))


@torch.no_grad()
def evaluate(model, examples: list, batch_size: int, device) -> float | None:
    """Mean loss per supervised token over ``examples``."""
    if not examples:
        return None
    model.eval()
    total, count = 0.0, 0
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    for s in range(0, len(order), batch_size):
        x, y = collate(examples, order[s:s + batch_size], device)
        _, loss = model(x, y, reduction="none")
        total += float(loss.sum())
        count += int((y >= 0).sum())
    model.train()
    return total / max(1, count)


# --- the run --------------------------------------------------------------------------------

class Logger:
    """One JSON object per event to log.jsonl, and a readable line to stdout."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = path.open("a", encoding="utf-8")

    def __call__(self, record: dict, line: str | None = None) -> None:
        self.f.write(json.dumps(record) + "\n")
        self.f.flush()
        print(line if line is not None else json.dumps(record), flush=True)

    def close(self) -> None:
        self.f.close()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def run(config: dict, resume: bool = False, init: str | None = None) -> Path:
    """Fine-tune; returns the final checkpoint's directory."""
    from train.checkpoint import latest_checkpoint, load_model, load_training_state, save_checkpoint
    from train.tokenizer import Tokenizer

    params = train_config.validate(config, "sft")
    params.pop("out_dir", None)
    if params["threads"]:
        torch.set_num_threads(int(params["threads"]))
    out_dir = train_config.output_dir(config, "sft")
    device = resolve_device(str(params["device"]))
    torch.manual_seed(int(params["seed"]))

    resume_from = latest_checkpoint(out_dir) if resume else None
    if resume and resume_from is None:
        print(f"sft: nothing to resume in {out_dir}; starting from the initial checkpoint")
    start = resume_from or Path(init or params["init"] or train_config.output_dir(config, "pretrain"))
    if resume_from is None and latest_checkpoint(start) is None and not (start / "state.json").exists():
        raise FileNotFoundError(f"no checkpoint at {start} (run `train pretrain` first, "
                                f"or set train.sft.init / --init)")
    model, meta = load_model(start, device)
    tokenizer = Tokenizer.from_checkpoint(start)
    seq_len = int(model.config.seq_len)
    max_len = int(params["max_len"] or seq_len)
    if max_len > seq_len:
        raise ValueError(f"train.sft.max_len={max_len} exceeds the model's seq_len={seq_len}")

    log = Logger(out_dir / "log.jsonl")
    convs = gather_conversations(params)
    train_convs, val_convs = split_val(convs, float(params["val_fraction"]))
    examples, counts = encode_conversations(train_convs, tokenizer, max_len, params["overflow"])
    val_examples, val_counts = encode_conversations(val_convs, tokenizer, max_len, params["overflow"])
    if not examples:
        raise ValueError(f"sft: every conversation was dropped ({counts}); raise max_len or use overflow: truncate")
    sources: dict[str, int] = {}
    for c in convs:
        sources[c.get("source", "?")] = sources.get(c.get("source", "?"), 0) + 1
    sup_tokens = sum(sum(1 for t in y if t >= 0) for _, y in examples)
    log({"event": "data", "train": counts, "val": val_counts, "sources": sources,
         "supervised_tokens": sup_tokens, "max_len": max_len, "overflow": params["overflow"]},
        f"sft data: {counts['kept']} train conversations ({sup_tokens} supervised tokens), "
        f"{val_counts['kept']} val; too long: {counts['dropped_too_long'] + val_counts['dropped_too_long']} dropped, "
        f"{counts['truncated'] + val_counts['truncated']} truncated (max_len {max_len}); "
        f"nothing to learn: {counts['dropped_no_supervised'] + val_counts['dropped_no_supervised']}; "
        f"sources {sources}")

    bs = int(params["batch_size"])
    schedule = Schedule([len(x) for x, _ in examples], bs, int(params["seed"]))
    total = int(params["steps"] or max(1, round(float(params["epochs"]) * schedule.per_epoch)))
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.dim() >= 2 else no_decay).append(p)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": float(params["weight_decay"])},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=float(params["lr"]), betas=(0.9, 0.95))
    step, skipped = 0, 0
    if resume_from is not None:
        state = load_training_state(resume_from, model, optimizer)
        step, skipped = int(state.get("step", 0)), int(state.get("skipped_batches", 0))
        log({"event": "resume", "from": str(resume_from), "step": step}, f"sft: resumed from {resume_from} at step {step}")
    init_from = meta.get("init_from") if resume_from is not None else str(start)

    def save(step: int) -> Path:
        state = {"step": step, "skipped_batches": skipped}
        m = {"phase": "sft", "model_config": model.config.to_dict(), "train_config": params,
             "init_from": init_from, "data": {"train": counts, "val": val_counts, "sources": sources}}
        return save_checkpoint(out_dir, step, model, optimizer, state, m, tokenizer=tokenizer,
                               keep=int(params["keep"]) or None)

    model.train()
    t0, last_log = time.time(), time.time()
    win_loss, win_tok, win_n = 0.0, 0, 0
    stopped = "steps"
    while step < total:
        idx = schedule.batch(step)
        x, y = collate(examples, idx, device)
        n_sup = int((y >= 0).sum())
        time_frac = (time.time() - t0) / float(params["max_seconds"]) if params["max_seconds"] else 0.0
        lr = lr_at(step, total, float(params["lr"]), int(params["warmup"]), float(params["min_lr_frac"]), time_frac)
        if n_sup == 0:   # cannot happen with encode_conversations' filter, but never divide by 0
            skipped += 1
            step += 1
            continue
        for g in optimizer.param_groups:
            g["lr"] = lr
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if params["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(params["grad_clip"]))
        optimizer.step()
        step += 1
        win_loss += loss.item() * n_sup
        win_tok += n_sup
        win_n += 1
        if step % int(params["log_every"]) == 0 or step == total:
            now = time.time()
            rec = {"event": "train", "step": step, "steps": total, "loss": win_loss / win_tok, "lr": lr,
                   "supervised_tokens": win_tok, "skipped_batches": skipped,
                   "sec_per_step": (now - last_log) / win_n, "elapsed": now - t0}
            log(rec, f"sft step {step}/{total} loss {rec['loss']:.4f} lr {lr:.2e} "
                     f"{rec['sec_per_step']:.2f}s/step")
            win_loss, win_tok, win_n, last_log = 0.0, 0, 0, now
        if params["eval_every"] and step % int(params["eval_every"]) == 0 and step < total:
            vl = evaluate(model, val_examples, bs, device)
            if vl is not None:
                log({"event": "val", "step": step, "val_loss": vl}, f"sft step {step} val loss {vl:.4f}")
        if params["checkpoint_every"] and step % int(params["checkpoint_every"]) == 0 and step < total:
            save(step)
        if params["max_seconds"] and time.time() - t0 > float(params["max_seconds"]) and step < total:
            stopped = "max_seconds"
            break
    vl = evaluate(model, val_examples, bs, device)
    path = save(step)
    log({"event": "done", "step": step, "stopped_by": stopped, "val_loss": vl, "skipped_batches": skipped,
         "checkpoint": str(path), "elapsed": time.time() - t0},
        f"sft done: step {step} ({'time budget' if stopped == 'max_seconds' else 'all steps'}), "
        f"val loss {vl if vl is None else round(vl, 4)}, skipped batches {skipped}, checkpoint {path}")
    for prompt in params.get("samples") or []:
        ids = render_prompt([{"role": "user", "content": prompt}], tokenizer)
        out = model.generate([ids], max_new_tokens=min(96, seq_len), temperature=0.0,
                             stop_ids=stop_ids(tokenizer))[0]
        stopped_itself = bool(out) and out[-1] in stop_ids(tokenizer)
        reply = decode_reply(out, tokenizer)
        log({"event": "sample", "prompt": prompt, "reply": reply, "stopped": stopped_itself},
            f"  user: {prompt}\n  assistant: {reply}  [{'stopped at <|assistant_end|>' if stopped_itself else 'hit the token limit'}]")
    log.close()
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="train sft", description=__doc__.split("\n\n")[0])
    ap.add_argument("pipeline", nargs="?", help="pipeline YAML/JSON (its train.sft block)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override, e.g. train.sft.steps=100 (or sft.steps=100)")
    ap.add_argument("--resume", action="store_true", help="continue from the latest SFT checkpoint")
    ap.add_argument("--init", help="checkpoint to start from (overrides train.sft.init)")
    ap.add_argument("--output", help="pipeline output root (overrides `output`)")
    args = ap.parse_args(argv)
    from train.checkpoint import CheckpointError, ModelMismatch
    overrides = [f"train.{s}" if s.startswith("sft.") else s for s in args.set]
    try:
        config = train_config.load(args.pipeline, overrides)
        if args.output:
            config["output"] = args.output
        run(config, resume=args.resume, init=args.init)
    except (train_config.ConfigError, ModelMismatch) as e:    # a setting: exit 2
        print(f"train sft: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, CheckpointError) as e:        # an input: exit 3
        print(f"train sft: {e}", file=sys.stderr)
        return 3
    except ValueError as e:
        print(f"train sft: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
