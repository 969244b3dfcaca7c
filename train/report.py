"""`train report OUT|PIPELINE.yaml [--set KEY=VALUE] [--out DIR]`: the run's report card, nanochat-style.

Gathers what the run wrote into one page, ``report.md`` and ``report.html`` (same content)
with PNG plots beside them, in ``DIR`` (default ``OUT/card``): the corpus waterfall (from the
stage manifests), tokenizer bytes/token, the pretraining loss curve with the exact val
loss/bits per byte, tokens seen and the share of document tokens trained on, SFT val loss
and sample replies, RL held-out pass@1/pass@k before and after on both eval sets with their
standard errors, probe counts, wall times per phase, versions and the config.

It only reads: manifests and logs as JSON (train/ never imports corpus/), checkpoints'
``state.json``. A phase that did not run, or a log from older code without a figure, shows
"not available" and what is missing; it never stops the card. OUT that holds no run at all
is a bad input (exit 3).
"""
from __future__ import annotations

import argparse
import html
import json
import math
import os
import platform
import re
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from train import config as train_config
from contract.layout import MANIFEST

CORPUS_ORDER = ("extract", "filter", "dedup", "tokenizer", "tokenize", "stats")
PHASES = ("pretrain", "sft", "rl")
EVAL_SETS = {"trained": ("", "new problems, trained phrasings"),
             "unseen": ("unseen_", "new problems, unseen phrasings")}   # as train/rl.py logs them
NA = "not available"


# -- reading ---------------------------------------------------------------------------------------

def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_log(path: Path) -> tuple[list[dict], int]:
    """(records, unreadable lines): a torn last line of a killed run is skipped, not fatal."""
    records, bad = [], 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(rec, dict):
            records.append(rec)
        else:
            bad += 1
    return records, bad


@dataclass
class Run:
    """What one output folder holds: corpus manifests by stage, and per training phase its
    log records and its latest checkpoint's meta."""
    out: Path
    manifests: dict = field(default_factory=dict)
    logs: dict = field(default_factory=dict)
    bad_lines: dict = field(default_factory=dict)
    metas: dict = field(default_factory=dict)
    run_dirs: dict = field(default_factory=dict)
    pipeline: dict | None = None
    pipeline_from: str = ""


def latest_meta(run_dir: Path) -> dict:
    pointer = run_dir / "latest"
    name = pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else None
    steps = sorted(p for p in run_dir.glob("step-*") if p.is_dir()) if run_dir.is_dir() else []
    ckpt = run_dir / name if name else (steps[-1] if steps else None)
    state = read_json(ckpt / "state.json") if ckpt else None
    return (state or {}).get("meta") or {}


def load_run(target: str, overrides: list[str] | None = None) -> Run:
    """OUT, or a pipeline file (with ``--set`` overrides) standing for its ``output`` and the
    phases' ``out_dir``."""
    path = Path(target)
    config = None
    if path.is_file() and path.suffix in (".yaml", ".yml", ".json"):
        config = train_config.load(str(path), overrides)
        path = Path(config["output"])
    if not path.is_dir():
        raise FileNotFoundError(f"no pipeline output folder at {path}")
    run = Run(out=path, pipeline=config)
    for mf in sorted(path.glob(f"*/{MANIFEST}")):
        m = read_json(mf)
        if m and isinstance(m.get("stage"), str):
            run.manifests[m["stage"]] = {**m, "_dir": mf.parent.name}
    for phase in PHASES:
        d = train_config.output_dir(config, phase) if config else path / "train" / phase
        run.run_dirs[phase] = d
        if (d / "log.jsonl").exists():
            run.logs[phase], run.bad_lines[phase] = read_log(d / "log.jsonl")
        run.metas[phase] = latest_meta(d)
    if run.metas["pretrain"].get("pipeline"):   # what the run read beats today's file
        run.pipeline, run.pipeline_from = run.metas["pretrain"]["pipeline"], "as pretraining read it"
    elif config is not None:
        run.pipeline_from = f"from {target} today: the run recorded none"
    if not run.manifests and not run.logs:
        raise FileNotFoundError(f"{path} holds no stage manifest and no training log: not a pipeline output "
                                f"folder (give OUT, e.g. out/sample, or the pipeline file)")
    return run


# -- the page, as blocks both renderers share ---------------------------------------------------------

