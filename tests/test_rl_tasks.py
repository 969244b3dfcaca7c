"""RL task loading: built-in arithmetic and user JSONL, with errors naming file and line."""
import json

import pytest

from contract.jsonl import JsonlError
from train.rl_tasks import TaskError, load_task, messages_for


def test_builtin_arithmetic_task():
    train, evals = load_task({"task": "arithmetic", "level": 2, "train_problems": 300, "eval_problems": 20})
    assert len(train) == 300 and len(evals) == 20
    assert {p["key"] for p in train}.isdisjoint({p["key"] for p in evals})
    assert messages_for(evals[0]) == [{"role": "user", "content": evals[0]["prompt"]}]


def test_user_jsonl_with_hashed_heldout(tmp_path):
    path = tmp_path / "tasks.jsonl"
    rows = [{"prompt": f"What is {i} squared?", "answer": i * i} for i in range(100)]
    rows[3]["system"] = "Be brief."
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    train, evals = load_task({"task": str(path), "eval_problems": 1000})
    assert len(train) + len(evals) == 100 and 5 <= len(evals) <= 40
    assert {t["prompt"] for t in train}.isdisjoint({e["prompt"] for e in evals})
    assert all(isinstance(t["answer"], str) for t in train + evals)
    # the split is a property of the prompt, not of the file order
    path.write_text("\n".join(json.dumps(r) for r in reversed(rows)))
    assert {e["prompt"] for e in load_task({"task": str(path), "eval_problems": 1000})[1]} == \
        {e["prompt"] for e in evals}
    sys_item = next(t for t in train + evals if t["prompt"] == "What is 3 squared?")
    assert messages_for(sys_item)[0] == {"role": "system", "content": "Be brief."}
    held = tmp_path / "held.jsonl"
    held.write_text('{"prompt": "2+2?", "answer": "4"}\n')
    train2, evals2 = load_task({"task": str(path), "eval_data": str(held)})
    assert len(train2) == 100 and evals2 == [{"prompt": "2+2?", "answer": "4"}]


def test_bad_task_files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok", "answer": "1"}\n{"prompt": "no answer"}\n')
    with pytest.raises(TaskError, match=r"bad.jsonl:2: .*answer"):
        load_task({"task": str(bad)})
    bad.write_text('{"prompt": "ok", "answer": "1"}\nnot json\n')
    with pytest.raises(JsonlError, match=r"bad.jsonl:2: not valid JSON"):  # the shared reader's error
        load_task({"task": str(bad)})
    with pytest.raises(TaskError, match="not found"):
        load_task({"task": str(tmp_path / "missing.jsonl")})
    with pytest.raises(TaskError, match="unknown RL task"):
        load_task({"task": "chess"})
