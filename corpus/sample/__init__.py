"""The embedded sample crawl: a deterministic, realistic set of WARC files plus truth.json.

``generate_sample(out_dir, seed=0)`` writes ``sample-00000.warc.gz`` ... and ``truth.json``
(the right answer for every record and page). See docs/sample.md.
"""
from __future__ import annotations

from pathlib import Path

from .generate import VERSION, generate


def generate_sample(out_dir, seed: int = 0, pages: int = 2000) -> Path:
    """Write the sample crawl into ``out_dir`` and return the path of its truth.json."""
    return generate(Path(out_dir), seed=seed, pages=pages)


__all__ = ["generate_sample", "VERSION"]