@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def na(self, what: str) -> None:
        self.blocks.append(("na", f"{NA}: {what}"))

    def table(self, headers: list[str], rows: list[list]) -> None:
        self.blocks.append(("table", headers, [[str(c) for c in r] for r in rows]))

    def img(self, name: str | None, caption: str) -> None:
        if name:
            self.blocks.append(("img", name, caption))

    def code(self, text: str, summary: str) -> None:
        self.blocks.append(("code", text, summary))


def n(x, fmt: str = ",") -> str:
    """A number formatted, or "not available" when the log does not hold it."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or (isinstance(x, float) and not math.isfinite(x)):
        return NA
    return format(x, fmt)


def pct(x) -> str:
    return NA if n(x) == NA else f"{100 * x:.1f}%"


def total(v) -> int:
    """A manifest count: an int, or a dict of reasons -> count."""
    if isinstance(v, dict):
        return sum(c for c in v.values() if isinstance(c, (int, float)))
    return v if isinstance(v, (int, float)) else 0


def duration(run: Run, phase: str) -> float | None:
    """Seconds a phase ran, from its own records (setup and checkpoint loading excluded where
    the log does not count them)."""
    recs = run.logs.get(phase) or []
    if phase == "pretrain":
        final = next((r for r in reversed(recs) if r.get("final")), None)
        if final and isinstance(final.get("train_time"), (int, float)):
            return final["train_time"]
        dts = [r["dt"] for r in recs if isinstance(r.get("dt"), (int, float))]
        return sum(dts) if dts else None
    if phase == "sft":
        times = [r["elapsed"] for r in recs if isinstance(r.get("elapsed"), (int, float))]
        return max(times) if times else None
    if phase == "rl":
        parts = [r.get("step_s") if "step_s" in r else r.get("seconds") if r.get("eval") else None for r in recs]
        parts = [x for x in parts if isinstance(x, (int, float))]
        return sum(parts) if parts else None
    return None


# -- plots (matplotlib, Agg, only when a card is drawn) ----------------------------------------------

def _plt():
    import matplotlib  # heavy: only the report draws
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # heavy: only the report draws
    return plt


def save_plot(fig, card: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(card / name, dpi=100)
    _plt().close(fig)
    return name


def plot_waterfall(card: Path, bars: list[tuple[str, int, int, int]]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    labels = [b[0] for b in bars]
    kept = [b[1] for b in bars]
    rej = [b[2] for b in bars]
    err = [b[3] for b in bars]
    ax.bar(labels, kept, color="#3b75af", label="kept")
    ax.bar(labels, rej, bottom=kept, color="#f2a541", label="rejected")
    ax.bar(labels, err, bottom=[k + r for k, r in zip(kept, rej)], color="#c0392b", label="errors")
    for i, k in enumerate(kept):
        ax.annotate(f"{k:,}", (i, k), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("documents / records")
    ax.set_title("Corpus waterfall: what each stage kept of what it read")
    ax.legend(fontsize=8)
    return save_plot(fig, card, "corpus_waterfall.png")


def plot_curve(card: Path, name: str, title: str, train: list[tuple], val: list[tuple],
               baseline: float | None = None) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    if train:
        ax.plot(*zip(*train), color="#3b75af", lw=1.2, label="train loss")
    if val:
        ax.plot(*zip(*val), "o-", color="#c0392b", label="val loss")
    if baseline is not None:
        ax.axhline(baseline, ls="--", color="gray", label="unigram baseline (val)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_plot(fig, card, name)


def plot_rl(card: Path, bars: list[tuple[str, float, float | None, float, float | None]]) -> str:
    """bars: (label, before, its se, after, its se); error bars are one standard error."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    xs = range(len(bars))
    w = 0.38
    def errs(i):   # NaN draws no bar: an older log without standard errors shows none, not a zero one
        return [b[i] if isinstance(b[i], (int, float)) else float("nan") for b in bars]
    ax.bar([x - w / 2 for x in xs], [b[1] for b in bars], w, yerr=errs(2), capsize=4, color="#9bbbd9",
           label="before RL")
    ax.bar([x + w / 2 for x in xs], [b[3] for b in bars], w, yerr=errs(4), capsize=4, color="#3b75af",
           label="after RL")
    ax.set_xticks(list(xs), [b[0] for b in bars], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share solved")
    ax.set_title("RL held-out: before vs after (error bars: 1 standard error over problems)")
    ax.legend(fontsize=8)
    return save_plot(fig, card, "rl_pass.png")


def plot_times(card: Path, rows: list[tuple[str, float]]) -> str:
    plt = _plt()
    # room for the title and the axis label however few bars (one bar alone: too short to lay out)
    fig, ax = plt.subplots(figsize=(8, max(1.8, 0.9 + 0.32 * len(rows))))
    ax.barh([r[0] for r in rows][::-1], [r[1] for r in rows][::-1], color="#3b75af")
    ax.set_xlabel("seconds")
    ax.set_title("Wall time per phase")
    return save_plot(fig, card, "wall_times.png")


# -- the sections --------------------------------------------------------------------------------------

def corpus_section(run: Run, card: Path, headline: list) -> Section:
    s = Section("Corpus")
    if not run.manifests:
        s.na(f"no stage manifest (*/{MANIFEST}) in {run.out}")
        return s
    rows, bars = [], []
    for stage in sorted(run.manifests, key=lambda x: CORPUS_ORDER.index(x) if x in CORPUS_ORDER else 99):
        m = run.manifests[stage]
        c = m.get("counts") or {}
        rej = c.get("rejected")
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(rej.items(), key=lambda kv: -kv[1])) \
            if isinstance(rej, dict) and rej else ""
        rows.append([stage, m["_dir"] + "/", n(c.get("in")), n(c.get("kept")), n(total(rej)),
                     reasons or "-", n(total(c.get("errors"))), n(len(m.get("faults") or [])),
                     n(m.get("duration_s"), ".1f")])
        if stage in ("extract", "filter", "dedup", "tokenize") and "kept" in c:
            bars.append((stage, c.get("kept", 0), total(rej), total(c.get("errors"))))
    s.table(["stage", "folder", "in", "kept", "rejected", "why rejected", "errors", "faults", "seconds"], rows)
    if bars:
        s.img(plot_waterfall(card, bars), "corpus waterfall")
    ex, tk = run.manifests.get("extract"), run.manifests.get("tokenize")
    if ex:
        headline.append(("WARC records read", n((ex.get("counts") or {}).get("in"))))
    if tk:
        headline.append(("documents tokenized", n((tk.get("counts") or {}).get("kept"))))
    stats = run.manifests.get("stats")
    if stats and (run.out / stats["_dir"] / "index.html").exists():
        rel = os.path.relpath(run.out / stats["_dir"] / "index.html", card)
        s.p(f"The corpus report, with more plots (lengths, languages, shards): {rel}")
    return s


