"""`train report OUT`: the report card. A realistic OUT is written by the test itself (stage
manifests and run logs with the fields the stages and train/{pretrain,sft,rl}.py write, the
RL summary made by train/rl.py's own ``compare``); the card is then opened in headless
Chromium, as bench/report_screenshot.py does, and every image must load."""
from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from train import rl
from train.common import RunLog
from contract.layout import MANIFEST

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = {"python": "3.11.7", "crawl2tokens": "0.1.0", "pyarrow": "26.0.1", "torch": "2.13.0+cpu"}
PLOTS = {"corpus_waterfall.png", "pretrain_loss.png", "sft_loss.png", "rl_pass.png", "wall_times.png"}


def _manifest(folder: Path, stage: str, c_in: int, kept: int, rejected: dict, errors: dict, **extra) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    m = {"stage": stage, "config": {"batch_size": 64}, "executor": {"type": "local", "workers": 2},
         "counts": {"in": c_in, "kept": kept, "rejected": rejected, "errors": errors},
         "faults": [{"file": "crawl/a.warc.gz", "offset": 1863685, "message": "truncated gzip member"}] * sum(errors.values()),
         "duration_s": 1.25, "versions": VERSIONS, **extra}
    (folder / MANIFEST).write_text(json.dumps(m, indent=2))


def write_corpus(out: Path) -> None:
    _manifest(out / "extract", "extract", 4426, 2000, {"not_response": 2315, "http_status": 110}, {"read_error": 1})
    _manifest(out / "filter", "filter", 2000, 1760, {"gopher_quality": 170, "c4": 70}, {})
    _manifest(out / "dedup", "dedup", 1760, 1501, {"url_duplicate": 117, "minhash_duplicate": 142}, {})
    tok = {"path": "tokenizer.model", "vocab_size": 4096, "training_documents": 405, "training_chars": 1002529}
    _manifest(out / "tokenizer", "tokenizer", 1501, 405, {"not_sampled": 1096}, {}, tokenizer=tok)
    _manifest(out / "shards", "tokenize", 1501, 1501, {}, {}, tokenizer=tok, dtype="uint16",
              splits={"train": {"documents": 1420, "tokens": 950000, "shards": []},
                      "val": {"documents": 81, "tokens": 50000, "shards": []}},
              text={"chars": 3500000, "bytes": 3900000})   # 3.900 bytes/token


def _checkpoint(run_dir: Path, step: int, meta: dict) -> None:
    ckpt = run_dir / f"step-{step:06d}"
    ckpt.mkdir(parents=True)
    (ckpt / "state.json").write_text(json.dumps({"step": step, "state": {}, "meta": meta}))
    (run_dir / "latest").write_text(ckpt.name)


def write_pretrain(out: Path) -> None:
    run_dir = out / "train" / "pretrain"
    log = RunLog(run_dir / "log.jsonl")
    for step in range(1, 61):
        loss = 2.9 + 5.4 * math.exp(-step / 15)
        log({"step": step, "loss": loss, "lr": 3e-3, "tokens": step * 2048, "tok_per_s": 2000.0, "dt": 1.0,
             "epoch": step / 400})
        if step in (30, 60):
            log({"step": step, "val_loss": loss + 0.3, "val_bpb": 1.2345 if step == 60 else 1.5,
                 "val_tokens": 50000, "val_split_tokens": 50000, "val_docs": 81, "eval_seq_len": 256,
                 "unigram_loss": 7.0822, "unigram_bpb": 2.6543})
    log({"step": 60, "final": True, "ranks": [], "tokens": 122880, "train_time": 60.0, "cropped_share": 0.125,
         "trained_token_share": 0.875, "val_loss": 3.3344, "val_bpb": 1.2345, "val_tokens": 50000,
         "val_split_tokens": 50000, "val_docs": 81, "eval_seq_len": 256, "unigram_loss": 7.0822,
         "unigram_bpb": 2.6543})
    log.close()
    _checkpoint(run_dir, 60, {"model_config": {"n_layer": 4, "n_embd": 256, "n_head": 4, "vocab_size": 4096,
                                               "seq_len": 256},
                              "train_config": {"max_steps": 300, "depth": 4},
                              "pipeline": {"name": "sample", "output": str(out), "train": {"pretrain": {"depth": 4}}}})


