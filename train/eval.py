"""`train eval CHECKPOINT [--shards DIR] [--tokens N] [--seq-len T] [--batch-size B]`: the exact
val loss of a checkpoint, in nats/token and bits/byte, beside the unigram baseline on the same
tokens. ``train pretrain`` reports the very same figure every ``eval_every`` steps and at the end.

What is scored (tests/test_eval.py checks it against a one-document-at-a-time loop):

- the val split's documents in a fixed order, shard after shard and row after row, never
  shuffled; a document is ``[<|bos|>, t1 .. tn]`` and its targets are t1 .. tn;
- the first ``max_tokens`` targets in that order (default: all of them), each exactly once;
- each document cut into non-overlapping windows of T = seq_len targets: window k is the
  document's tokens k*T .. (k+1)*T and scores its targets at positions k*T+1 .. (k+1)*T, each
  conditioned on the window's own earlier tokens only (never another document's). A target at
  position p thus sees ``(p - 1) % T + 1`` tokens of context: the figure depends on seq_len
  only through that context length (a document of at most T targets scores the same at any
  seq_len >= T; longer ones lose context at each window start, so a shorter T scores worse).

Windows are batched by length (padded, the padding's targets ignored) and dealt round-robin
to DDP ranks, and the sums are float64 and all-reduced: batch size, world size and the
trainer's packing settings change the figure only by float rounding.

Bits per byte = nats of the targets that are text / (ln 2 * their UTF-8 bytes), bytes from
``Tokenizer.token_bytes`` (special and unknown pieces have none). The unigram baseline is the
entropy of the scored targets' own token frequencies (val's, not train's): the loss of the
best model that ignores context, fitted on these very tokens, so a slightly generous bar.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from train import common
from train import config as train_config
from train.checkpoint import load_checkpoint
from train.data import DataError, Split
from contract.layout import MANIFEST


class ValSet:
    """The scored windows of a split, built once (a trainer evaluates the same set each time).

    ``windows``: (document, start, targets) sorted longest first, targets start+1 .. start+n of
    that document. ``counts``: how often each id is a scored target (for bytes and the baseline)."""

    def __init__(self, shards: str | Path, seq_len: int, vocab_size: int, max_tokens: int | None = None,
                 split: str = "val") -> None:
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, not {seq_len}")
        s = Split(shards, split, shuffle=False)
        self.seq_len = seq_len
        self.docs: list[np.ndarray] = []
        windows = []
        counts = np.zeros(vocab_size, dtype=np.int64)
        budget = max_tokens if max_tokens else None
        taken = 0
        all_read = True
        for i in range(s.num_docs):
            if budget is not None and taken >= budget:
                all_read = False
                break
            toks = s.doc(0, i)
            n = max(len(toks) - 1, 0)
            if budget is not None and n > budget - taken:
                n, all_read = budget - taken, False
            if n == 0:
                continue
            d = len(self.docs)
            self.docs.append(toks)
            for start in range(0, n, seq_len):
                windows.append((d, start, min(seq_len, n - start)))
            tgt = np.asarray(toks[1:n + 1], dtype=np.int64)
            if tgt.max() >= vocab_size:
                raise DataError(f"split {split!r} of {shards}: token id {int(tgt.max())} is outside the "
                                f"model's vocab of {vocab_size} (shards of another tokenizer)")
            counts += np.bincount(tgt, minlength=vocab_size)
            taken += n
        self.windows = sorted(windows, key=lambda w: (-w[2], w[0], w[1]))
        self.counts = counts
        self.targets = taken
        # the split's targets (every document starts with <|bos|>): from the manifest when cut short
        self.split_targets = taken if all_read else max(s.num_tokens - s.num_docs, taken)

    def unigram(self, token_bytes: np.ndarray) -> tuple[float, float]:
        """(nats/token, bits/byte) of the scored targets under their own unigram distribution."""
        c = self.counts.astype(np.float64)
        n = c.sum()
        if n == 0:
            return float("nan"), float("nan")
        seen = c > 0
        nll = np.zeros_like(c)
        nll[seen] = -np.log(c[seen] / n)
        text = token_bytes > 0
        n_bytes = float((c * token_bytes).sum())
        return float((c * nll).sum() / n), float((c * nll)[text].sum() / (math.log(2) * max(n_bytes, 1.0)))

    def _batches(self, rank: int, world: int, batch_size: int, device: torch.device):
        mine = self.windows[rank::world]
        for b in range(0, len(mine), batch_size):
            chunk = mine[b:b + batch_size]
            width = chunk[0][2]                # sorted longest first
            x = np.zeros((len(chunk), width), dtype=np.int64)
            y = np.full((len(chunk), width), -1, dtype=np.int64)
            for r, (d, start, n) in enumerate(chunk):
                toks = self.docs[d]
                x[r, :n] = toks[start:start + n]
                y[r, :n] = toks[start + 1:start + n + 1]
            yield torch.from_numpy(x).to(device), torch.from_numpy(y).to(device), y

    @torch.no_grad()
    def score(self, model: torch.nn.Module, token_bytes, batch_size: int = 8, dist=None,
              autocast=None) -> dict:
        """val_loss (nats/token), val_bpb, val_tokens (scored targets), unigram_loss and
        unigram_bpb. ``dist``: a ``train.common.Dist`` (rank, world, sum) or None (one process);
        under DDP every rank must call this (the sums are all-reduced)."""
        rank, world = (dist.rank, dist.world) if dist is not None else (0, 1)
        device = next(model.parameters()).device
        tb_np = np.asarray(token_bytes, dtype=np.float64)
        was_training = model.training
        model.eval()
        nats = text_nats = 0.0
        try:
            for x, y, y_np in self._batches(rank, world, batch_size, device):
                with autocast or contextlib.nullcontext():
                    _, loss = model(x, y, reduction="none")
                loss = loss.float().cpu().double().numpy()     # 0 where y == -1; float64 sums (MPS has none)
                nats += float(loss.sum())
                text_nats += float(loss[tb_np[y_np.clip(min=0)] > 0].sum())
        finally:
            model.train(was_training)
        if dist is not None:
            nats, text_nats = dist.sum([nats, text_nats])
        n_bytes = float((self.counts * tb_np).sum())
        uni_loss, uni_bpb = self.unigram(tb_np)
        return {"val_loss": nats / max(self.targets, 1),
                "val_bpb": text_nats / (math.log(2) * max(n_bytes, 1.0)),
                "val_tokens": int(self.targets), "val_split_tokens": int(self.split_targets),
                "val_docs": len(self.docs), "eval_seq_len": self.seq_len,
                "unigram_loss": uni_loss, "unigram_bpb": uni_bpb}


def evaluate(model, shards, token_bytes, seq_len: int | None = None, batch_size: int = 8,
             max_tokens: int | None = None, dist=None, autocast=None) -> dict:
    """One-off :meth:`ValSet.score` of ``model`` (seq_len: the model's by default)."""
    T = int(seq_len or model.config.seq_len)
    vs = ValSet(shards, T, model.config.vocab_size, max_tokens)
    return vs.score(model, token_bytes, batch_size, dist, autocast)


def describe(r: dict) -> str:
    """The report line: the figure, what it was measured on, and the baseline on the same tokens."""
    share = ("all of val" if r["val_tokens"] == r["val_split_tokens"]
             else f"the first {r['val_tokens']:,} of {r['val_split_tokens']:,}")
    return (f"val loss {r['val_loss']:.4f} nats/token, {r['val_bpb']:.4f} bits/byte on {r['val_tokens']:,} "
            f"tokens ({share}, {r['val_docs']} documents, context {r['eval_seq_len']}); unigram baseline "
            f"{r['unigram_loss']:.4f} nats/token, {r['unigram_bpb']:.4f} bits/byte on the same tokens "
            f"({r['val_loss'] - r['unigram_loss']:+.4f})")


# -- the command --------------------------------------------------------------------------------

def _locate(arg: str, shards_flag: str | None) -> tuple[Path, Path | None]:
    """(checkpoint path, shards dir or None = from the checkpoint's own settings). A pipeline
    file stands for its pretrain run dir and its shards."""
    path = Path(arg)
    shards = Path(shards_flag) if shards_flag else None
    if path.is_file() and path.suffix in (".yaml", ".yml", ".json"):
        config, p = common.load_settings(str(path), [], "pretrain")
        if shards is None:
            shards = Path(p["shards"]) if p.get("shards") else Path(config["output"]) / "shards"
        return train_config.output_dir(config, "pretrain"), shards
    return path, shards


def _shards_of(meta: dict) -> Path:
    p = meta.get("train_config") or {}
    if p.get("shards"):
        return Path(p["shards"])
    output = (meta.get("pipeline") or {}).get("output")
    if output:
        return Path(output) / "shards"
    raise DataError(f"{meta.get('checkpoint')}: the checkpoint does not say which shards it was trained on; "
                    f"give --shards DIR")


def _check_tokenizer(shards: Path, tokenizer) -> None:
    """The shards must be made with the checkpoint's tokenizer, or every score is noise."""
    from contract.shards import read_manifest
    want = read_manifest(shards).tokenizer.get("sha256")
    have = tokenizer.sha256()
    if want and want != have:
        raise DataError(f"{shards}: made with tokenizer sha256 {want}, the checkpoint's is {have}; "
                        f"evaluate on shards of the checkpoint's tokenizer")


def run(args) -> dict:
    schema = train_config.SCHEMAS["pretrain"]
    for flag, key, value in (("--tokens", "eval_tokens", args.tokens), ("--seq-len", "seq_len", args.seq_len),
                             ("--batch-size", "device_batch_size", args.batch_size)):
        if value is not None:
            train_config.check_value(flag, schema[key], value)
    common.set_threads(args.threads)
    ckpt, shards = _locate(args.checkpoint, args.shards)
    d = common.Dist(args.device, "--device")
    try:
        model, tokenizer, meta = load_checkpoint(ckpt, d.device)
        shards = shards or _shards_of(meta)
        if not (shards / MANIFEST).exists():
            raise DataError(f"no token shards at {shards} (give --shards DIR)")
        _check_tokenizer(shards, tokenizer)
        use_bf16 = d.device.type == "cuda"
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else None
        result = evaluate(model, shards, tokenizer.token_bytes(), args.seq_len, args.batch_size or 8,
                          args.tokens, d, autocast)
        result["checkpoint"], result["shards"] = meta["checkpoint"], str(shards)
        if d.master:
            print(json.dumps(result) if args.json else f"{meta['checkpoint']}: {describe(result)}", flush=True)
        return result
    finally:
        d.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="train eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="step dir, run dir (its latest step), or pipeline file (its pretrain run)")
    ap.add_argument("--shards", help="token shards dir (default: the ones the checkpoint was trained on)")
    ap.add_argument("--tokens", type=int, default=None, help="score the first N val targets (default: all)")
    ap.add_argument("--seq-len", type=int, default=None, help="window length (default: the model's)")
    ap.add_argument("--batch-size", type=int, default=None, help="windows per forward pass (default 8)")
    ap.add_argument("--device", default="auto", help="auto (CUDA if there is one) | cpu | cuda[:N] | mps")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args(argv)
    return common.run_main("train eval", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
