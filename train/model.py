"""A compact decoder-only GPT, readable top to bottom.

Token embedding -> N x [RMSNorm -> causal self-attention (RoPE, QK-norm) -> residual,
RMSNorm -> MLP (ReLU^2 or SwiGLU) -> residual] -> RMSNorm -> logits (soft-capped).
The norms have no learnable parameters (as nanochat): fewer knobs, same quality at this scale.
Sizes come from one depth dial (``GPTConfig.from_depth``) or are set explicitly.

Architecture presets (``ARCH_PRESETS``, setting ``train.pretrain.arch``): ``gpt`` is the model above
as it trains best here; ``qwen3`` picks the options that compute exactly what transformers'
Qwen3 computes (SwiGLU MLP, no logit soft-cap), so ``train export --format hf`` can write it
(``train/export.py`` maps the weights: unit norm weights, the input norm folded into the
embedding table, RoPE's rotation direction).

Generation keeps a KV cache. Batched prompts of different lengths are left-padded; every
row carries its own positions (RoPE) and a key mask, so a padded row generates exactly what
it would alone.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


#: arch name -> the GPTConfig options it fixes (over the pretrain settings).
ARCH_PRESETS: dict[str, dict] = {
    "gpt": {},
    "qwen3": {"mlp": "swiglu", "logit_softcap": 0.0},
}


@dataclass
class GPTConfig:
    vocab_size: int = 1024
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    seq_len: int = 256
    mlp: str = "relu2"            # "relu2" (x -> relu(x)^2) or "swiglu"
    mlp_ratio: float = 4.0        # hidden width / n_embd for relu2 (swiglu uses 2/3 of it)
    tie_embeddings: bool = False
    rope_base: float = 10000.0
    logit_softcap: float = 15.0   # logits = c * tanh(logits / c); 0 disables
    norm_eps: float = 1e-6
    copy_head: bool = False       # a pointer over the context beside the LM head (CopyHead)
    copy_dim: int = 64            # width of its queries and keys

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        if (self.n_embd // self.n_head) % 2:
            raise ValueError("head dim must be even for RoPE")
        if self.mlp not in ("relu2", "swiglu"):
            raise ValueError(f"mlp must be 'relu2' or 'swiglu', not {self.mlp!r}")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @classmethod
    def from_depth(cls, depth: int, vocab_size: int, seq_len: int, head_dim: int = 64, **kw) -> "GPTConfig":
        """nanochat's dial: width 64 * depth, heads of ``head_dim`` (64 or 128)."""
        n_embd = 64 * depth
        n_head = max(1, n_embd // head_dim)
        return cls(vocab_size=vocab_size, n_layer=depth, n_head=n_head, n_embd=n_embd, seq_len=seq_len, **kw)

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_dict(self) -> dict:
        return asdict(self)


# Eager speed (the CPU trainer runs without compile): autograd records every element-wise op of
# the norms, RoPE, ReLU^2 and the logit cap as its own kernel, each with its own full-size
# temporary. The Functions below compute the same maths with a hand-written backward of fewer
# passes. They serve eager float32 training only; under torch.compile (which fuses the plain
# ops itself), in other dtypes or without grad the plain formulas run.


def _fast(x: torch.Tensor) -> bool:
    return x.dtype == torch.float32 and not torch.compiler.is_compiling()


def _needs_grad(x: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and x.requires_grad


class _RMSNorm(torch.autograd.Function):
    """y = x * r, r = 1 / sqrt(mean(x^2) + eps) in two passes (F.rms_norm's CPU forward takes
    four); backward dx = r * (g - y * mean(g * y))."""

    @staticmethod
    def forward(ctx, x, eps):
        r = torch.linalg.vector_norm(x, dim=-1, keepdim=True).square_().div_(x.size(-1)).add_(eps).rsqrt_()
        y = x * r
        ctx.save_for_backward(y, r)
        return y

    @staticmethod
    def backward(ctx, g):
        y, r = ctx.saved_tensors
        m = torch.linalg.vecdot(g, y, dim=-1).unsqueeze(-1).div_(y.size(-1))
        return torch.addcmul(g, y, m, value=-1).mul_(r), None


def rms_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    if _fast(x) and _needs_grad(x):
        return _RMSNorm.apply(x, eps)
    return F.rms_norm(x, (x.size(-1),), eps=eps)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """[x1 cos + x2 sin, x2 cos - x1 sin] into one new tensor, no temporaries."""
    d = x.size(-1) // 2
    x1, x2 = x[..., :d], x[..., d:]
    out = torch.empty_like(x)
    o1, o2 = out[..., :d], out[..., d:]
    torch.mul(x1, cos, out=o1).addcmul_(x2, sin)
    torch.mul(x2, cos, out=o2).addcmul_(x1, sin, value=-1)
    return out


class _Rope(torch.autograd.Function):
    """A rotation: its backward is the rotation by the opposite angle."""

    @staticmethod
    def forward(ctx, x, cos, sin):
        ctx.save_for_backward(cos, sin)
        return _rotate(x, cos, sin)

    @staticmethod
    def backward(ctx, g):
        cos, sin = ctx.saved_tensors
        return _rotate(g, cos, -sin), None, None


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (first half, second half) of the head dim. x: (B, T, H, D); cos/sin: (B|1, T, 1, D/2)."""
    if _fast(x):
        return _Rope.apply(x, cos, sin) if _needs_grad(x) else _rotate(x, cos, sin)
    d = x.size(-1) // 2
    x1, x2 = x[..., :d], x[..., d:]
    return torch.cat([x1 * cos + x2 * sin, x2 * cos - x1 * sin], dim=-1).type_as(x)


class _ReluSquared(torch.autograd.Function):
    """relu(u)^2 keeping 2 * relu(u) for the backward (one multiply instead of three ops)."""

    @staticmethod
    def forward(ctx, u):
        h = F.relu(u)
        y = h.square()
        ctx.save_for_backward(h.mul_(2))
        return y

    @staticmethod
    def backward(ctx, g):
        (h2,) = ctx.saved_tensors
        return g * h2


def relu_squared(u: torch.Tensor) -> torch.Tensor:
    if _fast(u) and _needs_grad(u):
        return _ReluSquared.apply(u)
    return F.relu(u).square()


class _SoftcapCrossEntropy(torch.autograd.Function):
    """Cross-entropy of c * tanh(x / c) in one node, for rows x of raw logits (N, V). The cap is
    applied in place (tanh(y) = 2 sigmoid(2y) - 1: torch's CPU tanh is ~6x slower than its
    sigmoid), the log-sum-exp and the gradient (softmax - onehot) * (1 - tanh^2) are made in
    cache-sized row chunks: one new (N, V) tensor per step (the gradient) instead of five,
    whose page faults cost more than their arithmetic on CPU. Returns (loss, capped logits =
    x itself); the logits carry no gradient."""

    @staticmethod
    def _chunks(n: int, v: int):
        step = max(1, (1 << 18) // v)
        return [slice(i, min(n, i + step)) for i in range(0, n, step)]

    @staticmethod
    def forward(ctx, x, targets, cap, reduction):
        ctx.mark_dirty(x)
        lse = x.new_empty(x.size(0))
        for rows in _SoftcapCrossEntropy._chunks(*x.shape):
            z = x[rows].mul_(2.0 / cap).sigmoid_().mul_(2.0 * cap).sub_(cap)
            lsm = torch.log_softmax(z, -1)         # one fused kernel: 2x faster than logsumexp
            torch.sub(z[:, 0], lsm[:, 0], out=lse[rows])
        valid = targets != -1
        nll = (lse - x.gather(1, targets.clamp(min=0)[:, None]).squeeze(1)) * valid
        loss = nll.sum() / valid.sum() if reduction == "mean" else nll
        ctx.save_for_backward(x, lse, targets)
        ctx.cap, ctx.reduction = cap, reduction
        ctx.mark_non_differentiable(x)
        return loss, x

    @staticmethod
    def backward(ctx, g, _):
        z, lse, targets = ctx.saved_tensors
        valid = targets != -1
        w = valid.to(z.dtype) * (g / valid.sum() if ctx.reduction == "mean" else g)
        hit = valid.to(z.dtype).neg()[:, None]
        idx = targets.clamp(min=0)[:, None]
        grad = torch.empty_like(z)
        chunks = _SoftcapCrossEntropy._chunks(*z.shape)
        square = z.new_empty((chunks[0].stop - chunks[0].start, z.size(1)))
        for rows in chunks:
            gc, zc = grad[rows], z[rows]
            torch.sub(zc, lse[rows, None], out=gc).exp_()                # softmax
            gc.scatter_add_(1, idx[rows], hit[rows])                      # - onehot
            sq = torch.mul(zc, zc, out=square[:zc.size(0)])
            gc.addcmul_(gc, sq, value=-1.0 / ctx.cap ** 2).mul_(w[rows, None])   # * (1 - tanh^2) * g
        return grad, None, None, None


class KVCache:
    """Keys and values of every layer for a batch being generated; all rows share one fill index
    (prompts are left-padded), ``valid`` marks which slots hold real tokens. With a copy head it
    also keeps each slot's token and copy key."""

    def __init__(self, n_layer: int, batch: int, n_head: int, max_len: int, head_dim: int,
                 device, dtype, copy_dim: int = 0) -> None:
        shape = (batch, n_head, max_len, head_dim)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layer)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layer)]
        self.valid = torch.zeros(batch, max_len, dtype=torch.bool, device=device)
        self.ids = torch.zeros(batch, max_len, dtype=torch.long, device=device) if copy_dim else None
        self.copy_k = torch.zeros(batch, max_len, copy_dim, device=device) if copy_dim else None
        self.pos = 0          # slots filled so far
        self.max_len = max_len


