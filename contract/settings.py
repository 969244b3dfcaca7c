"""The one settings model of both sides: kinds of value, sections, the checker, the pipeline
file loader and the ``--set`` override parser.

A section (:class:`Section`) maps each of its keys to a :class:`Key` (default, what it must
be, the test) or to a nested section. ``corpus`` declares each stage's section next to the
stage and the pipeline's top level in ``corpus/core/settings.py``; ``train`` declares each
phase's section in ``train/config.py``. The checker turns every mistake into one
:class:`ConfigError` line naming the dotted key (and, for an unknown key, the valid ones).

Text the YAML reader leaves as a string is read as the kind asks (``5e-4`` is a string to
YAML 1.1, ``nan`` comes as text from ``--set`` without PyYAML), so the same file gives the
same values on both sides. A section given as null (a key with nothing under it) is its
defaults. PyYAML is imported only when YAML is read: a JSON pipeline works without it.
Torch-free, and imports neither corpus nor train.
"""
from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

_NESTED = object()  # a section's default: the defaults of its keys


class ConfigError(ValueError):
    """A pipeline file, override or flag that cannot be used; the message says which and why
    (the command prints it as one line and exits 2)."""


@dataclass(frozen=True)
class Key:
    """One setting: its default, what it must be (in words, for the error line) and the
    test. ``parse`` reads a value of another type as this kind (``"5e-4"`` -> 0.0005) or
    raises ValueError, and then the line says the value is not ``kind``.
    ``in_defaults=False``: accepted but handled apart (``input_stage``, ``out_dir``)."""

    default: Any
    must_be: str | Callable[[], str]  # a function when the words change (registered stages)
    ok: Callable[[Any], bool]
    in_defaults: bool = True
    kind: str = ""
    parse: Callable[[Any], Any] | None = None

    def words(self) -> str:
        return self.must_be() if callable(self.must_be) else self.must_be

    def check(self, value: Any, name: str, read: bool = True) -> Any:
        """``value`` read as this kind (unless not ``read``) and checked; ConfigError naming
        ``name`` if it fails."""
        if read and self.parse is not None and value is not None:
            try:
                value = self.parse(value)
            except (ValueError, TypeError, OverflowError):
                also = "" if self.words() == self.kind else f" (must be {self.words()})"
                raise ConfigError(f"{name}: {_show(value)} is not {self.kind}{also}") from None
        if not self.ok(value):
            raise ConfigError(f"{name}: must be {self.words()}, got {_show(value)}")
        return value


@dataclass(frozen=True)
class Section:
    """A mapping with known keys. ``rule`` sees the section over its defaults and returns
    ``(key, problem)`` for a mistake that spans keys; ``free``: inner keys not checked here;
    ``default``: what the section is when absent or null (its keys' defaults unless given);
    ``item``/``valid``: what its keys are called in the error line."""

    keys: dict
    rule: Callable[[dict], tuple[str, str] | None] | None = None
    free: bool = False
    default: Any = _NESTED
    in_defaults: bool = True
    item: str = "key"   # "stage" under stages:
    valid: str = ""     # the words before the list of valid keys (default "valid <item>s")

    def __getitem__(self, key: str):
        return self.keys[key]

    def items(self):
        return self.keys.items()

    def defaults(self) -> dict:
        """The default value of every key (keys handled apart are left out)."""
        return {key: spec.default_value() if isinstance(spec, Section) else copy.deepcopy(spec.default)
                for key, spec in self.keys.items() if spec.in_defaults}

    def default_value(self) -> Any:
        return self.defaults() if self.default is _NESTED else copy.deepcopy(self.default)

    def check(self, value: Any, path: str) -> None:
        """Raise :class:`ConfigError` naming the first dotted key under ``path`` in
        ``value`` that is unknown or not what it must be. Strict: values built by code
        must already be of their kind (text is read as numbers only as a file loads)."""
        _walk(self, value, path, fill=False, read=False)

    def read(self, value: Any, path: str, fill: bool = True) -> Any:
        """``value`` checked, each value read as its kind, a null section as its defaults;
        ``fill``: every missing key with its default too (else only the keys given)."""
        return _walk(self, value, path, fill)


# --- kinds of value ----------------------------------------------------------------------

def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _read_int(v):
    if isinstance(v, str):
        v = float(v.strip()) if any(c in v for c in ".eEnN") else int(v.strip())
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if is_int(v):
        return v
    raise ValueError


