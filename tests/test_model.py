"""The model, tokenizer and checkpoint modules of train/ (the API SFT/RL build on)."""
from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from train_fixtures import write_shards  # noqa: E402

from train.checkpoint import _model_tensors, latest_checkpoint, load_model, load_training_state, save_checkpoint
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


@pytest.mark.parametrize("mlp,tie,copy", [("relu2", False, False), ("swiglu", True, False), ("relu2", False, True)])
def test_forward_loss_ignore_and_causality(mlp, tie, copy):
    model = _model(mlp=mlp, tie_embeddings=tie, copy_head=copy)
    idx = torch.randint(0, 300, (2, 16))
    targets = idx.roll(-1, 1)
    targets[0, :4] = -1
    _, loss = model(idx, targets)
    logits, _ = model(idx)
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


@pytest.mark.parametrize("copy", [False, True])
def test_generate_batched_matches_single_and_full_forward(copy):
    model = _model(copy_head=copy)
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


def test_copy_head_is_a_distribution_and_its_loss_is_its_log_probability():
    model = _model(copy_head=True)
    idx = torch.randint(0, 300, (2, 24))
    idx[:, 12:] = idx[:, :12]                    # the second half repeats the first
    log_p, _ = model(idx)
    assert torch.allclose(log_p.exp().sum(-1), torch.ones(2, 24), atol=1e-5)
    targets = idx.roll(-1, 1)
    targets[:, -1] = -1
    _, nll = model(idx, targets, reduction="none")
    expected = -log_p.gather(2, targets.clamp(min=0)[..., None]).squeeze(-1) * (targets != -1)
    assert torch.allclose(nll, expected, atol=1e-4)
    # the first position has nothing to point at: its distribution is the LM head's alone
    plain = torch.log_softmax(model._logits(_hidden(model, idx)[:, :1]), -1)
    assert torch.allclose(log_p[:, :1], plain, atol=1e-5)


def _hidden(model, idx):
    T = idx.size(1)
    x = torch.nn.functional.rms_norm(model.wte(idx), (model.config.n_embd,), eps=model.config.norm_eps)
    for block in model.blocks:
        x = block(x, model.rope_cos[None, :T, None, :], model.rope_sin[None, :T, None, :])
    return x


def test_copy_head_learns_to_repeat_unseen_sequences_sooner():
    """Rows of random tokens whose second half repeats the first: after the same 60 steps
    the model with the copy head predicts the repeated half far better than the one without
    (attention alone has not found the induction pattern yet)."""
    def second_half_loss(copy: bool) -> float:
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=256, n_layer=2, n_head=2, n_embd=64, seq_len=64, copy_head=copy))
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(1)
        for step in range(61):
            half = torch.randint(0, 256, (16, 16), generator=gen)
            idx = torch.cat([half, half], 1)
            targets = idx.roll(-1, 1)
            targets[:, :16] = -1                     # score the predictable half only
            targets[:, -1] = -1
            _, loss = model(idx, targets)
            if step == 60:                           # a fresh batch, not trained on
                return loss.item()
            opt.zero_grad()
            loss.backward()
            opt.step()

    with_copy, without = second_half_loss(True), second_half_loss(False)
    assert with_copy < 1.0 < 4.0 < without, (with_copy, without)


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


# The writer train/safetensors_io.py had before checkpoints went through the safetensors
# package (git show 1c494fb:train/safetensors_io.py), kept to make checkpoints in the old format.
_OLD_DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
               torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
               torch.uint8: "U8", torch.bool: "BOOL"}


def _old_save_file(tensors: dict, path: Path, metadata: dict) -> None:
    header = {"__metadata__": dict(metadata)}
    chunks, offset = [], 0
    for name in sorted(tensors, key=lambda n: (-tensors[n].element_size(), n)):
        t = tensors[name].detach().to("cpu").contiguous().reshape(-1)
        data = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _OLD_DTYPES[t.dtype], "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(chunks))


def test_checkpoint_written_by_the_old_writer_still_loads(shards, tmp_path):
    tok = Tokenizer.from_shards(shards)
    model = _model(vocab_size=tok.vocab_size, tie_embeddings=True)
    step = save_checkpoint(tmp_path / "run", 1, model, None, {}, {"tokenizer": {"path": str(tok.model_path)}})
    tensors, aliases = _model_tensors(model)
    assert aliases      # the tied head is stored once, named in the metadata
    _old_save_file(tensors, step / "model.safetensors", {"format": "pt", "aliases": json.dumps(aliases)})
    loaded, _ = load_model(step, "cpu")
    want, got = model.state_dict(), loaded.state_dict()
    assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
    assert loaded.lm_head.weight is loaded.wte.weight


