"""The local executor's process tree dies with the main process: a `kill -9` of `corpus`
leaves no worker, forkserver or resource tracker behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from corpus.core.executors import BLOCK_TASKS_ENV

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="scans /proc")


def marked_pids(mark: str) -> list[int]:
    """Live processes whose environment carries ``mark`` (zombies have no environment)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours
            continue
    return pids


def wait_for(condition, what: str, seconds: float = 120.0) -> None:
    """Poll ``condition`` with a generous deadline; a wait, not a timing assertion."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def test_kill_of_main_process_takes_workers_forkserver_and_tracker_with_it(sample_crawl, tmp_path):
    crawl_file = sorted(sample_crawl.glob("*.warc.gz"))[0]
    mark = f"CORPUS_TEST_TREE_MARK={uuid.uuid4().hex}"
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    env = {**os.environ, "CORPUS_TEST_TREE_MARK": mark.split("=", 1)[1],
           BLOCK_TASKS_ENV: str(blocked), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "corpus.cli", "extract", str(ROOT / "pipelines" / "sample.yaml"),
           "--input", str(crawl_file), "--output", str(tmp_path / "out"), "--workers", "2",
           "--quiet", "--tolerate-failures"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # both workers are inside a task (the hook blocks them there for good)
        def workers_blocked():
            if proc.poll() is not None:
                pytest.fail(f"the run ended (exit {proc.returncode}): {proc.stderr.read().decode()}")
            return len(list(blocked.iterdir())) >= 2
        wait_for(workers_blocked, "two blocked workers")
        tree = marked_pids(mark)
        assert len(tree) >= 4, f"expected main, forkserver, tracker and workers, saw {tree}"

        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 60
        while marked_pids(mark) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in marked_pids(mark)
                if Path(f"/proc/{pid}/cmdline").exists()}
        assert not left, f"processes outlived the killed main process: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in marked_pids(mark):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.stderr.close()


def test_forkserver_preloads_the_modules_a_job_needs():
    """Workers fork from the forkserver with the stage's module (and the function's) already
    imported, instead of each importing pyarrow/sentencepiece/trafilatura itself."""
    from corpus.core.executors import _modules_of
    from corpus.core.runner import run_task
    from corpus.stages.tokenize import TokenizeStage, write_shard

    stage = TokenizeStage.__new__(TokenizeStage)      # only its type is looked at
    libraries = ["pyarrow.compute", "sentencepiece"]   # imported inside its functions: WORKER_MODULES
    assert _modules_of(run_task, (stage, "task")) == ["corpus.core.runner", "corpus.stages.tokenize", *libraries]
    assert _modules_of(write_shard, ("a.parquet", [], "uint16")) == ["corpus.stages.tokenize", *libraries]
    assert _modules_of(len, (1, 2.0)) == []            # nothing of the project's: nothing to preload


def test_local_pool_is_kept_across_maps_until_closed():
    """A stage's second map (tokenize's shards after its parts) reuses the workers of the
    first instead of starting new ones; close() ends them, and the next map starts afresh."""
    from corpus.core.executors import LocalExecutor

    ex = LocalExecutor(2)
    try:
        first = {pid for _, pid in ex.map(os.getpid, [()] * 4)}
        workers = set(ex._pool._processes)            # every process the first map started
        assert first <= workers and os.getpid() not in workers
        second = {pid for _, pid in ex.map(os.getpid, [()] * 4)}
        assert second <= workers
        ex.close()
        third = {pid for _, pid in ex.map(os.getpid, [()] * 4)}
        assert third.isdisjoint(workers)
    finally:
        ex.close()
