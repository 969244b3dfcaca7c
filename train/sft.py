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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from train import common
from train import config as train_config
from train.chat_format import decode_reply, render, render_prompt, stop_ids
from train.checkpoint import latest_checkpoint, load_model, load_training_state, save_checkpoint
from train.common import RunLog
from train.sft_data import builtin_conversations, load_conversations
from train.tokenizer import Tokenizer

# Every key, its kind and its constraint: train/config.py SCHEMAS["sft"].
DEFAULTS = train_config.defaults("sft")


# --- data -----------------------------------------------------------------------------------

def gather_conversations(params: dict, tokenizer=None, config: dict | None = None) -> list[dict]:
    """Built-in conversations, then every user and extra file, in a fixed order."""
    convs: list[dict] = []
    b = params.get("builtin")
    if b and int(b.get("n", 0)) > 0:
        search = search_source(b.get("search"), tokenizer, config) if (b.get("mix") or {}).get("search") else None
        convs += builtin_conversations(int(b["n"]), int(b.get("seed", 0)), b.get("mix"),
                                       tuple(b.get("arithmetic_levels") or (1,)), search=search)
    for key in ("data", "extra_data"):
        files = params.get(key) or []
        if isinstance(files, (str, Path)):
            files = [files]
        for path in files:
            convs += load_conversations(path)
    if not convs:
        raise ValueError("no SFT conversations: enable train.sft.builtin or give train.sft.data files")
    return convs


SEARCH_KEYS = ("truth", "index", "eval_percent", "langs", "unanswerable_share", "counterfactual_share")


def _share(block: dict, key: str, name: str, default: float) -> float:
    value = block.get(name, default)
    if not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise train_config.ConfigError(f"{key}.{name}: must be a number from 0 to 1, got {value!r}")
    return float(value)


def search_source(block: dict | None, tokenizer, config: dict | None = None):
    """``train.sft.builtin.search: {truth, index, langs, eval_percent, unanswerable_share}`` as a
    SearchData. ``truth`` defaults to the pipeline's sample crawl (``sample.dir``, else
    ``<output>/crawl``) and ``index`` to the run's ``<output>/index``, so a pipeline need not
    repeat its own paths."""
    from train.search_data import EVAL_PERCENT, LANGS, SearchData
    from train.tools import INDEX_FOLDER
    key = "train.sft.builtin.search"
    block = {} if block is None or block is True else block
    if not isinstance(block, dict):
        raise train_config.ConfigError(f"{key}: must be a mapping such as {{langs: [en]}}")
    unknown = sorted(set(block) - set(SEARCH_KEYS))
    if unknown:
        raise train_config.ConfigError(f"{key}.{unknown[0]}: unknown key (use {', '.join(SEARCH_KEYS)})")
    output = (config or {}).get("output")
    truth, index = block.get("truth"), block.get("index")
    if not truth and config is not None and isinstance(config.get("sample"), dict):
        truth = Path(config["sample"].get("dir") or Path(output) / "crawl") / "truth.json"
    if not index and output:
        index = Path(output) / INDEX_FOLDER
    if not truth or not index:
        raise train_config.ConfigError(f"{key}: needs truth (a truth.json with facts) and index (the "
                                       "corpus's search index), or a pipeline with a sample crawl")
    langs = block.get("langs", list(LANGS))
    if langs != "all" and not (isinstance(langs, list) and all(isinstance(x, str) for x in langs)):
        raise train_config.ConfigError(f"{key}.langs: must be a list of language codes or 'all', got {langs!r}")
    share = _share(block, key, "unanswerable_share", 0.3)
    swap = _share(block, key, "counterfactual_share", 0.0)
    pct = block.get("eval_percent", EVAL_PERCENT)
    if not isinstance(pct, int) or not 0 <= pct < 100:
        raise train_config.ConfigError(f"{key}.eval_percent: must be an integer from 0 to 99, got {pct!r}")
    return SearchData(truth, index, tokenizer, pct, share, None if langs == "all" else langs,
                      counterfactual_share=swap)


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

@dataclass
class SftData:
    """The encoded train and val conversations and what happened to each on the way."""
    examples: list
    val_examples: list
    counts: dict
    val_counts: dict
    sources: dict
    max_len: int

    def summary(self) -> dict:
        return {"train": self.counts, "val": self.val_counts, "sources": self.sources}


@dataclass
class Progress:
    step: int = 0
    skipped: int = 0     # batches without a supervised token


def settings(config: dict) -> tuple[dict, torch.device]:
    """``train.sft`` checked (ConfigError names the key) and the device it asks for."""
    params = train_config.validate(config, "sft")
    params.pop("out_dir", None)
    return params, common.pick_device(params["device"], "train.sft.device")


