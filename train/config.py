"""Training settings come from the pipeline file's ``train:`` section, overridable by
``--set key.path=value``. Each phase declares its section here, once, with the kinds of the one
settings model of both sides (:mod:`contract.settings`, which also reads the file and the
overrides). PyYAML is optional here: a JSON pipeline file works without it."""
from __future__ import annotations

import re
from pathlib import Path

from contract.pipelines import pipeline_path
from contract.settings import (ConfigError, Key, Section, apply_overrides, boolean,  # noqa: F401
                               check_value, deep_merge, fraction, integer, load_file, mapping, number,
                               one_of, str_list, string)


def load(path: str | None, overrides: list[str] | None = None) -> dict:
    """The whole pipeline dict (``output``, ``train``, ...) with overrides applied."""
    config = deep_merge({"output": "out", "train": {}}, load_file(pipeline_path(path)) if path else {})
    return apply_overrides(config, overrides)


def section(config: dict, name: str) -> dict:
    """``train.<name>`` of the pipeline (empty dict if absent)."""
    return dict((config.get("train") or {}).get(name) or {})


def output_dir(config: dict, name: str) -> Path:
    """Where a training phase writes: ``<output>/train/<name>`` unless the section says."""
    sec = section(config, name)
    return Path(sec.get("out_dir") or Path(config["output"]) / "train" / name)


# -- the settings of every training phase, in one place -------------------------------------------
# Each phase's block (``train.<phase>``) is a Section: key -> kind, default and limits. ``validate``
# reads what YAML/JSON/--set gave as the kind, checks it, fills the defaults and refuses unknown
# keys, so a bad value is one line naming its dotted key before anything runs or is written.

def device_name(v: str) -> str | None:
    """auto, cpu, mps, cuda or cuda:N (whether the device exists is checked where it is used)."""
    return None if re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v) else "must be auto, cpu, mps, cuda or cuda:N"


def device(default: str = "auto") -> Key:
    return Key(default, "auto, cpu, mps, cuda or cuda:N", lambda v: isinstance(v, str) and not device_name(v))


def text(default: str | None = None) -> Key:
    """A string (``""`` too); null allowed when there is no default."""
    return string(default, null=default is None, empty=True)


def _levels(v) -> bool:
    items = v if isinstance(v, list) else [v]
    return bool(items) and all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 4 for x in items)


def positive(default, null: bool = False) -> Key:
    """A finite number > 0 (a NaN learning rate would train silently to garbage)."""
    return number(default, 0, lo_open=True, null=null)


def non_negative(default, null: bool = False) -> Key:
    return number(default, 0, null=null)


def below_one(default) -> Key:
    return number(default, 0, 1, hi_open=True)


