"""Pipeline files: YAML that says which inputs, which stages, which parameters.

A pipeline is a plain dict once loaded. Command-line overrides address any value by
its dotted path (``--set stages.filter.language.threshold=0.5``); the common ones have
their own flags (``--input``, ``--output``, ``--workers``, ``--executor``).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

#: Order in which ``corpus run`` executes the corpus stages.
CORPUS_STAGES = ["extract", "filter", "dedup", "tokenizer", "tokenize", "stats"]

#: Where each stage writes, relative to the pipeline's output directory.
STAGE_DIRS = {
    "extract": "extract",
    "filter": "filter",
    "dedup": "dedup",
    "tokenizer": "tokenizer",
    "tokenize": "shards",
    "stats": "report",
}

#: Which stage's output a stage reads by default (None: the pipeline's inputs).
UPSTREAM = {
    "extract": None,
    "filter": "extract",
    "dedup": "filter",
    "tokenizer": "dedup",
    "tokenize": "dedup",
    "stats": None,
}

DEFAULTS: dict[str, Any] = {
    "name": "pipeline",
    "inputs": [],
    "output": "out",
    "tolerate_failures": False,
    "executor": {"type": "local", "workers": 0, "ray_address": None},
    "stages": {},
    "train": {},
}


class ConfigError(ValueError):
    """A pipeline file or override that cannot be used; the message says which and why."""


def deep_merge(base: dict, update: dict) -> dict:
    """Return ``base`` updated recursively with ``update`` (neither is modified)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def set_dotted(config: dict, dotted: str, value: Any) -> None:
    """Set ``config[a][b][c] = value`` for ``dotted == "a.b.c"``, creating dicts on the way."""
    keys = [k for k in dotted.split(".") if k]
    if not keys:
        raise ConfigError(f"empty key in override {dotted!r}")
    node = config
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted!r}: {key!r} holds {child!r}, not a mapping")
        node = child
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``"a.b=3"`` -> ``("a.b", 3)``; the value is read as YAML so numbers and lists work."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({err})") from None
    return key.strip(), value


def load_pipeline(path: str | os.PathLike | None, overrides: list[str] | None = None,
                  **flags: Any) -> dict:
    """Read a pipeline YAML, apply ``--set`` overrides and the common flags.

    ``flags`` may hold ``inputs`` (list), ``output``, ``workers``, ``executor`` and
    ``ray_address``; ``None`` means "not given". Relative input and output paths are
    taken relative to the current directory, as a user typing them expects.
    """
    raw: dict = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"pipeline file not found: {p}")
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{p}: not valid YAML: {err}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{p}: top level must be a mapping, got {type(raw).__name__}")
    config = deep_merge(DEFAULTS, raw)
    for item in overrides or []:
        key, value = parse_override(item)
        set_dotted(config, key, value)
    if flags.get("inputs"):
        config["inputs"] = list(flags["inputs"])
    if flags.get("output"):
        config["output"] = flags["output"]
    if flags.get("workers") is not None:
        config["executor"]["workers"] = int(flags["workers"])
    if flags.get("executor"):
        config["executor"]["type"] = flags["executor"]
    if flags.get("ray_address"):
        config["executor"]["ray_address"] = flags["ray_address"]
    apply_sample_defaults(config)
    validate(config)
    return config


def apply_sample_defaults(config: dict) -> None:
    """A pipeline with a ``sample:`` section reads the crawl it generates: the crawl goes to
    ``<output>/crawl`` unless ``sample.dir`` says otherwise, and the inputs default to it, so
    ``--output /tmp/x`` alone gives a self-contained run."""
    sample = config.get("sample")
    if not isinstance(sample, dict):
        return
    sample.setdefault("dir", str(Path(config["output"]) / "crawl"))
    if not config.get("inputs"):
        config["inputs"] = [str(Path(sample["dir"]) / "*.warc.gz")]


def validate(config: dict) -> None:
    """Fail early, with a message naming the key, on the mistakes users make most."""
    if isinstance(config["inputs"], str):
        config["inputs"] = [config["inputs"]]
    if not isinstance(config["inputs"], list):
        raise ConfigError("inputs must be a list of paths, globs or URLs")
    if not isinstance(config.get("output"), str) or not config["output"]:
        raise ConfigError("output must be a directory path")
    ex = config["executor"]
    if ex.get("type") not in ("local", "ray"):
        raise ConfigError(f"executor.type must be 'local' or 'ray', got {ex.get('type')!r}")
    if not isinstance(ex.get("workers", 0), int) or ex.get("workers", 0) < 0:
        raise ConfigError("executor.workers must be a non-negative integer (0 = one per core)")
    stages = config.get("stages") or {}
    unknown = sorted(set(stages) - set(CORPUS_STAGES))
    if unknown:
        raise ConfigError(f"unknown stage(s) in stages: {unknown}; known: {CORPUS_STAGES}")


def stage_params(config: dict, stage: str) -> dict:
    """The parameters of one stage (an empty dict when the pipeline gives none)."""
    params = (config.get("stages") or {}).get(stage) or {}
    if not isinstance(params, dict):
        raise ConfigError(f"stages.{stage} must be a mapping, got {params!r}")
    return params


def stage_dir(config: dict, stage: str) -> Path:
    return Path(config["output"]) / STAGE_DIRS[stage]


def fingerprint(obj: Any) -> str:
    """A short stable hash of any JSON-able value: used to tell whether a config changed."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
