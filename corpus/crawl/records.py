"""One WARC record: its headers, its HTTP response, and its HTML decoded to text.

Parsing is a few byte splits on the record already in memory (no per-record
stream objects), so reading costs far less than extracting. Decoding follows the
order a browser trusts (byte-order mark, HTTP header, ``<meta>``), except that bytes
which are valid UTF-8 *and* not plain ASCII are read as UTF-8 even when mislabelled
(a legacy single-byte text is practically never valid UTF-8); detection with
charset-normalizer is the last resort.
"""
from __future__ import annotations

import codecs
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator

#: Payload types we extract from.
HTML_TYPES = ("text/html", "application/xhtml+xml")
#: Declared types that say nothing; we sniff the payload instead.
GENERIC_TYPES = ("", "application/octet-stream", "unknown/unknown", "application/unknown",
                 "binary/octet-stream", "content/unknown")

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([a-zA-Z0-9_.:\-]{1,40})""",
                           re.IGNORECASE)
_HTML_SNIFF = re.compile(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<title[\s>]|<meta[\s>]"
                         rb"|<div[\s>]|<p[\s>]", re.IGNORECASE)
#: WHATWG: these labels mean windows-1252 in browsers.
_WINDOWS_1252 = {"iso8859-1", "ascii", "cp1252"}


class RecordError(ValueError):
    """A record whose bytes cannot be parsed as WARC (counted as ``read_error``)."""


class DecodeError(ValueError):
    """A payload that cannot be decoded (counted as ``decode_error``)."""


@dataclass(slots=True)
class Record:
    offset: int
    length: int
    warc_type: str
    record_id: str
    url: str
    date: datetime | None
    headers: dict
    block: bytes
    too_large: bool = False
    size: int = 0


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: dict = field(default_factory=dict)
    body: bytes = b""

    @property
    def mime(self) -> str:
        return mime_of(self.headers.get("content-type", ""))


def mime_of(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def parse_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        d = datetime.fromisoformat(value.strip())
    except ValueError:
        try:  # ARC: 14 digits
            d = datetime.strptime(value.strip()[:14], "%Y%m%d%H%M%S")
        except ValueError:
            return None
    return d.replace(tzinfo=timezone.utc) if d.tzinfo is None else d.astimezone(timezone.utc)


def _parse_headers(lines: list[bytes]) -> dict:
    out: dict[str, str] = {}
    last = None
    for line in lines:
        if not line:
            continue
        if line[:1] in b" \t" and last:  # folded continuation
            out[last] += " " + line.strip().decode("latin-1")
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        last = name.strip().decode("latin-1").lower()
        value = value.strip().decode("utf-8", "replace")
        out[last] = f"{out[last]}, {value}" if last in out and last != "content-length" else value
    return out


def content_length(value) -> int | None:
    """A Content-Length as the spec writes it (ASCII digits only), else None: ``int()`` would
    also take ``-5``, ``+5`` and ``1_000``, and a negative length sends a parser backwards."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _next_header(data: bytes, after: int) -> int:
    """Where the next line starting with ``WARC/`` begins after ``after``; -1 when none."""
    j = data.find(b"\nWARC/", after)
    return j + 1 if j >= 0 else -1


def _frame(offset: int, length: int, data: bytes, pos: int, too_large: bool,
           size: int) -> tuple[Record, int]:
    """The record starting at ``pos`` and where its block ends."""
    head_end = data.find(b"\r\n\r\n", pos)
    if head_end < 0 or not data.startswith(b"WARC/", pos):
        raise RecordError(f"not a WARC record (starts with {data[pos:pos + 16]!r})")
    headers = _parse_headers(data[pos:head_end].split(b"\r\n")[1:])
    if "content-length" not in headers:
        raise RecordError("WARC record without a Content-Length")
    clen = content_length(headers["content-length"])
    if clen is None:
        raise RecordError(f"WARC record with an invalid Content-Length "
                          f"{headers['content-length'][:40]!r}")
    body_start = head_end + 4
    block = data[body_start:body_start + clen]
    if len(block) < clen and not too_large:
        raise RecordError(f"record block truncated: {len(block)} of {clen} bytes "
                          f"(Content-Length too large, or the data ends early)")
    url = headers.get("warc-target-uri", "").strip()
    if url.startswith("<") and url.endswith(">"):
        url = url[1:-1]
    rec = Record(offset, length, headers.get("warc-type", "").strip().lower(),
                 headers.get("warc-record-id", "").strip(), url,
                 parse_date(headers.get("warc-date", "")), headers, block,
                 too_large, size or len(data))
    return rec, body_start + clen


