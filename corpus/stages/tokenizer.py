"""`corpus tokenizer`: a sentencepiece BPE model trained on a sample of the deduplicated text.

Why these settings: the model side needs every byte sequence to survive a round trip
(``decode(encode(text)) == text``), so normalization is off (``identity``), whitespace is
kept as it is (no dummy prefix, no collapsing, whitespace-only pieces allowed, newlines
and tabs learned as pieces), and ``byte_fallback`` spells any character outside the
vocabulary as UTF-8 bytes: there is no unknown token in practice. The seven special
pieces (``contract.tokens.SPECIAL_TOKENS``) are user-defined symbols; the contract's
encoder makes sure plain text never produces them. When the ``tokenizers`` package is installed,
the model is also written as Hugging Face files (``contract.hf_tokenizer``: ``tokenizer.json``,
``tokenizer_config.json`` with a chat template, ``special_tokens_map.json``).

The training sample is deterministic: each document gets a hash of (seed, id); the
documents with the smallest hashes are taken until ``sample_chars`` characters, each
capped at ``max_doc_chars`` so one page cannot dominate. A map over the input parts
collects (hash, length); one task per part writes its sampled texts to
``tokenizer/sample/``; ``finish`` trains on them in hash order.
"""
from __future__ import annotations

import hashlib
import io
import logging
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from contract import hf_tokenizer, tokens
from contract.atomic import atomic_path, write_json_atomic
from contract.tokens import MODEL_FILE, SPECIAL_TOKENS, SPECIALS_FILE, file_sha256

from ..core.parts import document_parts, iter_batches, list_parts
from ..core.runner import RunContext, Stage, StageError, Task, TaskOutput
from ..core.settings import INPUT_STAGE, Section, integer, number


#: ``stages.tokenizer``: vocabulary, training sample, sentencepiece options.
SCHEMA = Section({
    "vocab_size": integer(32768, 1),
    "sample_chars": integer(50_000_000, 1),  # characters of text the tokenizer is trained on
    "max_doc_chars": integer(8000, 1),       # each document's contribution is capped at this many characters
    "character_coverage": number(0.9995, 0, 1, lo_open=True),  # rarer characters are spelled as bytes
    "max_piece_length": integer(16, 1),
    "seed": integer(0, 0),
    # sentencepiece training threads: a fixed number, not "one per core", because the model
    # file records it (the pieces are the same for any count; the bytes would not be)
    "threads": integer(4, 1),
    "input_stage": INPUT_STAGE,
})
DEFAULTS = SCHEMA.defaults()
log = logging.getLogger(__name__)

SAMPLE_SCHEMA = pa.schema([pa.field("key", pa.uint64()), pa.field("id", pa.string()),
                           pa.field("text", pa.string())])


def doc_key(doc_id: str, seed: int) -> int:
    """A stable 64-bit hash of a document id, salted by ``seed``."""
    digest = hashlib.blake2b(f"{seed}:{doc_id}".encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def doc_keys(ids, seed: int) -> np.ndarray:
    return np.fromiter((doc_key(i, seed) for i in ids), dtype=np.uint64, count=len(ids))


def stage_params(params: dict) -> dict:
    """The stage's parameters (checked against its schema) over the defaults."""
    SCHEMA.check(params or {}, "stages.tokenizer")
    return {**DEFAULTS, **(params or {})}


# --- training ---

def train_sentencepiece(texts, vocab_size: int, *, max_doc_chars: int = 8000,
                        character_coverage: float = 0.9995, max_piece_length: int = 16,
                        threads: int = 4) -> bytes:
    """Train the BPE model on an iterable of texts; returns the serialized model."""
    import sentencepiece as spm  # heavy: ~7 ms; every command imports this module for the settings check

    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=model, model_type="bpe",
            vocab_size=vocab_size, byte_fallback=True, split_digits=True,
            user_defined_symbols=list(SPECIAL_TOKENS.values()),
            normalization_rule_name="identity", remove_extra_whitespaces=False,
            add_dummy_prefix=False, allow_whitespace_only_pieces=True,
            split_by_whitespace=True, character_coverage=character_coverage,
            max_sentencepiece_length=max_piece_length,
            unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,
            max_sentence_length=4 * max_doc_chars + 16, input_sentence_size=0,
            shuffle_input_sentence=False, num_threads=max(1, threads),
            minloglevel=2)
    except RuntimeError as err:
        msg = str(err)
        if "Vocabulary size too high" in msg:
            raise StageError(f"tokenizer: the training sample is too small for vocab_size={vocab_size} "
                             f"({msg.split(']')[-1].strip()}); raise sample_chars or lower vocab_size") from None
        raise
    return model.getvalue()


def special_ids(sp) -> dict[str, int]:
    try:
        return tokens.special_ids(sp)
    except ValueError as err:
        raise StageError(f"tokenizer: {err}") from None


