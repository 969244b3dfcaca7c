"""Deterministic WARC/1.1 record serialisation: one gzip member per record, mtime 0.

We write records ourselves (rather than through warcio's writer) so every header, id
and date comes from the seed and two runs give byte-identical files; the tests read
the result back with warcio's ``ArchiveIterator``.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
from urllib.parse import urlsplit


def sha1_digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def http_block(status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1") + body


def http_request(url: str, user_agent: str) -> bytes:
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return (f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: {user_agent}\r\n"
            f"Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\nAccept-Encoding: identity\r\n"
            f"Connection: close\r\n\r\n").encode("latin-1")


def warc_record(warc_type: str, record_id: str, date: str, block: bytes, content_type: str,
                extra: list[tuple[str, str]] | None = None, payload: bytes | None = None) -> bytes:
    """An uncompressed WARC record (headers, block, the two trailing CRLFs)."""
    headers = [("WARC-Type", warc_type), ("WARC-Record-ID", record_id), ("WARC-Date", date)]
    headers += extra or []
    if payload is not None:
        headers.append(("WARC-Payload-Digest", sha1_digest(payload)))
    headers += [("WARC-Block-Digest", sha1_digest(block)), ("Content-Type", content_type),
                ("Content-Length", str(len(block)))]
    head = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("utf-8") + block + b"\r\n\r\n"


def gzip_member(record: bytes) -> bytes:
    """One gzip member with a fixed mtime, so the bytes depend on the content only."""
    return gzip.compress(record, compresslevel=6, mtime=0)
