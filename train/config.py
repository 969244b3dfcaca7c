"""Training settings come from the pipeline file's ``train:`` section, overridable by
``--set key.path=value``. PyYAML is optional here: a JSON pipeline file works without it."""
from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


class ConfigError(ValueError):
    """A bad setting: the CLI prints it as one line and exits 2."""


def _load_text(path: Path) -> dict:
    text = path.read_text()
    if path.suffix == ".json":
        return json.loads(text)
    try:
        import yaml  # optional: PyYAML (a JSON pipeline works without it)
    except ImportError:
        raise ConfigError(f"{path}: reading YAML needs PyYAML (pip install pyyaml), "
                          f"or give the pipeline as JSON") from None
    return yaml.safe_load(text) or {}


def _parse_value(raw: str) -> Any:
    try:
        import yaml  # optional: PyYAML
        return yaml.safe_load(raw)
    except ImportError:
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw


def set_dotted(config: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = config
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {dotted!r}: {key!r} is not a mapping")
    node[keys[-1]] = value


def load(path: str | None, overrides: list[str] | None = None) -> dict:
    """The whole pipeline dict (``output``, ``train``, ...) with overrides applied."""
    config: dict = {}
    if path:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"pipeline file not found: {p}")
        config = _load_text(p)
    config = copy.deepcopy(config)
    config.setdefault("output", "out")
    config.setdefault("train", {})
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.path=value")
        key, raw = item.split("=", 1)
        set_dotted(config, key.strip(), _parse_value(raw))
    return config


def section(config: dict, name: str) -> dict:
    """``train.<name>`` of the pipeline (empty dict if absent)."""
    return dict((config.get("train") or {}).get(name) or {})


def output_dir(config: dict, name: str) -> Path:
    """Where a training phase writes: ``<output>/train/<name>`` unless the section says."""
    sec = section(config, name)
    return Path(sec.get("out_dir") or Path(config["output"]) / "train" / name)


# -- the settings of every training phase, in one place -------------------------------------------
# Each phase's block (``train.<phase>``) is a table key -> Setting(kind, default, check). ``validate``
# coerces what YAML/JSON/--set gave to the kind, applies the check, fills the defaults and refuses
# unknown keys, so a bad value is one line naming its dotted key before anything runs or is written.

@dataclass(frozen=True)
class Setting:
    kind: str                     # int | float | bool | str | list | dict | any
    default: Any = None
    check: Callable[[Any], str | None] | None = None   # returns what is wrong, or None
    optional: bool = False        # None (YAML null) allowed


def at_least(lo: float) -> Callable[[Any], str | None]:
    return lambda v: None if v >= lo else f"must be >= {lo}"


def positive(v: float) -> str | None:
    """A finite number > 0 (a NaN learning rate would train silently to garbage)."""
    return None if math.isfinite(v) and v > 0 else "must be a finite number > 0"


def non_negative(v: float) -> str | None:
    return None if math.isfinite(v) and v >= 0 else "must be a finite number >= 0"


def between(lo: float, hi: float, hi_open: bool = False) -> Callable[[Any], str | None]:
    def check(v):
        ok = math.isfinite(v) and lo <= v and (v < hi if hi_open else v <= hi)
        return None if ok else f"must be in [{lo}, {hi}{')' if hi_open else ']'}"
    return check


def one_of(*choices: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


def device_name(v: str) -> str | None:
    """auto, cpu, mps, cuda or cuda:N (whether the device exists is checked where it is used)."""
    return None if re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v) else "must be auto, cpu, mps, cuda or cuda:N"


def str_list(v) -> str | None:
    items = [v] if isinstance(v, str) else v
    return None if all(isinstance(x, str) for x in items) else "must be a list of strings"


def _levels(v) -> str | None:
    items = v if isinstance(v, list) else [v]
    ok = items and all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 4 for x in items)
    return None if ok else "must be a level 1..4 or a list of them"