def tokenizer_section(run: Run, headline: list) -> Section:
    s = Section("Tokenizer")
    tz, tk = run.manifests.get("tokenizer"), run.manifests.get("tokenize")
    if not tz and not tk:
        s.na("no tokenizer or tokenize manifest")
        return s
    rows = []
    info = (tz or {}).get("tokenizer") or (tk or {}).get("tokenizer") or {}
    rows.append(["vocabulary", n(info.get("vocab_size"))])
    if tz:
        rows.append(["trained on", f"{n(info.get('training_documents'))} documents, "
                                   f"{n(info.get('training_chars'))} characters"])
    splits = (tk or {}).get("splits") or {}
    tokens = sum(v.get("tokens", 0) for v in splits.values() if isinstance(v, dict)) or None
    text = (tk or {}).get("text") or {}
    bpt = text["bytes"] / tokens if tokens and isinstance(text.get("bytes"), (int, float)) else None
    cpt = text["chars"] / tokens if tokens and isinstance(text.get("chars"), (int, float)) else None
    rows.append(["bytes / token (all shards, UTF-8)", n(bpt, ".3f")])
    rows.append(["characters / token", n(cpt, ".3f")])
    for name, sp in splits.items():
        if isinstance(sp, dict):
            rows.append([f"{name} split", f"{n(sp.get('documents'))} documents, {n(sp.get('tokens'))} tokens"])
    s.table(["", "value"], rows)
    headline.append(("tokens in the shards", n(tokens)))
    headline.append(("tokenizer bytes/token", n(bpt, ".3f")))
    return s


