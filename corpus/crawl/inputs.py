"""Where crawl files come from: local paths and globs, http(s)/s3 URLs, Common Crawl path lists.

Remote files are streamed (fsspec), never downloaded whole first. A Common Crawl
``warc.paths.gz`` list names files relative to the crawl's host; we prefix them and
take the first ``limit``. Any stage or tool that needs to read a crawl file (or one
record of it, by byte range) uses :func:`open_input` / :func:`read_range` here.
"""
from __future__ import annotations

import errno
import glob
import gzip
import os
import re
from typing import BinaryIO

#: Where Common Crawl path lists point (their lines are relative to this).
COMMONCRAWL_PREFIX = "https://data.commoncrawl.org/"

#: What a directory given as input contributes.
CRAWL_SUFFIXES = (".warc.gz", ".warc", ".arc.gz", ".arc", ".wet.gz", ".wat.gz")

REMOTE_SCHEMES = ("http://", "https://", "s3://", "gs://", "gcs://", "hf://")

#: Seconds an http(s) input may take to connect, and between two reads, before it fails.
HTTP_TIMEOUT_S = 60.0


class InputError(RuntimeError):
    """An input that cannot be used; the message names it (the CLI exits 3). ``cause`` is
    the reason alone, for messages that name the input themselves."""

    def __init__(self, message: str, cause: str | None = None):
        super().__init__(message)
        self.cause = cause or message


