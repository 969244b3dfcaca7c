"""``corpus index``: a full-text search index (SQLite FTS5, BM25) over the deduplicated documents.

One task per input part appends that part's documents to ``index/search.sqlite`` in one
transaction, together with a row in its ``parts`` table (:mod:`contract.search`); workers
take turns at the write lock. A task is named after its part's content, so:

- a run killed mid-way resumes: a part's transaction either committed (the part is in the
  index, and a task redone after a kill finds it there) or left no trace;
- a rerun after new parts arrive (the upstream stage ran again) indexes only parts it has
  not indexed yet: the new build starts from a copy of the complete index (not on
  ``--force``), ``finish`` removes the documents of parts that are gone, and the old output
  stays in place until the new one is complete (the runner's staging).

Documents with no text are rejected (``_rejected/``, reason ``empty_text``), so the books
balance like every stage's. Search it with ``corpus search OUT "query"``.
"""
from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq

from contract import search
from contract.atomic import atomic_path
from contract.layout import REJECTED
from ...core import config as cfg
from ...core import fs
from ...core.manifest import read_manifest
from ...core.parts import document_parts, iter_batches, rejected_schema
from ...core.runner import RunContext, Stage, StageError, Task, TaskOutput
from ...core.settings import INPUT_STAGE, Section, integer

log = logging.getLogger("corpus")

#: ``stages.index``: what is too short to index, and how many documents are read at once.
SCHEMA = Section({
    "min_chars": integer(1, 1),     # documents with fewer non-space characters are rejected
    "batch_size": integer(512, 1),  # documents read (and inserted) per batch
    "input_stage": INPUT_STAGE,
})
DEFAULTS = SCHEMA.defaults()

