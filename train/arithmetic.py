"""Arithmetic word problems with known answers: the built-in task RL reinforces and SFT
teaches the answer format of. Problems are generated, so there is no data to ship.

Splits are by PROBLEM, not by phrasing: each problem's key is its operations and operands
(``(3+4)``, ``((12-5)-2)``; the operands of + and * sorted, so ``4 + 3`` is ``3 + 4``, and
a chain of additions is one sorted sum), and a sha256 of that key puts it in ``sft`` (SFT's
problems), ``rl`` (RL's training problems) or ``test`` (held out from both). A test sum
therefore never appears in SFT or RL data under any wording, name, item or operand order.
On top, ``UNSEEN_TEMPLATES`` holds phrasings no split trains on: evaluation poses test
problems in them (``phrasing="unseen"``) to see whether a skill transfers to new wording.

    make_problems(n, seed, level=1, split="sft", phrasing="trained") -> [{"prompt", "answer", "solution", ...}]

``solution`` is the worked steps, one per line, whose LAST line is ``Answer: <number>``;
that final line is what the RL reward checks.

Levels (distinct problems, before the split): 1 one addition or subtraction of numbers up
to 20, 18 trained + 6 unseen phrasings (~400: ~80 test, ~120 rl); 2 two additions/subtractions
(thousands); 3 one multiplication or division with factors 2-12 (~190: ~40 test); 4 a
multiplication or division then an addition or subtraction (thousands). ``level`` may also
be a list of levels (a mixture).
"""
from __future__ import annotations

import hashlib
import random
from typing import Callable, Sequence

SPLITS = ("sft", "rl", "test")
PHRASINGS = ("trained", "unseen")
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
    return {"a": rng.randint(1, 20), "b": rng.randint(1, 20)}


def _pair_sub(rng: random.Random) -> dict:
    a = rng.randint(2, 20)
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
    return {"a": rng.randint(2, 12), "b": rng.randint(2, 12)}


def _div_pair(rng: random.Random) -> dict:
    q, b = rng.randint(2, 12), rng.randint(2, 12)
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
        # More phrasings of the same two operations: they vary the wording SFT and RL see (a
        # problem is the same problem in any of them: the split is by operands).
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
#: Phrasings reserved for evaluation: no split's SFT or RL data uses them, so pass@1 on test
#: problems posed in them measures transfer to wording the model never trained on.
UNSEEN_TEMPLATES: dict[int, list[Template]] = {
    1: [
        ("u_add_joins", "{a} {item} are on a shelf and {b} more {item} join them. How many {item} are on the shelf?",
         _pair_add, [(_add, "a", "b")]),
        ("u_add_total", "Add {a} and {b}. What do you get?", _pair_add, [(_add, "a", "b")]),
        ("u_add_together", "{name} collects {a} {item} and a friend collects {b}. "
                           "How many {item} do they have together?", _pair_add, [(_add, "a", "b")]),
        ("u_sub_broke", "Out of {a} {item}, {b} broke. How many {item} are still fine?",
         _pair_sub, [(_sub, "a", "b")]),
        ("u_sub_less", "What number is {b} less than {a}?", _pair_sub, [(_sub, "a", "b")]),
        ("u_sub_left", "{name} started with {a} {item} and handed {b} to a neighbour. "
                       "How many {item} remain with {name}?", _pair_sub, [(_sub, "a", "b")]),
    ],
    2: [
        ("u_add_sub", "Start with {a}, add {b}, then subtract {c}. What is the result?",
         _triple_add_sub, [(_add, "a", "b"), (_sub, "prev", "c")]),
        ("u_add_add", "A jar holds {a} {item}. {name} drops in {b}, then another {c}. "
                      "How many {item} does the jar hold?", _triple_add, [(_add, "a", "b"), (_add, "prev", "c")]),
    ],
    3: [
        ("u_mul_rows", "A garden has {a} rows of {b} plants. How many plants is that?",
         _mul_pair, [(_mul, "a", "b")]),
        ("u_div_groups", "Split {a} {item} into groups of equal size, {b} groups in all. "
                         "How many {item} are in each group?", _div_pair, [(_div, "a", "b")]),
    ],
    4: [
        ("u_mul_add", "Multiply {a} by {b} and then add {c}. What number do you get?",
         _mul_then_add, [(_mul, "a", "b"), (_add, "prev", "c")]),
    ],
}
LEVELS = tuple(sorted(TEMPLATES))
_SYMBOL = {_add: "+", _sub: "-", _mul: "*", _div: "/"}


