"""Split one crawl file into byte ranges that workers read independently, and frame its records.

A ``.warc.gz`` is a chain of gzip members, one record each. Cutting the file into
fixed byte ranges needs no pre-scan: a task owns every member that *starts* inside
its range, finds its first one by scanning for the gzip magic and checking that the
member inflates to ``WARC/``, and reads on past its end to finish its last member.
The ranges depend only on the file size, so the parts (and the output) are the same
for any number of workers and either executor — and a few big files still spread
over all cores, where per-file parallelism would leave most of them idle.

Framing is ours (not warcio's) for exact ``offset``/``length`` provenance and for
recovery: a corrupt member is reported with its offset and reading resumes at the
next good member; a truncated one ends the file with a fault, keeping what came before.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

GZ_MAGIC = b"\x1f\x8b\x08"
CHUNK = 1 << 16
#: Of an oversized record we keep only this much (its headers), to reject it with a reason.
HEAD_KEEP = 1 << 16
MIN_SPLIT = 512 << 10
MAX_SPLIT = 64 << 20


@dataclass(slots=True)
class RawRecord:
    """One record's bytes (decompressed) and where it sits in the file."""

    offset: int
    length: int
    data: bytes
    size: int              # full decompressed size (data is cut to HEAD_KEEP when too large)
    too_large: bool = False


@dataclass(slots=True)
class Fault:
    """An unreadable stretch of a file: where, and why."""

    offset: int
    message: str
    count: bool = True     # counts as one ``read_error`` in the books


def sniff(head: bytes) -> str:
    """``warc.gz`` | ``arc.gz`` | ``warc`` | ``arc`` | ``empty`` | ``unknown``, from the first bytes."""
    if not head:
        return "empty"
    if head[:3] == GZ_MAGIC:
        try:
            out = zlib.decompressobj(31).decompress(head, 64)
        except zlib.error:
            return "unknown"
        if out.startswith(b"WARC/"):
            return "warc.gz"
        if out.startswith(b"filedesc:"):
            return "arc.gz"
        return "unknown"
    stripped = head.lstrip(b"\r\n")
    if stripped.startswith(b"WARC/"):
        return "warc"
    if stripped.startswith(b"filedesc:"):
        return "arc"
    return "unknown"


