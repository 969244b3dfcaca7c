"""The tokenizer contract: the special tokens, and the one encoding of plain text.

The shards, SFT/RL conversations and chat prompts all go through :func:`encode_documents`
(or :meth:`Tokenizer.encode`, the same thing), so a model is trained on exactly the ids it
is later prompted with. Plain text never produces a special id: the special pieces are
user-defined symbols, which sentencepiece would match inside text, so a literal
``<|bos|>`` in a document (or a user typing ``<|assistant_end|>`` or ``<|search_end|>``) is
spelled as byte pieces. So is a literal U+2581, which sentencepiece would decode as a space. Everything
else goes to sentencepiece as it is; ``decode(encode(text)) == text`` for any text.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from itertools import chain
from pathlib import Path

#: name (as in special_tokens.json) -> piece. The order fixes their ids (1..11; 0 is <unk>).
#: The chat pieces come first; the tool-call pieces (a search query the model writes between
#: ``search_start``/``search_end``, the hits the runtime inserts between ``result_start``/
#: ``result_end``) were added later, so a tokenizer from before has only the first seven.
SPECIAL_TOKENS = {
    "bos": "<|bos|>",
    "system_start": "<|system_start|>",
    "system_end": "<|system_end|>",
    "user_start": "<|user_start|>",
    "user_end": "<|user_end|>",
    "assistant_start": "<|assistant_start|>",
    "assistant_end": "<|assistant_end|>",
    "search_start": "<|search_start|>",
    "search_end": "<|search_end|>",
    "result_start": "<|result_start|>",
    "result_end": "<|result_end|>",
}
SPECIAL_NAMES = tuple(SPECIAL_TOKENS)
CHAT_NAMES = SPECIAL_NAMES[:7]    # every tokenizer has these
TOOL_NAMES = SPECIAL_NAMES[7:]    # optional: without them a model chats with tools off

MODEL_FILE = "tokenizer.model"
SPECIALS_FILE = "special_tokens.json"

# Text sentencepiece would not give back as it is: U+2581 and the special pieces.
_ESCAPE = re.compile("\u2581|" + "|".join(re.escape(p) for p in SPECIAL_TOKENS.values()))
# A cheap first look: a text without any of these holds nothing to escape.
_ESCAPE_HINTS = tuple({"\u2581"} | {p[:2] for p in SPECIAL_TOKENS.values()})


def _needs_escape(text: str) -> bool:
    return any(h in text for h in _ESCAPE_HINTS)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_special_tokens(tokenizer_dir: str | os.PathLike) -> dict[str, int]:
    """The sidecar ``special_tokens.json`` the tokenizer stage writes beside the model."""
    return {k: int(v) for k, v in json.loads((Path(tokenizer_dir) / SPECIALS_FILE).read_text()).items()}


def special_ids(sp) -> dict[str, int]:
    """name -> id of every special piece in a sentencepiece model; ValueError if one is missing."""
    ids = {name: sp.piece_to_id(piece) for name, piece in SPECIAL_TOKENS.items()}
    for name, i in ids.items():
        if sp.id_to_piece(i) != SPECIAL_TOKENS[name]:
            raise ValueError(f"special piece {SPECIAL_TOKENS[name]} missing from the model")
    return ids


# --- the encoding -------------------------------------------------------------------------

def _byte_ids(sp) -> list[int]:
    return [sp.piece_to_id(f"<0x{b:02X}>") for b in range(256)]


def _encode_escaped(sp, text: str, byte_ids: list[int] | None = None) -> list[int]:
    """Encode around the escaped strings, which are spelled as byte pieces."""
    byte_ids = byte_ids or _byte_ids(sp)
    out: list[int] = []
    pos = 0
    for m in _ESCAPE.finditer(text):
        if m.start() > pos:
            out.extend(sp.encode(text[pos:m.start()]))
        out.extend(byte_ids[b] for b in m.group().encode("utf-8"))
        pos = m.end()
    if pos < len(text):
        out.extend(sp.encode(text[pos:]))
    return out


def encode_text(sp, text: str, byte_ids: list[int] | None = None) -> list[int]:
    """Token ids of plain text (a sentencepiece processor), exact under ``sp.decode``."""
    if not _needs_escape(text):
        return sp.encode(text)
    return _encode_escaped(sp, text, byte_ids)


# Long texts are encoded in pieces of about this many characters: sentencepiece's BPE
# slows down on long inputs (its merge queue grows with the text), ~25% on web pages.
_CHUNK_CHARS = 256
# Pieces of at least _CHUNK_CHARS characters, each ending at a word boundary (a space
# after a non-space; a run of spaces starts the next word), the last one whatever is left.
_WORD_CHUNKS = re.compile(r"(?s).{%d,}?[^ ](?= )|.+" % (_CHUNK_CHARS - 1))
_SEPARABLE_PROBES = ("a b", "  a  b  ", "x\ny z\t w", "12 34 5", "\u00e9t\u00e9 \u0301 \u3000 x", "end ")


def _cuts_at_words(sp) -> bool:
    """Whether encoding text cut at word boundaries gives the ids of the whole text: no
    piece of the vocabulary holds a space after a non-space (so neither BPE merges nor
    unigram paths cross a boundary), and the normaliser neither adds a dummy prefix nor
    drops spaces (checked on probes). True for the models ``corpus tokenizer`` trains
    (``split_by_whitespace``, identity normalisation, no dummy prefix). Cached on ``sp``."""
    known = getattr(sp, "_c2t_cuts_at_words", None)
    if known is not None:
        return known
    ok = True
    for i in range(sp.get_piece_size()):
        piece = sp.id_to_piece(i).lstrip("\u2581")
        if "\u2581" in piece:
            ok = False
            break
    for p in _SEPARABLE_PROBES if ok else ():
        cut = re.findall(r" *[^ ]+| +", p)   # every word on its own
        if (sp.decode(sp.encode(p)) != p
                or sp.encode(p) != [i for c in cut for i in sp.encode(c)]):
            ok = False
            break
    try:
        sp._c2t_cuts_at_words = ok
    except AttributeError:
        pass
    return ok


def encode_documents(sp, texts: list[str], threads: int = 0,
                     byte_ids: list[int] | None = None) -> list[list[int]]:
    """:func:`encode_text` of many texts in one batched sentencepiece call: the plain text
    of every document (cut at word boundaries where the model allows it; the ids are the
    same), with the strings that need escaping spelled as byte pieces only in the
    documents that hold them. ``threads``: 0 = all cores (sentencepiece's default)."""
    cut = _cuts_at_words(sp)
    pieces: list[str] = []

    def add(text: str) -> tuple[int, int]:
        start = len(pieces)
        if cut and len(text) > _CHUNK_CHARS:
            pieces.extend(_WORD_CHUNKS.findall(text))
        else:
            pieces.append(text)
        return start, len(pieces)

    plans: list = []   # per document: (start, stop) into pieces, or a list of those and id lists
    for t in texts:
        if not _needs_escape(t):
            plans.append(add(t))
            continue
        byte_ids = byte_ids or _byte_ids(sp)
        segs, pos = [], 0
        for m in _ESCAPE.finditer(t):
            if m.start() > pos:
                segs.append(add(t[pos:m.start()]))
            segs.append([byte_ids[b] for b in m.group().encode("utf-8")])
            pos = m.end()
        if pos < len(t):
            segs.append(add(t[pos:]))
        plans.append(segs)
    enc = sp.encode(pieces, num_threads=threads if threads > 0 else -1)

    def ids(span: tuple[int, int]) -> list[int]:
        a, b = span
        return enc[a] if b - a == 1 else list(chain.from_iterable(enc[a:b]))

    return [ids(p) if isinstance(p, tuple)
            else list(chain.from_iterable(s if isinstance(s, list) else ids(s) for s in p))
            for p in plans]


class Tokenizer:
    """A sentencepiece model plus its special ids, with the contract's encode."""

    def __init__(self, model_path: str | os.PathLike, special: dict[str, int] | None = None) -> None:
        import sentencepiece as spm

        self.model_path = Path(model_path)
        if not self.model_path.exists():
            raise FileNotFoundError(f"tokenizer model not found: {self.model_path}")
        self.sp = spm.SentencePieceProcessor(model_file=str(self.model_path))
        if special is None:
            if (self.model_path.parent / SPECIALS_FILE).exists():
                special = load_special_tokens(self.model_path.parent)
            else:  # look the pieces up in the model itself
                special = {n: self.sp.piece_to_id(p) for n, p in SPECIAL_TOKENS.items()
                           if self.sp.id_to_piece(self.sp.piece_to_id(p)) == p}
        self.special: dict[str, int] = {k: int(v) for k, v in special.items()}
        if "bos" not in self.special:
            raise ValueError(f"{self.model_path}: no <|bos|> piece and no {SPECIALS_FILE} beside it")
        self._byte_ids = _byte_ids(self.sp)

    @classmethod
    def from_model(cls, model_path: str | os.PathLike) -> "Tokenizer":
        """The model file, with the special ids of its sidecar ``special_tokens.json``."""
        return cls(model_path)

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    @property
    def has_tools(self) -> bool:
        """Whether the tool-call pieces exist (a tokenizer from before them has none)."""
        return all(n in self.special for n in TOOL_NAMES)

    @property
    def bos_id(self) -> int:
        return self.special["bos"]

    def sha256(self) -> str:
        return file_sha256(self.model_path)

    def encode(self, text: str) -> list[int]:
        """Plain text -> ids, never a special id; the same ids the shards hold."""
        return encode_text(self.sp, text, self._byte_ids)

    def encode_batch(self, texts: list[str], threads: int = 0) -> list[list[int]]:
        return encode_documents(self.sp, texts, threads, self._byte_ids)

    def decode(self, ids) -> str:
        return self.sp.decode([int(i) for i in ids])

    def id_to_piece(self, i: int) -> str:
        return self.sp.id_to_piece(int(i))

    def token_bytes(self) -> list[int]:
        """UTF-8 byte length of every id decoded on its own (0 for special and control
        pieces); what bits per byte divides by."""
        out = []
        specials = set(self.special.values())
        for i in range(self.vocab_size):
            if i in specials or self.sp.is_control(i) or self.sp.is_unknown(i):
                out.append(0)
            elif self.sp.is_byte(i):
                out.append(1)
            else:
                out.append(len(self.sp.id_to_piece(i).replace("\u2581", " ").encode("utf-8")))
        return out
