"""`train rl`: reinforcement learning on verifiable rewards (GRPO family), from an SFT checkpoint.

Each step draws ``prompts_per_step`` problems, samples a group of ``group_size`` completions
per problem in one batched KV-cache generation, scores them against the known answers,
turns scores into group-relative advantages and takes a policy-gradient step
(``train/grpo.py`` has the maths). Groups whose completions all score the same teach
nothing; they are counted (``zero_signal``) and left out of the update.

Held-out pass@1 and pass@k (``eval_samples`` samples per problem at ``eval_temperature``)
and greedy accuracy are measured before training, every ``eval_every`` steps and at the
end, and logged with reward mean, completion length and the zero-signal fraction to stdout
and ``<out>/log.jsonl``. Checkpoints use the pretraining/SFT format; ``--resume`` continues
from the latest one.

    train rl PIPELINE.yaml [--set train.rl.steps=40] [--init CKPT] [--resume]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import asdict, field, fields, make_dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from train import common
from train import config as tcfg
from train.chat_format import decode_reply, render_prompt, stop_ids
from train.checkpoint import latest_checkpoint, load_model, load_training_state, save_checkpoint
from train.common import RunLog
from train.grpo import group_advantages, pass_at_k, policy_loss, zero_signal_groups
from train.rewards import make_reward
from train.rl_tasks import load_task, messages_for
from train.tokenizer import Tokenizer


def _from_params(cls, params: dict):
    """Checked against train/config.py SCHEMAS["rl"] (kinds, constraints, unknown keys)."""
    values = tcfg.validate({"train": {"rl": params}}, "rl")
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known})


#: The ``train.rl`` block as attributes; every key, its default, kind and constraint (and what it
#: means): train/config.py SCHEMAS["rl"], the one settings table.
RLSettings = make_dataclass(
    "RLSettings", [(k, Any, field(default=s.default)) for k, s in tcfg.SCHEMAS["rl"].items() if k != "out_dir"],
    namespace={"from_params": classmethod(_from_params), "__module__": __name__})


# -- the update ----------------------------------------------------------------------------------

def _pad_batch(prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], device):
    """Right-padded (inputs, targets) for prompt+completion rows; only completion tokens are
    targets (everything else -1)."""
    lengths = [len(p) + len(c) for p, c in zip(prompts, completions)]
    T = max(lengths) - 1
    inputs = torch.zeros(len(prompts), T, dtype=torch.long)
    targets = torch.full((len(prompts), T), -1, dtype=torch.long)
    for r, (p, c) in enumerate(zip(prompts, completions)):
        seq = list(p) + list(c)
        inputs[r, :len(seq) - 1] = torch.tensor(seq[:-1])
        targets[r, len(p) - 1:len(seq) - 1] = torch.tensor(list(c))
    return inputs.to(device), targets.to(device)


def token_logprobs(model, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logp of each target token, mask) both (B, T); logp is 0 where masked."""
    _, nll = model(inputs, targets, reduction="none")
    return -nll, (targets != -1).float()


