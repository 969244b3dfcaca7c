"""Tokenize's final step (shards written, intermediate parts removed) resumes from a kill at
any point of it: a plain re-run, no --force, gives the shards and manifest of an
uninterrupted run."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from corpus.core.runner import run_stage
from corpus.stages.tokenize import FINISH_KILL_ENV, FINISH_STEPS
from corpus.stages.tokenizer import TokenizerStage
from tokenize_fixtures import fake_config, write_fake_stage
from contract.layout import MANIFEST

ROOT = Path(__file__).resolve().parent.parent
VOLATILE = ("started", "duration_s", "timing")  # wall-clock facts of one run


def tokenize(root: Path, kill_after: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(FINISH_KILL_ENV, None)
    if kill_after:
        env[FINISH_KILL_ENV] = kill_after
    return subprocess.run([sys.executable, "-m", "corpus.cli", "tokenize", str(root / "pipeline.yaml"),
                           "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True)


def shard_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for split in ("train", "val") for p in sorted((root / "shards" / split).glob("*.parquet"))}


def stable_manifest(root: Path) -> dict:
    m = json.loads((root / "shards" / MANIFEST).read_text())
    return {k: v for k, v in m.items() if k not in VOLATILE}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A trained tokenizer and one uninterrupted tokenize run: its shards and manifest."""
    root = tmp_path_factory.mktemp("finish")
    write_fake_stage(root)
    config = fake_config(root)
    run_stage(TokenizerStage(config), show_progress=False)
    (root / "pipeline.yaml").write_text(yaml.safe_dump(
        {"output": str(root), "executor": {"type": "local", "workers": 2}, "stages": config["stages"]}))
    done = tokenize(root)
    assert done.returncode == 0, done.stderr
    assert len(shard_files(root)) >= 3
    return root, shard_files(root), stable_manifest(root)


@pytest.mark.parametrize("step", FINISH_STEPS)
def test_kill_in_finish_resumes_to_identical_shards(reference, step):
    root, shards, manifest = reference
    shutil.rmtree(root / "shards")  # this test's own output: start from nothing
    killed = tokenize(root, kill_after=step)
    assert killed.returncode == -signal.SIGKILL, f"not killed after {step}: {killed.stderr}"
    assert not (root / "shards" / MANIFEST).exists()
    markers = {p.name: p.read_bytes() for p in (root / "shards" / ".parts").glob("part-*.json")}

    resumed = tokenize(root)
    assert resumed.returncode == 0, resumed.stderr
    assert shard_files(root) == shards
    assert stable_manifest(root) == manifest
    assert not (root / "shards" / "parts").exists()
    assert list((root / "shards").rglob(".*.tmp-*")) == []
    # the encoding was not redone: the tasks' done markers are untouched
    assert markers and {p.name: p.read_bytes()
                        for p in (root / "shards" / ".parts").glob("part-*.json")} == markers


def test_intermediate_parts_are_arrow_files_and_shards_are_zstd(reference):
    """The encode tasks' parts are read once by the repack and removed, so they are Arrow IPC
    files (no encoding or compression on either side, read memory-mapped); the shards, the
    stage's product, are zstd Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from corpus.core.parts import read_scratch

    root, shards, _ = reference
    shutil.rmtree(root / "shards")
    killed = tokenize(root, kill_after="train-shards")   # parts and shards side by side
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    def codecs(path: Path) -> set[str]:
        meta = pq.ParquetFile(path).metadata
        return {meta.row_group(g).column(c).compression
                for g in range(meta.num_row_groups) for c in range(meta.num_columns)}

    parts = sorted((root / "shards" / "parts").rglob("part-*"))
    written = sorted((root / "shards" / "train").glob("*.parquet"))
    assert parts and written and {p.suffix for p in parts} == {".arrow"}
    train_parts = [p for p in parts if p.parent.name == "train"]
    part_ids = pa.concat_tables([read_scratch(p, ["id"]) for p in train_parts]).column("id").to_pylist()
    shard_ids = pa.concat_tables([pq.read_table(p, columns=["id"]) for p in written]).column("id").to_pylist()
    assert sorted(part_ids) == sorted(shard_ids)  # the train shards hold exactly the train parts' rows
    assert set().union(*map(codecs, written)) == {"ZSTD"}
    assert tokenize(root).returncode == 0
    assert shard_files(root) == shards