def write_sft(out: Path) -> None:
    run_dir = out / "train" / "sft"
    log = RunLog(run_dir / "log.jsonl")
    log({"event": "data", "train": {"conversations": 1921, "kept": 1921}, "val": {"conversations": 79, "kept": 79},
         "sources": {"builtin:arithmetic": 600, "builtin:identity": 160}, "supervised_tokens": 67840})
    for step in range(40, 321, 40):
        log({"event": "train", "step": step, "steps": 320, "loss": 4.4 * 40 / step, "lr": 1e-3,
             "supervised_tokens": 6000, "skipped_batches": 0, "sec_per_step": 0.2, "elapsed": step * 0.2})
        if step == 160:
            log({"event": "val", "step": step, "val_loss": 1.3})
    log({"event": "done", "step": 320, "stopped_by": "steps", "val_loss": 1.017, "skipped_batches": 0,
         "checkpoint": str(run_dir / "step-000320"), "elapsed": 64.5})
    log({"event": "sample", "prompt": "Who are you?", "reply": "I am a small assistant | trained with crawl2tokens.",
         "stopped": True})
    log({"event": "sample", "prompt": "What is 7 plus 5?", "reply": "7 + 5 = 12\nAnswer: 12", "stopped": False})
    log.close()
    _checkpoint(run_dir, 320, {"phase": "sft", "train_config": {"lr": 0.002, "steps": 320}})


def _eval(step: int, trained: float, unseen: float) -> dict:
    ev = {}
    for prefix, p1 in (("", trained), ("unseen_", unseen)):
        ev.update({f"{prefix}pass@1": p1, f"{prefix}pass@1_se": 0.041, f"{prefix}pass@4": min(1.0, 2 * p1),
                   f"{prefix}pass@4_se": 0.06, f"{prefix}greedy": p1, f"{prefix}greedy_se": 0.05,
                   f"{prefix}reward_mean": p1, f"{prefix}completion_len": 18.5, f"{prefix}problems": 32,
                   f"{prefix}distinct": 32, f"{prefix}scores": [p1] * 32})
    return {**ev, "step": step, "eval": True, "seconds": 2.5}


def write_rl(out: Path, new_code: bool = True) -> None:
    run_dir = out / "train" / "rl"
    log = RunLog(run_dir / "log.jsonl")
    before, after = _eval(0, 0.125, 0.0625), _eval(12, 0.25, 0.09375)
    if not new_code:   # older code: one eval set, no standard errors, no summary
        before, after = ({k: v for k, v in ev.items() if not k.startswith("unseen_") and not k.endswith("_se")}
                         for ev in (before, after))
    log(before)
    for step in range(1, 13):
        log({"step": step, "reward_mean": 0.1, "zero_signal_frac": 0.5, "completion_len": 19.0, "loss": 0.01,
             "kl": 0.0, "clip_frac": 0.0, "tokens": 600, "gen_s": 0.8, "step_s": 1.5})
    log(after)
    if new_code:
        groups = [str(i) for i in range(32)]
        sets = [{**rl.compare({k[len(p):]: v for k, v in before.items() if k.startswith(p)},
                              {k[len(p):]: v for k, v in after.items() if k.startswith(p)}, groups, label),
                 "set": name}
                for name, p, label in (("trained", "", rl.LABELS["trained"]), ("unseen", "unseen_", rl.LABELS["unseen"]))]
        log({"step": 12, "summary": True, "sets": sets, "verdict": [c["verdict"] for c in sets]})
    log.close()
    _checkpoint(run_dir, 12, {"phase": "rl", "train": {"task": "arithmetic", "reward": "exact", "prompts_per_step": 8,
                                                       "group_size": 8, "eval_samples": 4}})