S = Setting
POSITIVE_INT, COUNT = at_least(1), at_least(0)
SCHEMAS: dict[str, dict[str, Setting]] = {
    "pretrain": {
        "out_dir": S("str", None, optional=True),
        "shards": S("str", None, optional=True),           # default <output>/shards
        "depth": S("int", 4, POSITIVE_INT),                # n_layer = depth, n_embd = 64 * depth
        "head_dim": S("int", 64, POSITIVE_INT),
        "n_layer": S("int", None, POSITIVE_INT, optional=True),
        "n_embd": S("int", None, POSITIVE_INT, optional=True),
        "n_head": S("int", None, POSITIVE_INT, optional=True),
        "mlp": S("str", "relu2", one_of("relu2", "swiglu")),
        "tie_embeddings": S("bool", False),
        "logit_softcap": S("float", 15.0, non_negative, optional=True),   # 0 disables
        "seq_len": S("int", 256, at_least(2)),
        "device_batch_size": S("int", 8, POSITIVE_INT),   # rows per micro-batch per rank
        "total_batch_tokens": S("int", None, POSITIVE_INT, optional=True),  # default one micro-batch per rank
        "max_steps": S("int", 200, POSITIVE_INT),
        "max_seconds": S("float", None, positive, optional=True),   # time budget (checkpoint, then stop)
        "stop_at_step": S("int", None, POSITIVE_INT, optional=True),  # stop as if preempted
        "optimizer": S("str", "adamw", one_of("adamw", "muon")),
        "matrix_lr": S("float", 3e-3, positive),
        "embedding_lr": S("float", 3e-2, positive),
        "unembedding_lr": S("float", 3e-3, positive),
        "muon_lr": S("float", 0.02, positive),
        "weight_decay": S("float", 0.0, non_negative),
        "beta1": S("float", 0.9, between(0, 1, hi_open=True)),
        "beta2": S("float", 0.95, between(0, 1, hi_open=True)),
        "schedule": S("str", "cosine", one_of("cosine", "wsd", "constant")),
        "warmup_steps": S("int", 10, COUNT),
        "final_lr_frac": S("float", 0.1, between(0, 1)),
        "decay_frac": S("float", 0.2, between(0, 1)),
        "grad_clip": S("float", 1.0, non_negative, optional=True),    # 0 or null: no clipping
        "eval_every": S("int", 50, POSITIVE_INT),
        "eval_tokens": S("int", 10_000_000, POSITIVE_INT, optional=True),  # val targets scored (null: all)
        "ckpt_every": S("int", 100, POSITIVE_INT),
        "keep_checkpoints": S("int", 2, COUNT),            # 0: keep all
        "log_every": S("int", 10, POSITIVE_INT),
        "seed": S("int", 0),
        "shuffle": S("bool", True),
        "buffer_size": S("int", 32, POSITIVE_INT),
        "packing": S("str", "carry", one_of("carry", "crop")),   # crop: drop what does not fit a row
        "device": S("str", "auto", device_name),
        "compile": S("bool", False),
        "dtype": S("str", "auto", one_of("auto", "bfloat16", "bf16", "float32", "fp32")),  # auto: bf16 on CUDA
        "prefetch": S("int", 4, COUNT),
        "threads": S("int", None, POSITIVE_INT, optional=True),   # torch CPU threads
        "tensorboard": S("bool", False),
        "wandb": S("bool", False),
        "wandb_project": S("str", "crawl2tokens"),
    },
    "sft": {
        "out_dir": S("str", None, optional=True),
        "init": S("str", None, optional=True),     # default <output>/train/pretrain
        "builtin": S("dict", {"n": 2000, "seed": 0, "arithmetic_levels": [1, 2]}, optional=True),
        "data": S("any", [], str_list, optional=True),
        "extra_data": S("any", [], str_list, optional=True),
        "max_len": S("int", None, at_least(2), optional=True),   # default and maximum: the model's seq_len
        "overflow": S("str", "drop", one_of("drop", "truncate")),
        "val_fraction": S("float", 0.05, between(0, 1, hi_open=True)),
        "batch_size": S("int", 16, POSITIVE_INT),
        "steps": S("int", None, POSITIVE_INT, optional=True),    # default epochs * batches per epoch
        "epochs": S("float", 1, positive),
        "lr": S("float", 3e-4, positive),
        "min_lr_frac": S("float", 0.1, between(0, 1)),
        "warmup": S("int", 10, COUNT),
        "weight_decay": S("float", 0.0, non_negative),
        "grad_clip": S("float", 1.0, non_negative, optional=True),
        "log_every": S("int", 10, POSITIVE_INT),
        "eval_every": S("int", 0, COUNT),          # 0: only at the end
        "checkpoint_every": S("int", 0, COUNT),    # 0: only at the end
        "keep": S("int", 2, COUNT),                # newest step dirs kept (0: all)
        "max_seconds": S("float", 0, non_negative, optional=True),   # 0: no time budget
        "seed": S("int", 0),
        "device": S("str", "auto", device_name),
        "threads": S("int", None, POSITIVE_INT, optional=True),
        "samples": S("any", ["Hello!", "Who are you?", "What is 7 plus 5?"], str_list, optional=True),
    },
    "rl": {
        "out_dir": S("str", None, optional=True),
        "init": S("str", None, optional=True),     # default <output>/train/sft
        "task": S("str", "arithmetic"),                     # "arithmetic" or a JSONL of {prompt, answer}
        "level": S("any", 1, _levels),                      # arithmetic difficulty level(s)
        "train_problems": S("int", 2000, POSITIVE_INT),     # size of the training pool (arithmetic)
        "eval_problems": S("int", 64, POSITIVE_INT),        # held-out problems per evaluation
        "eval_data": S("str", None, optional=True),         # JSONL held-out set for a user task
        "heldout_percent": S("int", 20, between(1, 99)),    # user task without eval_data: hashed held-out share
        "reward": S("str", "exact"),                        # exact | numeric | regex | python | module:function
        "reward_options": S("dict", None, optional=True),   # e.g. {tolerance: 0.01}, {pattern: ...}
        "steps": S("int", 50, COUNT),
        "prompts_per_step": S("int", 8, POSITIVE_INT),
        "group_size": S("int", 8, at_least(2)),             # k completions per prompt
        "max_new_tokens": S("int", 48, POSITIVE_INT),
        "temperature": S("float", 1.0, positive),
        "top_k": S("int", None, POSITIVE_INT, optional=True),
        "lr": S("float", 3e-5, positive),
        "weight_decay": S("float", 0.0, non_negative),
        "grad_clip": S("float", 1.0, non_negative),
        "scale_by_std": S("bool", False),                   # GRPO's /std; off = Dr. GRPO
        "loss_norm": S("str", "token", one_of("token", "sequence")),
        "updates_per_batch": S("int", 1, POSITIVE_INT),     # >1: PPO-style reuse with clipped ratios
        "clip_eps": S("float", 0.2, positive),
        "kl_coef": S("float", 0.0, non_negative),           # >0: k3 KL penalty to the starting model
        "microbatch": S("int", 32, POSITIVE_INT),           # rows per forward/backward
        "eval_every": S("int", 10, COUNT),                  # 0: only before and after
        "eval_samples": S("int", 4, POSITIVE_INT),          # samples per held-out problem (pass@k: k = this)
        "eval_temperature": S("float", 1.0, non_negative),
        "save_every": S("int", 0, COUNT),                   # 0: only at the end
        "seed": S("int", 0),
        "threads": S("int", 0, COUNT),                  # 0: torch's default
        "device": S("str", "auto", device_name),       # auto: CUDA if there is one, as every phase
    },
    "chat": {
        "temperature": S("float", 0.7, non_negative),    # 0 = greedy
        "top_k": S("int", 50, COUNT, optional=True),     # 0 or null: no top-k
        "max_new_tokens": S("int", 256, POSITIVE_INT),
        "system": S("str", None, optional=True),
        "device": S("str", "auto", device_name),
        "threads": S("int", None, POSITIVE_INT, optional=True),
        "seed": S("int", None, optional=True),
        "demo_prompt": S("str", "Hello! Who are you?"),
    },
    "probe": {
        "out_dir": S("str", None, optional=True),
        "questions": S("str", None, optional=True),
        "out": S("str", None, optional=True),
        "samples": S("int", 8, POSITIVE_INT),
        "threshold": S("float", 0.5, between(0, 1)),
        "temperature": S("float", 0.8, non_negative),
        "top_k": S("int", 50, COUNT, optional=True),
        "max_new_tokens": S("int", 48, POSITIVE_INT),
        "batch_size": S("int", 64, POSITIVE_INT),
        "seed": S("int", 0, optional=True),
        "refusal": S("str", None, optional=True),       # default: train.sft_data.REFUSAL
        "device": S("str", "auto", device_name),
        "threads": S("int", None, POSITIVE_INT, optional=True),
    },
}
del S


