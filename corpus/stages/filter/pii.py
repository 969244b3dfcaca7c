"""Optional PII masking: e-mail addresses, phone numbers, public IPv4/IPv6 addresses.

Each match is replaced by a placeholder (configurable) and counted; the counts go to
the manifest. Private, loopback, link-local and documentation addresses are left alone
(they identify no one), as FineWeb's PII formatter does. Patterns are deliberately
conservative: a phone number needs a separator structure and 9-15 digits, so years,
prices and plain IDs are not touched.
"""
from __future__ import annotations

import ipaddress
import re

from ...core.settings import Key, Section, boolean

EMAIL_RE = re.compile(r"\b[A-Za-z0-9][A-Za-z0-9._%+\-]*@(?:[A-Za-z0-9\-]+\.)+[A-Za-z]{2,}\b")
PHONE_RE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-/]\d{2,8}){1,4}(?![\w])")
IPV4_RE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)")
IPV6_RE = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}(?::|[0-9A-Fa-f]{1,4})(?![\w:])|"
                     r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}(?![\w:])")

#: ``stages.filter.pii``: enabled, which kinds, their placeholders.
SCHEMA = Section({
    "enabled": boolean(False),
    "email": boolean(True),
    "phone": boolean(True),
    "ip": boolean(True),
    "email_replacement": Key("<EMAIL>", "a string", lambda v: isinstance(v, str)),
    "phone_replacement": Key("<PHONE>", "a string", lambda v: isinstance(v, str)),
    "ip_replacement": Key("<IP_ADDRESS>", "a string", lambda v: isinstance(v, str)),
})
DEFAULTS = SCHEMA.defaults()


def _public_ip(text: str) -> bool:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return False
    return addr.is_global and not addr.is_multicast


_DATE_RE = re.compile(r"(?:19|20)\d\d[-./](?:0?[1-9]|1[0-2])[-./]|\d{1,2}[-./]\d{1,2}[-./](?:19|20)\d\d")


def _phone_like(match: str) -> bool:
    digits = sum(c.isdigit() for c in match)
    return 9 <= digits <= 15 and not _DATE_RE.search(match)


class PiiMasker:
    """Masks PII in a text; ``counts`` accumulates what was masked."""

    def __init__(self, params: dict | None = None):
        params = dict(params or {})
        SCHEMA.check(params, "stages.filter.pii")
        self.p = {**DEFAULTS, **params}
        self.enabled = bool(self.p["enabled"])
        self.counts = {"email": 0, "phone": 0, "ip": 0}

    def mask(self, text: str) -> str:
        if not self.enabled or not text:
            return text
        p = self.p
        if p["email"] and "@" in text:
            text, n = EMAIL_RE.subn(p["email_replacement"], text)
            self.counts["email"] += n
        if p["ip"]:
            text = self._sub(IPV4_RE, text, _public_ip, p["ip_replacement"], "ip")
            if ":" in text:
                text = self._sub(IPV6_RE, text, _public_ip, p["ip_replacement"], "ip")
        if p["phone"]:
            text = self._sub(PHONE_RE, text, _phone_like, p["phone_replacement"], "phone")
        return text

    def _sub(self, pattern: re.Pattern, text: str, accept, replacement: str, kind: str) -> str:
        def repl(m: re.Match) -> str:
            if accept(m.group(0)):
                self.counts[kind] += 1
                return replacement
            return m.group(0)
        return pattern.sub(repl, text)
