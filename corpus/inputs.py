"""Where crawl files come from: local paths and globs, http(s)/s3 URLs, Common Crawl path lists.

Remote files are streamed (fsspec), never downloaded whole first. A Common Crawl
``warc.paths.gz`` list names files relative to the crawl's host; we prefix them and
take the first ``limit``. Any stage or tool that needs to read a crawl file (or one
record of it, by byte range) uses :func:`open_input` / :func:`read_range` here.
"""
from __future__ import annotations

import glob
import gzip
import os
from typing import BinaryIO

#: Where Common Crawl path lists point (their lines are relative to this).
COMMONCRAWL_PREFIX = "https://data.commoncrawl.org/"

#: What a directory given as input contributes.
CRAWL_SUFFIXES = (".warc.gz", ".warc", ".arc.gz", ".arc", ".wet.gz", ".wat.gz")

REMOTE_SCHEMES = ("http://", "https://", "s3://", "gs://", "gcs://", "hf://")


class InputError(RuntimeError):
    """An input that cannot be used; the message names it."""


def is_remote(source: str) -> bool:
    return source.startswith(REMOTE_SCHEMES)


def is_path_list(source: str) -> bool:
    """Common Crawl lists: ``warc.paths.gz``, ``wet.paths.gz``, ``*.paths`` (one path a line)."""
    name = source.rsplit("/", 1)[-1]
    return name.endswith((".paths.gz", ".paths", ".paths.txt"))


def _has_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def read_path_list(source: str, prefix: str = COMMONCRAWL_PREFIX, limit: int | None = None) -> list[str]:
    """The first ``limit`` entries of a path list, made absolute with ``prefix``."""
    with open_input(source) as fh:
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
                   paths_limit: int | None = None) -> list[str]:
    """Expand globs and path lists into an ordered, de-duplicated list of sources.

    A local pattern that matches nothing is kept as given, so the reader reports it
    as a missing file (a fault in the manifest) instead of it vanishing silently.
    Local paths become absolute so provenance (``source``) re-opens from anywhere.
    """
    out: list[str] = []
    for pattern in patterns:
        pattern = str(pattern)
        if is_path_list(pattern):
            try:
                out.extend(read_path_list(pattern, prefix, paths_limit))
            except (OSError, InputError) as err:
                # no list, no files: stop with a clear message (the CLI exits 1)
                raise FileNotFoundError(f"cannot read the path list {pattern}: {err}") from err
        elif is_remote(pattern):
            if _has_glob(pattern) and not pattern.startswith(("http://", "https://")):
                import fsspec

                try:
                    fs, _, paths = fsspec.get_fs_token_paths(pattern)
                except Exception:  # reported as a fault of this pattern when it is read
                    out.append(pattern)
                    continue
                proto = pattern.split("://", 1)[0]
                out.extend(sorted(f"{proto}://{p}" for p in paths))
            else:
                out.append(pattern)
        else:
            pattern = os.path.expanduser(pattern)
            if os.path.isdir(pattern):  # a directory: the crawl files in it
                matches = sorted(p for p in glob.glob(os.path.join(pattern, "*"))
                                 if p.endswith(CRAWL_SUFFIXES))
            else:
                matches = sorted(glob.glob(pattern)) if _has_glob(pattern) else [pattern]
            out.extend(os.path.abspath(m) for m in (matches or [pattern]))
    seen: set[str] = set()
    return [s for s in out if not (s in seen or seen.add(s))]


def open_input(source: str, block_size: int = 1 << 20) -> BinaryIO:
    """A binary stream of a local file or URL (remote: streamed in blocks, seekable
    where the server supports byte ranges)."""
    if not is_remote(source):
        return open(source, "rb")
    import fsspec

    try:
        return fsspec.open(source, "rb", block_size=block_size).open()
    except FileNotFoundError:
        raise
    except ImportError as err:  # s3:// without s3fs, gs:// without gcsfs...
        extra = " (pip install 'crawl2tokens[s3]')" if source.startswith("s3://") else ""
        raise InputError(f"{source}: no filesystem for this URL scheme{extra}: {err}") from err
    except Exception as err:  # network, permissions, bad URL
        raise InputError(f"{source}: cannot open: {type(err).__name__}: {err}") from err


def open_stream(source: str) -> BinaryIO:
    """A forward-only stream of a whole file: for remote files, one plain GET (no
    range requests), so any HTTP server works."""
    if not is_remote(source):
        return open(source, "rb")
    if source.startswith(("http://", "https://")):
        import fsspec

        try:
            return fsspec.open(source, "rb", block_size=0).open()
        except FileNotFoundError:
            raise
        except Exception as err:
            raise InputError(f"{source}: cannot open: {type(err).__name__}: {err}") from err
    return open_input(source)


def probe_ranges(source: str, n: int = 1 << 16) -> tuple[int, bytes] | None:
    """``(size, first n bytes)`` when a remote file can be read at any offset (the server
    honours byte ranges), else None: then it is read as one stream. Never raises."""
    try:
        with open_input(source, block_size=n) as fh:
            size = fh.size
            head = fh.read(n)
            if size and size > n:
                fh.seek(size - 1)
                if len(fh.read(1)) != 1:
                    return None
            return int(size), head
    except Exception:  # no ranges, no size, or not reachable (reported when the task reads it)
        return None


def file_size(source: str) -> int | None:
    """Size in bytes, or None when unknown (remote without a size)."""
    if not is_remote(source):
        return os.path.getsize(source)
    import fsspec

    fs, path = fsspec.core.url_to_fs(source)
    return fs.size(path)


def read_range(source: str, offset: int, length: int) -> bytes:
    """``length`` bytes at ``offset`` (a record's provenance) from a file or URL.

    Remote: a ranged request; a server that ignores ranges is read from the start."""
    if not is_remote(source):
        with open(source, "rb") as fh:
            fh.seek(offset)
            return fh.read(length)
    import fsspec

    fs, path = fsspec.core.url_to_fs(source)
    try:
        data = fs.cat_file(path, start=offset, end=offset + length)
        if len(data) == length:
            return data
    except Exception:
        pass
    with open_stream(source) as fh:  # no range support: skip forward
        skip = offset
        while skip > 0:
            got = fh.read(min(skip, 1 << 20))
            if not got:
                break
            skip -= len(got)
        return fh.read(length)


def head_bytes(source: str, n: int = 4096) -> bytes:
    with open(source, "rb") if not is_remote(source) else open_stream(source) as fh:
        return fh.read(n)


__all__ = ["COMMONCRAWL_PREFIX", "InputError", "is_remote", "is_path_list", "read_path_list",
           "resolve_inputs", "open_input", "open_stream", "file_size", "read_range", "head_bytes"]
