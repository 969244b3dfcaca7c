"""Every corpus setting, declared once: section, key, type, default and limits.

The kinds of value, sections and the checker are the one settings model of both sides
(:mod:`contract.settings`); this module holds the corpus's own kinds, the pipeline's
top-level keys, and :func:`schema`, which puts the registered stages' sections (each stage
declares its own next to its class: ``schema = Section({...})``) under ``stages:``.

``config.load_pipeline`` checks a whole pipeline against :func:`schema` before any stage
runs, so a typo or a wrong value ends in one line naming the dotted key (and, for an
unknown key, the valid ones) instead of a traceback half-way through a run. A stage takes
its defaults from its section (``SCHEMA.defaults()``) and checks its parameters with it
(``SCHEMA.check(params, "stages.dedup")``) when code builds it without ``load_pipeline``.

The ``train:`` section belongs to the training side, which checks its inner keys itself.
"""
from __future__ import annotations

import dataclasses
from typing import Any

# The one settings model (contract/settings.py); re-exported: the stages declare with these.
from contract.settings import (ConfigError, Key, Section, boolean, fraction, integer,  # noqa: F401
                               is_number, mapping, number, one_of, paths, str_list, string, is_str_list)

from . import registry
from ..crawl.readers import ENTRY_KEYS, INPUT_FORMAT, READER


# --- kinds of value only the corpus has ---------------------------------------------------

def _maybe(ok, null: bool):
    return (lambda v: v is None or ok(v)) if null else ok


def _words(text: str, null: bool) -> str:
    return f"{text}, or null" if null else text


def languages(default, in_defaults: bool = False) -> Key:
    return Key(default, "all, a language code, or a list of language codes",
               lambda v: v is None or (isinstance(v, str) and v != "") or is_str_list(v), in_defaults)


def ngram_fractions(default) -> Key:
    """``{n: fraction}`` with n >= 2 (YAML gives int keys; ``--set a.b.3=0.1`` a string)."""
    def ok(v):
        return v is None or (isinstance(v, dict) and all(
            str(n).isdigit() and int(n) >= 2 and is_number(f) and 0 <= f <= 1 for n, f in v.items()))
    return Key(default, "a mapping of n-gram size (>= 2) to a number in [0, 1], or null", ok)


def stage_name(default=None, null: bool = True, in_defaults: bool = False) -> Key:
    """The name of a registered stage (``input_stage``: read another stage's output);
    checked against the registry as the pipeline loads, so registered stages count."""
    return Key(default, lambda: _words("one of " + ", ".join(registry.names()), null),
               _maybe(lambda v: isinstance(v, str) and v in registry.names(), null), in_defaults)


INPUT_STAGE = stage_name()


# --- the pipeline ------------------------------------------------------------------------

#: The pipeline's own keys; :func:`schema` adds ``stages:``.
SCHEMA = Section({
    "name": string("pipeline"),
    "inputs": Key([], "a path, glob or URL, or a list of them",
                  lambda v: v is None or (isinstance(v, str) and v != "") or is_str_list(v)),
    "output": Key("out", "a directory path or a URL (s3://bucket/prefix)", lambda v: isinstance(v, str) and v != ""),
    "tolerate_failures": boolean(False),
    # documents from outside (JSONL, Parquet, HF datasets) enter after extract: corpus/crawl/readers.py
    "input_format": INPUT_FORMAT,
    "reader": READER,
    "executor": Section({
        "type": one_of("local", ("local", "ray")),
        "workers": integer(0, 0, what="an integer >= 0 (0 = one per core)"),
        "ray_address": string(None, null=True),
    }),
    "sample": Section({  # the embedded sample crawl (corpus.sample)
        "seed": integer(0, 0),
        "pages": integer(2000, 1),
        "dir": string(None, null=True),
    }, default=None),
    "train": Section({}, free=True),  # the training side's settings: train/config.py checks them
})


def schema() -> Section:
    """The whole pipeline's schema, with a section per registered stage under ``stages:``."""
    stages = Section({name: _with_entry(registry.stage_class(name)) for name in registry.names()},
                     item="stage", rule=_across_stages)
    return Section({**SCHEMA.keys, "stages": stages})


def _with_entry(cls) -> Section:
    """A stage's section; a stage reading another's output also takes ``input:`` (and its
    ``input_format``): documents from outside enter the pipeline there."""
    if cls.upstream is None or cls.schema.free:
        return cls.schema
    return dataclasses.replace(cls.schema, keys={**cls.schema.keys, **ENTRY_KEYS})


def _across_stages(stages: dict) -> tuple[str, str] | None:
    """A mistake that spans stages: each stage class may declare ``across(stages)``
    returning ``("<stage>.<key>", problem)`` (the extract cascade needs the filter's languages)."""
    for name in registry.names():
        rule = getattr(registry.stage_class(name), "across", None)
        problem = rule(stages) if rule else None
        if problem:
            return problem
    return None


# --- reading the schema ------------------------------------------------------------------

def section(path: str) -> Section:
    """The section at a dotted path (``"stages.filter.c4"``)."""
    node: Any = schema()
    for part in [p for p in path.split(".") if p]:
        node = node.keys[part]
    if not isinstance(node, Section):
        raise KeyError(f"{path} is a key, not a section")
    return node


def defaults(path: str = "") -> dict:
    """The default value of every key of a section (keys handled apart are left out)."""
    return section(path).defaults()


def check(path: str, value: Any) -> None:
    """Raise :class:`ConfigError` naming the first dotted key in ``value`` (the section at
    ``path``; ``""`` = a whole pipeline) that is unknown or not what it must be."""
    section(path).check(value, path)


def read(value: Any) -> dict:
    """A whole pipeline checked, each value read as its kind and each empty section as its
    defaults; only the keys given (each stage fills in its own defaults)."""
    return schema().read(value, "", fill=False)