def problem_key(numbers: dict, steps) -> str:
    """What identifies a problem for the split: its operations and operands, whatever the
    wording, name or item. + and * are commutative and associative, so their operands are
    sorted and a chain of them flattened: ``4 + 3`` and ``3 + 4`` are one problem,
    ``(2 + 5) + 1`` and ``(1 + 2) + 5`` too."""
    expr: str | tuple = ""
    for op, left, right in steps:
        sym = _SYMBOL[op]
        x = expr if left == "prev" else str(numbers[left])
        y = str(numbers[right])
        if sym in "+*":
            terms = [t for e in (x, y) for t in (e[1] if isinstance(e, tuple) and e[0] == sym else [_show(e)])]
            expr = (sym, sorted(terms))
        else:
            expr = (sym, [_show(x), y])
    return _show(expr)


def _show(expr: str | tuple) -> str:
    return expr if isinstance(expr, str) else "(" + expr[0].join(expr[1]) + ")"


def split_of(key: str) -> str:
    """Deterministic split of a problem key (sha256, the same in every process):
    ``test`` (held out from everything) for HELDOUT_PERCENT% of keys, ``rl`` (RL's training
    problems, never in SFT) for RL_PERCENT%, ``sft`` for the rest. Keeping RL's problems out
    of SFT matters: a small model memorises the problems it was fine-tuned on, every RL
    group then scores k/k and carries no signal."""
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 100
    if h < HELDOUT_PERCENT:
        return "test"
    return "rl" if h < HELDOUT_PERCENT + RL_PERCENT else "sft"


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
    key = problem_key(numbers, steps)
    return {
        "prompt": fmt.format(**numbers, **words),
        "answer": str(result),
        "solution": "\n".join(lines + [f"{ANSWER_PREFIX} {result}"]),
        "level": level,
        "template": tid,
        "key": key,
    }


def _normalise_split(split: str) -> str:
    split = {"train": "sft", "heldout": "test", "held_out": "test", "eval": "test", "val": "test"}.get(split, split)
    if split not in SPLITS:
        raise ValueError(f"unknown arithmetic split {split!r}; choose from {', '.join(SPLITS)}")
    return split


def _normalise_levels(level: int | Sequence[int]) -> list[int]:
    levels = [int(level)] if isinstance(level, (int, str)) else [int(x) for x in level]
    bad = [x for x in levels if x not in TEMPLATES]
    if not levels or bad:
        raise ValueError(f"unknown arithmetic level(s) {bad or level!r}; choose from {list(LEVELS)}")
    return levels


def make_problems(n: int, seed: int = 0, level: int | Sequence[int] = 1, split: str = "sft",
                  phrasing: str = "trained") -> list[dict]:
    """``n`` problems of the given level(s) from the given split (``train`` is ``sft``),
    deterministic in ``seed``; ``phrasing="unseen"`` poses them in the evaluation-only
    phrasings, which only the ``test`` split may use.

    Distinct (problem, phrasing) pairs are preferred; only when they run out do repeats
    appear (with fresh names/items)."""
    split = _normalise_split(split)
    levels = _normalise_levels(level)
    if phrasing not in PHRASINGS:
        raise ValueError(f"unknown phrasing {phrasing!r}; choose from {', '.join(PHRASINGS)}")
    if phrasing == "unseen" and split != "test":
        raise ValueError(f"unseen phrasings are for evaluation only: split {split!r} may not use them")
    templates = UNSEEN_TEMPLATES if phrasing == "unseen" else TEMPLATES
    tag = "" if phrasing == "trained" else "|unseen"
    rng = random.Random(f"arithmetic|{seed}|{split}|{','.join(map(str, levels))}{tag}")
    out: list[dict] = []
    seen: set[str] = set()
    misses, exhausted = 0, False
    while len(out) < n:
        lv = rng.choice(levels)
        problem = _render(rng, lv, rng.choice(templates[lv]))
        if split_of(problem["key"]) != split:
            continue
        pair = problem["key"] + "|" + problem["template"]
        if pair in seen and not exhausted:
            misses += 1
            exhausted = misses > 2000
            continue
        misses = 0
        seen.add(pair)
        out.append(problem)
    return out
