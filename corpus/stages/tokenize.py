"""`corpus tokenize`: every kept document as tokens, in Parquet shards split train/val.

Map: one task per input part encodes its documents (``contract.tokens.encode_documents``,
the encoding training uses too; one ``<|bos|>`` first), assigns each to train or val by a
hash of its id, and writes the rows sorted by a second hash (the shuffle key) to
``shards/parts/{train,val}/`` (Arrow IPC files: read once, memory-mapped). Reduce: ``finish`` orders all rows of a split by shuffle key — a deterministic global
shuffle — and cuts them into shards of about ``shard_tokens`` tokens. A shard covers a
contiguous range of keys, and every part is sorted by key, so each shard reads one
contiguous slice of each part (only the pages it maps); shards are written in
parallel. Same input, tokenizer and config give the same shards, byte for byte. A run
killed anywhere in ``finish`` resumes with a plain re-run (the shards are recorded before
the parts they came from are removed).

Shard rows: ``id`` (string), ``tokens`` (list<uint16> when the vocabulary fits, else
list<uint32>), ``n_tokens`` (int32). ``shards/.manifest.json`` says which tokenizer, dtype
and how many documents and tokens each split and shard holds.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from contract.atomic import write_json_atomic
from contract.tokens import MODEL_FILE, SPECIALS_FILE, encode_documents, file_sha256, load_special_tokens

from ..core import config as cfg
from ..core.parts import SCRATCH_SUFFIX, PartWriter, document_parts, iter_batches, list_parts, read_scratch
from ..core.runner import DONE_DIR, RunContext, Stage, StageError, Task, TaskOutput
from ..core.settings import INPUT_STAGE, Section, fraction, integer, string
from .tokenizer import doc_keys

log = logging.getLogger("corpus")

#: ``stages.tokenize``: split, shard size, seed, batching, tokenizer path.
SCHEMA = Section({
    "val_fraction": fraction(0.01),        # share of documents (by hash of id) in the val split
    "shard_tokens": integer(100_000_000, 1),  # target tokens per shard
    "seed": integer(0, 0),                 # salts the split and shuffle hashes
    "batch_size": integer(1024, 1),        # documents per sentencepiece batch
    "encode_threads": integer(1, 0),       # sentencepiece threads per task (0 = all cores)
    "tokenizer": string(None, null=True),  # path of tokenizer.model (default: the tokenizer stage's)
    "input_stage": INPUT_STAGE,
})
DEFAULTS = SCHEMA.defaults()

SPLITS = ("train", "val")
PARTS_DIR = "parts"
#: Imported inside the functions (the CLI starts without them) yet needed by every job: the
#: forkserver preloads them once (corpus/core/executors.py) instead of each worker, on a
#: parallel run's critical path.
WORKER_MODULES = ("pyarrow.compute", "sentencepiece")

#: Test hook: ``CORPUS_TEST_KILL_IN_FINISH=<step>`` SIGKILLs the run right after that step
#: of ``finish``, so a test can check that a re-run resumes from any point of it.
FINISH_KILL_ENV = "CORPUS_TEST_KILL_IN_FINISH"
FINISH_STEPS = ("train-shards", "val-shards", "recorded", "train-parts-removed",
                "val-parts-removed")
#: In the runner's marker directory: the shards are complete, the parts may go.
FINISH_RECORD = "_finish.json"


def _kill_point(step: str) -> None:
    if os.environ.get(FINISH_KILL_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def dtype_for(vocab_size: int) -> str:
    return "uint16" if vocab_size <= 65536 else "uint32"


def shard_schema(dtype: str) -> pa.Schema:
    return pa.schema([pa.field("id", pa.string()),
                      pa.field("tokens", pa.list_(getattr(pa, dtype)())),
                      pa.field("n_tokens", pa.int32())])


def part_schema(dtype: str) -> pa.Schema:
    return pa.schema([pa.field("key", pa.uint64())] + list(shard_schema(dtype)))


def split_is_val(ids, seed: int, fraction: float) -> np.ndarray:
    """True for documents in val: the top 64 bits of a salted hash, below ``fraction``."""
    keys = doc_keys(ids, f"split-{seed}")
    if fraction >= 1.0:
        return np.ones(len(keys), dtype=bool)
    return keys < np.uint64(int(max(fraction, 0.0) * 2**64))


_SP_CACHE: dict[str, object] = {}


def load_sentencepiece(path: str):
    """One processor per worker process and model file."""
    if path not in _SP_CACHE:
        import sentencepiece as spm  # heavy: ~7 ms; every command imports this module for the settings check

        _SP_CACHE[path] = spm.SentencePieceProcessor(model_file=path)
    return _SP_CACHE[path]


def token_table(keys: np.ndarray, ids: list, encoded: list[list[int]], bos: int, dtype: str) -> pa.Table:
    """Rows (key, id, [bos] + tokens, n_tokens) from a batch of encodings."""
    lengths = np.fromiter((len(e) + 1 for e in encoded), dtype=np.int64, count=len(encoded))
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.empty(int(offsets[-1]), dtype=dtype)
    for start, e in zip(offsets[:-1], encoded):
        values[start] = bos
        values[start + 1:start + 1 + len(e)] = e
    if offsets[-1] < 2**31:
        tokens = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values))
    else:  # a batch that large cannot use 32-bit offsets; cast back below
        tokens = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values)).cast(
            pa.list_(getattr(pa, dtype)()))
    return pa.table({"key": pa.array(keys, pa.uint64()), "id": pa.array(ids, pa.string()),
                     "tokens": tokens, "n_tokens": pa.array(lengths.astype(np.int32))},
                    schema=part_schema(dtype))


class TokenizeStage(Stage):
    """Encode the deduplicated documents into train/val token shards."""

    name = "tokenize"
    folder = "shards"
    upstream = "dedup"
    schema = SCHEMA
    owns = (f"{PARTS_DIR}/*/part-*{SCRATCH_SUFFIX}", f"{PARTS_DIR}/*/part-*.parquet",  # .parquet: before 2026-12
            "train/part-*.parquet", "val/part-*.parquet")
    holds_documents = False  # token shards, train/ and val/

    def __init__(self, config: dict):
        super().__init__(config)
        SCHEMA.check(self.params, "stages.tokenize")
        self.opts = {**DEFAULTS, **self.params}
        path = self.opts["tokenizer"] or cfg.stage_dir(config, "tokenizer") / MODEL_FILE
        self.tokenizer_path = Path(path)

    # --- what the tokenizer is -------------------------------------------------------
    def _tokenizer_info(self) -> dict:
        if not self.tokenizer_path.exists():
            raise StageError(f"tokenize: no tokenizer at {self.tokenizer_path}; run `corpus tokenizer` first")
        specials_file = self.tokenizer_path.parent / SPECIALS_FILE
        if not specials_file.exists():
            raise StageError(f"tokenize: {specials_file} is missing (written by `corpus tokenizer`)")
        sp = load_sentencepiece(str(self.tokenizer_path))
        return {"path": os.path.relpath(self.tokenizer_path.resolve(), self.dir.resolve()),
                "sha256": file_sha256(self.tokenizer_path), "vocab_size": sp.vocab_size(),
                "special_tokens": load_special_tokens(specials_file.parent)}

    def fingerprint_source(self):
        src = super().fingerprint_source()
        src["tokenizer_sha256"] = (file_sha256(self.tokenizer_path)
                                   if self.tokenizer_path.exists() else None)
        return src

    def tasks(self) -> list[Task]:
        d = self.input_dir()
        parts = document_parts(d)
        if not parts:
            raise StageError(f"tokenize: no document parts in {d}; run the upstream stage first")
        return [Task(f"part-{i:05d}", {"path": str(p)}) for i, p in enumerate(parts)]

    def prepare(self, run: RunContext) -> None:
        self.info = self._tokenizer_info()
        self.dtype = dtype_for(self.info["vocab_size"])

    # --- map: one input part -> sorted train and val parts ---------------------------
    def process(self, task: Task, out: TaskOutput) -> dict:
        import pyarrow.compute as pc  # heavy: ~45 ms; every command imports this module for the settings check

        cpu0 = time.process_time()
        o = self.opts
        sp = load_sentencepiece(str(self.tokenizer_path))
        bos = self.info["special_tokens"]["bos"]
        tables: dict[str, list[pa.Table]] = {s: [] for s in SPLITS}
        n = chars = nbytes = 0
        for batch in iter_batches(task.payload["path"], columns=["id", "text"],
                                  batch_size=int(o["batch_size"])):
            ids = batch.column("id").to_pylist()
            text = pc.fill_null(batch.column("text"), "")
            texts = text.to_pylist()
            encoded = encode_documents(sp, texts, int(o["encode_threads"]))
            table = token_table(doc_keys(ids, f"shuffle-{o['seed']}"), ids, encoded, bos, self.dtype)
            val = pa.array(split_is_val(ids, int(o["seed"]), float(o["val_fraction"])))
            tables["val"].append(table.filter(val))
            tables["train"].append(table.filter(pc.invert(val)))
            n += len(ids)
            chars += int(pc.sum(pc.utf8_length(text)).as_py() or 0)
            nbytes += int(pc.sum(pc.binary_length(text)).as_py() or 0)
        extra = {"chars": chars, "bytes": nbytes}
        for split in SPLITS:
            t = (pa.concat_tables(tables[split]) if tables[split]
                 else part_schema(self.dtype).empty_table())
            t = t.sort_by([("key", "ascending"), ("id", "ascending")])
            out.writer(part_schema(self.dtype), f"{PARTS_DIR}/{split}", scratch=True).write_table(t)
            extra[f"{split}_documents"] = t.num_rows
            extra[f"{split}_tokens"] = int(pc.sum(t.column("n_tokens")).as_py() or 0)
        extra["tokens"] = extra["train_tokens"] + extra["val_tokens"]
        extra["cpu_seconds"] = round(time.process_time() - cpu0, 3)
        return {"in": n, "kept": n, "extra": extra}

    # --- reduce: global order by key, cut into shards --------------------------------
    def finish(self, run: RunContext, results: list[dict]) -> dict:
        """Write the shards, record them, then remove the intermediate parts.

        Resumable from a kill at any point: until the record exists the parts are intact
        and the shards are (re)written from them; once it exists the shards are final and
        a re-run only finishes removing the parts. The runner's done markers are kept, so
        a re-run never redoes the encoding.
        """
        record_file = self.dir / DONE_DIR / FINISH_RECORD
        if record_file.exists():
            record = json.loads(record_file.read_text())
        else:
            record = self._write_shards(run, results)
            write_json_atomic(record_file, record)
        _kill_point("recorded")
        missing = [s["path"] for split in record["splits"].values() for s in split["shards"]
                   if not (self.dir / s["path"]).exists()]
        if missing:
            raise StageError(f"tokenize: shard {self.dir / missing[0]} is gone and so are the parts "
                             f"it was cut from; re-run with --force")
        for split in SPLITS:
            shutil.rmtree(self.dir / PARTS_DIR / split, ignore_errors=True)
            _kill_point(f"{split}-parts-removed")
        shutil.rmtree(self.dir / PARTS_DIR, ignore_errors=True)
        splits, outputs = record["splits"], record["outputs"]
        if splits["val"]["documents"] == 0 and splits["train"]["documents"] > 1:
            log.warning("tokenize: the val split is empty; raise stages.tokenize.val_fraction")
        nbytes = sum(r["extra"]["bytes"] for r in results)
        tokens = splits["train"]["tokens"] + splits["val"]["tokens"]
        docs = splits["train"]["documents"] + splits["val"]["documents"]
        summary = (f"{docs:,} docs -> {tokens:,} tokens ({self.dtype}); train "
                   f"{splits['train']['documents']:,} docs / {splits['train']['tokens']:,} tokens in "
                   f"{len(splits['train']['shards'])} shard(s), val {splits['val']['documents']:,} docs / "
                   f"{splits['val']['tokens']:,} tokens; {nbytes / max(1, tokens - docs):.2f} bytes/token")
        return {"outputs": outputs, "tokenizer": self.info, "dtype": self.dtype, "splits": splits,
                "text": {"chars": sum(r["extra"]["chars"] for r in results), "bytes": nbytes},
                "timing": {"encode_task_seconds": round(sum(r.get("seconds", 0) for r in results), 3),
                           "encode_cpu_seconds": round(sum(r["extra"].get("cpu_seconds", 0) for r in results), 3),
                           "repack_seconds": record["repack_seconds"],
                           "repack_cpu_seconds": record["repack_cpu_seconds"]},
                "summary": summary}

    def _write_shards(self, run: RunContext, results: list[dict]) -> dict:
        """Cut every split's parts into shards; returns what the manifest says of them.
        Both splits' shards go to the workers as one batch of jobs, so a val shard fills the
        round a train shard leaves idle (3 train + 1 val shards: 2 rounds on 2 workers, not 3)."""
        t0 = time.monotonic()
        target = max(1, int(self.opts["shard_tokens"]))
        jobs: dict[str, list[tuple]] = {}
        c0 = time.process_time()
        for split in SPLITS:
            parts = [self.dir / PARTS_DIR / split / f"{r['task']}{SCRATCH_SUFFIX}" for r in results]
            missing = [str(p) for p in parts if not p.exists()]
            if missing:
                raise StageError(f"tokenize: intermediate parts are gone ({missing[0]} ...); "
                                 f"re-run with --force")
            jobs[split] = [(str(self.dir / split / f"part-{i:05d}.parquet"), slices, self.dtype)
                           for i, slices in enumerate(plan_shards(parts, target))]
        plan_cpu = time.process_time() - c0
        every = [job for split in SPLITS for job in jobs[split]]
        written = iter(run.map(write_shard, every, label="tokenize shards", unit="shards"))
        splits, outputs, shard_cpu = {}, {}, 0.0
        for split in SPLITS:
            keep = {Path(j[0]).name for j in jobs[split]}
            for old in list_parts(self.dir / split):
                if old.name not in keep:
                    old.unlink()
            shards = []
            for job in jobs[split]:
                docs, tokens, cpu = next(written)
                shards.append({"path": f"{split}/{Path(job[0]).name}", "documents": docs, "tokens": tokens})
                shard_cpu += cpu
            splits[split] = {"documents": sum(s["documents"] for s in shards),
                             "tokens": sum(s["tokens"] for s in shards), "shards": shards}
            outputs[split] = [{"part": Path(s["path"]).name, "rows": s["documents"]} for s in shards]
            _kill_point(f"{split}-shards")
        return {"splits": splits, "outputs": outputs,
                "repack_seconds": round(time.monotonic() - t0, 3),
                "repack_cpu_seconds": round(plan_cpu + shard_cpu, 3)}


def plan_shards(parts: list[Path], target_tokens: int) -> list[list[tuple[str, int, int]]]:
    """Cut the key-ordered rows of all parts into shards of ~``target_tokens`` tokens.

    Returns, per shard, the (part, start row, stop row) slices it takes.
    """
    keys, ntok, part_ix, row_ix = [], [], [], []
    for i, p in enumerate(parts):
        t = read_scratch(p, columns=["key", "n_tokens"])
        keys.append(t.column("key").to_numpy())
        ntok.append(t.column("n_tokens").to_numpy().astype(np.int64))
        part_ix.append(np.full(t.num_rows, i, dtype=np.int32))
        row_ix.append(np.arange(t.num_rows, dtype=np.int64))
    if not keys or sum(len(k) for k in keys) == 0:
        return []
    keys, ntok = np.concatenate(keys), np.concatenate(ntok)
    part_ix, row_ix = np.concatenate(part_ix), np.concatenate(row_ix)
    order = np.lexsort((row_ix, part_ix, keys))  # by key; ties keep part and row order
    cum = np.cumsum(ntok[order])
    # shard s ends after the first row where the running total reaches (s + 1) * target
    bounds, start = [], 0
    while start < len(order):
        base = cum[start - 1] if start else 0
        stop = int(np.searchsorted(cum, base + target_tokens, side="left")) + 1
        stop = min(stop, len(order))
        bounds.append((start, stop))
        start = stop
    plans = []
    for start, stop in bounds:
        rows = order[start:stop]
        slices = []
        for i in np.unique(part_ix[rows]):
            r = row_ix[rows][part_ix[rows] == i]
            slices.append((str(parts[i]), int(r.min()), int(r.max()) + 1))
        plans.append(slices)
    return plans


def read_rows(path: str, start: int, stop: int) -> pa.Table:
    """Rows [start, stop) of a scratch part, memory-mapped: only those rows are read."""
    return read_scratch(path).slice(start, stop - start)


def write_shard(path: str, slices: list[tuple[str, int, int]], dtype: str) -> tuple[int, int, float]:
    """Gather a shard's slices, order them by key, write it atomically;
    returns (documents, tokens, CPU seconds)."""
    import pyarrow.compute as pc  # heavy: ~45 ms; every command imports this module for the settings check

    cpu0 = time.process_time()
    table = pa.concat_tables([read_rows(*s) for s in slices])
    table = table.sort_by([("key", "ascending"), ("id", "ascending")])
    schema = shard_schema(dtype)
    with PartWriter(path, schema, row_group_size=1000) as w:
        w.write_table(table.select(schema.names))
    return table.num_rows, int(pc.sum(table.column("n_tokens")).as_py() or 0), time.process_time() - cpu0
