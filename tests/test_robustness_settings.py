"""Settings robustness: every bad pipeline setting ends in one clear line and exit 2, before
any stage runs or any output is touched; and filter annotate mode feeds dedup cleanly."""
from __future__ import annotations

import copy
from pathlib import Path


from corpus.docs import read_table
from corpus.runner import run_stage
from corpus.stages import stage_class

ROOT = Path(__file__).resolve().parent.parent


def test_filter_annotate_then_dedup_keeps_the_annotation(sample_config, sample_pipeline, tmp_path):
    """Annotate mode writes its would-be reasons as columns; dedup adds its own reason
    columns to rejected rows: the two must not collide, and the annotation survives."""
    extract = sample_pipeline("extract") / "extract"
    config = copy.deepcopy(sample_config)
    config["output"] = str(tmp_path)
    config["executor"]["workers"] = 1
    config["stages"]["filter"] = {**config["stages"]["filter"], "mode": "annotate"}
    (tmp_path / "extract").symlink_to(extract, target_is_directory=True)
    f = run_stage(stage_class("filter")(config), show_progress=False)
    d = run_stage(stage_class("dedup")(config), show_progress=False)
    assert f["counts"]["kept"] == f["counts"]["in"]
    c = d["counts"]
    assert c["in"] == f["counts"]["kept"]
    assert c["in"] == c["kept"] + sum(c["rejected"].values()) + sum(c["errors"].values())
    assert sum(c["rejected"].values()) > 0  # the sample has duplicates: rejected rows exist
    kept, rej = read_table(tmp_path / "dedup"), read_table(tmp_path / "dedup" / "rejected")
    filt = read_table(tmp_path / "filter")
    would_be = dict(zip(filt.column("id").to_pylist(), filt.column("filter_reason").to_pylist()))
    assert any(would_be.values())  # some documents would have been dropped
    for t in (kept, rej):
        got = dict(zip(t.column("id").to_pylist(), t.column("filter_reason").to_pylist()))
        assert got == {i: would_be[i] for i in got}
        assert "filter_reasons" in t.column_names
    assert set(rej.column("reason").to_pylist()) <= {"url_duplicate", "exact_duplicate",
                                                     "minhash_duplicate", "contaminated"}
    assert rej.num_rows == sum(c["rejected"].values())
