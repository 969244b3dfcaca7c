"""The extract stage on real crawls, the embedded sample and broken inputs."""
from __future__ import annotations

import functools
import http.server
import json
import os
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpus.cli import main as cli_main
from corpus.core.config import load_pipeline
from corpus.core.parts import list_parts, read_table
from corpus.stages.extract.stage import ExtractStage
from corpus.core.runner import run_stage
from corpus.crawl.split import RawRecord, iter_gzip_records
from contract.layout import REJECTED

ROOT = Path(__file__).resolve().parent.parent


def run_extract(tmp: Path, inputs: list[str], workers: int = 1, **params) -> dict:
    config = load_pipeline(None, inputs=inputs, output=str(tmp), workers=workers)
    config["stages"] = {"extract": params}
    return run_stage(ExtractStage(config), show_progress=False)


def slice_warc(src: Path, dst: Path, start: int, count: int) -> list[RawRecord]:
    """Copy ``count`` gzip members of a real WARC (from the ``start``-th) into ``dst``."""
    members = []
    with open(src, "rb") as fh:
        for i, rec in enumerate(iter_gzip_records(fh)):
            if i >= start + count:
                break
            if i >= start:
                members.append(rec)
    with open(src, "rb") as fh, open(dst, "wb") as out:
        for m in members:
            fh.seek(m.offset)
            out.write(fh.read(m.length))
    return members


def write_warc(path: Path, pages: list[tuple[str, bytes, str]]) -> None:
    """A small gzipped WARC of HTTP 200 responses: (url, body, content type)."""
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, body, ctype in pages:
            http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=BytesIO(body),
                                                          http_headers=http))


def html_response(url: str, html: str, ctype: str = "text/html; charset=utf-8",
                  encoding: str = "utf-8") -> tuple[str, bytes, str]:
    return url, html.encode(encoding), ctype


def balanced(manifest: dict) -> bool:
    c = manifest["counts"]
    return c["in"] == c["kept"] + sum(c["rejected"].values()) + sum(c["errors"].values())


def rows(directory: Path, drop=("source",)) -> list[dict]:
    table = read_table(directory)
    out = [{k: v for k, v in r.items() if k not in drop} for r in table.to_pylist()]
    return sorted(out, key=lambda r: (r["id"], r.get("offset") or 0))


@pytest.fixture(scope="module")
def realweb_slice(real_data, tmp_path_factory) -> Path:
    """24 real pages (a slice of realweb-dev), for the tests that run several times."""
    path = tmp_path_factory.mktemp("slice") / "realweb-slice.warc.gz"
    slice_warc(real_data / "realweb-dev.warc.gz", path, 100, 24)
    return path


@pytest.mark.real
@pytest.mark.slow
def test_realweb_f1_and_nothing_lost(real_data, tmp_path):
    from corpus.stages.extract.score import load_truth, score_stage_dir

    truth = load_truth(real_data / "realweb-dev.truth.json")
    # Default settings, except no per-page CPU limit: which pages beat any limit depends on
    # the machine, and a test must not (the slowest page takes ~0.2 s on a quiet core;
    # bench/extract.py reports F1 with the true defaults).
    m = run_extract(tmp_path, [str(real_data / "realweb-dev.warc.gz")], workers=2, timeout_s=None)
    s = score_stage_dir(tmp_path / "extract", truth)
    assert s.f1 >= 0.91, str(s)
    assert m["counts"]["in"] == len(truth) == 488 and balanced(m)
    assert not m["faults"]
    kept = read_table(tmp_path / "extract", columns=["url"]).column("url").to_pylist()
    rejected = read_table(tmp_path / "extract" / REJECTED, columns=["url", "reason"]).to_pylist()
    assert set(kept) | {r["url"] for r in rejected} == set(truth)
    assert all(r["reason"] for r in rejected)


