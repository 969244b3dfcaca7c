"""Plans and writes the sample crawl: pages, duplicates, junk, odd records, and truth.json.

Everything is drawn from RNGs seeded with strings derived from the seed (Python seeds
``random.Random(str)`` with SHA-512, independent of hash randomisation), record ids
included, and the WARC dates count up from a seed-derived start, so a seed fixes every
byte of the output.
"""
from __future__ import annotations

import json
import math
import random
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

from contract.atomic import atomic_path
from . import binaries, facts, lowq
from .language import language
from .prose import Composer
from .sites import SITES, SECTIONS, Site, render_page
from .warc_writer import gzip_member, http_block, http_request, warc_record

VERSION = 2  # 2: facts about invented entities (truth.json pages[id].facts, unanswerable)
N_FILES = 4
USER_AGENT = "crawl2tokens-sample/1.0 (+https://example.org/crawl2tokens)"

#: Share of clean pages per language (about half English, so the demo model has plenty).
LANG_SHARE = {"en": 0.50, "de": 0.09, "fr": 0.08, "es": 0.08, "it": 0.06, "pt": 0.06, "zh": 0.065, "ja": 0.065}
LOWQ_SHARE = 0.12
COPY_SHARE = 0.13  # exact + near copies, of all HTML pages
EXACT_OF_COPIES = 0.45

#: What each kind of site writes about (languages with topic vocabularies use it; None = civic news).
STYLE_TOPICS = {
    "news": (None, None, "sport", "science", "food", "travel", "technology"),
    "blog": ("food", "travel", "science", None),
    "gov": (None,),
    "shop": ("technology", "food"),
    "forum": ("sport", "technology", None),
}

@dataclass
class Page:
    site: Site
    title: str
    paragraphs: list[str]
    quality: str = "clean"
    url: str = ""
    intro: str | None = None
    cluster: int | None = None
    dup_kind: str | None = None
    jaccard: float | None = None
    published: str | None = None
    key: float = 0.0  # crawl order
    exact_of: "Page | None" = None  # an exact copy is served with its original's bytes
    facts: list = field(default_factory=list)  # checkable facts its text states (facts.py)

    @property
    def main_text(self) -> str:
        paras = ([self.intro] if self.intro else []) + self.paragraphs
        return ("\n" if self.quality == "link_list" else "\n\n").join(paras)


def _published(rng: random.Random, after: str | None = None) -> str:
    """A publication time in 2023-2024 (a syndicated copy appears a few days after its source)."""
    if after:
        base = datetime.strptime(after, "%Y-%m-%dT%H:%M:%SZ") + timedelta(days=rng.randint(0, 4))
    else:
        base = datetime(2023, 1, 1) + timedelta(days=rng.randrange(420))
    return (base + timedelta(minutes=rng.randrange(6 * 60, 22 * 60))).strftime("%Y-%m-%dT%H:%M:%SZ")


def slugify(title: str, n: int) -> str:
    ascii_ = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    words = re.findall(r"[a-z0-9]+", ascii_)[:6]
    return ("-".join(words) + f"-{n}") if len(words) >= 2 else f"article-{n}"


def shingles(text: str, cjk: bool) -> set:
    if cjk:
        chars = "".join(text.split())
        return {chars[i:i + 5] for i in range(max(1, len(chars) - 4))}
    words = text.split()
    return {" ".join(words[i:i + 5]) for i in range(max(1, len(words) - 4))}


def jaccard(a: str, b: str, cjk: bool) -> float:
    sa, sb = shingles(a, cjk), shingles(b, cjk)
    return len(sa & sb) / max(1, len(sa | sb))


