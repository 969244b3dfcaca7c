"""`train sample CKPT --prompt TEXT`: continue a text with a checkpoint (KV cache, temperature,
top-k). CKPT is a step dir, a run dir (its latest step) or a pipeline file (its pretrain run)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from train.checkpoint import load_model
from train.tokenizer import Tokenizer


def _checkpoint_path(arg: str) -> Path:
    path = Path(arg)
    if path.is_file() and path.suffix in (".yaml", ".yml", ".json"):
        from train import config as train_config
        return train_config.output_dir(train_config.load(str(path)), "pretrain")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="train sample", description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", help="step dir, run dir, or pipeline file")
    ap.add_argument("--prompt", default="", help="text to continue (the model sees <|bos|> first)")
    ap.add_argument("--max-new-tokens", type=int, default=100)
    ap.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    ap.add_argument("--top-k", type=int, default=50)
    ap.add_argument("--num-samples", type=int, default=1)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    try:
        model, meta = load_model(_checkpoint_path(args.checkpoint), args.device)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    tok = Tokenizer(meta["tokenizer"]["path"], meta["tokenizer"].get("special_tokens"))
    prompt = [tok.bos_id] + tok.encode(args.prompt)
    stops = [tok.bos_id]
    if args.num_samples == 1:      # stream the single sample as it is generated
        ids = list(prompt[1:])
        shown = tok.decode(ids)
        sys.stdout.write(shown)
        for t in model.stream(prompt, args.max_new_tokens, args.temperature, args.top_k, stops, args.seed):
            if t in stops:
                break
            ids.append(t)
            text = tok.decode(ids)     # decode the whole text: word-initial spaces survive
            sys.stdout.write(text[len(shown):])
            sys.stdout.flush()
            shown = text
        sys.stdout.write("\n")
        return 0
    outs = model.generate([prompt] * args.num_samples, args.max_new_tokens, args.temperature, args.top_k,
                          stops, args.seed)
    for i, ids in enumerate(outs):
        ids = [t for t in ids if t not in stops]
        print(f"--- sample {i + 1}\n{tok.decode(prompt[1:] + ids)}")
    return 0


if __name__ == "__main__":
    with torch.inference_mode():
        sys.exit(main())