OPTIONAL_COLUMNS = ("title", "language")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with fs.open_input(path) as fh:  # a URL output's part: streamed, not mirrored
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class IndexStage(Stage):
    """Index the deduplicated documents for BM25 search."""

    name = "index"
    upstream = "dedup"
    schema = SCHEMA
    owns = (search.INDEX_FILE, f"{search.INDEX_FILE}-journal")
    holds_documents = False  # its output is an index file; only rejects are documents
    single_writer = True     # one SQLite file: with a URL output the driver indexes part after part

    def __init__(self, config: dict):
        super().__init__(config)
        SCHEMA.check(self.params, "stages.index")
        self.opts = {**DEFAULTS, **self.params}
        self.final_dir = self.dir  # the runner points self.dir at a staging folder while it builds
        self._parts: list[tuple[str, Path]] | None = None

    # --- which parts: named by content, so a changed part is a new task ----------------
    def _named_parts(self) -> list[tuple[str, Path]]:
        if self._parts is None:
            d = self.input_dir()
            parts = document_parts(d)
            if not parts:
                raise StageError(f"index: no document parts in {d}; run the upstream stage first")
            named = []
            for p in parts:
                rel = p.relative_to(d).as_posix()
                digest = hashlib.sha256(f"{rel}\0{_sha256(p)}".encode()).hexdigest()[:16]
                named.append((f"part-{digest}", p))
            self._parts = named
        return self._parts

    def tasks(self) -> list[Task]:
        return [Task(name, {"path": str(p)}) for name, p in self._named_parts()]

    def fingerprint_source(self):
        return {"stage": self.name, "params": self.params, "analyzer": search.ANALYZER,
                "inputs": self.inputs(), "parts": [name for name, _ in self._named_parts()]}

    # --- prepare: start a new build from the complete index beside it ------------------
    def prepare(self, run: RunContext) -> None:
        """When building in staging because parts changed, copy the complete index in, so
        the parts it already holds are not indexed again (not on ``--force``: the complete
        output then has this very fingerprint, and the user asked for a fresh build)."""
        target = self.dir / search.INDEX_FILE
        previous = self.final_dir / search.INDEX_FILE
        if self.dir == self.final_dir or target.exists() or not previous.is_file():
            return
        done = read_manifest(self.final_dir)
        if done is None or done.get("fingerprint") == cfg.fingerprint(self.fingerprint_source()):
            return
        src = sqlite3.connect(f"file:{previous}?mode=ro", uri=True)  # the old output stays as it is
        try:
            if search.index_analyzer(src) != search.ANALYZER:
                return
            n_parts = len(search.indexed_parts(src))
            with atomic_path(target) as tmp:
                dst = sqlite3.connect(str(tmp))
                src.backup(dst)  # a consistent copy, even of a file another reader has open
                dst.close()
        finally:
            src.close()
        log.info("index: starting from the complete index in %s (%d parts)", self.final_dir, n_parts)

    # --- map: one part, one transaction --------------------------------------------------
    def process(self, task: Task, out: TaskOutput) -> dict:
        path = Path(task.payload["path"])
        con = search.create_index(self.dir / search.INDEX_FILE)
        try:
            con.execute("BEGIN IMMEDIATE")  # the write lock first: workers take turns
            done = search.indexed_parts(con).get(task.id)
            counts = self._index_part(con, task, path, out, insert=done is None)
            if done is None:
                search.record_part(con, task.id, counts["kept"],
                                   {"path": str(path), "in": counts["in"], "kept": counts["kept"],
                                    "rejected": counts["rejected"]})
            con.commit()
        except BaseException:
            con.rollback()
            raise
        finally:
            con.close()
        return {**counts, "extra": {"reused": done is not None}}

    def _index_part(self, con, task: Task, path: Path, out: TaskOutput, insert: bool) -> dict:
        """Stream the part: documents with text go into the index (when ``insert``), the rest
        to ``_rejected/`` (also when the part is already indexed, so the output is whole)."""
        names = set(pq.ParquetFile(path).schema_arrow.names)
        columns = ["id", "url", "text"] + [c for c in OPTIONAL_COLUMNS if c in names]
        n_in = kept = 0
        rejected: dict[str, int] = {}
        rej_writer = None
        for batch in iter_batches(path, columns=columns, batch_size=int(self.opts["batch_size"])):
            rows = batch.to_pylist()
            n_in += len(rows)
            good = []
            for r in rows:
                text = r.get("text") or ""
                n_chars = len("".join(text.split()))
                if n_chars >= int(self.opts["min_chars"]):
                    good.append({"id": r["id"], "url": r.get("url"), "title": r.get("title"),
                                 "text": text, "lang": r.get("language")})
                    continue
                reason = "empty_text" if n_chars == 0 else "too_short"
                rejected[reason] = rejected.get(reason, 0) + 1
                if rej_writer is None:
                    rej_writer = out.writer(rejected_schema(batch.schema), REJECTED)
                rej_writer.write({**r, "reason": reason, "reason_value": float(n_chars),
                                  "reason_detail": None})
            if insert:
                search.add_documents(con, good, part=task.id, commit=False)
            kept += len(good)
        return {"in": n_in, "kept": kept, "rejected": rejected, "errors": {}}

    # --- finish: drop parts that are gone, report ----------------------------------------
    def finish(self, run: RunContext, results: list[dict]) -> dict:
        path = self.dir / search.INDEX_FILE
        current = {name for name, _ in self._named_parts()}
        con = search.create_index(path)
        try:
            con.execute("BEGIN IMMEDIATE")
            gone = [p for p in search.indexed_parts(con) if p not in current]
            removed = sum(search.remove_part(con, p) for p in gone)
            con.commit()
            if gone:
                con.execute("INSERT INTO fts(fts) VALUES ('optimize')")
                con.commit()
            n_docs = con.execute("SELECT count(*) FROM docs").fetchone()[0]
        finally:
            con.close()
        reused = sum(1 for r in results if (r.get("extra") or {}).get("reused"))
        size = os.path.getsize(path)
        return {"index": {"file": search.INDEX_FILE, "documents": n_docs, "bytes": size,
                          "analyzer": search.ANALYZER, "parts_indexed": len(results) - reused,
                          "parts_reused": reused, "parts_removed": len(gone),
                          "documents_removed": removed},
                "summary": (f"{n_docs:,} documents in {search.INDEX_FILE} ({size / 1e6:.1f} MB); "
                            f"{len(results) - reused} part(s) indexed, {reused} reused from the "
                            f"previous index, {len(gone)} removed")}