def iter_warc(offset: int, length: int, data: bytes, too_large: bool = False,
              size: int = 0) -> Iterator[Record | RecordError]:
    """The record(s) in one member's bytes (normally exactly one), in order.

    A record that cannot be framed comes out as a :class:`RecordError` (one
    ``read_error``) and reading resumes at the next line starting with ``WARC/``, so
    one bad record costs one record. That includes a block followed by anything but
    the next record: its Content-Length is too small, so the page would be silently
    cut short; we count it as an error rather than keep a truncated page.
    """
    pos, n, seen = 0, len(data), False
    while True:
        while pos < n and data[pos] in (13, 10):
            pos += 1
        if pos >= n:
            break
        seen = True
        where = f" ({pos} bytes into the record data)" if pos else ""
        try:
            rec, end = _frame(offset, length, data, pos, too_large, size)
        except RecordError as err:
            yield RecordError(f"{err}{where}")
            pos = _next_header(data, pos + 1)
            if pos < 0:
                break
            continue
        if too_large:  # only its head is here: nothing after it to check
            yield rec
            break
        after = end
        while after < n and data[after] in (13, 10):
            after += 1
        if after < n and not data.startswith(b"WARC/", after):
            yield RecordError(f"Content-Length {len(rec.block)} too small: the block is followed by "
                              f"{data[after:after + 16]!r}, not by the next record{where}")
            pos = _next_header(data, end)
            if pos < 0:
                break
            continue
        yield rec
        pos = end
    if not seen:
        yield RecordError("empty record")


def parse_warc(offset: int, length: int, data: bytes, too_large: bool = False,
               size: int = 0) -> list[Record]:
    """The record(s) in one member's bytes; raises the first :class:`RecordError`."""
    out = []
    for item in iter_warc(offset, length, data, too_large, size):
        if isinstance(item, RecordError):
            raise item
        out.append(item)
    return out


