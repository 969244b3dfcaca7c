"""`corpus stats`: the waterfall agrees with the stage manifests and the rejected parts, the
tables print for a pipeline output and for single directories, the report's images exist."""
from __future__ import annotations

import contextlib
import io
import json
import re

import pytest

from corpus.cli import main as corpus_main
from corpus.core.manifest import read_manifest
from tokenize_fixtures import build_fake_pipeline, check_waterfall
from contract.layout import MANIFEST


@pytest.fixture(scope="module")
def fake_pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("stats")
    build_fake_pipeline(root)
    return root


@pytest.fixture(scope="module")
def reported(fake_pipeline):
    """``corpus stats`` run once on the pipeline: its exit code and what it printed (the
    report tests ask for it, so each also runs alone)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        rc = corpus_main(["stats", str(fake_pipeline), "--quiet", "--workers", "2"])
    return fake_pipeline, rc, printed.getvalue()


def test_waterfall_agrees_with_manifests(reported):
    root, rc, printed = reported
    assert rc == 0
    stats = json.loads((root / "report" / "stats.json").read_text())
    check_waterfall(root, stats)
    # the printed table carries the same numbers
    for r in stats["waterfall"]:
        line = next(line for line in printed.splitlines() if line.strip().startswith(r["step"]))
        assert f"{r['documents']:,}" in line
    assert "Waterfall" in printed and "filter: - lang" in printed
    assert re.search(r"top languages \(\d+ distinct\): en", printed)
    m = read_manifest(root / "report")
    assert m["report"] == "index.html" and m["checks"] == []


def test_report_files(reported):
    root, rc, _ = reported
    assert rc == 0
    page = (root / "report" / "index.html").read_text()
    images = re.findall(r"<img src='([^']+)'", page)
    assert {"waterfall.png", "lengths.png", "languages.png", "shards.png", "rules.png"} <= set(images)
    for img in images:
        data = (root / "report" / img).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    # self-contained: nothing loads from elsewhere (example documents' URLs are shown as text only)
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", page) and "<script" not in page
    assert "<link" not in page and "@import" not in page


def test_stats_of_single_directories(fake_pipeline, capsys):
    root = fake_pipeline
    assert corpus_main(["stats", str(root / "filter")]) == 0
    out = capsys.readouterr().out
    kept = read_manifest(root / "filter")["counts"]["kept"]
    assert f"filter: {kept:,} documents" in out and "rejected lang:" in out
    assert corpus_main(["stats", str(root / "shards")]) == 0
    out = capsys.readouterr().out
    splits = read_manifest(root / "shards")["splits"]
    assert f"train: {splits['train']['documents']:,} documents, {splits['train']['tokens']:,} tokens" in out
    assert not (root / "filter" / "report").exists() and not (root / "shards" / "report").exists()


def test_stats_reports_disagreement(fake_pipeline, tmp_path):
    """A manifest whose counts disagree with its parts is flagged, not smoothed over."""
    import shutil

    from corpus.stages.stats.stage import stats_of_directory

    copy = tmp_path / "copy"
    shutil.copytree(fake_pipeline, copy, ignore=shutil.ignore_patterns("report"))
    m = json.loads((copy / "filter" / MANIFEST).read_text())
    m["counts"]["rejected"]["lang"] += 1
    m["counts"]["in"] += 1
    (copy / "filter" / MANIFEST).write_text(json.dumps(m))
    stats = stats_of_directory(copy)
    assert any("lang" in c for c in stats["checks"])


def test_empty_directory_is_a_clear_error(tmp_path, capsys):
    assert corpus_main(["stats", str(tmp_path)]) == 1
    assert "no Parquet parts" in capsys.readouterr().err