def _key_lengths(path: str, seed: int, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """(hash, capped length) of every document of one part: the sampling map."""
    import pyarrow.compute as pc  # heavy: ~45 ms; every command imports this module for the settings check

    keys, lengths = [], []
    for batch in iter_batches(path, columns=["id", "text"], batch_size=4096):
        keys.append(doc_keys(batch.column("id").to_pylist(), seed))
        n = pc.utf8_length(pc.fill_null(batch.column("text"), "")).to_numpy(zero_copy_only=False)
        lengths.append(np.minimum(n, cap).astype(np.int64))
    if not keys:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    return np.concatenate(keys), np.concatenate(lengths)


def sample_threshold(keys: np.ndarray, lengths: np.ndarray, budget: int) -> int | None:
    """Largest key to take so the documents with keys <= it hold ``budget`` characters."""
    if len(keys) == 0:
        return None
    order = np.argsort(keys, kind="stable")
    total = np.cumsum(lengths[order])
    k = int(np.searchsorted(total, budget, side="left"))
    return int(keys[order[min(k, len(keys) - 1)]])


def write_hf_files(directory: Path, specials: dict[str, int]) -> list[str]:
    """The model also as Hugging Face files (``AutoTokenizer.from_pretrained(directory)``),
    when the ``tokenizers`` package is installed (the ``hf`` extra); else none."""
    try:
        import tokenizers  # noqa: F401  # optional: the hf extra
    except ImportError:
        log.info("tokenizer: `tokenizers` not installed, no Hugging Face tokenizer files written")
        return []
    return [p.name for p in hf_tokenizer.write(directory / MODEL_FILE, directory, specials)]


class TokenizerStage(Stage):
    """Train the corpus tokenizer (map: sample text per part; reduce: train once)."""

    name = "tokenizer"
    folder = "tokenizer"
    upstream = "dedup"
    schema = SCHEMA
    owns = ("sample/part-*.parquet", MODEL_FILE, SPECIALS_FILE, *hf_tokenizer.HF_TOKENIZER_FILES)
    holds_documents = False

    def __init__(self, config: dict):
        super().__init__(config)
        self.opts = stage_params(self.params)
        self.threshold: int | None = None

    def _parts(self) -> list[Path]:
        d = self.input_dir()
        parts = document_parts(d)
        if not parts:
            raise StageError(f"tokenizer: no document parts in {d}; run the upstream stage first")
        return parts

    def tasks(self) -> list[Task]:
        return [Task(f"part-{i:05d}", {"path": str(p)}) for i, p in enumerate(self._parts())]

    def prepare(self, run: RunContext) -> None:
        o = self.opts
        res = run.map(_key_lengths, [(str(p), o["seed"], o["max_doc_chars"]) for p in self._parts()],
                      label="tokenizer sample")
        keys = np.concatenate([r[0] for r in res])
        lengths = np.concatenate([r[1] for r in res])
        self.threshold = sample_threshold(keys, lengths, o["sample_chars"])
        if self.threshold is None:
            raise StageError(f"tokenizer: no documents in {self.input_dir()}")

    def process(self, task: Task, out: TaskOutput) -> dict:
        import pyarrow.compute as pc  # heavy: ~45 ms; every command imports this module for the settings check

        o = self.opts
        writer = out.writer(SAMPLE_SCHEMA, "sample")
        n_in = kept = chars = 0
        for batch in iter_batches(task.payload["path"], columns=["id", "text"], batch_size=4096):
            ids = batch.column("id").to_pylist()
            keys = doc_keys(ids, o["seed"])
            n_in += len(ids)
            take = np.nonzero(keys <= np.uint64(self.threshold))[0]
            if len(take) == 0:
                continue
            texts = pc.fill_null(batch.column("text"), "").take(pa.array(take))
            texts = pc.utf8_slice_codeunits(texts, 0, o["max_doc_chars"])
            writer.write_table(pa.table({"key": pa.array(keys[take], pa.uint64()),
                                         "id": batch.column("id").take(pa.array(take)),
                                         "text": texts}, schema=SAMPLE_SCHEMA))
            kept += len(take)
            chars += int(pc.sum(pc.utf8_length(texts)).as_py() or 0)
        return {"in": n_in, "kept": kept, "rejected": {"not_sampled": n_in - kept} if n_in > kept else {},
                "extra": {"chars": chars}}

    def finish(self, run: RunContext, results: list[dict]) -> dict:
        o = self.opts
        table = pa.concat_tables([pq.read_table(p) for p in list_parts(self.dir / "sample")])
        table = table.sort_by([("key", "ascending"), ("id", "ascending")])
        texts = table.column("text").to_pylist()
        chars = sum(len(t) for t in texts)
        t0 = time.monotonic()
        blob = train_sentencepiece(texts, o["vocab_size"], max_doc_chars=o["max_doc_chars"],
                                   character_coverage=o["character_coverage"],
                                   max_piece_length=o["max_piece_length"], threads=o["threads"])
        seconds = time.monotonic() - t0
        import sentencepiece as spm  # heavy: ~7 ms; every command imports this module for the settings check

        sp = spm.SentencePieceProcessor(model_proto=blob)
        specials = special_ids(sp)
        model_path = self.dir / MODEL_FILE
        with atomic_path(model_path) as tmp:
            tmp.write_bytes(blob)
        write_json_atomic(self.dir / SPECIALS_FILE, specials)
        hf_files = write_hf_files(self.dir, specials)
        info = {"path": MODEL_FILE, "sha256": file_sha256(model_path), "vocab_size": sp.vocab_size(),
                "special_tokens": specials, "training_documents": len(texts),
                "training_chars": chars, "training_seconds": round(seconds, 3), "hf_files": hf_files}
        return {"tokenizer": info,
                "summary": f"BPE vocab {sp.vocab_size():,} trained on {len(texts):,} docs / "
                           f"{chars:,} chars in {seconds:.1f}s -> {model_path}"}
