"""Pipeline files: YAML that says which inputs, which stages, which parameters.

A pipeline is a plain dict once loaded (the file reader and the override parser are the
one pair of both sides: :mod:`contract.settings`). Command-line overrides address any value by
its dotted path (``--set stages.filter.language.threshold=0.5``); the common ones have
their own flags (``--input``, ``--output``, ``--workers``, ``--executor``). Every key is
checked against the schema (:mod:`corpus.core.settings`, with the sections the registered
stages declare) as the pipeline loads.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

# The one loader and override parser of both sides (re-exported: cfg.ConfigError, ...).
from contract.settings import (ConfigError, apply_overrides, deep_merge, load_file,  # noqa: F401
                               load_yaml, parse_override, set_dotted)

from . import fs, registry, settings

DEFAULTS: dict[str, Any] = {
    "name": "pipeline",
    "inputs": [],
    "output": "out",
    "tolerate_failures": False,
    "executor": {"type": "local", "workers": 0, "ray_address": None},
    "stages": {},
    "train": {},
}


def load_pipeline(path: str | os.PathLike | None, overrides: list[str] | None = None,
                  **flags: Any) -> dict:
    """Read a pipeline file, apply ``--set`` overrides and the common flags.

    ``flags`` may hold ``inputs`` (list), ``output``, ``workers``, ``executor`` and
    ``ray_address``; ``None`` means "not given". Relative input and output paths are
    taken relative to the current directory, as a user typing them expects. An empty
    section (``executor:`` with nothing under it) is its defaults.
    """
    raw = load_file(path) if path is not None else {}
    config = apply_overrides(deep_merge(DEFAULTS, raw), overrides)
    # the file and overrides checked (and read as their kinds) before the flags build on them
    config = deep_merge(DEFAULTS, settings.read(config))
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
    apply_output_url(config)
    return config


def apply_output_url(config: dict) -> None:
    """An ``output`` URL (s3://, gs://, ...) is worked on through a local mirror
    (:mod:`corpus.core.fs`): ``output`` becomes the mirror, ``output_url`` keeps the URL."""
    if fs.is_url(config["output"]) and not config.get("output_url"):
        url = str(config["output"]).rstrip("/")
        config["output"] = fs.mirror_for(url)
        config["output_url"] = url
        sample = config.get("sample")  # generated in the mirror, published, read from the URL
        if isinstance(sample, dict) and str(sample.get("dir", "")).startswith(url):
            sample["dir"] = fs.remote_for(config).mirror_path(sample["dir"])


def apply_sample_defaults(config: dict) -> None:
    """A pipeline with a ``sample:`` section reads the crawl it generates: the crawl goes to
    ``<output>/crawl`` unless ``sample.dir`` says otherwise, and the inputs default to it, so
    ``--output /tmp/x`` alone gives a self-contained run."""
    sample = config.get("sample")
    if not isinstance(sample, dict):
        return
    if not sample.get("dir"):
        sample["dir"] = _join(config["output"], "crawl")
    if not config.get("inputs"):
        config["inputs"] = [_join(sample["dir"], "*.warc.gz")]


def _join(folder: str, name: str) -> str:
    """``folder/name`` for a path or a URL (a Path would fold ``s3://`` into ``s3:/``)."""
    if fs.is_url(folder):
        return f"{str(folder).rstrip('/')}/{name}"
    return str(Path(folder) / name)


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
    remote = fs.remote_for(str(output))
    if remote is not None:
        try:
            fs.check_writable(remote)
        except fs.InputError as err:
            raise ConfigError(f"output: {err}") from None
        return
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
