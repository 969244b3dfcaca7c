"""`train chat`: talk to a checkpoint in the terminal, tokens streamed as they are sampled.

    train chat CKPT_DIR | PIPELINE.yaml [--prompt TEXT] [--system TEXT]
               [--temperature 0.7] [--top-k 50] [--max-new-tokens 256] [--seed N]
               [--index PATH | --no-tools]

With a pipeline file it picks the most trained model under ``<output>/train/``: rl, else
sft, else pretrain. ``--prompt`` answers once and exits (for scripts); otherwise it is a
multi-turn session (``/reset`` forgets the conversation, ``/quit`` or Ctrl-D leaves).

When the model writes a search call, the query runs against the corpus index (``--index``;
by default the run's ``index/`` folder beside the shards, train/tools.py) and the hits are
inserted for the model to read; both are shown as ``[search] ...`` and ``[hit] ...`` lines.
``--no-tools`` turns searching off; so does a checkpoint whose tokenizer predates the
tool-call tokens (with a notice).

A message longer than the context is cut from the left (a notice on stderr says so); input
that is not UTF-8 is decoded with U+FFFD for the bad bytes (with a notice). Exit codes: 2 a bad
flag or setting, 3 a missing or corrupt checkpoint.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from train import common
from train import config as train_config
from train import tools
from train.chat_format import render_prompt, stop_ids
from train.checkpoint import latest_checkpoint, load_checkpoint

PHASES = ("rl", "sft", "pretrain")   # most trained first
DEFAULTS = train_config.defaults("chat")   # kinds and constraints: train/config.py SCHEMAS["chat"]
CHARS_PER_TOKEN_MAX = 64   # no piece spans more: a text cut to budget * this still fills the budget


def find_checkpoint(target: str, overrides: list[str] | None = None) -> tuple[Path, dict]:
    """(checkpoint path, the pipeline's ``train.chat`` block) for a checkpoint or pipeline path."""
    p = Path(target)
    if p.is_file() and p.suffix in (".yaml", ".yml", ".json"):
        config, checked = common.load_settings(str(p), overrides, "chat")
        for phase in PHASES:
            run_dir = train_config.output_dir(config, phase)
            if latest_checkpoint(run_dir) is not None:
                return run_dir, {k: checked[k] for k in train_config.section(config, "chat")}
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


def clean_text(text: str) -> str:
    """Text as valid Unicode: bytes that were not UTF-8 (kept by Python as lone surrogates in
    argv, or on stdin read with surrogateescape) become U+FFFD instead of crashing the tokenizer."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def notice(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cut_left(text: str, tokenizer, max_tokens: int) -> str:
    """The end of ``text`` that encodes to at most ``max_tokens`` tokens. The characters are cut
    first (a piece never spans more than CHARS_PER_TOKEN_MAX), so a megabyte is never encoded whole."""
    max_tokens = max(0, max_tokens)
    text = text[-max_tokens * CHARS_PER_TOKEN_MAX:] if max_tokens else ""
    ids = tokenizer.encode(text)
    take = max_tokens
    while len(ids) > max_tokens:
        text = tokenizer.decode(ids[len(ids) - take:]) if take > 0 else ""
        ids = tokenizer.encode(text)
        take -= 1     # the decoded tail may re-encode a token longer: take one fewer next time
    return text


def fit_context(messages: list[dict], tokenizer, seq_len: int, warn=notice) -> list[int]:
    """Prompt ids within three quarters of the context (the rest is room to reply): first forget
    the oldest exchanges (never the system message or the last user turn), then cut the last
    message (and, if need be, the system message) from the left, saying so through ``warn``."""
    budget = max(8, seq_len * 3 // 4)
    messages = [dict(m) for m in messages]
    first = 1 if messages and messages[0]["role"] == "system" else 0
    sizes = [len(m["content"]) for m in messages]
    for m in messages:   # a huge message is trimmed by characters before anything encodes it
        if len(m["content"]) > budget * CHARS_PER_TOKEN_MAX:
            m["content"] = m["content"][-budget * CHARS_PER_TOKEN_MAX:]
    prompt = render_prompt(messages, tokenizer)
    while len(prompt) > budget and len(messages) - first > 1:
        del messages[first:first + 2]
        del sizes[first:first + 2]
        prompt = render_prompt(messages, tokenizer)
    for i in [len(messages) - 1] + ([0] if first else []):
        if len(prompt) > budget:
            m = messages[i]
            own = len(tokenizer.encode(m["content"]))
            m["content"] = cut_left(m["content"], tokenizer, own - (len(prompt) - budget))
            prompt = render_prompt(messages, tokenizer)
    if len(prompt) > budget:    # only the chat markup is left: keep <|bos|> and the end
        prompt = prompt[:1] + prompt[len(prompt) - budget + 1:]
    for m, size in zip(messages, sizes):
        if len(m["content"]) < size:
            warn(f"note: the {m['role']} message ({size:,} characters) is too long for the model's context of "
                 f"{seq_len} tokens: cut from the left to its last {len(m['content']):,} characters")
    return prompt


def reply(model, tokenizer, messages: list[dict], opts: dict, out=None,
          tool: tools.SearchTool | None = None) -> tuple[str, bool, list[dict]]:
    """Stream the assistant's reply to ``out``, searching when the model asks (``tool``);
    returns (text, stopped_by_end_token, tool calls ``[{"query", "result"}]``)."""
    out = out or sys.stdout
    stops = set(stop_ids(tokenizer))
    prompt = fit_context(messages, tokenizer, model.config.seq_len)
    room = model.config.seq_len * 4 - len(prompt)   # RoPE extends; stay within a sane window
    room -= (tool.max_tokens + 2) * tools.MAX_CALLS if tool else 0
    special = {i: n for n, i in tokenizer.special.items()}
    streamer, answer, calls, stopped = Streamer(tokenizer, out), "", [], False
    for t in tools.stream(model, tokenizer, prompt, tool, max(1, min(int(opts["max_new_tokens"]), room)),
                          temperature=float(opts["temperature"]), top_k=opts["top_k"] or None,
                          stop_ids=tuple(stops), seed=opts.get("seed")):
        if isinstance(t, tools.ToolResult):
            calls.append({"query": t.query, "result": tokenizer.decode(t.ids[1:-1])})
            for h in t.hits:
                out.write(f"[hit] {h.title or h.url} <{h.url}>\n")
            if not t.hits:
                out.write("[hit] (none)\n")
            continue
        if t in stops:
            stopped = True
            break
        if special.get(t) == "search_start":     # the answer so far is done; show the query apart
            answer += streamer.finish()
            out.write("\n[search] " if answer else "[search] ")
            streamer = Streamer(tokenizer, out)
        elif special.get(t) == "search_end":
            streamer.finish()
            out.write("\n")
            streamer = Streamer(tokenizer, out)
        elif t not in special:
            streamer.push(t)
    return answer + streamer.finish(), stopped, calls


def add_generation_args(ap: argparse.ArgumentParser) -> None:
    """Sampling flags shared by every command that generates (chat, probe); ``--set`` comes
    from common.overrides_parent()."""
    ap.add_argument("--temperature", type=float)
    ap.add_argument("--top-k", type=int, dest="top_k")
    ap.add_argument("--max-new-tokens", type=int, dest="max_new_tokens")
    ap.add_argument("--seed", type=int, help="sampling seed (reproducible answers)")
    ap.add_argument("--device", help="auto (CUDA if there is one) | cpu | cuda[:N] | mps")


def generation_options(block: dict, args, keys=("temperature", "top_k", "max_new_tokens", "system",
                                                 "device", "seed")) -> dict:
    """The pipeline's ``train.chat`` block overridden by the flags given, each flag checked
    against SCHEMAS["chat"] (ConfigError naming the flag: ``--temperature nan`` is refused)."""
    opts = {**DEFAULTS, **block}
    schema = train_config.SCHEMAS["chat"]
    for k in keys:
        v = getattr(args, k, None)
        if v is not None:
            opts[k] = train_config.check_value(f"--{k.replace('_', '-')}", schema[k], v)
    opts["torch_device"] = common.pick_device(
        opts["device"], "--device" if getattr(args, "device", None) is not None else "train.chat.device")
    return opts


def read_line(prompt: str) -> str:
    """One line of stdin (EOFError at the end); bytes that are not UTF-8 become U+FFFD, with a notice."""
    text = input(prompt)
    cleaned = clean_text(text)
    if cleaned != text:
        notice("note: that line was not valid UTF-8; the undecodable bytes were replaced by U+FFFD")
    return cleaned


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="train chat", description=__doc__.split("\n\n")[0],
                                 parents=[common.overrides_parent()])
    ap.add_argument("target", help="checkpoint (step or run dir) or pipeline file")
    ap.add_argument("--prompt", help="answer this one message and exit")
    ap.add_argument("--system", help="system message for the conversation")
    add_generation_args(ap)
    add_tool_args(ap)
    args = ap.parse_args(argv)
    return common.run_main("train chat", lambda: chat(args))


def add_tool_args(ap: argparse.ArgumentParser) -> None:
    """``--index``/``--no-tools``: shared by every command that generates."""
    ap.add_argument("--index", help="search index (a search.sqlite or its folder); "
                                    "default: the run's index/ folder")
    ap.add_argument("--no-tools", action="store_true", dest="no_tools",
                    help="never search, even when the model asks to")


def open_tool(args, tokenizer, path: Path) -> tools.SearchTool | None:
    """The search tool the flags ask for (``args.target`` a pipeline: its output's index)."""
    output = None
    target = Path(getattr(args, "target", "") or "")
    if target.is_file() and target.suffix in (".yaml", ".yml", ".json"):
        output = train_config.load(str(target), getattr(args, "overrides", None))["output"]
    return tools.open_tool(tokenizer, path, index=args.index, no_tools=args.no_tools, output=output,
                           warn=notice)


def chat(args) -> None:
    """Load the checkpoint, then answer ``--prompt`` once or hold the session."""
    path, block = find_checkpoint(args.target, args.overrides)
    opts = generation_options(block, args)
    common.set_threads(opts["threads"])
    model, tokenizer, _ = load_checkpoint(path, opts["torch_device"])
    tool = open_tool(args, tokenizer, path)
    system = clean_text(opts["system"]) if opts["system"] else None
    base = [{"role": "system", "content": system}] if system else []

    if args.prompt is not None:
        text = clean_text(args.prompt)
        if text != args.prompt:
            notice("note: --prompt was not valid UTF-8; the undecodable bytes were replaced by U+FFFD")
        _, stopped, _ = reply(model, tokenizer, base + [{"role": "user", "content": text}], opts, tool=tool)
        print()
        if not stopped:
            print("[reply cut at --max-new-tokens]", file=sys.stderr)
        return
    session(model, tokenizer, base, opts, path, tool)


def session(model, tokenizer, base: list[dict], opts: dict, path: Path, tool=None) -> None:
    """The multi-turn loop on stdin until /quit or Ctrl-D."""
    print(f"chatting with {path} — /reset starts over, /quit or Ctrl-D leaves", file=sys.stderr)
    if hasattr(sys.stdin, "reconfigure"):    # keep undecodable bytes (as surrogates) instead of raising
        sys.stdin.reconfigure(errors="surrogateescape")
    messages = list(base)
    while True:
        try:
            text = read_line("you> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if text.strip() in ("/quit", "/exit"):
            return
        if text.strip() == "/reset":
            messages = list(base)
            continue
        if not text.strip():
            continue
        messages.append({"role": "user", "content": text})
        sys.stdout.write("assistant> ")
        try:
            answer, stopped, calls = reply(model, tokenizer, messages, opts, tool=tool)
        except KeyboardInterrupt:
            answer, stopped, calls = "", False, []
        print("" if stopped else " [cut]")
        messages.append({"role": "assistant", "content": answer, **({"tool_calls": calls} if calls else {})})


if __name__ == "__main__":
    sys.exit(main())
