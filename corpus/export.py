"""Export a stage's output in the format another trainer or tool reads.

    corpus export OUT --format nanogpt|megatron|hf   token shards (default stage: tokenize)
    corpus export OUT --format jsonl|parquet         documents (default stage: dedup)

OUT is a pipeline output (``--stage`` picks the stage, by name) or a stage folder itself;
``--to DIR`` says where (default ``OUT/export/<format>``). Files already there are never
overwritten unless ``--force``: they may be someone else's.

- nanogpt: ``train.bin``/``val.bin``, every document's tokens (each starts with ``<|bos|>``,
  as in our shards) one after the other, uint16 when the vocabulary fits, else uint32; plus
  ``meta.json`` (vocab size, dtype, bos id).
- megatron: ``{train,val}_text_document.bin/.idx``, Megatron-core's indexed dataset
  (``megatron.core.datasets.indexed_dataset.IndexedDataset``, format of megatron-core 0.16:
  header ``MMIDIDX``, version 1), one sequence per document; uint16 below 65500 tokens, else int32.
- hf: an HF dataset folder (``load_from_disk``), splits ``train`` and ``validation`` with
  ``input_ids`` (the column ``transformers.Trainer`` keeps) and ``id``.
- jsonl: datatrove's layout, ``{"text", "id", "metadata": {...the other columns}}`` in
  ``part-NNNNN.jsonl.gz``, one per part; parquet: the data parts as they are.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import struct
import sys
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from contract.atomic import tmp_name
from contract.layout import MANIFEST
from contract.shards import ShardsError, read_manifest

from .core import registry
from .core.parts import document_parts

TOKEN_FORMATS = ("nanogpt", "megatron", "hf")
DOC_FORMATS = ("jsonl", "parquet")
SPLITS = {"train": "train", "val": "validation"}  # our split names -> HF's
EXIT_BAD_SETTINGS, EXIT_BAD_INPUT = 2, 3

#: Megatron-core's indexed dataset: index header, version, and its dtype codes.
MEGATRON_HEADER = b"MMIDIDX\x00\x00"
MEGATRON_DTYPES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}


class ExportError(RuntimeError):
    """An input that cannot be exported; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT):
        super().__init__(message)
        self.code = code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="a pipeline output folder, or one stage's folder")
    parser.add_argument("--format", required=True, choices=TOKEN_FORMATS + DOC_FORMATS)
    parser.add_argument("--stage", help="which stage's output (default: tokenize for token formats, "
                                        "dedup for documents)")
    parser.add_argument("--to", help="folder to write into (default OUT/export/FORMAT)")
    parser.add_argument("--force", action="store_true", help="overwrite files of an earlier export")


def stage_folder(out: Path, stage: str | None, fmt: str) -> Path:
    """The stage folder to export: OUT itself when it holds a manifest, else OUT/<stage folder>."""
    if not out.is_dir():
        raise ExportError(f"{out}: no such folder")
    if (out / MANIFEST).exists() and stage is None:
        return out
    stage = stage or ("tokenize" if fmt in TOKEN_FORMATS else "dedup")
    try:
        folder = out / registry.folder(stage)
    except KeyError:
        raise ExportError(f"--stage: unknown stage {stage!r}; known: {', '.join(registry.names())}",
                          EXIT_BAD_SETTINGS) from None
    if not (folder / MANIFEST).exists():
        raise ExportError(f"{folder}: no complete {stage} output (no {MANIFEST}); run `corpus {stage}` first")
    return folder


def _refuse_existing(paths: list[Path], force: bool) -> None:
    there = [p for p in paths if p.exists()]
    if there and not force:
        raise ExportError(f"{there[0]} exists; pass --force to overwrite an earlier export", EXIT_BAD_SETTINGS)


