"""Robustness of the training side (issue #12): bad settings, mismatched tokenizers, corrupt
checkpoints, hostile chat input. Each bad case ends in one clear line and a documented exit
code (2 a setting, 3 an input), never a traceback, and never touches a checkpoint folder."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from contract.layout import MANIFEST

sys.path.insert(0, str(Path(__file__).parent))

from train import pretrain  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _run_cli(args: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "train.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, **kw)


# -- 15: bad training settings -------------------------------------------------------------------

BAD_SETTINGS = [
    ("train.pretrain.max_steps=abc", "train.pretrain.max_steps", "not an integer"),
    ("train.pretrain.depth=0", "train.pretrain.depth", ">= 1"),
    ("train.pretrain.device_batch_size=0", "train.pretrain.device_batch_size", ">= 1"),
    ("train.pretrain.matrix_lr=nan", "train.pretrain.matrix_lr", "finite number > 0"),
    ("train.pretrain.matrix_lr=.inf", "train.pretrain.matrix_lr", "finite number > 0"),
    ("train.pretrain.embedding_lr=-1", "train.pretrain.embedding_lr", "finite number > 0"),
    ("train.pretrain.seq_len=1.5", "train.pretrain.seq_len", "not an integer"),
    ("train.pretrain.schedule=linear", "train.pretrain.schedule", "cosine, wsd, constant"),
    ("train.pretrain.shuffle=maybe", "train.pretrain.shuffle", "true or false"),
    ("train.pretrain.device=bogus", "train.pretrain.device", "must be auto, cpu"),
    ("train.pretrain.max_step=3", "train.pretrain.max_step", "valid keys: "),
    ("train.pretrain.head_dim=3", "train.pretrain.depth/head_dim", "not divisible"),
    ("train.pretrain.total_batch_tokens=1000", "train.pretrain.total_batch_tokens", "not a multiple"),
    ("train.pretrian.depth=2", "train.pretrian", "valid: pretrain, sft"),
    ("train.chat.temprature=0.5", "train.chat.temprature", "valid keys: "),
]


@pytest.mark.parametrize("override,key,problem", BAD_SETTINGS, ids=[c[0] for c in BAD_SETTINGS])
def test_bad_pretrain_setting_is_one_line_exit_2(tmp_path, capsys, override, key, problem):
    pipe = tmp_path / "p.json"
    pipe.write_text(json.dumps({"output": str(tmp_path / "out"), "train": {"pretrain": {"max_steps": 2}}}))
    assert pretrain.main([str(pipe), "--set", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0] and problem in err[0], err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [
    ["pretrain", "pipelines/sample.yaml", "--set", "train.pretrain.max_steps=abc"],
    ["pretrain", "pipelines/sample.yaml", "--set", "train.pretrain.matrix_lr=nan"],
    ["sft", "pipelines/sample.yaml", "--set", "train.sft.lr=nan"],
    ["rl", "pipelines/sample.yaml", "--set", "train.rl.group_size=0"],
])
def test_bad_setting_cli_exit_2_no_traceback(tmp_path, args):
    """The real command line, from a scratch directory: nothing is created under it."""
    args = [str(ROOT / a) if a.endswith(".yaml") else a for a in args]
    r = _run_cli(args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert args[3].split("=")[0] in r.stderr
    assert list(tmp_path.iterdir()) == []


# -- shared: tiny shards and a tiny pretraining run with two checkpoints --------------------------

TINY = {"depth": 1, "seq_len": 64, "device_batch_size": 2, "total_batch_tokens": 128, "eval_every": 100,
        "ckpt_every": 2, "log_every": 1, "threads": 1, "warmup_steps": 1, "max_steps": 4}


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    from train_fixtures import write_shards
    return write_shards(tmp_path_factory.mktemp("rob"), max_docs=120, vocab_size=512)


def _pipe(tmp: Path, shards: Path, **overrides) -> Path:
    path = tmp / "pipe.json"
    path.write_text(json.dumps({"output": str(tmp / "out"),
                                "train": {"pretrain": {**TINY, "shards": str(shards), **overrides}}}))
    return path


@pytest.fixture(scope="module")
def good_run(tmp_path_factory, shards) -> Path:
    """A finished 4-step run: step-000002 and step-000004."""
    tmp = tmp_path_factory.mktemp("good")
    assert pretrain.main([str(_pipe(tmp, shards))]) == 0
    return tmp / "out" / "train" / "pretrain"


# -- 12: the shards' tokenizer was replaced ------------------------------------------------------

def test_tokenizer_not_the_shards_one_is_refused_at_start(tmp_path, shards, capsys):
    import shutil
    from train_fixtures import stdlib_documents, train_tokenizer

    root = tmp_path / "copy"
    shutil.copytree(shards.parent, root)
    manifest = json.loads((root / "shards" / MANIFEST).read_text())
    train_tokenizer([t for _, t in stdlib_documents()[:60]], root / "tokenizer", vocab_size=400)
    pipe = _pipe(tmp_path, root / "shards")
    assert pretrain.main([str(pipe)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert str((root / "tokenizer" / "tokenizer.model").resolve()) in err[0]
    assert manifest["tokenizer"]["sha256"] in err[0] and "vocab 512" in err[0]
    assert not (tmp_path / "out").exists()


# -- 13: corrupt or mismatched checkpoints ------------------------------------------------------

def _rewrite_tensors(step: Path, change) -> None:
    from safetensors import safe_open
    from safetensors.torch import load, save_file
    f = step / "model.safetensors"
    with safe_open(f, framework="pt") as opened:
        meta = opened.metadata()
    tensors = load(f.read_bytes())      # from bytes: no mapping of the file being rewritten
    change(tensors)
    save_file(tensors, f, metadata=meta)


def _first_matrix(t: dict) -> str:
    return sorted(k for k in t if t[k].dim() == 2)[0]


def _edit_state(step: Path, change) -> None:
    doc = json.loads((step / "state.json").read_text())
    change(doc)
    (step / "state.json").write_text(json.dumps(doc))


def _other_tokenizer(step: Path) -> None:
    from train_fixtures import stdlib_documents, train_tokenizer
    other = train_tokenizer([t for _, t in stdlib_documents()[:60]], step.parent.parent / "other", vocab_size=400)
    (step / "tokenizer.model").write_bytes(other.read_bytes())


def _set_tensor(name_fn, make):
    def change(t):
        k = name_fn(t)
        t[k] = make(t[k])
    return lambda step: _rewrite_tensors(step, change)


def _torch():
    import torch
    return torch


CORRUPTIONS = {   # name -> (damage the newest step dir, does `train chat` need the damaged part?)
    "weights_truncated": (lambda s: (s / "model.safetensors").write_bytes(
        (s / "model.safetensors").read_bytes()[:-1000]), True),
    "weights_empty": (lambda s: (s / "model.safetensors").write_bytes(b""), True),
    "weights_garbage": (lambda s: (s / "model.safetensors").write_bytes(os.urandom(5000)), True),
    "weights_header_garbage": (lambda s: (s / "model.safetensors").write_bytes(
        (64).to_bytes(8, "little") + b"{not json" + b"x" * 200), True),
    "weights_missing": (lambda s: (s / "model.safetensors").unlink(), True),
    "tensor_missing": (lambda s: _rewrite_tensors(s, lambda t: t.pop(_first_matrix(t))), True),
    "tensor_extra": (lambda s: _rewrite_tensors(s, lambda t: t.update(bogus=_torch().zeros(3))), True),
    "tensor_wrong_shape": (_set_tensor(_first_matrix, lambda x: x[:-1].clone()), True),
    "tensor_wrong_dtype": (_set_tensor(_first_matrix, lambda x: x.to(_torch().int64)), True),
    "tensor_nan": (_set_tensor(_first_matrix, lambda x: x.fill_(float("nan"))), True),
    "state_missing": (lambda s: (s / "state.json").unlink(), True),
    "state_empty": (lambda s: (s / "state.json").write_text(""), True),
    "state_garbage": (lambda s: (s / "state.json").write_bytes(b"\xff\xfe garbage {"), True),
    "meta_missing": (lambda s: _edit_state(s, lambda d: d.pop("meta")), True),
    "model_config_missing": (lambda s: _edit_state(s, lambda d: d["meta"].pop("model_config")), True),
    "model_config_bad": (lambda s: _edit_state(s, lambda d: d["meta"]["model_config"].update(n_embd="wide")), True),
    "model_config_other_depth": (lambda s: _edit_state(
        s, lambda d: d["meta"]["model_config"].update(n_layer=d["meta"]["model_config"]["n_layer"] + 1)), True),
    "tokenizer_other": (_other_tokenizer, True),
    "tokenizer_garbage": (lambda s: (s / "tokenizer.model").write_bytes(os.urandom(3000)), True),
    "tokenizer_missing": (lambda s: (s / "tokenizer.model").unlink(), True),
    "optimizer_garbage": (lambda s: (s / "optimizer.pt").write_bytes(os.urandom(3000)), False),
    "optimizer_truncated": (lambda s: (s / "optimizer.pt").write_bytes(
        (s / "optimizer.pt").read_bytes()[:2000]), False),
    "loader_state_missing": (lambda s: _edit_state(s, lambda d: d["state"].pop("loader")), False),
}


def _snapshot(d: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_checkpoint_chat_exits_3_and_resume_falls_back(tmp_path, shards, good_run, capsys, kind):
    import shutil
    from train import chat, sample

    damage, chat_reads_it = CORRUPTIONS[kind]
    run = tmp_path / "out" / "train" / "pretrain"
    shutil.copytree(good_run, run)
    newest = run / "step-000004"
    damage(newest)
    before = _snapshot(newest)
    rc = chat.main([str(newest), "--prompt", "hello", "--max-new-tokens", "3", "--seed", "0"])
    out = capsys.readouterr()
    if chat_reads_it:
        assert rc == 3, out.err
        assert len(out.err.strip().splitlines()) == 1 and "step-000004" in out.err, out.err
        assert sample.main([str(newest), "--prompt", "hello", "--max-new-tokens", "3"]) == 3
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "step-000004" in err, err
    else:
        assert rc == 0, out.err
    assert _snapshot(newest) == before      # reading never changes a checkpoint

    assert pretrain.main([str(_pipe(tmp_path, shards, max_steps=6)), "--resume"]) == 0
    out = capsys.readouterr()
    assert f"warning: skipping corrupt checkpoint {newest}" in out.err
    assert "resuming at step 2" in out.out
    assert _snapshot(run / "corrupt-step-000004") == before      # kept, byte for byte
    assert sorted(p.name for p in run.iterdir() if p.name.startswith("step-")) == ["step-000004", "step-000006"]


# -- 15 (run time): a diverging loss stops the run without saving over a good checkpoint --------

def test_nan_loss_stops_without_saving(tmp_path, shards, good_run, capsys):
    import shutil

    run = tmp_path / "out" / "train" / "pretrain"
    shutil.copytree(good_run, run)
    before = {p.name: _snapshot(p) for p in run.iterdir() if p.is_dir()}
    huge = {k: 1e30 for k in ("matrix_lr", "embedding_lr", "unembedding_lr")}
    rc = pretrain.main([str(_pipe(tmp_path, shards, **huge))])   # diverges at step 2, before its save
    err = capsys.readouterr().err
    assert rc == 1
    assert "training diverged" in err and "Traceback" not in err
    assert {p.name: _snapshot(p) for p in run.iterdir() if p.is_dir()} == before


# -- 14: hostile chat / sample input ------------------------------------------------------------

LIMIT_AS = """
import resource, runpy, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
sys.argv = ["train"] + sys.argv[1:]
runpy.run_module("train.cli", run_name="__main__")
"""


def _run_limited(args: list[str], cwd: Path, limit_gb: float = 3.0, **kw) -> subprocess.CompletedProcess:
    """`train ...` in a subprocess whose address space is capped: a prompt that allocated in
    proportion to its length squared dies here instead of answering."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    code = LIMIT_AS.format(limit=int(limit_gb * 2**30))
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True,
                          timeout=300, **kw)


