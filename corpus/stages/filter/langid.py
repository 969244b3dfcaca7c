"""Language identification with fastText lid.176 (the model FineWeb, DCLM and CCNet use).

Texts are predicted in batches (one C++ call for many documents; also the only form
that works with fasttext-wheel 0.9.2 on NumPy 2) with newlines replaced by spaces
(fastText predicts one line). Long texts are cut to ``max_chars``: the language of a
page is settled well before its ten-thousandth character, and prediction cost grows
with length. The model is loaded once per worker process.
"""
from __future__ import annotations

import os
from typing import Sequence

from ...core.resources import lid_model_path
from ...core.settings import fraction, integer, string
from .base import Doc, Filter, rule_section

_MODELS: dict[str, object] = {}


def load_model(path: str | os.PathLike | None = None):
    """The fastText model at ``path`` (default: lid.176), cached per process."""
    import fasttext  # heavy: loaded only when a worker predicts languages

    if path is None:
        path = lid_model_path()
    key = str(path)
    model = _MODELS.get(key)
    if model is None:
        if not os.path.isfile(key):
            raise FileNotFoundError(f"fastText model not found: {key}")
        fasttext.FastText.eprint = lambda *a, **k: None  # silence the load-time warning
        model = _MODELS[key] = fasttext.load_model(key)
    return model


_NEWLINES = str.maketrans({"\n": " ", "\r": " "})


def prepare(text: str, max_chars: int) -> str:
    """One line of at most ``max_chars`` characters."""
    if max_chars and len(text) > max_chars:
        text = text[:max_chars]
    return text.translate(_NEWLINES)


def predict(texts: Sequence[str], model_path: str | None = None, max_chars: int = 2000,
            prefix: str = "__label__") -> tuple[list[str], list[float]]:
    """Top language and its probability for each text (``""``, 0.0 for an empty text)."""
    model = load_model(model_path)
    lines = [prepare(t or "", max_chars) for t in texts]
    idx = [i for i, line in enumerate(lines) if line.strip()]
    langs = [""] * len(lines)
    scores = [0.0] * len(lines)
    if idx:
        labels, probs = model.predict([lines[i] for i in idx], k=1)
        n = len(prefix)
        for i, lab, prob in zip(idx, labels, probs):
            if lab:
                langs[i] = lab[0][n:] if lab[0].startswith(prefix) else lab[0]
                scores[i] = min(1.0, float(prob[0]))
    return langs, scores


class LanguageFilter(Filter):
    """Keep documents whose top language is in ``languages`` (or any, with ``all``) and
    whose score reaches ``threshold`` (0.65: datatrove's LanguageFilter and DCLM)."""

    name = "language"
    reason = "lang"
    schema = rule_section({
        "threshold": fraction(0.65),       # datatrove's LanguageFilter and DCLM
        "max_chars": integer(2000, 0),     # characters given to fastText (0 = all)
        "model": string(None, null=True),  # default: lid.176
    })
    defaults = schema.defaults()

    def applies_to(self, doc: Doc) -> bool:
        return self.enabled

    def check(self, doc: Doc, sig: dict, full: bool = False):
        if self.languages is not None and doc.language not in self.languages:
            return (doc.language or "none", doc.language_score)
        if doc.language_score < self.p["threshold"]:
            return (doc.language or "none", doc.language_score)
        return None
