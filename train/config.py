"""Training settings come from the pipeline file's ``train:`` section, overridable by
``--set key.path=value``. PyYAML is optional here: a JSON pipeline file works without it."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    pass


def _load_text(path: Path) -> dict:
    text = path.read_text()
    if path.suffix == ".json":
        return json.loads(text)
    try:
        import yaml
    except ImportError:
        raise ConfigError(f"{path}: reading YAML needs PyYAML (pip install pyyaml), "
                          f"or give the pipeline as JSON") from None
    return yaml.safe_load(text) or {}


def _parse_value(raw: str) -> Any:
    try:
        import yaml
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
