"""train pretrain end to end on small generated shards: learning, exact resume, checkpoints,
logs, and `train sample`."""
from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from train_fixtures import write_shards  # noqa: E402

from train import allocator, pretrain, sample
from train.checkpoint import latest_checkpoint, load_model

TINY = {"depth": 1, "seq_len": 64, "device_batch_size": 4, "total_batch_tokens": 512, "eval_every": 2,
        "ckpt_every": 100, "log_every": 1, "threads": 1, "warmup_steps": 2, "max_steps": 6}


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return write_shards(tmp_path_factory.mktemp("pt"), max_docs=300, vocab_size=512)


def _pipeline(tmp: Path, shards: Path, name: str, **overrides) -> Path:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps({"output": str(tmp / name),
                                "train": {"pretrain": {**TINY, "shards": str(shards), **overrides}}}))
    return path


def _log(tmp: Path, name: str) -> list[dict]:
    lines = (tmp / name / "train" / "pretrain" / "log.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _losses(records):
    return [(r["step"], r["loss"]) for r in records if "loss" in r]


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_exact_resume_matches_uninterrupted_run(tmp_path, shards, optimizer):
    full = _pipeline(tmp_path, shards, "full", optimizer=optimizer)
    assert pretrain.main([str(full)]) == 0
    part = _pipeline(tmp_path, shards, "part", optimizer=optimizer)
    assert pretrain.main([str(part), "--set", "train.pretrain.stop_at_step=3"]) == 0
    run = tmp_path / "part" / "train" / "pretrain"
    assert latest_checkpoint(run).name == "step-000003"
    assert pretrain.main([str(part), "--resume"]) == 0
    a, b = _log(tmp_path, "full"), _log(tmp_path, "part")
    assert _losses(a) == _losses(b) and len(_losses(a)) == 6        # bit-identical on CPU
    def val(recs):   # the preempted run also evaluated at its stop (step 3)
        return [(r["step"], r["val_loss"], r["val_bpb"]) for r in recs
                if "val_loss" in r and "final" not in r and r["step"] % 2 == 0]
    assert val(a) == val(b) and len(val(a)) == 3
    ma, _ = load_model(tmp_path / "full" / "train" / "pretrain")
    mb, meta = load_model(run)
    assert meta["step"] == 6
    for (k, x), (_, y) in zip(ma.state_dict().items(), mb.state_dict().items()):
        assert torch.equal(x, y), k


def test_demo_style_run_learns_below_unigram_and_samples(tmp_path, shards, capsys):
    pipe = _pipeline(tmp_path, shards, "learn", depth=2, seq_len=128, device_batch_size=8, total_batch_tokens=1024,
                     max_steps=120, eval_every=60, ckpt_every=60, log_every=10, matrix_lr=0.02,
                     warmup_steps=4, mlp="swiglu", schedule="wsd")
    assert pretrain.main([str(pipe)]) == 0
    out = capsys.readouterr().out
    assert "unigram baseline" in out and "bits/byte" in out
    recs = _log(tmp_path, "learn")
    final = recs[-1]
    assert final["final"] and final["step"] == 120
    assert final["val_loss"] < final["unigram_loss"] - 0.2
    assert 0.5 < final["val_bpb"] < 8
    assert 0 <= final["cropped_share"] < 1
    losses = [l for _, l in _losses(recs)]
    assert losses[-1] < losses[0] - 1.0
    assert all(r["tok_per_s"] > 0 and r["lr"] > 0 for r in recs if "loss" in r)
    run = tmp_path / "learn" / "train" / "pretrain"
    steps = sorted(p.name for p in run.iterdir() if p.name.startswith("step-"))
    assert steps == ["step-000060", "step-000120"]
    assert sample.main([str(run), "--prompt", "Return the", "--max-new-tokens", "12", "--seed", "0"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Return the") and len(text.strip()) > len("Return the")
    assert sample.main([str(pipe), "--prompt", "The", "--num-samples", "2", "--temperature", "0",
                        "--max-new-tokens", "8"]) == 0
    assert capsys.readouterr().out.count("--- sample") == 2


def test_bad_settings_are_refused(tmp_path, shards, capsys):
    pipe = _pipeline(tmp_path, shards, "bad", total_batch_tokens=1000)
    assert pretrain.main([str(pipe)]) == 2          # a setting: exit 2, before anything runs
    assert "multiple of" in capsys.readouterr().err
    pipe = _pipeline(tmp_path, shards, "typo", max_step=3)
    assert pretrain.main([str(pipe)]) == 2
    assert "train.pretrain.max_step: unknown key" in capsys.readouterr().err
    pipe = _pipeline(tmp_path, tmp_path / "nowhere", "noshards")
    assert pretrain.main([str(pipe)]) == 3          # an input (the shards) is missing: exit 3


def test_time_budget_stops_early_with_a_checkpoint(tmp_path, shards):
    pipe = _pipeline(tmp_path, shards, "timed", max_steps=10_000, max_seconds=0.01, eval_every=1000)
    assert pretrain.main([str(pipe)]) == 0
    final = _log(tmp_path, "timed")[-1]
    assert final["final"] and final["step"] < 10_000 and "val_loss" in final and "unigram_loss" in final
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc" and not allocator.user_malloc_settings():
        assert final["cpu_allocator_tuned"] is True    # train/allocator.py in force on the CPU
    ckpt = latest_checkpoint(tmp_path / "timed" / "train" / "pretrain")
    assert ckpt.name == f"step-{final['step']:06d}"


def test_final_record_reports_the_share_of_document_tokens_trained_on(tmp_path, shards, capsys):
    """Issue #14: the end-of-run line and log.jsonl say how much of the text was trained on;
    carrying remainders (the default) drops nothing, cropping (packing: crop) drops tails."""
    assert pretrain.main([str(_pipeline(tmp_path, shards, "carry", max_steps=3, eval_every=100))]) == 0
    assert "100.0% of document tokens trained on" in capsys.readouterr().out
    assert _log(tmp_path, "carry")[-1]["trained_token_share"] == 1.0
    pipe = _pipeline(tmp_path, shards, "crop", max_steps=3, eval_every=100, packing="crop")
    assert pretrain.main([str(pipe)]) == 0
    assert 0.0 < _log(tmp_path, "crop")[-1]["trained_token_share"] < 1.0
