"""The stage runner: atomic parts, resume, balanced counts, failures that keep finished work."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from corpus.core.config import ConfigError, load_pipeline
from corpus.core.parts import list_parts, read_table
from corpus.core.manifest import BalanceError
from corpus.core.runner import StageError, run_stage

from counting_stage import CountingStage, counting_config, registered
from contract.layout import MANIFEST, REJECTED


@pytest.fixture(autouse=True)
def counting_stage_registered():
    with registered():
        yield


def make(tmp_path, workers=1, **params):
    return CountingStage(counting_config(tmp_path / "out", workers, **params))


def test_manifest_counts_balance_and_outputs(tmp_path):
    manifest = run_stage(make(tmp_path, tasks=4, rows=9), show_progress=False)
    assert manifest["counts"] == {"in": 36, "kept": 24, "rejected": {"every_third": 12}, "errors": {}}
    assert [o["rows"] for o in manifest["outputs"]["kept"]] == [6, 6, 6, 6]
    assert [o["rows"] for o in manifest["outputs"]["rejected"]] == [3, 3, 3, 3]
    on_disk = json.loads((tmp_path / "out" / "counting" / MANIFEST).read_text())
    assert on_disk["counts"] == manifest["counts"]
    assert on_disk["versions"]["pyarrow"]
    rejected = read_table(tmp_path / "out" / "counting" / REJECTED)
    assert set(rejected.column("reason").to_pylist()) == {"every_third"}


def test_parallel_output_equals_serial(tmp_path):
    serial = run_stage(make(tmp_path / "a", workers=1, tasks=6), show_progress=False)
    parallel = run_stage(make(tmp_path / "b", workers=2, tasks=6), show_progress=False)
    assert serial["counts"] == parallel["counts"]
    a = read_table(tmp_path / "a" / "out" / "counting")
    b = read_table(tmp_path / "b" / "out" / "counting")
    assert a.equals(b)
    for pa_, pb in zip(list_parts(tmp_path / "a" / "out" / "counting"),
                       list_parts(tmp_path / "b" / "out" / "counting")):
        assert pa_.read_bytes() == pb.read_bytes()


def test_failed_task_keeps_finished_parts_and_rerun_resumes(tmp_path):
    stage = make(tmp_path, tasks=4, fail=[2])
    with pytest.raises(StageError, match="part-00002"):
        run_stage(stage, show_progress=False)
    done = sorted(p.name for p in (stage.dir / ".parts").glob("part-*.json"))
    assert done == ["part-00000.json", "part-00001.json", "part-00003.json"]
    assert not (stage.dir / "part-00002.parquet").exists()
    assert not list(stage.dir.glob(".*tmp*")), "no temporary file may be left behind"
    finished_before = (stage.dir / "part-00000.parquet").stat().st_mtime_ns

    fixed = make(tmp_path, tasks=4)          # same output dir, config changed -> stale parts cleared
    manifest = run_stage(fixed, show_progress=False)
    assert manifest["counts"]["in"] == 36
    # A re-run with the same config does nothing: the manifest is up to date.
    again = run_stage(make(tmp_path, tasks=4), show_progress=False)
    assert again["started"] == manifest["started"]
    assert (stage.dir / "part-00000.parquet").stat().st_mtime_ns != finished_before


def test_resume_skips_complete_parts(tmp_path):
    stage = make(tmp_path, tasks=3)
    run_stage(stage, show_progress=False)
    mtimes = {p.name: p.stat().st_mtime_ns for p in list_parts(stage.dir)}
    # Lose one part and the manifest, as a killed run would; the re-run redoes only that part.
    (stage.dir / "part-00001.parquet").unlink()
    (stage.dir / ".parts" / "part-00001.json").unlink()
    (stage.dir / MANIFEST).unlink()
    manifest = run_stage(make(tmp_path, tasks=3), show_progress=False)
    assert manifest["counts"]["in"] == 27
    after = {p.name: p.stat().st_mtime_ns for p in list_parts(stage.dir)}
    assert after["part-00000.parquet"] == mtimes["part-00000.parquet"]
    assert after["part-00002.parquet"] == mtimes["part-00002.parquet"]
    assert pq.read_table(stage.dir / "part-00001.parquet").num_rows == 6


def test_unbalanced_counts_fail_loudly(tmp_path):
    with pytest.raises(StageError, match="do not balance"):
        run_stage(make(tmp_path, tasks=2, miscount=[1]), show_progress=False)


def test_config_overrides_and_errors(tmp_path):
    config = load_pipeline("pipelines/sample.yaml", ["stages.filter.language.threshold=0.5",
                                                     "stages.filter.language.languages=[en, de]"],
                           inputs=["a.warc.gz", "b.warc.gz"], output=str(tmp_path), workers=3,
                           executor="ray")
    assert config["stages"]["filter"]["language"]["threshold"] == 0.5
    assert config["stages"]["filter"]["language"]["languages"] == ["en", "de"]
    assert config["inputs"] == ["a.warc.gz", "b.warc.gz"]
    assert config["executor"] == {"type": "ray", "workers": 3, "ray_address": None}
    with pytest.raises(ConfigError, match="key.path=value"):
        load_pipeline(None, ["no-equals-sign"])
    with pytest.raises(ConfigError, match="unknown stage"):
        load_pipeline(None, ["stages.dedupe.bands=3"])
    with pytest.raises(ConfigError, match="not found"):
        load_pipeline(tmp_path / "missing.yaml")