def _read_number(v):
    if isinstance(v, str):
        return float(v.strip())
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v
    raise ValueError


def _read_bool(v):
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    if isinstance(v, bool):
        return v
    raise ValueError


def _maybe(ok, null: bool):
    return (lambda v: v is None or ok(v)) if null else ok


def _words(text: str, null: bool) -> str:
    return f"{text}, or null" if null else text


def integer(default, lo: int | None = None, hi: int | None = None, null: bool = False,
            what: str = "", in_defaults: bool = True) -> Key:
    """An integer within ``[lo, hi]`` (``2.0`` and ``"2"`` read as 2)."""
    text = what or ("an integer" if lo is None and hi is None else f"an integer in [{lo}, {hi}]"
                    if lo is not None and hi is not None else f"an integer >= {lo}" if hi is None
                    else f"an integer <= {hi}")
    return Key(default, _words(text, null),
               _maybe(lambda v: is_int(v) and (lo is None or v >= lo) and (hi is None or v <= hi), null),
               in_defaults, "an integer", _read_int)


def number(default, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False, null: bool = False) -> Key:
    """A finite real number within ``[lo, hi]`` (open ends with ``lo_open``/``hi_open``);
    text such as ``5e-4`` or ``nan`` is read as a number (and nan then refused)."""
    def ok(v):
        return (is_number(v) and (lo is None or (v > lo if lo_open else v >= lo))
                and (hi is None or (v < hi if hi_open else v <= hi)))
    if lo is not None and hi is not None:
        text = f"a number in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    elif lo is not None:
        text = f"a finite number {'>' if lo_open else '>='} {lo}"
    elif hi is not None:
        text = f"a finite number {'<' if hi_open else '<='} {hi}"
    else:
        text = "a finite number"
    return Key(default, _words(text, null), _maybe(ok, null), True, "a number", _read_number)


def fraction(default, null: bool = False) -> Key:
    return number(default, 0, 1, null=null)


def boolean(default, in_defaults: bool = True) -> Key:
    return Key(default, "true or false", lambda v: isinstance(v, bool), in_defaults, "true or false", _read_bool)


def string(default, null: bool = False, empty: bool = False, in_defaults: bool = True) -> Key:
    """A string (``empty``: ``""`` allowed too)."""
    return Key(default, _words("a string", null),
               _maybe(lambda v: isinstance(v, str) and (empty or v != ""), null), in_defaults)


def one_of(default, choices, null: bool = False, in_defaults: bool = True) -> Key:
    return Key(default, _words("one of " + ", ".join(map(str, choices)), null),
               _maybe(lambda v: isinstance(v, str) and v in choices, null), in_defaults)


def is_str_list(v) -> bool:
    """A list of non-empty strings."""
    return isinstance(v, list) and all(isinstance(x, str) and x for x in v)


def str_list(default, single: bool = False) -> Key:
    """A list of strings, or null (``single``: one string too)."""
    return Key(default, "a string or a list of strings, or null" if single else "a list of strings",
               lambda v: v is None or (single and isinstance(v, str) and v != "") or is_str_list(v))


def paths(default) -> Key:
    return Key(default, "a path, a list of paths, or null",
               lambda v: v is None or (isinstance(v, str) and v != "") or is_str_list(v))


def mapping(default) -> Key:
    return Key(default, "a mapping, or null", lambda v: v is None or isinstance(v, dict))


def check_value(name: str, key: Key, value: Any) -> Any:
    """One value (a flag, say) read and checked as ``key``; ConfigError naming ``name``."""
    return key.check(value, name)


# --- the checker -------------------------------------------------------------------------

