"""How inputs are found, opened and reported: HTTP failures with their true cause, file
names that are not UTF-8, and inputs that match nothing (always an error, exit 3)."""
from __future__ import annotations

import gzip
import http.server
import json
import os
import socket
import threading
from io import BytesIO
from pathlib import Path

import pytest

from corpus.crawl import inputs as inp
from corpus.cli import main as cli_main
from corpus.core.config import ConfigError, load_pipeline
from corpus.core.parts import read_table
from corpus.stages.extract.stage import ExtractStage
from corpus.core.runner import run_stage
from contract.layout import MANIFEST

ROOT = Path(__file__).resolve().parent.parent
PAGE = (b"<html><head><title>t</title></head><body><article><p>"
        + b"A perfectly ordinary paragraph of text about rivers and trees. " * 20
        + b"</p></article></body></html>")


def write_warc(path, pages=(("http://a.example/1", PAGE),)) -> None:
    """A small gzipped WARC of HTML 200 responses (``path`` may be bytes)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, body in pages:
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=BytesIO(body),
                                                          http_headers=http))


def run_extract(out: Path, inputs: list[str], **params) -> dict:
    config = load_pipeline(None, inputs=inputs, output=str(out), workers=1)
    config["stages"] = {"extract": params}
    return run_stage(ExtractStage(config), show_progress=False)


# --- HTTP inputs: a server that never answers, one that answers 500, a closed port ---------

@pytest.fixture
def silent_server():
    """A socket on 127.0.0.1 that accepts connections and never answers: the URL."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        lsock.settimeout(0.2)  # only so the thread can notice `stop`
        while not stop.is_set():
            try:
                held.append(lsock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{lsock.getsockname()[1]}/crawl.warc.gz"
    stop.set()
    thread.join()
    for s in held + [lsock]:
        s.close()


class Answer500(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def server_500():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer500)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/crawl.warc.gz"
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/crawl.warc.gz"


def only_fault(m: dict, url: str) -> str:
    assert m["counts"]["in"] == 0 and len(m["faults"]) == 1, m["faults"]
    msg = m["faults"][0]["message"]
    assert url in msg and "not found" not in msg
    return msg


def test_silent_server_is_reported_as_a_timeout(silent_server, tmp_path):
    m = run_extract(tmp_path / "out", [silent_server], http_timeout_s=1)
    assert "timed out after 1 s" in only_fault(m, silent_server)


def test_http_500_is_reported_as_http_500(server_500, tmp_path):
    m = run_extract(tmp_path / "out", [server_500], http_timeout_s=30)
    assert "HTTP 500" in only_fault(m, server_500)


def test_closed_port_is_reported_as_connection_refused(closed_port_url, tmp_path):
    m = run_extract(tmp_path / "out", [closed_port_url], http_timeout_s=30)
    assert "connection refused" in only_fault(m, closed_port_url)


def test_http_failure_exits_3_with_its_cause(server_500, tmp_path, capsys):
    pipe = tmp_path / "p.yaml"
    pipe.write_text(f"inputs: [{server_500}]\noutput: {tmp_path / 'out'}\n"
                    "stages: {extract: {http_timeout_s: 30}}\n")
    assert cli_main(["extract", str(pipe), "--workers", "1", "--quiet"]) == 3
    assert "HTTP 500" in capsys.readouterr().err


def test_http_timeout_setting_is_validated(tmp_path):
    assert ExtractStage(load_pipeline(None, output=str(tmp_path))).settings["http_timeout_s"] == 60
    for bad in (0, -1, "soon"):
        config = load_pipeline(None, output=str(tmp_path))
        config["stages"] = {"extract": {"http_timeout_s": bad}}
        with pytest.raises(ConfigError, match="stages.extract.http_timeout_s"):
            ExtractStage(config)


# --- file names that are not UTF-8 ---------------------------------------------------------

def test_non_utf8_file_name_is_read_and_stored_escaped(tmp_path, capsys):
    name = os.path.join(os.fsencode(tmp_path), b"caf\xe9.warc.gz")
    write_warc(name)
    out = tmp_path / "out"
    pipe = tmp_path / "p.yaml"
    pipe.write_text(f"inputs: ['{tmp_path}/*.warc.gz']\noutput: {out}\n")
    assert cli_main(["extract", str(pipe), "--workers", "1", "--quiet"]) == 0
    m = json.loads((out / "extract" / MANIFEST).read_text(encoding="utf-8"))
    shown = f"{tmp_path}/caf\\xe9.warc.gz"
    assert m["counts"]["kept"] == 1 and m["inputs"] == [shown]
    assert read_table(out / "extract", columns=["source"]).column("source").to_pylist() == [shown]
    # provenance re-opens the file from the stored name
    row = read_table(out / "extract").to_pylist()[0]
    assert inp.read_range(row["source"], row["offset"], row["length"])[:2] == b"\x1f\x8b"


def test_non_utf8_file_name_of_a_bad_file_is_a_fault(tmp_path):
    with open(os.path.join(os.fsencode(tmp_path), b"bad\xff.warc.gz"), "wb") as fh:
        fh.write(b"not a crawl file at all")
    m = run_extract(tmp_path / "out", [str(tmp_path / "*.warc.gz")])
    assert [f["file"] for f in m["faults"]] == [f"{tmp_path}/bad\\xff.warc.gz"]
    json.dumps(m, ensure_ascii=False).encode("utf-8")  # storable as plain UTF-8


# --- inputs that match nothing: always an error, exit 3, nothing touched ------------------

@pytest.mark.parametrize("kind", ["missing", "glob", "paths", "none"])
def test_input_matching_nothing_is_an_input_error(tmp_path, kind):
    empty_list = tmp_path / "warc.paths.gz"
    empty_list.write_bytes(gzip.compress(b"\n# nothing here\n"))
    pattern = {"missing": [str(tmp_path / "typo.warc.gz")], "glob": [str(tmp_path / "x-*.warc.gz")],
               "paths": [str(empty_list)], "none": []}[kind]
    with pytest.raises(inp.InputError) as err:
        inp.resolve_inputs(pattern)
    assert (pattern[0] if pattern else "no inputs") in str(err.value)


def test_mistyped_input_exits_3_even_when_tolerating(tmp_path, capsys):
    """sample.yaml sets tolerate_failures: a typo must still stop the run, output untouched."""
    good = tmp_path / "good.warc.gz"
    write_warc(good)
    out = tmp_path / "out"
    base = ["--output", str(out), "--workers", "1", "--quiet"]
    sample = str(ROOT / "pipelines" / "sample.yaml")
    assert cli_main(["extract", sample, "--input", str(good)] + base) == 0
    before = (out / "extract" / MANIFEST).read_text()
    capsys.readouterr()
    typo = str(tmp_path / "goood.warc.gz")
    for cmd in ("extract", "run"):
        assert cli_main([cmd, sample, "--input", typo] + base) == 3
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and typo in err[0] and "Traceback" not in err[0]
    assert (out / "extract" / MANIFEST).read_text() == before
    # `run` started no other stage (the hidden .lock is the output folder's run lock)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["extract"]


def test_inputs_that_all_fail_stop_the_run_even_when_tolerating(tmp_path, capsys):
    """Every input exists but none yields a record (a closed port, a file that is no crawl):
    `corpus run` stops after extract with exit 3 instead of carrying on with no data."""
    junk = tmp_path / "junk.warc.gz"
    junk.write_bytes(b"this is not a crawl file")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/x.warc.gz"
    out = tmp_path / "out"
    rc = cli_main(["run", str(ROOT / "pipelines" / "sample.yaml"), "--input", str(junk), "--input", closed,
                   "--output", str(out), "--workers", "1", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 3 and "no document could be extracted from the 2 input(s)" in err
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["extract"]


def test_show_raw_of_a_moved_crawl_is_one_line_exit_3(tmp_path, capsys):
    """`corpus show ID --raw` re-reads the WARC: a crawl moved since the run is one clear line."""
    crawl = tmp_path / "crawl.warc.gz"
    write_warc(crawl)
    out = tmp_path / "out"
    assert cli_main(["extract", str(ROOT / "pipelines" / "sample.yaml"), "--input", str(crawl),
                     "--output", str(out), "--workers", "1", "--quiet"]) == 0
    import pyarrow.parquet as pq
    doc_id = pq.read_table(sorted((out / "extract").glob("part-*.parquet"))[0]).column("id")[0].as_py()
    crawl.rename(tmp_path / "moved.warc.gz")
    capsys.readouterr()
    assert cli_main(["show", doc_id, "--in", str(out / "extract"), "--raw"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot re-read" in err[0] and str(crawl) in err[0]
