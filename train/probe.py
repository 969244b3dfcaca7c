"""`train probe`: find where the model's knowledge ends, and write SFT data that teaches it
to say "I don't know" exactly there.

    train probe PIPELINE.yaml|CKPT --questions qa.jsonl --out probe.jsonl
                [--samples 8] [--threshold 0.5] [--temperature 0.8] [--top-k 50]

``qa.jsonl`` holds one ``{"question": ..., "answer": ...}`` per line (``prompt`` is accepted
for ``question``). For every question the model samples ``--samples`` replies; a reply is
right when the known answer appears in it as whole words (case, punctuation and spacing
ignored), or, for a reply ending in an ``Answer: X`` line, when X is the answer. Where the share of right replies is below ``--threshold`` the written
conversation's assistant turn is a refusal; otherwise it keeps a right reply the model
gave itself (its own words, so fine-tuning on it changes nothing but confidence). Every
line of the output also records the question, known answer, accuracy and decision.
Add the output to ``train.sft.extra_data`` to mix it into SFT.

When a sampled reply searches (the model writes a search call), the query runs against the
corpus index and only the reply's own text is judged (train/tools.py; ``--index``, ``--no-tools``).

With a pipeline file the model is the newest of rl, sft, pretrain (as ``train chat``) and
settings may come from its ``train.probe`` block; ``--out`` defaults to
``<output>/train/probe/probe.jsonl``.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from collections import Counter
from pathlib import Path

from contract.jsonl import JsonlError, read_jsonl, write_jsonl
from train import common
from train import config as train_config
from train import tools
from train.chat import add_generation_args, add_tool_args, find_checkpoint, notice
from train.chat_format import decode_reply, render_prompt, stop_ids
from train.checkpoint import load_model
from train.sft_data import REFUSAL
from train.tokenizer import Tokenizer

# Every key, its kind and its constraint: train/config.py SCHEMAS["probe"].
DEFAULTS = {**train_config.defaults("probe"), "refusal": REFUSAL}
FLAGS = ("questions", "out", "samples", "threshold", "temperature", "top_k", "max_new_tokens", "seed", "device")


def normalize(text: str) -> str:
    text = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(text.split())


def is_right(reply: str, answer: str) -> bool:
    """The known answer occurs in the reply as whole words (after normalising both). A reply
    with a final ``Answer: X`` line (the arithmetic format) is judged by that line alone, so
    a right number in a wrong working does not count."""
    a = normalize(answer)
    finals = [ln for ln in reply.split("\n") if ln.strip().lower().startswith("answer:")]
    r = normalize(finals[-1].split(":", 1)[1]) if finals else normalize(reply)
    return bool(a) and (r == a if finals else f" {a} " in f" {r} ")


def load_questions(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"questions file not found: {path}")
    out = []
    for lineno, obj in read_jsonl(path, numbered=True):
        q, a = obj.get("question", obj.get("prompt")), obj.get("answer")
        if not isinstance(q, str) or not q.strip() or a is None or not str(a).strip():
            raise JsonlError(path, lineno, "needs a non-empty 'question' and 'answer'")
        out.append({"question": q, "answer": str(a)})
    if not out:
        raise common.InputError(f"{path}: no questions")
    return out


def probe(model, tokenizer, questions: list[dict], opts: dict, tool: tools.SearchTool | None = None) -> list[dict]:
    """One output record per question: ``messages`` (SFT-ready) plus what was measured;
    ``tool``: replies may search the corpus."""
    k = int(opts["samples"])
    if k < 1:
        raise ValueError("--samples must be at least 1")
    stops = stop_ids(tokenizer)
    system = opts.get("system")
    base = [{"role": "system", "content": system}] if system else []
    per_batch = max(1, int(opts["batch_size"]) // k)
    records = []
    for s in range(0, len(questions), per_batch):
        chunk = questions[s:s + per_batch]
        prompts = []
        for q in chunk:
            ids = render_prompt(base + [{"role": "user", "content": q["question"]}], tokenizer)
            prompts += [ids] * k
        outs = tools.generate(model, tokenizer, prompts, tool, max_new_tokens=int(opts["max_new_tokens"]),
                              temperature=float(opts["temperature"]), top_k=opts["top_k"] or None,
                              stop_ids=stops, seed=int(opts["seed"]) + s)
        for j, q in enumerate(chunk):
            replies = [decode_reply(o, tokenizer) for o in outs[j * k:(j + 1) * k]]
            right = [r for r in replies if is_right(r, q["answer"])]
            acc = len(right) / k
            keep = acc >= float(opts["threshold"])
            answer = _most_common(right) if keep else opts["refusal"]
            records.append({
                "messages": base + [{"role": "user", "content": q["question"]},
                                    {"role": "assistant", "content": answer}],
                "source": "probe", "question": q["question"], "answer": q["answer"],
                "accuracy": acc, "decision": "keep" if keep else "refuse", "samples": replies})
    return records


def reply_counts(records: list[dict], refusal: str = REFUSAL) -> dict:
    """Every sampled reply sorted into right / "I don't know" / wrong: its count, its share
    and the share's standard error over QUESTIONS (the samples of one question are not
    independent draws), so a user can tell a real change of the counts from noise."""
    refusals = {normalize(refusal), normalize(REFUSAL)}
    per_q = []
    for r in records:
        kinds = ["right" if is_right(x, r["answer"]) else
                 "idk" if any(f and f in normalize(x) for f in refusals) else "wrong" for x in r["samples"]]
        per_q.append({k: kinds.count(k) / max(1, len(kinds)) for k in ("right", "idk", "wrong")} | {"n": kinds})
    out: dict = {"questions": len(per_q), "samples": sum(len(q["n"]) for q in per_q)}
    for k in ("right", "idk", "wrong"):
        shares = [q[k] for q in per_q]
        n = len(shares)
        mean = sum(shares) / n if n else 0.0
        se = math.sqrt(sum((v - mean) ** 2 for v in shares) / (n - 1) / n) if n > 1 else 0.0
        out[k] = {"count": sum(q["n"].count(k) for q in per_q), "share": mean, "se": se}
    return out


def format_counts(c: dict) -> str:
    """``right 12/48 (0.250, se 0.061), I don't know ..., wrong ...``"""
    names = {"right": "right", "idk": "I don't know", "wrong": "wrong"}
    return ", ".join(f"{names[k]} {c[k]['count']}/{c['samples']} ({c[k]['share']:.3f}, se {c[k]['se']:.3f})"
                     for k in names)


