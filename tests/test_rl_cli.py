"""`train rl` end to end on a tiny checkpoint: evals before/after, log.jsonl, checkpoints in
the shared format, and --resume continuing where it stopped."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from train import rl
from train.arithmetic import make_problems
from train.checkpoint import latest_checkpoint, load_model, read_state, save_checkpoint
from train.model import GPT, GPTConfig
from train.tokenizer import Tokenizer

from train_fixtures import train_tokenizer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sft_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("rl-cli")
    texts = [p["prompt"] + "\n" + p["solution"] for p in make_problems(400, 0, level=[1, 2])]
    tok_path = train_tokenizer(texts, root / "tokenizer", vocab_size=400)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=Tokenizer(tok_path).vocab_size, n_layer=1, n_head=2, n_embd=32, seq_len=128))
    save_checkpoint(root / "out" / "train" / "sft", 5, model, None, {}, {"phase": "sft"}, tokenizer=tok_path)
    return root


def _pipeline(root, **rl_params):
    cfg = {"output": str(root / "out"), "train": {"rl": {
        "steps": 2, "prompts_per_step": 2, "group_size": 3, "max_new_tokens": 6, "eval_problems": 4,
        "eval_samples": 2, "eval_every": 1, "train_problems": 50, "microbatch": 4, **rl_params}}}
    path = root / "pipeline.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def test_train_rl_runs_logs_checkpoints_and_resumes(sft_checkpoint, capsys):
    root = sft_checkpoint
    assert rl.main([_pipeline(root), "--set", "train.rl.kl_coef=0.05"]) == 0
    out = capsys.readouterr().out
    assert "rl eval step    0 [new problems, trained phrasings]: pass@1 0." in out
    assert "rl eval step    0 [new problems, unseen phrasings]: pass@1 0." in out
    assert "rl done:" in out and out.count(" points (se ") == 2 and "(se 0." in out
    run_dir = root / "out" / "train" / "rl"
    records = [json.loads(l) for l in (run_dir / "log.jsonl").read_text().splitlines()]
    evals = [r for r in records if r.get("eval")]
    summary = [r for r in records if r.get("summary")]
    steps = [r for r in records if not r.get("eval") and not r.get("summary")]
    assert [r["step"] for r in evals] == [0, 1, 2] and [r["step"] for r in steps] == [1, 2]
    for r in evals:
        for p in ("", "unseen_"):
            assert {f"{p}{k}" for k in ("pass@1", "pass@1_se", "pass@2", "pass@2_se", "greedy", "greedy_se",
                                        "reward_mean", "completion_len", "scores")} <= set(r)
            assert 0.0 <= r[f"{p}pass@1"] <= r[f"{p}pass@2"] <= 1.0 and r[f"{p}pass@1_se"] >= 0.0
    assert len(summary) == 1 and [c["set"] for c in summary[0]["sets"]] == ["trained", "unseen"]
    assert all(sum(w in v for w in ("within noise", "more than 2 standard errors", "no change")) == 1
               for v in summary[0]["verdict"])
    # bench/rl.py's report of such a log: both sets, before and after, standard errors, verdicts
    spec = importlib.util.spec_from_file_location("bench_rl", ROOT / "bench" / "rl.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    text = bench.report(*bench.read_log(run_dir / "log.jsonl"), k=2)
    for label in ("new problems, trained phrasings", "new problems, unseen phrasings"):
        assert f"{label}, after SFT (4 items" in text and f"{label}, after RL 2 (4 items" in text
        assert f"{label}: pass@1 " in text
    assert text.count(" ± ") == 4 * 3
    # the demo summary repeats the verdicts (corpus never imports train: it reads the log)
    from corpus.demo import rl_verdicts
    assert rl_verdicts(run_dir / "log.jsonl") == summary[0]["verdict"]
    for r in steps:
        assert 0.0 <= r["zero_signal_frac"] <= 1.0 and 0 < r["completion_len"] <= 6
    ckpt = latest_checkpoint(run_dir)
    assert ckpt.name == "step-000002"
    assert (ckpt / "tokenizer.model").exists() and (ckpt / "optimizer.pt").exists()
    doc = read_state(ckpt)
    assert doc["meta"]["phase"] == "rl" and doc["meta"]["train"]["kl_coef"] == 0.05
    model, _ = load_model(run_dir)
    assert isinstance(model, GPT)

    # resume: two more steps from step 2, log appended, before-eval carried over
    assert rl.main([_pipeline(root, steps=4), "--resume"]) == 0
    out = capsys.readouterr().out
    assert "resuming from" in out and "rl eval step    0" not in out
    records = [json.loads(l) for l in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if not r.get("eval") and not r.get("summary")] == [1, 2, 3, 4]
    assert latest_checkpoint(run_dir).name == "step-000004"


def test_user_task_and_bad_config(sft_checkpoint, tmp_path, capsys):
    tasks = tmp_path / "t.jsonl"
    tasks.write_text("\n".join(json.dumps({"prompt": f"What is {i} plus 1?", "answer": i + 1})
                               for i in range(40)))
    root = sft_checkpoint
    assert rl.main([_pipeline(root, steps=1, task=str(tasks), reward="numeric", eval_every=0,
                              out_dir=str(tmp_path / "rl"))]) == 0
    assert latest_checkpoint(tmp_path / "rl").name == "step-000001"
    assert rl.main([_pipeline(root, stepz=3)]) == 2
    assert "train.rl.stepz: unknown key" in capsys.readouterr().err
    assert rl.main([_pipeline(root, init=str(tmp_path / "nowhere"))]) == 3   # a missing input checkpoint: exit 3
