"""A stage whose tasks share one file (the index's SQLite database) runs its tasks in the driver
when the output is a URL: a worker publishes what changed under the stage's folder, and beside
another worker's open transaction it uploaded a half-written database or failed on the rollback
journal vanishing under it (seen in CI: FileNotFoundError on search.sqlite-journal with Ray)."""
from __future__ import annotations

import os
from pathlib import Path

from corpus.core import runner
from corpus.core.config import load_pipeline
from corpus.core.executors import LocalExecutor
from corpus.stages.dedup import DedupStage
from corpus.stages.index.stage import IndexStage

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "pipelines" / "sample.yaml"


def test_index_tasks_run_in_the_driver_with_a_url_output():
    config = load_pipeline(PIPELINE, output="s3://corpus-test/single-writer", workers=2)
    assert config["output_url"] == "s3://corpus-test/single-writer"   # output is now the mirror
    pool = LocalExecutor(2)
    chosen = runner.map_executor(IndexStage(config), pool)
    assert chosen is not pool and chosen.workers == 1                  # in this process
    ran_in = list(chosen.map(os.getpid, [()]))
    assert ran_in == [(0, os.getpid())]
    assert runner.map_executor(DedupStage(config), pool) is pool       # other stages: the pool


def test_index_tasks_use_the_pool_with_a_local_output(tmp_path):
    config = load_pipeline(PIPELINE, output=str(tmp_path / "out"), workers=2)
    pool = LocalExecutor(2)
    assert runner.map_executor(IndexStage(config), pool) is pool      # SQLite's lock is enough
