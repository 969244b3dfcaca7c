"""Dedup: exact (URL, normalised text) and MinHash LSH near-duplicate removal, plus
decontamination against evaluation sets. ``stage.py`` shows how the parts fit; the
algorithm modules (shingles, minhash, lsh, unionfind, exact, decontam) import without
it, so benchmarks and tests can use them alone."""
from __future__ import annotations

__all__ = ["DedupStage"]


def __getattr__(name: str):
    if name == "DedupStage":
        from .stage import DedupStage  # heavy: the stage and its runner load only when asked for
        return DedupStage
    raise AttributeError(name)