def defaults(phase: str) -> dict:
    """The defaults of ``train.<phase>`` (out_dir left out: it has its own default)."""
    return {k: copy.deepcopy(s.default) for k, s in SCHEMAS[phase].items() if k != "out_dir"}


_KIND_NAMES = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
               "list": "a list", "dict": "a mapping"}


def _coerce(kind: str, v: Any) -> Any:
    """``v`` as ``kind``, or raise ValueError. YAML reads 5e-4 as a string and JSON has no NaN:
    numbers given as text are parsed here (so 'nan' reaches the finiteness check)."""
    if kind == "any":
        return v
    if kind == "bool":
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
    elif kind == "int":
        if isinstance(v, str):
            try:
                v = float(v.strip()) if any(c in v for c in ".eE") else int(v.strip())
            except ValueError:
                raise ValueError from None
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    elif kind == "float":
        if isinstance(v, str):
            return float(v.strip())
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    elif kind == "str":
        if isinstance(v, str):
            return v
    elif kind == "list":
        if isinstance(v, list):
            return v
    elif kind == "dict":
        if isinstance(v, dict):
            return v
    raise ValueError


def validate(config: dict, phase: str) -> dict:
    """``train.<phase>`` checked against its schema, with the defaults filled in. Raises
    ConfigError naming the dotted key and what is wrong (for an unknown key, the valid ones)."""
    train = config.get("train") or {}
    if not isinstance(train, dict):
        raise ConfigError(f"train: must be a mapping of phases ({', '.join(SCHEMAS)}), not {train!r}")
    unknown_phases = sorted(set(train) - set(SCHEMAS))
    if unknown_phases:
        raise ConfigError(f"train.{unknown_phases[0]}: unknown section; valid: {', '.join(SCHEMAS)}")
    checked = {name: _check_block(name, train.get(name)) for name in SCHEMAS}   # a typo anywhere fails early
    return checked[phase]


