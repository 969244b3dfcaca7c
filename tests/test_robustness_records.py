"""Hostile WARC records: lying Content-Lengths, compression bombs, odd charset labels.

Every file here is crafted by the test. Where a bug would hang or eat memory, the stage
runs in a subprocess under ``RLIMIT_AS``, so a regression fails instead of taking the
machine down.
"""
from __future__ import annotations

import codecs
import gzip
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from corpus.core.config import load_pipeline
from corpus.core.parts import read_table
from corpus.stages.extract.stage import ExtractStage
from corpus.crawl.records import decode_html
from corpus.core.runner import run_stage
from contract.layout import REJECTED

ROOT = Path(__file__).resolve().parent.parent

ARTICLE = ("<html><head><title>t</title></head><body><article><p>"
           + "A perfectly ordinary paragraph of text about rivers and trees. " * 20
           + "</p></article></body></html>").encode()


def http_block(body: bytes, headers: str = "Content-Type: text/html; charset=utf-8") -> bytes:
    return f"HTTP/1.1 200 OK\r\n{headers}\r\n\r\n".encode() + body


def warc_record(block: bytes, url: str, content_length: str | None = "auto") -> bytes:
    """One WARC response record; ``content_length`` None leaves the header out."""
    n = len(block) if content_length == "auto" else content_length
    head = ("WARC/1.0\r\nWARC-Type: response\r\n"
            f"WARC-Record-ID: <urn:uuid:{abs(hash(url)):032x}>\r\n"
            f"WARC-Target-URI: {url}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
            "Content-Type: application/http; msgtype=response\r\n"
            + (f"Content-Length: {n}\r\n" if n is not None else "") + "\r\n")
    return head.encode() + block + b"\r\n\r\n"


def minus_header_length(block: bytes, url: str) -> str:
    """The Content-Length that points the next record back at this one's start."""
    n = 0
    while True:
        rec = warc_record(block, url, str(-n))
        if rec.index(b"\r\n\r\n") + 4 == n:
            return str(-n)
        n = rec.index(b"\r\n\r\n") + 4


def write(path: Path, records: list[bytes], gz: bool) -> Path:
    path.write_bytes(b"".join(gzip.compress(r) for r in records) if gz else b"".join(records))
    return path


def run_extract(out: Path, inputs: list[Path], **params) -> dict:
    config = load_pipeline(None, inputs=[str(p) for p in inputs], output=str(out), workers=1)
    config["stages"] = {"extract": params}
    return run_stage(ExtractStage(config), show_progress=False)


CHILD = r"""
import json, resource, sys
from corpus.core.config import load_pipeline
from corpus.stages.extract.stage import ExtractStage, _extractor
from corpus.core.runner import run_stage

inputs, out, params, headroom = json.loads(sys.argv[1])
config = load_pipeline(None, inputs=inputs, output=out, workers=1)
config["stages"] = {"extract": params}
stage = ExtractStage(config)
_extractor(stage.settings)("<html><body><p>warm up</p></body></html>", "http://x/")
import io, pyarrow as pa, pyarrow.parquet as pq  # warm up: the allocator maps its arenas now
pq.write_table(pa.table({"a": ["x" * 1000] * 1000}), io.BytesIO())
with open("/proc/self/status") as fh:
    vm = next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (vm + headroom, vm + headroom))
print(json.dumps(run_stage(stage, show_progress=False), default=str))
"""


