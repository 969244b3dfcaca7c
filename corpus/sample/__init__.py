"""The embedded sample crawl: a deterministic, realistic set of WARC files plus truth.json.

``generate_sample(out_dir, seed=0)`` writes ``sample-00000.warc.gz`` ... and ``truth.json``
(the right answer for every record and page). See docs/sample.md.

The generator (``.generate``, ~60 ms of imports) loads on first use of ``generate_sample``
or ``VERSION``, not with the package: every ``corpus`` command imports ``corpus.sample.cli``
to build its parser.
"""
from __future__ import annotations

from pathlib import Path


def generate_sample(out_dir, seed: int = 0, pages: int = 2000) -> Path:
    """Write the sample crawl into ``out_dir`` and return the path of its truth.json."""
    from .generate import generate  # heavy: the generator loads only when a crawl is written

    return generate(Path(out_dir), seed=seed, pages=pages)


def __getattr__(name: str):
    """``VERSION`` comes from the generator, loaded only when it is asked for."""
    if name == "VERSION":
        from .generate import VERSION  # heavy: the generator loads only when asked for

        return VERSION
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["generate_sample", "VERSION"]
