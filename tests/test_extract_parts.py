"""The extract stage's parts, without running trafilatura: framing, ranges, charsets, inputs, show."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from corpus.crawl import inputs as inp
from corpus.crawl.records import DecodeError, decode_html, is_html, parse_http, parse_warc, payload
from corpus.crawl.split import Fault, iter_gzip_records, iter_plain_records, plan_ranges, sniff
from contract.layout import REJECTED


def test_ranges_cover_each_record_exactly_once(real_data):
    path = real_data / "dolma-sample-0000.warc.gz"
    with open(path, "rb") as fh:
        whole = [(r.offset, r.length) for r in iter_gzip_records(fh)]
    size = path.stat().st_size
    for step in (997, 8192, 50_000, size):
        got = []
        for start, end in plan_ranges(size, step):
            with open(path, "rb") as fh:
                fh.seek(start)
                got += [(r.offset, r.length) for r in iter_gzip_records(fh, start, end)]
        assert got == whole, step
    assert whole[0][0] == 0 and sum(n for _, n in whole) == size


def test_plan_ranges_depend_on_size_only():
    assert plan_ranges(0) == [(0, 0)]
    assert plan_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    auto = plan_ranges(100 << 20)
    assert auto[0] == (0, (100 << 20) // 32) and auto[-1][1] == 100 << 20


def test_sniff_formats(real_data):
    head = (real_data / "cc-whirlwind.warc.wet.gz").read_bytes()[:4096]
    assert sniff(head) == "warc.gz"
    assert sniff(gzip.decompress((real_data / "cc-whirlwind.warc.gz").read_bytes())[:4096]) == "warc"
    assert sniff(b"") == "empty"
    assert sniff(b"\x00\x01garbage") == "unknown"
    assert sniff(b"filedesc://x.arc 0.0.0.0 20200101000000 text/plain 76\n") == "arc"


def test_uncompressed_warc_and_its_truncation(real_data, tmp_path):
    data = gzip.decompress((real_data / "dolma-sample-0001.warc.gz").read_bytes())
    with open(tmp_path / "a.warc", "wb") as fh:
        fh.write(data)
    with open(tmp_path / "a.warc", "rb") as fh:
        recs = list(iter_plain_records(fh))
    assert recs and not any(isinstance(r, Fault) for r in recs)
    types = [parse_warc(r.offset, r.length, r.data)[0].warc_type for r in recs]
    assert types[0] == "warcinfo" and "response" in types and "request" in types
    cut = recs[3].offset + 100
    with open(tmp_path / "b.warc", "wb") as fh:
        fh.write(data[:cut])
    with open(tmp_path / "b.warc", "rb") as fh:
        out = list(iter_plain_records(fh))
    assert len(out) == 4 and isinstance(out[-1], Fault) and out[-1].offset == recs[3].offset


def _response(headers: str, body: bytes) -> bytes:
    return f"HTTP/1.1 200 OK\r\n{headers}\r\n\r\n".encode() + body


def test_http_status_type_chunked_and_gzip():
    body = b"<html><body><p>hi</p></body></html>"
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    r = parse_http(_response("Content-Type: text/html\r\nTransfer-Encoding: chunked", chunked))
    assert r.status == 200 and r.mime == "text/html" and payload(r) == body
    r = parse_http(_response("Content-Type: text/html\r\nContent-Encoding: gzip", gzip.compress(body)))
    assert payload(r) == body
    r = parse_http(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\n")
    assert r.status == 404
    assert parse_http(b"not http") is None
    assert is_html("text/html", b"") and is_html("application/xhtml+xml", b"")
    assert is_html("", b"<!DOCTYPE html><html>") and is_html("application/octet-stream", b"<html><body>")
    assert not is_html("application/pdf", b"%PDF-1.4") and not is_html("", b"\x89PNG")
    assert not is_html("text/plain", b"<html>")


@pytest.mark.parametrize("body, ctype, expect_text, expect_charset", [
    ("<p>Grüße</p>".encode("utf-8"), "text/html", "<p>Grüße</p>", "utf-8"),
    ("<p>Grüße</p>".encode("latin-1"), "text/html; charset=ISO-8859-1", "<p>Grüße</p>", "cp1252"),
    ('<meta charset="shift_jis"><p>日本語のテキスト</p>'.encode("shift_jis"), "text/html",
     '<meta charset="shift_jis"><p>日本語のテキスト</p>', "shift_jis"),
    # mislabelled: the header says latin-1 but the bytes are UTF-8
    ("<p>Grüße aus Köln</p>".encode("utf-8"), "text/html; charset=iso-8859-1", "<p>Grüße aus Köln</p>", "utf-8"),
    (b"<p>plain ascii</p>", "text/html; charset=windows-1252", "<p>plain ascii</p>", "cp1252"),
])
def test_charset_chain(body, ctype, expect_text, expect_charset):
    text, charset = decode_html(body, ctype)
    assert text == expect_text and charset == expect_charset


def test_charset_detection_without_declaration():
    text = "Добро пожаловать на наш сайт. Здесь вы найдёте новости и статьи о жизни в городе. " * 5
    html = f"<html><body><p>{text}</p></body></html>".encode("cp1251")
    decoded, charset = decode_html(html, "text/html")
    assert text in decoded and charset
    with pytest.raises(DecodeError):
        decode_html(b"\x00\x01\x02\xff\xfe\x00" * 100 + b"\x80", "text/html")


def test_path_list_with_prefix_and_limit(tmp_path):
    for name in ("a.warc.gz", "b.warc.gz", "c.warc.gz"):
        (tmp_path / "crawl").mkdir(exist_ok=True)
        (tmp_path / "crawl" / name).write_bytes(b"")
    lst = tmp_path / "warc.paths.gz"
    lst.write_bytes(gzip.compress(b"crawl/a.warc.gz\ncrawl/b.warc.gz\ncrawl/c.warc.gz\n"))
    got = inp.resolve_inputs([str(lst)], prefix=str(tmp_path), paths_limit=2)
    assert got == [str(tmp_path / "crawl" / "a.warc.gz"), str(tmp_path / "crawl" / "b.warc.gz")]
    cc = inp.read_path_list(str(lst))
    assert cc[0] == "https://data.commoncrawl.org/crawl/a.warc.gz" and len(cc) == 3
    # globs are sorted and absolute; a pattern matching nothing is an input error naming it
    assert inp.resolve_inputs([str(tmp_path / "crawl" / "*.warc.gz")])[-1].endswith("c.warc.gz")
    with pytest.raises(inp.InputError, match="none-"):
        inp.resolve_inputs([str(tmp_path / "none-*.warc.gz")])
    (tmp_path / "crawl" / "notes.txt").write_text("not a crawl file")
    assert [Path(p).name for p in inp.resolve_inputs([str(tmp_path / "crawl")])] == [
        "a.warc.gz", "b.warc.gz", "c.warc.gz"]


def test_show_prints_the_document_and_its_raw_record(real_data, tmp_path, capsys):
    from corpus.cli import main
    from corpus.core.parts import read_table

    pipe = tmp_path / "p.yaml"
    pipe.write_text(f"inputs: ['{real_data / 'dolma-sample-0001.warc.gz'}']\noutput: {tmp_path / 'out'}\n")
    assert main(["extract", str(pipe), "--workers", "1", "--quiet"]) == 0
    doc = read_table(tmp_path / "out" / "extract").to_pylist()[0]
    capsys.readouterr()
    assert main(["show", doc["id"], "--in", str(tmp_path / "out" / "extract")]) == 0
    shown = capsys.readouterr().out
    assert f"url: {doc['url']}" in shown and doc["text"][:200] in shown
    assert main(["show", doc["id"], "--in", str(tmp_path / "out"), "--raw"]) == 0
    raw = capsys.readouterr().out
    assert raw.startswith("WARC/1.") and "WARC-Type: response" in raw and "HTTP/1.1 200" in raw
    assert "<html" in raw.lower()
    rejected = read_table(tmp_path / "out" / "extract" / REJECTED).to_pylist()
    req = next(r for r in rejected if r["reason"] == "not_response")
    assert main(["show", req["id"], "--in", str(tmp_path / "out" / "extract")]) == 0
    assert "reason: not_response" in capsys.readouterr().out
    assert main(["show", "no-such-id", "--in", str(tmp_path / "out" / "extract")]) == 1


def test_resiliparse_extractor(real_data, tmp_path):
    pytest.importorskip("resiliparse")
    from corpus.core.config import load_pipeline
    from corpus.core.parts import read_table
    from corpus.stages.extract.stage import ExtractStage
    from corpus.core.runner import run_stage

    config = load_pipeline(None, inputs=[str(real_data / "dolma-sample-0000.warc.gz")],
                           output=str(tmp_path), workers=1)
    config["stages"] = {"extract": {"extractor": "resiliparse"}}
    m = run_stage(ExtractStage(config), show_progress=False)
    docs = read_table(tmp_path / "extract").to_pylist()
    assert docs and {d["extractor"] for d in docs} == {"resiliparse"}
    assert m["counts"]["kept"] == len(docs) and all(d["text"].strip() for d in docs)


def test_arc_file_gives_its_page(tmp_path):
    from corpus.core.config import load_pipeline
    from corpus.core.parts import read_table
    from corpus.stages.extract.stage import ExtractStage
    from corpus.core.runner import run_stage

    body = (b"<html><head><title>Arc page</title></head><body><article><p>"
            + b"An old page from an ARC file, with enough words to count as text. " * 10
            + b"</p></article></body></html>")
    http = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + body
    desc = b"1 0 Test\nURL IP-address Archive-date Content-type Archive-length\n"
    arc = (b"filedesc://test.arc 0.0.0.0 20200101000000 text/plain %d\n" % len(desc) + desc + b"\n"
           + b"http://example.com/old 93.184.216.34 20200101000000 text/html %d\n" % len(http) + http + b"\n")
    (tmp_path / "old.arc").write_bytes(arc)
    ids = []
    for run in ("a", "b"):
        config = load_pipeline(None, inputs=[str(tmp_path / "old.arc")], output=str(tmp_path / run), workers=1)
        m = run_stage(ExtractStage(config), show_progress=False)
        assert m["counts"]["in"] == 2 and m["counts"]["kept"] == 1 and not m["faults"]
        (doc,) = read_table(tmp_path / run / "extract").to_pylist()
        assert doc["url"] == "http://example.com/old" and "ARC file" in doc["text"]
        assert doc["date"].year == 2020 and doc["offset"] > 0
        ids.append(doc["id"])
    assert ids[0] == ids[1]  # stable ids, although warcio invents random ones for ARC


def test_too_large_records_are_rejected_with_their_size(real_data, tmp_path):
    from corpus.core.config import load_pipeline
    from corpus.core.parts import read_table
    from corpus.stages.extract.stage import ExtractStage
    from corpus.core.runner import run_stage

    config = load_pipeline(None, inputs=[str(real_data / "dolma-sample-0001.warc.gz")],
                           output=str(tmp_path), workers=1)
    config["stages"] = {"extract": {"max_bytes": 20000}}
    m = run_stage(ExtractStage(config), show_progress=False)
    c = m["counts"]
    assert c["rejected"].get("too_large", 0) > 0 and not m["faults"]
    assert c["in"] == c["kept"] + sum(c["rejected"].values()) + sum(c["errors"].values())
    big = [r for r in read_table(tmp_path / "extract" / REJECTED).to_pylist() if r["reason"] == "too_large"]
    assert all(r["reason_value"] > 20000 and r["url"].startswith("http") for r in big)


def test_bad_settings_fail_before_any_work(tmp_path):
    from corpus.cli import main
    from corpus.core.config import ConfigError
    from corpus.stages.extract.stage import settings

    for bad in ({"extractor": "magic"}, {"trafilatura": {"fasst": True}}, {"timeout_s": -1},
                {"max_bytes": "big"}, {"unknown_key": 1}):
        with pytest.raises(ConfigError):
            settings(bad)
    assert settings({"timeout_s": None})["timeout_s"] is None
    pipe = tmp_path / "p.yaml"
    pipe.write_text(f"inputs: [x.warc.gz]\noutput: {tmp_path / 'o'}\nstages:\n  extract: {{extractor: magic}}\n")
    assert main(["extract", str(pipe), "--quiet"]) == 2  # a bad setting: exit 2, nothing ran


def test_pipelines_load_with_valid_extract_settings():
    from corpus.core.config import load_pipeline
    from corpus.stages.extract.stage import ExtractStage

    root = Path(__file__).resolve().parent.parent / "pipelines"
    cc = ExtractStage(load_pipeline(root / "commoncrawl.yaml"))
    assert cc.settings["paths_limit"] and cc.settings["split_bytes"] == 64 << 20
    assert any(inp.is_path_list(i) for i in cc.config["inputs"])
    sample = ExtractStage(load_pipeline(root / "sample.yaml"))
    assert sample.settings["trafilatura"]["fast"] is True and sample.settings["timeout_s"] == 1.0
