"""The Ray executor on a real cluster: a worker killed mid-stage costs a retry, not the run;
and a two-node cluster, each node in a network namespace of its own that shares no folder
with the other, writes through an S3 server the same rows as the local executor.

Every service (Ray nodes, the S3 server) is started and stopped here. A node is stopped by
its own process group, never by ``ray stop``: that kills every Ray process on the machine
(network namespaces do not separate processes), other users' too.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fsspec
import pytest

from contract.layout import MANIFEST, REJECTED
from s3_server import (BUCKET, PAGES, ROOT, assert_same_rows, assert_same_tables, corpus,
                       free_port, local_sample_run, moto_bucket, read_local, read_remote, s3_env, start_moto)

pytestmark = pytest.mark.slow

VENV_BIN = str(Path(sys.executable).parent)
#: Every process of a test cluster: no token authentication (Ray 2.60 turns it on when
#: ~/.ray/auth_token exists), and multi-node clusters allowed (``=0`` would forbid them
#: even on Linux: Ray then refuses any node but the head).
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1",
           "RAY_USAGE_STATS_ENABLED": "0", "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}
WAIT_S = 300  # generous: the machine may be busy; nothing here measures time


def _short_tmp() -> Path:
    """A short folder under /tmp: Ray's socket paths must stay under 108 bytes."""
    return Path(tempfile.mkdtemp(prefix="c2t-", dir="/tmp"))


def wait_for(what: str, check, proc: subprocess.Popen | None = None, timeout: float = WAIT_S):
    """Poll ``check()`` until it returns something true; fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: the process ended first (exit {proc.returncode}): "
                        f"{_tail(proc)}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout}s")
        time.sleep(0.5)


def _tail(proc: subprocess.Popen) -> str:
    log = getattr(proc, "log_path", None)
    if log and Path(log).exists():
        return Path(log).read_text(errors="replace")[-3000:]
    return ""


class RayNode:
    """``ray start --block`` in a session of its own (``prefix``: e.g. ``ip netns exec NS``);
    ``stop()`` ends its process group: the node's raylet, GCS, agents and workers."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path,
                 prefix: list[str] | None = None):
        full = {**RAY_ENV, **env}
        cmd = [*(prefix or []), "env", *(f"{k}={v}" for k, v in full.items()),
               f"{VENV_BIN}/ray", "start", "--block", "--disable-usage-stats",
               "--object-store-memory=100000000", *args]
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.proc.log_path = log

    def stop(self) -> None:
        pgid = self.proc.pid  # a session leader: its process group has its pid
        for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever of the group outlived its leader
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()


#: Ray's state API (the dashboard's), asked from a process of the cluster's network:
#: the alive nodes, every task with its state, node and worker, and each worker's pid.
STATE_SCRIPT = """
import json, sys
from ray.util.state import list_nodes, list_tasks, list_workers
addr = sys.argv[1]
nodes = [n.node_id for n in list_nodes(address=addr, filters=[("state", "=", "ALIVE")])]
tasks = [dict(name=t.name, state=t.state, node_id=t.node_id, worker_id=t.worker_id,
              attempt=t.attempt_number) for t in list_tasks(address=addr, limit=10000)]
workers = {w.worker_id: w.pid for w in list_workers(address=addr, limit=10000)}
print(json.dumps(dict(nodes=nodes, tasks=tasks, workers=workers)))
"""


