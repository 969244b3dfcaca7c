"""Settings robustness: every bad pipeline setting ends in one clear line and exit 2, before
any stage runs or any output is touched; and filter annotate mode feeds dedup cleanly."""
from __future__ import annotations

import copy
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest


from corpus.core.parts import read_table
from corpus.core.runner import run_stage
from corpus.core.registry import stage_class
from contract.layout import REJECTED

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
    kept, rej = read_table(tmp_path / "dedup"), read_table(tmp_path / "dedup" / REJECTED)
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


# --- bad settings: one line, exit 2, nothing touched ------------------------------------

def _laughs(levels: int = 9) -> str:
    """A ~1 KB file of nested aliases that expands to 10**levels strings (billion laughs);
    inside ``train:``, whose inner keys the corpus side does not check."""
    lines = ["name: laughs", "train:", "  l0: &l0 [" + ", ".join(["lol"] * 10) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def _set(*items: str) -> list[str]:
    return [a for item in items for a in ("--set", item)]


#: case -> (command, pipeline file text or None for pipelines/sample.yaml, extra args,
#: what the error line must name, a valid key it must list or None)
CASES = {
    "binary-yaml": ("extract", b"\x00\x01\xfe\xff\x89PNG\r\n\x1a\n\x00\x00", [], "bad.yaml", None),
    "invalid-yaml": ("extract", "stages:\n  filter: [unclosed\n    mode: drop\n", [], "bad.yaml", None),
    "not-a-mapping": ("extract", "- just\n- a list\n", [], "bad.yaml", None),
    "billion-laughs": ("extract", _laughs(), [], "bad.yaml", None),
    "override-without-equals": ("filter", None, _set("stages.filter.mode"), "stages.filter.mode", None),
    "override-through-scalar": ("filter", None, _set("stages.filter.mode.x=1"), "stages.filter.mode", None),
    "filter-typo": ("filter", None, _set("stages.filter.languag.threshold=0.5"),
                    "stages.filter.languag", "language"),
    "filter-wrong-type": ("filter", None, _set("stages.filter.language.threshold=high"),
                          "stages.filter.language.threshold", None),
    "filter-out-of-range": ("filter", None, _set("stages.filter.language.threshold=1.5"),
                            "stages.filter.language.threshold", None),
    "filter-mode": ("filter", None, _set("stages.filter.mode=keep"), "stages.filter.mode", None),
    "filter-section-type": ("filter", None, _set("stages.filter.c4=3"), "stages.filter.c4", None),
    "filter-languages": ("filter", None, _set("stages.filter.language.languages=5"),
                         "stages.filter.language.languages", None),
    "filter-ngram-fracs": ("filter", None, _set("stages.filter.gopher_repetition.max_top_ngram_char_frac={1: 2}"),
                           "stages.filter.gopher_repetition.max_top_ngram_char_frac", None),
    "quality-without-model": ("filter", None, _set("stages.filter.quality_classifier.enabled=true"),
                              "stages.filter.quality_classifier.model", None),
    "quality-top-fraction": ("filter", None, _set("stages.filter.quality_classifier.top_fraction=0"),
                             "stages.filter.quality_classifier.top_fraction", None),
    "split-bytes-negative": ("extract", None, _set("stages.extract.split_bytes=-100"),
                             "stages.extract.split_bytes", None),
    "timeout-type": ("extract", None, _set("stages.extract.timeout_s=fast"), "stages.extract.timeout_s", None),
    "extractor-name": ("extract", None, _set("stages.extract.extractor=lynx"), "stages.extract.extractor", None),
    "workers-negative": ("extract", None, _set("executor.workers=-1"), "executor.workers", None),
    "workers-flag-negative": ("extract", None, ["--workers", "-1"], "executor.workers", None),
    "executor-not-a-mapping": ("extract", None, _set("executor=3") + ["--workers", "2"], "executor", None),
    # (an empty ``executor:`` is its defaults: tests/test_settings_model.py, issue #13)
    "output-not-a-string": ("extract", "output: 5\nstages: {}\n", [], "output", None),
    "inputs-type": ("extract", None, _set("inputs=5"), "inputs", None),
    "train-not-a-mapping": ("extract", None, _set("train=3"), "train", None),
    "dedup-threshold": ("dedup", None, _set("stages.dedup.threshold=2"), "stages.dedup.threshold", None),
    "dedup-bands-rows": ("dedup", None, _set("stages.dedup.num_perm=50"), "stages.dedup.num_perm", None),
    "dedup-action": ("dedup", None, _set("stages.dedup.decontaminate={eval_sets: [a.jsonl], action: drop}"),
                     "stages.dedup.decontaminate.action", None),
    "tokenizer-type": ("tokenizer", None, _set("stages.tokenizer.vocab_size=big"),
                       "stages.tokenizer.vocab_size", None),
    "tokenize-fraction": ("tokenize", None, _set("stages.tokenize.val_fraction=2"),
                          "stages.tokenize.val_fraction", None),
    # an unknown key at the top level and in every section
    "unknown-top": ("run", None, _set("val_fraction=0.1"), "val_fraction", "stages"),
    "unknown-executor": ("run", None, _set("executor.threads=2"), "executor.threads", "workers"),
    "unknown-sample": ("run", None, _set("sample.page=10"), "sample.page", "pages"),
    "unknown-stage": ("run", None, _set("stages.filtr.mode=drop"), "stages.filtr", "filter"),
    "unknown-extract": ("extract", None, _set("stages.extract.extracter=resiliparse"),
                        "stages.extract.extracter", "extractor"),
    "unknown-trafilatura": ("extract", None, _set("stages.extract.trafilatura.fats=false"),
                            "stages.extract.trafilatura.fats", "fast"),
    "unknown-filter": ("filter", None, _set("stages.filter.batchsize=8"), "stages.filter.batchsize", "batch_size"),
    "unknown-filter-c4": ("filter", None, _set("stages.filter.c4.min_sentence=3"),
                          "stages.filter.c4.min_sentence", "min_sentences"),
    "unknown-filter-pii": ("filter", None, _set("stages.filter.pii.emails=true"),
                           "stages.filter.pii.emails", "email"),
    "unknown-dedup": ("dedup", None, _set("stages.dedup.ngrams=3"), "stages.dedup.ngrams", "ngram"),
    "unknown-decontaminate": ("dedup", None, _set("stages.dedup.decontaminate={evals: [a.jsonl]}"),
                              "stages.dedup.decontaminate.evals", "eval_sets"),
    "unknown-tokenizer": ("tokenizer", None, _set("stages.tokenizer.vocab=100"),
                          "stages.tokenizer.vocab", "vocab_size"),
    "unknown-tokenize": ("tokenize", None, _set("stages.tokenize.val_fractoin=0.1"),
                         "stages.tokenize.val_fractoin", "val_fraction"),
    "unknown-stats": ("run", None, _set("stages.stats.format=html"), "stages.stats.format", None),
    "unknown-stats-command": ("stats", None, _set("stages.stats.format=html"), "stages.stats.format", None),
}


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _corpus(args: list[str], mem_bytes: int = 2 << 30) -> subprocess.CompletedProcess:
    """``python -m corpus.cli ARGS`` from the repository root, its address space capped
    (a setting that makes the loader balloon fails on the cap instead of the machine)."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "corpus.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, preexec_fn=cap)


def _assert_one_clear_line(proc, names: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    assert names in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_setting_is_one_line_exit_2_and_touches_nothing(case, tmp_path):
    command, text, extra, names, valid = CASES[case]
    pipeline = str(ROOT / "pipelines" / "sample.yaml")
    if text is not None:
        pipeline = str(tmp_path / "bad.yaml")
        Path(pipeline).write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("a file the user wrote\n")
    before = _snapshot(out)
    proc = _corpus([command, pipeline, "--output", str(out), *extra])
    line = _assert_one_clear_line(proc, names)
    if valid:
        assert "valid" in line and valid in line, line
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", *(["bad.yaml"] if text else [])])


def test_output_that_cannot_be_created_is_one_line_exit_2(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder\n")
    proc = _corpus(["extract", str(ROOT / "pipelines" / "sample.yaml"), "--output", str(blocker / "out")])
    _assert_one_clear_line(proc, "output")
    assert blocker.read_text() == "a file, not a folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_output_on_a_read_only_filesystem_is_one_line_exit_2():
    target = Path("/sys/crawl2tokens-test-out")
    try:
        with tempfile.TemporaryFile(dir="/sys"):
            pytest.skip("/sys is writable here")
    except OSError:
        pass
    proc = _corpus(["extract", str(ROOT / "pipelines" / "sample.yaml"), "--output", str(target)])
    _assert_one_clear_line(proc, "output")
    assert not target.exists()


# --- good settings still load -------------------------------------------------------------

@pytest.mark.parametrize("name", ["sample.yaml", "commoncrawl.yaml"])
def test_shipped_pipelines_are_valid_and_every_stage_accepts_them(name, tmp_path):
    from corpus.core.config import load_pipeline
    from corpus.core.registry import names

    config = load_pipeline(ROOT / "pipelines" / name, output=str(tmp_path / "out"))
    for stage in names():
        stage_class(stage)(config)  # each stage reads its own section without complaint
    assert not (tmp_path / "out").exists()


def test_train_section_inner_keys_are_the_training_sides_business(tmp_path):
    from corpus.core.config import load_pipeline

    config = load_pipeline(ROOT / "pipelines" / "sample.yaml", ["train.pretrain.not_checked_here=1"],
                           output=str(tmp_path))
    assert config["train"]["pretrain"]["not_checked_here"] == 1
