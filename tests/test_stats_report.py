"""The corpus report on the embedded sample: what a data engineer tunes by. The waterfall
starts at HTML documents (the other records listed apart); removals per rule and per
language add up to the filter's books; every removal reason has an example whose
``corpus show`` line prints it; every filter threshold is drawn; dedup cluster sizes,
timings, faults and the run config agree with the manifests; and the page, opened in
headless Chromium, loads every image."""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
import shlex
import shutil

import pytest

from corpus.cli import main as corpus_main
from corpus.core.manifest import read_manifest
from corpus.stages.stats.stage import NON_HTML

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def report(sample_pipeline):
    """The sample through dedup, then ``corpus stats`` on it: (root, stats, page)."""
    root = sample_pipeline("extract", "filter", "dedup")
    with contextlib.redirect_stdout(io.StringIO()):
        assert corpus_main(["stats", str(root), "--quiet", "--force", "--workers", "2"]) == 0
    stats = json.loads((root / "report" / "stats.json").read_text())
    return root, stats, (root / "report" / "index.html").read_text(encoding="utf-8")


def test_waterfall_starts_at_html_documents(report):
    root, stats, page = report
    c = read_manifest(root / "extract")["counts"]
    apart = {r["reason"]: -r["documents"] for r in stats["non_html"]}
    assert set(apart) <= set(NON_HTML) and apart["not_response"] == c["rejected"]["not_response"]
    first = stats["waterfall"][0]
    assert first["step"] == "extract: HTML documents"
    assert first["documents"] == c["in"] - sum(apart.values()) == stats["records"]["html_documents"]
    assert not any(r.get("reason") in NON_HTML for r in stats["waterfall"])
    # the filter's removals are a visible share of the first bar, not slivers of all records
    assert sum(read_manifest(root / "filter")["counts"]["rejected"].values()) / first["documents"] > 0.05
    section = page[page.index("id=records"):page.index("id=waterfall")]
    for reason, n in apart.items():
        assert f"extract: - {reason}" in section and f"{n:,}" in section


def test_removals_per_rule_and_language_add_up(report):
    root, stats, page = report
    m = read_manifest(root / "filter")
    rejected = m["counts"]["rejected"]
    rules = stats["rules"]["filter"]
    assert {r["rule"]: r["documents"] for r in rules} == m["rules"]
    for reason, n in rejected.items():
        assert sum(r["documents"] for r in rules if r["reason"] == reason) == n
    langs = stats["languages"]["filter"]
    assert sum(row["removed"] for row in langs) == sum(rejected.values())
    for reason, n in rejected.items():
        assert sum(row["by_reason"].get(reason, 0) for row in langs) == n
    assert {row["language"]: row["in"] for row in langs} == m["languages_in"]
    assert {row["language"]: row["kept"] for row in langs if row["kept"]} == m["languages_kept"]
    assert all(f"<td>{r['rule']}</td>" in page for r in rules)
    assert stats["checks"] == []


def test_each_removal_reason_has_an_example_with_its_show_command(report, capsys):
    root, stats, page = report
    for stage in ("extract", "filter", "dedup"):
        reasons = set(stats["datasets"][stage]["rejected_parts"])
        assert reasons and set(stats["examples"][stage]) == reasons
        for reason in sorted(reasons):
            examples = stats["examples"][stage][reason]
            assert 1 <= len(examples) <= 3
            x = examples[0]
            assert x["command"] in page
            words = shlex.split(x["command"])
            assert words[:2] == ["corpus", "show"] and words[3] == "--in"
            capsys.readouterr()
            assert corpus_main(words[1:]) == 0
            shown = capsys.readouterr().out
            assert x["id"] in shown and reason in shown


def test_every_filter_threshold_is_drawn(report):
    root, stats, page = report
    config = read_manifest(root / "filter")["config"]
    sigs = {s["signal"]: s for s in stats["signals"]}
    # every measured signal of the filter parts is there, with the settings' values
    assert {"language_score", "words", "dup_line_frac", "top_2gram_char_frac", "stop_words",
            "c4_sentences", "line_punct_ratio"} <= set(sigs)
    assert sigs["language_score"]["thresholds"][0]["value"] == config["language"]["threshold"]
    assert [t["value"] for t in sigs["words"]["thresholds"]] == [config["gopher_quality"]["min_words"],
                                                                 config["gopher_quality"]["max_words"]]
    assert sigs["top_2gram_char_frac"]["thresholds"][0]["value"] == \
        config["gopher_repetition"]["max_top_ngram_char_frac"]["2"]
    rules = read_manifest(root / "filter")["rules"]
    assert sigs["words"]["thresholds"][0]["removed"] == rules["gopher_quality/min_words"]
    drawn = 0
    for s in stats["signals"]:
        h = s["histogram"]
        assert sum(h["kept"]) + sum(h["rejected"]) == s["documents"] > 0
        if any(t["value"] is not None for t in s["thresholds"]):
            drawn += 1
            png = root / "report" / s["image"]
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"<img src='{s['image']}'" in page
            for t in s["thresholds"]:
                lo, hi = h["edges"][0], h["edges"][-1]
                assert t["value"] is None or lo <= t["value"] <= hi  # the line lies on the chart
    assert drawn >= 20


def test_clusters_timings_faults_and_config(report):
    root, stats, page = report
    dedup = read_manifest(root / "dedup")
    cl = stats["clusters"]
    assert cl["clusters"] == dedup["dedup"]["stats"]["clusters"]
    assert sum(s * n for s, n in cl["sizes"]) == cl["documents_in_clusters"]
    assert cl["documents"] == dedup["counts"]["in"] == cl["singletons"] + cl["documents_in_clusters"]
    assert cl["documents_in_clusters"] - cl["clusters"] == sum(dedup["counts"]["rejected"].values())
    times = {t["stage"]: t for t in stats["timings"]}
    for stage in ("extract", "filter", "dedup"):
        m = read_manifest(root / stage)
        assert times[stage]["duration_s"] == m["duration_s"]
        assert stats["config"]["stages"][stage]["config"] == m["config"]
    faults = read_manifest(root / "extract")["faults"]
    assert faults, "the sample's truncated last record is a fault"
    assert [(f["file"], f["offset"]) for f in stats["faults"]] == [(f["file"], f["offset"]) for f in faults]
    assert re.search(r"<td>[^<]*sample-00003\.warc\.gz</td><td class=n>[\d,]+</td>", page)
    for anchor in ("records", "waterfall", "rules", "language-removals", "signals", "examples",
                   "clusters", "timings", "faults", "config"):
        assert f"id={anchor}>" in page


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_report_opens_in_headless_chromium_with_every_image(report):
    """As bench/report_screenshot.py does: the page in headless Chromium, each <img> loaded."""
    chromium = _chromium()
    if not chromium:
        pytest.skip("no chromium binary on PATH (apt-get install chromium)")
    spec = importlib.util.spec_from_file_location("report_screenshot", ROOT / "bench" / "report_screenshot.py")
    shot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shot)
    root, stats, page = report
    expected = re.findall(r"<img src='([^']+)'", page)
    assert len(expected) >= 10 and "waterfall.png" in expected and "clusters.png" in expected
    loaded = shot.check_images(chromium, root / "report")
    bad = {src: loaded.get(src) for src in expected if not re.fullmatch(r"[1-9]\d*x[1-9]\d*", loaded.get(src, ""))}
    assert not bad, f"images that did not load in {chromium}: {bad}"
