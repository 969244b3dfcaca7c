"""`train`: the command line of the model side.

    train pretrain PIPELINE.yaml [--set train.pretrain.KEY=VALUE] [--resume]
    train eval CKPT [--tokens N]             exact val loss, bits/byte, unigram baseline
    train sample CKPT --prompt TEXT          generate from a checkpoint (KV cache)
    train sft PIPELINE.yaml                  supervised fine-tuning on conversations
    train probe PIPELINE.yaml                teach "I don't know" where the model is wrong
    train rl PIPELINE.yaml                   RL on verifiable rewards
    train chat [CKPT|PIPELINE.yaml] [--prompt TEXT]   talk to a checkpoint
    train report OUT|PIPELINE.yaml [--out DIR]         the run's report card (report.md + report.html)
    train export CKPT OUT --format hf        a Hugging Face model folder (needs train.pretrain.arch=qwen3)

Each subcommand lives in its own module with a ``main(argv)`` function.

Exit codes: 0 done; 1 the run itself failed (e.g. the loss became NaN/inf); 2 a bad setting or
flag (one line naming the key, e.g. train.pretrain.max_steps, nothing written); 3 a bad input
(missing shards, a tokenizer that is not the one the shards were made with, a missing or corrupt
checkpoint). Which error gets which code: train/common.py EXIT_CODES, used by every command.
Every key, its kind and constraint: train/config.py SCHEMAS.
"""
from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "pretrain": "train.pretrain",
    "eval": "train.eval",
    "sample": "train.sample",
    "sft": "train.sft",
    "probe": "train.probe",
    "rl": "train.rl",
    "chat": "train.chat",
    "report": "train.report",
    "export": "train.export",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"unknown command {argv[0]!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
            return 2
        return 0
    module = importlib.import_module(COMMANDS[argv[0]])
    return module.main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