@pytest.mark.real
def test_same_parts_for_any_worker_count(realweb_slice, tmp_path):
    a = run_extract(tmp_path / "a", [str(realweb_slice)], workers=1, split_bytes=100_000)
    b = run_extract(tmp_path / "b", [str(realweb_slice)], workers=2, split_bytes=100_000)
    parts_a = list_parts(tmp_path / "a" / "extract")
    assert len(parts_a) > 3, "the slice should span several byte ranges"
    assert [p.name for p in parts_a] == [p.name for p in list_parts(tmp_path / "b" / "extract")]
    for p in parts_a:
        assert p.read_bytes() == (tmp_path / "b" / "extract" / p.name).read_bytes()
    assert a["counts"] == b["counts"] and a["counts"]["in"] == 24
    # each record is read exactly once, whatever range it straddles
    docs = read_table(tmp_path / "a" / "extract", columns=["id", "offset"]).to_pylist()
    rej = read_table(tmp_path / "a" / "extract" / REJECTED, columns=["id", "offset"]).to_pylist()
    assert len({d["id"] for d in docs + rej}) == 24
    # provenance: offset/length give back the very record
    from corpus.show import raw_record

    row = read_table(tmp_path / "a" / "extract").to_pylist()[7]
    raw = raw_record(row["source"], row["offset"], row["length"])
    assert raw.startswith(b"WARC/1.") and row["id"].encode() in raw.lower()


@pytest.mark.real
def test_real_dolma_whirlwind_wet_wat(real_data, tmp_path):
    files = ["dolma-sample-0000.warc.gz", "dolma-sample-0001.warc.gz", "cc-whirlwind.warc.gz",
             "cc-whirlwind.warc.wet.gz", "cc-whirlwind.warc.wat.gz"]
    m = run_extract(tmp_path, [str(real_data / f) for f in files], workers=2)
    assert not m["faults"], m["faults"]
    assert balanced(m) and not m["counts"]["errors"]
    docs = read_table(tmp_path / "extract").to_pylist()
    by_file: dict[str, list] = {}
    for d in docs:
        by_file.setdefault(Path(d["source"]).name, []).append(d)
    # dolma: every HTML 200 response is a page (37 pages, 22 + 15); no request/warcinfo doc
    dolma = by_file["dolma-sample-0000.warc.gz"] + by_file["dolma-sample-0001.warc.gz"]
    assert len(dolma) >= 30 and all(d["http_status"] == 200 for d in dolma)
    assert all(d["url"].startswith("http") and not d["url"].startswith("<") for d in dolma)
    # whirlwind: the page, and Common Crawl's own text from the WET, marked as such
    (page,) = by_file["cc-whirlwind.warc.gz"]
    assert page["extractor"] == "trafilatura" and "Escopete" in page["text"]
    wet = by_file["cc-whirlwind.warc.wet.gz"]
    assert wet and all(d["extractor"] == "wet" for d in wet)
    assert wet[0]["text"].startswith("Escopete - Biquipedia")
    assert "cc-whirlwind.warc.wat.gz" not in by_file  # WAT holds metadata only
    rejected = read_table(tmp_path / "extract" / REJECTED).to_pylist()
    wat = [r for r in rejected if r["source"].endswith(".wat.gz")]
    assert wat and {r["reason"] for r in wat} == {"not_response"}


