"""Outputs anywhere fsspec reaches (``output: s3://bucket/prefix``), with the local code unchanged.

Stages read and write local paths. A URL output is therefore worked on through a *mirror*:
a private temporary folder that stands for the URL. The driver pulls what the URL holds
into its mirror, workers pull what a task needs into theirs (a worker may be on another
machine: the object store is the only thing they share), and every file the project writes
is published by an upload once it is complete, done markers after the parts they vouch for
and the manifest last. An object store has no rename, so "write under a temporary name,
then publish" is "write locally, then upload the whole file". A local output never comes
here: it stays a plain folder, byte for byte as before.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import socket
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator

from contract.layout import MANIFEST

from ..crawl.inputs import CRAWL_SUFFIXES, InputError, describe_error

LOCK = ".lock"
DONE_DIR = ".parts"
#: Files a worker fetches only when a task names them (the data); everything else is small.
DATA_SUFFIXES = (".parquet", ".arrow", ".npy", *CRAWL_SUFFIXES)
#: Test hook: with ``CORPUS_TEST_FETCH_LOG=FILE`` every data file a pull fetches (or finds
#: already put there by another process of this machine, which a driver on a machine of its
#: own would have fetched) appends a JSON line ``{role, rel, size, how}`` to FILE.
FETCH_LOG = "CORPUS_TEST_FETCH_LOG"


def is_url(path: Any) -> bool:
    """A location fsspec reaches other than a plain local path (``file://`` is local)."""
    text = str(path)
    return "://" in text and not text.startswith("file://")


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and ".tmp-" in name


class Remote:
    """A URL and the local mirror that stands for it in this process; picklable (the
    filesystem is opened again wherever it is used)."""

    def __init__(self, url: str, mirror: str | os.PathLike):
        self.url = url.rstrip("/")
        self.mirror = Path(mirror)
        self._fs = None
        self.synced: dict[str, tuple[int, int]] = {}  # rel -> local (size, mtime_ns) = remote
        self.elsewhere: dict[str, int] = {}  # rel -> size: on the store, not fetched here

    def __getstate__(self):
        return {"url": self.url, "mirror": self.mirror}

    def __setstate__(self, state):
        self.__init__(state["url"], state["mirror"])

    @property
    def fs(self):
        if self._fs is None:
            import fsspec  # heavy: loaded only for URL outputs

            self._fs, self._root = fsspec.core.url_to_fs(self.url)
            self._root = self._root.rstrip("/")
        return self._fs

    def key(self, rel: str) -> str:
        self.fs
        return f"{self._root}/{rel}" if rel else self._root

    def rel(self, local: str | os.PathLike) -> str:
        return Path(local).relative_to(self.mirror).as_posix() if Path(local) != self.mirror else ""

    def public(self, text: str) -> str:
        """A mirror path as the user knows it: under the URL."""
        m = str(self.mirror)
        if text == m or text.startswith(m + "/"):
            return self.url + text[len(m):]
        return text

    def mirror_path(self, text: str) -> str:
        """A path under the URL as the mirror holds it."""
        if text == self.url or text.startswith(self.url + "/"):
            return str(self.mirror) + text[len(self.url):]
        return text

    # --- listing, pulling, pushing ------------------------------------------------------
    def listing(self, prefix: str = "") -> dict[str, int]:
        """``{relative path: size}`` of every object under ``prefix`` (none: {})."""
        base = self.key(prefix)
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return {}
        root = self.key("")
        out = {}
        for path, info in found.items():
            if info.get("type") == "directory":
                continue
            rel = path[len(root):].lstrip("/")
            if rel and rel != LOCK and not _is_temporary(PurePosixPath(rel).name):
                out[rel] = int(info.get("size") or 0)
        return out

    def pull(self, prefix: str = "", want=None, role: str = "driver") -> list[str]:
        """Fetch what the URL holds under ``prefix`` and the mirror lacks (or holds at
        another size); returns what was fetched. Each file lands whole (temp, then rename).
        A file ``want`` declines stays on the store only (:meth:`elsewhere_under` lists it),
        unless a task of this machine already put it here. ``role``: "task" when a task
        fetches its inputs (a worker's work), for the test log."""
        fetched = []
        listed = self.listing(prefix)
        for rel in [r for r in self.elsewhere if _under(r, prefix) and r not in listed]:
            del self.elsewhere[rel]
        for rel, size in sorted(listed.items()):
            local = self.mirror / rel
            here = local.is_file() and local.stat().st_size == size
            if want is not None and not want(rel):
                if not here:
                    self.elsewhere[rel] = size
                    continue
            elif not here:
                local.parent.mkdir(parents=True, exist_ok=True)
                tmp = local.with_name(f".{local.name}.tmp-{os.getpid()}")
                self.fs.get_file(self.key(rel), str(tmp))
                os.replace(tmp, local)
                fetched.append(rel)
                _log_fetch(role, rel, size, "fetched")
            elif rel not in self.synced:
                _log_fetch(role, rel, size, "found")
            self.elsewhere.pop(rel, None)
            st = local.stat()
            self.synced[rel] = (st.st_size, st.st_mtime_ns)
        return fetched

    def elsewhere_under(self, local: str | os.PathLike) -> list[Path]:
        """Mirror paths of the files under ``local`` that the URL holds and this mirror
        does not (data a pull left on the store), so that listings still see them."""
        try:
            base = self.rel(local)
        except ValueError:
            return []
        return [self.mirror / r for r in sorted(self.elsewhere) if _under(r, base) and r != base]

    def upload(self, rels: Iterable[str]) -> None:
        for rel in rels:
            local = self.mirror / rel
            self.fs.put_file(str(local), self.key(rel))
            st = local.stat()
            self.synced[rel] = (st.st_size, st.st_mtime_ns)

    def push(self, prefix: str = "") -> None:
        """Publish the mirror's changes under ``prefix`` since the last pull or push: the
        manifests being replaced go first, then data, done markers, removals, manifests."""
        local = {rel: (st.st_size, st.st_mtime_ns) for rel, st in _files(self.mirror, prefix)}
        under = [r for r in self.synced if not prefix or r == prefix or r.startswith(prefix + "/")]
        removed = [r for r in under if r not in local]
        changed = [r for r, stamp in local.items() if self.synced.get(r) != stamp]
        is_manifest = lambda r: PurePosixPath(r).name == MANIFEST  # noqa: E731
        is_marker = lambda r: DONE_DIR in PurePosixPath(r).parts  # noqa: E731
        self._remove([r for r in removed + changed if is_manifest(r) and r in self.synced])
        self.upload(sorted(r for r in changed if not is_manifest(r) and not is_marker(r)))
        self.upload(sorted(r for r in changed if is_marker(r) and not is_manifest(r)))
        self._remove([r for r in removed if not is_manifest(r)])
        self.upload(sorted(r for r in changed if is_manifest(r)))

    def _remove(self, rels: list[str]) -> None:
        for rel in rels:
            try:
                self.fs.rm_file(self.key(rel))
            except FileNotFoundError:
                pass
            self.synced.pop(rel, None)
            self.elsewhere.pop(rel, None)


def _under(rel: str, prefix: str) -> bool:
    return not prefix or rel == prefix or rel.startswith(prefix + "/")


def small_files(rel: str) -> bool:
    """What a driver fetches of everything the URL holds: all but the data (the parts, the
    crawl), which tasks fetch where they run and a stage's driver only where it reads them."""
    return not rel.endswith(DATA_SUFFIXES)


def held_elsewhere(local: str | os.PathLike) -> list[Path]:
    """Files under ``local`` (a folder of a URL output's mirror) that only the URL holds;
    [] for a local folder."""
    text = str(local)
    for mirror, remote in _remotes.items():
        if text == mirror or text.startswith(mirror + "/"):
            return remote.elsewhere_under(local)
    return []


def open_input(path: str | os.PathLike):
    """``path`` opened for reading: from the mirror, or, for a file of a URL output that the
    mirror does not hold, streamed from the URL (read once, nothing is kept here)."""
    p = Path(path)
    if not p.exists():
        for mirror, remote in _remotes.items():
            if str(p).startswith(mirror + "/"):
                rel = remote.rel(p)
                if rel in remote.elsewhere:
                    _log_fetch("driver", rel, remote.elsewhere[rel], "streamed")
                    return remote.fs.open(remote.key(rel), "rb")
    return p.open("rb")


def _log_fetch(role: str, rel: str, size: int, how: str) -> None:
    log = os.environ.get(FETCH_LOG)
    if log and rel.endswith(DATA_SUFFIXES):
        with open(log, "a") as fh:
            fh.write(json.dumps({"pid": os.getpid(), "role": role, "rel": rel, "size": size,
                                 "how": how}) + "\n")


def _files(root: Path, prefix: str = "") -> Iterator[tuple[str, os.stat_result]]:
    """The mirror's files under ``prefix`` (temporaries and the lock left out)."""
    base = root / prefix if prefix else root
    if base.is_file():
        yield prefix, base.stat()
        return
    for dirpath, _, names in os.walk(base):
        for name in names:
            if _is_temporary(name) or (name == LOCK and Path(dirpath) == root):
                continue
            p = Path(dirpath) / name
            yield p.relative_to(root).as_posix(), p.stat()


def snapshot(root: Path, prefix: str = "") -> dict[str, tuple[int, int]]:
    return {rel: (st.st_size, st.st_mtime_ns) for rel, st in _files(root, prefix)}


# --- which mirror stands for which URL, in this process -------------------------------

_remotes: dict[str, Remote] = {}


#: Beside a driver's mirror (outside it, so never published): "this machine's copy is the
#: driver's own". A machine without it holds only what its tasks fetched and wrote.
DRIVER_MARK = ".driver"


def mirror_for(url: str) -> str:
    """A fresh temporary mirror for ``url`` (removed when this process ends)."""
    url = url.rstrip("/")
    tag = hashlib.sha256(url.encode()).hexdigest()[:8]
    mirror = tempfile.mkdtemp(prefix=f"crawl2tokens-{tag}-")
    Path(mirror + DRIVER_MARK).touch()
    _remotes[mirror] = Remote(url, mirror)
    atexit.register(shutil.rmtree, mirror, True)
    atexit.register(Path(mirror + DRIVER_MARK).unlink, True)
    return mirror


def driver_mirrors() -> list[str]:
    """The mirrors this process made for its URL outputs."""
    return [m for m in _remotes if os.path.exists(m + DRIVER_MARK)]


def drop_worker_copies(mirrors: list[str]) -> list[str]:
    """Run on each node of a cluster once a stage is over: remove what tasks fetched and
    wrote into the driver's mirror paths on a machine that is not the driver's (no driver
    mark), so that worker nodes do not pile up the corpus run after run. Returns what it removed."""
    removed = []
    for mirror in mirrors:
        if os.path.exists(mirror + DRIVER_MARK) or not os.path.isdir(mirror):
            continue
        shutil.rmtree(mirror, ignore_errors=True)
        _remotes.pop(mirror, None)
        removed.append(mirror)
    return removed


def remote_for(config_or_dir: Any) -> Remote | None:
    """The Remote a config (``output_url``) or a mirror folder stands for; None when local."""
    if isinstance(config_or_dir, dict):
        url = config_or_dir.get("output_url")
        if not url:
            return None
        mirror = str(config_or_dir["output"])
        if mirror not in _remotes:  # a worker: the config travelled, the registry did not
            _remotes[mirror] = Remote(url, mirror)
        return _remotes[mirror]
    return _remotes.get(str(config_or_dir))


def public(value: Any, remote: Remote | None) -> Any:
    """``value`` (strings, paths, lists, dicts) with mirror paths written as URLs."""
    if remote is None:
        return value
    if isinstance(value, (str, Path)):
        return remote.public(str(value))
    if isinstance(value, dict):
        return {k: public(v, remote) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [public(v, remote) for v in value]
    return value


def check_writable(remote: Remote) -> None:
    """Fail before any stage runs when the URL cannot be written (probe, then remove)."""
    probe = remote.key(f".corpus-write-check-{os.getpid()}")
    try:
        remote.fs.pipe_file(probe, b"")
        remote.fs.rm_file(probe)
    except Exception as err:  # credentials, no bucket, no network: say which
        raise InputError(f"output {remote.url}: cannot write there ({describe_error(err)})") from err


@contextmanager
def remote_lock(remote: Remote, command: str, busy: type[Exception]) -> Iterator[None]:
    """``<url>/.lock``: an object store has no flock, so the lock is an object saying who
    holds it; a second run refuses while it exists (a killed run's lock is removed by hand)."""
    fs, key = remote.fs, remote.key(LOCK)
    if fs.exists(key):
        holder = fs.cat_file(key).decode("utf-8", "replace").strip() or "another run"
        raise busy(f"output {remote.url} is in use by {holder}; wait for that run to end, or "
                   f"remove {remote.url}/{LOCK} if that run is gone")
    since = datetime.now(timezone.utc).isoformat(timespec="seconds")
    fs.pipe_file(key, f"pid {os.getpid()} on {socket.gethostname()} since {since} "
                      f"({command})\n".encode())
    try:
        yield
    finally:
        try:
            fs.rm_file(key)
        except FileNotFoundError:
            pass


# --- what a worker does around a task ------------------------------------------------

def _named_paths(value: Any, mirror: str, out: set[str]) -> set[str]:
    """Mirror paths named anywhere in a task's arguments."""
    if isinstance(value, (str, Path)):
        s = str(value)
        if s.startswith(mirror + "/"):
            out.add(s[len(mirror) + 1:])
    elif isinstance(value, dict):
        for v in value.values():
            _named_paths(v, mirror, out)
    elif isinstance(value, (list, tuple, set)):
        for v in value:
            _named_paths(v, mirror, out)
    elif hasattr(value, "payload"):  # a Task
        _named_paths(value.payload, mirror, out)
    return out


def hydrate(remote: Remote, args: Any, task_id: str | None = None, prefix: str = "") -> None:
    """Fetch what a task may read into this machine's mirror: the files its arguments name
    (or the folders' contents), the small files (manifests, models, settings) anywhere,
    and, for a stage task, its stage's files named after the task (under ``prefix``, the
    stage's folder: e.g. dedup's ``__index/assign/part-00003.parquet``, not another stage's
    part of that name). The bulk of the data is fetched only when named."""
    named = _named_paths(args, str(remote.mirror), set())

    def want(rel: str) -> bool:
        p = PurePosixPath(rel)
        if any(rel == n or rel.startswith(n.rstrip("/") + "/") for n in named):
            return True
        if (task_id and p.name.startswith(task_id + ".") and DONE_DIR not in p.parts
                and _under(rel, prefix)):
            return True
        return DONE_DIR not in p.parts and not p.name.endswith(DATA_SUFFIXES)

    remote.pull("", want, role="task")


def publish_new(remote: Remote, before: dict[str, tuple[int, int]], prefix: str) -> None:
    """Upload what appeared or changed under ``prefix`` since ``before``: data first, then
    done markers (a marker on the store vouches for files already there)."""
    after = snapshot(remote.mirror, prefix)
    changed = [r for r, stamp in after.items() if before.get(r) != stamp]
    remote.upload(sorted(r for r in changed if DONE_DIR not in PurePosixPath(r).parts))
    remote.upload(sorted(r for r in changed if DONE_DIR in PurePosixPath(r).parts))


def call_with_remote(remote: Remote, prefix: str, fn, *args):
    """Run ``fn(*args)`` in a worker of a URL output: fetch its inputs, then publish what it
    wrote under ``prefix`` (the stage's folder)."""
    hydrate(remote, args)
    before = snapshot(remote.mirror, prefix)
    result = fn(*args)
    publish_new(remote, before, prefix)
    return result
