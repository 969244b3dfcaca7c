"""The model, tokenizer, safetensors and checkpoint modules of train/ (the API SFT/RL build on)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from train_fixtures import write_shards  # noqa: E402

from train import safetensors_io
from train.checkpoint import latest_checkpoint, load_model, load_training_state, save_checkpoint
from train.model import GPT, GPTConfig
from train.tokenizer import Tokenizer


def _model(seed=0, **kw) -> GPT:
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=kw.pop("vocab_size", 300), n_layer=2, n_head=2, n_embd=64, seq_len=64, **kw))
    with torch.no_grad():   # leave the zero-init identity so the tests see real attention
        for p in model.parameters():
            p.normal_(0, 0.1)
    return model


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return write_shards(tmp_path_factory.mktemp("tok"), max_docs=200, vocab_size=512)


def test_from_depth_sizes_and_flops():
    cfg = GPTConfig.from_depth(4, vocab_size=1000, seq_len=256)
    assert (cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.head_dim) == (4, 256, 4, 64)
    big = GPTConfig.from_depth(12, 50304, 1024, head_dim=128)
    assert (big.n_embd, big.n_head) == (768, 6)
    model = GPT(cfg)
    n = model.num_params()
    assert model.estimate_flops_per_token() == 6 * (n - 1000 * 256) + 12 * 4 * 256 * 256
    with pytest.raises(ValueError):
        GPTConfig(n_embd=100, n_head=3)


@pytest.mark.parametrize("mlp,tie", [("relu2", False), ("swiglu", True)])
def test_forward_loss_ignore_and_causality(mlp, tie):
    model = _model(mlp=mlp, tie_embeddings=tie)
    idx = torch.randint(0, 300, (2, 16))
    targets = idx.roll(-1, 1)
    targets[0, :4] = -1
    logits, loss = model(idx, targets)
    assert logits.shape == (2, 16, 300) and logits.dtype == torch.float32
    _, per_tok = model(idx, targets, reduction="none")
    assert per_tok.shape == (2, 16)
    assert torch.all(per_tok[0, :4] == 0) and torch.all(per_tok[0, 4:] > 0)
    assert torch.allclose(loss, per_tok.sum() / (targets != -1).sum(), atol=1e-5)
    # a change at position 10 leaves logits before 10 untouched (causal)
    idx2 = idx.clone()
    idx2[:, 10] = (idx2[:, 10] + 1) % 300
    logits2, _ = model(idx2)
    assert torch.allclose(logits[:, :10], logits2[:, :10], atol=1e-5)
    assert not torch.allclose(logits[:, 10:], logits2[:, 10:])
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_generate_batched_matches_single_and_full_forward():
    model = _model()
    prompts = [[1, 2, 3, 4, 5, 6], [7, 8], [9, 10, 11]]
    batched = model.generate(prompts, 12, temperature=0)
    for p, out in zip(prompts, batched):
        assert model.generate([p], 12, temperature=0)[0] == out
        seq = list(p)
        for _ in range(12):      # no cache, whole sequence each time
            logits, _ = model(torch.tensor([seq]))
            seq.append(int(logits[0, -1].argmax()))
        assert seq[len(p):] == out
    assert list(model.stream(prompts[1], 12, temperature=0)) == batched[1]


def test_generate_sampling_seed_topk_and_stop():
    model = _model()
    prompts = [[1, 2, 3], [4]]
    a = model.generate(prompts, 20, temperature=1.0, top_k=5, seed=7)
    assert a == model.generate(prompts, 20, temperature=1.0, top_k=5, seed=7)
    assert a != model.generate(prompts, 20, temperature=1.0, top_k=5, seed=8)
    single = model.generate(prompts[:1], 20, temperature=1.0, top_k=5, seed=7)[0]
    assert list(model.stream(prompts[0], 20, temperature=1.0, top_k=5, seed=7)) == single
    # top_k=1 is greedy whatever the temperature
    assert model.generate(prompts, 10, temperature=2.0, top_k=1, seed=1) == model.generate(prompts, 10, temperature=0)
    greedy = model.generate(prompts, 20, temperature=0)
    stop = greedy[0][3]
    cut = model.generate(prompts, 20, temperature=0, stop_ids=[stop])
    assert cut[0] == greedy[0][:greedy[0].index(stop) + 1]
    assert cut[1] == (greedy[1][:greedy[1].index(stop) + 1] if stop in greedy[1] else greedy[1])
    streamed = list(model.stream(prompts[0], 20, temperature=0, stop_ids=[stop]))
    assert streamed == cut[0]
    # generation beyond seq_len (RoPE tables grow)
    assert len(model.generate([[1]], 80, temperature=0)[0]) == 80


def test_safetensors_roundtrip_and_interop(tmp_path):
    tensors = {"a": torch.randn(3, 4), "b": torch.arange(10, dtype=torch.int64), "c": torch.randn(2, 2).bfloat16(),
               "d": torch.tensor(3.5), "e": torch.zeros(0, 5), "f": torch.tensor([True, False]),
               "g": torch.arange(6, dtype=torch.int32).reshape(2, 3).to(torch.uint16), "h": torch.randn(5).half()}
    path = tmp_path / "x.safetensors"
    safetensors_io.save_file(tensors, path, metadata={"k": "v"})
    back = safetensors_io.load_file(path)
    assert set(back) == set(tensors)
    for k in tensors:
        assert back[k].dtype == tensors[k].dtype and back[k].shape == tensors[k].shape
        assert torch.equal(back[k], tensors[k])
    assert safetensors_io.load_metadata(path) == {"k": "v"}
    (n,) = __import__("struct").unpack("<Q", path.read_bytes()[:8])
    assert (8 + n) % 8 == 0
    st = pytest.importorskip("safetensors.torch")
    theirs = st.load_file(str(path))
    assert all(torch.equal(theirs[k], tensors[k]) for k in tensors)
    path2 = tmp_path / "y.safetensors"
    st.save_file({k: v for k, v in tensors.items()}, str(path2), metadata={"z": "1"})
    ours = safetensors_io.load_file(path2)
    assert all(torch.equal(ours[k], tensors[k]) for k in tensors)
    assert safetensors_io.load_metadata(path2) == {"z": "1"}


def test_safetensors_bad_file_names_offset(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(ValueError, match="offset 8"):
        safetensors_io.load_file(bad)


def test_tokenizer_from_shards_specials_never_from_text(shards):
    tok = Tokenizer.from_shards(shards)
    assert tok.vocab_size == 512
    assert set(tok.special) == {"bos", "system_start", "system_end", "user_start", "user_end",
                                "assistant_start", "assistant_end"}
    assert tok.bos_id == tok.special["bos"]
    text = "Return the list of files in a directory."
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    tricky = "say <|assistant_end|> then <|bos|>x and <|user_start|>"
    ids = tok.encode(tricky)
    assert not set(ids) & set(tok.special.values())
    assert tok.decode(ids) == tricky
    assert len(tok.token_bytes()) == tok.vocab_size


def test_checkpoint_roundtrip_atomic_and_latest(shards, tmp_path):
    tok = Tokenizer.from_shards(shards)
    model = _model(vocab_size=tok.vocab_size, tie_embeddings=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    idx = torch.randint(0, tok.vocab_size, (2, 8))
    model(idx, idx)[1].backward()
    opt.step()
    run = tmp_path / "run"
    meta = {"train_config": {"lr": 1e-3}, "tokenizer": {"path": str(tok.model_path)}}
    d1 = save_checkpoint(run, 1, model, opt, {"loader": {"pos": [1, 2]}}, meta)
    assert d1.name == "step-000001" and (d1 / "model.safetensors").exists()
    assert {p.name for p in d1.iterdir()} >= {"model.safetensors", "optimizer.pt", "state.json",
                                              "tokenizer.model", "special_tokens.json"}
    # a crash mid-save leaves only a temp dir, which is never taken for a checkpoint
    (run / ".step-000002.tmp-dead").mkdir()
    (run / ".step-000002.tmp-dead" / "model.safetensors").write_bytes(b"half")
    assert latest_checkpoint(run) == d1
    d3 = save_checkpoint(run, 3, model, opt, {"loader": {"pos": [3]}}, meta)
    assert latest_checkpoint(run) == d3 and (run / "latest").read_text().strip() == "step-000003"
    loaded, lmeta = load_model(run, "cpu")
    assert lmeta["step"] == 3 and lmeta["train_config"] == {"lr": 1e-3}
    assert Path(lmeta["tokenizer"]["path"]) == (d3 / "tokenizer.model").resolve()
    assert lmeta["tokenizer"]["special_tokens"] == tok.special
    assert loaded.config == model.config and not loaded.training
    assert loaded.lm_head.weight is loaded.wte.weight   # tie survives
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert Tokenizer.from_checkpoint(run).special == tok.special
    # resume state into fresh objects; SFT-style re-save from loaded meta works
    fresh = _model(seed=5, vocab_size=tok.vocab_size, tie_embeddings=True)
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    state = load_training_state(d1, fresh, fresh_opt)
    assert state == {"loader": {"pos": [1, 2]}, "step": 1}
    assert fresh_opt.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    sft = save_checkpoint(tmp_path / "sft", 5, loaded, None, {}, lmeta)
    assert (sft / "tokenizer.model").exists() and not (sft / "optimizer.pt").exists()


def test_checkpoint_loading_is_weights_only(shards, tmp_path):
    """A pickled object in optimizer.pt is refused, never executed."""
    model = _model()
    opt = torch.optim.AdamW(model.parameters())
    d = save_checkpoint(tmp_path, 1, model, opt, {}, {})
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"optimizers": [Evil()]}, d / "optimizer.pt")
    with pytest.raises(Exception):
        load_training_state(d, model, opt)
    assert not marker.exists()
    assert json.loads((d / "state.json").read_text())["meta"]["model_config"]["n_layer"] == 2
