"""Score documents with a fastText quality classifier (DCLM-style) and keep the best.

The model is one trained by ``corpus quality-train`` (or any fastText supervised
model): ``score`` is its probability for the positive label. Keep documents scoring
at least ``threshold``, or, with ``top_fraction``, the best fraction of the corpus
(the cut-off is computed over every document the earlier filters kept, before the
map; see ``FilterStage.prepare``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa

from . import words as W
from ...core.settings import Key, Section, fraction, integer, number, string
from .base import LANGUAGES, Filter
from .langid import load_model

POSITIVE = "__label__hq"
NEGATIVE = "__label__lq"


def normalise(text: str, max_chars: int = 20000) -> str:
    """The classifier's view of a text: lower-cased words (CJK per character), one line."""
    if max_chars and len(text) > max_chars:
        text = text[:max_chars]
    return " ".join(W.words(text.lower()))


def score(model, texts: Sequence[str], label: str = POSITIVE, max_chars: int = 20000) -> np.ndarray:
    """Probability of ``label`` for each text (batched fastText call; binary models)."""
    if not texts:
        return np.zeros(0)
    lines = [normalise(t or "", max_chars) for t in texts]
    idx = [i for i, line in enumerate(lines) if line]  # an empty text scores 0
    out = np.zeros(len(lines))
    if not idx:
        return out
    # k=1 only: fasttext-wheel 0.9.2's batch predict returns the top probability for
    # every label when k > 1. For a two-label model P(other) = 1 - P(top).
    labels, probs = model.predict([lines[i] for i in idx], k=1)
    for i, labs, ps in zip(idx, labels, probs):
        if labs:
            p = min(1.0, float(ps[0]))
            out[i] = p if labs[0] == label else 1.0 - p
    return out


def _quality_rule(s: dict) -> tuple[str, str] | None:
    if s.get("enabled") and not s.get("model"):
        return "model", "the quality classifier is enabled but no model path is given"
    return None


class QualityClassifier(Filter):
    name = "quality_classifier"
    reason = "quality_classifier"
    schema = Section({
        "model": string(None, null=True),    # a fastText .bin from `corpus quality-train`
        "label": string("__label__hq"),      # the label whose probability is the score
        "threshold": fraction(0.5, null=True),  # keep score >= threshold ...
        "top_fraction": number(None, 0, 1, lo_open=True, null=True),  # ... or this best fraction
        "max_chars": integer(20000, 0),
        # default: on when a model is given
        "enabled": Key(None, "true or false", lambda v: v is None or isinstance(v, bool), False),
        "languages": LANGUAGES,
    }, _quality_rule)
    defaults = schema.defaults()

    def __init__(self, params: dict | None = None):
        params = dict(params or {})
        params.setdefault("enabled", params.get("model") is not None)
        super().__init__(params)

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field("quality_score", pa.float64())]

    def model(self):
        return load_model(self.p["model"])

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return score(self.model(), texts, self.p["label"], self.p["max_chars"])
