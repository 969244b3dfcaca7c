"""JSON Lines: one reader and one writer for every JSONL file the project takes or makes.

A bad line raises :class:`JsonlError` whose message starts with ``path:line:``, so the
user can open the file at the line; blank lines are skipped. The writer is atomic.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from .atomic import atomic_path


class JsonlError(ValueError):
    """A line of a JSONL file that cannot be used; says where and why."""

    def __init__(self, path: str | os.PathLike, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem


def read_jsonl(path: str | os.PathLike, *, objects: bool = True,
               numbered: bool = False) -> Iterator[Any]:
    """Each line's value, in order (``(line number, value)`` with ``numbered``).

    ``objects``: every line must be a JSON object (else :class:`JsonlError`); pass False
    to accept any JSON value. Bytes that are not UTF-8 are an error of their line too.
    """
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise JsonlError(path, lineno, f"not UTF-8 ({err.reason} at byte {err.start})") from None
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                raise JsonlError(path, lineno, f"not valid JSON ({err.msg}, column {err.colno})") from None
            if objects and not isinstance(value, dict):
                raise JsonlError(path, lineno, f"expected a JSON object, got {type(value).__name__}")
            yield (lineno, value) if numbered else value


def write_jsonl(rows: Iterable[Any], path: str | os.PathLike) -> Path:
    """One JSON value per line (UTF-8, not ASCII-escaped), written atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with tmp.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
