"""`train rl`: reinforcement learning on verifiable rewards (GRPO family), from an SFT checkpoint.

Each step draws ``prompts_per_step`` problems, samples a group of ``group_size`` completions
per problem in one batched KV-cache generation, scores them against the known answers,
turns scores into group-relative advantages and takes a policy-gradient step
(``train/grpo.py`` has the maths). Groups whose completions all score the same teach
nothing; they are counted (``zero_signal``) and left out of the update.

Held-out pass@1 and pass@k (``eval_samples`` samples per problem at ``eval_temperature``)
and greedy accuracy, each with its standard error, are measured before training, every
``eval_every`` steps and at the end, on two sets of problems no training data holds: new
problems in the phrasings trained on (keys ``pass@1``, ...) and new problems in phrasings
no split trains on (keys ``unseen_pass@1``, ...); see train/rl_tasks.py. They are logged
with reward mean, completion length and the zero-signal fraction to stdout and
``<out>/log.jsonl``; the run ends with a ``summary`` record saying, per set, whether the
before->after change of pass@1 exceeds 2 standard errors or is within noise.
Checkpoints use the pretraining/SFT format; ``--resume`` continues from the latest one.

    train rl PIPELINE.yaml [--set train.rl.steps=40] [--init CKPT] [--resume]
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import asdict, field, fields, make_dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from train import common, tools
from train import config as tcfg
from train.chat_format import decode_reply, render_prompt, stop_ids
from train.checkpoint import latest_checkpoint, load_model, load_training_state, save_checkpoint
from train.common import RunLog
from train.grpo import group_advantages, pass_at_k, policy_loss, zero_signal_groups
from train.rewards import make_reward
from train.rl_tasks import EVAL_SETS, load_task, messages_for
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

def _pad_batch(prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], device,
               inserted: tuple[int, int] | None = None):
    """Right-padded (inputs, targets) for prompt+completion rows; only completion tokens are
    targets (everything else -1), and of those never a span the runtime inserted: with
    ``inserted = (start id, end id)`` (a search result), its tokens, both ends included, are
    read by the model but not trained on."""
    lengths = [len(p) + len(c) for p, c in zip(prompts, completions)]
    T = max(lengths) - 1
    inputs = torch.zeros(len(prompts), T, dtype=torch.long)
    targets = torch.full((len(prompts), T), -1, dtype=torch.long)
    for r, (p, c) in enumerate(zip(prompts, completions)):
        seq = list(p) + list(c)
        inputs[r, :len(seq) - 1] = torch.tensor(seq[:-1])
        targets[r, len(p) - 1:len(seq) - 1] = torch.tensor(_own_tokens(c, inserted))
    return inputs.to(device), targets.to(device)


def _own_tokens(completion: Sequence[int], inserted: tuple[int, int] | None) -> list[int]:
    """The completion with every inserted span (start .. end id) replaced by -1."""
    if inserted is None:
        return list(completion)
    out, inside = [], False
    for t in completion:
        inside = inside or t == inserted[0]
        out.append(-1 if inside else t)
        inside = inside and t != inserted[1]
    return out


def token_logprobs(model, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logp of each target token, mask) both (B, T); logp is 0 where masked."""
    _, nll = model(inputs, targets, reduction="none")
    return -nll, (targets != -1).float()


