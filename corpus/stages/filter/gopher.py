"""Gopher / MassiveText quality and repetition rules (Rae et al. 2021, appendix A1).

Defaults are the paper's values, which datatrove's GopherQualityFilter and
GopherRepetitionFilter also use. Words come from :mod:`words` (one word per character
for Chinese/Japanese/Thai); the mean-word-length rule is skipped for those languages,
and the stop-word rule uses the document's language list (skipped without one).

Repetition is measured on word n-grams hashed to 64-bit integers and counted with
NumPy (a sort per n), not with Python dicts of joined strings: the rule that costs
most in a naive implementation costs tens of microseconds here.
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from ...core.settings import fraction, integer, mapping, ngram_fractions, number
from .base import Doc, Filter, ratio, rule_section
from .words import stop_words_for

BULLETS = ("•", "‣", "◦", "⁃", "∙", "·", "-", "*")
ELLIPSES = ("...", "…")


class GopherQuality(Filter):
    name = "gopher_quality"
    reason = "gopher_quality"
    schema = rule_section({
        "min_words": integer(50, 0, null=True),          # Gopher: 50 <= words <= 100,000
        "max_words": integer(100000, 0, null=True),
        "min_mean_word_length": number(3, 0, null=True),  # Gopher: mean word length in [3, 10]
        "max_mean_word_length": number(10, 0, null=True),
        "max_symbol_word_ratio": number(0.1, 0, null=True),  # Gopher: '#' or ellipsis to word ratio <= 0.1
        "max_bullet_lines_ratio": fraction(0.9, null=True),   # Gopher: <= 90% of lines start with a bullet
        "max_ellipsis_lines_ratio": fraction(0.3, null=True),  # Gopher: <= 30% of lines end with an ellipsis
        "min_alpha_words_ratio": fraction(0.8, null=True),    # Gopher: >= 80% of words contain a letter
        "min_stop_words": integer(2, 0, null=True),  # Gopher: >= 2 different of the, be, to, of, and, that, have, with
        "stop_words": mapping(None),                 # {lang: [words]} to replace/add lists
    })
    defaults = schema.defaults()

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field("words", pa.int64()), pa.field("mean_word_length", pa.float64()),
                pa.field("hash_word_ratio", pa.float64()),
                pa.field("ellipsis_word_ratio", pa.float64()),
                pa.field("bullet_lines_ratio", pa.float64()),
                pa.field("ellipsis_lines_ratio", pa.float64()),
                pa.field("alpha_words_ratio", pa.float64()), pa.field("stop_words", pa.int64())]

    def check(self, doc: Doc, sig: dict, full: bool = False):
        p = self.p
        trip = None
        words = doc.words
        n = len(words)
        sig["words"] = n
        if p["min_words"] is not None and n < p["min_words"]:
            trip = trip or ("min_words", n)
        if p["max_words"] is not None and n > p["max_words"]:
            trip = trip or ("max_words", n)
        if (trip and not full) or n == 0:
            return trip

        if not doc.no_space:
            mean = sum(map(len, words)) / n
            sig["mean_word_length"] = mean
            if p["min_mean_word_length"] is not None and mean < p["min_mean_word_length"]:
                trip = trip or ("min_mean_word_length", mean)
            if p["max_mean_word_length"] is not None and mean > p["max_mean_word_length"]:
                trip = trip or ("max_mean_word_length", mean)
            if trip and not full:
                return trip

        text = doc.text
        hashes = ratio(text.count("#"), n)
        ellipses = ratio(text.count("...") + text.count("…"), n)
        sig["hash_word_ratio"], sig["ellipsis_word_ratio"] = hashes, ellipses
        limit = p["max_symbol_word_ratio"]
        if limit is not None:
            if hashes > limit:
                trip = trip or ("hash_word_ratio", hashes)
            elif ellipses > limit:
                trip = trip or ("ellipsis_word_ratio", ellipses)
        if trip and not full:
            return trip

        lines = doc.lines
        n_lines = len(lines) or 1
        bullets = sum(1 for ln in lines if ln.lstrip().startswith(BULLETS)) / n_lines
        ell_lines = sum(1 for ln in lines if ln.rstrip().endswith(ELLIPSES)) / n_lines
        sig["bullet_lines_ratio"], sig["ellipsis_lines_ratio"] = bullets, ell_lines
        if p["max_bullet_lines_ratio"] is not None and bullets > p["max_bullet_lines_ratio"]:
            trip = trip or ("bullet_lines_ratio", bullets)
        if p["max_ellipsis_lines_ratio"] is not None and ell_lines > p["max_ellipsis_lines_ratio"]:
            trip = trip or ("ellipsis_lines_ratio", ell_lines)
        if trip and not full:
            return trip

        # A word without any letter: numbers, dates, symbol runs.
        no_alpha = sum(1 for w in [w for w in words if not w[0].isalpha()]
                       if not any(c.isalpha() for c in w))
        alpha = 1.0 - no_alpha / n
        sig["alpha_words_ratio"] = alpha
        if p["min_alpha_words_ratio"] is not None and alpha < p["min_alpha_words_ratio"]:
            trip = trip or ("alpha_words_ratio", alpha)
            if not full:
                return trip

        stops = stop_words_for(doc.language, p["stop_words"])
        if stops is not None and p["min_stop_words"] is not None:
            count = len(stops.intersection(words))  # distinct: "at least two of the words"
            sig["stop_words"] = count
            if count < p["min_stop_words"]:
                trip = trip or ("stop_words", count)
        return trip


_PARAGRAPHS = re.compile(r"\n{2,}")
_MULT = np.uint64(0x9E3779B97F4A7C15)


def _find_duplicates(items: list[str]) -> tuple[int, int]:
    """(number, characters) of the items that repeat an earlier one (first copies not counted)."""
    seen: set[str] = set()
    dup = chars = 0
    for it in items:
        if it in seen:
            dup += 1
            chars += len(it)
        else:
            seen.add(it)
    return dup, chars


class GopherRepetition(Filter):
    name = "gopher_repetition"
    reason = "gopher_repetition"
    schema = rule_section({
        "max_dup_para_frac": fraction(0.3, null=True),   # Gopher Table A1
        "max_dup_para_char_frac": fraction(0.2, null=True),
        "max_dup_line_frac": fraction(0.3, null=True),
        "max_dup_line_char_frac": fraction(0.2, null=True),
        "max_top_ngram_char_frac": ngram_fractions({2: 0.2, 3: 0.18, 4: 0.16}),
        "max_dup_ngram_char_frac": ngram_fractions({5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11,
                                                    10: 0.10}),
        # Languages without spaces count characters as words; n words are about 2n
        # characters there (Chinese words average 1.5-2 characters, and Japanese verb
        # endings such as "しました。" alone fill a 5-gram), so n-grams are scaled.
        "no_space_ngram_scale": integer(2, 1, null=True),
    })
    defaults = schema.defaults()

    def __init__(self, params: dict | None = None):
        super().__init__(params)
        self.top = {int(k): float(v) for k, v in (self.p["max_top_ngram_char_frac"] or {}).items()}
        self.dup = {int(k): float(v) for k, v in (self.p["max_dup_ngram_char_frac"] or {}).items()}

    def signal_fields(self) -> list[pa.Field]:
        fields = [pa.field(n, pa.float64()) for n in
                  ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac")]
        fields += [pa.field(f"top_{n}gram_char_frac", pa.float64()) for n in sorted(self.top)]
        fields += [pa.field(f"dup_{n}gram_char_frac", pa.float64()) for n in sorted(self.dup)]
        return fields

    def check(self, doc: Doc, sig: dict, full: bool = False):
        p = self.p
        text = doc.text
        size = len(text) or 1
        trip = None
        paras = [x for x in _PARAGRAPHS.split(text.strip()) if x.strip()] if "\n\n" in text else [text]
        for kind, items in (("para", paras), ("line", doc.lines)):
            dup, chars = _find_duplicates(items)
            frac, char_frac = ratio(dup, len(items)), chars / size
            sig[f"dup_{kind}_frac"], sig[f"dup_{kind}_char_frac"] = frac, char_frac
            lim = p[f"max_dup_{kind}_frac"]
            if lim is not None and frac > lim:
                trip = trip or (f"dup_{kind}_frac", frac)
            lim = p[f"max_dup_{kind}_char_frac"]
            if lim is not None and char_frac > lim:
                trip = trip or (f"dup_{kind}_char_frac", char_frac)
            if trip and not full:
                return trip
        return self._ngrams(doc, sig, full, trip)

    def _ngrams(self, doc: Doc, sig: dict, full: bool, trip):
        """Top n-gram and duplicated n-gram character fractions, over word characters
        (as RedPajama-V2 measures Gopher's rules; see docs/stages/filter.md).

        Each level n groups equal n-gram hashes with one stable sort. A repeated
        (n+1)-gram starts where an n-gram repeats, so level n+1 only looks at the
        positions that sat in a group of two or more at level n: on real text the
        candidates shrink to a few percent after n = 3.
        """
        top, dup = self.top, self.dup
        for n in top:
            sig[f"top_{n}gram_char_frac"] = 0.0
        for n in dup:
            sig[f"dup_{n}gram_char_frac"] = 0.0
        words = doc.words
        W = len(words)
        if not (top or dup) or W < 2:
            return trip
        scale = max(1, int(self.p["no_space_ngram_scale"] or 1)) if doc.no_space else 1
        top_at = {n * scale: n for n in top}
        dup_at = {n * scale: n for n in dup}
        lens = doc.word_lengths
        total = float(lens.sum()) or 1.0
        csum = np.concatenate(([0], np.cumsum(lens)))
        h = np.array(list(map(hash, words)), dtype=np.int64).view(np.uint64)
        pos = np.arange(W - 1)
        g = h[:-1]
        for n in range(2, max([*top_at, *dup_at]) + 1):
            ok = pos + (n - 1) < W
            if not ok.all():
                pos, g = pos[ok], g[ok]
            if len(pos) < 2:
                break
            g = g * _MULT + h[pos + (n - 1)]
            order, new, starts, sizes = _group(g)
            if n in top_at:
                k = top_at[n]
                frac = _top_frac(pos, order, starts, sizes, csum, n, total)
                trip = _measure(sig, f"top_{k}gram_char_frac", frac, top[k], trip)
                if trip and not full:
                    return trip
            if n in dup_at:
                k = dup_at[n]
                frac = _dup_frac(pos[order[~new]], lens, W, n, total)
                trip = _measure(sig, f"dup_{k}gram_char_frac", frac, dup[k], trip)
                if trip and not full:
                    return trip
            multi = sizes > 1
            if not multi.any():
                break  # nothing repeats at n, so nothing repeats beyond
            keep = np.empty(len(g), dtype=bool)
            keep[order] = np.repeat(multi, sizes)  # back to position order, no sort
            pos, g = pos[keep], g[keep]
        return trip


def _group(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Equal n-gram hashes side by side with one stable sort: (order, mask of group
    starts in sorted order, group starts, group sizes)."""
    order = np.argsort(g, kind="stable")
    gs = g[order]
    new = np.empty(len(gs), dtype=bool)
    new[0] = True
    np.not_equal(gs[1:], gs[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, len(gs)))
    return order, new, starts, sizes


def _top_frac(pos: np.ndarray, order: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
              csum: np.ndarray, n: int, total: float) -> float | None:
    """Characters covered by the most frequent n-gram; None when no n-gram repeats."""
    c = int(sizes.max())
    if c <= 1:
        return None
    # Among equally frequent n-grams take the longest: the result must not
    # depend on hash order (str hashes differ between processes).
    first = pos[order[starts[sizes == c]]]
    return c * float((csum[first + n] - csum[first]).max()) / total


def _dup_frac(later: np.ndarray, lens: np.ndarray, W: int, n: int, total: float) -> float | None:
    """Characters inside any copy of a repeated n-gram after its first (``later``: where
    those copies start); None when nothing repeats."""
    if not len(later):
        return None
    cover = np.bincount(later, minlength=W + 1) - np.bincount(later + n, minlength=W + 1)
    return float(lens[np.cumsum(cover[:W]) > 0].sum()) / total


def _measure(sig: dict, name: str, frac: float | None, limit: float, trip):
    """Store a measured fraction; the first one over its limit becomes the trip."""
    if frac is None:
        return trip
    sig[name] = frac
    if frac > limit:
        trip = trip or (name, frac)
    return trip
