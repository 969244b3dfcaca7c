"""Exact duplicates: the same page under the same URL, and the same text anywhere.

A URL is normalised before hashing so that the variants a crawler meets count as one
page: scheme (http/https), host case, a leading ``www.``, default ports, the
fragment, a trailing slash, tracking parameters (``utm_*``, ``fbclid``, ...) and the
order of query parameters are ignored. Of several crawls of one URL the newest is
kept (rule in ``assign.py``). Text keys come from ``TokenBatch.text_keys``: the
normalised token sequence, so case, digits and punctuation-only edits do not matter.
"""
from __future__ import annotations

import hashlib
from typing import Iterable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import numpy as np

TRACKING_PARAMS = {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "yclid",
                   "_ga", "igshid", "ref_src", "spm"}
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_url(url: str | None) -> str:
    """The form of a URL used to find the same page twice ("" for no usable URL)."""
    if not url:
        return ""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        return url.lower()
    if not host:
        return url.lower()
    if host.startswith("www."):
        host = host[4:]
    scheme = parts.scheme.lower()
    netloc = host if port is None or port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    path = unquote(parts.path or "/")
    if len(path) > 1:
        path = path.rstrip("/")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not k.lower().startswith("utm_") and k.lower() not in TRACKING_PARAMS]
    query.sort()
    q = urlencode(query)
    return f"{netloc}{path}" + (f"?{q}" if q else "")


def hash64(text: str) -> int:
    """A stable non-zero 64-bit hash of a string (0 is kept for "no key")."""
    h = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"),
                                       digest_size=8).digest(), "little")
    return h or 1


def url_keys(urls: Iterable[str | None]) -> np.ndarray:
    """uint64 key per URL; 0 where there is no usable URL (never grouped)."""
    out = [hash64(n) if (n := normalize_url(u)) else 0 for u in urls]
    return np.array(out, dtype=np.uint64)


def cluster_id(doc_id: str) -> int:
    """A cluster's id: a 63-bit hash of the id of the document it keeps, so it is the
    same whichever worker, executor or later incremental run computes it."""
    return hash64("cluster:" + doc_id) & ((1 << 63) - 1)
