"""Optimizers and learning-rate schedules for pretraining.

AdamW (fused kernels where the device has them) for everything, or Muon for the 2D matrices
inside the transformer blocks and AdamW for the embedding and the output head (as modded-nanogpt
and nanochat). Each param group keeps its ``initial_lr``; a schedule gives the multiplier.
"""
from __future__ import annotations

import math

import torch


def lr_multiplier(step: int, max_steps: int, warmup_steps: int = 0, schedule: str = "cosine",
                  final_lr_frac: float = 0.1, decay_frac: float = 0.2) -> float:
    """Multiplier of the base learning rate for optimizer step ``step`` (0-based).
    cosine: linear warmup then cosine down to final_lr_frac at max_steps.
    wsd: linear warmup, stable at 1, then linear decay to final_lr_frac over the last decay_frac."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        span = max(1, max_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return final_lr_frac + (1 - final_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "wsd":
        decay_steps = max(1, int(round(decay_frac * max_steps)))
        decay_start = max_steps - decay_steps
        if step < decay_start:
            return 1.0
        progress = min(1.0, (step - decay_start) / decay_steps)
        return 1.0 - (1 - final_lr_frac) * progress
    raise ValueError(f"unknown lr schedule {schedule!r} (cosine, wsd or constant)")


def zeropower_newton_schulz(g: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """Approximately orthogonalize g (U V^T of its SVD) with a quintic Newton-Schulz iteration
    (coefficients of Keller Jordan's Muon), in bfloat16 on GPU, float32 elsewhere."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g.to(torch.bfloat16 if g.is_cuda else torch.float32)
    transposed = x.size(0) > x.size(1)
    if transposed:
        x = x.T
    x = x / (x.norm() + eps)
    for _ in range(steps):
        s = x @ x.T
        x = a * x + (b * s + c * s @ s) @ x
    if transposed:
        x = x.T
    return x.to(g.dtype)


class Muon(torch.optim.Optimizer):
    """Momentum (Nesterov) then orthogonalized update, for 2D weight matrices only. Every DDP
    rank holds the all-reduced gradient and computes the same update."""

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95, nesterov: bool = True, ns_steps: int = 5,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, ns_steps=ns_steps,
                                      weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.ndim != 2:
                    raise ValueError("Muon only takes 2D parameters")
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1 - group["momentum"])
                g = p.grad.lerp(buf, group["momentum"]) if group["nesterov"] else buf
                update = zeropower_newton_schulz(g, group["ns_steps"])
                scale = max(1.0, p.size(0) / p.size(1)) ** 0.5
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(update, alpha=-group["lr"] * scale)


def _adamw(groups, betas, eps, device_type: str) -> torch.optim.AdamW:
    kwargs = {}
    if device_type in ("cuda", "cpu"):     # one kernel for all parameters: ~4x less time than the loop on CPU
        kwargs["fused"] = True
    return torch.optim.AdamW(groups, betas=betas, eps=eps, **kwargs)


def build_optimizers(model: torch.nn.Module, p: dict, device_type: str) -> list[torch.optim.Optimizer]:
    """``p`` keys: optimizer (adamw|muon), matrix_lr, embedding_lr, unembedding_lr, muon_lr,
    weight_decay, beta1, beta2, eps. Returns one or two optimizers (stepped together)."""
    embed = [model.wte.weight]
    head = [] if model.config.tie_embeddings else [model.lm_head.weight]
    matrices = [q for q in model.blocks.parameters()]
    betas = (float(p.get("beta1", 0.9)), float(p.get("beta2", 0.95)))
    eps = float(p.get("eps", 1e-8))
    wd = float(p.get("weight_decay", 0.0))
    groups = [{"params": embed, "lr": float(p["embedding_lr"]), "weight_decay": 0.0, "name": "embedding"}]
    if head:
        groups.append({"params": head, "lr": float(p["unembedding_lr"]), "weight_decay": 0.0, "name": "unembedding"})
    if getattr(model, "copy", None) is not None:   # the copy head: a few small matrices and a gate
        groups.append({"params": list(model.copy.parameters()), "lr": float(p["matrix_lr"]),
                       "weight_decay": 0.0, "name": "copy"})
    kind = p.get("optimizer", "adamw")
    optimizers: list[torch.optim.Optimizer] = []
    if kind == "adamw":
        groups.append({"params": matrices, "lr": float(p["matrix_lr"]), "weight_decay": wd, "name": "matrices"})
    elif kind == "muon":
        muon = Muon([{"params": matrices, "lr": float(p["muon_lr"]), "name": "matrices"}],
                    momentum=float(p.get("muon_momentum", 0.95)), weight_decay=wd)
        optimizers.append(muon)
    else:
        raise ValueError(f"unknown optimizer {kind!r} (adamw or muon)")
    optimizers.insert(0, _adamw(groups, betas, eps, device_type))
    for opt in optimizers:
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]
    return optimizers


def set_lr(optimizers, multiplier: float) -> float:
    """Apply the schedule; returns the matrices' current learning rate (for logs)."""
    shown = 0.0
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["initial_lr"] * multiplier
            if group.get("name") == "matrices":
                shown = group["lr"]
    return shown
