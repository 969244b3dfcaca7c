"""Where RL problems come from: the built-in arithmetic generator, or a user's JSONL of
``{"prompt": ..., "answer": ...}`` lines (optionally ``"system"`` and ``"split"``).

Every task is a training pool plus held-out evaluation sets, split by PROBLEM so that no
held-out problem is trained on under another wording:

    trained  new problems posed in phrasings the model trained on
    unseen   new problems posed in phrasings no split trains on (built-in arithmetic:
             ``UNSEEN_TEMPLATES``; a user file: rows whose ``split`` is ``unseen``)

A user file's ``split`` column (``train``/``rl``/``sft``, ``test``/``eval``/``heldout``,
``unseen``) is honoured row by row. A row without one is held out by a sha256 of the
prompt's numbers (``number_key``: every number, thousands commas and trailing zeros
dropped, SORTED, so "3 plus 14" and "14 and 3" are the same problem; a prompt without
numbers falls back to its casefolded, space-normalised text), so the split is stable
however the file is shuffled or grown, and a reworded copy of a held-out problem cannot
sit in the training pool.
"""
from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from pathlib import Path

from contract.jsonl import read_jsonl
from train.arithmetic import make_problems

BUILTIN = ("arithmetic",)
DEFAULT_REWARD = {"arithmetic": "exact"}
EVAL_SETS = ("trained", "unseen")
SPLIT_VALUES = {"train": "train", "rl": "train", "sft": "train", "test": "trained", "eval": "trained",
                "heldout": "trained", "held_out": "trained", "unseen": "unseen"}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


class TaskError(ValueError):
    pass


def load_jsonl(path: str | Path) -> list[dict]:
    """``[{"prompt", "answer", "system"?}]`` from a JSONL file; a line that is not a JSON
    object is a ``JsonlError``, one without a usable prompt and answer a ``TaskError``,
    both naming the file and line."""
    path = Path(path)
    if not path.exists():
        raise TaskError(f"RL task file not found: {path}")
    items = []
    for lineno, row in read_jsonl(path, numbered=True):
        where = f"{path}:{lineno}"
        if "prompt" not in row or "answer" not in row:
            raise TaskError(f"{where}: each line needs 'prompt' and 'answer'")
        if not isinstance(row["prompt"], str) or not row["prompt"].strip():
            raise TaskError(f"{where}: 'prompt' must be a non-empty string")
        if row["answer"] is None or isinstance(row["answer"], (dict, list)):
            raise TaskError(f"{where}: 'answer' must be a string or a number")
        item = {"prompt": row["prompt"], "answer": str(row["answer"])}
        if row.get("system"):
            item["system"] = str(row["system"])
        if row.get("split") is not None:
            if str(row["split"]).lower() not in SPLIT_VALUES:
                raise TaskError(f"{where}: 'split' must be one of {', '.join(SPLIT_VALUES)}, "
                                f"not {row['split']!r}")
            item["_split"] = SPLIT_VALUES[str(row["split"]).lower()]
        items.append(item)
    if not items:
        raise TaskError(f"{path}: no problems in the file")
    return items


def number_key(prompt: str) -> str:
    """The prompt's numbers, normalised (``1,250`` -> ``1250``, ``7.0`` -> ``7``) and sorted,
    comma-joined; without numbers, the casefolded text with spaces collapsed."""
    nums = [format(Decimal(n).normalize(), "f") for n in _NUMBER.findall(_THOUSANDS.sub("", prompt))]
    if not nums:
        return " ".join(prompt.casefold().split())
    return ",".join(sorted(nums, key=lambda n: (Decimal(n), n)))


def heldout(prompt: str, percent: int = 20) -> bool:
    """Whether a prompt without a ``split`` is held out: sha256 of its ``number_key``."""
    h = int.from_bytes(hashlib.sha256(number_key(prompt).encode()).digest()[:8], "big")
    return h % 100 < percent


def _by_split(items: list[dict], pct: int | None) -> dict[str, list[dict]]:
    """Rows into train / trained / unseen: the ``split`` column, else (``pct`` given) the
    number hash, else train."""
    out: dict[str, list[dict]] = {"train": [], "trained": [], "unseen": []}
    for it in items:
        where = it.pop("_split", None)
        if where is None:
            where = "trained" if pct is not None and heldout(it["prompt"], pct) else "train"
        out[where].append(it)
    return out


def load_task(params: dict) -> tuple[list[dict], dict[str, list[dict]]]:
    """(train pool, {"trained": held-out problems in trained phrasings, "unseen": held-out
    problems in unseen phrasings}) for the ``train.rl`` parameters: ``task`` (``arithmetic``
    or a JSONL path), ``level``, ``train_problems``, ``eval_problems`` (per set),
    ``eval_data`` (JSONL), ``heldout_percent``, ``seed``."""
    task = str(params.get("task", "arithmetic"))
    seed = int(params.get("seed", 0))
    n_eval = int(params.get("eval_problems", 64))
    if task == "arithmetic":
        level = params.get("level", 1)
        # RL trains on the ``rl`` split: problems SFT (which draws from ``sft``) never showed;
        # both eval sets are ``test`` problems, which neither saw under any wording
        train = make_problems(int(params.get("train_problems", 2000)), seed, level=level, split="rl")
        return train, {"trained": make_problems(n_eval, seed + 1, level=level, split="test"),
                       "unseen": make_problems(n_eval, seed + 2, level=level, split="test", phrasing="unseen")}
    if not task.endswith(".jsonl") and not Path(task).exists():
        raise TaskError(f"unknown RL task {task!r}: use {', '.join(BUILTIN)} or a JSONL file path")
    items = load_jsonl(task)
    if params.get("eval_data"):
        parts = _by_split(items, None)        # rows marked test/unseen stay out of training
        held = _by_split(load_jsonl(params["eval_data"]), None)
        evals = {"trained": held["train"] + held["trained"], "unseen": held["unseen"]}
    else:
        parts = _by_split(items, int(params.get("heldout_percent", 20)))
        evals = {name: parts[name] for name in EVAL_SETS}
    train = parts["train"]
    evals = {name: evals[name][:n_eval] for name in EVAL_SETS}
    if not train or not any(evals.values()):
        raise TaskError(f"{task}: {len(items)} problems leave an empty train or held-out split; "
                        f"add problems or give eval_data")
    return train, evals


def messages_for(item: dict) -> list[dict]:
    """The chat messages that pose a problem (the answer is what the model must produce)."""
    msgs = [{"role": "system", "content": item["system"]}] if item.get("system") else []
    return msgs + [{"role": "user", "content": item["prompt"]}]
