"""`output: s3://...`: the whole sample pipeline writes to an S3 server (moto, on 127.0.0.1)
with the local executor and with Ray; the rows are those of a local run, and nothing is
left on local disk."""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from contract.layout import DEDUP_INDEX, MANIFEST
from s3_server import (BUCKET, PAGES, ROOT, assert_same_rows, corpus,
                       local_sample_run, moto_bucket, read_remote)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server on a free loopback port with one bucket: (endpoint, env, fs)."""
    with moto_bucket() as server:
        yield server


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    return local_sample_run(tmp_path_factory.mktemp("local") / "out")


def _run_on_s3(s3, tmp_path, url: str, *extra: str, env_extra: dict | None = None):
    """`corpus run` with its own empty cwd and TMPDIR, so what it leaves is visible."""
    env = {**s3[1], **(env_extra or {})}
    cwd = tmp_path / "cwd"
    cwd.mkdir(parents=True)
    tmp = Path(tempfile.mkdtemp(prefix="c2t-", dir="/tmp"))  # short: Ray's socket paths
    try:
        res = corpus(["run", str(ROOT / "pipelines/sample.yaml"), "--output", url, "--set",
                      f"sample.pages={PAGES}", "--workers", "2", "--quiet", *extra],
                     {**env, "TMPDIR": str(tmp)}, cwd)
        assert res.returncode == 0, res.stderr
        assert not any(cwd.iterdir()), f"wrote into the working directory: {list(cwd.iterdir())}"
        left = [p for p in tmp.iterdir() if p.name.startswith("crawl2tokens-")]
        assert not left, f"the local mirror outlived the run: {left}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


def test_local_executor_writes_the_same_rows_to_s3(s3, local_run, tmp_path):
    _, env, fs = s3
    url = f"s3://{BUCKET}/local-executor"
    res = _run_on_s3(s3, tmp_path, url)
    assert f"output in {url}" in res.stdout
    assert_same_rows(local_run, fs, url)
    manifest = json.loads(fs.cat_file(f"{BUCKET}/local-executor/extract/{MANIFEST}"))
    assert all(i.startswith(url) for i in manifest["inputs"]), manifest["inputs"]
    assert not fs.exists(f"{BUCKET}/local-executor/.lock")
    assert not fs.exists(f"{BUCKET}/local-executor/shards/parts")  # removed by tokenize, there too

    # a second run finds every stage complete on the store and redoes nothing
    again = _run_on_s3(s3, tmp_path / "again", url)
    assert "up to date" in again.stderr or again.stderr.count("resuming") == 0
    assert json.loads(fs.cat_file(f"{BUCKET}/local-executor/extract/{MANIFEST}")) == manifest


def test_driver_never_fetches_the_documents_of_a_url_output(s3, local_run, tmp_path):
    """The driver's pulls (fs.FETCH_LOG: what it fetched, or found put in the shared mirror by
    a worker, which a driver on a machine of its own would have fetched) hold no document
    part of extract, filter or dedup: dedup's global step reads only its keys (``__index/``),
    the tokenizer only its sample; the tasks fetch the parts they read."""
    _, _, fs = s3
    url = f"s3://{BUCKET}/driver-fetches"
    log = tmp_path / "fetches.jsonl"
    _run_on_s3(s3, tmp_path, url, env_extra={"CORPUS_TEST_FETCH_LOG": str(log)})
    assert_same_rows(local_run, fs, url)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    driver = [r for r in rows if r["role"] == "driver" and r["how"] in ("fetched", "found")]
    assert any(r["role"] == "task" for r in rows)  # the hook logs: the tasks did fetch parts
    texts = [r["rel"] for r in driver if re.fullmatch(r"(extract|filter|dedup)/(?!__index/).*\.parquet",
                                                      r["rel"])]
    assert not texts, f"the driver fetched document parts: {texts[:5]}"
    dedup = {r["rel"].split("/")[1] for r in driver if r["rel"].startswith("dedup/")}
    assert dedup <= {DEDUP_INDEX}, dedup
    tokenizer = {r["rel"].split("/")[1] for r in driver if r["rel"].startswith("tokenizer/")}
    assert tokenizer <= {"sample"}, tokenizer
    corpus_bytes = sum(info["size"] for top in ("crawl", "extract", "filter", "dedup")
                       for info in fs.find(f"{BUCKET}/driver-fetches/{top}", detail=True).values())
    pulled = sum(r["size"] for r in driver if r["rel"].split("/")[0] in ("crawl", "extract", "filter", "dedup"))
    assert pulled < corpus_bytes / 10, (pulled, corpus_bytes)

    # a rebuild with other settings swaps the new output in on the store too: no old part or
    # staging folder is left (the workers here share the driver's disk; where they do not,
    # test_ray_cluster's two-node test checks the same)
    res = corpus(["dedup", str(ROOT / "pipelines/sample.yaml"), "--output", url, "--set",
                  f"sample.pages={PAGES}", "--set", "stages.dedup.minhash=false", "--workers", "2",
                  "--quiet"], s3[1], tmp_path)
    assert res.returncode == 0, res.stderr
    base = f"{BUCKET}/driver-fetches"
    manifest = json.loads(fs.cat_file(f"{base}/dedup/{MANIFEST}"))
    assert manifest["config"]["minhash"] is False
    kept = read_remote(fs, url, "dedup")
    assert [f"part-{i:05d}.parquet" for i in range(len(kept))] == [o["part"] for o in manifest["outputs"]["kept"]]
    assert sum(t.num_rows for t in kept) == manifest["counts"]["kept"]
    assert not fs.exists(f"{base}/dedup/.work/near_members.npy")  # the old build's, gone
    assert not [p for p in fs.find(base) if "/.dedup.new" in p]


def test_ray_executor_writes_the_same_rows_to_s3(s3, local_run, tmp_path):
    _, env, fs = s3
    url = f"s3://{BUCKET}/ray-executor"
    _run_on_s3(s3, tmp_path, url, "--executor", "ray")
    assert_same_rows(local_run, fs, url)
    manifest = json.loads(fs.cat_file(f"{BUCKET}/ray-executor/filter/{MANIFEST}"))
    assert manifest["executor"]["type"] == "ray" and manifest["retries"] == 0


def test_output_in_use_on_s3_is_refused(s3, tmp_path):
    _, env, fs = s3
    fs.pipe_file(f"{BUCKET}/busy/.lock", b"pid 1 on elsewhere since then (corpus run)\n")
    res = corpus(["extract", str(ROOT / "pipelines/sample.yaml"), "--output", f"s3://{BUCKET}/busy",
                  "--set", f"sample.pages={PAGES}", "--quiet"], env, tmp_path)
    assert res.returncode == 2
    assert "s3://corpus-test/busy is in use by pid 1 on elsewhere" in res.stderr
    assert "Traceback" not in res.stderr
    assert fs.find(f"{BUCKET}/busy") == [f"{BUCKET}/busy/.lock"]


def test_unwritable_s3_output_is_one_line_exit_2(s3, tmp_path):
    _, env, _ = s3
    res = corpus(["extract", str(ROOT / "pipelines/sample.yaml"), "--output",
                  "s3://no-such-bucket/x", "--quiet"], env, tmp_path)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: output: output s3://no-such-bucket/x: cannot write")
    assert len(res.stderr.strip().splitlines()) == 1
