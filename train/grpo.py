"""The arithmetic of GRPO-style policy gradients, free of models and sampling so it can be
checked by hand.

For a prompt we sample a group of k completions and reward each. A completion's advantage
is its reward minus the group mean (optionally divided by the group's std, as in GRPO;
off by default, following Dr. GRPO, since it over-weights nearly-solved groups). A group
whose rewards are all equal has zero advantage everywhere: it carries no signal, and we
count it instead of pretending it helped.

The loss per completion token t is  -min(r_t A, clip(r_t, 1-eps, 1+eps) A) + beta * KL_t
with r_t = exp(logp_t - old_logp_t) (r = 1 with the right gradient when there is no old
policy, i.e. one update per batch) and KL_t the k3 estimator
exp(ref_t - logp_t) - (ref_t - logp_t) - 1 against the starting model. ``token``
normalisation averages over every completion token of the batch (long completions weigh
what their tokens weigh); ``sequence`` averages per completion first, then over completions.
"""
from __future__ import annotations

import math

import torch


def group_advantages(rewards: torch.Tensor, scale_by_std: bool = False, eps: float = 1e-6) -> torch.Tensor:
    """rewards (G, k) -> advantages (G, k): reward - group mean [/ (group std + eps)].
    The std is the population std (over the k samples, unbiased=False)."""
    if rewards.dim() != 2:
        raise ValueError(f"rewards must be (groups, k), got shape {tuple(rewards.shape)}")
    rewards = rewards.float()
    adv = rewards - rewards.mean(dim=1, keepdim=True)
    if scale_by_std:
        adv = adv / (rewards.std(dim=1, unbiased=False, keepdim=True) + eps)
    return adv


def zero_signal_groups(rewards: torch.Tensor, atol: float = 1e-9) -> torch.Tensor:
    """(G,) bool: groups whose rewards are all equal (zero advantage for every sample)."""
    return (rewards.max(dim=1).values - rewards.min(dim=1).values) <= atol


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(policy || reference): non-negative, unbiased, low variance."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1.0


def policy_loss(logp: torch.Tensor, mask: torch.Tensor, advantages: torch.Tensor,
                old_logp: torch.Tensor | None = None, ref_logp: torch.Tensor | None = None,
                clip_eps: float = 0.2, kl_coef: float = 0.0, norm: str = "token") -> tuple[torch.Tensor, dict]:
    """logp, mask (N, T) over completion tokens (mask 1 = a sampled token), advantages (N,).
    Returns (scalar loss, stats: ``pg_loss``, ``kl``, ``clip_frac``, ``ratio`` means, ``tokens``)."""
    mask = mask.to(logp.dtype)
    adv = advantages.to(logp.dtype).unsqueeze(1)
    if old_logp is None:
        ratio = torch.exp(logp - logp.detach())          # == 1, gradient d logp
        per_tok = -ratio * adv
        clipped = torch.zeros_like(logp, dtype=torch.bool)
    else:
        ratio = torch.exp(logp - old_logp.detach())
        unclipped = ratio * adv
        clip_term = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv
        per_tok = -torch.minimum(unclipped, clip_term)
        clipped = clip_term < unclipped
    kl = kl_k3(logp, ref_logp.detach()) if ref_logp is not None else torch.zeros_like(logp)
    total = per_tok + kl_coef * kl if ref_logp is not None and kl_coef else per_tok

    def reduce(x: torch.Tensor) -> torch.Tensor:
        if norm == "token":
            return (x * mask).sum() / mask.sum().clamp(min=1.0)
        if norm == "sequence":
            per_seq = (x * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            return per_seq.mean()
        raise ValueError(f"unknown loss normalisation {norm!r}; choose token or sequence")

    loss = reduce(total)
    with torch.no_grad():
        n_tok = mask.sum().clamp(min=1.0)
        stats = {
            "pg_loss": float(reduce(per_tok)),
            "kl": float((kl * mask).sum() / n_tok),
            "clip_frac": float((clipped.to(mask.dtype) * mask).sum() / n_tok),
            "ratio": float((ratio.detach() * mask).sum() / n_tok),
            "tokens": int(mask.sum()),
        }
    return loss, stats


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct: 1 - C(n-c, k) / C(n, k)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)