def ray_state(dashboard: str, prefix: list[str] | None = None) -> dict | None:
    """The cluster as the state API sees it; None while the dashboard does not answer."""
    env = {**os.environ, **RAY_ENV}
    res = subprocess.run([*(prefix or []), "env", *(f"{k}={v}" for k, v in env.items()),
                          sys.executable, "-c", STATE_SCRIPT, dashboard],
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def _is_stage_task(task: dict) -> bool:
    return task["name"].endswith(("_call_task", "call_with_remote"))


# --- 1. a worker killed mid-stage ------------------------------------------------------

@pytest.fixture
def ray_head(tmp_path):
    """A one-node Ray cluster on 127.0.0.1 with the dashboard (the state API):
    (GCS address, dashboard URL)."""
    base = _short_tmp()
    port, dash = free_port(), free_port()
    ports = {"--ray-client-server-port": free_port(), "--dashboard-agent-listen-port": free_port(),
             "--dashboard-agent-grpc-port": free_port(), "--metrics-export-port": free_port(),
             "--runtime-env-agent-port": free_port()}
    node = RayNode(["--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                    "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                    f"--dashboard-port={dash}", f"--temp-dir={base}/ray",
                    *(f"{k}={v}" for k, v in ports.items())],
                   {"TMPDIR": str(base)}, tmp_path / "head.log")
    try:
        url = f"http://127.0.0.1:{dash}"
        wait_for("the Ray head's state API", lambda: (ray_state(url) or {}).get("nodes"), node.proc)
        yield f"127.0.0.1:{port}", url
    finally:
        node.stop()
        shutil.rmtree(base, ignore_errors=True)


def _blocked_task_pid(dashboard: str, hooked_pid: int) -> int | None:
    """The pid of the one stage task still running once all others finished (the hooked
    one), as Ray's state API reports it; None until the cluster is in that state."""
    state = ray_state(dashboard)
    if not state:
        return None
    tasks = [t for t in state["tasks"] if _is_stage_task(t)]
    open_ = [t for t in tasks if t["state"] != "FINISHED"]
    if len(open_) != 1 or open_[0]["state"] != "RUNNING" or len(tasks) < 2:
        return None
    pid = state["workers"].get(open_[0]["worker_id"])
    return pid if pid == hooked_pid else None


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    return local_sample_run(tmp_path_factory.mktemp("local") / "out")


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on a free loopback port with one bucket: (env, fs)."""
    with moto_bucket() as (_, env, fs):
        yield env, fs


@pytest.mark.parametrize("output", ["local", "s3"])
def test_a_killed_worker_costs_a_retry_not_the_run(output, ray_head, local_run, tmp_path, request):
    address, dashboard = ray_head
    env = {**os.environ, **RAY_ENV, "PYTHONPATH": str(ROOT)}
    if output == "s3":
        s3_vars, fs = request.getfixturevalue("s3")
        url = f"s3://{BUCKET}/killed"
        env.update(s3_vars, TMPDIR=str(tmp_path))
    else:
        url = str(tmp_path / "ray")
    block = tmp_path / "block"
    block.mkdir()
    env["CORPUS_TEST_BLOCK_ONE_TASK"] = str(block)
    log = tmp_path / "driver.log"
    with open(log, "wb") as fh:
        driver = subprocess.Popen([sys.executable, "-m", "corpus.cli", "extract",
                                   str(ROOT / "pipelines/sample.yaml"), "--set",
                                   f"sample.pages={PAGES}", "--workers", "2", "--quiet",
                                   "--output", url, "--executor", "ray", "--ray-address", address],
                                  cwd=tmp_path, env=env, stdout=fh, stderr=subprocess.STDOUT)
    driver.log_path = log
    try:
        hooked = wait_for("the hooked task to block", lambda: (block / "blocked").exists()
                          and (block / "blocked").read_text(), driver)
        pid = wait_for("the blocked task alone running, per the state API",
                       lambda: _blocked_task_pid(dashboard, int(hooked)), driver)
        os.kill(pid, signal.SIGKILL)
        rc = driver.wait(WAIT_S)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert rc == 0, _tail(driver)

    if output == "s3":
        manifest = json.loads(fs.cat_file(f"{url.removeprefix('s3://')}/extract/{MANIFEST}"))
        read = lambda rel: read_remote(fs, url, rel)  # noqa: E731
    else:
        manifest = json.loads((Path(url) / "extract" / MANIFEST).read_text())
        read = lambda rel: read_local(Path(url), rel)  # noqa: E731
    assert manifest["executor"]["type"] == "ray"
    assert manifest["retries"] == 1
    for rel in ("extract", f"extract/{REJECTED}"):
        assert_same_tables(rel, read_local(local_run, rel), read(rel))
    retried = [t for t in ray_state(dashboard)["tasks"] if _is_stage_task(t) and t["attempt"] > 0]
    assert len(retried) == 1 and retried[0]["state"] == "FINISHED", retried


# --- 2. two nodes, each in its own network namespace ------------------------------------

def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


@pytest.fixture
def two_namespaces():
    """Two network namespaces joined by a veth pair, addresses on a /24 of 10.251 picked
    here: (head namespace, node namespace, head ip, node ip). Removed after, whatever happened."""
    tag = secrets.token_hex(3)
    head, node = f"c2t-head-{tag}", f"c2t-node-{tag}"
    subnet = f"10.251.{int(tag, 16) % 250 + 1}"
    made = _ip("netns", "add", head)
    if made.returncode != 0:
        pytest.skip(f"this machine forbids network namespaces (ip netns add: {made.stderr.strip()})")
    try:
        steps = [("netns", "add", node),
                 ("link", "add", f"c2th{tag}", "type", "veth", "peer", "name", f"c2tn{tag}"),
                 ("link", "set", f"c2th{tag}", "netns", head),
                 ("link", "set", f"c2tn{tag}", "netns", node)]
        for ns, dev, ip in ((head, f"c2th{tag}", f"{subnet}.1"), (node, f"c2tn{tag}", f"{subnet}.2")):
            steps += [("-n", ns, "addr", "add", f"{ip}/24", "dev", dev),
                      ("-n", ns, "link", "set", "lo", "up"), ("-n", ns, "link", "set", dev, "up")]
        for step in steps:
            res = _ip(*step)
            assert res.returncode == 0, f"ip {' '.join(step)}: {res.stderr}"
        yield head, node, f"{subnet}.1", f"{subnet}.2"
    finally:
        for ns in (node, head):  # the veth pair goes with them
            _ip("netns", "delete", ns)


def _in_ns(ns: str) -> list[str]:
    return ["ip", "netns", "exec", ns]


S3_SCRIPT = """
import sys, s3fs
fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=sys.argv[1])
if sys.argv[2] == "mkdir":
    fs.mkdir(sys.argv[3])