def pretrain_section(run: Run, card: Path, headline: list) -> Section:
    s = Section("Pretraining")
    recs = run.logs.get("pretrain")
    if not recs:
        s.na(f"no pretraining log at {run.run_dirs['pretrain'] / 'log.jsonl'}")
        return s
    steps = [(r["step"], r["loss"]) for r in recs if "loss" in r and "step" in r and not r.get("final")]
    evals = [(r["step"], r["val_loss"]) for r in recs if "val_loss" in r and not r.get("final")]
    final = next((r for r in reversed(recs) if r.get("final")), None)
    meta = run.metas.get("pretrain") or {}
    mc, tc = meta.get("model_config") or {}, meta.get("train_config") or {}
    if final is None:
        s.na("the log has no final record (the run was stopped before its end); figures from its last records")
        final = {"step": steps[-1][0] if steps else None,
                 "tokens": next((r["tokens"] for r in reversed(recs) if "tokens" in r), None),
                 **next((r for r in reversed(recs) if "val_loss" in r), {})}
    split = final.get("val_split_tokens")
    on = (f"{n(final.get('val_tokens'))} val tokens"
          + (" (all of val)" if split and split == final.get("val_tokens")
             else f" of {n(split)}" if split else " (the val split's size is not in this log)"))
    uni_loss, uni_bpb = final.get("unigram_loss"), final.get("unigram_bpb")
    tt = duration(run, "pretrain")
    rows = [["model", f"{mc.get('n_layer', '?')} layers, {mc.get('n_embd', '?')} wide, {mc.get('n_head', '?')} heads, "
                      f"vocab {mc.get('vocab_size', '?')}, seq {mc.get('seq_len', '?')}" if mc else NA],
            ["steps", f"{n(final.get('step'))} of max_steps {n(tc.get('max_steps'))}"],
            ["tokens seen", n(final.get("tokens"))],
            ["training time", f"{n(tt, '.1f')} s" if tt else NA],
            ["throughput", f"{final['tokens'] / tt:,.0f} tokens/s" if tt and final.get("tokens") else NA],
            ["val loss (exact, nats/token)", f"{n(final.get('val_loss'), '.4f')} on {on}"],
            ["val bits/byte (exact)", n(final.get("val_bpb"), ".4f")],
            ["unigram baseline, same tokens", f"{n(uni_loss, '.4f')} nats/token, {n(uni_bpb, '.4f')} bits/byte"],
            ["share of document tokens trained on", pct(final.get("trained_token_share"))],
            ["share of document tokens cropped", pct(final.get("cropped_share"))]]
    s.table(["", "value"], rows)
    if steps:
        s.img(plot_curve(card, "pretrain_loss.png", "Pretraining loss", steps, evals,
                         uni_loss if isinstance(uni_loss, (int, float)) else None), "pretraining loss curve")
    if run.bad_lines.get("pretrain"):
        s.p(f"{run.bad_lines['pretrain']} unreadable line(s) in the log were skipped.")
    headline += [("pretrain val bits/byte", n(final.get("val_bpb"), ".4f")),
                 ("pretrain tokens seen", n(final.get("tokens"))),
                 ("share of tokens trained on", pct(final.get("trained_token_share")))]
    return s