def _most_common(replies: list[str]) -> str:
    counts = Counter(replies)
    return max(replies, key=lambda r: (counts[r], -len(r)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="train probe", description=__doc__.split("\n\n")[0],
                                 parents=[common.overrides_parent()])
    ap.add_argument("target", help="pipeline file, or a checkpoint (step or run dir)")
    ap.add_argument("--questions", help="JSONL of {question, answer}")
    ap.add_argument("--out", help="output JSONL of SFT conversations")
    ap.add_argument("--samples", type=int)
    ap.add_argument("--threshold", type=float, help="keep the answer when this share of samples is right")
    add_generation_args(ap)
    add_tool_args(ap)
    args = ap.parse_args(argv)
    return common.run_main("train probe", lambda: run(args))


def options(args) -> tuple[Path, dict, Path]:
    """(the checkpoint, the settings: defaults < the pipeline's train.probe < the flags, each
    checked against SCHEMAS["probe"], the output file)."""
    path, _ = find_checkpoint(args.target, args.overrides)
    opts, default_out = dict(DEFAULTS), None
    if Path(args.target).is_file():
        config, checked = common.load_settings(args.target, args.overrides, "probe")
        opts.update({k: checked[k] for k in train_config.section(config, "probe")})
        default_out = train_config.output_dir(config, "probe") / "probe.jsonl"
    schema = train_config.SCHEMAS["probe"]
    for key in FLAGS:
        if getattr(args, key) is not None:
            opts[key] = train_config.check_value(f"--{key.replace('_', '-')}", schema[key], getattr(args, key))
    if not opts.get("questions"):
        raise train_config.ConfigError("--questions: give a JSONL of questions (or train.probe.questions "
                                       "in the pipeline)")
    return path, opts, Path(opts.get("out") or default_out or "probe.jsonl")


def run(args) -> None:
    path, opts, out = options(args)
    questions = load_questions(opts["questions"])
    common.set_threads(opts["threads"])
    device = common.pick_device(opts["device"], "--device" if args.device is not None else "train.probe.device")
    model, _ = load_model(path, device)
    tokenizer = Tokenizer.from_checkpoint(path)
    output = train_config.load(args.target, args.overrides)["output"] if Path(args.target).is_file() else None
    tool = tools.open_tool(tokenizer, path, index=args.index, no_tools=args.no_tools, output=output, warn=notice)
    records = probe(model, tokenizer, questions, opts, tool)
    write_jsonl(records, out)
    kept = sum(r["decision"] == "keep" for r in records)
    mean_acc = sum(r["accuracy"] for r in records) / len(records)
    print(f"probe: {len(records)} questions, {opts['samples']} samples each, mean accuracy {mean_acc:.2f}; "
          f"kept {kept} answers, wrote {len(records) - kept} refusals -> {out}")
    print(f"probe replies: {format_counts(reply_counts(records, opts['refusal']))} "
          f"(share of samples; se: standard error over questions)")


if __name__ == "__main__":
    sys.exit(main())