class CopyHead(nn.Module):
    """A pointer over the context beside the LM head (the pointer-generator of See et al., 2017):
    the next token is either generated or copied, i.e. the token that followed an earlier
    position j the current position i points at:

        p(v | i) = a_i0 * p_lm(v | i) + sum_{j < i} a_ij [t_{j+1} = v]

    A small model learns to copy spans of its context (a name from the question into a search
    query, the answer out of a search result) only after many steps through attention alone; a
    pointer makes copying one learned score away. Queries and keys share one projection of the
    current and of the previous token's embedding, so from initialisation a position points at
    earlier occurrences of its own bigram (an induction head for free); projections of the final
    hidden state add the context (which span to start copying), and a key also carries the token
    it would copy (t_{j+1}), so the query can prefer a name to a full stop (where to stop).
    ``a_i`` is a softmax over the earlier positions and a null slot ``a_i0`` (its score read
    from the hidden state) whose share goes to the LM head: a strong match copies, and the first
    position, with nothing to point at, generates."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        d, self.dim = cfg.n_embd, cfg.copy_dim
        self.tok = nn.Linear(d, self.dim, bias=False)    # e_i (queries and keys alike)
        self.prev = nn.Linear(d, self.dim, bias=False)   # e_{i-1}
        self.q = nn.Linear(d, self.dim, bias=False)      # the hidden state, query side
        self.k = nn.Linear(d, self.dim, bias=False)      # the hidden state, key side
        self.follower = nn.Linear(d, self.dim, bias=False)   # e_{j+1}, the token a key would copy
        self.null = nn.Linear(d, 1)                      # the null slot's score: generate

    @torch.no_grad()
    def init_weights(self) -> None:
        d = self.tok.in_features
        nn.init.normal_(self.tok.weight, std=1.0 / math.sqrt(d))
        nn.init.normal_(self.prev.weight, std=1.0 / math.sqrt(d))
        for lin in (self.q, self.k, self.follower, self.null):
            nn.init.zeros_(lin.weight)
        nn.init.zeros_(self.null.bias)

    def queries_keys(self, e: torch.Tensor, e_prev: torch.Tensor, h: torch.Tensor):
        """(B, T, copy_dim) queries and keys, the keys without their follower term (added by
        :meth:`with_followers`), from the normed embeddings of each token and of its
        predecessor (zeros where there is none) and the normed final hidden states."""
        u = self.tok(e) + self.prev(e_prev)
        return (u + self.q(h)).float(), (u + self.k(h)).float()

    def with_followers(self, k: torch.Tensor, e_next: torch.Tensor) -> torch.Tensor:
        return k + self.follower(e_next).float()

    def attend(self, q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor, h: torch.Tensor):
        """(log weight of the LM head (B, Tq), copy weights (B, Tq, Tk)): attention over the
        allowed earlier positions and the null slot."""
        s = (q @ k.transpose(-1, -2)) / math.sqrt(self.dim)
        s = s.masked_fill(~allowed, float("-inf"))
        a = torch.log_softmax(torch.cat([s, self.null(h).float()], -1), -1)
        return a[..., -1], a[..., :-1].exp()

    @staticmethod
    def mix(log_gen: torch.Tensor, lm_logits: torch.Tensor, copied: torch.Tensor) -> torch.Tensor:
        """log p(v) = log(a_0 p_lm(v) + copy mass on v), over the vocabulary (last dim)."""
        lm = torch.log_softmax(lm_logits, -1)
        return torch.logaddexp(log_gen[..., None] + lm, copied.clamp_min(1e-30).log())


def _previous_embeddings(e: torch.Tensor) -> torch.Tensor:
    """e shifted one position right along time, zeros at the first position."""
    return torch.cat([torch.zeros_like(e[:, :1]), e[:, :-1]], 1)


def _next_embeddings(e: torch.Tensor) -> torch.Tensor:
    """e shifted one position left along time, zeros at the last position."""
    return torch.cat([e[:, 1:], torch.zeros_like(e[:, :1])], 1)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head, self.head_dim, self.eps = cfg.n_head, cfg.head_dim, cfg.norm_eps
        self.c_q = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)
        self.c_k = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)
        self.c_v = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x, cos, sin, cache: KVCache | None = None, layer: int = 0, mask=None):
        B, T, C = x.shape
        # one matmul for q, k and v (three separate weights: the same parameters, names and
        # Muon updates as three projections), then QK-norm and RoPE on q and k at once
        w = torch.cat([self.c_q.weight, self.c_k.weight, self.c_v.weight])
        qkv = F.linear(x, w).view(B, T, 3, self.n_head, self.head_dim)
        qk = apply_rope(rms_norm(qkv[:, :, :2], self.eps), cos[:, :, None], sin[:, :, None])
        q, k, v = qk[:, :, 0], qk[:, :, 1], qkv[:, :, 2]
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, D)
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            start, end = cache.pos, cache.pos + T
            cache.k[layer][:, :, start:end] = k
            cache.v[layer][:, :, start:end] = v
            y = F.scaled_dot_product_attention(q, cache.k[layer][:, :, :end], cache.v[layer][:, :, :end],
                                               attn_mask=mask)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.kind = cfg.mlp
        if cfg.mlp == "relu2":
            hidden = int(cfg.mlp_ratio * cfg.n_embd)
            self.c_fc = nn.Linear(cfg.n_embd, hidden, bias=False)
        else:  # SwiGLU keeps the parameter count of the 4x MLP: 2/3 of the width, two input matrices
            hidden = int(cfg.mlp_ratio * cfg.n_embd * 2 / 3)
            hidden = 64 * math.ceil(hidden / 64)
            self.c_fc = nn.Linear(cfg.n_embd, hidden, bias=False)
            self.c_gate = nn.Linear(cfg.n_embd, hidden, bias=False)
        self.c_proj = nn.Linear(hidden, cfg.n_embd, bias=False)

    def forward(self, x):
        if self.kind == "relu2":
            h = relu_squared(self.c_fc(x))
        else:
            h = F.silu(self.c_gate(x)) * self.c_fc(x)
        return self.c_proj(h)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.eps = cfg.norm_eps
        self.attn = CausalSelfAttention(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, cache=None, layer=0, mask=None):
        x = x + self.attn(rms_norm(x, self.eps), cos, sin, cache, layer, mask)
        x = x + self.mlp(rms_norm(x, self.eps))
        return x


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        self.copy = CopyHead(config) if config.copy_head else None
        self._rope_len = 0
        self._grow_rope(config.seq_len)
        self.init_weights()

    # -- set-up -------------------------------------------------------------------------------
    def _grow_rope(self, length: int) -> None:
        """cos/sin tables for positions [0, length); grown on demand (generation past seq_len)."""
        length = max(length, 2 * self._rope_len)
        d = self.config.head_dim
        device = self.wte.weight.device
        inv_freq = 1.0 / (self.config.rope_base ** (torch.arange(0, d, 2, dtype=torch.float32, device=device) / d))
        freqs = torch.outer(torch.arange(length, dtype=torch.float32, device=device), inv_freq)
        self.register_buffer("rope_cos", freqs.cos(), persistent=False)
        self.register_buffer("rope_sin", freqs.sin(), persistent=False)
        self._rope_len = length

    @torch.no_grad()
    def init_weights(self) -> None:
        """Zero output projections (each block starts as the identity), small lm_head (the first
        loss is ~ln(vocab)), uniform fan-in scaled inputs."""
        d = self.config.n_embd
        bound = math.sqrt(3.0) / math.sqrt(d)
        for block in self.blocks:
            for lin in (block.attn.c_q, block.attn.c_k, block.attn.c_v, block.mlp.c_fc):
                nn.init.uniform_(lin.weight, -bound, bound)
            if hasattr(block.mlp, "c_gate"):
                nn.init.uniform_(block.mlp.c_gate.weight, -bound, bound)
            nn.init.zeros_(block.attn.c_proj.weight)
            nn.init.zeros_(block.mlp.c_proj.weight)
        if self.config.tie_embeddings:
            nn.init.normal_(self.wte.weight, std=1.0 / math.sqrt(d))
        else:
            nn.init.normal_(self.wte.weight, std=1.0)
            nn.init.normal_(self.lm_head.weight, std=0.001)
        if self.copy is not None:
            self.copy.init_weights()

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def estimate_flops_per_token(self) -> float:
        """Training FLOPs per token (forward + backward): 6 per weight used in a matmul, plus
        attention scores at full context (as nanochat / the PaLM appendix count them)."""
        cfg = self.config
        n = self.num_params()
        if not cfg.tie_embeddings:
            n -= self.wte.weight.numel()   # an embedding lookup is no matmul
        return 6.0 * n + 12.0 * cfg.n_layer * cfg.n_head * cfg.head_dim * cfg.seq_len

    # -- training forward ---------------------------------------------------------------------
    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._cap(self.lm_head(rms_norm(x, self.config.norm_eps)).float())

    def _cap(self, logits: torch.Tensor) -> torch.Tensor:
        c = self.config.logit_softcap
        if c:
            logits = c * torch.tanh(logits / c)
        return logits

    def _logits_and_loss(self, x: torch.Tensor, targets: torch.Tensor, reduction: str):
        raw = self.lm_head(rms_norm(x, self.config.norm_eps).view(-1, x.size(-1)))    # (B*T, V), not a view
        c = self.config.logit_softcap
        if c and _fast(raw) and _needs_grad(raw):   # float32 (not bf16 autocast), eager, training
            loss, logits = _SoftcapCrossEntropy.apply(raw, targets.reshape(-1), float(c), reduction)
        else:
            logits = self._cap(raw.float())
            loss = F.cross_entropy(logits, targets.reshape(-1), ignore_index=-1, reduction=reduction)
        return logits.view(*x.shape[:-1], -1), loss

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, reduction: str = "mean"):
        """idx, targets: (B, T) int64. Returns (logits (B, T, V) float32, loss or None).
        targets == -1 are ignored; ``reduction="none"`` gives (B, T) with 0 where ignored. In eager
        float32 training the logits returned beside a loss carry no gradient (the loss does).
        With the copy head: log-probabilities instead of logits, and none beside a loss."""
        B, T = idx.shape
        if T > self._rope_len:
            self._grow_rope(T)
        cos = self.rope_cos[None, :T, None, :]
        sin = self.rope_sin[None, :T, None, :]
        x = e = rms_norm(self.wte(idx), self.config.norm_eps)
        for block in self.blocks:
            x = block(x, cos, sin)
        if self.copy is not None:
            return self._copy_forward(idx, e, x, targets, reduction)
        if targets is None:
            return self._logits(x), None
        logits, loss = self._logits_and_loss(x, targets, reduction)
        if reduction == "none":
            loss = loss.view(B, T)
        return logits, loss

    def _copy_forward(self, idx, e, x, targets, reduction):
        """forward() with the copy head: without targets the "logits" are the mixture's
        log-probabilities (B, T, V); with targets, the mixture's loss and no logits (the LM
        head's alone are not the model's distribution, and nothing reads them beside a loss)."""
        B, T = idx.shape
        h = rms_norm(x, self.config.norm_eps)
        q, k = self.copy.queries_keys(e, _previous_embeddings(e), h)
        k = self.copy.with_followers(k, _next_embeddings(e))
        earlier = torch.ones(T, T, dtype=torch.bool, device=idx.device).tril(-1)   # j < i
        log_gen, w = self.copy.attend(q, k, earlier, h)                              # w: (B, T, T)
        follower = torch.cat([idx[:, 1:], idx.new_full((B, 1), -2)], 1)             # t_{j+1}
        if targets is None:
            p = torch.zeros(B, T, self.config.vocab_size, device=idx.device)
            p.scatter_add_(2, follower.clamp(min=0)[:, None, :].expand(B, T, T), w)
            return self.copy.mix(log_gen, self._logits(x), p), None
        _, nll = self._logits_and_loss(x, targets, "none")
        copied = (w * (follower[:, None, :] == targets[:, :, None])).sum(-1)
        log_p = torch.logaddexp(log_gen - nll.view(B, T), copied.clamp_min(1e-30).log())
        valid = targets != -1
        loss = -log_p * valid
        if reduction == "mean":
            loss = loss.sum() / valid.sum()
        return None, loss

    # -- generation ---------------------------------------------------------------------------
    def _step(self, idx: torch.Tensor, positions: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Run new tokens idx (B, t) at per-row ``positions`` (B, t) through the cache; returns
        the logits of the last new token (B, V)."""
        B, t = idx.shape
        need = int(positions.max()) + 1
        if need > self._rope_len:
            self._grow_rope(need)
        cos = self.rope_cos[positions][:, :, None, :]
        sin = self.rope_sin[positions][:, :, None, :]
        start, end = cache.pos, cache.pos + t
        # query slot start+i sees valid keys at slots <= start+i, and always itself (a pad
        # query attending to nothing would give NaN, which would leak through 0 * NaN)
        slots = torch.arange(end, device=idx.device)
        qslots = torch.arange(start, end, device=idx.device)
        causal = slots[None, :] <= qslots[:, None]                        # (t, end)
        mask = causal[None] & cache.valid[:, None, :end]                  # (B, t, end)
        mask = mask | (slots[None, :] == qslots[:, None])[None]
        mask = mask[:, None]                                              # (B, 1, t, end)
        x = e = rms_norm(self.wte(idx), self.config.norm_eps)
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, cache, i, mask)
        cache.pos = end
        if self.copy is not None:
            return self._copy_step(idx, e, x, start, end, cache)
        return self._logits(x[:, -1])

    def _copy_step(self, idx, e, x, start: int, end: int, cache: KVCache) -> torch.Tensor:
        """The mixture's log-probabilities (B, V) for the last new token: the new tokens' copy
        keys go into the cache, the last one's query points at every earlier valid slot."""
        B = idx.size(0)
        cache.ids[:, start:end] = idx
        before = cache.valid[:, max(start - 1, 0):end - 1]
        prev_ids = cache.ids[:, max(start - 1, 0):end - 1]
        if start == 0:       # the first slot has no predecessor
            before = torch.cat([before.new_zeros(B, 1), before], 1)
            prev_ids = torch.cat([prev_ids.new_zeros(B, 1), prev_ids], 1)
        e_prev = rms_norm(self.wte(prev_ids), self.config.norm_eps) * before[..., None]
        h = rms_norm(x, self.config.norm_eps)
        q, k = self.copy.queries_keys(e, e_prev, h)
        cache.copy_k[:, start:end] = self.copy.with_followers(k, _next_embeddings(e))
        if start > 0:    # the slot before these new tokens now knows the token that follows it
            cache.copy_k[:, start - 1] = self.copy.with_followers(cache.copy_k[:, start - 1], e[:, 0])
        allowed = cache.valid[:, :end - 1][:, None, :]                              # slots j < i
        log_gen, w = self.copy.attend(q[:, -1:], cache.copy_k[:, :end - 1], allowed, h[:, -1:])
        p = torch.zeros(B, self.config.vocab_size, device=idx.device)
        p.scatter_add_(1, cache.ids[:, 1:end], w[:, 0])                              # t_{j+1}
        return self.copy.mix(log_gen[:, 0], self._logits(x[:, -1]), p)

    @staticmethod
    def _sample(logits: torch.Tensor, temperature: float, top_k: int | None, generator) -> torch.Tensor:
        if not temperature or temperature <= 0:
            return logits.argmax(dim=-1)
        logits = logits / temperature
        if top_k is not None and top_k > 0 and top_k < logits.size(-1):
            kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)

    @torch.no_grad()
    def _generate_steps(self, prompts: Sequence[Sequence[int]], max_new_tokens: int, temperature: float,
                        top_k: int | None, stop_ids, seed: int | None) -> Iterator[torch.Tensor]:
        """Yields (B,) next tokens per step until every row has stopped or the budget is spent."""
        if not prompts or any(len(p) == 0 for p in prompts):
            raise ValueError("every prompt needs at least one token (start it with <|bos|>)")
        device = self.wte.weight.device
        B, P = len(prompts), max(len(p) for p in prompts)
        pad = torch.tensor([P - len(p) for p in prompts], device=device)
        idx = torch.zeros(B, P, dtype=torch.long, device=device)
        for r, p in enumerate(prompts):
            idx[r, P - len(p):] = torch.tensor(list(p), dtype=torch.long, device=device)
        positions = (torch.arange(P, device=device)[None, :] - pad[:, None]).clamp(min=0)
        cache = KVCache(self.config.n_layer, B, self.config.n_head, P + max_new_tokens, self.config.head_dim,
                        device, self.wte.weight.dtype, self.config.copy_dim if self.copy is not None else 0)
        cache.valid[:, :P] = torch.arange(P, device=device)[None, :] >= pad[:, None]
        generator = None
        if seed is not None:
            generator = torch.Generator(device=device)
            generator.manual_seed(int(seed))
        stop = torch.tensor(sorted(set(int(s) for s in stop_ids)) or [-1], device=device)
        done = torch.zeros(B, dtype=torch.bool, device=device)
        logits = self._step(idx, positions, cache)
        last_pos = positions[:, -1]
        for _ in range(max_new_tokens):
            nxt = self._sample(logits, temperature, top_k, generator)
            yield nxt
            done = done | torch.isin(nxt, stop)
            if bool(done.all()):
                return
            cache.valid[:, cache.pos] = True
            last_pos = last_pos + 1
            logits = self._step(nxt[:, None], last_pos[:, None], cache)

    def generate(self, prompts: list[list[int]], max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, stop_ids: Sequence[int] = (), seed: int | None = None) -> list[list[int]]:
        """New tokens for each prompt, each cut after its first stop id (the stop id is kept)."""
        was_training = self.training
        self.eval()
        try:
            out: list[list[int]] = [[] for _ in prompts]
            finished = [False] * len(prompts)
            stops = set(int(s) for s in stop_ids)
            for nxt in self._generate_steps(prompts, max_new_tokens, temperature, top_k, stop_ids, seed):
                for r, tok in enumerate(nxt.tolist()):
                    if not finished[r]:
                        out[r].append(tok)
                        finished[r] = tok in stops
            return out
        finally:
            self.train(was_training)

    def stream(self, prompt: list[int], max_new_tokens: int = 256, temperature: float = 1.0,
               top_k: int | None = None, stop_ids: Sequence[int] = (), seed: int | None = None) -> Iterator[int]:
        """Yields the new token ids one by one (the stop id, if reached, is yielded last)."""
        was_training = self.training
        self.eval()
        try:
            for nxt in self._generate_steps([prompt], max_new_tokens, temperature, top_k, stop_ids, seed):
                yield int(nxt[0])
        finally:
            self.train(was_training)
