"""`train chat`: talk to a checkpoint in the terminal, tokens streamed as they are sampled.

    train chat CKPT_DIR | PIPELINE.yaml [--prompt TEXT] [--system TEXT]
               [--temperature 0.7] [--top-k 50] [--max-new-tokens 256] [--seed N]

With a pipeline file it picks the most trained model under ``<output>/train/``: rl, else
sft, else pretrain. ``--prompt`` answers once and exits (for scripts); otherwise it is a
multi-turn session (``/reset`` forgets the conversation, ``/quit`` or Ctrl-D leaves).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from train import config as train_config
from train.chat_format import render_prompt, stop_ids

PHASES = ("rl", "sft", "pretrain")   # most trained first
DEFAULTS = {"temperature": 0.7, "top_k": 50, "max_new_tokens": 256, "system": None, "device": "auto",
            "threads": None}


def find_checkpoint(target: str, overrides: list[str] | None = None) -> tuple[Path, dict]:
    """(checkpoint path, the pipeline's ``train.chat`` block) for a checkpoint or pipeline path."""
    from train.checkpoint import latest_checkpoint

    p = Path(target)
    if p.is_file() and p.suffix in (".yaml", ".yml", ".json"):
        config = train_config.load(str(p), overrides)
        for phase in PHASES:
            run_dir = train_config.output_dir(config, phase)
            if latest_checkpoint(run_dir) is not None:
                return run_dir, train_config.section(config, "chat")
        raise FileNotFoundError(f"no checkpoint under {Path(config['output']) / 'train'} "
                                f"({', '.join(PHASES)}); train one first")
    if not p.exists():
        raise FileNotFoundError(f"no checkpoint or pipeline file at {p}")
    if latest_checkpoint(p) is None and not (p / "state.json").exists():
        raise FileNotFoundError(f"{p} holds no checkpoint (no step-N/ with state.json)")
    return p, {}


class Streamer:
    """Turns ids into text as they arrive. Decoding the whole reply each time and printing
    the new suffix handles pieces that only make sense together (byte fallback, spaces);
    an unfinished UTF-8 character (shown as U+FFFD) is held back until complete."""

    def __init__(self, tokenizer, out=None):
        self.tok, self.out, self.ids, self.shown = tokenizer, out or sys.stdout, [], ""

    def push(self, token: int) -> None:
        self.ids.append(int(token))
        text = self.tok.decode(self.ids)
        if text.endswith("\ufffd"):
            return
        if text.startswith(self.shown):
            self.out.write(text[len(self.shown):])
            self.out.flush()
        self.shown = text

    def finish(self) -> str:
        """Write whatever was held back (a byte sequence that never completed); return the text."""
        text = self.tok.decode(self.ids)
        if text.startswith(self.shown) and len(text) > len(self.shown):
            self.out.write(text[len(self.shown):])
            self.out.flush()
        self.shown = text
        return text


def fit_context(messages: list[dict], tokenizer, seq_len: int) -> list[int]:
    """Prompt ids, forgetting the oldest exchanges (never the system message or the last
    user turn) while the prompt would leave less than a quarter of the context to reply."""
    messages = list(messages)
    first = 1 if messages and messages[0]["role"] == "system" else 0
    prompt = render_prompt(messages, tokenizer)
    while len(prompt) > seq_len * 3 // 4 and len(messages) - first > 1:
        del messages[first:first + 2]
        prompt = render_prompt(messages, tokenizer)
    return prompt


def reply(model, tokenizer, messages: list[dict], opts: dict, out=None) -> tuple[str, bool]:
    """Stream the assistant's reply to ``out``; returns (text, stopped_by_end_token)."""
    stops = set(stop_ids(tokenizer))
    prompt = fit_context(messages, tokenizer, model.config.seq_len)
    room = model.config.seq_len * 4 - len(prompt)   # RoPE extends; stay within a sane window
    streamer = Streamer(tokenizer, out)
    stopped = False
    for t in model.stream(prompt, max_new_tokens=max(1, min(int(opts["max_new_tokens"]), room)),
                          temperature=float(opts["temperature"]), top_k=opts["top_k"] or None,
                          stop_ids=tuple(stops), seed=opts.get("seed")):
        if t in stops:
            stopped = True
            break
        streamer.push(t)
    return streamer.finish(), stopped


def add_generation_args(ap: argparse.ArgumentParser) -> None:
    """Sampling flags shared by every command that generates (chat, probe)."""
    ap.add_argument("--temperature", type=float)
    ap.add_argument("--top-k", type=int, dest="top_k")
    ap.add_argument("--max-new-tokens", type=int, dest="max_new_tokens")
    ap.add_argument("--seed", type=int, help="sampling seed (reproducible answers)")
    ap.add_argument("--device", help="cpu | cuda | auto")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="pipeline override")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="train chat", description=__doc__.split("\n\n")[0])
    ap.add_argument("target", help="checkpoint (step or run dir) or pipeline file")
    ap.add_argument("--prompt", help="answer this one message and exit")
    ap.add_argument("--system", help="system message for the conversation")
    add_generation_args(ap)
    args = ap.parse_args(argv)
    from train.checkpoint import load_model
    from train.tokenizer import Tokenizer

    try:
        path, block = find_checkpoint(args.target, args.set)
    except (FileNotFoundError, ValueError) as e:
        print(f"train chat: {e}", file=sys.stderr)
        return 1
    opts = {**DEFAULTS, **block}
    for k in ("temperature", "top_k", "max_new_tokens", "system", "device", "seed"):
        v = getattr(args, k)
        if v is not None:
            opts[k] = v
    if opts["threads"]:
        torch.set_num_threads(int(opts["threads"]))
    device = opts["device"]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model, _ = load_model(path, torch.device(device))
    model.eval()
    tokenizer = Tokenizer.from_checkpoint(path)
    base = [{"role": "system", "content": opts["system"]}] if opts["system"] else []

    if args.prompt is not None:
        _, stopped = reply(model, tokenizer, base + [{"role": "user", "content": args.prompt}], opts)
        print()
        if not stopped:
            print("[reply cut at --max-new-tokens]", file=sys.stderr)
        return 0

    print(f"chatting with {path} — /reset starts over, /quit or Ctrl-D leaves", file=sys.stderr)
    messages = list(base)
    while True:
        try:
            text = input("you> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if text.strip() in ("/quit", "/exit"):
            return 0
        if text.strip() == "/reset":
            messages = list(base)
            continue
        if not text.strip():
            continue
        messages.append({"role": "user", "content": text})
        sys.stdout.write("assistant> ")
        try:
            answer, stopped = reply(model, tokenizer, messages, opts)
        except KeyboardInterrupt:
            answer, stopped = "", False
        print("" if stopped else " [cut]")
        messages.append({"role": "assistant", "content": answer})


if __name__ == "__main__":
    sys.exit(main())