def sft_section(run: Run, card: Path, headline: list) -> Section:
    s = Section("Supervised fine-tuning")
    recs = run.logs.get("sft")
    if not recs:
        s.na(f"no SFT log at {run.run_dirs['sft'] / 'log.jsonl'}")
        return s
    data = next((r for r in reversed(recs) if r.get("event") == "data"), {})
    done = next((r for r in reversed(recs) if r.get("event") == "done"), None)
    train = [(r["step"], r["loss"]) for r in recs if r.get("event") == "train" and "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in recs if r.get("event") == "val" and "val_loss" in r]
    if done and isinstance(done.get("val_loss"), (int, float)):
        val.append((done["step"], done["val_loss"]))
    tr, va = data.get("train") or {}, data.get("val") or {}
    rows = [["conversations", f"{n(tr.get('kept'))} train, {n(va.get('kept'))} val"],
            ["sources", ", ".join(f"{k} {v:,}" for k, v in (data.get("sources") or {}).items()) or NA],
            ["steps", f"{n(done.get('step'))} (stopped by {done.get('stopped_by', '?')})" if done else NA],
            ["val loss (nats/token, final)", n(done.get("val_loss"), ".4f") if done else NA],
            ["skipped batches", n(done.get("skipped_batches")) if done else NA]]
    s.table(["", "value"], rows)
    if done is None:
        s.na("the log has no 'done' record: the run did not finish")
    if train:
        s.img(plot_curve(card, "sft_loss.png", "SFT loss (supervised tokens)", train, val), "SFT loss curve")
    samples = [r for r in recs if r.get("event") == "sample"]
    if samples:
        s.p("Sample replies (greedy, from the final SFT model):")
        s.table(["prompt", "reply", "ended by itself"],
                [[r.get("prompt", ""), r.get("reply", ""), "yes" if r.get("stopped") else "no (token limit)"]
                 for r in samples])
    else:
        s.na("no sample replies in the SFT log")
    headline.append(("SFT val loss", n(done.get("val_loss"), ".4f") if done else NA))
    return s


def se_fmt(ev: dict, key: str) -> str:
    v, se = ev.get(key), ev.get(key + "_se")
    if n(v) == NA:
        return NA
    return f"{v:.3f} ± {se:.3f}" if n(se) != NA else f"{v:.3f} (se {NA})"


def rl_section(run: Run, card: Path, headline: list) -> Section:
    s = Section("Reinforcement learning")
    recs = run.logs.get("rl")
    if not recs:
        s.na(f"no RL log at {run.run_dirs['rl'] / 'log.jsonl'}")
        return s
    evals = [r for r in recs if r.get("eval")]
    steps = [r for r in recs if "reward_mean" in r and not r.get("eval")]
    cfg = (run.metas.get("rl") or {}).get("train") or {}
    s.p(f"task {cfg.get('task', '?')}, reward {cfg.get('reward', '?')}, {n(len(steps))} steps of "
        f"{cfg.get('prompts_per_step', '?')} prompts x {cfg.get('group_size', '?')} samples; "
        f"held-out figures use {cfg.get('eval_samples', '?')} samples per problem; ± is one standard "
        f"error over problems.")
    if len(evals) < 2:
        s.na("fewer than two held-out evaluations in the log: no before/after")
        return s
    before, after = evals[0], evals[-1]
    ks = sorted({int(m.group(1)) for key in before for m in [re.fullmatch(r"pass@(\d+)", key)] if m} - {1})
    rows, bars = [], []
    for name, (prefix, label) in EVAL_SETS.items():
        if prefix + "pass@1" not in before and prefix + "pass@1" not in after:
            rows.append([label, "pass@1", NA, NA, "this log has no such eval set (older code)"])
            headline.append((f"RL pass@1, {label}", NA))
            continue
        for metric in ["pass@1", *(f"pass@{k}" for k in ks), "greedy"]:
            key = prefix + metric
            b, a = before.get(key), after.get(key)
            change = f"{100 * (a - b):+.1f} points" if n(a) != NA and n(b) != NA else NA
            rows.append([label, metric, se_fmt(before, key), se_fmt(after, key), change])
            if metric in ("pass@1", f"pass@{ks[-1]}" if ks else None) and n(a) != NA and n(b) != NA:
                bars.append((f"{metric}\n{name}", b, before.get(key + "_se"), a, after.get(key + "_se")))
        headline.append((f"RL pass@1, {label}", f"{se_fmt(before, prefix + 'pass@1')} -> "
                                                 f"{se_fmt(after, prefix + 'pass@1')}"))
    s.table(["held-out set", "metric", f"before (step {before.get('step', '?')})",
             f"after (step {after.get('step', '?')})", "change"], rows)
    if bars:
        s.img(plot_rl(card, bars), "RL held-out before vs after")
    summary = next((r for r in reversed(recs) if r.get("summary")), None)
    verdicts = (summary or {}).get("verdict") or []
    for v in verdicts:
        s.p(f"Verdict: {v}")
    if not verdicts:
        s.na("no summary verdict in the RL log (is the change beyond noise?)")
    return s


def probe_section(run: Run, headline: list) -> Section:
    s = Section("Probe (where the model says \"I don't know\")")
    path = run.run_dirs["pretrain"].parent / "probe" / "probe.jsonl"
    recs, bad = read_log(path) if path.exists() else ([], 0)
    if not recs:
        s.na(f"no probe output at {path} (`train probe` was not run)")
        headline.append(("probe questions", NA))
        return s
    kept = sum(r.get("decision") == "keep" for r in recs)
    accs = [r["accuracy"] for r in recs if isinstance(r.get("accuracy"), (int, float))]
    s.table(["", "value"], [["questions probed", n(len(recs))], ["answers kept (model right often enough)", n(kept)],
                            ["refusals written", n(len(recs) - kept)],
                            ["mean accuracy", n(sum(accs) / len(accs), ".3f") if accs else NA]])
    headline.append(("probe: questions / refusals", f"{len(recs):,} / {len(recs) - kept:,}"))
    return s


def search_section(run: Run, headline: list) -> Section | None:
    """bench/search.py's figures, only when it was run (an optional benchmark, not a phase)."""
    path = run.run_dirs["pretrain"].parent / "search" / "search_eval.json"
    res = read_json(path) if path.exists() else None
    if not res:
        return None
    s = Section("Search (answers looked up in the corpus)")
    f = lambda d: f"{100 * d['share']:.1f}% ± {100 * d['se']:.1f} (n={d['n']})"   # noqa: E731
    rows = [["exact answers, with search", f(res["accuracy_search"])],
            ["exact answers, --no-tools", f(res["accuracy_no_tools"])],
            ["unanswerable: \"I don't know\"", f(res["dont_know"])],
            ["unanswerable: made-up answer", f(res["made_up"])]]
    for key, label in (("searched", "held-out questions searched"),
                       ("answer_in_result", "gold answer inside the inserted hit")):
        if res.get(key):     # figures of bench/search.py since it reports them
            rows.append([label, f(res[key])])
    s.table(["", "value"], rows)
    s.p("Held-out questions come from documents no SFT question came from; ± is one standard error. "
        "Targets: with search >= 50% and >= 5x --no-tools; made-up <= 20%.")
    headline.append(("search accuracy (with / without)", f"{f(res['accuracy_search'])} / "
                                                         f"{f(res['accuracy_no_tools'])}"))
    return s


def times_section(run: Run, card: Path) -> Section:
    s = Section("Wall time per phase")
    rows = [(f"corpus {k}", m["duration_s"]) for k, m in sorted(
        run.manifests.items(), key=lambda kv: CORPUS_ORDER.index(kv[0]) if kv[0] in CORPUS_ORDER else 99)
        if isinstance(m.get("duration_s"), (int, float))]
    missing = []
    for phase in PHASES:
        t = duration(run, phase)
        (rows.append((phase, t)) if t is not None else missing.append(phase))
    if not rows:
        s.na("no durations in the manifests or logs")
        return s
    s.table(["phase", "seconds"], [[k, f"{v:.1f}"] for k, v in rows] + [["total", f"{sum(v for _, v in rows):.1f}"]])
    s.p("Training phases count their own steps and evaluations (not start-up or model loading).")
    if missing:
        s.na(f"no duration for {', '.join(missing)}")
    s.img(plot_times(card, rows), "wall time per phase")
    return s


def versions_section(run: Run) -> Section:
    s = Section("Versions")
    seen: dict[str, set] = {}
    for m in run.manifests.values():
        for k, v in (m.get("versions") or {}).items():
            seen.setdefault(k, set()).add(str(v))
    rows = [[k, ", ".join(sorted(v)), "corpus stages"] for k, v in seen.items()]
    for pkg in ("crawl2tokens", "torch", "matplotlib", "numpy"):
        try:
            rows.append([pkg, metadata.version(pkg), "this report"])
        except metadata.PackageNotFoundError:
            rows.append([pkg, NA, "this report"])
    rows.append(["python", platform.python_version(), "this report"])
    s.table(["package", "version", "seen by"], rows)
    return s


def config_section(run: Run) -> Section:
    s = Section("Config")
    if run.pipeline:
        s.code(json.dumps(run.pipeline, indent=2, default=str), f"pipeline ({run.pipeline_from})")
    else:
        s.na("the pipeline config (neither given nor in the pretraining checkpoint)")
    stages = {k: m.get("config") for k, m in run.manifests.items() if m.get("config") is not None}
    if stages:
        s.code(json.dumps(stages, indent=2, default=str), "corpus stages, every setting (from the manifests)")
    for phase in PHASES:
        meta = run.metas.get(phase) or {}
        settings = meta.get("train") if phase == "rl" else meta.get("train_config")
        if settings:
            s.code(json.dumps(settings, indent=2, default=str), f"train.{phase}, every setting (from its checkpoint)")
        else:
            s.na(f"train.{phase} settings (no checkpoint in {run.run_dirs[phase]})")
    return s


# -- rendering ----------------------------------------------------------------------------------------

def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>") or " "


def to_markdown(title: str, sections: list[Section]) -> str:
    out = [f"# {title}", ""]
    for sec in sections:
        out += [f"## {sec.title}", ""]
        for b in sec.blocks:
            if b[0] == "p":
                out += [b[1], ""]
            elif b[0] == "na":
                out += [f"*{b[1]}*", ""]
            elif b[0] == "table":
                out.append("| " + " | ".join(_md_cell(h) for h in b[1]) + " |")
                out.append("|" + "---|" * len(b[1]))
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b[2]]
                out.append("")
            elif b[0] == "img":
                out += [f"![{b[2]}]({b[1]})", ""]
            elif b[0] == "code":
                out += [f"{b[2]}:", "", "```json", b[1], "```", ""]
    return "\n".join(out)


