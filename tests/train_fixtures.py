"""Small realistic token shards for the training tests, made without `corpus`: the text is
the Python standard library's own docstrings (English prose, code, lists — and local), the
tokenizer a tiny sentencepiece BPE with the project's seven special pieces, and the shards
follow the tokenize stage's contract (Parquet ``id``/``tokens``/``n_tokens`` + .manifest.json)."""
from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sentencepiece as spm
from contract.layout import MANIFEST

SPECIALS = ["<|bos|>", "<|system_start|>", "<|system_end|>", "<|user_start|>", "<|user_end|>",
            "<|assistant_start|>", "<|assistant_end|>"]
SPECIAL_NAMES = ["bos", "system_start", "system_end", "user_start", "user_end", "assistant_start", "assistant_end"]

MODULES = sorted("""argparse ast asyncio base64 bisect calendar cmd codecs collections colorsys configparser
contextlib copy csv dataclasses datetime decimal difflib doctest email enum filecmp fnmatch fractions
functools getopt gettext glob gzip hashlib heapq hmac html html.parser http.client inspect io ipaddress
itertools json locale logging lzma math mimetypes operator optparse os pathlib pickle platform pprint
queue random re reprlib sched secrets shlex shutil socket sqlite3 statistics string struct subprocess
tarfile tempfile textwrap threading time timeit tokenize traceback types typing unittest urllib.parse
uuid warnings weakref zipfile""".split())


def stdlib_documents(min_chars: int = 120) -> list[tuple[str, str]]:
    """(id, text) for every module, class and function docstring of MODULES, in a fixed order."""
    docs: dict[str, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in MODULES:
            try:
                mod = importlib.import_module(name)
            except Exception:
                continue
            if mod.__doc__ and len(mod.__doc__) >= min_chars:
                docs[name] = inspect.cleandoc(mod.__doc__)
            for attr in sorted(dir(mod)):
                if attr.startswith("_"):
                    continue
                obj = getattr(mod, attr, None)
                if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj)):
                    continue
                doc = getattr(obj, "__doc__", None)
                if isinstance(doc, str) and len(doc) >= min_chars:
                    docs[f"{name}.{attr}"] = inspect.cleandoc(doc)
    seen: set[str] = set()
    out = []
    for key in sorted(docs):
        if docs[key] in seen:
            continue
        seen.add(docs[key])
        out.append((key, docs[key]))
    return out


def train_tokenizer(texts: list[str], out_dir: Path, vocab_size: int = 768) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_prefix=str(out_dir / "tokenizer"), vocab_size=vocab_size,
        model_type="bpe", byte_fallback=True, user_defined_symbols=SPECIALS, character_coverage=1.0,
        bos_id=-1, eos_id=-1, unk_id=0, pad_id=-1, num_threads=1, minloglevel=2,
        max_sentence_length=100000,
        # the tokenizer stage's text settings, which the contract's exact round trip relies on
        normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=False,
        allow_whitespace_only_pieces=True)
    sp = spm.SentencePieceProcessor(model_file=str(out_dir / "tokenizer.model"))
    special = {n: sp.piece_to_id(p) for n, p in zip(SPECIAL_NAMES, SPECIALS)}
    (out_dir / "special_tokens.json").write_text(json.dumps(special, indent=2))
    return out_dir / "tokenizer.model"


def write_shards(root: Path, docs: list[tuple[str, str]] | None = None, vocab_size: int = 768,
                 docs_per_shard: int = 300, row_group_size: int = 64, val_every: int = 10,
                 max_docs: int | None = None) -> Path:
    """``root/tokenizer/`` and ``root/shards/`` (train/val parts + .manifest.json); returns the shards dir."""
    docs = docs if docs is not None else stdlib_documents()
    if max_docs:
        docs = docs[:max_docs]
    tok_path = train_tokenizer([t for _, t in docs], root / "tokenizer", vocab_size)
    sp = spm.SentencePieceProcessor(model_file=str(tok_path))
    special = json.loads((root / "tokenizer" / "special_tokens.json").read_text())
    shards = root / "shards"
    splits: dict[str, list] = {"train": [], "val": []}
    for doc_id, text in docs:
        split = "val" if int(hashlib.sha1(doc_id.encode()).hexdigest(), 16) % val_every == 0 else "train"
        splits[split].append((doc_id, [special["bos"]] + sp.encode(text)))
    schema = pa.schema([("id", pa.string()), ("tokens", pa.list_(pa.uint16())), ("n_tokens", pa.int32())])
    manifest_splits = {}
    for split, rows in splits.items():
        (shards / split).mkdir(parents=True, exist_ok=True)
        parts = []
        for n, start in enumerate(range(0, len(rows), docs_per_shard)):
            chunk = rows[start:start + docs_per_shard]
            table = pa.table({"id": [r[0] for r in chunk], "tokens": [r[1] for r in chunk],
                              "n_tokens": [len(r[1]) for r in chunk]}, schema=schema)
            rel = f"{split}/part-{n:05d}.parquet"
            pq.write_table(table, shards / rel, row_group_size=row_group_size, compression="zstd")
            parts.append({"path": rel, "documents": len(chunk), "tokens": sum(len(r[1]) for r in chunk)})
        manifest_splits[split] = {"documents": len(rows), "tokens": sum(p["tokens"] for p in parts), "shards": parts}
    manifest = {
        "stage": "tokenize",
        "tokenizer": {"path": "../tokenizer/tokenizer.model",
                      "sha256": hashlib.sha256(tok_path.read_bytes()).hexdigest(),
                      "vocab_size": sp.get_piece_size(), "special_tokens": special},
        "dtype": "uint16",
        "splits": manifest_splits,
    }
    (shards / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return shards