def _shard_paths(shards: Path) -> tuple[dict[str, list[Path]], dict]:
    try:
        m = read_manifest(shards)
    except ShardsError as err:
        raise ExportError(str(err)) from None
    if "splits" not in m.data:
        raise ExportError(f"{shards}: not token shards; --format nanogpt|megatron|hf export the tokenize "
                          f"stage (jsonl|parquet export documents)", EXIT_BAD_SETTINGS)
    return {s: m.shard_paths(s) for s in SPLITS if m.splits.get(s, {}).get("shards")}, m.data


def _token_arrays(paths: list[Path]):
    """Each document's tokens (numpy), in shard order, a row group at a time."""
    for p in paths:
        pf = pq.ParquetFile(p)
        for batch in pf.iter_batches(columns=["tokens"], batch_size=1024):
            col = batch.column(0)
            flat = col.flatten().to_numpy(zero_copy_only=False)
            offsets = col.offsets.to_numpy()
            for i in range(len(col)):
                yield flat[offsets[i] - offsets[0]:offsets[i + 1] - offsets[0]]


def _vocab(meta: dict) -> int:
    v = (meta.get("tokenizer") or {}).get("vocab_size")
    if not v:
        raise ExportError(f"the shards' {MANIFEST} has no tokenizer.vocab_size")
    return int(v)


def export_nanogpt(shards: Path, to: Path, force: bool) -> list[Path]:
    splits, meta = _shard_paths(shards)
    vocab = _vocab(meta)
    dtype = np.dtype(np.uint16 if vocab <= 1 << 16 else np.uint32)
    outs = [to / f"{s}.bin" for s in splits] + [to / "meta.json"]
    _refuse_existing(outs, force)
    to.mkdir(parents=True, exist_ok=True)
    for split, paths in splits.items():
        _write_atomic(to / f"{split}.bin", lambda fh, paths=paths: [
            fh.write(a.astype(dtype, copy=False).tobytes()) for a in _token_arrays(paths)])
    info = {"format": "nanogpt", "dtype": dtype.name, "vocab_size": vocab,
            "bos_id": ((meta.get("tokenizer") or {}).get("special_tokens") or {}).get("bos"),
            "tokenizer": str((shards / meta["tokenizer"]["path"]).resolve()) if meta["tokenizer"].get("path") else None}
    _write_atomic(to / "meta.json", lambda fh: fh.write(json.dumps(info, indent=2).encode()))
    return outs


def export_megatron(shards: Path, to: Path, force: bool) -> list[Path]:
    """Megatron-core's ``IndexedDataset`` pair, as its ``IndexedDatasetBuilder`` writes it."""
    splits, meta = _shard_paths(shards)
    dtype = np.dtype(np.uint16 if _vocab(meta) < 65500 else np.int32)
    outs = [to / f"{s}_text_document.{e}" for s in splits for e in ("bin", "idx")]
    _refuse_existing(outs, force)
    to.mkdir(parents=True, exist_ok=True)
    for split, paths in splits.items():
        lengths: list[int] = []

        def write_bin(fh, paths=paths, lengths=lengths):
            for a in _token_arrays(paths):
                fh.write(a.astype(dtype, copy=False).tobytes())
                lengths.append(len(a))

        _write_atomic(to / f"{split}_text_document.bin", write_bin)
        seq = np.asarray(lengths, dtype=np.int32)
        pointers = np.zeros(len(seq), dtype=np.int64)
        np.cumsum(seq[:-1].astype(np.int64) * dtype.itemsize, out=pointers[1:])
        docs = np.arange(len(seq) + 1, dtype=np.int64)  # one sequence per document

        def write_idx(fh, seq=seq, pointers=pointers, docs=docs):
            fh.write(MEGATRON_HEADER + struct.pack("<Q", 1) + struct.pack("<B", MEGATRON_DTYPES[dtype]))
            fh.write(struct.pack("<Q", len(seq)) + struct.pack("<Q", len(docs)))
            fh.write(seq.tobytes(order="C") + pointers.tobytes(order="C") + docs.tobytes(order="C"))

        _write_atomic(to / f"{split}_text_document.idx", write_idx)
    return outs


