"""The runner and its output folder (issue #12): it removes only what the project wrote,
refuses inputs inside the folder it would clear, keeps the previous good output until the
new one is complete, and lets only one run at a time use an output folder."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from corpus.core.parts import list_parts
from corpus.core.runner import StageError, run_stage

from counting_stage import CountingStage, counting_config, registered
from contract.layout import MANIFEST, REJECTED

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def counting_stage_registered():
    with registered():
        yield


def config_for(tmp_path, **params):
    return counting_config(tmp_path / "out", **params)


class FlakyStage(CountingStage):
    """CountingStage whose ``fail`` list is left out of the fingerprint: a transient failure,
    so the re-run without it is the same run and must resume."""

    def fingerprint_source(self):
        src = super().fingerprint_source()
        src["params"] = {k: v for k, v in src["params"].items() if k != "fail"}
        return src


class BadPrepareStage(CountingStage):
    def prepare(self, run):
        raise ValueError("prepare found the new settings unusable")


def snapshot(stage_dir: Path) -> dict[str, bytes]:
    """Every file of a stage folder (hidden markers included), by relative path."""
    return {str(p.relative_to(stage_dir)): p.read_bytes()
            for p in sorted(stage_dir.rglob("*")) if p.is_file()}


def corpus(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "corpus.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


# --- 3: only what the project wrote is removed; inputs inside the output are refused ----

def test_user_files_in_a_stage_folder_survive_every_kind_of_rerun(tmp_path):
    out = tmp_path / "out" / "counting"
    (out / REJECTED).mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    (out / REJECTED / "why.txt").write_text("also mine")

    first = run_stage(CountingStage(config_for(tmp_path, tasks=2)), show_progress=False)
    changed = run_stage(CountingStage(config_for(tmp_path, tasks=3)), show_progress=False)
    forced = run_stage(CountingStage(config_for(tmp_path, tasks=3)), force=True, show_progress=False)

    assert first["counts"]["in"] == 18 and changed["counts"]["in"] == 27
    assert forced["started"] != changed["started"]
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / REJECTED / "why.txt").read_text() == "also mine"
    assert [p.name for p in list_parts(out)] == ["part-00000.parquet", "part-00001.parquet",
                                                 "part-00002.parquet"]


def test_input_inside_the_output_folder_is_refused(sample_crawl, tmp_path):
    out = tmp_path / "out"
    (out / "extract").mkdir(parents=True)
    warc = out / "extract" / "mine.warc.gz"
    shutil.copy(sorted(sample_crawl.glob("*.warc.gz"))[0], warc)
    before = warc.read_bytes()

    r = corpus("extract", "pipelines/sample.yaml", "--input", str(warc), "--output", str(out),
               "--quiet")

    assert r.returncode == 3, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert str(warc) in lines[0] and "inside" in lines[0]
    assert warc.read_bytes() == before
    assert sorted(p.name for p in (out / "extract").iterdir()) == ["mine.warc.gz"]


def test_every_file_a_stage_writes_is_one_the_runner_knows(sample_pipeline):
    """The list the runner clears from must cover every file of a full sample run
    (tokenize's and dedup's extra folders, the report's images ...)."""
    from corpus.core import registry
    from corpus.core.outdir import is_owned

    root = sample_pipeline(*registry.names())
    unknown = []
    for name in registry.names():
        d = root / registry.folder(name)
        files = [p for p in d.rglob("*") if p.is_file()]
        assert files, f"{name} wrote nothing"
        unknown += [str(p) for p in files if not is_owned(d, p)]
    assert unknown == []
    assert not is_owned(root / "report", root / "report" / "notes.txt")
    assert not is_owned(root / "extract", root / "extract" / "crawl.warc.gz")


# --- 4: the previous output survives until the new one is complete -----------------------

def test_a_failed_task_under_new_settings_keeps_the_previous_output(tmp_path):
    good = run_stage(CountingStage(config_for(tmp_path, tasks=3)), show_progress=False)
    out = tmp_path / "out" / "counting"
    before = snapshot(out)

    with pytest.raises(StageError, match="part-00001"):
        run_stage(CountingStage(config_for(tmp_path, tasks=3, rows=6, fail=[1])), show_progress=False)

    assert snapshot(out) == before
    assert json.loads((out / MANIFEST).read_text())["fingerprint"] == good["fingerprint"]


def test_a_failing_prepare_keeps_the_previous_output(tmp_path):
    run_stage(CountingStage(config_for(tmp_path, tasks=3)), show_progress=False)
    out = tmp_path / "out" / "counting"
    before = snapshot(out)
    with pytest.raises(ValueError, match="unusable"):
        run_stage(BadPrepareStage(config_for(tmp_path, tasks=3, rows=6)), show_progress=False)
    assert snapshot(out) == before


def test_new_settings_resume_beside_the_old_output_and_swap_at_the_end(tmp_path):
    run_stage(CountingStage(config_for(tmp_path, tasks=3)), show_progress=False)
    out = tmp_path / "out" / "counting"
    before = snapshot(out)
    with pytest.raises(StageError):
        run_stage(FlakyStage(config_for(tmp_path, tasks=3, rows=6, fail=[1])), show_progress=False)
    assert snapshot(out) == before
    staged = {p.name: p.stat().st_mtime_ns for p in list_parts(tmp_path / "out" / ".counting.new")}
    assert sorted(staged) == ["part-00000.parquet", "part-00002.parquet"]

    manifest = run_stage(FlakyStage(config_for(tmp_path, tasks=3, rows=6)), show_progress=False)

    assert manifest["counts"]["in"] == 18
    after = {p.name: p.stat().st_mtime_ns for p in list_parts(out)}
    assert after["part-00000.parquet"] == staged["part-00000.parquet"]   # resumed, not redone
    assert after["part-00002.parquet"] == staged["part-00002.parquet"]
    assert json.loads((out / MANIFEST).read_text())["fingerprint"] == manifest["fingerprint"]
    assert not (tmp_path / "out" / ".counting.new").exists()


def test_force_redoes_everything_but_swaps_only_at_the_end(tmp_path):
    good = run_stage(CountingStage(config_for(tmp_path, tasks=3)), show_progress=False)
    out = tmp_path / "out" / "counting"
    before = snapshot(out)
    with pytest.raises(StageError):
        run_stage(FlakyStage(config_for(tmp_path, tasks=3, fail=[2])), force=True,
                  show_progress=False)
    assert snapshot(out) == before
    # Without --force the old output is still up to date: nothing is redone.
    assert run_stage(CountingStage(config_for(tmp_path, tasks=3)),
                     show_progress=False)["started"] == good["started"]

    forced = run_stage(FlakyStage(config_for(tmp_path, tasks=3)), force=True, show_progress=False)
    assert forced["started"] != good["started"]
    assert json.loads((out / MANIFEST).read_text())["started"] == forced["started"]


def test_a_swap_cut_short_is_finished_by_the_next_run(tmp_path, monkeypatch):
    import corpus.core.outdir as outdir

    run_stage(CountingStage(config_for(tmp_path, tasks=3)), show_progress=False)
    out = tmp_path / "out" / "counting"
    (out / "notes.txt").write_text("mine")

    def cut(*args, **kwargs):
        raise KeyboardInterrupt("killed during the swap")

    monkeypatch.setattr(outdir, "merge_into", cut)
    with pytest.raises(KeyboardInterrupt):
        run_stage(CountingStage(config_for(tmp_path, tasks=2)), show_progress=False)
    monkeypatch.undo()

    manifest = run_stage(CountingStage(config_for(tmp_path, tasks=2)), show_progress=False)
    assert manifest["counts"]["in"] == 18
    assert [p.name for p in list_parts(out)] == ["part-00000.parquet", "part-00001.parquet"]
    assert (out / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "out" / ".counting.new").exists()


# --- 6: one run at a time per output folder ------------------------------------------------

def test_a_second_run_on_a_busy_output_fails_at_once_saying_who_holds_it(sample_crawl, tmp_path):
    from corpus.core.outdir import output_lock

    out = tmp_path / "out"
    warc = sorted(sample_crawl.glob("*.warc.gz"))[0]
    with output_lock(out):
        r = corpus("extract", "pipelines/sample.yaml", "--input", str(warc), "--output", str(out),
                   "--quiet")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "in use" in lines[0] and f"pid {os.getpid()}" in lines[0] and "since" in lines[0]
    assert not (out / "extract").exists()
    # Released: the same command now runs.
    assert corpus("extract", "pipelines/sample.yaml", "--input", str(warc), "--output", str(out),
                  "--quiet", "--tolerate-failures").returncode == 0


def test_show_never_answers_from_a_build_in_progress(tmp_path):
    """`corpus show ID --in OUT` skips the runner's hidden staging folders (`.extract.new`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from corpus.show import find_row

    for folder, text in ((".extract.new", "unfinished"), ("extract", "published")):
        (tmp_path / folder).mkdir()
        pq.write_table(pa.table({"id": ["doc-1"], "text": [text]}), tmp_path / folder / "part-00000.parquet")
    row, part = find_row(tmp_path, "doc-1")
    assert row["text"] == "published" and part.parent.name == "extract"