def _check_block(phase: str, block: Any) -> dict:
    if block is None:
        block = {}
    if not isinstance(block, dict):
        raise ConfigError(f"train.{phase}: must be a mapping of settings, not {block!r}")
    schema = SCHEMAS[phase]
    unknown = sorted(set(block) - set(schema))
    if unknown:
        raise ConfigError(f"train.{phase}.{unknown[0]}: unknown key"
                          + (f" (also unknown: {', '.join(unknown[1:])})" if unknown[1:] else "")
                          + f"; valid keys: {', '.join(sorted(schema))}")
    out = defaults(phase)
    for key, value in block.items():
        out[key] = check_value(f"train.{phase}.{key}", schema[key], value)
    return out


def check_value(name: str, setting: Setting, value: Any) -> Any:
    """One value coerced and checked; ConfigError('<name>: <value> <problem>') if it fails."""
    if value is None:
        if setting.optional or setting.default is None:
            return None
        raise ConfigError(f"{name}: must be set ({_KIND_NAMES.get(setting.kind, 'a value')}), not null")
    try:
        value = _coerce(setting.kind, value)
    except (ValueError, OverflowError):
        raise ConfigError(f"{name}: {value!r} is not {_KIND_NAMES[setting.kind]}") from None
    problem = setting.check(value) if setting.check else None
    if problem:
        raise ConfigError(f"{name}: {value!r} {problem}")
    return value

