"""`train pretrain PIPELINE [--set train.pretrain.KEY=VALUE] [--resume]`: next-token training
of the GPT on the token shards.

One plain loop: micro-batches from ``TokenLoader``, gradient accumulation up to the total
batch size in tokens, clipping, one optimizer step, a scheduled learning rate. Every
``eval_every`` steps and at the end: the exact val loss, bits per byte and unigram baseline of
``train eval`` (train/eval.py: the first ``eval_tokens`` val targets, each scored once, whatever
the batch layout); every ``ckpt_every`` steps and at the end: a checkpoint (weights, optimizer,
loader position). Under ``torchrun --nproc_per_node=N`` the same
script runs DDP (NCCL on GPU, gloo on CPU); every rank reads its own documents.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from contract.tokens import file_sha256
from train import common
from train import config as train_config
from train.common import Dist, RunLog
from train.checkpoint import CheckpointError, checkpoints_newest_first, set_aside
from train.checkpoint import latest_checkpoint, load_training_state, save_checkpoint
from train.data import DataError, TokenLoader, trained_share
from train.eval import ValSet, describe
from train.model import ARCH_PRESETS, GPT, GPTConfig
from train.optim import build_optimizers, lr_multiplier, set_lr
from train.tokenizer import Tokenizer
from contract.layout import MANIFEST

# Defaults: a tiny model that trains in minutes on a laptop CPU; every key, its kind and its
# constraint are in train/config.py SCHEMAS["pretrain"]. pipelines/*.yaml override them.
DEFAULTS = train_config.defaults("pretrain")

PEAK_FLOPS_BF16 = {"H100": 989e12, "H200": 989e12, "GH200": 989e12, "B200": 2250e12,
                   "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "4090": 165e12, "3090": 71e12}


class Diverged(common.RunFailed):
    """The loss or the gradient became NaN/inf: the run stops (exit 1) rather than save garbage."""


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_FLOPS_BF16.items():
        if key in name:
            return value
    return None


def model_config(p: dict, vocab_size: int) -> GPTConfig:
    extra = {k: p[k] for k in ("mlp", "tie_embeddings", "logit_softcap", "copy_head") if p.get(k) is not None}
    extra.update(ARCH_PRESETS[p.get("arch") or "gpt"])
    if p.get("n_embd") or p.get("n_layer"):
        n_embd = int(p.get("n_embd") or 64 * int(p["depth"]))
        n_layer = int(p.get("n_layer") or p["depth"])
        n_head = int(p.get("n_head") or max(1, n_embd // int(p["head_dim"])))
        return GPTConfig(vocab_size=vocab_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd,
                         seq_len=int(p["seq_len"]), **extra)
    return GPTConfig.from_depth(int(p["depth"]), vocab_size, int(p["seq_len"]), head_dim=int(p["head_dim"]), **extra)


def shard_tokenizer(shards: Path) -> Tokenizer:
    """The tokenizer the shards' manifest names, refused (DataError) unless it is the very one
    they were made with: another tokenizer's ids overflow the embedding at step 1."""
    manifest_path = shards / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{manifest_path}: not a readable manifest ({e})") from None
    info = manifest.get("tokenizer") if isinstance(manifest, dict) else None
    if not isinstance(info, dict) or not info.get("path"):
        raise DataError(f"{manifest_path}: names no tokenizer (tokenizer.path)")
    path = Path(info["path"])
    if not path.is_absolute():
        path = (shards / path).resolve()
    want_sha, want_vocab = info.get("sha256"), info.get("vocab_size")
    expect = f"the shards in {shards} expect sha256 {want_sha or '?'} and vocab {want_vocab or '?'}"
    if not path.is_file():
        raise DataError(f"tokenizer {path} not found; {expect}")
    got_sha = file_sha256(path)
    if want_sha and got_sha != want_sha:
        raise DataError(f"tokenizer {path} has sha256 {got_sha}, but {expect}: it was replaced after "
                        f"tokenizing; re-run `corpus tokenize` or restore that tokenizer")
    try:
        tokenizer = Tokenizer.from_shards(shards)
    except (OSError, RuntimeError, ValueError) as e:
        raise DataError(f"tokenizer {path} cannot be loaded ({e}); {expect}") from None
    if want_vocab is not None and tokenizer.vocab_size != int(want_vocab):
        raise DataError(f"tokenizer {path} has vocab {tokenizer.vocab_size}, but {expect}; "
                        f"re-run `corpus tokenize` or restore that tokenizer")
    return tokenizer


