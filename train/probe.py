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

With a pipeline file the model is the newest of rl, sft, pretrain (as ``train chat``) and
settings may come from its ``train.probe`` block; ``--out`` defaults to
``<output>/train/probe/probe.jsonl``.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import torch

from contract.jsonl import read_jsonl, write_jsonl
from train import config as train_config
from train.chat import add_generation_args
from train.chat_format import decode_reply, render_prompt, stop_ids
from train.sft_data import REFUSAL

DEFAULTS = {"samples": 8, "threshold": 0.5, "temperature": 0.8, "top_k": 50, "max_new_tokens": 48,
            "batch_size": 64, "seed": 0, "refusal": REFUSAL, "device": "auto",
            "threads": None}


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
            raise ValueError(f"{path}:{lineno}: needs a non-empty 'question' and 'answer'")
        out.append({"question": q, "answer": str(a)})
    if not out:
        raise ValueError(f"{path}: no questions")
    return out


def probe(model, tokenizer, questions: list[dict], opts: dict) -> list[dict]:
    """One output record per question: ``messages`` (SFT-ready) plus what was measured."""
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
        outs = model.generate(prompts, max_new_tokens=int(opts["max_new_tokens"]),
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


def _most_common(replies: list[str]) -> str:
    counts = Counter(replies)
    return max(replies, key=lambda r: (counts[r], -len(r)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="train probe", description=__doc__.split("\n\n")[0])
    ap.add_argument("target", help="pipeline file, or a checkpoint (step or run dir)")
    ap.add_argument("--questions", help="JSONL of {question, answer}")
    ap.add_argument("--out", help="output JSONL of SFT conversations")
    ap.add_argument("--samples", type=int)
    ap.add_argument("--threshold", type=float, help="keep the answer when this share of samples is right")
    add_generation_args(ap)
    args = ap.parse_args(argv)
    from train.chat import find_checkpoint
    from train.checkpoint import load_model
    from train.tokenizer import Tokenizer

    try:
        path, _ = find_checkpoint(args.target, args.set)
        opts = dict(DEFAULTS)
        default_out = None
        if Path(args.target).is_file():
            config = train_config.load(args.target, args.set)
            section = train_config.section(config, "probe")
            checked = train_config.validate(config, "probe")     # kinds, constraints, unknown keys
            opts.update({k: checked[k] for k in section})
            default_out = train_config.output_dir(config, "probe") / "probe.jsonl"
        for key in ("questions", "out", "samples", "threshold", "temperature", "top_k",
                    "max_new_tokens", "seed", "device"):
            if getattr(args, key) is not None:
                opts[key] = getattr(args, key)
        if not opts.get("questions"):
            raise ValueError("give --questions qa.jsonl (or train.probe.questions in the pipeline)")
        out = Path(opts.get("out") or default_out or "probe.jsonl")
        questions = load_questions(opts["questions"])
        if opts["threads"]:
            torch.set_num_threads(int(opts["threads"]))
        device = opts["device"]
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model, _ = load_model(path, torch.device(device))
        tokenizer = Tokenizer.from_checkpoint(path)
    except train_config.ConfigError as e:      # a bad setting: exit 2
        print(f"train probe: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as e:
        print(f"train probe: {e}", file=sys.stderr)
        return 1
    records = probe(model, tokenizer, questions, opts)
    write_jsonl(records, out)
    kept = sum(r["decision"] == "keep" for r in records)
    mean_acc = sum(r["accuracy"] for r in records) / len(records)
    print(f"probe: {len(records)} questions, {opts['samples']} samples each, mean accuracy {mean_acc:.2f}; "
          f"kept {kept} answers, wrote {len(records) - kept} refusals -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
