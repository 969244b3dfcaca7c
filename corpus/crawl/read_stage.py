"""The ``read`` step: documents from outside (JSONL, Parquet, HF datasets) written as a stage
folder of the document contract, which the entry stage then reads (see :mod:`.readers`)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from contract.settings import ConfigError

from ..core import runner
from ..core.parts import BASE_FIELDS
from .inputs import InputError, describe_error
from .readers import (MAX_FAULTS, BadRow, hf_dataset, hf_rows, jsonl_rows, open_file, parquet_rows,
                      resolve, to_document)


class ReadStage(runner.Stage):
    name = "read"
    folder = "read"
    upstream = None
    unit = "rows"

    def __init__(self, config: dict):
        self.config = config
        self.params = {"input_format": config["input_format"], "reader": dict(config["reader"])}
        self.dir = Path(config["output"]) / self.folder
        self.cols = self.params["reader"]
        self._sources: list[str] | None = None

    def sources(self) -> list[str]:
        if self._sources is None:
            self._sources = resolve(list(self.config.get("inputs") or []), self.params["input_format"])
        return self._sources

    def inputs(self) -> list[str]:
        return self.sources()

    def fingerprint_source(self):
        stamp = []
        for src in self.sources():
            st = os.stat(src) if os.path.isfile(src) else None
            stamp.append([src, st.st_size, st.st_mtime_ns] if st else [src])
        return {"stage": self.name, "params": self.params, "inputs": stamp}

    def doc_schema(self) -> pa.Schema:
        return pa.schema(BASE_FIELDS + [pa.field("row", pa.int64())]
                         + [pa.field(m, pa.string()) for m in self.cols["metadata"]])

    def check(self) -> None:
        """Before anything runs: the inputs exist (InputError) and, for Parquet and HF,
        hold the columns ``reader:`` names (ConfigError naming the key)."""
        fmt = self.params["input_format"]
        clash = [m for m in self.cols["metadata"] if m in [f.name for f in BASE_FIELDS] + ["row"]]
        if clash:
            raise ConfigError(f"reader.metadata: {clash[0]!r} is a column the pipeline writes itself")
        for src in self.sources():
            if fmt == "jsonl":
                continue
            if fmt == "parquet":
                try:
                    with open_file(src) as fh:
                        names = pq.ParquetFile(fh).schema_arrow.names
                except Exception as err:
                    raise InputError(f"input {src}: not a readable Parquet file: {describe_error(err)}") from err
            else:
                names = hf_dataset(src, self.cols["split"]).column_names
            for key in ("text", "id"):
                if self.cols[key] and self.cols[key] not in names:
                    raise ConfigError(f"reader.{key}: no column {self.cols[key]!r} in {src} "
                                      f"(columns: {', '.join(names)})")

    def tasks(self) -> list[runner.Task]:
        out = []
        for src in self.sources():
            if self.params["input_format"] == "hf":
                n = len(hf_dataset(src, self.cols["split"]))
                step = self.cols["rows_per_part"]
                out += [(src, lo, min(lo + step, n)) for lo in range(0, max(n, 1), step)]
            else:
                out.append((src, 0, None))
        return [runner.Task(f"part-{i:05d}", {"source": s, "start": a, "stop": b})
                for i, (s, a, b) in enumerate(out)]

    def rows(self, source: str, start: int, stop: int | None) -> Iterator[tuple[int, Any]]:
        c = self.cols
        wanted = [x for x in (c["text"], c["id"], c["url"], c["date"], *c["metadata"]) if x]
        fmt = self.params["input_format"]
        if fmt == "jsonl":
            return jsonl_rows(source)
        if fmt == "parquet":
            return parquet_rows(source, wanted)
        return hf_rows(source, c["split"], wanted, start, stop)

    def process(self, task, out) -> dict:
        src = task.payload["source"]
        writer = out.writer(self.doc_schema())
        counts = {"in": 0, "kept": 0, "rejected": {}, "errors": {}, "faults": []}
        index = task.payload["start"]

        def fault(reason: str, message: str, row: int | None) -> None:
            counts["errors"][reason] = counts["errors"].get(reason, 0) + 1
            if len(counts["faults"]) < MAX_FAULTS:
                counts["faults"].append({"stage": self.name, "file": src, "row": row,
                                         "reason": reason, "message": f"{src} row {row}: {message}"})

        try:
            for index, row in self.rows(src, task.payload["start"], task.payload["stop"]):
                counts["in"] += 1
                try:
                    writer.write(to_document(row, src, index, self.cols))
                    counts["kept"] += 1
                except BadRow as bad:
                    fault(bad.reason, str(bad), index)
        except InputError:
            raise
        except Exception as err:  # a truncated or corrupt file: what was read stays, the rest is a fault
            counts["faults"].append({"stage": self.name, "file": src, "row": index,
                                     "reason": "read_error",
                                     "message": f"{src}: cannot read past row {index}: {describe_error(err)}"})
        return counts