def train(p: dict, run_dir: Path, shards: Path, resume: bool, pipeline: dict | None = None) -> dict:
    tokenizer = shard_tokenizer(shards)
    d = Dist(p["device"], "train.pretrain.device")
    device = d.device
    common.set_threads(p.get("threads"))
    allocator_tuned = common.tune_cpu_allocator(device)
    torch.manual_seed(int(p["seed"]))
    cfg = model_config(p, tokenizer.vocab_size)
    model = GPT(cfg).to(device)
    T, B = cfg.seq_len, int(p["device_batch_size"])
    per_micro = B * T * d.world
    total = int(p["total_batch_tokens"] or per_micro)
    if total % per_micro:
        raise ValueError(f"total_batch_tokens={total} is not a multiple of device_batch_size * seq_len * "
                         f"world_size = {B} * {T} * {d.world} = {per_micro}")
    accum = total // per_micro
    optimizers = build_optimizers(model, p, device.type)
    loader = TokenLoader(shards, "train", B, T, accum, d.rank, d.world, seed=int(p["seed"]),
                         shuffle=bool(p["shuffle"]), buffer_size=int(p["buffer_size"]), device=device,
                         prefetch=int(p["prefetch"]), packing=p["packing"])
    step, tokens_seen, train_time = 0, 0, 0.0
    ckpt = None
    candidates = checkpoints_newest_first(run_dir) if resume else []
    for cand in candidates:
        try:
            state = load_training_state(cand, model, optimizers)
            loaders = state.get("loader")
            if isinstance(loaders, list) and len(loaders) != d.world:
                raise DataError(f"{cand}: saved by {len(loaders)} rank(s), resumed with {d.world}; "
                                f"resume with the same number of processes")
            try:
                loader.load_state_dict(loaders[d.rank])
                step, tokens_seen = int(state["step"]), int(state["tokens"])
                train_time = float(state.get("train_time", 0.0))
            except DataError:        # the shards, not the checkpoint: fatal, nothing set aside
                raise
            except (KeyError, IndexError, TypeError, ValueError) as e:
                raise CheckpointError(f"{cand / 'state.json'}: no usable loader position ({e!r})") from None
        except CheckpointError as e:     # skip it, keep it (set aside), try the one before
            if d.master:
                print(f"warning: skipping corrupt checkpoint {cand}: {e}; moved to "
                      f"{set_aside(cand).name}", file=sys.stderr, flush=True)
            continue
        ckpt = cand
        break
    if resume and ckpt is None:
        if candidates:
            raise CheckpointError(f"--resume: no valid checkpoint left in {run_dir} (the corrupt ones "
                                  f"were set aside as corrupt-step-*); run without --resume to start over")
        if d.master:
            print(f"--resume: no checkpoint in {run_dir}; starting from scratch", flush=True)
    max_steps = int(p["max_steps"])
    use_bf16 = device.type == "cuda" and p.get("dtype", "auto") in ("auto", "bfloat16", "bf16")
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext())
    compiled = torch.compile(model) if p.get("compile") else model
    net = compiled
    if d.enabled:
        net = DDP(net, device_ids=[device.index] if device.type == "cuda" else None)
    token_bytes = tokenizer.token_bytes()
    flops_per_token = model.estimate_flops_per_token()
    peak = peak_flops(device)
    meta = {"train_config": p, "pipeline": pipeline or {}, "world_size": d.world,
            "tokenizer": {"path": str(tokenizer.model_path), "special_tokens": tokenizer.special}}
    log = RunLog(run_dir / "log.jsonl", step if ckpt is not None else None, enabled=d.master,
                 tensorboard=run_dir / "tensorboard" if p.get("tensorboard") else None,
                 wandb={"project": p.get("wandb_project"), "config": meta} if p.get("wandb") else None)
    if d.master:
        print(f"pretrain: {model.num_params() / 1e6:.2f}M params ({cfg.n_layer} layers, {cfg.n_embd} wide, "
              f"{cfg.n_head} heads), vocab {cfg.vocab_size}, seq {T}, {B} rows x {accum} accum x {d.world} "
              f"ranks = {total} tokens/step, {max_steps} steps on {device}"
              + (" (bf16 autocast)" if use_bf16 else " (float32)")
              + (f", resuming at step {step}" if ckpt is not None else ""), flush=True)

    def checkpoint(at_step: int) -> None:
        loader_states = d.gather(loader.state_dict())
        if d.master:
            state = {"loader": loader_states, "tokens": tokens_seen, "train_time": train_time}
            save_checkpoint(run_dir, at_step, model, optimizers, state, meta, tokenizer=tokenizer,
                            keep=int(p["keep_checkpoints"]) or None)
        d.barrier()

    last_eval = None
    stop_at = int(p["stop_at_step"]) if p.get("stop_at_step") else None
    max_seconds = float(p["max_seconds"]) if p.get("max_seconds") else None
    has_val = bool(((loader.split.manifest.get("splits") or {}).get("val") or {}).get("shards"))
    if not has_val and d.master:
        print(f"note: {shards / MANIFEST} has no val split: no val loss, no bits per byte", flush=True)
    val_set = ValSet(shards, T, cfg.vocab_size, p.get("eval_tokens")) if has_val else None

    def elapsed() -> float:
        """Rank 0's training time, the same number on every rank (their schedules must agree)."""
        return d.sum([train_time if d.master else 0.0])[0]

    net.train()
    while step < max_steps:
        t0 = time.perf_counter()
        sched_step = step
        if max_seconds is not None:   # time-bounded run: the schedule follows the larger progress
            sched_step = max(step, int(max_steps * elapsed() / max_seconds))
        lr = set_lr(optimizers, lr_multiplier(sched_step, max_steps, int(p["warmup_steps"]), p["schedule"],
                                              float(p["final_lr_frac"]), float(p["decay_frac"])))
        loss_sum = torch.zeros((), device=device)
        for micro in range(accum):
            x, y = loader.next()
            sync = contextlib.nullcontext()
            if d.enabled and micro < accum - 1:
                sync = net.no_sync()
            with sync:
                with autocast:
                    _, loss = net(x, y)
                (loss / accum).backward()
            loss_sum += loss.detach()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float(p["grad_clip"])) \
            if p.get("grad_clip") else None
        loss_value = float(loss_sum) / accum
        if d.enabled:
            loss_value = d.sum([loss_value])[0] / d.world
        if not math.isfinite(loss_value) or (grad_norm is not None and not math.isfinite(float(grad_norm))):
            loader.close()      # before the update: the weights and the last checkpoint stay good
            raise Diverged(f"step {step + 1}: loss {loss_value}, grad norm {float(grad_norm or 0.0)}: training "
                           f"diverged; stopped without saving (last checkpoint: {latest_checkpoint(run_dir)}); "
                           f"lower the learning rates or raise warmup_steps")
        for opt in optimizers:
            opt.step()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        step += 1
        tokens_seen += total
        train_time += dt
        record = {"step": step, "loss": loss_value, "lr": lr, "tokens": tokens_seen, "tok_per_s": total / dt,
                  "dt": dt, "epoch": loader.epoch()}
        if grad_norm is not None:
            record["grad_norm"] = float(grad_norm)
        if peak:
            record["mfu"] = flops_per_token * total / dt / (peak * d.world)
        line = None
        if step % int(p["log_every"]) == 0 or step == 1 or step == max_steps:
            line = (f"step {step:5d}/{max_steps} | loss {loss_value:.4f} | lr {lr:.2e} | "
                    f"{total / dt / 1e3:.1f}k tok/s" + (f" | mfu {record['mfu'] * 100:.1f}%" if peak else ""))
        log.log(record, line)
        out_of_time = max_seconds is not None and elapsed() >= max_seconds
        finishing = step == max_steps or step == stop_at or out_of_time
        if has_val and (step % int(p["eval_every"]) == 0 or finishing):
            last_eval = val_set.score(model, token_bytes, B, d, autocast)   # eager: windows vary in length
            log.log({"step": step, **last_eval},
                    f"step {step:5d} | val loss {last_eval['val_loss']:.4f} | val bpb {last_eval['val_bpb']:.4f}")
        if step % int(p["ckpt_every"]) == 0 or finishing:
            checkpoint(step)
        if finishing:
            if out_of_time and d.master and step < max_steps:
                print(f"stopping at step {step}: max_seconds={max_seconds} reached", flush=True)
            break

    result = {"step": step, "tokens": tokens_seen, "train_time": train_time,
              "cropped_share": d.sum([loader.cropped_share()])[0] / d.world,
              "trained_token_share": trained_share(*d.sum(loader.token_counts())),
              "cpu_allocator_tuned": allocator_tuned, **(last_eval or {})}
    ranks = d.gather({"rank": d.rank, "first_lane": loader.first_lane, "lanes": len(loader.lanes),
                      "docs": sum(s["docs"] for s in loader.state_dict()["lanes"])})
    loader.close()
    if d.master:
        log.log({"step": step, "final": True, "ranks": ranks, **result})
        msg = (f"done: {step} steps, {tokens_seen / 1e6:.2f}M tokens in {train_time:.1f}s, "
               f"{result['trained_token_share'] * 100:.1f}% of document tokens trained on "
               f"({result['cropped_share'] * 100:.1f}% cropped)")
        if "val_loss" in result:
            msg += f"\n{describe(result)}"
        msg += f"\ncheckpoint: {latest_checkpoint(run_dir)}"
        print(msg, flush=True)
    log.close()
    d.close()
    return result


