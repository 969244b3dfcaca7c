"""SFT end to end on a tiny model: overfit 20 conversations, then the real `train chat` CLI
answers with the trained reply and stops at <|assistant_end|>; overlong conversations are
counted; padding causes no cross-talk; a resumed run equals an uninterrupted one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sft_helpers import load_tokenizer, make_tiny_checkpoint, one_thread, sft_config, train_tiny_tokenizer
from train import sft
from train.chat_format import render, training_example
from train.checkpoint import latest_checkpoint, load_model
from train.sft_data import builtin_conversations, write_jsonl

ROOT = Path(__file__).resolve().parent.parent


def twenty_conversations() -> list[dict]:
    """20 single-exchange built-in conversations with distinct user turns."""
    seen, out = set(), []
    for c in builtin_conversations(300, seed=3):
        u = c["messages"][0]["content"]
        if len(c["messages"]) == 2 and u not in seen:
            seen.add(u)
            out.append(c)
    return out[:20]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    w = tmp_path_factory.mktemp("sft")
    tok_path = train_tiny_tokenizer(w / "tok")
    return w, tok_path


@pytest.fixture(scope="module")
def overfit(work):
    w, tok_path = work
    init = make_tiny_checkpoint(w / "pre", tok_path, n_layer=2, n_embd=128)
    convs = twenty_conversations()
    write_jsonl(convs, w / "convs.jsonl")
    config = sft_config(w / "out", init, builtin={"n": 0}, data=[str(w / "convs.jsonl")],
                        val_fraction=0, batch_size=10, steps=120, lr=3e-3, warmup=5, log_every=20,
                        samples=[])
    ckpt = sft.run(config)
    return convs, ckpt, w / "out" / "train" / "sft"


def chat(*args, stdin=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "train.cli", "chat", *map(str, args)], cwd=ROOT,
                          input=stdin, capture_output=True, text=True, timeout=120, env=env)


def test_overfit_then_chat_returns_trained_answer_and_stops(overfit):
    convs, ckpt, run_dir = overfit
    log = [json.loads(l) for l in (run_dir / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if r["event"] == "train"]
    assert losses[-1] < 0.1 < losses[0] and all(l == l for l in losses)   # learned, never NaN
    assert latest_checkpoint(run_dir) == ckpt
    meta = json.loads((ckpt / "state.json").read_text())["meta"]
    assert meta["phase"] == "sft" and meta["init_from"].endswith("pre")

    # one-shot: the arithmetic answer has a newline and an `Answer:` line; stops by itself
    c = next(c for c in convs if "\nAnswer: " in c["messages"][1]["content"])
    user, answer = c["messages"][0]["content"], c["messages"][1]["content"]
    r = chat(run_dir, "--prompt", user, "--temperature", "0", "--max-new-tokens", "100")
    assert r.returncode == 0, r.stderr
    assert r.stdout == answer + "\n", (user, r.stdout)
    assert "cut" not in r.stderr

    # interactive session with /reset, fed on stdin
    a, b = convs[0]["messages"], convs[3]["messages"]
    r = chat(ckpt, "--temperature", "0", stdin=f"{a[0]['content']}\n/reset\n{b[0]['content']}\n/quit\n")
    assert r.returncode == 0, r.stderr
    assert f"assistant> {a[1]['content']}\n" in r.stdout and f"assistant> {b[1]['content']}\n" in r.stdout


def test_chat_with_pipeline_picks_most_trained_phase(overfit, tmp_path, capsys):
    from train import chat as chat_cli
    convs, ckpt, run_dir = overfit
    out = tmp_path / "o"
    for phase in ("pretrain", "sft"):   # the same weights under two phases; rl absent
        (out / "train").mkdir(parents=True, exist_ok=True)
        import shutil
        shutil.copytree(run_dir, out / "train" / phase)
    pipe = tmp_path / "p.json"
    pipe.write_text(json.dumps({"output": str(out), "train": {"chat": {"temperature": 0}}}))
    path, block = chat_cli.find_checkpoint(str(pipe))
    assert path == out / "train" / "sft" and block == {"temperature": 0}
    shutil.rmtree(out / "train" / "sft")
    assert chat_cli.find_checkpoint(str(pipe))[0] == out / "train" / "pretrain"
    assert chat_cli.main([str(pipe), "--prompt", convs[1]["messages"][0]["content"]]) == 0
    assert capsys.readouterr().out == convs[1]["messages"][1]["content"] + "\n"
    empty = tmp_path / "e.json"
    empty.write_text(json.dumps({"output": str(tmp_path / "nothing")}))
    assert chat_cli.main([str(empty), "--prompt", "hi"]) == 3   # no checkpoint to talk to: a missing input
    assert "no checkpoint" in capsys.readouterr().err


def test_overlong_conversations_are_counted(work):
    _, tok_path = work
    tok = load_tokenizer(tok_path)
    long = {"messages": [{"role": "user", "content": "count " * 60},
                         {"role": "assistant", "content": "sixty " * 10}]}
    short = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
    n_user = len(render(long["messages"][:1] + [{"role": "assistant", "content": ""}], tok)[0])
    ex, c = sft.encode_conversations([long, short], tok, 64, "drop")
    assert c == {"conversations": 2, "kept": 1, "truncated": 0, "dropped_too_long": 1, "dropped_no_supervised": 0}
    assert len(ex) == 1
    ex, c = sft.encode_conversations([long, short], tok, n_user + 3, "truncate")
    assert c["truncated"] == 1 and c["kept"] == 2 and len(ex[0][0]) == n_user + 3
    # cut before any assistant token: nothing to learn, dropped and counted
    ex, c = sft.encode_conversations([long, short], tok, n_user - 5, "truncate")
    assert c["dropped_no_supervised"] == 1 and c["kept"] == 1
    with pytest.raises(ValueError, match="overflow"):
        sft.encode_conversations([short], tok, 64, "wrap")


def test_padded_batch_has_no_cross_talk(work):
    _, tok_path = work
    tok = load_tokenizer(tok_path)
    torch.manual_seed(0)
    from train.model import GPT, GPTConfig
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=2, n_head=2, n_embd=64, seq_len=128))
    for p in model.parameters():          # make every layer matter (init zeroes projections)
        torch.nn.init.normal_(p, std=0.05)
    model.eval()
    convs = builtin_conversations(6, seed=9)
    examples = [training_example(c["messages"], tok) for c in convs]
    assert len({len(x) for x, _ in examples}) > 1       # rows really are padded
    x, y = sft.collate(examples, list(range(len(examples))), "cpu")
    with torch.no_grad():
        _, batched = model(x, y, reduction="none")
        for r, (inp, tgt) in enumerate(examples):
            _, alone = model(torch.tensor([inp]), torch.tensor([tgt]), reduction="none")
            assert torch.allclose(batched[r, : len(inp)], alone[0], atol=1e-5)
            assert (batched[r, len(inp):] == 0).all() and (y[r, len(inp):] == -1).all()


def test_resume_equals_uninterrupted(work, tmp_path):
    w, tok_path = work
    init = make_tiny_checkpoint(tmp_path / "pre", tok_path, n_layer=1, n_embd=32, n_head=1, seq_len=128)
    common = dict(builtin={"n": 40, "seed": 1}, val_fraction=0.3, batch_size=4, steps=6, lr=1e-3,
                  warmup=2, log_every=1, samples=[], keep=0)
    full = sft.run(sft_config(tmp_path / "a", init, **common))
    part = sft.run(sft_config(tmp_path / "b", init, checkpoint_every=3, **common))
    run_b = tmp_path / "b" / "train" / "sft"
    # simulate a crash after step 3: drop the final checkpoint and point latest back
    import shutil
    shutil.rmtree(part)
    (run_b / "latest").write_text("step-000003\n")
    assert sft.main(["--set", "output=" + str(tmp_path / "b"), "--init", str(init), "--resume",
                     *[f"--set=sft.{k}={json.dumps(v)}" for k, v in common.items()]]) == 0
    a, _ = load_model(full)
    b, _ = load_model(latest_checkpoint(run_b))
    assert latest_checkpoint(run_b).name == "step-000006"
    for (n, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), n
    log = [json.loads(l) for l in (run_b / "log.jsonl").read_text().splitlines()]
    assert any(r["event"] == "resume" and r["step"] == 3 for r in log)
    data = next(r for r in log if r["event"] == "data")
    kept = data["train"]["kept"] + data["val"]["kept"]
    assert kept + data["train"]["dropped_too_long"] + data["val"]["dropped_too_long"] == 40
    assert data["val"]["kept"] > 0


def test_missing_init_fails_clearly(tmp_path, capsys):
    assert sft.main(["--set", f"output={tmp_path}"]) == 3   # no checkpoint to start from: a missing input
    assert "no checkpoint" in capsys.readouterr().err


def test_copy_drills_repeat_made_up_text_exactly():
    """The ``copy`` kind: the reply is the user's text after the colon, character for character,
    made of names no other built-in kind uses (fresh each time), so only copying can produce it."""
    from train.sft_data import DEFAULT_MIX
    convs = builtin_conversations(200, seed=1, mix={"copy": 1})
    assert {c["source"] for c in convs} == {"builtin:copy"}
    replies = [c["messages"][-1]["content"] for c in convs]
    for c, reply in zip(convs, replies):
        assert c["messages"][-2]["content"].split(": ", 1)[1] == reply
    assert len(set(replies)) == len(replies)                   # never the same drill twice
    others = " ".join(m["content"] for c in builtin_conversations(300, seed=1) for m in c["messages"])
    names = {w for r in replies for w in r.split() if w[0].isupper() and w not in DEFAULT_MIX}
    assert names and not any(n in others for n in names)
    assert "copy" not in DEFAULT_MIX                               # opt-in: the demo's mix is unchanged
    with pytest.raises(ValueError, match="copy"):
        builtin_conversations(10, mix={"kopy": 1})