def write_probe(out: Path) -> None:
    path = out / "train" / "probe" / "probe.jsonl"
    path.parent.mkdir(parents=True)
    recs = [{"question": f"q{i}", "answer": "a", "accuracy": 0.75 if i < 3 else 0.0,
             "decision": "keep" if i < 3 else "refuse"} for i in range(5)]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def train_report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "train.cli", "report", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def card(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report-card") / "sample"
    write_corpus(out)
    write_pretrain(out)
    write_sft(out)
    write_rl(out)
    write_probe(out)
    r = train_report(out)
    assert r.returncode == 0, r.stderr
    assert f"{out / 'card' / 'report.html'}" in r.stdout
    return out / "card"


#: (what, as it must read on the card): computed by hand from the numbers written above.
KEY_FIGURES = [
    ("WARC records", "4,426"), ("documents tokenized", "1,501"), ("bytes per token", "3.900"),
    ("exact val bpb", "1.2345"), ("val loss on all of val", "3.3344 on 50,000 val tokens (all of val)"),
    ("unigram baseline", "7.0822 nats/token, 2.6543 bits/byte"), ("tokens seen", "122,880"),
    ("share trained on", "87.5%"), ("cropped", "12.5%"), ("SFT val loss", "1.0170"),
    ("sample reply", "I am a small assistant"), ("RL pass@1 before/after", "0.125 ± 0.041"),
    ("RL after", "0.250 ± 0.041"), ("RL unseen", "0.062 ± 0.041"), ("RL change", "+12.5 points"),
    ("RL verdict", "Verdict: new problems, unseen phrasings: pass@1"), ("probe questions", "5"),
    ("probe refusals", "5 / 2"), ("pretrain wall time", "60.0"), ("versions", "2.13.0+cpu"),
]


def _chromium() -> str:
    path = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if not path:
        pytest.skip("no chromium binary on PATH (.ci/run installs Debian's chromium): the browser check needs one")
    return path


def _bench_screenshot():
    spec = importlib.util.spec_from_file_location("report_screenshot", ROOT / "bench" / "report_screenshot.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_report_html_opens_in_chromium_with_every_image_loaded(card):
    chromium = _chromium()
    shot = _bench_screenshot()
    images = shot.check_images(chromium, card, "report.html")
    assert set(images) == PLOTS, images
    for src, size in images.items():
        assert re.fullmatch(r"[1-9]\d*x[1-9]\d*", size), f"{src} did not load in the browser: {size}"
    dom = subprocess.run([chromium, *shot.FLAGS, "--dump-dom", (card / "report.html").resolve().as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    text = re.sub(r"<[^>]+>", " ", dom).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    text = " ".join(text.split())
    for what, figure in KEY_FIGURES:
        assert figure in text, f"{what}: {figure!r} not on the page"
    assert "not available" not in text, "every piece is present: nothing should be missing"


def test_report_md_holds_the_same_figures_and_its_images(card):
    md = (card / "report.md").read_text()
    for what, figure in KEY_FIGURES:
        assert figure in md, f"{what}: {figure!r} not in report.md"
    refs = set(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md))
    assert refs == PLOTS and all((card / r).stat().st_size > 0 for r in refs)
    assert "I am a small assistant \\| trained" in md     # a | in a reply does not break the table
    assert "7 + 5 = 12<br>Answer: 12" in md


def test_missing_phases_and_older_logs_say_not_available(tmp_path):
    out = tmp_path / "out"
    write_corpus(out)
    write_rl(out, new_code=False)
    with (out / "train" / "rl" / "log.jsonl").open("a") as f:
        f.write('{"step": 13, "reward_me')              # a run killed mid-line
    r = train_report(out, "--out", tmp_path / "card")
    assert r.returncode == 0, r.stderr
    for page in ("report.md", "report.html"):
        text = (tmp_path / "card" / page).read_text()
        assert "not available: no pretraining log at" in text
        assert "not available: no SFT log at" in text
        assert "not available: no probe output at" in text
        assert "0.125 (se not available)" in text            # older RL: figures without standard errors
        assert "this log has no such eval set (older code)" in text
        assert "not available: no summary verdict in the RL log" in text
        assert "not available: no duration for pretrain, sft" in text
        assert "4,426" in text and "3.900" in text            # what is there is still shown
    assert not (out / "card").exists()                      # --out honoured, OUT untouched


def test_a_folder_without_a_run_is_a_bad_input(tmp_path):
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "missing"):
        r = train_report(target)
        assert r.returncode == 3 and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and str(target) in r.stderr
    assert list((tmp_path / "empty").iterdir()) == []


def test_a_pipeline_file_stands_for_its_output(tmp_path):
    out = tmp_path / "out"
    write_corpus(out)
    pipeline = tmp_path / "pipeline.json"
    pipeline.write_text(json.dumps({"output": "elsewhere"}))
    r = train_report(pipeline, "--set", f"output={out}")
    assert r.returncode == 0, r.stderr
    md = (out / "card" / "report.md").read_text()
    assert "4,426" in md and f"pipeline (from {pipeline} today: the run recorded none)" in md
    r = train_report(pipeline, "--set", "output")
    assert r.returncode == 2 and "key.path=value" in r.stderr and "Traceback" not in r.stderr


def test_wall_time_plot_lays_out_with_a_single_phase(tmp_path):
    """A run with one phase (one bar) still has room for its title and axis label."""
    import warnings

    from train.report import plot_times

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plot_times(tmp_path, [("pretrain", 12.5)]) == "wall_times.png"
    assert (tmp_path / "wall_times.png").stat().st_size > 0
