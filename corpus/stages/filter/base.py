"""What every document filter shares: a document view that splits words and lines once,
and a small Filter base class that reads its thresholds from the pipeline YAML.

A filter looks at one :class:`Doc`, writes its signals (the measured values) into a
dict, and returns the first rule that tripped as ``(rule, value)`` or ``None``. In
``full`` mode (annotate) it measures every signal even after a rule tripped, so users
can pick thresholds afterwards; in drop mode it stops at the first trip (cheaper).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ...core.settings import Section, boolean, languages
from . import words as W


class Doc:
    """One document as the filters see it; the split forms are computed on first use."""

    __slots__ = ("text", "url", "language", "language_score", "_words", "_lens", "_lines")

    def __init__(self, text: str, url: str = "", language: str = "", language_score: float = 0.0):
        self.text = text or ""
        self.url = url or ""
        self.language = language or ""
        self.language_score = language_score
        self._words = None
        self._lens = None
        self._lines = None

    @property
    def no_space(self) -> bool:
        return W.is_no_space(self.language)

    @property
    def words(self) -> list[str]:
        if self._words is None:
            self._words = W.words(self.text)
        return self._words

    @property
    def word_lengths(self) -> np.ndarray:
        if self._lens is None:
            w = self.words
            self._lens = np.array(list(map(len, w)), dtype=np.int64)
        return self._lens

    @property
    def lines(self) -> list[str]:
        """Non-empty lines (runs of newlines split once, as in datatrove's newer filters)."""
        if self._lines is None:
            self._lines = [ln for ln in self.text.split("\n") if ln and not ln.isspace()]
        return self._lines

    def set_text(self, text: str) -> None:
        """Replace the text (line-level cleaning) and forget the split forms."""
        self.text = text
        self._words = self._lens = self._lines = None


ENABLED = boolean(True, in_defaults=False)     # every filter can be switched off ...
LANGUAGES = languages("all")                   # ... or limited to some languages


def rule_section(keys: dict) -> Section:
    """A filter's settings: its own keys plus ``enabled`` and ``languages``."""
    return Section({**keys, "enabled": ENABLED, "languages": LANGUAGES})


class Filter:
    """A switchable document filter; ``defaults`` are the published values, declared
    with their limits in its ``schema`` (``stages.filter.<name>``)."""

    name = ""          # the key of its block in the YAML
    reason = ""        # the reject reason code
    schema = rule_section({})
    defaults: dict[str, Any] = {}

    def __init__(self, params: dict | None = None):
        params = dict(params or {})
        self.schema.check(params, f"stages.filter.{self.name}")
        self.enabled = bool(params.pop("enabled", True))
        langs = params.pop("languages", "all")
        self.languages = None if langs in (None, "all") else frozenset(
            [langs] if isinstance(langs, str) else langs)
        self.p = {**self.defaults, **params}

    def applies_to(self, doc: Doc) -> bool:
        return self.enabled and (self.languages is None or doc.language in self.languages)

    def signal_fields(self) -> list[pa.Field]:
        """The columns this filter adds (null where not measured)."""
        return []

    def check(self, doc: Doc, sig: dict, full: bool = False) -> tuple[str, float] | None:
        raise NotImplementedError


def ratio(num: float, den: float) -> float:
    return float(num) / den if den else 0.0