def _dechunk(body: bytes) -> bytes:
    out = []
    pos = 0
    while True:
        nl = body.find(b"\r\n", pos)
        if nl < 0:
            raise ValueError("bad chunk header")
        size = int(body[pos:nl].split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            break
        out.append(body[nl + 2:nl + 2 + size])
        pos = nl + 2 + size + 2
        if pos > len(body):
            break
    return b"".join(out)


#: Bytes inflated per step: a bomb stops within one step past the limit.
_STEP = 1 << 16


class TooLarge(ValueError):
    """A body that inflates past the limit (counted as ``too_large``); decoding stops there."""

    def __init__(self, size: int, head: bytes):
        super().__init__(f"payload inflates to at least {size} bytes")
        self.size, self.head = size, head


class _Sink:
    """Inflated pieces, refusing to hold more than ``limit`` bytes."""

    def __init__(self, limit: int | None):
        self.limit, self.parts, self.size = limit, [], 0

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.limit is not None and self.size > self.limit:
            head = (self.parts[0] if self.parts else piece)[:2048]
            raise TooLarge(self.size, head)
        self.parts.append(piece)

    def value(self) -> bytes:
        return b"".join(self.parts)


def _inflate_zlib(body: bytes, wbits: int, limit: int | None) -> bytes:
    d = zlib.decompressobj(wbits)
    out = _Sink(limit)
    data = body
    while True:
        piece = d.decompress(data, _STEP)
        out.add(piece)
        data = d.unconsumed_tail
        if d.eof or (not piece and not data):
            return out.value()


def _inflate_brotli(body: bytes, limit: int | None) -> bytes:
    import brotli  # optional: not a dependency; only Content-Encoding br needs it (else decode_error)

    d = brotli.Decompressor()
    out = _Sink(limit)
    try:
        piece = d.process(body, output_buffer_limit=_STEP)
    except TypeError:  # brotli < 1.2 cannot stop early: decoding a bomb would fill memory
        raise DecodeError("Content-Encoding br needs brotli >= 1.2 (bounded decoding)") from None
    while True:
        out.add(piece)
        if d.is_finished():
            return out.value()
        piece = d.process(b"", output_buffer_limit=_STEP)
        if not piece and not d.is_finished():
            raise ValueError("brotli stream ends early")


def _inflate(body: bytes, encoding: str, limit: int | None = None) -> bytes:
    """Decompressed in steps, so that a small bomb stops at ``limit`` (:class:`TooLarge`)
    instead of inflating to gigabytes first."""
    if encoding in ("gzip", "x-gzip"):
        return _inflate_zlib(body, 31, limit)
    if encoding == "deflate":  # zlib-wrapped as the RFC says, or raw as some servers send
        try:
            return _inflate_zlib(body, 15, limit)
        except zlib.error:
            return _inflate_zlib(body, -15, limit)
    if encoding == "br":
        return _inflate_brotli(body, limit)
    if encoding in ("", "identity", "none"):
        return body
    raise DecodeError(f"unsupported Content-Encoding {encoding!r}")


def parse_http(block: bytes) -> HttpResponse | None:
    """The HTTP response in a ``response`` record's block; None if it holds none."""
    if not block.startswith(b"HTTP/"):
        return None
    head_end = block.find(b"\r\n\r\n")
    sep = 4
    if head_end < 0:
        head_end = block.find(b"\n\n")
        sep = 2
        if head_end < 0:
            head_end, sep = len(block), 0
    lines = block[:head_end].replace(b"\r\n", b"\n").split(b"\n")
    parts = lines[0].split(None, 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        status = 0
    return HttpResponse(status, _parse_headers(lines[1:]), block[head_end + sep:])


def payload(resp: HttpResponse, max_bytes: int | None = None) -> bytes:
    """The body as the server meant it: de-chunked and decompressed when the WARC kept
    the wire form (Common Crawl stores it already decoded). Raises :class:`TooLarge`
    as soon as decompression passes ``max_bytes``."""
    body = resp.body
    h = resp.headers
    if "chunked" in h.get("transfer-encoding", "").lower():
        try:
            body = _dechunk(body)
        except ValueError:
            pass  # many "chunked" records are stored de-chunked already
    enc = h.get("content-encoding", "").strip().lower()
    if enc and enc not in ("identity", "none"):
        try:
            body = _inflate(body, enc, max_bytes)
        except (DecodeError, TooLarge):
            raise
        except Exception as err:
            if body.lstrip()[:1] == b"<":  # stored already decoded despite the header
                return body
            raise DecodeError(f"Content-Encoding {enc}: {type(err).__name__}: {err}") from None
    return body


def looks_like_html(body: bytes) -> bool:
    return _HTML_SNIFF.search(body[:2048]) is not None


def is_html(mime: str, body: bytes, identified: str = "") -> bool:
    """HTML by its declared type, or by its bytes when the type says nothing useful."""
    if mime in HTML_TYPES:
        return True
    if mime in GENERIC_TYPES:
        return mime_of(identified) in HTML_TYPES or looks_like_html(body)
    return False


def _codec(label: str | None) -> str | None:
    """The codec a charset label names; None for unknown labels and for codecs that are
    not text encodings (``rot13``, ``base64``, ``zlib``...: Python knows them, but bytes
    cannot be decoded with them), so that detection takes over."""
    if not label:
        return None
    try:
        info = codecs.lookup(label.strip().strip("'\"").lower())
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name == "undefined":
        return None
    return "cp1252" if info.name in _WINDOWS_1252 else info.name


def declared_charsets(content_type: str, body: bytes) -> tuple[str | None, str | None]:
    header = None
    for part in content_type.split(";")[1:]:
        k, _, v = part.partition("=")
        if k.strip().lower() == "charset":
            header = v.strip()
    m = _META_CHARSET.search(body[:4096])
    meta = m.group(1).decode("ascii", "replace") if m else None
    return header, meta


def decode_html(body: bytes, content_type: str = "") -> tuple[str, str]:
    """``(text, codec name)``; raises :class:`DecodeError` when nothing fits."""
    if body[:3] == codecs.BOM_UTF8:
        return body[3:].decode("utf-8", "replace"), "utf-8"
    if body[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return body.decode("utf-16", "replace"), "utf-16"
    if body.isascii():
        header, meta = declared_charsets(content_type, body)
        return body.decode("ascii"), _codec(header) or _codec(meta) or "ascii"
    try:  # valid UTF-8 is UTF-8 whatever the page declares: no need to look for its <meta>
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    header, meta = declared_charsets(content_type, body)
    for label in (header, meta):
        name = _codec(label)
        if name == "utf-8":  # declared UTF-8 with a few bad bytes: still UTF-8
            return body.decode("utf-8", "replace"), name
        if name and not name.startswith(("utf-16", "utf-32")):
            try:
                return body.decode(name), name
            except UnicodeError:  # idna, punycode...: text codecs that refuse web bytes
                if name == "cp1252":  # the five bytes cp1252 leaves undefined
                    return body.decode("latin-1"), "latin-1"
    from charset_normalizer import from_bytes  # heavy: loaded only when no declared charset fits

    sample = body if len(body) < 10000 else body[:5000] + body[-5000:]  # as trafilatura does
    best = from_bytes(sample).best()
    if best is not None and best.encoding:
        name = _codec(best.encoding) or best.encoding
        try:
            return body.decode(name, "replace"), name
        except LookupError:
            pass
    if b"\x00" in body[:4096]:
        raise DecodeError("binary payload (NUL bytes) with no usable charset")
    return body.decode("utf-8", "replace"), "utf-8"
