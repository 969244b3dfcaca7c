"""Arithmetic word problems with known answers: the built-in task RL reinforces and SFT
teaches the answer format of. Problems are generated, so there is no data to ship, and a
held-out split is carved out by hashing each problem's template and numbers, so a test
problem never appears in training under another name or item. A third split, ``rl``,
holds RL's training problems, which SFT never sees.

    make_problems(n, seed, level=1, split="train") -> [{"prompt", "answer", "solution", ...}]

``solution`` is the worked steps, one per line, whose LAST line is ``Answer: <number>``;
that final line is what the RL reward checks.

Levels: 1 one addition or subtraction of numbers up to 9 (10 for subtraction), in 18
phrasings: ~1130 distinct problems, ~220 held out and ~350 in ``rl``; 2 two additions/subtractions;
3 one multiplication or division; 4 a multiplication or division then an addition or
subtraction. ``level`` may also be a list of levels (a mixture).
"""
from __future__ import annotations

import hashlib
import random
from typing import Callable, Sequence

SPLITS = ("train", "rl", "test")
HELDOUT_PERCENT = 20          # share of the problem space reserved for the held-out split
RL_PERCENT = 30               # share kept for RL training: problems SFT never shows
ANSWER_PREFIX = "Answer:"

NAMES = ["Tom", "Anna", "Ben", "Mia", "Sam", "Lena", "Max", "Eva", "Leo", "Nora", "Paul", "Zoe"]
ITEMS = ["apples", "books", "pens", "stickers", "cookies", "marbles", "cards", "shells",
         "coins", "flowers", "toys", "stones"]
CONTAINERS = ["boxes", "bags", "baskets", "jars", "rows", "packs"]


def _add(a: int, b: int) -> tuple[str, int]:
    return f"{a} + {b} = {a + b}", a + b


def _sub(a: int, b: int) -> tuple[str, int]:
    return f"{a} - {b} = {a - b}", a - b


def _mul(a: int, b: int) -> tuple[str, int]:
    return f"{a} * {b} = {a * b}", a * b


def _div(a: int, b: int) -> tuple[str, int]:
    return f"{a} / {b} = {a // b}", a // b


# A template: (id, prompt format, numbers sampler, steps). The sampler draws the numbers
# (a dict) from the rng; steps is a list of (operation, left operand key or "prev", right
# operand key) evaluated in order, "prev" being the previous step's result.
Template = tuple[str, str, Callable[[random.Random], dict], list[tuple[Callable, str, str]]]


def _pair_add(rng: random.Random) -> dict:
    return {"a": rng.randint(1, 9), "b": rng.randint(1, 9)}


def _pair_sub(rng: random.Random) -> dict:
    a = rng.randint(2, 10)
    return {"a": a, "b": rng.randint(1, a - 1)}


def _triple_add_sub(rng: random.Random) -> dict:
    a, b = rng.randint(1, 12), rng.randint(1, 12)
    return {"a": a, "b": b, "c": rng.randint(1, a + b - 1)}


def _triple_add(rng: random.Random) -> dict:
    return {"a": rng.randint(1, 10), "b": rng.randint(1, 10), "c": rng.randint(1, 10)}


def _triple_sub(rng: random.Random) -> dict:
    a = rng.randint(5, 25)
    b = rng.randint(1, a - 3)
    return {"a": a, "b": b, "c": rng.randint(1, a - b - 1)}


def _mul_pair(rng: random.Random) -> dict:
    return {"a": rng.randint(2, 9), "b": rng.randint(2, 9)}


def _div_pair(rng: random.Random) -> dict:
    q, b = rng.randint(2, 9), rng.randint(2, 9)
    return {"a": q * b, "b": b}


def _mul_then_sub(rng: random.Random) -> dict:
    a, b = rng.randint(2, 9), rng.randint(2, 9)
    return {"a": a, "b": b, "c": rng.randint(1, a * b - 1)}


def _mul_then_add(rng: random.Random) -> dict:
    return {"a": rng.randint(2, 9), "b": rng.randint(2, 9), "c": rng.randint(1, 12)}


def _div_then_add(rng: random.Random) -> dict:
    q, b = rng.randint(2, 9), rng.randint(2, 9)
    return {"a": q * b, "b": b, "c": rng.randint(1, 9)}


