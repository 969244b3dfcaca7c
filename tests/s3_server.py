"""An S3-compatible server for tests (moto's server mode, as s3fs's own tests use), and the
helpers that run ``corpus`` against it and read back what it wrote."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from contract.layout import REJECTED

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "corpus-test"
#: The sample, small enough that the whole pipeline runs several times within the test budget.
PAGES = "60"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def s3_env(endpoint: str) -> dict[str, str]:
    """What a process needs to reach the test server: fsspec reads FSSPEC_S3_*."""
    return {"FSSPEC_S3_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "RAY_AUTH_MODE": "disabled"}


def start_moto(host: str, port: int, prefix: list[str] | None = None) -> subprocess.Popen:
    """moto's server on ``host:port`` (``prefix``: e.g. ``ip netns exec NS``), up and answering.

    Its log (a line per request) goes to a file: into a pipe nobody reads, it would fill the
    pipe and block the server mid-request, and every S3 call after it would hang."""
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([*(prefix or []), sys.executable, "-m", "moto.server", "-H", host,
                             "-p", str(port)], stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 60
    while True:
        probe = [*(prefix or []), sys.executable, "-c",
                 f"import socket; socket.create_connection(('{host}', {port}), 1).close()"]
        if subprocess.run(probe, capture_output=True).returncode == 0:
            return proc
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.seek(0)
            pytest.fail(f"moto server did not start: {log.read().decode(errors='replace')[-2000:]}")
        time.sleep(0.2)


def filesystem(endpoint: str):
    import s3fs

    # timeouts: a stuck server fails the test instead of hanging it
    return s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint,
                             use_listings_cache=False,
                             config_kwargs={"connect_timeout": 10, "read_timeout": 120})


def corpus(args: list[str], env: dict[str, str], cwd: Path, prefix: list[str] | None = None,
           timeout: float = 600) -> subprocess.CompletedProcess:
    """``corpus ARGS`` in a fresh process (its own TMPDIR, cwd and environment)."""
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    cmd = [*(prefix or []), "env", *(f"{k}={v}" for k, v in full_env.items()),
           sys.executable, "-m", "corpus.cli", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


#: Every Parquet dataset the pipeline writes, as (folder, relative subfolder).
DATASETS = ["extract", f"extract/{REJECTED}", "filter", f"filter/{REJECTED}", "dedup",
            f"dedup/{REJECTED}", "shards/train", "shards/val", "tokenizer/sample"]


def read_local(root: Path, rel: str):
    return [pq.read_table(p) for p in sorted((root / rel).glob("part-*.parquet"))]


def read_remote(fs, url: str, rel: str):
    base = url.removeprefix("s3://") + "/" + rel
    paths = sorted(p for p in fs.ls(base, detail=False) if p.rsplit("/", 1)[-1].startswith("part-"))
    out = []
    for p in paths:
        with fs.open(p, "rb") as fh:
            out.append(pq.read_table(fh))
    return out


def assert_same_rows(local_root: Path, fs, url: str, datasets: list[str] = DATASETS) -> None:
    """Every dataset holds the same parts with the same rows on both sides."""
    for rel in datasets:
        assert_same_tables(rel, read_local(local_root, rel), read_remote(fs, url, rel))


def assert_same_tables(rel: str, a: list, b: list) -> None:
    """The same parts with the same rows (wherever each run read its crawl from)."""
    assert len(a) == len(b) and len(a) > 0, f"{rel}: {len(a)} parts, then {len(b)}"
    for x, y in zip(a, b):
        x, y = _portable(x), _portable(y)
        diff = [(c, [(u, v) for u, v in zip(x[c].to_pylist(), y[c].to_pylist()) if u != v][:2])
                for c in x.column_names if c in y.column_names and not x[c].equals(y[c])]
        assert x.schema == y.schema and not diff, f"{rel}: rows differ: {diff}"


def _portable(table):
    """``source`` names the crawl file where it was read (a local path, or its URL), and so
    do a read error's detail and id: compare the file names."""
    for col in ("source", "reason_detail"):
        if col in table.column_names:
            values = [re.sub(r"\S*/crawl/", "crawl/", v) if v else v for v in table[col].to_pylist()]
            table = table.set_column(table.column_names.index(col), col, [values])
    if "reason" in table.column_names:  # a record unreadable at all is named by file and offset
        ids = [None if r == "read_error" else i
               for i, r in zip(table["id"].to_pylist(), table["reason"].to_pylist())]
        table = table.set_column(table.column_names.index("id"), "id", [ids])
    return table


def local_sample_run(out: Path) -> Path:
    """The sample pipeline with the local executor into ``out``: the rows every S3 or cluster
    run must match."""
    res = corpus(["run", str(ROOT / "pipelines/sample.yaml"), "--output", str(out), "--set",
                  f"sample.pages={PAGES}", "--workers", "2", "--quiet"], {}, ROOT)
    assert res.returncode == 0, res.stderr
    return out


@contextmanager
def moto_bucket():
    """A moto S3 server on a free loopback port holding one bucket: (endpoint, env, fs)."""
    port = free_port()
    proc = start_moto("127.0.0.1", port)
    endpoint = f"http://127.0.0.1:{port}"
    fs = filesystem(endpoint)
    fs.mkdir(BUCKET)
    try:
        yield endpoint, s3_env(endpoint), fs
    finally:
        proc.kill()
        proc.wait()