def rl_update(model, optimizer, prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]],
              rewards: torch.Tensor, s: RLSettings, ref_model=None, inserted: tuple[int, int] | None = None) -> dict:
    """One GRPO update. ``prompts`` has one entry per group, ``completions`` group_size
    entries per group (group-major), ``rewards`` (groups, group_size); ``inserted``: the ids
    around spans the runtime wrote (search results), never trained on.
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
    batches = [_pad_batch([row_prompts[i] for i in c], [row_comps[i] for i in c], device, inserted) for c in chunks]
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
                  top_k, stop_ids, seed: int, batch_rows: int = 256, tool=None) -> list[list[int]]:
    """k completions per prompt (group-major), generated in batches with the KV cache; with a
    search ``tool`` (train/tools.py) the searches the model writes run and their results are
    part of the completion (``max_new_tokens`` counts them)."""
    rows = [list(p) for p in prompts for _ in range(k)]
    seq_len = model.config.seq_len
    out: list[list[int]] = []
    for i in range(0, len(rows), batch_rows):
        chunk = rows[i:i + batch_rows]
        budget = max(1, min(max_new_tokens, seq_len - max(len(p) for p in chunk)))
        out += tools.generate(model, getattr(tool, "tok", None), chunk, tool, budget, temperature=temperature,
                              top_k=top_k, stop_ids=stop_ids, seed=seed + i)    # no tool: model.generate
    return out


# -- evaluation ----------------------------------------------------------------------------------

LABELS = {"trained": "new problems, trained phrasings", "unseen": "new problems, unseen phrasings"}
PREFIX = {"trained": "", "unseen": "unseen_"}     # eval record keys: pass@1, unseen_pass@1, ...
NOISE_SE = 2.0                                     # a change under this many standard errors is noise


def problem_means(values: Sequence[float], groups: Sequence[str]) -> list[float]:
    """Per-problem means: the items of one problem (one problem posed in several phrasings)
    are not independent draws, so they count once."""
    by: dict[str, list[float]] = {}
    for v, g in zip(values, groups):
        by.setdefault(g, []).append(float(v))
    return [sum(vs) / len(vs) for vs in by.values()]


def mean_se(values: Sequence[float], groups: Sequence[str] | None = None) -> tuple[float, float]:
    """(mean, standard error) over PROBLEMS: the sample standard deviation of the per-problem
    values (each a mean over its samples) / sqrt(problems). Per-problem values lie in [0, 1],
    so this is at most the binomial sqrt(p(1-p)/n); with a single problem that bound is used."""
    if not values:
        return 0.0, 0.0
    per = problem_means(values, groups if groups is not None else [str(i) for i in range(len(values))])
    n, mean = len(per), sum(float(v) for v in values) / len(values)
    if n < 2:
        return mean, math.sqrt(mean * (1 - mean))
    pm = sum(per) / n
    return mean, math.sqrt(sum((v - pm) ** 2 for v in per) / (n - 1) / n)


def fmt_se(value: float, se: float) -> str:
    return f"{value:.3f} (se {se:.3f})"


def evaluate(model, items: list[dict], encode: Callable[[dict], list[int]], score: Callable[[dict, list[int]], float],
             n_samples: int, temperature: float, top_k, max_new_tokens: int, stop_ids, seed: int, tool=None) -> dict:
    """Held-out pass@1 (mean over samples), pass@n, greedy accuracy, each with its standard
    error over problems (``mean_se``), mean reward and length; ``scores`` keeps each item's
    pass@1 so that a later evaluation can be compared problem by problem."""
    model.eval()
    prompts = [encode(it) for it in items]
    comps = sample_groups(model, prompts, n_samples, max_new_tokens, temperature, top_k, stop_ids, seed, tool=tool)
    greedy = sample_groups(model, prompts, 1, max_new_tokens, 0.0, None, stop_ids, seed, tool=tool)
    p1, pk, gs, rsum, lsum = [], [], [], 0.0, 0
    for i, it in enumerate(items):
        rs = [score(it, comps[i * n_samples + j]) for j in range(n_samples)]
        c = sum(1 for r in rs if r >= 1.0)
        p1.append(pass_at_k(n_samples, c, 1))
        pk.append(pass_at_k(n_samples, c, n_samples))
        gs.append(float(score(it, greedy[i]) >= 1.0))
        rsum += sum(rs)
        lsum += sum(len(comps[i * n_samples + j]) for j in range(n_samples))
    groups = problem_groups(items)
    n = max(1, len(items))
    out = {"problems": len(items), "distinct": len(set(groups))}
    for name, values in (("pass@1", p1), (f"pass@{n_samples}", pk), ("greedy", gs)):
        out[name], out[f"{name}_se"] = mean_se(values, groups)
    out.update(reward_mean=rsum / (n * n_samples), completion_len=lsum / (n * n_samples),
               scores=[round(v, 4) for v in p1])
    return out


def problem_groups(items: list[dict]) -> list[str]:
    """Which problem each item poses: the arithmetic key, else the prompt."""
    return [str(it.get("key") or it["prompt"]) for it in items]


def compare(before: dict, after: dict, groups: Sequence[str], label: str) -> dict:
    """pass@1 before -> after on one eval set, the change's standard error and a verdict.
    Both evaluations score the same problems, so the change is paired problem by problem
    (SE of the per-problem differences); without per-item scores of equal length, the two
    standard errors are combined as if independent."""
    b, a = before["pass@1"], after["pass@1"]
    sb, sa = before.get("scores"), after.get("scores")
    if sb and sa and len(sb) == len(sa) == len(groups):
        change, se = mean_se([y - x for x, y in zip(sb, sa)], groups)
        change = a - b
    else:
        change, se = a - b, math.hypot(before.get("pass@1_se", 0.0), after.get("pass@1_se", 0.0))
    noise = abs(change) <= NOISE_SE * se
    verdict = (f"{label}: pass@1 {fmt_se(b, before.get('pass@1_se', 0.0))} -> {fmt_se(a, after.get('pass@1_se', 0.0))}, "
               f"{100 * change:+.1f} points (se {100 * se:.1f}): "
               + ("no change" if change == 0 and se == 0 else
                  "within noise (under 2 standard errors); more problems or samples would be needed to tell"
                  if noise else "more than 2 standard errors, unlikely to be noise"))
    return {"before": b, "after": a, "change": change, "change_se": se, "noise": noise, "verdict": verdict}


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


def _fmt_eval(ev: dict, k: int, prefix: str = "") -> str:
    def m(name: str) -> str:
        return fmt_se(ev[prefix + name], ev[prefix + name + "_se"])
    return (f"pass@1 {m('pass@1')}  pass@{k} {m(f'pass@{k}')}  greedy {m('greedy')}  "
            f"reward {ev[prefix + 'reward_mean']:.3f}  len {ev[prefix + 'completion_len']:.1f}")


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

    def __init__(self, s: RLSettings, tok, tool=None) -> None:
        self.train, self.evals = load_task(asdict(s))
        self.reward_fn = make_reward(s.reward, **(s.reward_options or {}))
        self.tok, self.stops = tok, stop_ids(tok)
        self.tool = tool          # the search tool rollouts use (train.rl.tools), or None
        # the reward judges the reply's own words (decode_reply leaves the calls out), and the
        # inserted result span is never trained on
        self.inserted = ((tok.special["result_start"], tok.special["result_end"])
                         if tool is not None else None)
        self._prompts: dict[str, list[int]] = {}

    def encode(self, item: dict) -> list[int]:
        key = item.get("system", "") + "\x00" + item["prompt"]
        if key not in self._prompts:
            self._prompts[key] = render_prompt(messages_for(item), self.tok)
        return self._prompts[key]

    def score(self, item: dict, completion: list[int]) -> float:
        return float(self.reward_fn(decode_reply(completion, self.tok), item["answer"], prompt=item["prompt"]))


def run_eval(model, task: Task, s: RLSettings, step: int, log: RunLog) -> dict:
    """One held-out evaluation of every non-empty eval set, printed and logged as one record
    (the unseen-phrasing set's keys prefixed ``unseen_``)."""
    t0 = time.monotonic()
    ev: dict = {}
    lines = []
    for name in EVAL_SETS:
        if not task.evals.get(name):
            continue
        one = evaluate(model, task.evals[name], task.encode, task.score, s.eval_samples, s.eval_temperature,
                       s.top_k, s.max_new_tokens, task.stops, seed=s.seed + 7919, tool=task.tool)
        ev.update({PREFIX[name] + k: v for k, v in one.items()})
        lines.append(f"rl eval step {step:4d} [{LABELS[name]}]: {_fmt_eval(one, s.eval_samples)}  "
                     f"({one['problems']} held-out items, {one['distinct']} problems)")
    ev.update(step=step, eval=True, seconds=round(time.monotonic() - t0, 2))
    log(ev, "\n".join(lines) + f"  ({ev['seconds']:.1f}s)")
    return ev


def report(task: Task, before: dict, after: dict, k: int) -> list[dict]:
    """Per eval set: pass@1 before -> after with standard errors and the noise verdict
    (``compare``), plus pass@k and greedy before -> after for the printed summary."""
    out = []
    for name in EVAL_SETS:
        p = PREFIX[name]
        if not task.evals.get(name) or p + "pass@1" not in before or p + "pass@1" not in after:
            continue
        b, a = ({k_[len(p):]: v for k_, v in ev.items() if k_.startswith(p)} for ev in (before, after))
        c = compare(b, a, problem_groups(task.evals[name]), LABELS[name])
        def m(ev: dict, key: str) -> str:     # a resumed run's "before" may predate the _se keys
            return fmt_se(ev.get(key, float("nan")), ev.get(key + "_se", float("nan")))
        c.update(set=name, detail=f"pass@{k} {m(b, f'pass@{k}')} -> {m(a, f'pass@{k}')}, "
                                  f"greedy {m(b, 'greedy')} -> {m(a, 'greedy')}")
        out.append(c)
    return out


def train_step(model, optimizer, ref_model, task: Task, s: RLSettings, step: int) -> dict:
    """Sample a group per prompt, score it, update; the step's record."""
    t0 = time.monotonic()
    rng = random.Random(f"rl|{s.seed}|{step}")
    batch = rng.sample(task.train, min(s.prompts_per_step, len(task.train)))
    prompts = [task.encode(it) for it in batch]
    model.eval()
    comps = sample_groups(model, prompts, s.group_size, s.max_new_tokens, s.temperature, s.top_k,
                          task.stops, seed=s.seed * 1_000_003 + step, tool=task.tool)
    t_gen = time.monotonic() - t0
    rewards = torch.tensor([[task.score(it, comps[g * s.group_size + j]) for j in range(s.group_size)]
                            for g, it in enumerate(batch)])
    st = rl_update(model, optimizer, prompts, comps, rewards, s, ref_model, task.inserted)
    return {"step": step + 1, "reward_mean": float(rewards.mean()), "zero_signal_frac": st["zero_signal"],
            "completion_len": sum(len(c) for c in comps) / len(comps), "loss": st["loss"], "kl": st["kl"],
            "clip_frac": st["clip_frac"], "tokens": st["tokens"], "gen_s": round(t_gen, 2),
            "step_s": round(time.monotonic() - t0, 2)}


def run(config: dict, resume: bool = False, init: str | None = None) -> dict:
    """Train; returns {"before": eval, "after": eval, "out_dir": ...}."""
    s, device = settings(config, init)
    common.set_threads(s.threads)
    common.tune_cpu_allocator(device)
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
    tool = None
    if s.tools:
        tool = tools.open_tool(tok, init_path, index=s.index or None, output=config.get("output"))
        if tool is None:
            raise common.InputError("train.rl.tools: no search tool for this checkpoint (see the note above)")
    task = Task(s, tok, tool)

    step = start_step = int(state.get("step", 0))
    log = RunLog(out_dir / "log.jsonl", start_step if resume_from is not None else None)
    held = " + ".join(f"{len(task.evals[n])} {n}-phrasing" for n in EVAL_SETS if task.evals.get(n))
    print(f"rl: {model.num_params():,} params from {init_path}; task {s.task} "
          f"({len(task.train)} train / {held} held-out), reward {s.reward}, "
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
    changes = report(task, before, last, s.eval_samples)
    log({"step": step, "summary": True, "sets": changes, "verdict": [c["verdict"] for c in changes]})
    log.close()
    print(f"rl done: {time.monotonic() - t_start:.0f}s; checkpoint {path}; held-out pass@1 before -> after "
          f"(standard errors over problems):", flush=True)
    for c in changes:
        print(f"  {c['verdict']}\n    {c['detail']}", flush=True)
    return {"before": before, "after": last, "changes": changes, "out_dir": str(out_dir), "checkpoint": str(path)}


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