def _show(value: Any) -> str:
    text = "null" if value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _walk(spec: Section, value: Any, path: str, fill: bool, read: bool = True) -> Any:
    where = path or "the pipeline"
    if value is None:  # an empty section: its defaults
        if spec.default is not _NESTED or spec.free:
            return spec.default_value() if spec.default is not _NESTED else {}
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a mapping, got {_show(value)}")
    if spec.free:
        return copy.deepcopy(value)
    unknown = [k for k in value if not isinstance(k, str) or k not in spec.keys]
    if unknown:
        dotted = f"{path}.{unknown[0]}" if path else str(unknown[0])
        also = f" (also unknown: {', '.join(map(str, unknown[1:]))})" if unknown[1:] else ""
        valid = spec.valid or f"valid {spec.item}s"
        raise ConfigError(f"{dotted}: unknown {spec.item}{also}; {valid}: "
                          f"{', '.join(spec.keys) or 'none'}")
    out = spec.defaults() if fill else {}
    for key, item in value.items():
        dotted = f"{path}.{key}" if path else key
        sub = spec.keys[key]
        if isinstance(sub, Section):
            out[key] = _walk(sub, item, dotted, fill, read)
        else:
            out[key] = sub.check(item, dotted, read)
    if spec.rule is not None:
        merged = {**{k: s.default for k, s in spec.keys.items() if isinstance(s, Key)}, **out}
        problem = spec.rule(merged)
        if problem:
            key, text = problem
            raise ConfigError(f"{path}.{key}: {text}")
    return out


# --- pipeline files ----------------------------------------------------------------------

def _yaml():
    try:
        import yaml  # optional: PyYAML (a JSON pipeline works without it)
    except ImportError:
        return None
    return yaml


def _alias_error(event) -> ConfigError:
    return ConfigError(f"line {event.start_mark.line + 1}: YAML alias *{event.anchor} is not "
                       f"allowed in a pipeline (write the value out)")


def _no_alias_loader(yaml):
    class NoAliasLoader(yaml.SafeLoader):
        """YAML without aliases (``*name``): a few lines of nested aliases expand to
        gigabytes once copied or serialised (billion laughs); a pipeline never needs them."""

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                raise _alias_error(self.peek_event())
            return super().compose_node(parent, index)
    return NoAliasLoader


def load_yaml(text: str) -> Any:
    """Parse YAML text the way every pipeline value is parsed (safe types, no aliases);
    ConfigError for an alias or text that is not YAML."""
    yaml = _yaml()
    if yaml is None:
        raise ConfigError("reading YAML needs PyYAML (pip install pyyaml); give the pipeline as JSON")
    try:
        fast = getattr(yaml, "CSafeLoader", None)  # libyaml: ~10x the pure-Python parser
        if fast is None:
            return yaml.load(text, Loader=_no_alias_loader(yaml))
        for event in yaml.parse(text, Loader=fast):  # refuse aliases before anything is built
            if isinstance(event, yaml.AliasEvent):
                raise _alias_error(event)
        return yaml.load(text, Loader=fast)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        what = getattr(err, "problem", None) or str(err)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ConfigError("not valid YAML: " + " ".join(f"{where}{what}".split())) from None


def load_file(path: str | os.PathLike) -> dict:
    """A pipeline file (JSON for ``*.json``, else YAML) as a dict: an empty file is ``{}``.
    Every problem is one ConfigError line starting with the file's name."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"pipeline file not found: {p}")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{p}: not a text file (byte {err.start} is not UTF-8)") from None
    try:
        raw = json.loads(text) if p.suffix == ".json" and text.strip() else load_yaml(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{p}: not valid JSON: line {err.lineno}, column {err.colno}: {err.msg}") from None
    except ConfigError as err:
        raise ConfigError(f"{p}: {err}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: top level must be a mapping, got {type(raw).__name__}")
    return raw


# --- overrides ---------------------------------------------------------------------------

def parse_override(text: str) -> tuple[str, Any]:
    """``"a.b=3"`` -> ``("a.b", 3)``; the value is read as YAML (as JSON, else as text,
    without PyYAML), so numbers and lists work."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if raw == "":
        return key, ""
    if _yaml() is None:
        try:
            return key, json.loads(raw)
        except json.JSONDecodeError:
            return key, raw
    try:
        return key, load_yaml(raw)
    except ConfigError as err:
        raise ConfigError(f"{key}: override value: {err}") from None


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
            raise ConfigError(f"cannot set {dotted!r}: {key!r} holds {_show(child)}, not a mapping")
        node = child
    node[keys[-1]] = value


def apply_overrides(config: dict, overrides: list[str] | None) -> dict:
    """``config`` with each ``key.path=value`` set, in order (``config`` is changed)."""
    for item in overrides or []:
        set_dotted(config, *parse_override(item))
    return config


def deep_merge(base: dict, update: dict) -> dict:
    """Return ``base`` updated recursively with ``update`` (neither is modified). A null
    over a mapping keeps the mapping: an empty section is its defaults."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        elif not (value is None and isinstance(out.get(key), dict)):
            out[key] = copy.deepcopy(value)
    return out