def starting_point(config: dict, params: dict, out_dir: Path, resume: bool, init: str | None):
    """(the checkpoint the model comes from, the SFT checkpoint resumed or None)."""
    resume_from = latest_checkpoint(out_dir) if resume else None
    if resume and resume_from is None:
        print(f"sft: nothing to resume in {out_dir}; starting from the initial checkpoint")
    start = resume_from or Path(init or params["init"] or train_config.output_dir(config, "pretrain"))
    if resume_from is None and latest_checkpoint(start) is None and not (start / "state.json").exists():
        raise FileNotFoundError(f"no checkpoint at {start} (run `train pretrain` first, "
                                f"or set train.sft.init / --init)")
    return start, resume_from


def build_data(params: dict, tokenizer, seq_len: int, config: dict | None = None) -> SftData:
    """Gather, split and encode the conversations within the model's context."""
    max_len = int(params["max_len"] or seq_len)
    if max_len > seq_len:
        raise train_config.ConfigError(f"train.sft.max_len: {max_len} exceeds the model's seq_len {seq_len}")
    convs = gather_conversations(params, tokenizer, config)
    train_convs, val_convs = split_val(convs, float(params["val_fraction"]))
    examples, counts = encode_conversations(train_convs, tokenizer, max_len, params["overflow"])
    val_examples, val_counts = encode_conversations(val_convs, tokenizer, max_len, params["overflow"])
    if not examples:
        raise ValueError(f"sft: every conversation was dropped ({counts}); raise max_len or use overflow: truncate")
    sources = dict(Counter(c.get("source", "?") for c in convs))
    return SftData(examples, val_examples, counts, val_counts, sources, max_len)


def log_data(log: RunLog, data: SftData, overflow: str) -> None:
    counts, val_counts = data.counts, data.val_counts
    sup_tokens = sum(sum(1 for t in y if t >= 0) for _, y in data.examples)
    log({"event": "data", **data.summary(), "supervised_tokens": sup_tokens, "max_len": data.max_len,
         "overflow": overflow},
        f"sft data: {counts['kept']} train conversations ({sup_tokens} supervised tokens), "
        f"{val_counts['kept']} val; too long: {counts['dropped_too_long'] + val_counts['dropped_too_long']} dropped, "
        f"{counts['truncated'] + val_counts['truncated']} truncated (max_len {data.max_len}); "
        f"nothing to learn: {counts['dropped_no_supervised'] + val_counts['dropped_no_supervised']}; "
        f"sources {data.sources}")


