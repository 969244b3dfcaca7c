"""Stage manifests: what ran, on what, with which result — and the books must balance.

Every stage writes ``.manifest.json`` next to its output: config, inputs, outputs with
row counts, counts in / kept / rejected by reason / errors by reason, duration and the
versions of the packages that did the work. ``in == kept + rejected + errors`` always;
a stage whose counts do not add up fails loudly instead of writing a manifest.
"""
from __future__ import annotations

import functools
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

from contract.atomic import write_json_atomic  # noqa: F401  (re-exported: the stages write manifests with it)
from contract.layout import MANIFEST

PACKAGES = ["crawl2tokens", "pyarrow", "warcio", "trafilatura", "lxml", "fasttext-wheel",
            "datasketch", "sentencepiece", "numpy", "ray", "torch", "resiliparse"]


class BalanceError(RuntimeError):
    """Counts in != kept + rejected + errors: some document went missing."""


def package_versions() -> dict[str, str]:
    """The versions every manifest records (a copy: the caller may change it)."""
    return dict(_package_versions())


@functools.lru_cache(maxsize=1)
def _package_versions() -> dict[str, str]:
    """Looked up once per process (~10 ms: each lookup scans the installed distributions)."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def empty_counts() -> dict:
    return {"in": 0, "kept": 0, "rejected": {}, "errors": {}}


def add_counts(total: dict, part: dict) -> dict:
    """Add one part's counts into a running total (in place) and return the total."""
    total["in"] += int(part.get("in", 0))
    total["kept"] += int(part.get("kept", 0))
    for key in ("rejected", "errors"):
        for reason, n in (part.get(key) or {}).items():
            total[key][reason] = total[key].get(reason, 0) + int(n)
    return total


def check_balance(counts: dict, where: str) -> None:
    rejected = sum(counts["rejected"].values())
    errors = sum(counts["errors"].values())
    if counts["in"] != counts["kept"] + rejected + errors:
        raise BalanceError(
            f"{where}: counts do not balance: in={counts['in']} but kept={counts['kept']} "
            f"+ rejected={rejected} + errors={errors} = {counts['kept'] + rejected + errors}")


def read_manifest(stage_directory: str | os.PathLike) -> dict | None:
    path = Path(stage_directory) / MANIFEST
    if not path.exists():
        return None
    return json.loads(path.read_text())


def command_line() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
