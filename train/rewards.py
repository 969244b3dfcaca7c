"""Verifiable rewards: score a completion against a known answer, chosen by name.

    exact    the final answer (the ``Answer:`` line, else the last non-empty line) equals the answer
    numeric  the first number in the final answer is within ``tolerance`` of the answer
    regex    the final answer fully matches the answer read as a regular expression
             (or, with ``pattern``, the pattern — ``{answer}`` stands for the escaped answer —
             is found anywhere in the completion)
    python   a user function ``module:function`` (or ``path/to/file.py:function``) called as
             ``fn(completion, answer)`` (plus ``prompt=`` if it takes one), returning a number

``make_reward(name, **options)`` returns ``reward(completion, answer, prompt="") -> float``.
A spec containing ``:`` (``mypkg.rewards:score``) is read as ``python`` with that function.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import re
import sys
from pathlib import Path
from typing import Callable

RewardFn = Callable[..., float]
ANSWER_RE = re.compile(r"\banswer\s*[:=][ \t]*([^\n]*)", re.IGNORECASE)
NUMBER_RE = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def final_answer(completion: str) -> str:
    """What follows the last ``Answer:`` marker, to the end of its line (a tokenizer that
    folds newlines into spaces still works); without a marker, the last non-empty line."""
    matches = list(ANSWER_RE.finditer(completion))
    if matches:
        return matches[-1].group(1).strip()
    lines = [ln for ln in completion.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def _norm(text: str) -> str:
    return " ".join(text.strip().split()).rstrip(".").casefold()


def parse_number(text: str) -> float | None:
    """First number in ``text`` (thousands commas allowed), or None."""
    m = NUMBER_RE.search(text)
    if not m:
        return None
    try:
        return float(m.group(0).replace(",", ""))
    except ValueError:
        return None


def exact_reward(completion: str, answer: str, prompt: str = "") -> float:
    return float(_norm(final_answer(completion)) == _norm(str(answer)))


def make_numeric(tolerance: float = 1e-6, relative: float = 0.0) -> RewardFn:
    """Numeric match: |got - want| <= max(tolerance, relative * |want|)."""
    def numeric_reward(completion: str, answer: str, prompt: str = "") -> float:
        want = parse_number(str(answer))
        if want is None:
            raise ValueError(f"numeric reward: answer {answer!r} is not a number")
        got = parse_number(final_answer(completion))
        if got is None or not math.isfinite(got):
            return 0.0
        return float(abs(got - want) <= max(float(tolerance), float(relative) * abs(want)))
    return numeric_reward


def make_regex(pattern: str | None = None, flags: str = "") -> RewardFn:
    """Without ``pattern``: the answer is a regex that must fully match the final answer.
    With ``pattern``: it is searched in the whole completion, ``{answer}`` replaced by the
    escaped answer."""
    re_flags = re.IGNORECASE if "i" in flags else 0

    def regex_reward(completion: str, answer: str, prompt: str = "") -> float:
        if pattern is None:
            return float(re.fullmatch(str(answer), final_answer(completion).strip(), re_flags) is not None)
        rx = pattern.replace("{answer}", re.escape(str(answer)))
        return float(re.search(rx, completion, re_flags | re.MULTILINE) is not None)
    return regex_reward


def load_function(spec: str) -> Callable:
    """``module:function`` or ``path/to/file.py:function`` -> the function."""
    if ":" not in spec:
        raise ValueError(f"python reward {spec!r} must look like module:function or file.py:function")
    target, name = spec.rsplit(":", 1)
    if target.endswith(".py"):
        path = Path(target)
        if not path.exists():
            raise ValueError(f"python reward: file not found: {path}")
        mod_spec = importlib.util.spec_from_file_location(f"_reward_{path.stem}", path)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))  # user modules next to the pipeline
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise ValueError(f"python reward: cannot import module {target!r}: {err}") from err
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ValueError(f"python reward: {target!r} has no function {name!r}")
    return fn


def make_python(function: str) -> RewardFn:
    fn = load_function(function)
    try:
        takes_prompt = "prompt" in inspect.signature(fn).parameters or any(
            p.kind == p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        takes_prompt = False

    def python_reward(completion: str, answer: str, prompt: str = "") -> float:
        value = fn(completion, answer, prompt=prompt) if takes_prompt else fn(completion, answer)
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"python reward {function!r} returned {value!r}")
        return value
    return python_reward


REWARDS = ("exact", "numeric", "regex", "python")


def make_reward(name: str = "exact", **options) -> RewardFn:
    """A reward function by name (see the module docstring for the options)."""
    if name not in REWARDS and ":" in name:
        return make_python(name)
    if name == "exact":
        return exact_reward
    if name == "numeric":
        return make_numeric(**{k: options[k] for k in ("tolerance", "relative") if k in options})
    if name == "regex":
        return make_regex(**{k: options[k] for k in ("pattern", "flags") if k in options})
    if name == "python":
        if not options.get("function"):
            raise ValueError("python reward needs function: module:function")
        return make_python(options["function"])
    raise ValueError(f"unknown reward {name!r}; choose from {', '.join(REWARDS)} or give module:function")