CSS = ("body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}"
       "table{border-collapse:collapse;margin:.8em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;"
       "vertical-align:top;white-space:pre-wrap}th{background:#f4f4f4}img{max-width:100%;border:1px solid #eee}"
       ".na{color:#a33;font-style:italic}pre{background:#f7f7f7;padding:.6em;font-size:12px;overflow:auto}")


def to_html(title: str, sections: list[Section]) -> str:
    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
           f"<style>{CSS}</style></head><body><h1>{e(title)}</h1>"]
    for sec in sections:
        out.append(f"<h2>{e(sec.title)}</h2>")
        for b in sec.blocks:
            if b[0] == "p":
                out.append(f"<p>{e(b[1])}</p>")
            elif b[0] == "na":
                out.append(f"<p class='na'>{e(b[1])}</p>")
            elif b[0] == "table":
                out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in b[1]) + "</tr>")
                out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b[2]]
                out.append("</table>")
            elif b[0] == "img":
                out.append(f"<p><img src='{e(b[1])}' alt='{e(b[2])}'></p>")
            elif b[0] == "code":
                out.append(f"<details><summary>{e(b[2])}</summary><pre>{e(b[1])}</pre></details>")
    out.append("</body></html>")
    return "\n".join(out)


def guarded(make, title: str) -> Section:
    """A section that could not be read (a log of an unexpected shape) says so; the rest stands."""
    try:
        return make()
    except Exception as err:  # noqa: BLE001 - one broken piece must not cost the whole card
        s = Section(title)
        s.na(f"could not read this part ({type(err).__name__}: {err})")
        return s


