"""Decontamination: find documents that share a long word n-gram with an evaluation set.

As in GPT-3 and most data pipelines since, a document is contaminated when one of its
``ngram``-token sequences (default 13, same normalisation as the shingles) also occurs
in any item of a user's evaluation set. The evaluation n-grams are hashed once into a
sorted uint64 array (saved to disk and shared by every worker); each document's
n-grams are looked up in it with one vectorised ``searchsorted``. Items shorter than
``ngram`` tokens cannot match and are counted in the manifest, not silently dropped.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow.parquet as pq

from contract.jsonl import JsonlError, read_jsonl

from ...core.config import ConfigError
from .shingles import TokenBatch


class EvalSetError(ConfigError):
    """An evaluation set file that cannot be read; the message names the file and line."""


def iter_eval_texts(path: str | Path, fields: Sequence[str]) -> Iterator[str]:
    """Texts of one evaluation file: JSONL (one object per line) or Parquet, taking every
    listed field present (strings, or lists of strings, e.g. answer choices)."""
    path = Path(path)
    if not path.exists():
        raise EvalSetError(f"evaluation set not found: {path}")

    def values(obj) -> Iterator[str]:
        for f in fields:
            v = obj.get(f) if isinstance(obj, dict) else None
            if isinstance(v, str):
                yield v
            elif isinstance(v, list):
                yield from (x for x in v if isinstance(x, str))

    if path.suffix == ".parquet":
        pf = pq.ParquetFile(path)
        cols = [f for f in fields if f in pf.schema_arrow.names]
        if not cols:
            raise EvalSetError(f"{path}: none of the fields {list(fields)} is a column "
                               f"(columns: {pf.schema_arrow.names})")
        for batch in pf.iter_batches(columns=cols):
            for row in batch.to_pylist():
                yield from values(row)
        return
    try:  # a bad eval set is a bad setting here (exit 2), so the reader's error is re-classed
        for obj in read_jsonl(path, objects=False):
            yield from values(obj)
    except JsonlError as err:
        raise EvalSetError(str(err)) from None


def build_ngram_table(files: Sequence[str | Path], fields: Sequence[str], ngram: int = 13,
                      batch: int = 512) -> tuple[np.ndarray, np.ndarray, dict]:
    """Sorted unique n-gram hashes of all evaluation files, the file index of each, and
    counts (items, items too short) per file."""
    hashes, owners, stats = [], [], {}
    for fi, f in enumerate(files):
        items = short = 0
        texts: list[str] = []

        def flush() -> None:
            nonlocal short
            tb = TokenBatch.from_texts(texts)
            short += int(((tb.counts > 0) & (tb.counts < ngram)).sum())
            grams, _ = tb.ngrams(ngram, short_docs=False)
            hashes.append(grams)
            owners.append(np.full(len(grams), fi, dtype=np.int32))
            texts.clear()

        for text in iter_eval_texts(f, fields):
            items += 1
            texts.append(text)
            if len(texts) >= batch:
                flush()
        if texts:
            flush()
        stats[str(f)] = {"items": items, "too_short": short}
    if not hashes:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int32), stats
    h = np.concatenate(hashes)
    o = np.concatenate(owners)
    h, first = np.unique(h, return_index=True)
    return h, o[first], stats


def contamination(batch: TokenBatch, table: np.ndarray, owners: np.ndarray, ngram: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per document: how many of its n-grams occur in the table, and the index of the
    evaluation file of the first match (-1 for none)."""
    n = len(batch.counts)
    counts = np.zeros(n, dtype=np.int64)
    which = np.full(n, -1, dtype=np.int32)
    if len(table) == 0:
        return counts, which
    grams, doc = batch.ngrams(ngram, short_docs=False)
    pos = np.searchsorted(table, grams)
    pos = np.minimum(pos, len(table) - 1)
    hit = table[pos] == grams
    if hit.any():
        counts = np.bincount(doc[hit], minlength=n).astype(np.int64)
        hit_idx = np.flatnonzero(hit)
        first_doc, first_at = np.unique(doc[hit_idx], return_index=True)
        which[first_doc] = owners[pos[hit_idx[first_at]]]
    return counts, which
