"""Word n-gram shingles, hashed for a whole batch of documents at once in numpy.

Why this shape: the expensive part of MinHash in Python is one call per shingle
(datasketch hashes each shingle with sha1), and Python's ``re`` is slow on Unicode
classes. Here a batch of texts is lower-cased and encoded once, token boundaries are
found by classifying the UTF-8 bytes in numpy, every token is hashed by a polynomial
over its bytes (a few vectorised passes over one buffer), and n-gram hashes are
combined from token hashes: a handful of integer operations per shingle.

Normalisation (as FineWeb's ``simplify_text``): lower case, every digit becomes ``0``,
ASCII and common Unicode punctuation and spaces only separate tokens. Scripts written
without spaces (Chinese, Japanese kana, Thai, Lao, Khmer, Myanmar) give one token per
character, so a 5-gram there is a 5-character shingle and mixed-script text works.
``tokenize`` returns the same tokens as strings (for tests and true Jaccard).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np

U64 = np.uint64
_R = 0x9E3779B97F4A7C15 | 1          # odd: invertible modulo 2**64
_R_INV = pow(_R, -1, 1 << 64)
_NGRAM_MULT_SEED = 0x5EED5

# ASCII: letters and digits are word bytes, everything else separates; bytes of
# multi-byte characters are word bytes unless _scan marks them (punctuation, no-space).
_ASCII_SEP = np.ones(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
    _ASCII_SEP[_c] = False
_ASCII_SEP[0x80:] = False
_IS_DIGIT = np.zeros(256, dtype=bool)
_IS_DIGIT[0x30:0x3A] = True
_BYTE_VALUE = np.arange(256, dtype=U64)   # the value hashed for each byte: digits are all "0"
_BYTE_VALUE[0x30:0x3A] = 0x30
_BYTE_VALUE[0x41:0x5B] += 0x20            # ASCII texts skip str.lower(): fold case here
_C2_PUNCT = np.zeros(256, dtype=bool)   # U+00A0 nbsp, ¡ « · » ¿
_C2_PUNCT[[0xA0, 0xA1, 0xAB, 0xB7, 0xBB, 0xBF]] = True
_FF_PUNCT = np.zeros(256, dtype=bool)   # fullwidth ！＂＃…／ ：；＜＝＞？＠ ［＼］＾＿｀ (after EF BC)
_FF_PUNCT[0x80:0x90] = True
_FF_PUNCT[0x9A:0xA1] = True
_FF_PUNCT[0xBB:0xC0] = True


class _Scratch(threading.local):
    """Work arrays reused from batch to batch. A batch's per-byte arrays are megabytes:
    fresh ones cost more in page faults (the kernel zeroing new pages) than the
    arithmetic done on them. Only intermediates live here, never a returned array."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, n: int, dtype) -> np.ndarray:
        a = self.arrays.get(name)
        if a is None or len(a) < n:
            a = self.arrays[name] = np.empty(max(n, 1 << 16, 2 * len(a) if a is not None else 0),
                                             dtype=dtype)
        return a[:n]


_WORK = _Scratch()


_LOWER: np.ndarray | None = None


def _lower_table() -> np.ndarray:
    """BMP code point -> ``str.lower`` of it, or -1 where that is not one character of the
    same UTF-8 length (U+0130 İ, U+212A Kelvin sign) or depends on context (final sigma)."""
    global _LOWER
    if _LOWER is None:
        cps = np.arange(0x10000, dtype=np.int32)
        lows = [c.lower() for c in map(chr, range(0x10000))]
        table = np.array([ord(c) if len(c) == 1 else -1 for c in lows], dtype=np.int32)
        width = np.where(cps < 0x80, 1, np.where(cps < 0x800, 2, 3))
        table[(table >= 0) & (width != np.where(table < 0x80, 1, np.where(table < 0x800, 2, 3)))] = -1
        table[0x3A3] = -1
        _LOWER = table
    return _LOWER


