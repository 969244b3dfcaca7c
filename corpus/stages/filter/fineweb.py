"""FineWeb's own quality rules (Penedo et al. 2024, section 3.5 and appendix; datatrove's
FineWebQualityFilter, the code the released dataset was made with).

Remove a document when: the share of lines ending in punctuation is <= 0.12; the share
of lines of at most 30 characters is >= 0.67; the characters in duplicated lines are
>= 0.01 of the text (the code's value; the paper's table says 0.1, see docs/stages/filter.md); there
are more than 0.3 newlines per word (list-like pages; in the code, not the paper).
"""
from __future__ import annotations

import pyarrow as pa

from ...core.settings import boolean, fraction, integer, number
from .base import Doc, Filter, ratio, rule_section
from .c4 import END_PUNCTUATION
from .gopher import _find_duplicates

# FineWeb's stop characters (. ' " ! ?) plus the other scripts' sentence ends.
STOP_CHARS = tuple(dict.fromkeys((".", "'", '"', "!", "?", *END_PUNCTUATION)))


class FineWebQuality(Filter):
    name = "fineweb"
    reason = "fineweb"
    schema = rule_section({
        "min_line_punct_ratio": fraction(0.12, null=True),  # paper and code: remove if ratio <= 0.12
        "line_punct_exclude_zero": boolean(False),  # code: treat ratio 0 as "no signal" when true
        "short_line_length": integer(30, 0),        # paper and code
        "max_short_line_ratio": fraction(0.67, null=True),  # paper and code: remove if ratio >= 0.67
        "max_dup_line_char_ratio": fraction(0.01, null=True),  # code 0.01 (paper table: 0.1)
        "max_newline_word_ratio": number(0.3, 0, null=True),  # code only
    })
    defaults = schema.defaults()

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field(n, pa.float64()) for n in
                ("line_punct_ratio", "short_line_ratio", "dup_line_char_ratio", "newline_word_ratio")]

    def check(self, doc: Doc, sig: dict, full: bool = False):
        p = self.p
        lines = [ln.rstrip() for ln in doc.text.split("\n") if ln.strip()]
        if not lines:
            return ("empty", 0.0)
        trip = None
        n = len(lines)
        punct = sum(1 for ln in lines if ln.endswith(STOP_CHARS)) / n
        sig["line_punct_ratio"] = punct
        thr = p["min_line_punct_ratio"]
        if thr is not None and punct <= thr and not (punct == 0 and p["line_punct_exclude_zero"]):
            trip = trip or ("line_punct_ratio", punct)
            if not full:
                return trip
        short = sum(1 for ln in lines if len(ln) <= p["short_line_length"]) / n
        sig["short_line_ratio"] = short
        if p["max_short_line_ratio"] is not None and short >= p["max_short_line_ratio"]:
            trip = trip or ("short_line_ratio", short)
            if not full:
                return trip
        dup_chars = _find_duplicates(lines)[1]
        dup = ratio(dup_chars, len(doc.text) - doc.text.count("\n"))
        sig["dup_line_char_ratio"] = dup
        if p["max_dup_line_char_ratio"] is not None and dup >= p["max_dup_line_char_ratio"]:
            trip = trip or ("dup_line_char_ratio", dup)
            if not full:
                return trip
        nl = ratio(doc.text.count("\n"), len(doc.words))
        sig["newline_word_ratio"] = nl
        if p["max_newline_word_ratio"] is not None and nl > p["max_newline_word_ratio"]:
            trip = trip or ("newline_word_ratio", nl)
        return trip