OUT_DIR = string(None, null=True, empty=True, in_defaults=False)   # default <output>/train/<phase>
SCHEMAS: dict[str, Section] = {
    "pretrain": Section({
        "out_dir": OUT_DIR,
        "shards": text(),           # default <output>/shards
        "depth": integer(4, 1),                # n_layer = depth, n_embd = 64 * depth
        "head_dim": integer(64, 1),
        "n_layer": integer(None, 1, null=True),
        "n_embd": integer(None, 1, null=True),
        "n_head": integer(None, 1, null=True),
        # gpt: ours (ReLU^2, soft-capped logits); qwen3: exactly transformers' Qwen3, so
        # `train export --format hf` can write it (fixes mlp=swiglu, logit_softcap=0)
        "arch": one_of("gpt", ("gpt", "qwen3")),
        "mlp": one_of("relu2", ("relu2", "swiglu")),
        "tie_embeddings": boolean(False),
        "logit_softcap": non_negative(15.0, null=True),   # 0 disables
        "copy_head": boolean(False),          # a pointer over the context beside the LM head (train/model.py)
        "seq_len": integer(256, 2),
        "device_batch_size": integer(8, 1),   # rows per micro-batch per rank
        "total_batch_tokens": integer(None, 1, null=True),  # default one micro-batch per rank
        "max_steps": integer(200, 1),
        "max_seconds": positive(None, null=True),   # time budget (checkpoint, then stop)
        "stop_at_step": integer(None, 1, null=True),  # stop as if preempted
        "optimizer": one_of("adamw", ("adamw", "muon")),
        "matrix_lr": positive(3e-3),
        "embedding_lr": positive(3e-2),
        "unembedding_lr": positive(3e-3),
        "muon_lr": positive(0.02),
        "weight_decay": non_negative(0.0),
        "beta1": below_one(0.9),
        "beta2": below_one(0.95),
        "schedule": one_of("cosine", ("cosine", "wsd", "constant")),
        "warmup_steps": integer(10, 0),
        "final_lr_frac": fraction(0.1),
        "decay_frac": fraction(0.2),
        "grad_clip": non_negative(1.0, null=True),    # 0 or null: no clipping
        "eval_every": integer(50, 1),
        "eval_tokens": integer(10_000_000, 1, null=True),  # val targets scored (null: all)
        "ckpt_every": integer(100, 1),
        "keep_checkpoints": integer(2, 0),            # 0: keep all
        "log_every": integer(10, 1),
        "seed": integer(0),
        "shuffle": boolean(True),
        "buffer_size": integer(32, 1),
        "packing": one_of("carry", ("carry", "crop")),   # crop: drop what does not fit a row
        "device": device(),
        "compile": boolean(False),
        "dtype": one_of("auto", ("auto", "bfloat16", "bf16", "float32", "fp32")),  # auto: bf16 on CUDA
        "prefetch": integer(4, 0),
        "threads": integer(None, 1, null=True),   # torch CPU threads
        "tensorboard": boolean(False),
        "wandb": boolean(False),
        "wandb_project": text("crawl2tokens"),
    }),
    "sft": Section({
        "out_dir": OUT_DIR,
        "init": text(),     # default <output>/train/pretrain
        "builtin": mapping({"n": 2000, "seed": 0, "arithmetic_levels": [1, 2]}),
        "data": str_list([], single=True),
        "extra_data": str_list([], single=True),
        "max_len": integer(None, 2, null=True),   # default and maximum: the model's seq_len
        "overflow": one_of("drop", ("drop", "truncate")),
        "val_fraction": below_one(0.05),
        "batch_size": integer(16, 1),
        "steps": integer(None, 1, null=True),    # default epochs * batches per epoch
        "epochs": positive(1),
        "lr": positive(3e-4),
        "min_lr_frac": fraction(0.1),
        "warmup": integer(10, 0),
        "weight_decay": non_negative(0.0),
        "grad_clip": non_negative(1.0, null=True),
        "log_every": integer(10, 1),
        "eval_every": integer(0, 0),          # 0: only at the end
        "checkpoint_every": integer(0, 0),    # 0: only at the end
        "keep": integer(2, 0),                # newest step dirs kept (0: all)
        "max_seconds": non_negative(0, null=True),   # 0: no time budget
        "seed": integer(0),
        "device": device(),
        "threads": integer(None, 1, null=True),
        "samples": str_list(["Hello!", "Who are you?", "What is 7 plus 5?"], single=True),
    }),
    "rl": Section({
        "out_dir": OUT_DIR,
        "init": text(),     # default <output>/train/sft
        "task": text("arithmetic"),                     # "arithmetic" or a JSONL of {prompt, answer}
        "level": Key(1, "a level 1..4 or a list of them", _levels),   # arithmetic difficulty level(s)
        "train_problems": integer(2000, 1),     # size of the training pool (arithmetic)
        "eval_problems": integer(64, 1),        # held-out problems per evaluation
        "eval_data": text(),         # JSONL held-out set for a user task
        "heldout_percent": integer(20, 1, 99),    # user task without eval_data: hashed held-out share
        "reward": text("exact"),                        # exact | numeric | regex | python | module:function
        "reward_options": mapping(None),   # e.g. {tolerance: 0.01}, {pattern: ...}
        "steps": integer(50, 0),
        "prompts_per_step": integer(8, 1),
        "group_size": integer(8, 2),             # k completions per prompt
        "max_new_tokens": integer(48, 1),
        "temperature": positive(1.0),
        "top_k": integer(None, 1, null=True),
        "lr": positive(3e-5),
        "weight_decay": non_negative(0.0),
        "grad_clip": non_negative(1.0),
        "scale_by_std": boolean(False),                   # GRPO's /std; off = Dr. GRPO
        "loss_norm": one_of("token", ("token", "sequence")),
        "updates_per_batch": integer(1, 1),     # >1: PPO-style reuse with clipped ratios
        "clip_eps": positive(0.2),
        "kl_coef": non_negative(0.0),           # >0: k3 KL penalty to the starting model
        "microbatch": integer(32, 1),           # rows per forward/backward
        "eval_every": integer(10, 0),                  # 0: only before and after
        "eval_samples": integer(4, 1),          # samples per held-out problem (pass@k: k = this)
        "eval_temperature": non_negative(1.0),
        "save_every": integer(0, 0),                   # 0: only at the end
        "seed": integer(0),
        "threads": integer(0, 0),                  # 0: torch's default
        "device": device(),       # auto: CUDA if there is one, as every phase
        "tools": boolean(False),   # rollouts and evaluations run the model's searches (train/tools.py)
        "index": text(),           # with tools: the search index (default <output>/index)
    }),
    "chat": Section({
        "temperature": non_negative(0.7),    # 0 = greedy
        "top_k": integer(50, 0, null=True),     # 0 or null: no top-k
        "max_new_tokens": integer(256, 1),
        "system": text(),
        "device": device(),
        "threads": integer(None, 1, null=True),
        "seed": integer(None, null=True),
        "demo_prompt": text("Hello! Who are you?"),
    }),
    "probe": Section({
        "out_dir": OUT_DIR,
        "questions": text(),
        "out": text(),
        "samples": integer(8, 1),
        "threshold": fraction(0.5),
        "temperature": non_negative(0.8),
        "top_k": integer(50, 0, null=True),
        "max_new_tokens": integer(48, 1),
        "batch_size": integer(64, 1),
        "seed": integer(0, null=True),
        "refusal": text(),       # default: train.sft_data.REFUSAL
        "device": device(),
        "threads": integer(None, 1, null=True),
    }),
}


#: The ``train:`` section: a section per phase (a typo in any phase fails every phase's command).
TRAIN = Section(SCHEMAS, item="section", valid="valid")


def defaults(phase: str) -> dict:
    """The defaults of ``train.<phase>`` (out_dir left out: it has its own default)."""
    return SCHEMAS[phase].defaults()


def validate(config: dict, phase: str) -> dict:
    """``train.<phase>`` checked against its section, with the defaults filled in, after every
    other phase's (a typo anywhere fails early). Raises ConfigError naming the dotted key and
    what is wrong (for an unknown key, the valid ones)."""
    return TRAIN.read(config.get("train"), "train")[phase]