TEMPLATES: dict[int, list[Template]] = {
    1: [
        ("add_gets", "{name} has {a} {item}. {name} gets {b} more. How many {item} does {name} have now?",
         _pair_add, [(_add, "a", "b")]),
        ("add_box", "There are {a} {item} in a box. {name} puts in {b} more. How many {item} are in the box?",
         _pair_add, [(_add, "a", "b")]),
        ("add_plain", "What is {a} plus {b}?", _pair_add, [(_add, "a", "b")]),
        ("sub_gives", "{name} has {a} {item} and gives away {b}. How many {item} are left?",
         _pair_sub, [(_sub, "a", "b")]),
        ("sub_lost", "{name} had {a} {item} and lost {b}. How many {item} does {name} have left?",
         _pair_sub, [(_sub, "a", "b")]),
        ("sub_plain", "What is {a} minus {b}?", _pair_sub, [(_sub, "a", "b")]),
        # More phrasings of the same two operations: they multiply the problem space (each
        # template x numbers pair is one problem key), so the ``rl`` and ``test`` splits hold
        # hundreds of distinct problems instead of a few dozen.
        ("add_finds", "{name} finds {a} {item} and then {b} more. How many {item} did {name} find?",
         _pair_add, [(_add, "a", "b")]),
        ("add_buys", "{name} buys {a} {item} on Monday and {b} {item} on Tuesday. "
                     "How many {item} did {name} buy?", _pair_add, [(_add, "a", "b")]),
        ("add_two", "{name} has {a} red {item} and {b} blue {item}. How many {item} is that in total?",
         _pair_add, [(_add, "a", "b")]),
        ("add_sum", "What is the sum of {a} and {b}?", _pair_add, [(_add, "a", "b")]),
        ("add_expr", "How much is {a} + {b}?", _pair_add, [(_add, "a", "b")]),
        ("add_gift", "{name} had {a} {item}. A friend gave {name} {b} more. How many {item} does {name} have?",
         _pair_add, [(_add, "a", "b")]),
        ("sub_eats", "There are {a} {item} on the table. {name} takes {b}. How many {item} are on the table now?",
         _pair_sub, [(_sub, "a", "b")]),
        ("sub_sells", "{name} had {a} {item} and sold {b} of them. How many {item} does {name} still have?",
         _pair_sub, [(_sub, "a", "b")]),
        ("sub_diff", "What is the difference between {a} and {b}?", _pair_sub, [(_sub, "a", "b")]),
        ("sub_expr", "How much is {a} - {b}?", _pair_sub, [(_sub, "a", "b")]),
        ("sub_from", "Take {b} away from {a}. What is left?", _pair_sub, [(_sub, "a", "b")]),
        ("sub_spend", "{name} has {a} {item} and uses {b} of them. How many {item} are left?",
         _pair_sub, [(_sub, "a", "b")]),
    ],
    2: [
        ("add_sub", "{name} has {a} {item}, buys {b} more and then gives {c} to a friend. "
                    "How many {item} does {name} have now?",
         _triple_add_sub, [(_add, "a", "b"), (_sub, "prev", "c")]),
        ("add_add", "{name} has {a} {item}. {name} finds {b} more and then gets {c} more. "
                    "How many {item} does {name} have now?",
         _triple_add, [(_add, "a", "b"), (_add, "prev", "c")]),
        ("sub_sub", "{name} had {a} {item}, used {b} and then used {c} more. How many {item} are left?",
         _triple_sub, [(_sub, "a", "b"), (_sub, "prev", "c")]),
        ("plain_add_sub", "What is {a} plus {b} minus {c}?",
         _triple_add_sub, [(_add, "a", "b"), (_sub, "prev", "c")]),
    ],
    3: [
        ("mul_each", "{name} has {a} {container} with {b} {item} in each. How many {item} are there in total?",
         _mul_pair, [(_mul, "a", "b")]),
        ("mul_plain", "What is {a} times {b}?", _mul_pair, [(_mul, "a", "b")]),
        ("div_share", "{name} shares {a} {item} equally among {b} friends. How many {item} does each friend get?",
         _div_pair, [(_div, "a", "b")]),
        ("div_plain", "What is {a} divided by {b}?", _div_pair, [(_div, "a", "b")]),
    ],
    4: [
        ("mul_sub", "{name} buys {a} {container} of {b} {item} and gives away {c}. How many {item} are left?",
         _mul_then_sub, [(_mul, "a", "b"), (_sub, "prev", "c")]),
        ("mul_add", "{name} has {a} {container} with {b} {item} in each and {c} loose {item}. "
                    "How many {item} does {name} have in total?",
         _mul_then_add, [(_mul, "a", "b"), (_add, "prev", "c")]),
        ("div_add", "{name} splits {a} {item} equally into {b} {container}, then adds {c} to one of them. "
                    "How many {item} are in that one?",
         _div_then_add, [(_div, "a", "b"), (_add, "prev", "c")]),
    ],
}
LEVELS = tuple(sorted(TEMPLATES))


