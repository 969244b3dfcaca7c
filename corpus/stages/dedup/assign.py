"""The global reduce: from every part's keys to each document's fate.

Documents get global ordinals: the parts of earlier indexes this run is deduped
against come first (``frozen``: they always win, since they are already in the
earlier corpus), then this run's parts in name order. Three passes, each over the
documents still standing:

1. ``url_duplicate``: same normalised URL. Kept: the newest crawl date, then the
   longest text, then the first in corpus order.
2. ``exact_duplicate``: same normalised text. Kept: the longest text (all equal
   here), then the newest date, then the first in corpus order.
3. ``minhash_duplicate``: connected components of LSH candidate links (one grouping
   task per band and bucket, run on the executor). Kept: the longest text, then the
   newest date, then the first in corpus order.

A removed document links to the one that beat it; following links to the end gives
the kept document of its cluster (``dup_of``). ``cluster`` is a hash of that kept
document's id, so it does not depend on worker count or executor.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from . import index as idx
from .exact import cluster_id
from .lsh import bucket_of, links_from_keys
from .unionfind import components, winners

REASONS = ["", "url_duplicate", "exact_duplicate", "minhash_duplicate", "contaminated"]
URL, EXACT, NEAR, CONTAM = 1, 2, 3, 4
#: Below this many band keys (documents x bands) the grouping runs in this process.
INLINE_BAND_KEYS = 5_000_000


@dataclass
class Source:
    """One part of an index, at ordinals [offset, offset + rows)."""

    index: str
    part: str
    offset: int
    rows: int
    frozen: bool


def band_links(sources: list[tuple[str, str, int, int]], members_path: str, band: int,
               bucket: int, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Links (child, first) from one band (and one bucket of its keys) over all parts.
    Runs on the executor; reads only that band's row of each part's key file."""
    members = np.load(members_path, mmap_mode="r")
    keys_all, docs_all = [], []
    for index, part, offset, rows in sources:
        if rows == 0:
            continue
        bands = np.load(idx.bands_path(Path(index), part), mmap_mode="r")
        keys = np.array(bands[band])
        take = np.array(members[offset: offset + rows])
        if buckets > 1:
            take &= bucket_of(keys, buckets) == bucket
        sel = np.flatnonzero(take)
        keys_all.append(keys[sel])
        docs_all.append(sel + offset)
    if not keys_all:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return links_from_keys(np.concatenate(keys_all), np.concatenate(docs_all))


def _rank(*keys: np.ndarray) -> np.ndarray:
    """Rank (0 = best) from sort keys given most significant first."""
    order = np.lexsort(keys[::-1])
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return rank


