"""Files appear whole or not at all: written under a hidden temporary name, then renamed.

One naming convention (``.NAME.tmp-PID``) for everything the corpus writes, so a crash never
leaves half a file in place and :func:`sweep_temporaries` recognises what a killed run left.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


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


def sweep_temporaries(directory: Path) -> None:
    """Remove temporary files a killed run left behind (a SIGKILL gives no chance to clean up)."""
    for tmp in Path(directory).rglob(".*.tmp-*"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
