"""Readers for a corpus that is already text: JSONL, Parquet or an HF ``datasets`` dataset.

Someone else's extracted text (datatrove's ``{"text", "id", "metadata"}`` JSONL.gz, a Parquet
dump, a dataset saved with ``save_to_disk``) enters the pipeline after extract: the ``read``
step below turns each input row into a document of the stage contract and writes it to
``<output>/read/``, and the entry stage (filter, dedup, tokenizer or tokenize) reads that
folder instead of its upstream's. Provenance is kept as for WARCs: ``source`` is the file,
``row`` the row's index in it (``offset``/``length`` stay null: there is no record to
re-read); ``id`` is the input's id column, or a hash of source and row, so it is stable.
A row without usable text is counted as an error with its file and row: the books balance.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from typing import Any, Iterator

from contract.settings import ConfigError, Key, Section, is_str_list, one_of, string

from .inputs import InputError, describe_error, expand_local, is_remote, safe_name

FORMATS = ("warc", "jsonl", "parquet", "hf")
#: What a directory given as input contributes, per format.
SUFFIXES = {"jsonl": (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.bz2", ".jsonl.xz", ".json", ".json.gz"),
            "parquet": (".parquet",)}
#: Faults listed per input file (the counts are always exact).
MAX_FAULTS = 20

#: The top-level ``reader:`` section: which input column holds what.
READER = Section({
    "text": string("text"),
    "id": string("id", null=True),        # null: a hash of source and row
    "url": string("url", null=True),
    "date": string(None, null=True),
    "metadata": Key([], "a list of column names", lambda v: v is None or v == [] or is_str_list(v)),
    "split": string("train"),              # hf: the split of a DatasetDict or of load_dataset
    "rows_per_part": Key(100_000, "an integer >= 1",
                         lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1),
})
INPUT_FORMAT = one_of("warc", FORMATS)
#: Keys every stage after extract accepts: documents from outside enter there.
ENTRY_KEYS = {
    "input": Key(None, "a path, glob or URL, or a list of them",
                 lambda v: v is None or (isinstance(v, str) and v != "") or is_str_list(v), False),
    "input_format": one_of(None, FORMATS[1:], null=True, in_defaults=False),
}


# --- where the inputs are ------------------------------------------------------------------

def resolve(patterns: list[str], fmt: str) -> list[str]:
    """Files (or, for ``hf``, dataset folders or names) the patterns name, in order; a pattern
    that names nothing is an :class:`InputError` (exit 3), as for crawls."""
    if not patterns:
        raise InputError("no inputs given (set `inputs:` in the pipeline or pass --input)")
    out: list[str] = []
    for pattern in map(str, patterns):
        if fmt == "hf":
            out.append(os.path.abspath(pattern) if os.path.exists(pattern) else pattern)
        elif is_remote(pattern):
            out.extend(_remote(pattern))
        else:
            out.extend(_local(pattern, fmt))
    seen: set[str] = set()
    return [s for s in out if not (s in seen or seen.add(s))]


def _local(pattern: str, fmt: str) -> list[str]:
    return expand_local(pattern, SUFFIXES[fmt], f"{fmt} file", recursive=True)


def _remote(pattern: str) -> list[str]:
    if not any(c in pattern for c in "*?["):
        return [pattern]
    import fsspec  # heavy: only for remote inputs

    try:
        fs, _, found = fsspec.get_fs_token_paths(pattern)
    except Exception as err:
        raise InputError(f"input {pattern}: cannot list: {describe_error(err)}") from err
    if not found:
        raise InputError(f"input {pattern}: no file matches this pattern")
    proto = pattern.split("://", 1)[0]
    return sorted(f"{proto}://{p}" for p in found)


def open_file(source: str):
    """A binary stream, decompressed by suffix (.gz, .zst, ...), local or fsspec."""
    import fsspec  # heavy: only when documents are read (it handles local, remote and compressed files alike)

    return fsspec.open(source, "rb", compression="infer").open()


# --- reading rows --------------------------------------------------------------------------

class BadRow(Exception):
    """A row that cannot be a document; ``reason`` is its error code."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def jsonl_rows(source: str) -> Iterator[tuple[int, Any]]:
    """``(line index, parsed JSON or BadRow)`` of a JSON-lines file; blank lines are skipped."""
    with open_file(source) as fh:
        for i, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                yield i, json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                yield i, BadRow("bad_json", f"not JSON: {err}")


def parquet_rows(source: str, columns: list[str]) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq  # heavy: the settings import this module on every command

    with open_file(source) as fh:
        pf = pq.ParquetFile(fh)
        have = [c for c in columns if c in pf.schema_arrow.names]
        i = 0
        for batch in pf.iter_batches(batch_size=2048, columns=have):
            for row in batch.to_pylist():
                yield i, row
                i += 1


