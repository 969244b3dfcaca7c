"""URL blocklists: a domain list (a listed domain blocks its subdomains too) and a
substring list (any URL containing one), each from user files with one entry per line
(``#`` starts a comment) or inline in the YAML. Reason ``url_blocklist``; the matched
entry goes in ``reason_detail``.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from ...core.settings import paths, str_list
from .base import Doc, Filter, rule_section


def read_list(paths) -> list[str]:
    """Entries of one or more list files (blank lines and ``#`` comments skipped)."""
    if not paths:
        return []
    out = []
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"url blocklist file not found: {p}")
        for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line)
    return out


def _host(url: str) -> str:
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""
    return host


class UrlBlocklist(Filter):
    name = "url_filter"
    reason = "url_blocklist"
    schema = rule_section({
        "domains_file": paths(None),       # path or list of paths: one domain per line
        "substrings_file": paths(None),    # path or list of paths: one substring per line
        "domains": str_list([]),           # inline additions
        "substrings": str_list([]),
    })
    defaults = schema.defaults()

    def __init__(self, params: dict | None = None):
        super().__init__(params)
        self._domains: frozenset[str] | None = None
        self._substrings: re.Pattern | None = None
        self._loaded = False

    def load(self) -> None:
        if self._loaded:
            return
        domains = [d.lower().lstrip(".") for d in
                   [*read_list(self.p["domains_file"]), *(self.p["domains"] or [])]]
        domains = [d[4:] if d.startswith("www.") else d for d in domains]
        subs = [s.lower() for s in [*read_list(self.p["substrings_file"]), *(self.p["substrings"] or [])]]
        self._domains = frozenset(domains)
        # Longest first so the reported match is the most specific entry.
        self._substrings = re.compile("|".join(map(re.escape, sorted(set(subs), key=len, reverse=True)))) if subs else None
        self._loaded = True

    @property
    def active(self) -> bool:
        self.load()
        return self.enabled and bool(self._domains or self._substrings)

    def check(self, doc: Doc, sig: dict, full: bool = False):
        self.load()
        if self._domains:
            host = _host(doc.url)
            parts = host.split(".")
            for i in range(len(parts) - 1):
                cand = ".".join(parts[i:])
                if cand in self._domains:
                    return ("domain:" + cand, 1.0)
        if self._substrings is not None:
            m = self._substrings.search(doc.url.lower())
            if m:
                return ("substring:" + m.group(0), 1.0)
        return None
