"""``corpus dedup``: remove URL, exact-text and MinHash near duplicates across all parts,
and documents contaminated with evaluation data.

How it runs (a map over parts, one global reduce, then a map again):

1. ``prepare`` maps ``compute_part_keys`` over the input parts on the executor: per
   document a URL key, a normalised-text key, a MinHash signature turned into LSH
   band keys, and evaluation n-gram hits; written to ``__index/`` (see ``index.py``).
2. ``prepare`` then runs the reduce (``assign.py``): URL and text groups, band
   grouping (one executor task per band), union-find, kept document per cluster;
   the outcome goes to ``__index/assign/<part>.parquet``, a few bytes per document.
3. ``process`` (per part, on the executor) streams the part once more and writes kept
   documents (plus ``cluster``) and rejected ones (plus ``reason``, ``dup_of``,
   ``cluster``).

Every decision depends only on the keys and the documented rules, never on which
worker did what, so 1 worker, 2 workers and Ray give identical output.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from contract.atomic import atomic_path
from ...core.parts import document_parts, iter_batches, rejected_schema
from ...core.runner import Stage, Task, TaskOutput
from ...core.settings import (INPUT_STAGE, Key, Section, boolean, integer, is_number, one_of,
                              paths, str_list, string)
from . import index as idx
from .assign import REASONS, assign
from .decontam import build_ngram_table, contamination
from .exact import url_keys
from .lsh import LSHParams, band_keys, optimal_params
from .minhash import MinHasher
from .shingles import TokenBatch
from contract.layout import DEDUP_INDEX, LEGACY_DEDUP_INDEX, REJECTED

NORMALIZATION = "v1-lower-digits0-punct-cjkchar"


def _dedup_rule(s: dict) -> tuple[str, str] | None:
    if s.get("threshold") is None and s.get("num_perm") is not None \
            and s["bands"] * s["rows"] > s["num_perm"]:
        return "num_perm", (f"must be at least bands x rows = {s['bands'] * s['rows']}, "
                            f"got {s['num_perm']}")
    return None


#: ``stages.dedup``: url / exact / minhash switches, shingles, LSH bands x rows, incremental
#: and decontamination settings.
SCHEMA = Section({
    "url": boolean(True),            # drop crawls of the same normalised URL, keeping the newest
    "exact": boolean(True),          # drop documents with the same normalised text
    "minhash": boolean(True),        # drop near duplicates (MinHash LSH)
    "ngram": integer(5, 1),          # shingle size in tokens (characters for CJK/Thai)
    "num_perm": integer(None, 1, null=True),  # signature length; default bands * rows
    "bands": integer(14, 1),
    "rows": integer(8, 1),
    "threshold": Key(None, "a number between 0 and 1 (exclusive), or null",
                     lambda v: v is None or (is_number(v) and 0 < v < 1)),  # bands x rows chosen for this Jaccard
    "seed": integer(1, 0),
    "buckets": integer(1, 1),        # split each band's keys into this many sorted groups (memory)
    "batch_size": integer(64, 1),    # documents hashed together (64: arrays stay cache sized)
    "against": string(None, null=True),  # earlier dedup dir (or its index/) to dedup incrementally against
    "decontaminate": Section({       # drop (or flag) documents sharing n-grams with evaluation sets
        "eval_sets": paths([]),
        "fields": str_list(["text", "question", "answer", "prompt", "input"]),
        "ngram": integer(13, 1),
        "action": one_of("remove", ("remove", "flag")),
    }, default=None),
    "input_stage": INPUT_STAGE,
}, _dedup_rule)
DEFAULTS = SCHEMA.defaults()
#: Below this many input documents the keys are computed in this process (seconds of
#: work; a worker pool takes longer to start).
INLINE_KEYS_DOCS = 20_000
CONTAM_DEFAULTS = SCHEMA.keys["decontaminate"].defaults()


def resolve_options(params: dict) -> dict:
    """Stage parameters (checked against the schema) with defaults filled in and
    bands/rows settled."""
    SCHEMA.check(params, "stages.dedup")
    o = {**DEFAULTS, **{k: v for k, v in params.items() if v is not None or k == "against"}}
    if o.get("threshold") is not None:   # overrides bands and rows
        o["num_perm"] = int(o.get("num_perm") or 112)
        p = optimal_params(float(o["threshold"]), o["num_perm"])
        o["bands"], o["rows"] = p.bands, p.rows
    o["num_perm"] = int(o["num_perm"] or o["bands"] * o["rows"])
    dc = o.get("decontaminate")
    if dc:
        dc = {**CONTAM_DEFAULTS, **dc}
        if isinstance(dc["eval_sets"], str):
            dc["eval_sets"] = [dc["eval_sets"]]
        o["decontaminate"] = dc if dc["eval_sets"] else None
    return o


def key_params(o: dict) -> dict:
    return {"ngram": o["ngram"], "num_perm": o["num_perm"], "seed": o["seed"], "bands": o["bands"],
            "rows": o["rows"], "normalization": NORMALIZATION}


def compute_part_keys(o: dict, in_path: str, index_dir: str, part: str) -> dict:
    """Map step: one input part -> its keys in the index (skipped when already there)."""
    try:
        return _part_keys(o, in_path, Path(index_dir), part)
    except (OSError, pa.ArrowException, KeyError) as err:
        raise RuntimeError(f"dedup: cannot read input part {in_path}: {type(err).__name__}: {err}") from err


def _row_count(path: Path) -> int:
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowException) as err:
        raise RuntimeError(f"dedup: cannot read input part {path}: {type(err).__name__}: {err}") from err


def _part_keys(o: dict, in_path: str, index: Path, part: str) -> dict:
    import pyarrow.compute as pc  # heavy: ~45 ms; every command imports this module for the settings check

    if idx.part_done(index, part):
        return {"part": part, "docs": idx.read_docs(index, part, ["has_sig"]).num_rows, "skipped": True}
    t0 = time.monotonic()
    hasher = MinHasher(o["num_perm"], o["ngram"], o["seed"])
    lsh = LSHParams(o["bands"], o["rows"])
    dc = o.get("decontaminate")
    table = owners = None
    if dc:
        z = np.load(index / "decontam.npz")
        table, owners = z["hashes"], z["owners"]
    docs, bands = [], []
    for batch in iter_batches(in_path, columns=["id", "url", "date", "text"],
                              batch_size=o["batch_size"]):
        texts = batch.column("text").to_pylist()
        tb = TokenBatch.from_texts(texts)
        sig = hasher.from_tokens(tb)
        bands.append(band_keys(sig, lsh))
        dates = pc.cast(batch.column("date"), pa.int64()).fill_null(np.iinfo(np.int64).min)
        length = pc.utf8_length(batch.column("text")).cast(pa.int64()).fill_null(0)
        if dc:
            counts, which = contamination(tb, table, owners, dc["ngram"])
        else:
            counts, which = np.zeros(len(texts), np.int64), np.full(len(texts), -1, np.int32)
        docs.append(pa.table({
            "id": batch.column("id"),
            "url_key": pa.array(url_keys(batch.column("url").to_pylist()), pa.uint64()),
            "text_key": pa.array(tb.text_keys(), pa.uint64()),
            "date": dates, "length": length,
            "has_sig": pa.array(tb.counts > 0),
            "contam": pa.array(counts, pa.int64()),
            "contam_set": pa.array(which, pa.int32())}, schema=idx.DOCS_SCHEMA))
    table_out = pa.concat_tables(docs) if docs else idx.DOCS_SCHEMA.empty_table()
    band_arr = (np.concatenate(bands, axis=1) if bands
                else np.zeros((o["bands"], 0), dtype=np.uint64))
    idx.write_part(index, part, table_out, band_arr)
    return {"part": part, "docs": table_out.num_rows, "seconds": round(time.monotonic() - t0, 3)}


class DedupStage(Stage):
    name = "dedup"
    folder = "dedup"
    upstream = "filter"
    schema = SCHEMA
    owns = tuple(f"{d}/{f}" for d in (DEDUP_INDEX, *LEGACY_DEDUP_INDEX)  # older releases' names
                 for f in ("meta.json", "decontam.npz", "docs/part-*.parquet", "bands/part-*.npy",
                           "assign/part-*.parquet")) + (".work/near_members.npy",)
    # a URL output's driver reads the keys (the global step), never the documents' text
    driver_reads = (f"{DEDUP_INDEX}/*", ".work/*")

    def __init__(self, config: dict):
        super().__init__(config)
        self.opts = resolve_options(self.params)

    @property
    def index(self) -> Path:
        """Follows ``dir``: the runner may build the stage in a staging folder."""
        return self.dir / DEDUP_INDEX

    # --- what runs where --------------------------------------------------------------
    def _parts(self) -> list[tuple[str, Path]]:
        """(part name, input path) for every input part, including the filter stage's
        ``language=xx/`` folders; names are numbered in path order, so they are unique."""
        d = self.input_dir()
        paths = document_parts(d)
        if not paths:
            raise FileNotFoundError(f"dedup: no input parts in {d}; run the "
                                    f"{self.params.get('input_stage', self.upstream)} stage first")
        return [(f"part-{i:05d}", p) for i, p in enumerate(paths)]

    def tasks(self) -> list[Task]:
        return [Task(name, {"path": str(p)}) for name, p in self._parts()]

    def fingerprint_source(self):
        src = super().fingerprint_source()
        extra = {}
        if self.opts.get("against"):
            meta = idx.read_meta(idx.resolve(self.opts["against"]))
            extra["against"] = {"parts": meta.get("parts"), "docs": meta.get("docs"),
                                "created": meta.get("created")}
        dc = self.opts.get("decontaminate")
        if dc:
            extra["eval_sets"] = [[f, os.path.getsize(f) if os.path.exists(f) else None,
                                   os.path.getmtime(f) if os.path.exists(f) else None]
                                  for f in dc["eval_sets"]]
        src["dedup"] = extra
        return src

    def prepare(self, run) -> None:
        o = self.opts
        meta_path = self.index / "meta.json"
        if meta_path.exists() and json.loads(meta_path.read_text()).get("complete"):
            return  # keys and assignment done: only parts remain (resume)
        frozen = []
        if o.get("against"):
            frozen = idx.chain(o["against"])
            for where, meta in frozen:
                idx.check_compatible(meta, key_params(o), where)
        parts = self._parts()
        self.index.mkdir(parents=True, exist_ok=True)
        eval_stats = {}
        dc = o.get("decontaminate")
        if dc and not (self.index / "decontam.npz").exists():
            hashes, owners, eval_stats = build_ngram_table(dc["eval_sets"], dc["fields"], dc["ngram"])
            with atomic_path(self.index / "decontam.npz") as tmp, open(tmp, "wb") as fh:
                np.savez(fh, hashes=hashes, owners=owners)
        names = [name for name, _ in parts]
        items = [(o, str(p), str(self.index), name) for name, p in parts]
        # small: hashing here beats starting workers; not for a URL output, whose driver
        # would then fetch every input part (the tasks fetch theirs where they run)
        if not self.config.get("output_url") and sum(_row_count(p) for _, p in parts) < INLINE_KEYS_DOCS:
            for item in items:
                compute_part_keys(*item)
        else:
            run.map(compute_part_keys, items, label="dedup keys", unit="docs",
                    count=lambda r: int(r.get("docs", 0)))
        t0 = time.monotonic()
        stats = assign(self.dir / ".work", self.index, names, frozen, o["bands"],
                       {"url": o["url"], "exact": o["exact"], "minhash": o["minhash"],
                        "buckets": o["buckets"],
                        "contam_action": dc["action"] if dc else None,
                        "eval_names": [Path(f).name for f in dc["eval_sets"]] if dc else []},
                       lambda fn, its: run.map(fn, its, label="dedup bands", unit="bands"))
        stats["reduce_seconds"] = round(time.monotonic() - t0, 3)
        part_rows = {name: idx.read_docs(self.index, name, ["has_sig"]).num_rows for name in names}
        created = hashlib.sha256(json.dumps([key_params(o), sorted(part_rows.items()),
                                             stats], sort_keys=True).encode()).hexdigest()[:16]
        idx.write_meta(self.index, {
            "version": idx.VERSION, "params": key_params(o), "parts": names,
            "part_rows": part_rows, "docs": sum(part_rows.values()),
            "against": str(frozen[-1][0].resolve()) if frozen else None,
            "stats": stats, "eval_sets": eval_stats, "created": created, "complete": True})

    def process(self, task: Task, out: TaskOutput) -> dict:
        path = task.payload["path"]
        flag = bool(self.opts.get("decontaminate")) and self.opts["decontaminate"]["action"] == "flag"
        a = idx.read_assign(self.index, task.id)
        n_rows = pq.ParquetFile(path).metadata.num_rows
        reason = np.full(n_rows, None, dtype=object)
        dup_of = np.full(n_rows, None, dtype=object)
        cluster = np.zeros(n_rows, dtype=np.int64)
        has_cluster = np.zeros(n_rows, dtype=bool)
        value = np.full(n_rows, np.nan)
        has_value = np.zeros(n_rows, dtype=bool)
        detail = np.full(n_rows, None, dtype=object)
        rows = a["row"].to_numpy()
        reason[rows] = a["reason"].to_numpy(zero_copy_only=False)
        dup_of[rows] = a["dup_of"].to_numpy(zero_copy_only=False)
        cl = a["cluster"]
        cluster[rows] = cl.fill_null(0).to_numpy()
        has_cluster[rows] = cl.is_valid().to_numpy(zero_copy_only=False)
        rv = a["reason_value"]
        value[rows] = rv.fill_null(0.0).to_numpy()
        has_value[rows] = rv.is_valid().to_numpy(zero_copy_only=False)
        detail[rows] = a["reason_detail"].to_numpy(zero_copy_only=False)
        contam = idx.read_docs(self.index, task.id, ["contam"])["contam"].to_numpy() if flag else None

        in_schema = pq.read_schema(path)
        base = pa.schema([f for f in in_schema if f.name not in ("cluster", "contaminated")])
        kept_schema = base.append(pa.field("cluster", pa.int64()))
        if flag:
            kept_schema = kept_schema.append(pa.field("contaminated", pa.bool_()))
        rej_schema = rejected_schema(kept_schema).append(pa.field("dup_of", pa.string()))
        kept_w = out.writer(kept_schema)
        rej_w = out.writer(rej_schema, REJECTED)
        counts = {"in": 0, "kept": 0, "rejected": {}, "errors": {}}
        start = 0
        for batch in iter_batches(path, batch_size=4096):
            t = pa.Table.from_batches([batch]).select(base.names)
            sl = slice(start, start + t.num_rows)
            start += t.num_rows
            t = t.append_column("cluster", pa.array(cluster[sl], pa.int64(), mask=~has_cluster[sl]))
            if flag:
                t = t.append_column("contaminated", pa.array(contam[sl] > 0))
            r = reason[sl]
            removed = np.array([x is not None for x in r], dtype=bool)
            counts["in"] += t.num_rows
            counts["kept"] += int((~removed).sum())
            if (~removed).any():
                kept_w.write_table(t.filter(pa.array(~removed)))
            if removed.any():
                rt = t.filter(pa.array(removed))
                rt = rt.append_column("reason", pa.array(r[removed], pa.string()))
                rt = rt.append_column("reason_value", pa.array(value[sl][removed], pa.float64(),
                                                               mask=~has_value[sl][removed]))
                rt = rt.append_column("reason_detail", pa.array(detail[sl][removed], pa.string()))
                rt = rt.append_column("dup_of", pa.array(dup_of[sl][removed], pa.string()))
                rej_w.write_table(rt)
                for why in r[removed]:
                    counts["rejected"][why] = counts["rejected"].get(why, 0) + 1
        if start != n_rows:
            raise RuntimeError(f"dedup {task.id}: read {start} rows from {path}, expected {n_rows}")
        return counts

    def finish(self, run, results: list[dict]) -> dict:
        meta = idx.read_meta(self.index)
        s = meta.get("stats", {})
        removed = ", ".join(f"{REASONS[i]} {s.get(REASONS[i], 0):,}" for i in range(1, 5))
        return {
            "summary": (f"{removed}; {s.get('clusters', 0):,} clusters; LSH {self.opts['bands']}x"
                        f"{self.opts['rows']} on {self.opts['ngram']}-gram shingles; index at "
                        f"{self.index}"),
            "dedup": {"params": meta["params"], "stats": s, "index": str(self.index),
                      "against": meta.get("against"), "eval_sets": meta.get("eval_sets", {})},
        }
