"""Train a fastText quality classifier from labelled examples (the DCLM recipe).

    corpus quality-train --input data.parquet|data.jsonl --text-col text --label-col label \\
        --output model.bin [--positive VALUE] [--holdout 0.2] [--epoch 10] ...

Rows whose label equals ``--positive`` (default: 1 / true / "hq" / "pos" / "positive" /
"clean" / "good") are positives, all others negatives. A seeded held-out split (default
20%) measures precision, recall and F1 at score 0.5 and the ROC AUC; the figures are
printed and written next to the model (``model.bin.json``). The filter stage then uses
the model through ``stages.filter.quality_classifier.model``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from contract.atomic import atomic_path
from contract.jsonl import read_jsonl

from .quality import NEGATIVE, POSITIVE, normalise, score

AUTO_POSITIVE = {"1", "true", "hq", "pos", "positive", "clean", "good", "high"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, action="append",
                   help="Parquet or JSONL file with a text and a label column (repeatable)")
    p.add_argument("--text-col", default="text")
    p.add_argument("--label-col", default="label")
    p.add_argument("--output", required=True, help="where to save the fastText model (.bin)")
    p.add_argument("--positive", default=None, help="the label value of positive (good) examples")
    p.add_argument("--holdout", type=float, default=0.2, help="held-out fraction for evaluation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epoch", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--word-ngrams", type=int, default=2)
    p.add_argument("--min-count", type=int, default=1)
    p.add_argument("--bucket", type=int, default=200000)
    p.add_argument("--max-chars", type=int, default=20000, help="characters of each text used")
    p.add_argument("--threads", type=int, default=1, help="training threads (1 = reproducible)")


def read_examples(paths: list[str], text_col: str, label_col: str) -> tuple[list[str], list]:
    """Texts and labels from Parquet or JSONL files; a bad line names its file and line."""
    texts: list[str] = []
    labels: list = []
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"quality-train: input not found: {p}")
        if p.suffix in (".parquet", ".pq"):
            table = pq.read_table(p)
            for col in (text_col, label_col):
                if col not in table.column_names:
                    raise ValueError(f"{p}: no column {col!r} (columns: {table.column_names})")
            texts += table.column(text_col).to_pylist()
            labels += table.column(label_col).to_pylist()
        else:
            for lineno, row in read_jsonl(p, numbered=True):
                if text_col not in row or label_col not in row:
                    raise ValueError(f"{p}:{lineno}: needs {text_col!r} and {label_col!r}")
                texts.append(row[text_col])
                labels.append(row[label_col])
    return texts, labels


def positive_mask(labels: list, positive: str | None) -> np.ndarray:
    keys = ["" if v is None else str(v).strip().lower() for v in labels]
    if positive is not None:
        want = str(positive).strip().lower()
        return np.array([k == want for k in keys])
    return np.array([k in AUTO_POSITIVE for k in keys])


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U; ties count half)."""
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    allv = np.concatenate([pos, neg])[order]
    ranks = np.empty(len(allv))
    i = 0
    while i < len(allv):  # average ranks over ties
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[i:j + 1] = (i + j) / 2 + 1
        i = j + 1
    r = np.empty(len(allv))
    r[order] = ranks
    u = r[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def metrics(y: np.ndarray, s: np.ndarray, threshold: float = 0.5) -> dict:
    pred = s >= threshold
    tp = int((pred & y).sum())
    fp = int((pred & ~y).sum())
    fn = int((~pred & y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "auc": round(roc_auc(y, s), 4), "n": int(len(y)), "positives": int(y.sum())}


def train(texts: list[str], positive: np.ndarray, output: str, holdout: float = 0.2, seed: int = 0,
          max_chars: int = 20000, **ft_args) -> dict:
    """Train, evaluate on the held-out split, save; returns the report."""
    import fasttext  # heavy: loaded only when training (the CLI imports this module at start-up)

    n = len(texts)
    if n < 4 or positive.all() or not positive.any():
        raise ValueError(f"quality-train needs both positive and negative examples (got {n} rows, "
                         f"{int(positive.sum())} positive)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_test = max(1, int(round(n * holdout))) if holdout > 0 else 0
    test, train_idx = order[:n_test], order[n_test:]
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".txt", prefix=".quality-train-", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for i in train_idx:
                label = POSITIVE if positive[i] else NEGATIVE
                f.write(f"{label} {normalise(texts[i] or '', max_chars)}\n")
        args = dict(epoch=10, lr=0.1, dim=64, wordNgrams=2, minCount=1, bucket=200000,
                    thread=1, seed=seed, verbose=0)
        args.update({k: v for k, v in ft_args.items() if v is not None})
        model = fasttext.train_supervised(input=tmp, **args)
    finally:
        os.unlink(tmp)
    with atomic_path(out) as tmp_model:
        model.save_model(str(tmp_model))
    report = {"model": str(out), "train_rows": int(len(train_idx)), "holdout_rows": int(n_test),
              "labels": {"positive": POSITIVE, "negative": NEGATIVE}, "fasttext_args": args}
    if n_test:
        s = score(model, [texts[i] for i in test], POSITIVE, max_chars)
        report["holdout"] = metrics(positive[test], s)
    s_train = score(model, [texts[i] for i in train_idx], POSITIVE, max_chars)
    report["train"] = metrics(positive[train_idx], s_train)
    Path(str(out) + ".json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(args: argparse.Namespace) -> int:
    try:
        texts, labels = read_examples(args.input, args.text_col, args.label_col)
        pos = positive_mask(labels, args.positive)
        report = train(texts, pos, args.output, holdout=args.holdout, seed=args.seed,
                       max_chars=args.max_chars, epoch=args.epoch, lr=args.lr, dim=args.dim,
                       wordNgrams=args.word_ngrams, minCount=args.min_count, bucket=args.bucket,
                       thread=args.threads)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"[quality-train] {len(texts):,} examples ({int(pos.sum()):,} positive); "
          f"trained on {report['train_rows']:,}, held out {report['holdout_rows']:,}")
    for split in ("holdout", "train"):
        if split in report:
            m = report[split]
            print(f"[quality-train] {split}: precision {m['precision']:.3f} recall {m['recall']:.3f} "
                  f"F1 {m['f1']:.3f} AUC {m['auc']:.3f} (n={m['n']}, positives={m['positives']})")
    print(f"[quality-train] model: {report['model']} (report: {report['model']}.json)")
    return 0
