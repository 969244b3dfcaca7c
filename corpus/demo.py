"""`make demo`: the whole crawl-to-chat path on one pipeline, with a summary at the end.

sample crawl -> extract -> filter -> dedup -> tokenizer -> tokenize -> stats
-> pretrain -> SFT -> RL -> a one-shot chat answer from the final model -> the report card
(`train report`: report.md + report.html with plots, in <output>/card).
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

from .cli import DEFAULT_PIPELINE, pipeline_path, run_stages
from .core import config as cfg
from .core import registry

TRAIN_STEPS = ["pretrain", "sft", "rl"]
DEFAULT_PROMPT = "Hello! Who are you?"


def _run_train(args: list[str]) -> int:
    cmd = [sys.executable, "-m", "train.cli", *args]
    print(f"\n$ train {' '.join(args)}", flush=True)
    return subprocess.call(cmd)


def rl_verdicts(log: Path) -> list[str]:
    """The RL run's held-out pass@1 before -> after, per eval set, with standard errors and
    whether the change is within noise (the last ``summary`` record of its log.jsonl)."""
    if not log.exists():
        return []
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    return next((r.get("verdict", []) for r in reversed(records) if r.get("summary")), [])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The demo's arguments; the pipeline resolved as `corpus run` does, so the built-in
    sample (the default) is found from any folder."""
    parser = argparse.ArgumentParser(prog="python -m corpus.demo", description=__doc__)
    parser.add_argument("pipeline", nargs="?", default=DEFAULT_PIPELINE,
                        help=f"pipeline file or built-in name (default: {DEFAULT_PIPELINE})")
    parser.add_argument("--set", action="append", dest="overrides", default=[])
    args = parser.parse_args(argv)
    args.pipeline = pipeline_path(args.pipeline)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    config = cfg.load_pipeline(args.pipeline, args.overrides)
    summary: list[tuple[str, float, str]] = []
    t_all = time.monotonic()

    t0 = time.monotonic()
    manifests = run_stages(config, registry.names())
    for m in manifests:
        c = m["counts"]
        summary.append((m["stage"], m["duration_s"],
                        f"{c['in']:,} in -> {c['kept']:,} kept  ({m.get('output_dir', '')})"))
    corpus_s = time.monotonic() - t0

    overrides = [x for o in args.overrides for x in ("--set", o)]
    notes: list[str] = []
    for name in TRAIN_STEPS:
        t0 = time.monotonic()
        rc = _run_train([name, args.pipeline, *overrides])
        if rc != 0:
            print(f"error: train {name} exited with status {rc}", file=sys.stderr)
            return rc
        out = Path(config["output"]) / "train" / name
        summary.append((name, time.monotonic() - t0, f"checkpoints in {out}"))
        if name == "rl":
            notes = rl_verdicts(out / "log.jsonl")

    prompt = (config.get("train", {}).get("chat") or {}).get("demo_prompt", DEFAULT_PROMPT)
    t0 = time.monotonic()
    rc = _run_train(["chat", args.pipeline, "--prompt", prompt, *overrides])
    summary.append(("chat", time.monotonic() - t0, f"one-shot answer to {prompt!r}"))
    if rc != 0:
        return rc
    # HOOK (issue 15, search): once the `corpus index` stage is on main and the sample pipeline's
    # SFT mix has the `search` kind (train.sft.builtin.search: {truth, index}), ask here through
    # `train chat PIPELINE --prompt Q` one eval-split fact question (train.search_data.facts(truth,
    # "eval")[0]["question"]: prints the [search] query, the [hit] lines and the answer) and one
    # truth["unanswerable"] question of the eval split (expected: "I don't know"), and add both
    # to the summary.
    card = Path(config["output"]) / "card"
    rc = _run_train(["report", args.pipeline, *overrides, "--out", str(card)])
    if rc != 0:
        print(f"error: train report exited with status {rc}", file=sys.stderr)
        return rc

    print("\n=== demo summary ===")
    for name, seconds, what in summary:
        print(f"  {name:<10} {seconds:7.1f}s  {what}")
    print(f"  {'total':<10} {time.monotonic() - t_all:7.1f}s  (corpus stages {corpus_s:.1f}s)")
    for note in notes:
        print(f"  rl held-out {note}")
    report = Path(config["output"]) / "report" / "index.html"
    if report.exists():
        print(f"  report: {report}")
    print(f"  report card: {card / 'report.html'} (and report.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
