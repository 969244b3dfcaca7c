"""`train sample CKPT --prompt TEXT`: continue a text with a checkpoint (KV cache, temperature,
top-k). CKPT is a step dir, a run dir (its latest step) or a pipeline file (its pretrain run).
A prompt longer than the context is cut from the left (with a notice). When the model writes a
search call its query runs against the corpus index and the hits are inserted (train/tools.py;
``--index PATH``, ``--no-tools``). Exit codes: 2 a bad flag or setting, 3 a missing or corrupt
checkpoint or index."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from train import common
from train import config as train_config
from train import tools
from train.chat import add_tool_args, clean_text, cut_left, notice
from train.checkpoint import load_checkpoint


def _checkpoint_path(arg: str) -> tuple[Path, str | None]:
    """(the checkpoint, the pipeline's output folder when ``arg`` is a pipeline file)."""
    path = Path(arg)
    if path.is_file() and path.suffix in (".yaml", ".yml", ".json"):
        config = train_config.load(str(path))
        return train_config.output_dir(config, "pretrain"), config["output"]
    return path, None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="train sample", description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", help="step dir, run dir, or pipeline file")
    ap.add_argument("--prompt", default="", help="text to continue (the model sees <|bos|> first)")
    ap.add_argument("--max-new-tokens", type=int, default=100)
    ap.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    ap.add_argument("--top-k", type=int, default=50)
    ap.add_argument("--num-samples", type=int, default=1)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--device", default="auto", help="auto (CUDA if there is one) | cpu | cuda[:N] | mps")
    add_tool_args(ap)
    args = ap.parse_args(argv)
    return common.run_main("train sample", lambda: sample(args))


def _checked_flags(args) -> torch.device:
    """Every flag checked as the ``train.chat`` settings are (ConfigError naming the flag)."""
    schema = train_config.SCHEMAS["chat"]
    for flag, key in (("--temperature", "temperature"), ("--top-k", "top_k"),
                      ("--max-new-tokens", "max_new_tokens")):
        train_config.check_value(flag, schema[key], getattr(args, key))
    train_config.check_value("--num-samples", train_config.integer(1, 1),
                             args.num_samples)
    return common.pick_device(args.device, "--device")


def sample(args) -> None:
    device = _checked_flags(args)
    path, output = _checkpoint_path(args.checkpoint)
    model, tok, _ = load_checkpoint(path, device)
    tool = tools.open_tool(tok, path, index=args.index, no_tools=args.no_tools, output=output, warn=notice)
    text = clean_text(args.prompt)
    budget = max(1, model.config.seq_len * 3 // 4 - 1)    # <|bos|> + prompt: room left to continue
    kept = cut_left(text, tok, budget)
    if len(kept) < len(text):
        notice(f"note: --prompt ({len(text):,} characters) is too long for the model's context of "
               f"{model.config.seq_len} tokens: cut from the left to its last {len(kept):,} characters")
    prompt = [tok.bos_id] + tok.encode(kept)
    args.max_new_tokens = min(args.max_new_tokens, model.config.seq_len * 4 - len(prompt))
    stops = [tok.bos_id]
    if args.num_samples == 1:      # stream the single sample as it is generated
        ids = list(prompt[1:])
        shown = tok.decode(ids)
        sys.stdout.write(shown)
        for t in tools.stream(model, tok, prompt, tool, args.max_new_tokens, args.temperature, args.top_k or None,
                              stops, args.seed):
            if isinstance(t, tools.ToolResult):    # the inserted hits are shown as the model reads them
                ids.extend(t.ids)
                continue
            if t in stops:
                break
            ids.append(t)
            text = tok.decode(ids)     # decode the whole text: word-initial spaces survive
            sys.stdout.write(text[len(shown):])
            sys.stdout.flush()
            shown = text
        sys.stdout.write("\n")
        return
    outs = tools.generate(model, tok, [prompt] * args.num_samples, tool, args.max_new_tokens, args.temperature,
                          args.top_k or None, stops, args.seed)
    for i, ids in enumerate(outs):
        ids = [t for t in ids if t not in stops]
        print(f"--- sample {i + 1}\n{tok.decode(prompt[1:] + ids)}")


if __name__ == "__main__":
    with torch.inference_mode():
        sys.exit(main())