def test_checkpoint_weights_are_a_standard_safetensors_file(tmp_path):
    from safetensors.torch import load_file

    model = _model(tie_embeddings=True)
    step = save_checkpoint(tmp_path / "run", 1, model, None, {}, {})
    theirs = load_file(str(step / "model.safetensors"))
    tensors, _ = _model_tensors(model)
    assert set(theirs) == set(tensors) and all(torch.equal(theirs[k], tensors[k]) for k in tensors)


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


def _graph_kinds(loss: torch.Tensor) -> list[str]:
    seen, stack = set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and node not in seen:
            seen.add(node)
            stack.extend(n for n, _ in node.next_functions)
    return [type(n).__name__ for n in seen]


def test_eager_training_graph_has_no_element_wise_chains():
    """Speed on CPU without compile: each norm, RoPE, ReLU^2 and the capped cross-entropy is one
    autograd node, not a chain of pow/mean/rsqrt/mul/tanh/div nodes (each a full-size pass)."""
    model = _model()
    idx = torch.randint(0, 300, (2, 16))
    _, loss = model(idx, idx.roll(-1, 1))
    elementwise = ("Mul", "Pow", "Mean", "Rsqrt", "Div", "Sub", "Tanh", "Relu", "LogSoftmax", "NllLoss")
    chains = [k for k in _graph_kinds(loss) if k.startswith(elementwise)]
    assert chains == []


@pytest.mark.parametrize("mlp,reduction", [("relu2", "mean"), ("relu2", "none"), ("swiglu", "mean")])
def test_eager_fast_path_matches_the_plain_formulas(monkeypatch, mlp, reduction):
    """Loss, logits and every gradient of the hand-written backward equal autograd's through
    the plain ops (the float64 run is the reference; both float32 runs sit next to it)."""
    import train.model as tm
    idx = torch.randint(0, 300, (3, 24))
    targets = idx.roll(-1, 1)
    targets[1, :5] = -1
    targets[2, -3:] = -1

    def run(dtype, fast):
        model = _model(mlp=mlp).to(dtype)
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(tm, "_fast", lambda x: False)
            logits, loss = model(idx, targets, reduction=reduction)
            weights = torch.linspace(0.5, 1.5, loss.numel(), dtype=dtype).view(loss.shape)
            (loss * weights).sum().backward()
        return [logits.detach(), loss.detach()] + [p.grad for p in model.parameters()]

    ref = run(torch.float64, False)
    for fast in (True, False):
        for got, want in zip(run(torch.float32, fast), ref):
            assert torch.allclose(got.double(), want.double(), rtol=1e-4, atol=1e-5), fast
    if reduction == "none":
        assert torch.all(run(torch.float32, True)[1][1, :5] == 0)


def test_bf16_autocast_keeps_float32_logits_and_the_plain_loss():
    """Under autocast (the GPU trainer's bf16) the output head runs in bf16: the loss must come
    from float32 logits as before, not from the in-place float32-only path."""
    model = _model()
    idx = torch.randint(0, 300, (2, 16))
    _, want = model(idx, idx.roll(-1, 1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, loss = model(idx, idx.roll(-1, 1))
    assert logits.dtype == torch.float32 and loss.dtype == torch.float32
    assert abs(loss.item() - want.item()) < 0.05
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
@pytest.mark.parametrize("copy,tie", [(False, False), (True, False), (True, True)])
def test_pretrain_optimizers_update_every_parameter_once(optimizer, copy, tie):
    """Every weight (the copy head's too) is in exactly one optimizer group: a parameter left
    out would silently stay at its initial value."""
    from train.optim import build_optimizers
    model = _model(copy_head=copy, tie_embeddings=tie)
    p = {"optimizer": optimizer, "matrix_lr": 1e-3, "embedding_lr": 1e-2, "unembedding_lr": 1e-3, "muon_lr": 0.02}
    grouped = [id(q) for opt in build_optimizers(model, p, "cpu") for g in opt.param_groups for q in g["params"]]
    assert sorted(grouped) == sorted(id(q) for q in model.parameters())