else:
    fs.get(sys.argv[3], sys.argv[4], recursive=True)
"""


def _s3(ns: str, endpoint: str, *args: str) -> None:
    res = subprocess.run([*_in_ns(ns), sys.executable, "-c", S3_SCRIPT, endpoint, *args],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]


def test_two_nodes_in_their_own_namespaces_write_through_s3(two_namespaces, local_run, tmp_path):
    head_ns, node_ns, head_ip, node_ip = two_namespaces
    pipeline = ["run", str(ROOT / "pipelines/sample.yaml"), "--set", f"sample.pages={PAGES}",
                "--workers", "2", "--quiet"]

    base = _short_tmp()
    for d in ("head", "driver", "got"):
        (base / d).mkdir()
    endpoint, dashboard = f"http://{head_ip}:9000", f"http://{head_ip}:8265"
    # the worker node sees its own empty tmpfs where the head and the driver keep their
    # files: it shares no folder with them, only the S3 server
    private = ["sh", "-c", 'mount -t tmpfs c2t-private "$0" && mkdir "$0/node" && exec "$@"',
               str(base)]
    moto = head = node = None
    try:
        moto = start_moto(head_ip, 9000, _in_ns(head_ns))
        _s3(head_ns, endpoint, "mkdir", BUCKET)
        head = RayNode(["--head", f"--node-ip-address={head_ip}", "--port=6379", "--num-cpus=1",
                        "--include-dashboard=true", f"--dashboard-host={head_ip}",
                        "--dashboard-port=8265", f"--temp-dir={base}/head/ray"],
                       {"TMPDIR": f"{base}/head", "HOME": os.environ.get("HOME", "/root")},
                       tmp_path / "head.log", _in_ns(head_ns))
        state = lambda: ray_state(dashboard, _in_ns(head_ns)) or {}  # noqa: E731
        wait_for("the Ray head", lambda: state().get("nodes"), head.proc)
        node = RayNode([f"--address={head_ip}:6379", f"--node-ip-address={node_ip}", "--num-cpus=1"],
                       {"TMPDIR": f"{base}/node", "HOME": os.environ.get("HOME", "/root")},
                       tmp_path / "node.log", [*_in_ns(node_ns), *private])
        nodes = wait_for("the worker node to join",
                         lambda: (n := state().get("nodes", [])) and len(n) == 2 and n, node.proc)

        url = f"s3://{BUCKET}/two-nodes"
        res = corpus([*pipeline, "--output", url, "--executor", "ray", "--ray-address",
                      f"{head_ip}:6379"],
                     {**s3_env(endpoint), **RAY_ENV, "TMPDIR": f"{base}/driver"}, base / "driver",
                     _in_ns(head_ns))
        assert res.returncode == 0, res.stderr[-3000:]
        assert not any((base / "driver").iterdir()), "the driver left files behind"

        ran_on = {t["node_id"] for t in state()["tasks"]
                  if _is_stage_task(t) and t["state"] == "FINISHED"}
        assert ran_on == set(nodes), f"tasks ran on {ran_on}, the nodes are {nodes}"
        # the worker node fetched into a mirror of its own (the driver's path, on its
        # private tmpfs); nothing of it stays on the node once the run is over
        node_view = Path(f"/proc/{node.proc.pid}/root{base}/driver")
        left = [str(p) for p in node_view.rglob("*")] if node_view.exists() else []
        assert not left, f"left on the worker node: {left[:5]} ({len(left)} files)"
        got = base / "got"
        _s3(head_ns, endpoint, "get", url.removeprefix("s3://") + "/", f"{got}/")
        assert_same_rows(local_run, fsspec.filesystem("file"), str(got))
        manifest = json.loads((got / "filter" / MANIFEST).read_text())
        assert manifest["executor"]["type"] == "ray" and manifest["retries"] == 0

        # a rebuild with other settings: the staging parts the node wrote (and the driver's
        # mirror never held) are swapped into place on the store too
        res = corpus(["dedup", *pipeline[1:], "--set", "stages.dedup.minhash=false", "--output",
                      url, "--executor", "ray", "--ray-address", f"{head_ip}:6379"],
                     {**s3_env(endpoint), **RAY_ENV, "TMPDIR": f"{base}/driver"}, base / "driver",
                     _in_ns(head_ns))
        assert res.returncode == 0, res.stderr[-3000:]
        shutil.rmtree(got)
        _s3(head_ns, endpoint, "get", url.removeprefix("s3://") + "/", f"{got}/")
        manifest = json.loads((got / "dedup" / MANIFEST).read_text())
        assert manifest["config"]["minhash"] is False
        assert sum(t.num_rows for t in read_local(got, "dedup")) == manifest["counts"]["kept"]
        assert not (got / ".dedup.new").exists()
    finally:
        for proc in (node, head):
            if proc is not None:
                proc.stop()
        if moto is not None:
            moto.kill()
            moto.wait()
        shutil.rmtree(base, ignore_errors=True)


def test_a_node_drops_its_copy_of_the_mirror_but_never_the_drivers(tmp_path, monkeypatch):
    from corpus.core import fs

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    mine = fs.mirror_for(f"s3://{BUCKET}/drop")  # this process is the driver
    (Path(mine) / "extract").mkdir()
    elsewhere = tmp_path / "crawl2tokens-0000-copy"  # a worker node's copy: no driver mark
    (elsewhere / "extract").mkdir(parents=True)
    (elsewhere / "extract" / "part-00000.parquet").write_bytes(b"x")
    assert fs.drop_worker_copies([mine, str(elsewhere)]) == [str(elsewhere)]
    assert (Path(mine) / "extract").is_dir() and not elsewhere.exists()