def test_sample_crawl_every_record_as_expected(tmp_path):
    """The generated crawl says what each record should become; check every one."""
    from corpus.sample import generate_sample

    truth = json.loads(generate_sample(tmp_path / "crawl", seed=3, pages=120).read_text())
    m = run_extract(tmp_path / "out", [str(tmp_path / "crawl" / "*.warc.gz")], workers=2)
    got = {}
    for r in read_table(tmp_path / "out" / "extract").to_pylist():
        got[(Path(r["source"]).name, r["offset"])] = "document"
    for r in read_table(tmp_path / "out" / "extract" / REJECTED).to_pylist():
        got[(Path(r["source"]).name, r["offset"])] = r["reason"]
    wrong = []
    for rec in truth["records"]:
        outcome = got.get((rec["file"], rec["offset"]))
        expect = rec["expect"]
        ok = outcome == expect or (expect == "document" and outcome == "no_text")
        if not ok:
            wrong.append((rec["file"], rec["offset"], expect, outcome))
    assert not wrong, wrong[:10]
    n_docs = sum(r["expect"] == "document" for r in truth["records"])
    assert m["counts"]["kept"] >= n_docs * 0.95
    assert m["counts"]["errors"].get("read_error", 0) == sum(r["expect"] == "read_error"
                                                             for r in truth["records"])
    assert balanced(m)


@pytest.mark.real
def test_faults_are_reported_and_others_carry_on(realweb_slice, tmp_path):
    good = tmp_path / "good.warc.gz"
    good.write_bytes(realweb_slice.read_bytes())
    members = slice_warc(realweb_slice, tmp_path / "tmp.warc.gz", 0, 6)
    cut_at = members[5].offset + members[5].length // 2
    truncated = tmp_path / "truncated.warc.gz"
    truncated.write_bytes((tmp_path / "tmp.warc.gz").read_bytes()[:cut_at])
    random_bytes = tmp_path / "random.warc.gz"
    random_bytes.write_bytes(os.urandom(5000))
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    inputs = [str(p) for p in (good, truncated, random_bytes, empty)]

    m = run_extract(tmp_path / "out", inputs, workers=2)
    assert balanced(m)
    faults = {Path(f["file"]).name: f for f in m["faults"]}
    assert set(faults) == {"truncated.warc.gz", "random.warc.gz", "empty.warc.gz"}
    assert faults["truncated.warc.gz"]["offset"] == members[5].offset
    assert "truncated" in faults["truncated.warc.gz"]["message"]
    assert str(truncated) in faults["truncated.warc.gz"]["message"]
    assert "empty" in faults["empty.warc.gz"]["message"]
    assert "not a WARC" in faults["random.warc.gz"]["message"]
    docs = read_table(tmp_path / "out" / "extract", columns=["source"]).column("source").to_pylist()
    rej = read_table(tmp_path / "out" / "extract" / REJECTED, columns=["source", "reason"]).to_pylist()
    # records before the fault are kept; the good file is complete
    assert docs.count(str(truncated)) + sum(r["source"] == str(truncated) and r["reason"] != "read_error"
                                            for r in rej) == 5
    assert docs.count(str(good)) + sum(r["source"] == str(good) for r in rej) == 24
    assert m["counts"]["errors"]["read_error"] == 2  # the cut record + the random file

    # the CLI says so: exit 3, or 0 when told to tolerate it
    pipe = tmp_path / "p.yaml"
    pipe.write_text(f"inputs: {json.dumps(inputs)}\noutput: {tmp_path / 'cli'}\n")
    assert cli_main(["extract", str(pipe), "--workers", "1", "--quiet"]) == 3
    assert cli_main(["extract", str(pipe), "--workers", "1", "--quiet", "--tolerate-failures"]) == 0


@pytest.mark.real
def test_corrupt_member_midfile_resumes_after_it(realweb_slice, tmp_path):
    members = slice_warc(realweb_slice, tmp_path / "ten.warc.gz", 0, 10)
    data = bytearray((tmp_path / "ten.warc.gz").read_bytes())
    bad = members[4]
    for i in range(bad.offset + 40, bad.offset + 200):
        data[i] ^= 0x5A
    path = tmp_path / "corrupt.warc.gz"
    path.write_bytes(bytes(data))
    m = run_extract(tmp_path / "out", [str(path)], workers=1)
    assert [f["offset"] for f in m["faults"]] == [bad.offset]
    assert m["counts"]["in"] == 10 and m["counts"]["errors"] == {"read_error": 1}
    offsets = set(read_table(tmp_path / "out" / "extract", columns=["offset"]).column("offset").to_pylist())
    assert members[9].offset in offsets and members[3].offset in offsets


