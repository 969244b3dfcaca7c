"""`make demo`: the whole crawl-to-chat path on one pipeline, with a summary at the end.

sample crawl -> extract -> filter -> dedup -> tokenizer -> tokenize -> stats
-> pretrain -> SFT -> RL -> a one-shot chat answer from the final model -> a question answered
through a search of the corpus's index and one "I don't know" -> the report card
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
#: held-out and unanswerable questions the demo's search evaluation asks (~15 s on 2 cores)
EVAL_QUESTIONS = (200, 100)
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


def _chat_capture(args: list[str]) -> tuple[int, str]:
    """``train chat ARGS``: its output shown as it would be, and returned."""
    print(f"\n$ train {' '.join(args)}", flush=True)
    r = subprocess.run([sys.executable, "-m", "train.cli", *args], stdout=subprocess.PIPE, text=True)
    print(r.stdout, end="", flush=True)
    return r.returncode, r.stdout


def read_search_reply(stdout: str) -> dict:
    """The query, hit URLs and answer of a ``train chat --prompt`` reply (its [search]/[hit] lines)."""
    lines = stdout.splitlines()
    query = next((ln[len("[search] "):] for ln in lines if ln.startswith("[search] ")), None)
    hits = [ln[ln.rfind("<") + 1:-1] if ln.endswith(">") else ln[len("[hit] "):]
            for ln in lines if ln.startswith("[hit] ")]
    answer = " ".join(ln.strip() for ln in lines if ln.strip() and not ln.startswith(("[search] ", "[hit] ")))
    return {"query": query, "hits": hits, "answer": answer}


def search_demo(config: dict, pipeline: str, overrides: list[str], summary: list) -> list[str]:
    """One held-out question about the corpus and one about nothing in it, asked through
    ``train chat`` with the run's index: the summary shows the query, the hit and the answer.
    Only when the SFT mix taught searching (``train.sft.builtin.search``) and the sample's
    truth.json is there; the questions come from the eval split, never asked in SFT."""
    builtin = ((config.get("train") or {}).get("sft") or {}).get("builtin") or {}
    sample = config.get("sample") if isinstance(config.get("sample"), dict) else {}
    truth_path = Path(sample.get("dir") or Path(config["output"]) / "crawl") / "truth.json"
    if not (builtin.get("mix") or {}).get("search") or not truth_path.exists():
        return []
    block = builtin.get("search") if isinstance(builtin.get("search"), dict) else {}
    langs = block.get("langs") or ["en"]
    pick = subprocess.run([sys.executable, "-m", "train.search_data", str(truth_path),
                           "--eval-percent", str(block.get("eval_percent", 30)),
                           "--langs", langs if langs == "all" else ",".join(langs)],
                          stdout=subprocess.PIPE, text=True)
    if pick.returncode != 0:
        return [f"search: picking the questions exited with status {pick.returncode}"]
    questions = [(q["question"], q["answer"]) for q in json.loads(pick.stdout)]
    out = []
    t0 = time.monotonic()
    for q, gold in questions:
        rc, stdout = _chat_capture(["chat", pipeline, "--prompt", q, "--temperature", "0", *overrides])
        if rc != 0:
            out.append(f"search: train chat exited with status {rc} on {q!r}")
            continue
        r = read_search_reply(stdout)
        out.append(f"search: Q {q!r}" + (f" (truth: {gold})" if gold else " (in no document)"))
        out.append(f"        query {r['query']!r} -> hit {r['hits'][0] if r['hits'] else '(none)'}"
                   if r["query"] is not None else "        (no search)")
        out.append(f"        answer {r['answer']!r}")
    # the figures behind those two answers, for the summary and the report card's Search section
    ev = subprocess.run([sys.executable, "-m", "train.search_eval", pipeline, "--truth", str(truth_path),
                         "--questions", str(EVAL_QUESTIONS[0]), "--unanswerable", str(EVAL_QUESTIONS[1]),
                         "--eval-percent", str(block.get("eval_percent", 30)),
                         "--langs", langs if langs == "all" else ",".join(langs), *overrides],
                        stdout=subprocess.PIPE, text=True)
    if ev.returncode != 0:
        out.append(f"search: the evaluation exited with status {ev.returncode}")
    out += [f"search: {line}" for line in ev.stdout.splitlines()
            if line.startswith(("accuracy with search", "unanswerable:"))]
    summary.append(("search", time.monotonic() - t0, "two questions, then "
                    f"{EVAL_QUESTIONS[0]} held-out + {EVAL_QUESTIONS[1]} unanswerable ones"))
    return out


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
    search_lines = search_demo(config, args.pipeline, overrides, summary)
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
    for line in search_lines:
        print(f"  {line}")
    report = Path(config["output"]) / "report" / "index.html"
    if report.exists():
        print(f"  report: {report}")
    print(f"  report card: {card / 'report.html'} (and report.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
