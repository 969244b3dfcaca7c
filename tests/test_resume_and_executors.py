"""Foundation guarantees on a real stage: a run killed by a real signal resumes to the same
output as an uninterrupted run, and the Ray executor gives the same rows as the local one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from corpus.core.parts import list_parts, read_table
from contract.layout import MANIFEST, REJECTED

ROOT = Path(__file__).resolve().parent.parent


def extract_cmd(crawl_file: Path, output: Path, workers: int = 1) -> list[str]:
    return [sys.executable, "-m", "corpus.cli", "extract", str(ROOT / "pipelines" / "sample.yaml"),
            "--input", str(crawl_file), "--output", str(output), "--workers", str(workers),
            "--quiet", "--tolerate-failures"]


def part_bytes(stage_dir: Path) -> dict[str, bytes]:
    files = list_parts(stage_dir) + list_parts(stage_dir / REJECTED)
    return {str(p.relative_to(stage_dir)): p.read_bytes() for p in files}


@pytest.mark.parametrize("workers", [1, 2])
def test_killed_run_resumes_to_identical_output(sample_crawl, tmp_path, workers):
    """The run is killed (SIGKILL, main process and workers) right after a process commits
    its first part: a fixed point, through the runner's test hook, not a race."""
    from corpus.core.runner import KILL_AFTER_PARTS

    crawl_file = sorted(sample_crawl.glob("*.warc.gz"))[0]
    subprocess.run(extract_cmd(crawl_file, tmp_path / "ref"), check=True, cwd=ROOT)
    reference = part_bytes(tmp_path / "ref" / "extract")
    n_parts = len(list_parts(tmp_path / "ref" / "extract"))
    assert n_parts >= 3, "the sample file should split into several parts"

    killed = tmp_path / "killed"
    markers = killed / "extract" / ".parts"
    proc = subprocess.run(extract_cmd(crawl_file, killed, workers), cwd=ROOT, start_new_session=True,
                          env={**os.environ, KILL_AFTER_PARTS: "1"})
    assert proc.returncode == -signal.SIGKILL
    done = sorted(p.stem for p in markers.glob("part-*.json"))
    # each worker dies at its first commit at the latest: one part per worker at most
    assert 1 <= len(done) <= workers < n_parts, done
    if workers == 1:
        assert done == ["part-00000"]
    assert not (killed / "extract" / MANIFEST).exists()
    finished = {d: (killed / "extract" / f"{d}.parquet").stat() for d in done}

    subprocess.run(extract_cmd(crawl_file, killed), check=True, cwd=ROOT)
    assert part_bytes(killed / "extract") == reference
    for d, st in finished.items():  # resumed: the finished parts were kept, not redone
        again = (killed / "extract" / f"{d}.parquet").stat()
        assert (again.st_ino, again.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    leftovers = [p for p in (killed / "extract").rglob(".*tmp*")]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


def test_ray_executor_gives_the_same_rows_as_local(sample_config, sample_pipeline, tmp_path):
    from corpus.core.config import deep_merge
    from corpus.core.runner import run_stage
    from corpus.core.registry import stage_class

    local_out = sample_pipeline("extract")
    ray_config = deep_merge(sample_config, {"output": str(tmp_path / "ray"),
                                            "executor": {"type": "ray", "workers": 2}})
    manifest = run_stage(stage_class("extract")(ray_config), show_progress=False)
    assert manifest["executor"]["type"] == "ray"
    local = read_table(local_out / "extract")
    ray = read_table(tmp_path / "ray" / "extract")
    assert ray.num_rows == local.num_rows > 1000
    assert ray.equals(local)
    assert read_table(tmp_path / "ray" / "extract" / REJECTED).equals(
        read_table(local_out / "extract" / REJECTED))
    assert manifest["retries"] == 0

    # a run interrupted after a task started (its attempt marker written, its part not done):
    # the resumed run redoes that task once, which is no retry
    done = tmp_path / "ray" / "extract" / ".parts"
    assert sorted(p.name for p in done.glob("part-00000.attempt-*")) == ["part-00000.attempt-1"]
    (done / "part-00000.json").unlink()
    (tmp_path / "ray" / "extract" / MANIFEST).unlink()
    resumed = run_stage(stage_class("extract")(ray_config), show_progress=False)
    assert resumed["retries"] == 0
    assert read_table(tmp_path / "ray" / "extract").equals(local)


PRELOAD_PROBE = '''
import sys

from corpus.core.executors import LocalExecutor, preload_for_stages


def loaded():
    return sorted(m for m in ("pyarrow.compute", "sentencepiece", "trafilatura") if m in sys.modules)


if __name__ == "__main__":
    if sys.argv[1] == "declared":
        from corpus.stages.extract.stage import ExtractStage
        from corpus.stages.tokenize import TokenizeStage
        preload_for_stages([ExtractStage, TokenizeStage])
    pool = LocalExecutor(2)
    print(sorted({tuple(r) for _, r in pool.map(loaded, [(), ()])}))
    pool.close()
'''


def test_workers_of_a_later_stage_start_with_its_libraries_when_the_run_declared_it(tmp_path):
    """The forkserver preloads once, with the first pool of a process: a run that declares
    its stages first (as `corpus run` does) gets every stage's libraries into every worker
    that pool starts; one that does not gets only what the first pool's job needs."""
    script = tmp_path / "probe.py"
    script.write_text(PRELOAD_PROBE)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = {mode: subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True,
                                env=env, cwd=tmp_path, timeout=120)
           for mode in ("declared", "undeclared")}
    assert out["declared"].returncode == 0, out["declared"].stderr
    assert out["declared"].stdout.strip() == "[('pyarrow.compute', 'sentencepiece', 'trafilatura')]"
    assert out["undeclared"].stdout.strip() == "[()]", out["undeclared"].stderr