def hf_dataset(source: str, split: str):
    """A dataset saved with ``save_to_disk`` (a Dataset or a DatasetDict: ``split``), else
    ``load_dataset(source, split=split)`` (offline: from the HF cache)."""
    try:
        import datasets  # optional: the hf extra
    except ImportError:
        raise InputError("input_format hf needs HF datasets: pip install 'crawl2tokens[hf]'") from None

    if os.path.isdir(source) and any(os.path.exists(os.path.join(source, f))
                                     for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
        ds = datasets.load_from_disk(source)
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise InputError(f"input {source}: no split {split!r} (has {', '.join(ds)}; set reader.split)")
            ds = ds[split]
        return ds
    try:
        return datasets.load_dataset(source, split=split)
    except Exception as err:
        raise InputError(f"input {source}: cannot load as an HF dataset: {type(err).__name__}: {err}") from err


def hf_rows(source: str, split: str, columns: list[str], start: int, stop: int) -> Iterator[tuple[int, Any]]:
    ds = hf_dataset(source, split)
    ds = ds.select_columns([c for c in columns if c in ds.column_names])
    for lo in range(start, stop, 2048):
        for j, row in enumerate(ds.select(range(lo, min(lo + 2048, stop))).to_list()):
            yield lo + j, row


# --- rows to documents ---------------------------------------------------------------------

def _date(value: Any) -> dt.datetime | None:
    """A timestamp, or ISO-8601 text; anything else is no date (not an error)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, str):
        try:
            return _date(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def to_document(row: Any, source: str, index: int, cols: dict) -> dict:
    """One input row as a document of the stage contract, or :class:`BadRow`."""
    from ..core.parts import url_domain  # cycle: core imports the settings, which import this module

    if isinstance(row, BadRow):
        raise row
    if not isinstance(row, dict):
        raise BadRow("bad_row", f"not an object but {type(row).__name__}")
    text = row.get(cols["text"])
    if text is None:
        raise BadRow("no_text", f"no {cols['text']!r} value")
    if not isinstance(text, str):
        raise BadRow("bad_text", f"{cols['text']!r} is {type(text).__name__}, not text")
    if not text.strip():
        raise BadRow("no_text", f"{cols['text']!r} is empty")
    if cols["id"]:
        doc_id = row.get(cols["id"])
        if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool) or doc_id == "":
            raise BadRow("bad_id", f"{cols['id']!r} is {doc_id!r}, not a string or integer")
        doc_id = str(doc_id)
    else:
        doc_id = hashlib.sha1(f"{source}\n{index}".encode("utf-8", "surrogateescape")).hexdigest()
    url = row.get(cols["url"]) if cols["url"] else None
    url = url if isinstance(url, str) else ""
    doc = {"id": doc_id, "url": url, "domain": url_domain(url),
           "date": _date(row.get(cols["date"])) if cols["date"] else None,
           "source": source, "offset": None, "length": None, "text": text, "row": index}
    for name in cols["metadata"]:
        value = row.get(name)
        doc[name] = None if value is None else json.dumps(value, ensure_ascii=False, default=str)
    return doc


# --- where documents enter -----------------------------------------------------------------

def read_stage(config: dict):
    """The ``read`` step for ``config`` (its ``inputs``, ``input_format`` and ``reader``)."""
    from .read_stage import ReadStage  # cycle: the runner imports the settings, which import this module

    return ReadStage(config)


def entry_point(config: dict, command: str, names: list[str]) -> tuple[str, list[str]] | None:
    """``(entry stage, inputs)`` when documents from outside enter the pipeline, else None.

    A stage's own ``input:`` (with its ``input_format``, else the pipeline's) makes it the
    entry of ``corpus run`` and of its own command; otherwise ``input_format`` other than
    warc makes the command's stage (``corpus run``: the first after extract) the entry and
    the pipeline's ``inputs`` its input. Sets ``config["input_format"]`` to the one in use
    and removes the stage's ``input`` keys (the stages themselves never see them)."""
    given = {n: p for n, p in (config.get("stages") or {}).items()
             if isinstance(p, dict) and p.get("input")}
    for params in (config.get("stages") or {}).values():
        if isinstance(params, dict) and not params.get("input"):
            params.pop("input", None)
            params.pop("input_format", None)
    if len(given) > 1:
        raise ConfigError(f"stages.{sorted(given)[1]}.input: only one stage can take documents from "
                          f"outside (stages.{sorted(given)[0]}.input is set too)")
    first = names[1] if len(names) > 1 else names[0]  # the first stage after extract
    if given:
        (stage, params), = given.items()
        inputs = params.pop("input")
        fmt = params.pop("input_format", None) or config.get("input_format", "warc")
        if fmt == "warc":
            raise ConfigError(f"stages.{stage}.input: documents entering at {stage} need "
                              f"input_format jsonl, parquet or hf")
        if command not in ("run", stage):
            return None
        config["input_format"] = fmt
        return stage, [inputs] if isinstance(inputs, str) else list(inputs)
    if config.get("input_format", "warc") == "warc":
        return None
    stage = first if command == "run" else command
    if stage == names[0]:
        raise ConfigError(f"input_format: {config['input_format']} inputs are documents already; they "
                          f"enter after {names[0]} (e.g. `corpus {first} PIPELINE --input ...`)")
    return stage, list(config.get("inputs") or [])
