"""Files appear whole or not at all: written under a hidden temporary name, then renamed.

One naming convention (``.NAME.tmp-PID``) for everything the project writes, so a crash never
leaves half a file in place and :func:`sweep_temporaries` recognises what a killed run left.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def sweep_temporaries(directory: Path) -> None:
    """Remove temporary files a killed run left behind (a SIGKILL gives no chance to clean up)."""
    for tmp in Path(directory).rglob(".*.tmp-*"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