def split_size(file_size: int, split_bytes: int | str | None = "auto") -> int:
    """Bytes per range: ``auto`` = a 32nd of the file, kept within 512 KiB..64 MiB."""
    if split_bytes in (None, "auto", 0):
        return max(MIN_SPLIT, min(MAX_SPLIT, file_size // 32))
    return max(1, int(split_bytes))


def plan_ranges(file_size: int, split_bytes: int | str | None = "auto") -> list[tuple[int, int]]:
    """``[(start, end), ...]`` covering the file; at least one range, even for 0 bytes."""
    step = split_size(file_size, split_bytes)
    if file_size <= 0:
        return [(0, 0)]
    return [(s, min(s + step, file_size)) for s in range(0, file_size, step)]


class _Buffer:
    """A window onto a forward-read file with absolute offsets."""

    __slots__ = ("fh", "buf", "base", "i", "eof")

    def __init__(self, fh: BinaryIO, pos: int):
        self.fh = fh
        self.buf = b""
        self.base = pos
        self.i = 0
        self.eof = False

    @property
    def pos(self) -> int:
        return self.base + self.i

    @property
    def avail(self) -> int:
        return len(self.buf) - self.i

    def more(self) -> bool:
        if self.eof:
            return False
        data = self.fh.read(CHUNK)
        if not data:
            self.eof = True
            return False
        if self.i:
            self.base += self.i
            self.buf = self.buf[self.i:]
            self.i = 0
        self.buf = self.buf + data if self.buf else data
        return True

    def ensure(self, n: int) -> bool:
        while self.avail < n and self.more():
            pass
        return self.avail >= n


class _MemberError(Exception):
    def __init__(self, message: str, truncated: bool):
        super().__init__(message)
        self.truncated = truncated


def _looks_like_member(data: bytes) -> bool:
    try:
        return zlib.decompressobj(31).decompress(data, 16).startswith(b"WARC/")
    except zlib.error:
        return False


def _resync(b: _Buffer, end: int) -> bool:
    """Move to the first good member start at or after the current position and before
    ``end``; False when there is none."""
    while True:
        j = b.buf.find(GZ_MAGIC, b.i)
        if j < 0:
            b.i = max(b.i, len(b.buf) - 2)
            if b.pos >= end or not b.more():
                return False
            continue
        b.i = j
        if b.pos >= end:
            return False
        b.ensure(1024)
        if _looks_like_member(b.buf[b.i:b.i + 1024]):
            return True
        b.i += 1


def _read_member(b: _Buffer, max_bytes: int) -> RawRecord:
    start = b.pos
    d = zlib.decompressobj(31)
    parts: list[bytes] = []
    size = 0
    too_large = False
    while True:
        if b.avail <= 0 and not b.more():
            raise _MemberError(f"truncated gzip member: file ends {b.pos - start} bytes into it "
                               f"({size} bytes inflated)", truncated=True)
        mv = memoryview(b.buf)[b.i:]
        data = mv
        try:
            while True:
                piece = d.decompress(data, 1 << 22)
                if piece:
                    size += len(piece)
                    if not too_large:
                        if size <= max_bytes:
                            parts.append(piece)
                        else:
                            too_large = True
                            parts = [b"".join(parts + [piece])[:HEAD_KEEP]]
                if d.eof:
                    break
                data = d.unconsumed_tail
                if not data:
                    break
        except zlib.error as err:
            raise _MemberError(f"corrupt gzip member: {err}", truncated=False) from None
        if d.eof:
            b.i += len(mv) - len(d.unused_data)
            return RawRecord(start, b.pos - start, b"".join(parts), size, too_large)
        b.i = len(b.buf)


def iter_gzip_records(fh: BinaryIO, start: int = 0, end: int | None = None,
                      max_bytes: int = 1 << 62) -> Iterator[RawRecord | Fault]:
    """The members starting in ``[start, end)`` of a per-record gzipped file.

    ``fh`` must be positioned at ``start``. Yields records and faults in file order.
    """
    end = float("inf") if end is None else end
    b = _Buffer(fh, start)
    if start > 0 and not _resync(b, end):
        return
    while b.pos < end:
        if not b.ensure(3):
            if b.avail:
                yield Fault(b.pos, f"{b.avail} stray byte(s) at the end of the file")
            return
        if b.buf[b.i:b.i + 3] != GZ_MAGIC:
            at = b.pos
            b.ensure(65)
            rest = bytes(b.buf[b.i:b.i + 65])
            if len(rest) <= 64 and not rest.strip(b"\x00\r\n\t "):
                return  # zero/blank padding at the end of the file: not data
            yield Fault(at, f"expected a gzip member, found {rest[:8]!r}; skipping to the next record")
            b.i += 1
            if not _resync(b, end):
                return
            continue
        at = b.pos
        try:
            rec = _read_member(b, max_bytes)
        except _MemberError as err:
            yield Fault(at, str(err))
            if err.truncated:
                return
            b.i = at - b.base + 1 if at >= b.base else b.i
            if not _resync(b, end):
                return
            continue
        yield rec


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            value = line[15:].strip()
            return int(value) if value.isdigit() else None  # no sign: "-5" must not pass
    return None


def _resync_plain(b: _Buffer, i: int) -> bool:
    """Move to the next line starting with ``WARC/`` at or after buffer index ``i``;
    False at the end of the file."""
    while True:
        j = b.buf.find(b"\nWARC/", i)
        if j >= 0:
            b.i = j + 1
            return True
        b.i = i = max(i, len(b.buf) - 5)
        if not b.more():
            return False
        i = b.i


def _ends_cleanly(after: bytes) -> bool:
    """Whether the bytes after a record block are a separator and then the next record
    (or the end of the file): otherwise its Content-Length lied."""
    rest = after.lstrip(b"\r\n")
    return not rest or rest.startswith(b"WARC/")


def iter_plain_records(fh: BinaryIO, max_bytes: int = 1 << 62) -> Iterator[RawRecord | Fault]:
    """Records of an uncompressed WARC (one reader for the whole file).

    A record whose Content-Length is missing, not a number, or does not end where the
    next record begins (too small: the page would be cut short; too large: it would
    swallow the next one) is one fault, and reading resumes at the next line starting
    with ``WARC/``. A length past the end of the file ends it with a fault.
    """
    b = _Buffer(fh, 0)
    while _skip_blank_lines(b):
        start = b.pos
        head_end = _head_end(b)
        if head_end < 0:
            yield Fault(start, "WARC header block does not end (truncated or not a WARC)")
            return
        head = b.buf[b.i:head_end]
        clen = _content_length(head) if head.startswith(b"WARC/") else None
        if clen is None:
            yield Fault(start, _bad_head(head))
            if not _resync_plain(b, b.i + 1):
                return
            continue
        total = head_end + 4 - b.i + clen
        take = _take_large if clen > max_bytes else _take_block
        item, resume = take(b, start, clen, total)
        yield item
        if resume is not None and (resume < 0 or not _resync_plain(b, resume)):
            return


def _skip_blank_lines(b: _Buffer) -> bool:
    """Step over the blank lines between records; False at the end of the file."""
    while True:
        if not b.ensure(1):
            return False
        j = b.i
        while j < len(b.buf) and b.buf[j] in b"\r\n":
            j += 1
        b.i = j
        if b.avail:
            return True


def _head_end(b: _Buffer) -> int:
    """Where the record's header block ends in the buffer; -1 when it never does."""
    head_end = -1
    while head_end < 0:
        head_end = b.buf.find(b"\r\n\r\n", b.i)
        if head_end < 0 and (b.avail > (1 << 20) or not b.more()):
            return -1
    return head_end


def _bad_head(head) -> str:
    """Why a header block cannot start a record (not a WARC header, or no usable length)."""
    if not head.startswith(b"WARC/"):
        return f"expected a WARC record, found {bytes(head[:16])!r}; skipping to the next one"
    return "WARC record without a valid Content-Length; skipping to the next one"


def _take_large(b: _Buffer, start: int, clen: int, total: int) -> tuple[RawRecord | Fault, int | None]:
    """A record over ``max_bytes``: keep its head only and step over the rest as it streams
    by. Returns the item and where to resync (None: no need; -1: the file ended)."""
    b.ensure(min(total, HEAD_KEEP))
    data = bytes(b.buf[b.i:b.i + min(total, HEAD_KEEP)])
    left = total
    while left > 0:
        take = min(left, b.avail)
        b.i += take
        left -= take
        if left and not b.more():
            break
    if left:
        return Fault(start, f"truncated record: file ends {total - left} of {total} bytes into it"), -1
    b.ensure(64)
    if not _ends_cleanly(bytes(b.buf[b.i:b.i + 64])):
        return Fault(start, f"Content-Length {clen} does not end where the next record "
                            f"begins; skipping to the next one"), b.i
    return RawRecord(start, b.pos - start, data, total, True), None


def _take_block(b: _Buffer, start: int, clen: int, total: int) -> tuple[RawRecord | Fault, int | None]:
    """A record read whole, whose Content-Length must end where the next record begins.
    Returns the item and where to resync (None: no need)."""
    b.ensure(total + 64)  # and a peek past the block
    data = bytes(b.buf[b.i:b.i + total])
    if len(data) < total or not _ends_cleanly(bytes(b.buf[b.i + total:b.i + total + 64])):
        why = (f"file ends {len(data)} of {total} bytes into it" if len(data) < total else
               "the block is not followed by the next record")
        fault = Fault(start, f"Content-Length {clen} is wrong: {why}; skipping to the next record")
        return fault, b.i + 1
    b.i += total
    return RawRecord(start, b.pos - start, data, total, False), None

def read_record_bytes(raw: bytes) -> bytes:
    """The record bytes of a provenance range: inflated when it is a gzip member."""
    if raw[:3] == GZ_MAGIC:
        d = zlib.decompressobj(31)
        return d.decompress(raw)
    return raw
