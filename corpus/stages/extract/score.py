"""Score main-text extraction against a snippet truth file (``realweb-dev.truth.json``).

For each page: each ``with`` snippet found in the extracted text is a true positive
(missing: a false negative); each ``without`` snippet found is a false positive.
Plain substring match; a page with no text finds nothing. Same method as the
trafilatura evaluation these pages come from, so figures compare with its own.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ...core.parts import read_table


@dataclass
class Score:
    tp: int
    fn: int
    fp: int
    pages: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __str__(self) -> str:
        return f"F1 {self.f1:.3f} (precision {self.precision:.3f}, recall {self.recall:.3f}, {self.pages} pages)"


def load_truth(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def score(texts: dict[str, str | None], truth: dict) -> Score:
    """``texts`` maps URL -> extracted text (None or missing: nothing extracted)."""
    tp = fn = fp = 0
    for url, expect in truth.items():
        text = texts.get(url) or ""
        for snippet in expect.get("with", []):
            if snippet in text:
                tp += 1
            else:
                fn += 1
        for snippet in expect.get("without", []):
            if snippet in text:
                fp += 1
    return Score(tp, fn, fp, len(truth))


def score_stage_dir(stage_dir: str | Path, truth: dict) -> Score:
    """Score the kept documents of an extract stage directory."""
    table = read_table(stage_dir, columns=["url", "text"])
    texts = dict(zip(table.column("url").to_pylist(), table.column("text").to_pylist())) \
        if table.num_rows else {}
    return score(texts, truth)
