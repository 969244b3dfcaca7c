"""DDP: `torchrun --nproc_per_node=2` on CPU (gloo) gives the loss curve of one process with the
same global batch, each rank reading different documents."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from train_fixtures import write_shards  # noqa: E402

from train import pretrain

ROOT = Path(__file__).resolve().parent.parent
TORCHRUN = Path(sys.executable).parent / "torchrun"
SETTINGS = {"depth": 1, "seq_len": 64, "total_batch_tokens": 1024, "max_steps": 5, "eval_every": 5,
            "ckpt_every": 100, "log_every": 1, "threads": 1, "warmup_steps": 1}


def _pipeline(tmp: Path, shards: Path, name: str, batch: int) -> Path:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps({"output": str(tmp / name), "train": {"pretrain": {
        **SETTINGS, "shards": str(shards), "device_batch_size": batch}}}))
    return path


def _records(tmp: Path, name: str) -> list[dict]:
    text = (tmp / name / "train" / "pretrain" / "log.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.slow
@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun not installed beside the interpreter")
def test_torchrun_two_ranks_match_one_process(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    shards = write_shards(tmp / "data", max_docs=300, vocab_size=512)
    # one process: 16 rows per step as one micro-batch
    assert pretrain.main([str(_pipeline(tmp, shards, "single", batch=16))]) == 0
    # two ranks: 8 rows each, the same 16 rows per step
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([str(TORCHRUN), "--nproc_per_node=2", "--standalone", "-m", "train.cli", "pretrain",
                           str(_pipeline(tmp, shards, "ddp", batch=8))],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    single, ddp = _records(tmp, "single"), _records(tmp, "ddp")
    loss = lambda recs: [r["loss"] for r in recs if "loss" in r]
    assert len(loss(ddp)) == 5
    assert loss(ddp) == pytest.approx(loss(single), rel=1e-4, abs=1e-5)
    assert loss(ddp)[-1] < loss(ddp)[0]
    final_s, final_d = single[-1], ddp[-1]
    assert final_d["val_loss"] == pytest.approx(final_s["val_loss"], rel=1e-4)
    assert final_d["val_bpb"] == pytest.approx(final_s["val_bpb"], rel=1e-4)
    assert final_d["trained_token_share"] == final_s["trained_token_share"] == 1.0   # summed over ranks
    ranks = final_d["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert ranks[0]["first_lane"] == 0 and ranks[1]["first_lane"] == 8    # disjoint lanes: disjoint documents
    assert all(r["docs"] > 0 for r in ranks)
    assert sum(r["docs"] for r in ranks) == final_s["ranks"][0]["docs"]
