"""`train eval` and the trainer's val figures against brute force: every target of every val
document scored once, one document at a time, window after window (train/eval.py defines the
windows), for several batch sizes, 1 and 2 DDP ranks (gloo) and two seq_lens."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from contract.layout import MANIFEST

sys.path.insert(0, str(Path(__file__).parent))
from train_fixtures import write_shards  # noqa: E402

from train import eval as val_eval
from train import pretrain
from train.checkpoint import load_checkpoint, save_checkpoint
from train.model import GPT, GPTConfig
from train.tokenizer import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
TORCHRUN = Path(sys.executable).parent / "torchrun"


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return write_shards(tmp_path_factory.mktemp("ev"), max_docs=200, vocab_size=512)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, shards) -> Path:
    """A tiny GPT with random weights large enough that its predictions depend on context."""
    torch.manual_seed(0)
    tok = Tokenizer.from_shards(shards)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=2, n_head=2, n_embd=64, seq_len=32))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    run = tmp_path_factory.mktemp("ckpt") / "run"
    save_checkpoint(run, 1, model, None, {}, {"train_config": {"shards": str(shards)}}, tokenizer=tok)
    return run


def val_documents(shards: Path) -> list[np.ndarray]:
    """The val documents in manifest order, read straight from the Parquet files."""
    manifest = json.loads((shards / MANIFEST).read_text())
    docs = []
    for part in manifest["splits"]["val"]["shards"]:
        docs += [np.asarray(t, dtype=np.int64) for t in pq.read_table(shards / part["path"])["tokens"].to_pylist()]
    return docs


@torch.no_grad()
def brute_force(model, shards: Path, T: int, max_tokens: int | None = None) -> tuple[float, list[int]]:
    """(nats/token, the targets): each document alone, window k = tokens k*T .. (k+1)*T scoring
    positions k*T+1 .. (k+1)*T, one window per forward pass; the first max_tokens targets."""
    nats, targets = 0.0, []
    for doc in val_documents(shards):
        for k in range(0, len(doc) - 1, T):
            x, y = doc[k:k + T], doc[k + 1:k + T + 1]
            if max_tokens is not None:
                y = y[:max_tokens - len(targets)]
                if len(y) == 0:
                    break
            logits, _ = model(torch.from_numpy(x[None]))
            nats += float(F.cross_entropy(logits[0, :len(y)].double(), torch.from_numpy(y), reduction="sum"))
            targets += y.tolist()
    return nats / len(targets), targets


def model_and_bytes(ckpt: Path):
    model, tok, _ = load_checkpoint(ckpt)
    return model, tok.token_bytes()


@pytest.mark.parametrize("seq_len", [16, 40])
def test_eval_equals_brute_force_for_any_batch_size(shards, ckpt, seq_len):
    torch.set_num_threads(1)
    model, token_bytes = model_and_bytes(ckpt)
    want, targets = brute_force(model, shards, seq_len)
    for batch_size in (1, 7):
        got = val_eval.evaluate(model, shards, token_bytes, seq_len=seq_len, batch_size=batch_size)
        assert got["val_loss"] == pytest.approx(want, abs=1e-4)
        assert got["val_tokens"] == got["val_split_tokens"] == len(targets)
    # bits per byte and the unigram baseline are over these very targets
    tb = np.asarray(token_bytes)
    assert got["val_bpb"] == pytest.approx(want * len(targets) / (math.log(2) * tb[targets].sum()), rel=1e-4)
    _, counts = np.unique(targets, return_counts=True)
    entropy = -(counts / counts.sum() * np.log(counts / counts.sum())).sum()
    assert got["unigram_loss"] == pytest.approx(entropy, rel=1e-9)
    assert got["val_loss"] != pytest.approx(val_eval.evaluate(model, shards, token_bytes, seq_len=seq_len // 2)
                                            ["val_loss"], abs=1e-3)   # context length matters


def test_token_budget_scores_the_first_targets_in_order(shards, ckpt):
    model, token_bytes = model_and_bytes(ckpt)
    want, targets = brute_force(model, shards, 16, max_tokens=1000)
    got = val_eval.evaluate(model, shards, token_bytes, seq_len=16, batch_size=4, max_tokens=1000)
    assert got["val_tokens"] == len(targets) == 1000 < got["val_split_tokens"]
    assert got["val_loss"] == pytest.approx(want, abs=1e-4)
    assert "the first 1,000 of" in val_eval.describe(got)


def _cli(args: list[str], ranks: int = 1) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    head = ([str(TORCHRUN), f"--nproc_per_node={ranks}", "--standalone"] if ranks > 1 else [sys.executable])
    return subprocess.run(head + ["-m", "train.cli", "eval", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun not installed beside the interpreter")
def test_cli_one_and_two_ranks_equal_brute_force(shards, ckpt):
    model, _ = model_and_bytes(ckpt)
    want, targets = brute_force(model, shards, 16)
    for ranks, batch in ((1, 5), (2, 3)):
        r = _cli([str(ckpt), "--seq-len", "16", "--batch-size", str(batch), "--device", "cpu", "--json"], ranks)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
        assert len(lines) == 1, r.stdout          # the master prints, once
        got = json.loads(lines[0])
        assert got["val_loss"] == pytest.approx(want, abs=1e-4), ranks
        assert got["val_tokens"] == len(targets)
    r = _cli([str(ckpt), "--device", "cpu"])       # the readable line, the checkpoint's own shards
    assert r.returncode == 0 and "nats/token" in r.stdout and "unigram baseline" in r.stdout, r.stderr


def test_cli_bad_flag_and_foreign_shards(tmp_path, shards, ckpt):
    r = _cli([str(ckpt), "--tokens", "0"])
    assert r.returncode == 2 and "--tokens" in r.stderr and "Traceback" not in r.stderr, r.stderr
    other = write_shards(tmp_path / "other", max_docs=60, vocab_size=512)   # another tokenizer
    r = _cli([str(ckpt), "--shards", str(other), "--device", "cpu"])
    assert r.returncode == 3 and "tokenizer" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = _cli([str(tmp_path / "nowhere")])
    assert r.returncode == 3 and "Traceback" not in r.stderr, r.stderr


def test_pretrain_reports_the_exact_figure(tmp_path, shards, capsys):
    """The trainer's end-of-run figure is `train eval`'s on the final checkpoint: all val targets."""
    pipe = tmp_path / "p.json"
    pipe.write_text(json.dumps({"output": str(tmp_path / "out"), "train": {"pretrain": {
        "shards": str(shards), "depth": 1, "seq_len": 32, "device_batch_size": 4, "max_steps": 3,
        "eval_every": 100, "ckpt_every": 100, "log_every": 1, "threads": 1, "warmup_steps": 1}}}))
    assert pretrain.main([str(pipe)]) == 0
    out = capsys.readouterr().out
    final = json.loads((tmp_path / "out" / "train" / "pretrain" / "log.jsonl").read_text().splitlines()[-1])
    model, _ = model_and_bytes(tmp_path / "out" / "train" / "pretrain")
    want, targets = brute_force(model, shards, 32)
    assert final["val_tokens"] == len(targets)
    assert final["val_loss"] == pytest.approx(want, abs=1e-4)
    assert "unigram baseline" in out and "on the same tokens" in out