def _is_http(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _http_options(source: str, timeout: float | None) -> dict:
    """fsspec options bounding connect and each read of an http(s) input: without them
    aiohttp waits 5 minutes per request on a server that accepts and never answers."""
    if not _is_http(source) or not timeout:
        return {}
    import aiohttp  # heavy: loaded only for http(s) inputs

    t = float(timeout)
    return {"client_kwargs": {"timeout": aiohttp.ClientTimeout(total=None, connect=t,
                                                               sock_connect=t, sock_read=t)}}


def describe_error(err: BaseException, timeout: float | None = HTTP_TIMEOUT_S) -> str:
    """The true cause of an open/read failure. fsspec turns any failure of its HEAD/GET
    probe into FileNotFoundError; the cause is further down the exception chain."""
    try:
        from aiohttp import ClientResponseError  # heavy: loaded only to explain a failure
    except ImportError:  # pragma: no cover - fsspec's http needs aiohttp
        ClientResponseError = ()  # noqa: N806
    chain: list[BaseException] = []
    e: BaseException | None = err
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    for e in chain:
        if isinstance(e, ClientResponseError):
            if e.status == 404:
                return "not found (HTTP 404)"
            return f"HTTP {e.status} {e.message or ''}".strip()
    for e in chain:
        if isinstance(e, TimeoutError):
            return f"timed out after {timeout:g} s (http_timeout_s)" if timeout else "timed out"
    for e in chain:
        if isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
    while isinstance(err, FileNotFoundError) and err.__cause__ is not None:
        err = err.__cause__  # fsspec's wrapper says nothing; what it wraps does
    if isinstance(err, FileNotFoundError):
        return "not found"
    return f"{type(err).__name__}: {err}"


# A file name that is not valid UTF-8 reaches Python with its bad bytes as surrogates, which
# JSON-as-UTF-8 and Parquet cannot hold: we store each such byte as the text \xNN instead.
_ESCAPED_BYTE = re.compile(rb"\\x([89a-f][0-9a-f])")


def safe_name(path: str) -> str:
    """``path`` with the bytes of a non-UTF-8 file name written as ``\\xNN`` (readable, storable)."""
    try:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that did not come from a file name
        return path.encode("utf-8", "backslashreplace").decode("utf-8")


def local_path(name: str) -> str:
    """The file a stored name (see :func:`safe_name`) stands for."""
    if "\\x" not in name or os.path.lexists(name):
        return name
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:
        return name
    return os.fsdecode(_ESCAPED_BYTE.sub(lambda m: bytes([int(m.group(1), 16)]), raw))


def is_remote(source: str) -> bool:
    return source.startswith(REMOTE_SCHEMES)


def is_path_list(source: str) -> bool:
    """Common Crawl lists: ``warc.paths.gz``, ``wet.paths.gz``, ``*.paths`` (one path a line)."""
    name = source.rsplit("/", 1)[-1]
    return name.endswith((".paths.gz", ".paths", ".paths.txt"))


def _has_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def read_path_list(source: str, prefix: str = COMMONCRAWL_PREFIX, limit: int | None = None,
                   timeout: float | None = HTTP_TIMEOUT_S) -> list[str]:
    """The first ``limit`` entries of a path list, made absolute with ``prefix``."""
    with open_input(source, timeout=timeout) as fh:
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    out = []
    for line in raw.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not (is_remote(line) or os.path.isabs(line)):
            line = prefix.rstrip("/") + "/" + line.lstrip("/") if prefix else line
        out.append(line)
        if limit is not None and len(out) >= limit:
            break
    return out


def resolve_inputs(patterns: list[str], prefix: str = COMMONCRAWL_PREFIX,
                   paths_limit: int | None = None,
                   timeout: float | None = HTTP_TIMEOUT_S) -> list[str]:
    """Expand globs and path lists into an ordered, de-duplicated list of sources.

    An input that yields nothing (none given, a missing path, a glob or directory with no
    crawl file, an empty path list) raises :class:`InputError` naming it: a typo must stop
    the run, not give an empty corpus. Local paths become absolute so provenance
    (``source``) re-opens from anywhere; non-UTF-8 names come back as :func:`safe_name`.
    """
    if not patterns:
        raise InputError("no inputs given (set `inputs:` in the pipeline or pass --input)")
    out: list[str] = []
    for pattern in patterns:
        pattern = str(pattern)
        if is_path_list(pattern):
            out.extend(_expand_path_list(pattern, prefix, paths_limit, timeout))
        elif is_remote(pattern):
            out.extend(_expand_remote(pattern))
        else:
            out.extend(_expand_local(pattern))
    seen: set[str] = set()
    return [s for s in out if not (s in seen or seen.add(s))]


def _expand_path_list(pattern: str, prefix: str, paths_limit: int | None,
                      timeout: float | None) -> list[str]:
    """The files a Common Crawl path list names; an unreadable or empty list is an InputError."""
    shown = safe_name(pattern)
    try:
        found = read_path_list(pattern, prefix, paths_limit, timeout)
    except (OSError, InputError) as err:
        cause = err.cause if isinstance(err, InputError) else describe_error(err, timeout)
        raise InputError(f"cannot read the path list {shown}: {cause}") from err
    if not found:
        raise InputError(f"the path list {shown} names no files")
    return found


def _expand_remote(pattern: str) -> list[str]:
    """A URL as given, or the files an s3/gs glob matches (http has no listing to glob)."""
    if not _has_glob(pattern) or _is_http(pattern):
        return [pattern]
    import fsspec  # heavy: loaded only for remote inputs

    try:
        fs, _, paths = fsspec.get_fs_token_paths(pattern)
    except Exception:  # reported as a fault of this pattern when it is read
        return [pattern]
    if not paths:
        raise InputError(f"input {safe_name(pattern)}: no file matches this pattern")
    proto = pattern.split("://", 1)[0]
    return sorted(f"{proto}://{p}" for p in paths)


def _expand_local(pattern: str) -> list[str]:
    """A local file, glob or directory (its crawl files) as absolute, storable names."""
    return expand_local(pattern, CRAWL_SUFFIXES, "crawl file")


def expand_local(pattern: str, suffixes: tuple[str, ...], what: str, recursive: bool = False) -> list[str]:
    """A local file, glob or directory (the files in it ending in ``suffixes``, in every
    subfolder but hidden ones when ``recursive``) as absolute, storable names."""
    shown = safe_name(pattern)
    pattern = os.path.expanduser(pattern)
    if os.path.isdir(pattern):
        listing = os.path.join(pattern, "**", "*") if recursive else os.path.join(pattern, "*")
        matches = sorted(p for p in glob.glob(listing, recursive=recursive)
                         if p.endswith(suffixes) and "/." not in p[len(pattern):])
        if not matches:
            raise InputError(f"input {shown}: directory holds no {what} ({', '.join(suffixes)})")
    elif _has_glob(pattern):
        matches = sorted(glob.glob(pattern, recursive=recursive))
        if not matches:
            raise InputError(f"input {shown}: no file matches this pattern")
    elif os.path.exists(pattern):
        matches = [pattern]
    else:
        raise InputError(f"input {shown}: no such file")
    return [safe_name(os.path.abspath(m)) for m in matches]


def _remote_error(source: str, err: Exception, timeout: float | None) -> InputError:
    if isinstance(err, ImportError):  # s3:// without s3fs, gs:// without gcsfs...
        extra = " (pip install 'crawl2tokens[s3]')" if source.startswith("s3://") else ""
        cause = f"no filesystem for this URL scheme{extra}: {err}"
    else:  # network, HTTP status, permissions, bad URL
        cause = describe_error(err, timeout)
    return InputError(f"{source}: cannot open: {cause}", cause)


def open_input(source: str, block_size: int = 1 << 20,
               timeout: float | None = HTTP_TIMEOUT_S) -> BinaryIO:
    """A binary stream of a local file or URL (remote: streamed in blocks, seekable
    where the server supports byte ranges). A URL that cannot be opened: InputError."""
    if not is_remote(source):
        return open(local_path(source), "rb")
    import fsspec  # heavy: loaded only for remote inputs

    try:  # block_size is an option of the open file (s3fs takes no such filesystem option)
        fs, path = fsspec.core.url_to_fs(source, **_http_options(source, timeout))
        return fs.open(path, "rb", block_size=block_size)
    except Exception as err:
        raise _remote_error(source, err, timeout) from err


def open_stream(source: str, timeout: float | None = HTTP_TIMEOUT_S) -> BinaryIO:
    """A forward-only stream of a whole file: for remote files, one plain GET (no
    range requests), so any HTTP server works."""
    if not is_remote(source):
        return open(local_path(source), "rb")
    if _is_http(source):
        import fsspec  # heavy: loaded only for remote inputs

        try:
            return fsspec.open(source, "rb", block_size=0, **_http_options(source, timeout)).open()
        except Exception as err:
            raise _remote_error(source, err, timeout) from err
    return open_input(source, timeout=timeout)


def probe_ranges(source: str, n: int = 1 << 16,
                 timeout: float | None = HTTP_TIMEOUT_S) -> tuple[int, bytes] | None:
    """``(size, first n bytes)`` when a remote file can be read at any offset (the server
    honours byte ranges); None when it must be read as one stream. InputError when it
    cannot be opened at all, so the caller need not wait on it a second time."""
    fh = open_input(source, block_size=n, timeout=timeout)
    try:
        with fh:
            size = fh.size
            head = fh.read(n)
            if size and size > n:
                fh.seek(size - 1)
                if len(fh.read(1)) != 1:
                    return None
            return int(size), head
    except Exception:  # no ranges or no size: read it as one stream
        return None


def file_size(source: str, timeout: float | None = HTTP_TIMEOUT_S) -> int | None:
    """Size in bytes, or None when unknown (remote without a size)."""
    if not is_remote(source):
        return os.path.getsize(local_path(source))
    import fsspec  # heavy: loaded only for remote inputs

    fs, path = fsspec.core.url_to_fs(source, **_http_options(source, timeout))
    return fs.size(path)


def read_range(source: str, offset: int, length: int,
               timeout: float | None = HTTP_TIMEOUT_S) -> bytes:
    """``length`` bytes at ``offset`` (a record's provenance) from a file or URL.

    Remote: a ranged request; a server that ignores ranges is read from the start."""
    if not is_remote(source):
        with open(local_path(source), "rb") as fh:
            fh.seek(offset)
            return fh.read(length)
    import fsspec  # heavy: loaded only for remote inputs

    fs, path = fsspec.core.url_to_fs(source, **_http_options(source, timeout))
    try:
        data = fs.cat_file(path, start=offset, end=offset + length)
        if len(data) == length:
            return data
    except Exception:
        pass
    with open_stream(source, timeout) as fh:  # no range support: skip forward
        skip = offset
        while skip > 0:
            got = fh.read(min(skip, 1 << 20))
            if not got:
                break
            skip -= len(got)
        return fh.read(length)


def head_bytes(source: str, n: int = 4096) -> bytes:
    with open_stream(source) as fh:
        return fh.read(n)


__all__ = ["COMMONCRAWL_PREFIX", "HTTP_TIMEOUT_S", "InputError", "describe_error", "safe_name",
           "local_path", "is_remote", "is_path_list", "read_path_list", "resolve_inputs",
           "open_input", "open_stream", "probe_ranges", "file_size", "read_range", "head_bytes"]