def write_card(target: str, card: Path | None = None, overrides: list[str] | None = None) -> tuple[Path, Path]:
    run = load_run(target, overrides)
    card = Path(card) if card else run.out / "card"
    card.mkdir(parents=True, exist_ok=True)
    headline: list[tuple[str, str]] = []
    sections = [guarded(lambda: corpus_section(run, card, headline), "Corpus"),
                guarded(lambda: tokenizer_section(run, headline), "Tokenizer"),
                guarded(lambda: pretrain_section(run, card, headline), "Pretraining"),
                guarded(lambda: sft_section(run, card, headline), "Supervised fine-tuning"),
                guarded(lambda: rl_section(run, card, headline), "Reinforcement learning"),
                guarded(lambda: probe_section(run, headline), "Probe"),
                guarded(lambda: search_section(run, headline), "Search"),
                guarded(lambda: times_section(run, card), "Wall time per phase"),
                guarded(lambda: versions_section(run), "Versions"),
                guarded(lambda: config_section(run), "Config")]
    sections = [s for s in sections if s is not None]
    head = Section("Summary")
    head.p(f"Output folder {run.out}; card written {time.strftime('%Y-%m-%d %H:%M:%S %Z')}.")
    head.table(["figure", "value"], [list(h) for h in headline])
    sections.insert(0, head)
    title = f"crawl2tokens report card: {run.out.name or run.out}"
    md, page = card / "report.md", card / "report.html"
    md.write_text(to_markdown(title, sections), encoding="utf-8")
    page.write_text(to_html(title, sections), encoding="utf-8")
    return md, page


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="train report", description=__doc__.split("\n\n")[0])
    ap.add_argument("target", metavar="OUT|PIPELINE", help="pipeline output folder (e.g. out/sample) or its YAML")
    ap.add_argument("--out", help="where to write report.md, report.html and the plots (default OUT/card)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="with a pipeline file: override a setting, as the phases take it")
    args = ap.parse_args(argv)
    try:
        md, page = write_card(args.target, Path(args.out) if args.out else None, args.overrides)
    except train_config.ConfigError as err:
        print(f"train report: error: {err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"train report: error: {err}", file=sys.stderr)
        return 3
    print(f"report card: {page}\n             {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
