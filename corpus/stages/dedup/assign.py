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
import pyarrow.compute as pc

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


def assign(work: Path, new_index: Path, new_parts: list[str], frozen_chain: list[tuple[Path, dict]],
           bands: int, opts: dict, run_map: Callable) -> dict:
    """Decide every document's fate and write ``assign/<part>.parquet`` for ``new_parts``.

    ``opts``: url, exact, minhash (bool), buckets (int), eval_names (list[str]).
    ``run_map(fn, items)`` runs the per-band grouping tasks (the stage's executor).
    """
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
    n = offset

    url_key = np.zeros(n, dtype=np.uint64)
    text_key = np.zeros(n, dtype=np.uint64)
    date = np.zeros(n, dtype=np.int64)
    length = np.zeros(n, dtype=np.int64)
    has_sig = np.zeros(n, dtype=bool)
    frozen = np.zeros(n, dtype=bool)
    active = np.ones(n, dtype=bool)
    reason = np.zeros(n, dtype=np.int8)
    contam = np.zeros(n, dtype=np.int64)
    contam_set = np.full(n, -1, dtype=np.int32)
    for s in sources:
        sl = slice(s.offset, s.offset + s.rows)
        t = idx.read_docs(Path(s.index), s.part, ["url_key", "text_key", "date", "length",
                                                    "has_sig", "contam", "contam_set"])
        url_key[sl] = t["url_key"].to_numpy()
        text_key[sl] = t["text_key"].to_numpy()
        date[sl] = t["date"].to_numpy()
        length[sl] = t["length"].to_numpy()
        has_sig[sl] = t["has_sig"].to_numpy()
        frozen[sl] = s.frozen
        if s.frozen:  # only what the earlier corpus kept stands for it
            a = idx.read_assign(Path(s.index), s.part)
            removed = a.filter(pc.is_valid(a["reason"]))["row"].to_numpy()
            active[s.offset + removed] = False
        else:
            contam[sl] = t["contam"].to_numpy()
            contam_set[sl] = t["contam_set"].to_numpy()
    if opts.get("contam_action") == "remove":
        hit = (contam > 0) & ~frozen
        reason[hit] = CONTAM
        active &= ~hit

    ordinal = np.arange(n, dtype=np.int64)
    not_frozen = (~frozen).astype(np.int8)
    rank_url = _rank(not_frozen, -date, -length, ordinal)
    rank_keep = _rank(not_frozen, -length, -date, ordinal)
    parent = ordinal.copy()
    stats = {"documents": int((~frozen).sum()), "against_documents": int(frozen.sum())}

    def lose(losers: np.ndarray, by: np.ndarray, why: int) -> None:
        losers_new = losers[~frozen[losers]]
        by_new = by[~frozen[losers]]
        parent[losers_new] = by_new
        reason[losers_new] = why
        active[losers] = False

    if opts.get("url", True):
        m = np.flatnonzero(active & (url_key != 0))
        lose(*_group_losers(url_key, m, rank_url), URL)
    if opts.get("exact", True):
        m = np.flatnonzero(active & (text_key != 0))
        lose(*_group_losers(text_key, m, rank_keep), EXACT)
    links = 0
    if opts.get("minhash", True):
        members_path = work / "near_members.npy"
        work.mkdir(parents=True, exist_ok=True)
        np.save(members_path, active & has_sig)
        src = [(s.index, s.part, s.offset, s.rows) for s in sources]
        buckets = int(opts.get("buckets", 1))
        items = [(src, str(members_path), b, k, buckets) for b in range(bands) for k in range(buckets)]
        if n * bands < INLINE_BAND_KEYS:   # small: sorting here beats starting workers
            results = [band_links(*item) for item in items]
        else:
            results = run_map(band_links, items)
        u = np.concatenate([r[0] for r in results]) if results else np.zeros(0, np.int64)
        v = np.concatenate([r[1] for r in results]) if results else np.zeros(0, np.int64)
        links = len(u)
        if links:
            nodes = np.unique(np.concatenate((u, v)))
            labels = components(len(nodes), np.searchsorted(nodes, u), np.searchsorted(nodes, v))
            local_best = winners(labels, np.arange(len(nodes)), rank_keep[nodes])
            best = nodes[local_best]
            lost = best != nodes
            lose(nodes[lost], best[lost], NEAR)
    stats["candidate_links"] = int(links)

    # follow links to the end: url loser -> url winner -> ... -> kept document
    while True:
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    dup = (reason >= URL) & (reason <= NEAR)
    in_cluster = np.zeros(n, dtype=bool)
    in_cluster[dup] = True
    in_cluster[parent[dup]] = True

    # ids of the kept documents that removed documents point to
    roots = np.unique(parent[dup])
    root_id: dict[int, str] = {}
    for s in sources:
        mine = roots[(roots >= s.offset) & (roots < s.offset + s.rows)]
        if len(mine):
            ids = idx.read_docs(Path(s.index), s.part, ["id"])["id"].to_numpy(zero_copy_only=False)
            for o in mine.tolist():
                root_id[o] = ids[o - s.offset]

    eval_names = opts.get("eval_names") or []
    for s in sources:
        if s.frozen:
            continue
        sl = slice(s.offset, s.offset + s.rows)
        rows = np.flatnonzero(in_cluster[sl] | (reason[sl] != 0))
        ords = rows + s.offset
        ids = None
        if len(rows):
            ids = idx.read_docs(new_index, s.part, ["id"])["id"].to_numpy(zero_copy_only=False)
        reasons, dup_of, clusters, values, details = [], [], [], [], []
        for r, o in zip(rows.tolist(), ords.tolist()):
            why = int(reason[o])
            if why == CONTAM:
                reasons.append(REASONS[why])
                dup_of.append(None)
                clusters.append(None)
                values.append(float(contam[o]))
                k = int(contam_set[o])
                details.append(eval_names[k] if 0 <= k < len(eval_names) else None)
                continue
            root = int(parent[o])
            kept_id = root_id[root] if root != o else ids[r]
            reasons.append(REASONS[why] if why else None)
            dup_of.append(kept_id if why else None)
            clusters.append(cluster_id(kept_id))
            values.append(None)
            details.append(None)
        table = pa.table({"row": pa.array(rows, pa.int64()), "reason": pa.array(reasons, pa.string()),
                          "dup_of": pa.array(dup_of, pa.string()),
                          "cluster": pa.array(clusters, pa.int64()),
                          "reason_value": pa.array(values, pa.float64()),
                          "reason_detail": pa.array(details, pa.string())},
                         schema=idx.ASSIGN_SCHEMA)
        idx.write_table(idx.assign_path(new_index, s.part), table)

    new = ~frozen
    for code in (URL, EXACT, NEAR, CONTAM):
        stats[REASONS[code]] = int((reason[new] == code).sum())
    stats["clusters"] = int(len(np.unique(parent[dup & new])))
    stats["flagged_contaminated"] = int(((contam > 0) & new).sum()) if opts.get("contam_action") == "flag" else 0
    return stats
