"""Where RL problems come from: the built-in arithmetic generator, or a user's JSONL of
``{"prompt": ..., "answer": ...}`` lines (optionally ``"system"``).

Every task is a training pool plus a held-out evaluation set. For a user file without a
separate ``eval_data`` file, the held-out set is carved out by hashing each prompt, so the
split is stable however the file is shuffled or grown.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from contract.jsonl import read_jsonl
from train.arithmetic import make_problems

BUILTIN = ("arithmetic",)
DEFAULT_REWARD = {"arithmetic": "exact"}


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
        items.append(item)
    if not items:
        raise TaskError(f"{path}: no problems in the file")
    return items


def heldout(prompt: str, percent: int = 20) -> bool:
    h = int.from_bytes(hashlib.sha256(prompt.strip().encode()).digest()[:8], "big")
    return h % 100 < percent


def load_task(params: dict) -> tuple[list[dict], list[dict]]:
    """(train pool, held-out eval set) for the ``train.rl`` parameters:
    ``task`` (``arithmetic`` or a JSONL path), ``level``, ``train_problems``,
    ``eval_problems``, ``eval_data`` (JSONL), ``heldout_percent``, ``seed``."""
    task = str(params.get("task", "arithmetic"))
    seed = int(params.get("seed", 0))
    n_eval = int(params.get("eval_problems", 64))
    if task == "arithmetic":
        level = params.get("level", 1)
        # RL trains on the ``rl`` split: problems SFT (which draws from ``train``) never showed
        train = make_problems(int(params.get("train_problems", 2000)), seed, level=level, split="rl")
        evals = make_problems(n_eval, seed + 1, level=level, split="test")
        return train, evals
    if not task.endswith(".jsonl") and not Path(task).exists():
        raise TaskError(f"unknown RL task {task!r}: use {', '.join(BUILTIN)} or a JSONL file path")
    items = load_jsonl(task)
    if params.get("eval_data"):
        return items, load_jsonl(params["eval_data"])[:n_eval]
    pct = int(params.get("heldout_percent", 20))
    train = [it for it in items if not heldout(it["prompt"], pct)]
    evals = [it for it in items if heldout(it["prompt"], pct)][:n_eval]
    if not train or not evals:
        raise TaskError(f"{task}: {len(items)} problems leave an empty train or held-out split; "
                        f"add problems or give eval_data")
    return train, evals


def messages_for(item: dict) -> list[dict]:
    """The chat messages that pose a problem (the answer is what the model must produce)."""
    msgs = [{"role": "system", "content": item["system"]}] if item.get("system") else []
    return msgs + [{"role": "user", "content": item["prompt"]}]
