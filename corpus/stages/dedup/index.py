"""The dedup index: everything needed to dedup a later crawl against this corpus
without reading its texts again.

Layout of ``<dedup dir>/index/`` (one file per input part, written atomically):

- ``meta.json``: the parameters the keys depend on (shingle size, permutations, seed,
  bands x rows), the parts, and ``against``: the earlier index this one was deduped
  against (indexes chain, so crawl 3 against crawl 2 also sees crawl 1).
- ``docs/part-NNNNN.parquet``: per document ``id``, ``url_key``, ``text_key``,
  ``date`` (µs), ``length`` (characters), ``has_sig``, ``contam``, ``contam_set``.
- ``bands/part-NNNNN.npy``: (bands, n) uint64 LSH band keys, band-major.
- ``assign/part-NNNNN.parquet``: the outcome for documents that are not kept
  singletons: ``row``, ``reason``, ``dup_of``, ``cluster``, ``reason_value``,
  ``reason_detail``.

Signatures themselves are not kept: band keys are all LSH needs, at 8 bytes per band
instead of 4 per permutation.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from contract.atomic import atomic_path
from contract.layout import DEDUP_INDEX, LEGACY_DEDUP_INDEX
from ...core.config import ConfigError

VERSION = 1
#: Parameters that must match for two indexes to be compared.
KEY_PARAMS = ("ngram", "num_perm", "seed", "bands", "rows", "normalization")

DOCS_SCHEMA = pa.schema([
    pa.field("id", pa.string()),
    pa.field("url_key", pa.uint64()),
    pa.field("text_key", pa.uint64()),
    pa.field("date", pa.int64()),
    pa.field("length", pa.int64()),
    pa.field("has_sig", pa.bool_()),
    pa.field("contam", pa.int64()),
    pa.field("contam_set", pa.int32()),
])
ASSIGN_SCHEMA = pa.schema([
    pa.field("row", pa.int64()),
    pa.field("reason", pa.string()),
    pa.field("dup_of", pa.string()),
    pa.field("cluster", pa.int64()),
    pa.field("reason_value", pa.float64()),
    pa.field("reason_detail", pa.string()),
])


class DedupIndexError(ConfigError):
    """An index that cannot be used (missing, incomplete, other parameters)."""


def docs_path(index: Path, part: str) -> Path:
    return Path(index) / "docs" / f"{part}.parquet"


def bands_path(index: Path, part: str) -> Path:
    return Path(index) / "bands" / f"{part}.npy"


def assign_path(index: Path, part: str) -> Path:
    return Path(index) / "assign" / f"{part}.parquet"


def write_table(path: Path, table: pa.Table) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_part(index: Path, part: str, docs: pa.Table, bands: np.ndarray) -> None:
    """Write one part's keys: bands first, docs last (docs marks the part complete)."""
    with atomic_path(bands_path(index, part)) as tmp, open(tmp, "wb") as fh:
        np.save(fh, bands)
    write_table(docs_path(index, part), docs.cast(DOCS_SCHEMA))


def part_done(index: Path, part: str) -> bool:
    return docs_path(index, part).exists() and bands_path(index, part).exists()


def read_meta(index: Path) -> dict:
    p = Path(index) / "meta.json"
    if not p.exists():
        raise DedupIndexError(f"no dedup index at {index} (expected {p}); run `corpus dedup` "
                          f"on the earlier corpus first")
    return json.loads(p.read_text())


def write_meta(index: Path, meta: dict) -> None:
    with atomic_path(Path(index) / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))


def resolve(path: str | os.PathLike) -> Path:
    """Accept either a dedup stage directory or its index directory (``_index/`` or ``index/``
    in outputs of older releases)."""
    p = Path(path)
    for name in (DEDUP_INDEX, *LEGACY_DEDUP_INDEX):
        if (p / name / "meta.json").exists():
            return p / name
    return p


def chain(index: str | os.PathLike) -> list[tuple[Path, dict]]:
    """This index and every index it was deduped against, earliest first."""
    out: list[tuple[Path, dict]] = []
    seen = set()
    cur: Path | None = resolve(index)
    while cur is not None:
        key = str(cur.resolve())
        if key in seen:
            raise DedupIndexError(f"dedup index chain loops at {cur}")
        seen.add(key)
        meta = read_meta(cur)
        if not meta.get("complete"):
            raise DedupIndexError(f"dedup index {cur} is incomplete (its dedup run did not finish)")
        out.append((cur, meta))
        cur = Path(meta["against"]) if meta.get("against") else None
    return out[::-1]


def check_compatible(meta: dict, params: dict, where: Path) -> None:
    theirs = meta.get("params", {})
    diff = {k: (theirs.get(k), params.get(k)) for k in KEY_PARAMS if theirs.get(k) != params.get(k)}
    if diff:
        detail = ", ".join(f"{k}: index {a!r} vs this run {b!r}" for k, (a, b) in diff.items())
        raise DedupIndexError(f"cannot dedup against {where}: its keys were made with other "
                          f"parameters ({detail})")


def read_docs(index: Path, part: str, columns: list[str] | None = None) -> pa.Table:
    return pq.read_table(docs_path(index, part), columns=columns)


def read_assign(index: Path, part: str) -> pa.Table:
    p = assign_path(index, part)
    if not p.exists():
        raise DedupIndexError(f"dedup assignment missing for {part} ({p}); re-run with --force")
    return pq.read_table(p)
