"""Every corpus setting, declared once: section, key, type, default and limits.

This module holds the kinds of value, the pipeline's top-level keys and the checker. Each
stage declares its own section next to its class (``schema = Section({...})``), and
:func:`schema` puts the registered stages' sections under ``stages:``.

``config.load_pipeline`` checks a whole pipeline against :func:`schema` before any stage
runs, so a typo or a wrong value ends in one line naming the dotted key (and, for an
unknown key, the valid ones) instead of a traceback half-way through a run. A stage takes
its defaults from its section (``SCHEMA.defaults()``) and checks its parameters with it
(``SCHEMA.check(params, "stages.dedup")``) when code builds it without ``load_pipeline``.

The ``train:`` section belongs to the training side, which checks its inner keys itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from . import registry

_NESTED = object()  # a section's default: the defaults of its keys


class ConfigError(ValueError):
    """A pipeline file or override that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Key:
    """One setting: its default, what it must be (in words, for the error line) and the
    test. ``in_defaults=False``: accepted but handled apart (``input_stage``, ``enabled``)."""

    default: Any
    must_be: str | Callable[[], str]  # a function when the words change (registered stages)
    ok: Callable[[Any], bool]
    in_defaults: bool = True


@dataclass(frozen=True)
class Section:
    """A mapping with known keys. ``rule`` sees the section over its defaults and returns
    ``(key, problem)`` for a mistake that spans keys; ``free``: inner keys not checked here;
    ``nullable``: ``null`` stands for the default (``stats:`` with nothing under it)."""

    keys: dict
    rule: Callable[[dict], tuple[str, str] | None] | None = None
    free: bool = False
    nullable: bool = True
    default: Any = _NESTED
    in_defaults: bool = True
    item: str = "key"  # what its keys are, for the error line ("stage" under stages:)

    def defaults(self) -> dict:
        """The default value of every key (keys handled apart are left out)."""
        return {key: (spec.defaults() if spec.default is _NESTED else spec.default)
                if isinstance(spec, Section) else spec.default
                for key, spec in self.keys.items() if spec.in_defaults}

    def check(self, value: Any, path: str) -> None:
        """Raise :class:`ConfigError` naming the first dotted key under ``path`` in
        ``value`` that is unknown or not what it must be."""
        _walk(self, value, path)


# --- kinds of value ----------------------------------------------------------------------

def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _maybe(ok, null: bool):
    return (lambda v: v is None or ok(v)) if null else ok


def _words(text: str, null: bool) -> str:
    return f"{text}, or null" if null else text


def integer(default, lo: int | None = None, null: bool = False, what: str = "") -> Key:
    text = what or ("an integer" if lo is None else "a positive integer" if lo == 1
                    else f"an integer >= {lo}")
    return Key(default, _words(text, null), _maybe(lambda v: _int(v) and (lo is None or v >= lo), null))


def number(default, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           null: bool = False) -> Key:
    """A real number within ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    def ok(v):
        return (is_number(v) and (lo is None or (v > lo if lo_open else v >= lo))
                and (hi is None or v <= hi))
    if lo is not None and hi is not None:
        text = f"a number in {'(' if lo_open else '['}{lo}, {hi}]"
    elif lo is not None:
        text = f"a number {'>' if lo_open else '>='} {lo}"
    else:
        text = "a number"
    return Key(default, _words(text, null), _maybe(ok, null))


def fraction(default, null: bool = False) -> Key:
    return number(default, 0, 1, null=null)


def boolean(default, in_defaults: bool = True) -> Key:
    return Key(default, "true or false", lambda v: isinstance(v, bool), in_defaults)


def string(default, null: bool = False) -> Key:
    return Key(default, _words("a string", null), _maybe(lambda v: isinstance(v, str) and v != "", null))


def one_of(default, choices, null: bool = False, in_defaults: bool = True) -> Key:
    return Key(default, _words("one of " + ", ".join(map(str, choices)), null),
               _maybe(lambda v: isinstance(v, str) and v in choices, null), in_defaults)


def _strs(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) and x for x in v)


def str_list(default) -> Key:
    return Key(default, "a list of strings", lambda v: v is None or _strs(v))


def paths(default) -> Key:
    return Key(default, "a path, a list of paths, or null",
               lambda v: v is None or (isinstance(v, str) and v != "") or _strs(v))


def mapping(default) -> Key:
    return Key(default, "a mapping, or null", lambda v: v is None or isinstance(v, dict))


def languages(default, in_defaults: bool = False) -> Key:
    return Key(default, "all, a language code, or a list of language codes",
               lambda v: v is None or (isinstance(v, str) and v != "") or _strs(v), in_defaults)


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
                  lambda v: v is None or (isinstance(v, str) and v != "") or _strs(v)),
    "output": Key("out", "a directory path", lambda v: isinstance(v, str) and v != ""),
    "tolerate_failures": boolean(False),
    "executor": Section({
        "type": one_of("local", ("local", "ray")),
        "workers": integer(0, 0, what="an integer >= 0 (0 = one per core)"),
        "ray_address": string(None, null=True),
    }, nullable=False),
    "sample": Section({  # the embedded sample crawl (corpus.sample)
        "seed": integer(0, 0),
        "pages": integer(2000, 1),
        "dir": string(None, null=True),
    }, default=None),
    "train": Section({}, free=True),  # the training side's settings: train/config.py checks them
}, nullable=False)


def schema() -> Section:
    """The whole pipeline's schema, with a section per registered stage under ``stages:``."""
    stages = Section({name: registry.stage_class(name).schema for name in registry.names()},
                     item="stage")
    return Section({**SCHEMA.keys, "stages": stages}, nullable=False)


# --- reading the schema ------------------------------------------------------------------

def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
    _walk(section(path), value, path)


def _walk(spec: Section, value: Any, path: str) -> None:
    where = path or "the pipeline"
    if value is None and spec.nullable:
        return
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a mapping, got {_show(value)}")
    if spec.free:
        return
    for key, item in value.items():
        dotted = f"{path}.{key}" if path else str(key)
        sub = spec.keys.get(key) if isinstance(key, str) else None
        if sub is None:
            raise ConfigError(f"{dotted}: unknown {spec.item}; valid {spec.item}s: "
                              f"{', '.join(sorted(spec.keys)) or 'none'}")
        if isinstance(sub, Section):
            _walk(sub, item, dotted)
        elif not sub.ok(item):
            must_be = sub.must_be() if callable(sub.must_be) else sub.must_be
            raise ConfigError(f"{dotted}: must be {must_be}, got {_show(item)}")
    if spec.rule is not None:
        merged = {**{k: s.default for k, s in spec.keys.items() if isinstance(s, Key)}, **value}
        problem = spec.rule(merged)
        if problem:
            key, text = problem
            raise ConfigError(f"{path}.{key}: {text}")