def export_hf(shards: Path, to: Path, force: bool) -> list[Path]:
    """An HF ``DatasetDict`` folder; built through a cache beside it (memory stays bounded)."""
    try:
        import datasets  # optional: the hf extra
    except ImportError:
        raise ExportError("--format hf needs HF datasets: pip install 'crawl2tokens[hf]'", EXIT_BAD_SETTINGS) from None

    splits, _ = _shard_paths(shards)
    _refuse_existing([to / "dataset_dict.json"], force)
    cache = to.with_name(f".{to.name}.cache")
    try:
        parts = {}
        for split, paths in splits.items():
            ds = datasets.Dataset.from_parquet([str(p) for p in paths], columns=["id", "tokens"],
                                               cache_dir=str(cache))
            ds = ds.rename_column("tokens", "input_ids")
            parts[SPLITS[split]] = ds.cast_column("input_ids", datasets.Sequence(datasets.Value("int32")))
        staging = to.with_name(f".{to.name}.new")
        shutil.rmtree(staging, ignore_errors=True)
        datasets.DatasetDict(parts).save_to_disk(str(staging))
        if to.exists():  # only an earlier export of ours gets here (--force)
            shutil.rmtree(to)
        os.replace(staging, to)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return [to]


def _json_value(v):
    return v.isoformat() if isinstance(v, (datetime, date)) else v


def export_documents(stage: Path, to: Path, fmt: str, force: bool) -> list[Path]:
    if (stage / MANIFEST).exists() and "splits" in json.loads((stage / MANIFEST).read_text()):
        raise ExportError(f"{stage}: token shards; export them with --format nanogpt|megatron|hf",
                          EXIT_BAD_SETTINGS)
    parts = document_parts(stage)
    names = [p.relative_to(stage).as_posix().replace("/", "-") for p in parts]
    outs = [to / (n if fmt == "parquet" else n.replace(".parquet", ".jsonl.gz")) for n in names]
    _refuse_existing(outs, force)
    to.mkdir(parents=True, exist_ok=True)
    for part, out in zip(parts, outs):
        if fmt == "parquet":
            _write_atomic(out, lambda fh, part=part: shutil.copyfileobj(open(part, "rb"), fh))
            continue

        def write_jsonl(fh, part=part):
            with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
                for batch in pq.ParquetFile(part).iter_batches(batch_size=1024):
                    for row in batch.to_pylist():
                        text, doc_id = row.pop("text", None), row.pop("id", None)
                        meta = {k: _json_value(v) for k, v in row.items()}
                        gz.write((json.dumps({"text": text, "id": doc_id, "metadata": meta},
                                             ensure_ascii=False) + "\n").encode("utf-8"))

        _write_atomic(out, write_jsonl)
    return outs


def _write_atomic(path: Path, fill) -> None:
    """Write through a temporary name and rename: an interrupted export leaves no half file."""
    tmp = tmp_name(path)
    try:
        with open(tmp, "wb") as fh:
            fill(fh)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def export(out: str | os.PathLike, fmt: str, stage: str | None = None, to: str | os.PathLike | None = None,
           force: bool = False) -> list[Path]:
    """Export and return the paths written."""
    out = Path(out)
    folder = stage_folder(out, stage, fmt)
    root = out if folder != out else out.parent
    target = Path(to) if to else root / "export" / fmt
    if fmt == "nanogpt":
        return export_nanogpt(folder, target, force)
    if fmt == "megatron":
        return export_megatron(folder, target, force)
    if fmt == "hf":
        return export_hf(folder, target, force)
    return export_documents(folder, target, fmt, force)


def main(args: argparse.Namespace) -> int:
    try:
        written = export(args.out, args.format, args.stage, args.to, args.force)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code
    print(f"[export] {args.format}: {len(written)} file(s) in {written[0].parent if written else args.to}")
    return 0