def run_extract_bounded(out: Path, inputs: list[Path], headroom: int = 300 << 20, **params) -> dict:
    """The stage in a child process whose address space may grow by ``headroom`` only."""
    arg = json.dumps([[str(p) for p in inputs], str(out), params, headroom])
    env = {"PYTHONPATH": str(ROOT), "MALLOC_ARENA_MAX": "2", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", CHILD, arg], capture_output=True, text=True,
                          cwd=str(ROOT), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def balanced(m: dict) -> bool:
    c = m["counts"]
    return c["in"] == c["kept"] + sum(c["rejected"].values()) + sum(c["errors"].values())


def outcomes(out: Path) -> dict[str, str]:
    got = {r["url"]: "document" for r in read_table(out / "extract").to_pylist()}
    got.update({r["url"] or f"@{r['offset']}": r["reason"]
                for r in read_table(out / "extract" / REJECTED).to_pylist()})
    return got


# --- problem 1 (and its relatives): Content-Length negative, huge, not a number, missing ---

@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
@pytest.mark.parametrize("kind", ["minus_header", "negative", "not_a_number", "missing", "huge"])
def test_bad_content_length_is_a_counted_fault(tmp_path, gz, kind):
    bad_block = http_block(b"<html><body><p>x</p></body></html>")
    clen = {"minus_header": minus_header_length(bad_block, "http://a.example/bad"),
            "negative": "-5", "not_a_number": "12abc", "missing": None,
            "huge": str(10 ** 30)}[kind]
    records = [warc_record(bad_block, "http://a.example/bad", clen),
               warc_record(http_block(ARTICLE), "http://a.example/good")]
    path = write(tmp_path / ("bad.warc.gz" if gz else "bad.warc"), records, gz)
    m = run_extract_bounded(tmp_path / "out", [path])
    assert balanced(m), m["counts"]
    assert m["counts"]["errors"] == {"read_error": 1}, m["counts"]
    (fault,) = m["faults"]
    assert fault["offset"] == 0 and fault["file"] == str(path) and str(path) in fault["message"]
    if gz or kind != "huge":  # a huge length in a plain file swallows the rest of it
        assert outcomes(tmp_path / "out")["http://a.example/good"] == "document"
        assert m["counts"]["in"] == 2


def test_minus_header_content_length_in_a_187_byte_file(tmp_path):
    """The report's case: the one record of a tiny file points back at its own start."""
    block = b"x" * 20
    clen = minus_header_length(block, "http://a.example/")
    path = write(tmp_path / "tiny.warc.gz", [warc_record(block, "http://a.example/", clen)], True)
    m = run_extract_bounded(tmp_path / "out", [path])
    assert m["counts"]["in"] == 1 and m["counts"]["errors"] == {"read_error": 1}
    assert [f["offset"] for f in m["faults"]] == [0]


# --- problem 16: a Content-Length that does not end where the next record begins ---

@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
@pytest.mark.parametrize("delta", [-100, +30], ids=["too_small", "too_large"])
def test_wrong_content_length_is_an_error_and_reading_resumes(tmp_path, gz, delta):
    bad_block = http_block(ARTICLE.replace(b"rivers", b"lakes"))
    records = [warc_record(http_block(ARTICLE.replace(b"rivers", b"hills")), "http://a.example/first"),
               warc_record(bad_block, "http://a.example/bad", str(len(bad_block) + delta)),
               warc_record(http_block(ARTICLE), "http://a.example/good")]
    path = write(tmp_path / ("bad.warc.gz" if gz else "bad.warc"), records, gz)
    bad_offset = len(gzip.compress(records[0])) if gz else len(records[0])
    m = run_extract(tmp_path / "out", [path])
    assert balanced(m) and m["counts"]["in"] == 3, m["counts"]
    assert m["counts"]["errors"] == {"read_error": 1} and m["counts"]["kept"] == 2, m["counts"]
    (fault,) = m["faults"]
    assert fault["offset"] == bad_offset and str(path) in fault["message"]
    assert "Content-Length" in fault["message"] or "truncated" in fault["message"]
    got = outcomes(tmp_path / "out")
    assert got["http://a.example/first"] == got["http://a.example/good"] == "document"
    assert "http://a.example/bad" not in got  # not kept cut short (the error row has no url)


# --- problem 2: compression bombs in the HTTP body ---

BOMB_MB = 256  # inflates to this many MiB; the child may grow by half of it only


def bomb(encoding: str) -> bytes:
    """``<html>`` and 256 MiB of spaces, compressed to a few hundred KiB at most."""
    chunk = b" " * (1 << 20)
    if encoding == "br":
        brotli = pytest.importorskip("brotli")
        c = brotli.Compressor(quality=5, lgwin=24)
        return b"".join([c.process(b"<html><body>")] + [c.process(chunk) for _ in range(BOMB_MB)]
                        + [c.finish()])
    wbits = {"gzip": 31, "deflate": 15, "raw-deflate": -15}[encoding]
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join([c.compress(b"<html><body>")] + [c.compress(chunk) for _ in range(BOMB_MB)]
                    + [c.flush()])


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate", "br"])
def test_compression_bomb_is_too_large_in_bounded_memory(tmp_path, encoding):
    header = "deflate" if encoding == "raw-deflate" else encoding
    body = bomb(encoding)
    assert len(body) < 1 << 20
    records = [warc_record(http_block(body, f"Content-Type: text/html\r\nContent-Encoding: {header}"),
                           "http://a.example/bomb"),
               warc_record(http_block(ARTICLE), "http://a.example/good")]
    path = write(tmp_path / "bomb.warc.gz", records, True)
    m = run_extract_bounded(tmp_path / "out", [path], headroom=(BOMB_MB // 2) << 20,
                            max_bytes=1 << 20)
    assert balanced(m) and m["counts"]["in"] == 2, m["counts"]
    assert m["counts"]["rejected"] == {"too_large": 1} and m["counts"]["kept"] == 1, m["counts"]
    (rej,) = read_table(tmp_path / "out" / "extract" / REJECTED).to_pylist()
    assert rej["url"] == "http://a.example/bomb" and rej["reason_value"] > 1 << 20


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate", "br"])
def test_bounded_inflate_gives_the_body_or_stops_at_the_limit(encoding):
    from corpus.crawl.records import TooLarge, parse_http, payload

    body = b"<html><body>" + bytes(range(256)) * 2000
    if encoding == "br":
        packed = pytest.importorskip("brotli").compress(body)
    else:
        c = zlib.compressobj(6, zlib.DEFLATED, {"gzip": 31, "deflate": 15, "raw-deflate": -15}[encoding])
        packed = c.compress(body) + c.flush()
    header = "deflate" if encoding == "raw-deflate" else encoding
    resp = parse_http(http_block(packed, f"Content-Type: text/html\r\nContent-Encoding: {header}"))
    assert payload(resp) == payload(resp, len(body)) == body
    with pytest.raises(TooLarge) as err:
        payload(resp, len(body) - 1)
    assert err.value.size > len(body) - 1 and err.value.head.startswith(b"<html><body>")


# --- problem 17: charset labels naming codecs that are not text encodings ---

GERMAN = ("<html><body><p>" + "Grüße aus Köln, schöne Straßen und große Bäume am Fluss. " * 8
          + "</p></body></html>")


@pytest.mark.parametrize("label", ["rot13", "base64", "zlib", "hex", "bz2", "uu", "quopri"])
def test_non_text_codec_labels_are_ignored(label):
    body = GERMAN.encode("latin-1")
    for ctype, html in ((f"text/html; charset={label}", body),
                        ("text/html", f'<meta charset="{label}">'.encode() + body)):
        text, charset = decode_html(html, ctype)
        assert "Grüße aus Köln" in text and codecs.lookup(charset)._is_text_encoding
    text, charset = decode_html(b"<p>plain</p>", f"text/html; charset={label}")
    assert text == "<p>plain</p>" and charset == "ascii"


def test_page_with_a_rot13_charset_is_kept(tmp_path):
    html = GERMAN.replace("<p>", "<article><p>").replace("</p>", "</p></article>").encode("latin-1")
    path = write(tmp_path / "rot.warc.gz",
                 [warc_record(http_block(html, "Content-Type: text/html; charset=rot13"),
                              "http://a.example/rot13")], True)
    m = run_extract(tmp_path / "out", [path])
    assert m["counts"]["kept"] == 1 and not m["counts"]["errors"], m["counts"]
    (doc,) = read_table(tmp_path / "out" / "extract").to_pylist()
    assert "Grüße aus Köln" in doc["text"] and doc["charset"] != "rot-13"