def _quota(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Split ``total`` by ``shares`` with largest remainders (deterministic)."""
    raw = {k: total * v / sum(shares.values()) for k, v in shares.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: (-(raw[k] - out[k]), k))[: total - sum(out.values())]:
        out[k] += 1
    return out


class Planner:
    """Decides every HTML page: site, language, text, quality, duplicates and crawl order."""

    def __init__(self, seed: int, pages: int):
        self.seed = seed
        self.n_pages = pages
        self.rng = random.Random(f"crawl2tokens-sample-{seed}-plan")
        self.sites_by_lang: dict[str, list[Site]] = {}
        for s in SITES:
            self.sites_by_lang.setdefault(s.lang, []).append(s)
        self.counter = 0

    def composer(self, lang: str, tag: str, topic: str | None = None) -> Composer:
        return Composer(language(lang), random.Random(f"crawl2tokens-sample-{self.seed}-{tag}"), topic)

    def new_url(self, page: Page) -> str:
        """``/<section>/<year>/<slug>-<n>.html``; also dates the page if it has no date yet."""
        self.counter += 1
        if page.published is None:
            page.published = _published(self.rng)
        year = page.published[:4]
        return page.site.url(f"{SECTIONS[page.site.style]}/{year}/{slugify(page.title, self.counter)}.html")

    def plan_pages(self) -> list[Page]:
        n_lowq = math.ceil(self.n_pages * LOWQ_SHARE)
        n_copies = math.ceil(self.n_pages * COPY_SHARE)
        n_exact = round(n_copies * EXACT_OF_COPIES)
        n_near = n_copies - n_exact
        n_clean = self.n_pages - n_lowq - n_copies
        rng = self.rng
        pages: list[Page] = []
        for lang, n in _quota(n_clean, LANG_SHARE).items():
            cjk = language(lang).cjk
            for i in range(n):
                site = rng.choice(self.sites_by_lang[lang])
                comp = self.composer(lang, f"clean-{lang}-{i}", rng.choice(STYLE_TOPICS[site.style]))
                # Lengths skewed towards the short end, like real articles.
                lo, hi = (320, 1500) if cjk else (160, 700)
                target = int(lo + (hi - lo) * rng.random() ** 1.2)
                paras = comp.article(target)
                page = Page(site, comp.title(), paras)
                page.url = self.new_url(page)
                pages.append(page)
        # Low-quality pages, spread over languages and kinds.
        lowq_langs = _quota(n_lowq, LANG_SHARE)
        k = 0
        for lang, n in lowq_langs.items():
            for i in range(n):
                kind = lowq.KINDS[k % len(lowq.KINDS)]
                k += 1
                site = rng.choice(self.sites_by_lang[lang])
                comp = self.composer(lang, f"lowq-{lang}-{i}")
                title, paras = lowq.MAKERS[kind](lang, comp, random.Random(f"crawl2tokens-sample-{self.seed}-lq-{lang}-{i}"))
                page = Page(site, title, paras, quality=kind)
                page.url = self.new_url(page)
                pages.append(page)
        for page in pages:
            page.key = rng.random()
        self.add_facts(pages)
        # Duplicates: originals are clean pages long enough that a small edit keeps them near.
        def long_enough(p: Page) -> bool:
            cjk = language(p.site.lang).cjk
            return (len(p.main_text) >= 600) if cjk else (len(p.main_text.split()) >= 250)

        n_orig = n_exact // 2 + n_near // 2 + 2
        clean = [p for p in pages if p.quality == "clean" and long_enough(p)]
        if len(clean) < n_orig:  # tiny crawls: take the longest clean pages
            clean = sorted((p for p in pages if p.quality == "clean"), key=lambda p: -len(p.main_text))[:n_orig]
        originals = rng.sample(clean, min(n_orig, len(clean)))
        copies: list[Page] = []
        for cluster, orig in enumerate(originals):
            orig.cluster, orig.dup_kind = cluster, "original"
        # Hand out copies round-robin so some clusters get two or three members.
        exact_left, near_left = n_exact, n_near
        j = 0
        while exact_left or near_left:
            orig = originals[j % len(originals)]
            j += 1
            if exact_left and (j % 2 == 1 or not near_left):
                copies.append(self.exact_copy(orig, len(copies)))
                exact_left -= 1
            elif near_left:
                copies.append(self.near_copy(orig, len(copies)))
                near_left -= 1
        by_cluster = {o.cluster: o for o in originals}
        for c in copies:
            # A copy is crawled after its original.
            base = by_cluster[c.cluster].key
            c.key = base + (1 - base) * rng.random()
        pages += copies
        pages.sort(key=lambda p: p.key)
        self.record_fact_urls(pages)
        return pages

    def add_facts(self, pages: list[Page]) -> None:
        """Give each clean page of the fact languages one or two facts about its own entity
        (drawn from their own RNG, so the rest of the plan stays as it was)."""
        rng = random.Random(f"crawl2tokens-sample-{self.seed}-facts")
        vocabulary = {w for p in pages for w in re.findall(r"[a-z]+", (p.title + " " + p.main_text).lower())}
        self.names = facts.Names(rng, vocabulary)
        for p in pages:
            if p.quality == "clean" and p.site.lang in facts.LANGS:
                p.facts = facts.page_facts(self.names, p.site.lang, rng)
                p.paragraphs = facts.insert_sentences(p.paragraphs, [f["sentence"] for f in p.facts],
                                                      language(p.site.lang).cjk, rng)
        self.unanswerable = facts.unanswerable(self.names, rng)

    @staticmethod
    def record_fact_urls(pages: list[Page]) -> None:
        """Each fact lists every URL whose text states it: its page and that page's copies."""
        urls: dict[int, list[str]] = {}
        for p in pages:
            if p.cluster is not None:
                urls.setdefault(p.cluster, []).append(p.url)
        for p in pages:
            for f in p.facts:
                f["urls"] = sorted(urls[p.cluster]) if p.cluster is not None else [p.url]

    def exact_copy(self, orig: Page, n: int) -> Page:
        """The same page at another URL (tracking parameters, print view, http, amp)."""
        variant = n % 4
        if variant == 0:
            url = orig.url + f"?utm_source=newsletter&utm_medium=email&utm_campaign=w{n}"
        elif variant == 1:
            url = orig.url.replace(f"https://{orig.site.domain}/", f"https://{orig.site.domain}/print/")
        elif variant == 2:
            url = orig.url.replace("https://", "http://")
        else:
            url = orig.url.replace(".html", f".html?ref=home{n}")
        page = Page(orig.site, orig.title, list(orig.paragraphs), quality=orig.quality, url=url,
                    cluster=orig.cluster, dup_kind="exact", published=orig.published, facts=orig.facts)
        page.exact_of = orig
        return page

    def near_copy(self, orig: Page, n: int) -> Page:
        """A syndicated copy on another site of the same language: other boilerplate, an intro
        line naming the source, and one or two sentences rewritten."""
        lang = orig.site.lang
        rng = random.Random(f"crawl2tokens-sample-{self.seed}-near-{n}")
        others = [s for s in self.sites_by_lang[lang] if s.domain != orig.site.domain]
        site = rng.choice(others)
        cjk = language(lang).cjk
        comp = self.composer(lang, f"near-{n}")
        paras = list(orig.paragraphs)
        units = sum(len(p) if cjk else len(p.split()) for p in paras)
        edits = 1 if units < (1100 if cjk else 550) else 2
        stated = {f["sentence"] for f in orig.facts}
        splitter = re.compile(r"(?<=[。！？])" if cjk else r"(?<=[.!?»“])\s+")
        for _ in range(edits):
            pi = rng.randrange(len(paras))
            sents = [s for s in splitter.split(paras[pi]) if s]
            si = rng.randrange(len(sents))
            if sents[si] in stated:  # the copy states its source's facts too
                continue
            sents[si] = comp.sentence()
            paras[pi] = ("" if cjk else " ").join(sents)
        via = language(lang).ui["via"]
        intro = f"{via}{orig.site.name}。" if cjk else f"{via} {orig.site.name}."
        page = Page(site, orig.title, paras, intro=intro, cluster=orig.cluster, dup_kind="near",
                    published=_published(rng, after=orig.published), facts=orig.facts)
        page.url = self.new_url(page)
        page.jaccard = round(jaccard(orig.main_text, page.main_text, cjk), 4)
        return page


@dataclass
class Fetch:
    """One URL the fake crawler fetched: an HTML page, another response, or a revisit."""
    kind: str  # page | binary | status | revisit
    url: str
    key: float
    status: int = 200
    reason: str = "OK"
    content_type: str = "text/html; charset=utf-8"
    body: bytes = b""
    extra_headers: list = field(default_factory=list)
    page: Page | None = None
    ref: "Fetch | None" = None
    response_id: str = ""
    date: str = ""


def _encode_page(page: Page, planner: Planner, by_site: dict[str, list[Page]]) -> tuple[bytes, str]:
    """Render and encode a page; returns (body bytes, HTTP Content-Type)."""
    site = page.site
    peers = [p for p in by_site.get(site.domain, []) if p is not page]
    rng = random.Random(f"crawl2tokens-sample-{planner.seed}-related-{page.url}")
    related = [(p.title, p.url) for p in rng.sample(peers, min(5, len(peers)))]
    meta = site.charset if site.charset_declared == "meta" or (site.charset == "utf-8") else None
    html = render_page(site, page.title, page.paragraphs, related, 2024, intro=page.intro, meta_charset=meta,
                       as_links=page.quality == "link_list", published=page.published)
    body = html.encode(site.charset, errors="xmlcharrefreplace")
    ctype = f"text/html; charset={site.charset}" if site.charset_declared == "header" else "text/html"
    return body, ctype


def _other_fetches(planner: Planner, pages: list[Page]) -> list[Fetch]:
    rng = random.Random(f"crawl2tokens-sample-{planner.seed}-other")
    n = max(3, planner.n_pages // 200)
    out: list[Fetch] = []
    gov = [s for s in SITES if s.style in ("gov", "news")]
    for i in range(n):
        site = gov[i % len(gov)]
        comp = planner.composer("en", f"pdf-{i}")
        title = comp.title()
        body = binaries.pdf(title, [comp.sentence()[:90] for _ in range(6)])
        out.append(Fetch("binary", site.url(f"files/{2024 - i % 3}/report-{i + 1}.pdf"), rng.random(),
                         content_type="application/pdf", body=body))
    for i in range(n):
        site = SITES[(i * 13 + 4) % len(SITES)]
        body = (f"User-agent: *\nDisallow: /search\nDisallow: /cart\nDisallow: /login\n\n"
                f"Sitemap: https://{site.domain}/sitemap.xml\n").encode()
        out.append(Fetch("binary", site.url("robots.txt"), rng.random(), content_type="text/plain", body=body))
    for i in range(n):
        site = SITES[(i * 7) % len(SITES)]
        out.append(Fetch("binary", site.url(f"images/photo-{i + 1}.png"), rng.random(), content_type="image/png",
                         body=binaries.png(random.Random(f"png-{planner.seed}-{i}"))))
        site = SITES[(i * 5 + 3) % len(SITES)]
        out.append(Fetch("binary", site.url(f"images/header-{i + 1}.jpg"), rng.random(), content_type="image/jpeg",
                         body=binaries.jpeg(random.Random(f"jpg-{planner.seed}-{i}"))))
    for i in range(2 * n):
        site = SITES[(i * 3 + 1) % len(SITES)]
        body = (f"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1>"
                f"<p>The requested URL was not found on this server.</p></body></html>").encode()
        out.append(Fetch("status", site.url(f"old/page-{i + 1}.html"), rng.random(), 404, "Not Found",
                         "text/html; charset=utf-8", body))
    canonical = [p for p in pages if p.dup_kind != "exact"]
    for i in range(2 * n):
        target = canonical[rng.randrange(len(canonical))]
        src = target.url.replace(".html", "") if i % 2 else target.url.replace("https://", "http://", 1)
        if src == target.url:
            src = target.url + "/"
        body = f'<html><body><p>Moved to <a href="{target.url}">{target.url}</a></p></body></html>'.encode()
        out.append(Fetch("status", src, rng.random(), 301, "Moved Permanently", "text/html; charset=utf-8", body,
                         extra_headers=[("Location", target.url)]))
    for i in range(n):
        site = SITES[(i * 11 + 2) % len(SITES)]
        body = b"<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1></body></html>"
        out.append(Fetch("status", site.url(f"search?q=item{i + 1}"), rng.random(), 500, "Internal Server Error",
                         "text/html", body))
    return out


def _warc_date(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class Writer:
    """Serialises fetches into gzip members and keeps truth.json's records list."""

    def __init__(self, seed: int):
        self.ids = random.Random(f"crawl2tokens-sample-{seed}-ids")
        self.clock = datetime(2024, 3, 1, 6, 0, 0, tzinfo=timezone.utc) + timedelta(days=seed % 365)
        self.tick = random.Random(f"crawl2tokens-sample-{seed}-clock")
        self.records: list[dict] = []

    def new_id(self) -> str:
        return f"<urn:uuid:{uuid.UUID(int=self.ids.getrandbits(128), version=4)}>"

    def now(self) -> str:
        self.clock += timedelta(seconds=self.tick.randint(1, 40))
        return _warc_date(self.clock)

    def add(self, buf: bytearray, fname: str, warc_type: str, record_id: str, url: str | None,
            status: int | None, ctype: str | None, expect: str, member: bytes) -> dict:
        rec = {"file": fname, "offset": len(buf), "length": len(member), "warc_type": warc_type,
               "record_id": record_id, "id": record_id.strip("<>")[9:].lower(), "url": url,
               "http_status": status, "content_type": ctype, "expect": expect}
        buf += member
        self.records.append(rec)
        return rec

    def warcinfo(self, buf: bytearray, fname: str, seed: int) -> None:
        rid = self.new_id()
        block = (f"software: crawl2tokens-sample/{VERSION}\r\nformat: WARC File Format 1.1\r\n"
                 f"conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n"
                 f"isPartOf: crawl2tokens-sample-seed-{seed}\r\nrobots: obey\r\n"
                 f"http-header-user-agent: {USER_AGENT}\r\n").encode()
        rec = warc_record("warcinfo", rid, self.now(), block, "application/warc-fields",
                          [("WARC-Filename", fname)])
        self.add(buf, fname, "warcinfo", rid, None, None, "application/warc-fields", "not_response", gzip_member(rec))

    def fetch(self, buf: bytearray, fname: str, f: Fetch, with_metadata: bool, truncate: bool = False) -> None:
        date = self.now()
        f.date = date
        req_id, resp_id = self.new_id(), self.new_id()
        f.response_id = resp_id
        req = warc_record("request", req_id, date, http_request(f.url, USER_AGENT),
                          "application/http; msgtype=request",
                          [("WARC-Target-URI", f.url), ("WARC-Concurrent-To", resp_id)])
        self.add(buf, fname, "request", req_id, f.url, None, "application/http; msgtype=request", "not_response",
                 gzip_member(req))
        http_date = format_datetime(self.clock, usegmt=True)
        headers = [("Date", http_date), ("Server", "nginx"), ("Content-Type", f.content_type)]
        headers += f.extra_headers
        if f.kind == "revisit":
            ref = f.ref
            headers.append(("Content-Length", str(len(ref.body))))
            block = http_block(200, "OK", headers, b"")
            rec = warc_record("revisit", resp_id, date, block, "application/http; msgtype=response",
                              [("WARC-Target-URI", f.url),
                               ("WARC-Profile", "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"),
                               ("WARC-Refers-To", ref.response_id), ("WARC-Refers-To-Target-URI", ref.url),
                               ("WARC-Refers-To-Date", ref.date)], payload=ref.body)
            self.add(buf, fname, "revisit", resp_id, f.url, 200, f.content_type, "revisit", gzip_member(rec))
            return
        headers.append(("Content-Length", str(len(f.body))))
        block = http_block(f.status, f.reason, headers, f.body)
        rec = warc_record("response", resp_id, date, block, "application/http; msgtype=response",
                          [("WARC-Target-URI", f.url), ("WARC-IP-Address", "192.0.2.%d" % (1 + len(f.url) % 250))],
                          payload=f.body)
        member = gzip_member(rec)
        if truncate:
            expect = "read_error"
            member = member[: len(member) // 2]
        elif f.kind == "page":
            expect = "document"
        elif f.kind == "binary":
            expect = "not_html"
        else:
            expect = "http_status"
        self.add(buf, fname, "response", resp_id, f.url, f.status, f.content_type, expect, member)
        if with_metadata and not truncate:
            mid = self.new_id()
            block = (f"via: https://{f.url.split('/')[2]}/\r\nhopsFromSeed: L\r\n"
                     f"fetchTimeMs: {self.tick.randint(40, 900)}\r\n").encode()
            rec = warc_record("metadata", mid, date, block, "application/warc-fields",
                              [("WARC-Target-URI", f.url), ("WARC-Concurrent-To", resp_id)])
            self.add(buf, fname, "metadata", mid, f.url, None, "application/warc-fields", "not_response",
                     gzip_member(rec))


def generate(out_dir: Path, seed: int = 0, pages: int = 2000) -> Path:
    """Write the crawl into ``out_dir``; returns the path of truth.json."""
    if pages < 50:
        raise ValueError(f"pages must be at least 50 (got {pages})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # truth.json goes first and comes back last: a crawl interrupted mid-write has none,
    # so `ensure_sample_crawl` regenerates it instead of trusting half-written files.
    (out_dir / "truth.json").unlink(missing_ok=True)
    planner = Planner(seed, pages)
    plan = planner.plan_pages()
    by_site: dict[str, list[Page]] = {}
    for p in plan:
        if p.dup_kind != "exact":
            by_site.setdefault(p.site.domain, []).append(p)
    page_fetches = _page_fetches(planner, plan, by_site)
    fetches = page_fetches + _other_fetches(planner, plan)
    fetches += _revisits(page_fetches, seed, pages)
    fetches.sort(key=lambda f: f.key)
    # Revisits must come after what they refer to (the key guarantees it; keep it explicit).
    truncated = _truncated_fetch(planner, by_site)
    writer, files, page_entries = _write_warcs(out_dir, seed, fetches, truncated)
    truth = {"seed": seed, "version": VERSION, "generator": f"crawl2tokens-sample/{VERSION}",
             "files": files, "counts": _counts(writer.records, page_entries),
             "records": writer.records, "pages": page_entries,
             "unanswerable": planner.unanswerable}
    path = out_dir / "truth.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def _page_fetches(planner: Planner, plan: list[Page], by_site: dict[str, list[Page]]) -> list[Fetch]:
    """One fetch per planned page; an exact duplicate reuses its source's bytes."""
    fetches: list[Fetch] = []
    rendered: dict[int, tuple[bytes, str]] = {}
    for p in plan:
        src = p.exact_of
        if src is not None:
            body, ctype = rendered[id(src)]
        else:
            body, ctype = _encode_page(p, planner, by_site)
            rendered[id(p)] = (body, ctype)
        fetches.append(Fetch("page", p.url, p.key, content_type=ctype, body=body, page=p))
    return fetches


def _revisits(page_fetches: list[Fetch], seed: int, pages: int) -> list[Fetch]:
    """Revisit records of random earlier pages (never of an exact duplicate), later in time."""
    rng = random.Random(f"crawl2tokens-sample-{seed}-revisit")
    out: list[Fetch] = []
    for _ in range(max(3, pages // 100)):
        ref = page_fetches[rng.randrange(len(page_fetches))]
        if ref.page.dup_kind == "exact":
            continue
        out.append(Fetch("revisit", ref.url, ref.key + (1 - ref.key) * rng.random(),
                         content_type=ref.content_type, ref=ref))
    return out


def _truncated_fetch(planner: Planner, by_site: dict[str, list[Page]]) -> Fetch:
    """The page whose record ends the last file cut short: a crawl killed mid-write."""
    comp = planner.composer("en", "truncated")
    trunc_page = Page(SITES[0], comp.title(), comp.article(300))
    trunc_page.url = planner.new_url(trunc_page)
    tbody, tctype = _encode_page(trunc_page, planner, by_site)
    return Fetch("page", trunc_page.url, 1.0, content_type=tctype, body=tbody, page=trunc_page)


def _write_warcs(out_dir: Path, seed: int, fetches: list[Fetch],
                 truncated: Fetch) -> tuple[Writer, list[str], dict[str, dict]]:
    """The fetches in time order over N_FILES WARCs (every tenth page with a metadata
    record); returns the writer (its records), the file names and the page entries."""
    writer = Writer(seed)
    files: list[str] = []
    per_file = math.ceil(len(fetches) / N_FILES)
    page_entries: dict[str, dict] = {}
    n_page_fetch = 0
    for fi in range(N_FILES):
        fname = f"sample-{fi:05d}.warc.gz"
        files.append(fname)
        buf = bytearray()
        writer.warcinfo(buf, fname, seed)
        for f in fetches[fi * per_file:(fi + 1) * per_file]:
            meta = f.kind == "page" and n_page_fetch % 10 == 3
            n_page_fetch += f.kind == "page"
            writer.fetch(buf, fname, f, with_metadata=meta)
            if f.kind == "page":
                rec = writer.records[-2] if meta else writer.records[-1]
                page_entries[rec["id"]] = _page_entry(f)
        if fi == N_FILES - 1:
            writer.fetch(buf, fname, truncated, with_metadata=False, truncate=True)
        with atomic_path(out_dir / fname) as tmp_warc:
            tmp_warc.write_bytes(bytes(buf))
    return writer, files, page_entries


def _page_entry(f: Fetch) -> dict:
    p = f.page
    entry = {"url": p.url, "site": p.site.domain, "language": p.site.lang, "charset": p.site.charset,
             "charset_declared": p.site.charset_declared, "quality": p.quality, "cluster": p.cluster,
             "dup_kind": p.dup_kind, "title": p.title, "published": p.published, "main_text": p.main_text,
             "facts": p.facts}
    if p.jaccard is not None:
        entry["jaccard"] = p.jaccard
    return entry


def _tally(values) -> dict:
    out: dict = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items()))


def _counts(records: list[dict], pages: dict[str, dict]) -> dict:
    ps = list(pages.values())
    return {
        "files": len({r["file"] for r in records}),
        "records": len(records),
        "records_by_type": _tally(r["warc_type"] for r in records),
        "records_by_expect": _tally(r["expect"] for r in records),
        "http_status": _tally(r["http_status"] for r in records if r["http_status"] is not None),
        "html_pages": len(ps),
        "languages": _tally(p["language"] for p in ps),
        "clean_languages": _tally(p["language"] for p in ps if p["quality"] == "clean"),
        "quality": _tally(p["quality"] for p in ps),
        "low_quality": sum(p["quality"] != "clean" for p in ps),
        "dup_kind": _tally(p["dup_kind"] for p in ps if p["dup_kind"]),
        "duplicates": sum(p["dup_kind"] in ("exact", "near") for p in ps),
        "clusters": len({p["cluster"] for p in ps if p["cluster"] is not None}),
        "charsets": _tally(p["charset"] for p in ps),
        "charset_declared": _tally(p["charset_declared"] for p in ps),
        "non_html": sum(r["expect"] == "not_html" for r in records),
        "main_text_chars_clean": sum(len(p["main_text"]) for p in ps if p["quality"] == "clean"),
    }
