"""The document contract between corpus stages, and atomic Parquet part files.

Every stage keeps the base columns below and may add its own. Removed documents go
to ``rejected/`` with ``reason`` (a short stable code) and the value that tripped it.
A part file is written under a temporary name and renamed only once complete, so a
crash never leaves half a file behind.
"""
from __future__ import annotations

import hashlib
import os
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from contract.atomic import tmp_name

from . import fs

BASE_FIELDS = [
    pa.field("id", pa.string()),
    pa.field("url", pa.string()),
    pa.field("domain", pa.string()),
    pa.field("date", pa.timestamp("us", tz="UTC")),
    pa.field("source", pa.string()),
    pa.field("offset", pa.int64()),
    pa.field("length", pa.int64()),
    pa.field("text", pa.string()),
]
BASE_SCHEMA = pa.schema(BASE_FIELDS)
BASE_COLUMNS = [f.name for f in BASE_FIELDS]

#: Extra columns on every rejected row: why it was removed and what tripped it.
REJECT_FIELDS = [
    pa.field("reason", pa.string()),
    pa.field("reason_value", pa.float64()),
    pa.field("reason_detail", pa.string()),
]

PARQUET_OPTIONS = dict(compression="zstd", compression_level=3, use_dictionary=True,
                       write_statistics=True)
#: An intermediate part read once by the same stage and then removed (``scratch=True``) is an
#: Arrow IPC file, not Parquet: written as Arrow holds it and read back memory-mapped, without
#: encoding, compression or the list levels Parquet spells out for every value (for token
#: lists ~10x less CPU on each side, and half the bytes of uncompressed Parquet).
SCRATCH_SUFFIX = ".arrow"


def rejected_schema(schema: pa.Schema) -> pa.Schema:
    """The schema of a rejected part: the kept schema plus the reason columns."""
    out = schema
    for f in REJECT_FIELDS:
        if out.get_field_index(f.name) < 0:
            out = out.append(f)
    return out


class PartWriter:
    """Write rows to one Parquet part, atomically: ``close()`` renames into place.

    Rows are buffered and flushed as row groups of ``row_group_size`` rows, so
    memory stays bounded however large the part. An empty part is still written
    (with its schema), so every task leaves a file a reader can open.
    """

    def __init__(self, path: str | os.PathLike, schema: pa.Schema, row_group_size: int = 2000,
                 scratch: bool = False):
        self.path = Path(path)
        self.schema = schema
        self.row_group_size = row_group_size
        self.rows = 0
        self._buffer: list[dict] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = tmp_name(self.path)
        # scratch: an Arrow IPC file (SCRATCH_SUFFIX), on a sink of our own so that closing
        # closes the file (a writer given a path keeps it open until garbage collection)
        self._sink = pa.OSFile(str(self._tmp), "wb") if scratch else None
        self._writer = (pa.ipc.new_file(self._sink, schema) if scratch
                        else pq.ParquetWriter(self._tmp, schema, **PARQUET_OPTIONS))
        self._closed = False

    def write(self, row: dict) -> None:
        self._buffer.append(row)
        if len(self._buffer) >= self.row_group_size:
            self._flush()

    def write_many(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self.write(row)

    def write_table(self, table: pa.Table) -> None:
        self._flush()
        table = table.select(self.schema.names).cast(self.schema)
        self._write(table)
        self.rows += table.num_rows

    def _write(self, table: pa.Table) -> None:
        if self._sink is None:
            self._writer.write_table(table, row_group_size=self.row_group_size)
        else:  # IPC record batches of at most row_group_size rows
            self._writer.write_table(table, max_chunksize=self.row_group_size)

    def _flush(self) -> None:
        if not self._buffer:
            return
        table = pa.Table.from_pylist(self._buffer, schema=self.schema)
        self._write(table)
        self.rows += len(self._buffer)
        self._buffer = []

    def close(self) -> int:
        """Finish the file and move it into place; returns the number of rows."""
        if self._closed:
            return self.rows
        self._flush()
        self._close_writer()
        os.replace(self._tmp, self.path)
        self._closed = True
        return self.rows

    def abort(self) -> None:
        """Drop the temporary file (used when the task fails)."""
        if self._closed:
            return
        try:
            self._close_writer()
        finally:
            self._closed = True
            self._tmp.unlink(missing_ok=True)

    def _close_writer(self) -> None:
        try:
            self._writer.close()
        finally:
            if self._sink is not None:
                self._sink.close()

    def __enter__(self) -> "PartWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def read_scratch(path: str | os.PathLike, columns: list[str] | None = None) -> pa.Table:
    """A scratch part (``PartWriter(..., scratch=True)``), memory-mapped: nothing is copied
    until the caller uses it."""
    table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    return table.select(columns) if columns else table


def list_parts(directory: str | os.PathLike) -> list[Path]:
    """The complete part files of a dataset directory, in name order (for a URL output,
    also those only the URL holds: :func:`corpus.core.fs.held_elsewhere`)."""
    d = Path(directory)
    found = {p for p in d.glob("part-*.parquet") if p.is_file()} if d.is_dir() else set()
    found.update(p for p in fs.held_elsewhere(d) if p.parent == d and fnmatchcase(p.name, "part-*.parquet"))
    return sorted(found)


def document_parts(d: Path | None) -> list[Path]:
    """The document parts of a stage directory, also when partitioned into ``language=xx/``."""
    if d is None:
        return []
    parts = list_parts(d)
    subs = set(d.glob("language=*")) if d.is_dir() else set()
    subs.update(p.parent for p in fs.held_elsewhere(d)
                if p.parent.parent == d and fnmatchcase(p.parent.name, "language=*"))
    for sub in sorted(subs):
        parts += list_parts(sub)
    return parts


def read_table(directory: str | os.PathLike, columns: list[str] | None = None) -> pa.Table:
    """Read every part of a dataset directory into one table (for tests and small data)."""
    parts = list_parts(directory)
    if not parts:
        return pa.table({})
    tables = [pq.read_table(p, columns=columns) for p in parts]
    return pa.concat_tables(tables, promote_options="default")


def iter_batches(path: str | os.PathLike, columns: list[str] | None = None,
                 batch_size: int = 1024) -> Iterator[pa.RecordBatch]:
    """Stream one part file in record batches: memory stays bounded on big parts."""
    pf = pq.ParquetFile(path)
    yield from pf.iter_batches(batch_size=batch_size, columns=columns)


def doc_id_from_record_id(record_id: str) -> str:
    """A document's stable id: the UUID inside ``<urn:uuid:...>``, else a sha1 of the raw id.

    Stable across runs and machines, and reversible to the WARC record for UUIDs.
    """
    raw = (record_id or "").strip()
    inner = raw.strip("<>")
    if inner.lower().startswith("urn:uuid:"):
        return inner[9:].lower()
    return hashlib.sha1(raw.encode("utf-8", "surrogateescape")).hexdigest()


def url_domain(url: str) -> str:
    """Host of a URL, lower-cased, without a leading ``www.``."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host