def test_chat_megabyte_line_is_cut_with_a_notice_within_bounded_memory(tmp_path, good_run):
    big = ("The quick brown fox jumps over the lazy dog. " * 23000)[:1_000_000] + " Final words here."
    r = _run_limited(["chat", str(good_run), "--max-new-tokens", "4", "--seed", "0"], tmp_path,
                     input=big.encode() + b"\n/quit\n")
    err = r.stderr.decode()
    assert r.returncode == 0, err[-2000:]
    assert "cut from the left" in err and "1,000,018 characters" in err, err
    assert r.stdout.decode().count("assistant> ") == 1


@pytest.mark.parametrize("command", ["chat", "sample"])
def test_long_prompt_argument_is_cut_with_a_notice_within_bounded_memory(tmp_path, good_run, command):
    big = "abc def ghi " * 10_000      # 120 KB: near the most one argument can hold
    r = _run_limited([command, str(good_run), "--prompt", big, "--max-new-tokens", "4", "--seed", "0"], tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 0, err[-2000:]
    assert "cut from the left" in err and "120,000 characters" in err, err


def test_chat_keeps_the_end_of_a_long_message(good_run):
    from train.chat import fit_context
    from train.checkpoint import load_checkpoint
    from train.chat_format import render_prompt

    model, tok, _ = load_checkpoint(good_run)
    notes = []
    text = "words and more words " * 400 + "the very end"
    ids = fit_context([{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}],
                      tok, model.config.seq_len, warn=notes.append)
    assert len(ids) <= model.config.seq_len * 3 // 4 and len(notes) == 1 and "user message" in notes[0]
    assert tok.decode(ids).rstrip().endswith("the very end") or "the very end" in tok.decode(ids)
    short = [{"role": "user", "content": "hi"}]
    assert fit_context(short, tok, model.config.seq_len, warn=notes.append) == render_prompt(short, tok)
    assert len(notes) == 1


def test_chat_non_utf8_stdin_is_replaced_and_the_session_goes_on(tmp_path, good_run):
    r = _run_limited(["chat", str(good_run), "--max-new-tokens", "2", "--seed", "0"], tmp_path,
                     input=b"caf\xe9 \xff\xfe bytes\nhello again\n/quit\n")
    err = r.stderr.decode()
    assert r.returncode == 0 and "Traceback" not in err, err
    assert "not valid UTF-8" in err
    assert r.stdout.decode().count("assistant> ") == 2


def test_chat_non_utf8_prompt_argument(tmp_path, good_run):
    r = _run_limited(["chat", str(good_run), "--prompt", os.fsdecode(b"caf\xe9"), "--max-new-tokens", "2"],
                     tmp_path)
    assert r.returncode == 0 and "not valid UTF-8" in r.stderr.decode(), r.stderr.decode()


BAD_FLAGS = [
    (["--temperature", "nan"], "--temperature"), (["--temperature", "inf"], "--temperature"),
    (["--temperature", "-1"], "--temperature"), (["--top-k", "-3"], "--top-k"),
    (["--max-new-tokens", "0"], "--max-new-tokens"), (["--device", "bogus"], "--device"),
    (["--device", "cuda:99"], "--device"),
]


@pytest.mark.parametrize("command", ["chat", "sample"])
@pytest.mark.parametrize("flags,name", BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_generation_flag_is_one_line_exit_2(good_run, capsys, command, flags, name):
    from train import chat, sample

    main = chat.main if command == "chat" else sample.main
    assert main([str(good_run), "--prompt", "hi", *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0], err


def test_chat_and_sample_missing_checkpoint_exit_3(tmp_path, capsys):
    from train import chat, sample

    assert chat.main([str(tmp_path / "nowhere"), "--prompt", "hi"]) == 3
    assert sample.main([str(tmp_path / "nowhere"), "--prompt", "hi"]) == 3
    assert len(capsys.readouterr().err.strip().splitlines()) == 2