def _group_losers(keys: np.ndarray, members: np.ndarray, rank: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Members that share a key with a better-ranked member, and that member."""
    best = winners(keys, members, rank)
    lost = best != members
    return members[lost], best[lost]


@dataclass
class _Docs:
    """Every document's keys and its fate so far, indexed by global ordinal."""

    url_key: np.ndarray
    text_key: np.ndarray
    date: np.ndarray
    length: np.ndarray
    has_sig: np.ndarray
    frozen: np.ndarray
    active: np.ndarray
    reason: np.ndarray
    contam: np.ndarray
    contam_set: np.ndarray
    parent: np.ndarray

    @classmethod
    def empty(cls, n: int) -> "_Docs":
        return cls(url_key=np.zeros(n, dtype=np.uint64), text_key=np.zeros(n, dtype=np.uint64),
                   date=np.zeros(n, dtype=np.int64), length=np.zeros(n, dtype=np.int64),
                   has_sig=np.zeros(n, dtype=bool), frozen=np.zeros(n, dtype=bool),
                   active=np.ones(n, dtype=bool), reason=np.zeros(n, dtype=np.int8),
                   contam=np.zeros(n, dtype=np.int64), contam_set=np.full(n, -1, dtype=np.int32),
                   parent=np.arange(n, dtype=np.int64))

    def lose(self, losers: np.ndarray, by: np.ndarray, why: int) -> None:
        """Remove ``losers`` (beaten by ``by``); frozen documents only stop standing,
        since the earlier corpus already decided their fate."""
        new = ~self.frozen[losers]
        self.parent[losers[new]] = by[new]
        self.reason[losers[new]] = why
        self.active[losers] = False


def assign(work: Path, new_index: Path, new_parts: list[str], frozen_chain: list[tuple[Path, dict]],
           bands: int, opts: dict, run_map: Callable) -> dict:
    """Decide every document's fate and write ``assign/<part>.parquet`` for ``new_parts``.

    ``opts``: url, exact, minhash (bool), buckets (int), eval_names (list[str]).
    ``run_map(fn, items)`` runs the per-band grouping tasks (the stage's executor).
    """
    sources = _sources(new_index, new_parts, frozen_chain)
    docs = _load_docs(sources)
    if opts.get("contam_action") == "remove":
        hit = (docs.contam > 0) & ~docs.frozen
        docs.reason[hit] = CONTAM
        docs.active &= ~hit
    stats = {"documents": int((~docs.frozen).sum()), "against_documents": int(docs.frozen.sum())}
    rank_keep = _exact_passes(docs, opts)
    links = 0
    if opts.get("minhash", True):
        links = _near_pass(docs, sources, rank_keep, work, bands, opts, run_map)
    stats["candidate_links"] = int(links)
    docs.parent = _follow_links(docs.parent)
    _write_assignments(docs, sources, new_index, opts.get("eval_names") or [])
    return _reason_stats(docs, stats, opts)


def _sources(new_index: Path, new_parts: list[str], frozen_chain: list[tuple[Path, dict]]) -> list[Source]:
    """Global ordinals: the earlier indexes' parts first (they win ties), then this run's."""
    sources: list[Source] = []
    offset = 0
    for index, meta in frozen_chain:
        for part in meta["parts"]:
            rows = int(meta["part_rows"][part])
            sources.append(Source(str(index), part, offset, rows, True))
            offset += rows
    for part in new_parts:
        rows = idx.read_docs(new_index, part, ["has_sig"]).num_rows
        sources.append(Source(str(new_index), part, offset, rows, False))
        offset += rows
    return sources


def _load_docs(sources: list[Source]) -> _Docs:
    """Read every part's keys into one set of arrays, so each pass is a vector operation."""
    docs = _Docs.empty(sources[-1].offset + sources[-1].rows if sources else 0)
    for s in sources:
        sl = slice(s.offset, s.offset + s.rows)
        t = idx.read_docs(Path(s.index), s.part, ["url_key", "text_key", "date", "length",
                                                    "has_sig", "contam", "contam_set"])
        for name in ("url_key", "text_key", "date", "length", "has_sig"):
            getattr(docs, name)[sl] = t[name].to_numpy()
        docs.frozen[sl] = s.frozen
        if s.frozen:  # only what the earlier corpus kept stands for it
            import pyarrow.compute as pc  # heavy: ~45 ms; every command imports this module for the settings check

            a = idx.read_assign(Path(s.index), s.part)
            removed = a.filter(pc.is_valid(a["reason"]))["row"].to_numpy()
            docs.active[s.offset + removed] = False
        else:
            docs.contam[sl] = t["contam"].to_numpy()
            docs.contam_set[sl] = t["contam_set"].to_numpy()
    return docs


def _exact_passes(docs: _Docs, opts: dict) -> np.ndarray:
    """URL then text groups, each with its own keep rule; returns the keep rank for near dups."""
    ordinal = np.arange(len(docs.frozen), dtype=np.int64)
    not_frozen = (~docs.frozen).astype(np.int8)
    rank_url = _rank(not_frozen, -docs.date, -docs.length, ordinal)
    rank_keep = _rank(not_frozen, -docs.length, -docs.date, ordinal)
    if opts.get("url", True):
        m = np.flatnonzero(docs.active & (docs.url_key != 0))
        docs.lose(*_group_losers(docs.url_key, m, rank_url), URL)
    if opts.get("exact", True):
        m = np.flatnonzero(docs.active & (docs.text_key != 0))
        docs.lose(*_group_losers(docs.text_key, m, rank_keep), EXACT)
    return rank_keep


def _near_pass(docs: _Docs, sources: list[Source], rank_keep: np.ndarray, work: Path, bands: int,
               opts: dict, run_map: Callable) -> int:
    """MinHash near duplicates: band links (on the executor when large), then components;
    returns the number of candidate links."""
    members_path = work / "near_members.npy"
    work.mkdir(parents=True, exist_ok=True)
    np.save(members_path, docs.active & docs.has_sig)
    src = [(s.index, s.part, s.offset, s.rows) for s in sources]
    buckets = int(opts.get("buckets", 1))
    items = [(src, str(members_path), b, k, buckets) for b in range(bands) for k in range(buckets)]
    if len(docs.frozen) * bands < INLINE_BAND_KEYS:  # small: sorting here beats starting workers
        results = [band_links(*item) for item in items]
    else:
        results = run_map(band_links, items)
    u = np.concatenate([r[0] for r in results]) if results else np.zeros(0, np.int64)
    v = np.concatenate([r[1] for r in results]) if results else np.zeros(0, np.int64)
    if len(u):
        nodes = np.unique(np.concatenate((u, v)))
        labels = components(len(nodes), np.searchsorted(nodes, u), np.searchsorted(nodes, v))
        local_best = winners(labels, np.arange(len(nodes)), rank_keep[nodes])
        best = nodes[local_best]
        lost = best != nodes
        docs.lose(nodes[lost], best[lost], NEAR)
    return len(u)


def _follow_links(parent: np.ndarray) -> np.ndarray:
    """Point each removed document at its cluster's kept one: url loser -> url winner -> ... -> kept."""
    while True:
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            return parent
        parent = nxt


def _root_ids(docs: _Docs, sources: list[Source], dup: np.ndarray) -> dict[int, str]:
    """Ids of the kept documents that removed documents point to (they may be in any part)."""
    roots = np.unique(docs.parent[dup])
    root_id: dict[int, str] = {}
    for s in sources:
        mine = roots[(roots >= s.offset) & (roots < s.offset + s.rows)]
        if len(mine):
            ids = idx.read_docs(Path(s.index), s.part, ["id"])["id"].to_numpy(zero_copy_only=False)
            for o in mine.tolist():
                root_id[o] = ids[o - s.offset]
    return root_id


def _write_assignments(docs: _Docs, sources: list[Source], new_index: Path,
                       eval_names: list[str]) -> None:
    """One assign table per new part: the rows that were removed or keep a cluster."""
    dup = (docs.reason >= URL) & (docs.reason <= NEAR)
    in_cluster = np.zeros(len(docs.reason), dtype=bool)
    in_cluster[dup] = True
    in_cluster[docs.parent[dup]] = True
    root_id = _root_ids(docs, sources, dup)
    for s in sources:
        if s.frozen:
            continue
        sl = slice(s.offset, s.offset + s.rows)
        rows = np.flatnonzero(in_cluster[sl] | (docs.reason[sl] != 0))
        ids = None
        if len(rows):
            ids = idx.read_docs(new_index, s.part, ["id"])["id"].to_numpy(zero_copy_only=False)
        table = _assign_table(docs, rows, s.offset, ids, root_id, eval_names)
        idx.write_table(idx.assign_path(new_index, s.part), table)


def _assign_table(docs: _Docs, rows: np.ndarray, offset: int, ids, root_id: dict[int, str],
                  eval_names: list[str]) -> pa.Table:
    """The outcome of ``rows`` of one part: reason, kept document and cluster, or eval set."""
    reasons, dup_of, clusters, values, details = [], [], [], [], []
    for r, o in zip(rows.tolist(), (rows + offset).tolist()):
        why = int(docs.reason[o])
        if why == CONTAM:
            k = int(docs.contam_set[o])
            reasons.append(REASONS[why])
            dup_of.append(None)
            clusters.append(None)
            values.append(float(docs.contam[o]))
            details.append(eval_names[k] if 0 <= k < len(eval_names) else None)
            continue
        root = int(docs.parent[o])
        kept_id = root_id[root] if root != o else ids[r]
        reasons.append(REASONS[why] if why else None)
        dup_of.append(kept_id if why else None)
        clusters.append(cluster_id(kept_id))
        values.append(None)
        details.append(None)
    return pa.table({"row": pa.array(rows, pa.int64()), "reason": pa.array(reasons, pa.string()),
                     "dup_of": pa.array(dup_of, pa.string()),
                     "cluster": pa.array(clusters, pa.int64()),
                     "reason_value": pa.array(values, pa.float64()),
                     "reason_detail": pa.array(details, pa.string())},
                    schema=idx.ASSIGN_SCHEMA)


def _reason_stats(docs: _Docs, stats: dict, opts: dict) -> dict:
    """The manifest's counts of this run's documents, by reason and cluster."""
    new = ~docs.frozen
    dup = (docs.reason >= URL) & (docs.reason <= NEAR)
    for code in (URL, EXACT, NEAR, CONTAM):
        stats[REASONS[code]] = int((docs.reason[new] == code).sum())
    stats["clusters"] = int(len(np.unique(docs.parent[dup & new])))
    flag = opts.get("contam_action") == "flag"
    stats["flagged_contaminated"] = int(((docs.contam > 0) & new).sum()) if flag else 0
    return stats