def build_optimizer(model, params: dict) -> torch.optim.Optimizer:
    """AdamW; weight decay on the matrices only."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": float(params["weight_decay"])},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=float(params["lr"]), betas=(0.9, 0.95))


def train_loop(model, optimizer, data: SftData, schedule: Schedule, total: int, params: dict, device,
               progress: Progress, log: RunLog, save) -> str:
    """Step until ``total`` (or the time budget); returns what stopped it ("steps" or "max_seconds")."""
    bs = int(params["batch_size"])
    model.train()
    t0, last_log = time.time(), time.time()
    win_loss, win_tok, win_n = 0.0, 0, 0
    while progress.step < total:
        x, y = collate(data.examples, schedule.batch(progress.step), device)
        n_sup = int((y >= 0).sum())
        time_frac = (time.time() - t0) / float(params["max_seconds"]) if params["max_seconds"] else 0.0
        lr = lr_at(progress.step, total, float(params["lr"]), int(params["warmup"]), float(params["min_lr_frac"]),
                   time_frac)
        if n_sup == 0:   # cannot happen with encode_conversations' filter, but never divide by 0
            progress.skipped += 1
            progress.step += 1
            continue
        for g in optimizer.param_groups:
            g["lr"] = lr
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if params["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(params["grad_clip"]))
        optimizer.step()
        progress.step += 1
        step = progress.step
        win_loss, win_tok, win_n = win_loss + loss.item() * n_sup, win_tok + n_sup, win_n + 1
        if step % int(params["log_every"]) == 0 or step == total:
            now = time.time()
            rec = {"event": "train", "step": step, "steps": total, "loss": win_loss / win_tok, "lr": lr,
                   "supervised_tokens": win_tok, "skipped_batches": progress.skipped,
                   "sec_per_step": (now - last_log) / win_n, "elapsed": now - t0}
            log(rec, f"sft step {step}/{total} loss {rec['loss']:.4f} lr {lr:.2e} "
                     f"{rec['sec_per_step']:.2f}s/step")
            win_loss, win_tok, win_n, last_log = 0.0, 0, 0, now
        if params["eval_every"] and step % int(params["eval_every"]) == 0 and step < total:
            vl = evaluate(model, data.val_examples, bs, device)
            if vl is not None:
                log({"event": "val", "step": step, "val_loss": vl}, f"sft step {step} val loss {vl:.4f}")
        if params["checkpoint_every"] and step % int(params["checkpoint_every"]) == 0 and step < total:
            save(step)
        if params["max_seconds"] and time.time() - t0 > float(params["max_seconds"]) and step < total:
            return "max_seconds"
    return "steps"


def log_samples(model, tokenizer, prompts: list[str], log: RunLog) -> None:
    """Greedy replies to a few prompts, to see what the run taught."""
    stops = stop_ids(tokenizer)
    for prompt in prompts:
        ids = render_prompt([{"role": "user", "content": prompt}], tokenizer)
        out = model.generate([ids], max_new_tokens=min(96, model.config.seq_len), temperature=0.0,
                             stop_ids=stops)[0]
        stopped_itself = bool(out) and out[-1] in stops
        reply = decode_reply(out, tokenizer)
        log({"event": "sample", "prompt": prompt, "reply": reply, "stopped": stopped_itself},
            f"  user: {prompt}\n  assistant: {reply}  [{'stopped at <|assistant_end|>' if stopped_itself else 'hit the token limit'}]")


def run(config: dict, resume: bool = False, init: str | None = None) -> Path:
    """Fine-tune; returns the final checkpoint's directory."""
    params, device = settings(config)
    common.set_threads(params["threads"])
    common.tune_cpu_allocator(device)
    torch.manual_seed(int(params["seed"]))
    out_dir = train_config.output_dir(config, "sft")
    start, resume_from = starting_point(config, params, out_dir, resume, init)
    model, meta = load_model(start, device)
    tokenizer = Tokenizer.from_checkpoint(start)
    data = build_data(params, tokenizer, int(model.config.seq_len), config)
    schedule = Schedule([len(x) for x, _ in data.examples], int(params["batch_size"]), int(params["seed"]))
    total = int(params["steps"] or max(1, round(float(params["epochs"]) * schedule.per_epoch)))
    optimizer = build_optimizer(model, params)
    progress = Progress()
    if resume_from is not None:
        state = load_training_state(resume_from, model, optimizer)
        progress = Progress(int(state.get("step", 0)), int(state.get("skipped_batches", 0)))
    log = RunLog(out_dir / "log.jsonl", progress.step if resume_from is not None else None)
    log_data(log, data, params["overflow"])
    if resume_from is not None:
        log({"event": "resume", "from": str(resume_from), "step": progress.step},
            f"sft: resumed from {resume_from} at step {progress.step}")
    init_from = meta.get("init_from") if resume_from is not None else str(start)

    def save(step: int) -> Path:
        m = {"phase": "sft", "model_config": model.config.to_dict(), "train_config": params,
             "init_from": init_from, "data": data.summary()}
        return save_checkpoint(out_dir, step, model, optimizer, {"step": step, "skipped_batches": progress.skipped},
                               m, tokenizer=tokenizer, keep=int(params["keep"]) or None)

    t0 = time.time()
    stopped = train_loop(model, optimizer, data, schedule, total, params, device, progress, log, save)
    vl = evaluate(model, data.val_examples, int(params["batch_size"]), device)
    path = save(progress.step)
    log({"event": "done", "step": progress.step, "stopped_by": stopped, "val_loss": vl,
         "skipped_batches": progress.skipped, "checkpoint": str(path), "elapsed": time.time() - t0},
        f"sft done: step {progress.step} ({'time budget' if stopped == 'max_seconds' else 'all steps'}), "
        f"val loss {vl if vl is None else round(vl, 4)}, skipped batches {progress.skipped}, checkpoint {path}")
    log_samples(model, tokenizer, params.get("samples") or [], log)
    log.close()
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="train sft", description=__doc__.split("\n\n")[0],
                                 parents=[common.phase_parent(init=True)])
    ap.add_argument("pipeline", nargs="?", help="pipeline YAML/JSON (its train.sft block); --set sft.KEY=V works too")
    ap.add_argument("--output", help="pipeline output root (overrides `output`)")
    args = ap.parse_args(argv)
    overrides = [f"train.{s}" if s.startswith("sft.") else s for s in args.overrides]

    def body() -> None:
        config, _ = common.load_settings(args.pipeline, overrides, "sft", output=args.output)
        run(config, resume=args.resume, init=args.init)

    return common.run_main("train sft", body)


if __name__ == "__main__":
    sys.exit(main())