def spin_on_slow_pages(make_extractor):
    """A stand-in ``make_extractor``: real trafilatura, except that a page whose URL ends in
    ``/slow`` spins (pure Python steps, no sleep) until the CPU timer fires, so it is slower
    than any limit on any machine. The bound (CPU time too, 100x the limit, so the timer
    always comes first) only turns a timer that never fires into a failed assertion
    instead of a hung test."""
    import time

    def make(name, params=None):
        real = make_extractor(name, params)

        def run(html, url):
            if not url.endswith("/slow"):
                return real(html, url)
            give_up = time.process_time() + 30
            while time.process_time() < give_up:
                pass
            return "the timer never fired"

        return run

    return make


def test_slow_page_times_out_and_the_worker_carries_on(tmp_path, monkeypatch):
    import corpus.stages.extract.stage
    import corpus.stages.extract.extractors

    monkeypatch.setattr(corpus.stages.extract.extractors, "make_extractor",
                        spin_on_slow_pages(corpus.stages.extract.extractors.make_extractor))
    monkeypatch.setattr(corpus.stages.extract.stage, "_EXTRACTOR_CACHE", {})  # no extractor built before the patch
    fine = ("<html><head><title>t</title></head><body><article><p>"
            + "A perfectly ordinary paragraph of text about rivers and trees. " * 20
            + "</p></article></body></html>")
    path = tmp_path / "slow.warc.gz"
    write_warc(path, [html_response("http://a.example/1", fine),
                      html_response("http://a.example/slow", fine.replace("rivers", "oceans")),
                      html_response("http://a.example/2", fine.replace("rivers", "lakes"))])
    # workers=1: the pages run in this process, where the patch is (as in any one worker)
    m = run_extract(tmp_path / "out", [str(path)], workers=1, timeout_s=0.3)
    assert m["counts"]["rejected"] == {"extract_timeout": 1}
    assert m["counts"]["kept"] == 2 and balanced(m)
    rej = read_table(tmp_path / "out" / "extract" / REJECTED).to_pylist()
    assert rej[0]["url"] == "http://a.example/slow" and rej[0]["reason_value"] == 0.3
    kept = read_table(tmp_path / "out" / "extract").to_pylist()
    assert sorted(r["url"] for r in kept) == ["http://a.example/1", "http://a.example/2"]
    assert all("rivers" in r["text"] or "lakes" in r["text"] for r in kept)


FORM_PAGE = ("<html><head><title>Contact</title></head><body><article><h1>Write to us</h1><p>"
             + "Our office answers letters about the river survey within a week. " * 12
             + "</p><form action='/send'><label for='m'>Message</label><input name='m' value='hi'>"
             "<select name='s'><option>one</option></select><textarea name='t'>text</textarea>"
             "</form><p>" + "Thank you for reading the whole of this page about rivers. " * 8
             + "</p></article></body></html>")


def _extract_both_ways(pages: list[tuple[str, str]]) -> tuple[list, list]:
    """trafilatura's output as installed (lxml.html's Python lookup, its own XPath
    expressions), then with our speed-ups (the native lookup, guarded regex tests)."""
    import trafilatura
    from lxml import html
    from trafilatura.utils import HTML_PARSER

    from corpus.stages.extract.extractors import TRAFILATURA_DEFAULTS
    from corpus.stages.extract.speedups import guard_regex_tests, native_class_lookup, unguard_regex_tests

    try:
        HTML_PARSER.set_element_class_lookup(html.HtmlElementClassLookup())
        unguard_regex_tests()
        plain = [trafilatura.extract(p, url=u, **TRAFILATURA_DEFAULTS) for p, u in pages]
        assert native_class_lookup(HTML_PARSER) and guard_regex_tests() > 0
        faster = [trafilatura.extract(p, url=u, **TRAFILATURA_DEFAULTS) for p, u in pages]
    finally:
        native_class_lookup(HTML_PARSER)  # what the extract stage leaves in a worker
        guard_regex_tests()
    return plain, faster