def problem_key(level: int, template_id: str, numbers: dict) -> str:
    """What identifies a problem for the split: level, template and numbers (not the
    name or item, so a renamed copy of a held-out problem is held out too)."""
    nums = ",".join(f"{k}={numbers[k]}" for k in sorted(numbers))
    return f"{level}|{template_id}|{nums}"


def split_of(key: str) -> str:
    """Deterministic split of a problem key: ``test`` (held out from everything) for
    HELDOUT_PERCENT% of keys, ``rl`` (RL's training problems, never in SFT) for RL_PERCENT%,
    ``train`` (SFT) for the rest. Keeping RL's problems out of SFT matters: a small model
    memorises the problems it was fine-tuned on, every RL group then scores k/k and
    carries no signal."""
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 100
    if h < HELDOUT_PERCENT:
        return "test"
    return "rl" if h < HELDOUT_PERCENT + RL_PERCENT else "train"


def _solve(numbers: dict, steps) -> tuple[list[str], int]:
    lines, prev = [], None
    for op, left, right in steps:
        x = prev if left == "prev" else numbers[left]
        line, prev = op(x, numbers[right])
        lines.append(line)
    return lines, prev


def _render(rng: random.Random, level: int, template: Template) -> dict:
    tid, fmt, sampler, steps = template
    numbers = sampler(rng)
    words = {"name": rng.choice(NAMES), "item": rng.choice(ITEMS), "container": rng.choice(CONTAINERS)}
    lines, result = _solve(numbers, steps)
    key = problem_key(level, tid, numbers)
    return {
        "prompt": fmt.format(**numbers, **words),
        "answer": str(result),
        "solution": "\n".join(lines + [f"{ANSWER_PREFIX} {result}"]),
        "level": level,
        "template": tid,
        "key": key,
    }


def _normalise_split(split: str) -> str:
    split = {"heldout": "test", "held_out": "test", "eval": "test", "val": "test"}.get(split, split)
    if split not in SPLITS:
        raise ValueError(f"unknown arithmetic split {split!r}; choose from {', '.join(SPLITS)}")
    return split


def _normalise_levels(level: int | Sequence[int]) -> list[int]:
    levels = [int(level)] if isinstance(level, (int, str)) else [int(x) for x in level]
    bad = [x for x in levels if x not in TEMPLATES]
    if not levels or bad:
        raise ValueError(f"unknown arithmetic level(s) {bad or level!r}; choose from {list(LEVELS)}")
    return levels


def make_problems(n: int, seed: int = 0, level: int | Sequence[int] = 1, split: str = "train") -> list[dict]:
    """``n`` problems of the given level(s) from the given split, deterministic in ``seed``.

    Distinct problems (by key) are preferred; only when a level's problem space is
    exhausted do repeats appear (with fresh names/items)."""
    split = _normalise_split(split)
    levels = _normalise_levels(level)
    rng = random.Random(f"arithmetic|{seed}|{split}|{','.join(map(str, levels))}")
    out: list[dict] = []
    seen: set[str] = set()
    misses, exhausted = 0, False
    while len(out) < n:
        lv = rng.choice(levels)
        problem = _render(rng, lv, rng.choice(TEMPLATES[lv]))
        if split_of(problem["key"]) != split:
            continue
        if problem["key"] in seen and not exhausted:
            misses += 1
            exhausted = misses > 2000
            continue
        misses = 0
        seen.add(problem["key"])
        out.append(problem)
    return out