def resolve_params(config: dict, p: dict) -> tuple[dict, Path, Path]:
    """The checked settings made whole (ConfigError names the key), the run dir and the shards dir."""
    p = {k: v for k, v in p.items() if k != "out_dir"}
    try:
        cfg = model_config(p, vocab_size=256)
    except ValueError as e:
        raise train_config.ConfigError(f"train.pretrain.depth/head_dim/n_embd/n_head: {e}") from None
    world = int(os.environ.get("WORLD_SIZE", 1))
    per_micro = int(p["device_batch_size"]) * cfg.seq_len * world
    if p["total_batch_tokens"] and p["total_batch_tokens"] % per_micro:
        raise train_config.ConfigError(
            f"train.pretrain.total_batch_tokens: {p['total_batch_tokens']} is not a multiple of "
            f"device_batch_size * seq_len * world_size = {p['device_batch_size']} * {cfg.seq_len} * {world} "
            f"= {per_micro}")
    run_dir = train_config.output_dir(config, "pretrain")
    shards = Path(p["shards"]) if p.get("shards") else Path(config["output"]) / "shards"
    return p, run_dir, shards


def run(pipeline: str, overrides: list[str], resume: bool) -> dict:
    """Settings, then the inputs, checked before anything is written; then the training."""
    config, p = common.load_settings(pipeline, overrides, "pretrain")
    p, run_dir, shards = resolve_params(config, p)
    common.pick_device(p["device"], "train.pretrain.device")
    if not (shards / MANIFEST).exists():
        raise DataError(f"no token shards at {shards} (run `corpus tokenize` first, or set train.pretrain.shards)")
    return train(p, run_dir, shards, resume, config)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="train pretrain", description=__doc__.split("\n\n")[0],
                                 parents=[common.phase_parent(init=False)])
    ap.add_argument("pipeline", help="pipeline YAML (or JSON); settings under train.pretrain")
    args = ap.parse_args(argv)
    return common.run_main("train pretrain", lambda: run(args.pipeline, args.overrides, args.resume))


if __name__ == "__main__":
    sys.exit(main())