def test_native_class_lookup_gives_every_element_its_lxml_html_class():
    from lxml import etree, html

    from corpus.stages.extract.speedups import native_class_lookup

    python_parser, native_parser = html.HTMLParser(), html.HTMLParser()
    assert native_class_lookup(native_parser)
    assert not native_class_lookup(etree.XMLParser())  # not lxml.html's: left alone
    a = [type(e) for e in html.fromstring(FORM_PAGE, parser=python_parser).iter()]
    b = [type(e) for e in html.fromstring(FORM_PAGE, parser=native_parser).iter()]
    assert a == b and html.FormElement in b and html.InputElement in b and html.TextareaElement in b
    plain, faster = _extract_both_ways([(FORM_PAGE, "http://a.example/contact")])
    assert plain == faster and "river survey" in faster[0]


def test_regex_tests_are_guarded_only_where_an_absent_attribute_could_not_match():
    from corpus.stages.extract.speedups import guarded

    path, n = guarded(".//*[self::div][re:test(@id, 'nav|menu') or re:test(@id|@class, 'a,(b)', 'i')]")
    assert n == 2
    assert path == (".//*[self::div][((@id) and re:test(@id, 'nav|menu')) or "
                    "((@id|@class) and re:test(@id|@class, 'a,(b)', 'i'))]")
    for unchanged in (".//*[re:test(@class, '^')]",        # matches '': an absent class is a match
                      ".//*[re:test(@class, 'x|y*')]",     # so does this one
                      ".//*[re:test(., 'nav')]",           # not an attribute
                      ".//*[re:test(@id, concat('a', 'b'))]",  # a pattern we cannot read
                      ".//h:div[re:test(@id, 'nav')]",     # another prefix
                      ".//*[pre:test(@id, 'nav')]",
                      ".//*[contains(@class, 're:test(')]"):
        assert guarded(unchanged) == (unchanged, 0), unchanged


ATTRIBUTE_PAGE = ("<html><body><div id=''>a</div><div>b</div><div class='main-nav'>c</div>"
                  "<div id='menu-1' class='x'>d</div><section class='Comments list'>e</section>"
                  "<span style='display:none' id='hidden-box'>f</span><p class='NAV'>g</p>"
                  "<div class='comment-list'><p class='reply-1'>h</p></div></body></html>")


def _guarded_pairs():
    """(original, guarded) for every trafilatura expression our guard changes."""
    from corpus.stages.extract.speedups import _guarded, guard_regex_tests

    guard_regex_tests()
    return [pair for pair in _guarded.values() if pair[0] is not pair[1]]


def test_guarded_trafilatura_expressions_select_the_same_elements():
    from lxml import etree, html

    pairs = _guarded_pairs()
    assert len(pairs) >= 10  # trafilatura still writes its rules this way
    tree = html.fromstring(ATTRIBUTE_PAGE)
    for original, new in pairs:
        assert original(tree) == new(tree), original.path
    made = [etree.XPath(p, namespaces={"re": "http://exslt.org/regular-expressions"})
            for p in (".//*[re:test(@id, 'nav|menu') or re:test(@class, 'nav', 'i')]",
                      ".//*[re:test(@id|@style, 'hidden|none')]")]
    from corpus.stages.extract.speedups import guarded

    for xpath in made:
        new = etree.XPath(guarded(xpath.path)[0], namespaces={"re": "http://exslt.org/regular-expressions"})
        assert [e.text for e in new(tree)] == [e.text for e in xpath(tree)] != []


