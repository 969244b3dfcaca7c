"""Pipeline files: YAML that says which inputs, which stages, which parameters.

A pipeline is a plain dict once loaded. Command-line overrides address any value by
its dotted path (``--set stages.filter.language.threshold=0.5``); the common ones have
their own flags (``--input``, ``--output``, ``--workers``, ``--executor``). Every key is
checked against the schema (:mod:`corpus.core.settings`, with the sections the registered
stages declare) as the pipeline loads.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from . import registry, settings
from .settings import ConfigError  # noqa: F401  (re-exported: cfg.ConfigError)

DEFAULTS: dict[str, Any] = {
    "name": "pipeline",
    "inputs": [],
    "output": "out",
    "tolerate_failures": False,
    "executor": {"type": "local", "workers": 0, "ray_address": None},
    "stages": {},
    "train": {},
}


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases (``*name``): a few lines of nested aliases expand to gigabytes
    once copied or serialised (billion laughs), and a pipeline file never needs them."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ConfigError(f"line {event.start_mark.line + 1}: YAML alias *{event.anchor} is not "
                              f"allowed in a pipeline (write the value out)")
        return super().compose_node(parent, index)


def load_yaml(text: str) -> Any:
    """Parse YAML text the way every pipeline value is parsed (safe types, no aliases)."""
    return yaml.load(text, Loader=_NoAliasLoader)


def _yaml_problem(err: yaml.YAMLError) -> str:
    """A YAML error on one line: where, then what."""
    mark = getattr(err, "problem_mark", None)
    what = getattr(err, "problem", None) or str(err)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return " ".join(f"{where}{what}".split())


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
        value = load_yaml(raw) if raw != "" else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"{key.strip()}: override value is not valid YAML ({_yaml_problem(err)})") from None
    except ConfigError as err:
        raise ConfigError(f"{key.strip()}: override value: {err}") from None
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
        if not p.is_file():
            raise ConfigError(f"pipeline file not found: {p}")
        try:
            raw = load_yaml(p.read_bytes().decode("utf-8")) or {}
        except UnicodeDecodeError as err:
            raise ConfigError(f"{p}: not a text file (byte {err.start} is not UTF-8)") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{p}: not valid YAML: {_yaml_problem(err)}") from None
        except ConfigError as err:
            raise ConfigError(f"{p}: {err}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{p}: top level must be a mapping, got {type(raw).__name__}")
    config = deep_merge(DEFAULTS, raw)
    for item in overrides or []:
        key, value = parse_override(item)
        set_dotted(config, key, value)
    settings.check("", config)  # the file and overrides, before the flags build on them
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
    if not sample.get("dir"):
        sample["dir"] = str(Path(config["output"]) / "crawl")
    if not config.get("inputs"):
        config["inputs"] = [str(Path(sample["dir"]) / "*.warc.gz")]


def validate(config: dict) -> None:
    """Check every key against the schema (corpus.core.settings): the first unknown key or bad
    value fails here, naming its dotted path, before any stage runs."""
    settings.check("", config)
    if config["inputs"] is None:
        config["inputs"] = []
    if isinstance(config["inputs"], str):
        config["inputs"] = [config["inputs"]]


def check_output_writable(output: str | os.PathLike) -> None:
    """Fail before any stage runs when ``output`` cannot be created or written: probe the
    folder itself if it exists, else its nearest existing parent (nothing is left behind)."""
    target = Path(output)
    probe = target
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"output: cannot create {target}: {probe} is not a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".corpus-write-check-", dir=probe)
    except OSError as err:
        raise ConfigError(f"output: cannot write in {probe} ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(tmp)


def stage_params(config: dict, stage: str) -> dict:
    """The parameters of one stage (an empty dict when the pipeline gives none)."""
    params = (config.get("stages") or {}).get(stage) or {}
    if not isinstance(params, dict):
        raise ConfigError(f"stages.{stage} must be a mapping, got {params!r}")
    return params


def stage_dir(config: dict, stage: str) -> Path:
    """Where a registered stage writes: its folder under the pipeline's output."""
    return Path(config["output"]) / registry.folder(stage)


def fingerprint(obj: Any) -> str:
    """A short stable hash of any JSON-able value: used to tell whether a config changed."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