def _lower_utf8(buf: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``str.lower`` done on UTF-8 bytes in numpy (ASCII letters are folded later, by
    ``_BYTE_VALUE``); ``high`` are the lead bytes of multi-byte characters. str.lower costs
    more than all the hashing after it. Returns (bytes, offsets of characters that need
    str.lower itself); the bytes are lowered only when there are none."""
    n = len(buf)
    c0 = buf[high].astype(np.int32)
    c1 = buf[np.minimum(high + 1, n - 1)].astype(np.int32) & 0x3F
    c2 = buf[np.minimum(high + 2, n - 1)].astype(np.int32) & 0x3F
    hard = high[:0]
    if (c0 >= 0xF0).any():   # outside the BMP: lower-case letters exist (Deseret, Adlam, ...)
        c3 = buf[np.minimum(high + 3, n - 1)].astype(np.int32) & 0x3F
        f = c0 >= 0xF0
        cp = ((c0[f] & 0x07) << 18) | (c1[f] << 12) | (c2[f] << 6) | c3[f]
        cased = [c for c in np.unique(cp).tolist() if chr(c).lower() != chr(c)]
        hard = high[f][np.isin(cp, cased)]
    two = c0 < 0xE0
    three = (c0 >= 0xE0) & (c0 < 0xF0)
    cp = np.where(two, ((c0 & 0x1F) << 6) | c1, ((c0 & 0x0F) << 12) | (c1 << 6) | c2)
    cp[~(two | three)] = 0
    low = _lower_table()[cp]
    if len(hard) or (low < 0).any():
        return buf, np.concatenate((hard, high[low < 0]))
    change = np.flatnonzero(low != cp)
    if not len(change):
        return buf, change
    buf = buf.copy()
    at, lo, is2 = high[change], low[change], two[change]
    buf[at] = np.where(is2, 0xC0 | (lo >> 6), 0xE0 | (lo >> 12))
    buf[at + 1] = np.where(is2, 0x80 | (lo & 0x3F), 0x80 | ((lo >> 6) & 0x3F))
    buf[at[~is2] + 2] = 0x80 | (lo[~is2] & 0x3F)
    return buf, change[:0]


def _encode(texts: list[str], lower: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """(lengths + 1, bytes joined by newlines); the texts numbered in ``lower`` go through
    ``str.lower``."""
    encoded = [(t.lower() if i in lower else t).encode("utf-8", "surrogatepass")
               for i, t in enumerate(texts)]
    lengths = np.fromiter((len(e) + 1 for e in encoded), dtype=np.int64, count=len(encoded))
    return lengths, np.frombuffer(b"\n".join(encoded) + b"\n", dtype=np.uint8)


def _scan(texts: Sequence[str | None]):
    """Lower-case and encode a batch; returns (bytes, token starts, token ends, tokens per doc)."""
    texts = [t or "" for t in texts]
    lengths, buf = _encode(texts, set())
    high = np.flatnonzero(buf >= 0xC2)    # lead bytes of multi-byte characters
    if len(high):
        buf, hard = _lower_utf8(buf, high)
        if len(hard):   # those documents through str.lower; its output lowers to itself
            docs = np.searchsorted(np.cumsum(lengths), hard, side="right")
            lengths, buf = _encode(texts, set(docs.tolist()))
            high = np.flatnonzero(buf >= 0xC2)
            buf, hard = _lower_utf8(buf, high)
            if len(hard):   # not known to happen: all of them through str.lower
                lengths, buf = _encode(texts, set(range(len(texts))))
                high = np.flatnonzero(buf >= 0xC2)
    n = len(buf)
    sep = _ASCII_SEP.take(buf, out=_WORK.get("sep", n, bool), mode="clip")
    lead = None
    if len(high):
        padded = np.concatenate((buf, np.zeros(2, dtype=np.uint8)))
        c0, c1, c2 = buf[high], padded[high + 1], padded[high + 2]
        two = (c0 == 0xC2) & _C2_PUNCT[c1]
        three = (((c0 == 0xE2) & ((c1 == 0x80) | (c1 == 0x81)))         # U+2000-207F
                 | ((c0 == 0xE3) & (c1 == 0x80))                         # U+3000-303F
                 | ((c0 == 0xEF) & (c1 == 0xBC) & _FF_PUNCT[c2])
                 | ((c0 == 0xEF) & (c1 == 0xBD) & (c2 >= 0x9B) & (c2 <= 0xA5)))
        for k, mask in ((2, two), (3, three)):
            idx = high[mask]
            for j in range(k):
                sep[np.minimum(idx + j, n - 1)] = True
        single = ((((c0 >= 0xE3) & (c0 <= 0xE9)) & ~three)                # kana, CJK
                  | ((c0 == 0xE0) & (c1 >= 0xB8) & (c1 <= 0xBB))           # Thai, Lao
                  | ((c0 == 0xE1) & ((c1 == 0x80) | (c1 == 0x81)           # Myanmar
                                     | (c1 == 0x9E) | (c1 == 0x9F)))      # Khmer
                  | ((c0 == 0xEF) & (c1 >= 0xA4) & (c1 <= 0xAB)))          # CJK compatibility
        lead = high[single]
    cut = _WORK.get("cut", n, bool)       # a token boundary lies just before byte i
    cut[0] = True
    np.logical_or(sep[1:], sep[:-1], out=cut[1:])
    if lead is not None and len(lead):
        cut[lead] = True
        cut[np.minimum(lead + 3, n - 1)] = True
    word = np.logical_not(sep, out=_WORK.get("word", n, bool))
    both = _WORK.get("both", n, bool)
    starts = np.flatnonzero(np.logical_and(cut, word, out=both))
    np.logical_and(cut[1:], word[:-1], out=both[:-1])
    ends = np.flatnonzero(both[:-1]) + 1              # the blob ends with a separator
    tokens_before = np.searchsorted(starts, np.cumsum(lengths))
    counts = np.diff(tokens_before, prepend=0).astype(np.int64)
    return buf, starts, ends, counts


def tokenize(text: str) -> list[str]:
    """Normalised tokens of one text, as strings (digits shown as ``0``)."""
    buf, starts, ends, _ = _scan([text])
    raw = _BYTE_VALUE.take(buf).astype(np.uint8).tobytes()
    return [raw[s:e].decode("utf-8", "surrogatepass") for s, e in zip(starts.tolist(), ends.tolist())]


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads every input bit over every output bit (in place safe)."""
    x = x ^ (x >> U64(30))
    x *= U64(0xBF58476D1CE4E5B9)
    x ^= x >> U64(27)
    x *= U64(0x94D049BB133111EB)
    x ^= x >> U64(31)
    return x


class _Powers:
    """Cached tables of R**i and R**-i modulo 2**64 (grown on demand)."""

    def __init__(self) -> None:
        self.fwd = np.ones(1, dtype=U64)
        self.inv = np.ones(1, dtype=U64)

    def ensure(self, n: int) -> None:
        if len(self.fwd) >= n:
            return
        size = max(n, 2 * len(self.fwd), 1 << 16)
        with np.errstate(over="ignore"):
            fwd = np.full(size, _R, dtype=U64)
            fwd[0] = 1
            self.fwd = np.cumprod(fwd, dtype=U64)
            inv = np.full(size, _R_INV, dtype=U64)
            inv[0] = 1
            self.inv = np.cumprod(inv, dtype=U64)


_POWERS = _Powers()


def ngram_multipliers(n: int) -> np.ndarray:
    """Fixed odd 64-bit multipliers, one per position in an n-gram (order matters)."""
    rng = np.random.default_rng(_NGRAM_MULT_SEED + n)
    return rng.integers(0, 1 << 63, size=n, dtype=np.int64).astype(U64) * U64(2) + U64(1)


@dataclass
class TokenBatch:
    """Token hashes of a batch of documents, laid out document after document."""

    hashes: np.ndarray   # (T,) uint64, one per token, independent of position
    counts: np.ndarray   # (n,) int64 tokens per document

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate(([0], np.cumsum(self.counts)[:-1])).astype(np.int64)

    @classmethod
    def from_texts(cls, texts: Sequence[str | None]) -> "TokenBatch":
        buf, starts, ends, counts = _scan(texts)
        if len(starts) == 0:
            return cls(np.zeros(0, dtype=U64), counts)
        _POWERS.ensure(len(buf) + 1)
        with np.errstate(over="ignore"):
            # polynomial hash of each token's bytes, shifted back to position 0 so
            # that equal tokens hash equally wherever they are
            prefix = _WORK.get("prefix", len(buf) + 1, U64)
            prefix[0] = 0
            weighted = _BYTE_VALUE.take(buf, out=_WORK.get("weighted", len(buf), U64), mode="clip")
            weighted *= _POWERS.fwd[: len(buf)]
            np.cumsum(weighted, out=prefix[1:])
            sums = (prefix[ends] - prefix[starts]) * _POWERS.inv[starts]
            hashes = mix64(sums + (ends - starts).astype(U64))
        return cls(hashes, counts)

    def text_keys(self) -> np.ndarray:
        """One 64-bit key per document for its whole normalised token sequence (0: empty)."""
        n = len(self.counts)
        keys = np.zeros(n, dtype=U64)
        if len(self.hashes) == 0:
            return keys
        starts = self.starts
        pos = np.arange(len(self.hashes), dtype=np.int64) - np.repeat(starts, self.counts)
        _POWERS.ensure(int(pos.max()) + 1)
        with np.errstate(over="ignore"):
            weighted = self.hashes * _POWERS.fwd[pos]
            nonempty = self.counts > 0
            sums = np.add.reduceat(weighted, starts[nonempty])
            keys[nonempty] = mix64(sums + self.counts[nonempty].astype(U64) * U64(_R)) | U64(1)
        return keys

    def ngrams(self, n: int, short_docs: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Hashes (uint64) of every n-gram of consecutive tokens inside each document, and
        the document each belongs to. With ``short_docs``, a document with fewer than n
        tokens gives one shingle of all its tokens (so it still has a signature)."""
        T = len(self.hashes)
        if T == 0:
            return np.zeros(0, dtype=U64), np.zeros(0, dtype=np.int64)
        counts = self.counts
        starts = self.starts
        ends = starts + counts
        mult = ngram_multipliers(n)
        padded = np.concatenate((self.hashes, np.zeros(n, dtype=U64)))
        m = max(T - n + 1, 0)                 # windows that fit in the batch
        acc = np.zeros(m, dtype=U64)
        term = _WORK.get("term", m, U64)
        with np.errstate(over="ignore"):
            for j in range(n):
                acc += np.multiply(padded[j: j + m], mult[j], out=term)
            # a window is valid when it ends inside the document it starts in
            valid = np.zeros(m, dtype=bool)
            full = counts >= n
            if full.any():
                bounds = np.zeros(m + 1, dtype=np.int64)
                np.add.at(bounds, starts[full], 1)
                np.add.at(bounds, ends[full] - n + 1, -1)
                valid = np.cumsum(bounds[:m]) > 0
            grams = acc[valid]
            doc = np.repeat(np.arange(len(counts), dtype=np.int64), np.where(full, counts - n + 1, 0))
            if short_docs:
                short = np.flatnonzero((counts > 0) & (counts < n))
                if len(short):   # one shingle of all its tokens
                    s_acc = np.zeros(len(short), dtype=U64)
                    for j in range(n - 1):
                        inside = j < counts[short]
                        pos = np.minimum(starts[short] + j, T - 1)
                        s_acc += np.where(inside, self.hashes[pos] * mult[j], U64(0))
                    grams = np.concatenate((grams, s_acc))
                    doc = np.concatenate((doc, short))
                    order = np.argsort(doc, kind="stable")
                    grams, doc = grams[order], doc[order]
            grams = mix64(grams)
        return grams, doc


def shingle_sets(text: str, n: int = 5) -> set[tuple[str, ...]]:
    """The exact word n-gram set of one text (for tests and true-Jaccard checks)."""
    toks = tokenize(text)
    if 0 < len(toks) < n:
        return {tuple(toks)}
    return {tuple(toks[i: i + n]) for i in range(len(toks) - n + 1)}


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
