"""A stage's output folder: what in it the project wrote, how a new output replaces an old
one, and the lock that keeps two runs off the same output root.

The runner never removes a folder wholesale: users keep notes, or even inputs, beside the
output, so only files matching :data:`COMMON` or the stage's ``owns`` patterns (what it
writes) are ever removed. A rerun with new settings builds beside the old output, in
``<output>/.<stage dir>.new``, and :func:`swap_in` moves it into place only once it is
complete.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import socket
from contextlib import contextmanager
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterable, Iterator

from . import fs, registry
from .manifest import command_line
from ..crawl.inputs import InputError, is_remote
from contract.layout import LEGACY, MANIFEST, REJECTED

#: Files every stage writes (relative to its folder); temporaries ``.NAME.tmp-PID`` anywhere.
COMMON = (MANIFEST, ".parts/_fingerprint", ".parts/*.json", ".parts/*.attempt-*", *LEGACY,
          "part-*.parquet", f"{REJECTED}/part-*.parquet")

STAGING_SUFFIX = ".new"
#: In a staging folder: the old output's files are already gone (a swap was under way).
CLEARED = ".cleared"
LOCK_FILE = ".lock"


class OutputBusy(RuntimeError):
    """Another run holds the output root's lock."""


def _patterns(stage_directory: Path, owns: tuple[str, ...] | None) -> tuple[str, ...]:
    if owns is None:  # the stage is known by its folder's name
        cls = registry.by_folder(Path(stage_directory).name)
        owns = cls.owns if cls is not None else ()
    return COMMON + tuple(owns)


def _match(rel: tuple[str, ...], pattern: str, prefix: bool = False) -> bool:
    parts = pattern.split("/")
    if prefix:  # a folder on the way to files of this pattern
        parts = parts[:len(rel)] if len(rel) < len(parts) else []
    return len(parts) == len(rel) and all(fnmatchcase(r, p) for r, p in zip(rel, parts))


def is_owned(stage_directory: Path, path: Path, owns: tuple[str, ...] | None = None) -> bool:
    """True for a file the stage (or a killed run's temporary) wrote; ``owns`` is the
    stage's own patterns (``Stage.owns``; None: those of the stage writing that folder)."""
    rel = Path(path).relative_to(stage_directory).parts
    if rel and fnmatchcase(rel[-1], ".*.tmp-*"):
        return True
    return any(_match(rel, p) for p in _patterns(stage_directory, owns))


def clear_owned(stage_directory: Path, owns: tuple[str, ...] | None = None) -> None:
    """Remove the stage's files, then the folders it made that are left empty; anything
    else (a user's notes, an input) stays where it is."""
    d = Path(stage_directory)
    if not d.is_dir():
        return
    patterns = _patterns(d, owns)
    for p in sorted(d.rglob("*"), reverse=True):  # children before their folder
        rel = p.relative_to(d).parts
        if p.is_file() or p.is_symlink():
            if is_owned(d, p, owns):
                p.unlink()
        elif p.is_dir() and not any(p.iterdir()) and any(_match(rel, pat, prefix=True)
                                                         for pat in patterns):
            p.rmdir()


def staging_dir(stage_directory: Path) -> Path:
    d = Path(stage_directory)
    return d.with_name(f".{d.name}{STAGING_SUFFIX}")


def merge_into(src: Path, dst: Path, skip: Iterable[str] = ()) -> None:
    """Move ``src``'s entries into ``dst`` (``.manifest.json`` last, so the output is
    complete once it appears) and remove ``src`` less the ``skip`` names."""
    skip = set(skip)
    dst.mkdir(parents=True, exist_ok=True)
    for entry in sorted(src.iterdir(), key=lambda e: (e.name == MANIFEST, e.name)):
        if entry.name in skip:
            continue
        target = dst / entry.name
        if entry.is_dir() and target.is_dir():
            merge_into(entry, target)
            entry.rmdir()
        elif target.is_dir() or (entry.is_dir() and target.exists()):
            raise InputError(f"cannot move {entry} into place: {target} is in the way")
        else:
            os.replace(entry, target)


def swap_in(staging: Path, final: Path, owns: tuple[str, ...] | None = None) -> None:
    """Replace the old output in ``final`` by the complete one in ``staging``. Safe to
    repeat after a kill: ``CLEARED`` says the old files are already gone."""
    cleared = staging / CLEARED
    if final.exists() and not cleared.exists():
        clear_owned(final, owns)
        cleared.touch()
    if final.is_dir() and not any(final.iterdir()):
        final.rmdir()
    if not final.exists():  # nothing of the user's in the way: one rename
        cleared.unlink(missing_ok=True)
        os.rename(staging, final)
        return
    merge_into(staging, final, skip={CLEARED})
    cleared.unlink(missing_ok=True)
    staging.rmdir()


def remove_staging(staging: Path) -> None:
    """A staging folder is the runner's own, made for a run now abandoned."""
    if staging.exists():
        shutil.rmtree(staging)


def check_inputs_outside(stage_name: str, inputs: Iterable[str], folders: Iterable[Path]) -> None:
    """Refuse an input that lies inside a folder the stage may clear."""
    folders = [Path(f).resolve() for f in folders]
    for src in inputs:
        if is_remote(str(src)):
            continue
        p = Path(os.path.expanduser(str(src))).resolve()
        for f in folders:
            if p == f or f in p.parents:
                raise InputError(f"{stage_name}: input {src} lies inside {f}, the stage's output "
                                 f"folder; move it out of there")


# --- one run per output root ----------------------------------------------------------

_held: dict[str, list] = {}  # resolved root -> [fd, depth]: re-entrant within a process


@contextmanager
def output_lock(root: str | os.PathLike, command: str = "") -> Iterator[None]:
    """Hold ``<root>/.lock`` (flock, not waiting) while writing under ``root``; the file
    says who holds it, and a second run fails at once with :class:`OutputBusy`."""
    root = Path(root)
    key = str(root.resolve())
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        raise OutputBusy(f"output {root} is in use by {holder}; wait for that run to end "
                         f"or choose another --output") from None
    if not command:
        command = command_line()
    since = datetime.now(timezone.utc).isoformat(timespec="seconds")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {since} "
                  f"({command})\n".encode(), 0)
    _held[key] = [fd, 1]
    try:
        remote = fs.remote_for(str(root))
        if remote is None:
            yield
        else:  # a URL output: its own lock, then the mirror starts as what the URL holds
            with fs.remote_lock(remote, command, OutputBusy):
                remote.pull("", fs.small_files)  # the data: where it is read (runner._hold)
                yield
    finally:
        del _held[key]
        os.close(fd)  # releases the lock; the file stays (removing it would race a waiter)