def rl_update(model, optimizer, prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]],
              rewards: torch.Tensor, s: RLSettings, ref_model=None) -> dict:
    """One GRPO update. ``prompts`` has one entry per group, ``completions`` group_size
    entries per group (group-major), ``rewards`` (groups, group_size).
    Returns stats (loss, kl, clip_frac, zero_signal, tokens); zero-signal groups are skipped."""
    G, k = rewards.shape
    adv = group_advantages(rewards, scale_by_std=s.scale_by_std)
    zero = zero_signal_groups(rewards)
    stats = {"zero_signal": float(zero.float().mean()), "loss": 0.0, "kl": 0.0, "clip_frac": 0.0,
             "tokens": 0, "updated_groups": int((~zero).sum())}
    rows = [(g * k + j) for g in range(G) if not zero[g] for j in range(k)
            if len(completions[g * k + j]) > 0]
    if not rows:
        return stats
    device = next(model.parameters()).device
    row_prompts = [prompts[r // k] for r in rows]
    row_comps = [completions[r] for r in rows]
    row_adv = adv.reshape(-1)[rows].to(device)
    chunks = [list(range(i, min(i + s.microbatch, len(rows)))) for i in range(0, len(rows), s.microbatch)]
    batches = [_pad_batch([row_prompts[i] for i in c], [row_comps[i] for i in c], device) for c in chunks]
    total_tokens = sum(int((t != -1).sum()) for _, t in batches)
    old, ref = [None] * len(batches), [None] * len(batches)
    with torch.no_grad():
        for b, (inp, tgt) in enumerate(batches):
            if s.updates_per_batch > 1:
                old[b] = token_logprobs(model, inp, tgt)[0]
            if ref_model is not None and s.kl_coef > 0:
                ref[b] = token_logprobs(ref_model, inp, tgt)[0]
    model.train()
    for _ in range(max(1, s.updates_per_batch)):
        optimizer.zero_grad(set_to_none=True)
        agg = {"loss": 0.0, "kl": 0.0, "clip_frac": 0.0}
        for b, ((inp, tgt), c) in enumerate(zip(batches, chunks)):
            logp, mask = token_logprobs(model, inp, tgt)
            loss, st = policy_loss(logp, mask, row_adv[c], old_logp=old[b], ref_logp=ref[b],
                                   clip_eps=s.clip_eps, kl_coef=s.kl_coef, norm=s.loss_norm)
            weight = (st["tokens"] / total_tokens) if s.loss_norm == "token" else len(c) / len(rows)
            (loss * weight).backward()
            agg["loss"] += float(loss.detach()) * weight
            tok_w = st["tokens"] / total_tokens
            agg["kl"] += st["kl"] * tok_w
            agg["clip_frac"] += st["clip_frac"] * tok_w
        if s.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    stats.update(agg, tokens=total_tokens)
    return stats


def sample_groups(model, prompts: Sequence[Sequence[int]], k: int, max_new_tokens: int, temperature: float,
                  top_k, stop_ids, seed: int, batch_rows: int = 256) -> list[list[int]]:
    """k completions per prompt (group-major), generated in batches with the KV cache."""
    rows = [list(p) for p in prompts for _ in range(k)]
    seq_len = model.config.seq_len
    out: list[list[int]] = []
    for i in range(0, len(rows), batch_rows):
        chunk = rows[i:i + batch_rows]
        budget = max(1, min(max_new_tokens, seq_len - max(len(p) for p in chunk)))
        out += model.generate(chunk, budget, temperature=temperature, top_k=top_k,
                              stop_ids=stop_ids, seed=seed + i)
    return out


# -- evaluation ----------------------------------------------------------------------------------

def evaluate(model, items: list[dict], encode: Callable[[dict], list[int]], score: Callable[[dict, list[int]], float],
             n_samples: int, temperature: float, top_k, max_new_tokens: int, stop_ids, seed: int) -> dict:
    """Held-out pass@1 (mean over samples), pass@n, greedy accuracy, mean reward and length."""
    model.eval()
    prompts = [encode(it) for it in items]
    comps = sample_groups(model, prompts, n_samples, max_new_tokens, temperature, top_k, stop_ids, seed)
    greedy = sample_groups(model, prompts, 1, max_new_tokens, 0.0, None, stop_ids, seed)
    p1, pk, rsum, lsum, gsum = 0.0, 0.0, 0.0, 0, 0.0
    for i, it in enumerate(items):
        rs = [score(it, comps[i * n_samples + j]) for j in range(n_samples)]
        c = sum(1 for r in rs if r >= 1.0)
        p1 += pass_at_k(n_samples, c, 1)
        pk += pass_at_k(n_samples, c, n_samples)
        rsum += sum(rs)
        lsum += sum(len(comps[i * n_samples + j]) for j in range(n_samples))
        gsum += float(score(it, greedy[i]) >= 1.0)
    n = max(1, len(items))
    return {"pass@1": p1 / n, f"pass@{n_samples}": pk / n, "greedy": gsum / n,
            "reward_mean": rsum / (n * n_samples), "completion_len": lsum / (n * n_samples),
            "problems": len(items)}


# -- the command -------------------------------------------------------------------------------

def _resolve_init(config: dict, s: RLSettings) -> Path:
    if s.init:
        return Path(s.init)
    for phase in ("sft", "pretrain"):
        d = tcfg.output_dir(config, phase)
        if latest_checkpoint(d) is not None:
            if phase == "pretrain":
                print(f"rl: no SFT checkpoint under {tcfg.output_dir(config, 'sft')}; "
                      f"starting from the pretrained model in {d}", file=sys.stderr)
            return d
    raise FileNotFoundError(f"rl: no checkpoint to start from: run `train sft` first "
                            f"(looked in {tcfg.output_dir(config, 'sft')}) or set train.rl.init")


def _fmt_eval(ev: dict, k: int) -> str:
    return (f"pass@1 {ev['pass@1']:.3f}  pass@{k} {ev[f'pass@{k}']:.3f}  greedy {ev['greedy']:.3f}  "
            f"reward {ev['reward_mean']:.3f}  len {ev['completion_len']:.1f}")


def settings(config: dict, init: str | None = None) -> tuple[RLSettings, torch.device]:
    """``train.rl`` checked (every train block: a typo anywhere fails before any work), with
    ``--init`` applied, and the device it asks for."""
    values = tcfg.validate(config, "rl")
    if init:
        values["init"] = init
    s = RLSettings(**{f.name: values[f.name] for f in fields(RLSettings)})
    return s, common.pick_device(s.device, "train.rl.device")


def load_policy(config: dict, s: RLSettings, resume_from: Path | None, device):
    """(model, its meta, the starting checkpoint, the tokenizer): the RL checkpoint resumed,
    else the starting one (``init``, else the newest of sft, pretrain)."""
    init_path = Path(s.init) if s.init else None
    if resume_from is not None:
        model, meta = load_model(resume_from, device)
        init_path = Path(meta.get("init") or (init_path or _resolve_init(config, s)))
    else:
        init_path = init_path or _resolve_init(config, s)
        model, meta = load_model(init_path, device)
    return model, meta, init_path, Tokenizer.from_checkpoint(resume_from or init_path)


class Task:
    """The problems, their prompts as ids (rendered once) and the reward of a completion."""

    def __init__(self, s: RLSettings, tok) -> None:
        self.train, self.eval = load_task(asdict(s))
        self.reward_fn = make_reward(s.reward, **(s.reward_options or {}))
        self.tok, self.stops = tok, stop_ids(tok)
        self._prompts: dict[str, list[int]] = {}

    def encode(self, item: dict) -> list[int]:
        key = item.get("system", "") + "\x00" + item["prompt"]
        if key not in self._prompts:
            self._prompts[key] = render_prompt(messages_for(item), self.tok)
        return self._prompts[key]

    def score(self, item: dict, completion: list[int]) -> float:
        return float(self.reward_fn(decode_reply(completion, self.tok), item["answer"], prompt=item["prompt"]))


def run_eval(model, task: Task, s: RLSettings, step: int, log: RunLog) -> dict:
    """One held-out evaluation, printed and logged."""
    t0 = time.monotonic()
    ev = evaluate(model, task.eval, task.encode, task.score, s.eval_samples, s.eval_temperature, s.top_k,
                  s.max_new_tokens, task.stops, seed=s.seed + 7919)
    ev.update(step=step, eval=True, seconds=round(time.monotonic() - t0, 2))
    log(ev, f"rl eval step {step:4d}: {_fmt_eval(ev, s.eval_samples)}  ({ev['problems']} held-out, "
            f"{ev['seconds']:.1f}s)")
    return ev


def train_step(model, optimizer, ref_model, task: Task, s: RLSettings, step: int) -> dict:
    """Sample a group per prompt, score it, update; the step's record."""
    t0 = time.monotonic()
    rng = random.Random(f"rl|{s.seed}|{step}")
    batch = rng.sample(task.train, min(s.prompts_per_step, len(task.train)))
    prompts = [task.encode(it) for it in batch]
    model.eval()
    comps = sample_groups(model, prompts, s.group_size, s.max_new_tokens, s.temperature, s.top_k,
                          task.stops, seed=s.seed * 1_000_003 + step)
    t_gen = time.monotonic() - t0
    rewards = torch.tensor([[task.score(it, comps[g * s.group_size + j]) for j in range(s.group_size)]
                            for g, it in enumerate(batch)])
    st = rl_update(model, optimizer, prompts, comps, rewards, s, ref_model)
    return {"step": step + 1, "reward_mean": float(rewards.mean()), "zero_signal_frac": st["zero_signal"],
            "completion_len": sum(len(c) for c in comps) / len(comps), "loss": st["loss"], "kl": st["kl"],
            "clip_frac": st["clip_frac"], "tokens": st["tokens"], "gen_s": round(t_gen, 2),
            "step_s": round(time.monotonic() - t0, 2)}


def run(config: dict, resume: bool = False, init: str | None = None) -> dict:
    """Train; returns {"before": eval, "after": eval, "out_dir": ...}."""
    s, device = settings(config, init)
    common.set_threads(s.threads)
    out_dir = tcfg.output_dir(config, "rl")
    torch.manual_seed(s.seed)
    resume_from = latest_checkpoint(out_dir) if resume else None
    model, meta, init_path, tok = load_policy(config, s, resume_from, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=s.lr, betas=(0.9, 0.95), weight_decay=s.weight_decay)
    state: dict = {}
    if resume_from is not None:
        state = load_training_state(resume_from, model, optimizer) or {}
        print(f"rl: resuming from {resume_from} (step {state.get('step', 0)})")
    ref_model = None
    if s.kl_coef > 0:
        ref_model, _ = load_model(init_path, device)
        ref_model.eval().requires_grad_(False)
    task = Task(s, tok)

    step = start_step = int(state.get("step", 0))
    log = RunLog(out_dir / "log.jsonl", start_step if resume_from is not None else None)
    print(f"rl: {model.num_params():,} params from {init_path}; task {s.task} "
          f"({len(task.train)} train / {len(task.eval)} held-out), reward {s.reward}, "
          f"{s.prompts_per_step} prompts x {s.group_size} samples, {s.steps} steps", flush=True)
    before = state.get("before") or run_eval(model, task, s, step, log)
    meta_out = {**{k: v for k, v in meta.items() if k not in ("train", "phase", "init", "step", "checkpoint")},
                "phase": "rl", "init": str(init_path), "train": asdict(s)}

    def save(at: int) -> Path:
        return save_checkpoint(out_dir, at, model, optimizer, {"step": at, "before": before}, meta_out,
                               tokenizer=tok)

    t_start, last = time.monotonic(), before
    while step < s.steps:
        rec = train_step(model, optimizer, ref_model, task, s, step)
        step = rec["step"]
        log(rec, f"rl step {step:4d}/{s.steps}: reward {rec['reward_mean']:.3f}  zero-signal "
                 f"{rec['zero_signal_frac']:.2f}  len {rec['completion_len']:.1f}  loss {rec['loss']:+.4f}  "
                 f"kl {rec['kl']:.4f}  {rec['step_s']:.1f}s")
        if s.eval_every and step % s.eval_every == 0 and step < s.steps:
            last = run_eval(model, task, s, step, log)
        if s.save_every and step % s.save_every == 0 and step < s.steps:
            save(step)
    if step > start_step or resume_from is None:
        last = run_eval(model, task, s, step, log)
        path = save(step)
    else:
        path = resume_from
    log.close()
    k = s.eval_samples
    print(f"rl done: held-out pass@1 {before['pass@1']:.3f} -> {last['pass@1']:.3f} "
          f"({100 * (last['pass@1'] - before['pass@1']):+.1f} points), pass@{k} "
          f"{before[f'pass@{k}']:.3f} -> {last[f'pass@{k}']:.3f}, greedy {before['greedy']:.3f} -> "
          f"{last['greedy']:.3f}; {time.monotonic() - t_start:.0f}s; checkpoint {path}", flush=True)
    return {"before": before, "after": last, "out_dir": str(out_dir), "checkpoint": str(path)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="train rl", description=__doc__, parents=[common.phase_parent(init=True)],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline", help="pipeline YAML (its train.rl block) or JSON")
    args = parser.parse_args(argv)

    def body() -> None:
        config, _ = common.load_settings(args.pipeline, args.overrides, "rl")
        run(config, resume=args.resume, init=args.init)

    return common.run_main("train rl", body)


if __name__ == "__main__":
    sys.exit(main())