def _real_pages(realweb_slice) -> list[tuple[str, str]]:
    from warcio.archiveiterator import ArchiveIterator

    from corpus.crawl.records import DecodeError, decode_html

    pages = []
    with open(realweb_slice, "rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type == "response" and rec.http_headers is not None:
                try:
                    text, _ = decode_html(rec.content_stream().read())
                except DecodeError:
                    continue
                pages.append((text, rec.rec_headers.get_header("WARC-Target-URI")))
    return pages


@pytest.mark.real
def test_speedups_change_no_extraction_of_real_pages(realweb_slice):
    from trafilatura.utils import load_html

    pages = _real_pages(realweb_slice)
    plain, faster = _extract_both_ways(pages)
    assert len(pages) >= 20 and sum(t is not None for t in faster) >= 15
    assert faster == plain
    selected = 0
    for page, _ in pages:
        tree = load_html(page)
        for original, new in _guarded_pairs():
            found = original(tree)
            assert new(tree) == found, original.path
            selected += len(found)
    assert selected > 0


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """A static file server that honours ``Range: bytes=a-b`` (as S3 and Common Crawl do)."""

    def do_GET(self):
        path = self.translate_path(self.path)
        rng = self.headers.get("Range")
        if not rng or not os.path.isfile(path):
            return super().do_GET()
        data = Path(path).read_bytes()
        a, _, b = rng.split("=", 1)[1].partition("-")
        a, b = int(a), min(int(b) if b else len(data) - 1, len(data) - 1)
        if a >= len(data):
            self.send_response(416)
            self.end_headers()
            return
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {a}-{b}/{len(data)}")
        self.send_header("Content-Length", str(b - a + 1))
        self.end_headers()
        self.wfile.write(data[a:b + 1])

    def log_message(self, *args):
        pass


def serve(directory: Path, handler_class) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(handler_class, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.real
def test_remote_url_gives_the_same_rows(realweb_slice, tmp_path):
    """A URL on a plain server is streamed as one task; on a server with byte ranges it is
    split like a local file. Either way: the same rows as the local file."""
    quiet = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    plain, ranged = serve(realweb_slice.parent, quiet), serve(realweb_slice.parent, RangeHandler)
    try:
        url = f"http://127.0.0.1:{plain.server_address[1]}/{realweb_slice.name}"
        url_r = f"http://127.0.0.1:{ranged.server_address[1]}/{realweb_slice.name}"
        remote = run_extract(tmp_path / "remote", [url], workers=1, split_bytes=100_000)
        remote_r = run_extract(tmp_path / "ranged", [url_r], workers=2, split_bytes=100_000)
        local = run_extract(tmp_path / "local", [str(realweb_slice)], workers=1, split_bytes=100_000)
        missing = run_extract(tmp_path / "missing", [url + ".nope"], workers=1)
        # provenance re-reads the record from the URL too
        from corpus.show import raw_record

        row = read_table(tmp_path / "ranged" / "extract").to_pylist()[3]
        raw = raw_record(row["source"], row["offset"], row["length"])
    finally:
        for server in (plain, ranged):
            server.shutdown()
            server.server_close()
    assert not remote["faults"] and not remote_r["faults"]
    assert remote["counts"] == local["counts"] == remote_r["counts"]
    assert len(remote["outputs"]["kept"]) == 1  # streamed: one task
    assert len(remote_r["outputs"]["kept"]) == len(local["outputs"]["kept"]) > 3  # ranged: split
    assert rows(tmp_path / "remote" / "extract") == rows(tmp_path / "local" / "extract")
    assert rows(tmp_path / "ranged" / "extract") == rows(tmp_path / "local" / "extract")
    assert set(read_table(tmp_path / "remote" / "extract", columns=["source"]).column("source").to_pylist()) == {url}
    assert missing["faults"] and url in missing["faults"][0]["message"]
    assert raw.startswith(b"WARC/1.") and row["id"].encode() in raw.lower()
