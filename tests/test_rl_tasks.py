"""RL task loading: built-in arithmetic and user JSONL, with errors naming file and line."""
import json

import pytest

from contract.jsonl import JsonlError
from train.arithmetic import UNSEEN_TEMPLATES
from train.rl_tasks import TaskError, heldout, load_task, messages_for, number_key


def test_builtin_arithmetic_task():
    train, evals = load_task({"task": "arithmetic", "level": 2, "train_problems": 300, "eval_problems": 20})
    assert len(train) == 300 and set(evals) == {"trained", "unseen"}
    assert all(len(v) == 20 for v in evals.values())
    for items in evals.values():
        assert {p["key"] for p in train}.isdisjoint({p["key"] for p in items})
    unseen_ids = {t[0] for t in UNSEEN_TEMPLATES[2]}
    assert {p["template"] for p in evals["unseen"]} <= unseen_ids
    assert not {p["template"] for p in train + evals["trained"]} & unseen_ids
    assert messages_for(evals["trained"][0]) == [{"role": "user", "content": evals["trained"][0]["prompt"]}]


def test_user_jsonl_split_column_is_honoured(tmp_path):
    path = tmp_path / "tasks.jsonl"
    rows = [{"prompt": f"What is {i} and {i + 1}?", "answer": 2 * i + 1} for i in range(60)]
    for i, row in enumerate(rows[:30]):
        row["split"] = ("train", "test", "unseen")[i % 3]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    train, evals = load_task({"task": str(path), "eval_problems": 1000})
    got = {t["prompt"]: "train" for t in train}
    got.update({e["prompt"]: "test" for e in evals["trained"]})
    got.update({e["prompt"]: "unseen" for e in evals["unseen"]})
    assert len(got) == 60
    for row in rows[:30]:
        assert got[row["prompt"]] == row["split"]
    for row in rows[30:]:                 # no split column: the hash of the numbers decides
        assert got[row["prompt"]] == ("test" if heldout(row["prompt"]) else "train")
    assert all("split" not in t for t in train)
    path.write_text(json.dumps({"prompt": "1?", "answer": 1, "split": "validation"}))
    with pytest.raises(TaskError, match=r"tasks.jsonl:1: .*split"):
        load_task({"task": str(path)})


def test_user_jsonl_hash_split_is_by_the_prompts_numbers(tmp_path):
    # the same numbers under another wording (or order) land on the same side: a rephrased
    # copy of a held-out problem cannot sit in the training pool
    assert number_key("What is 3 plus 14?") == number_key("Add 14 to 3, please.") == "3,14"
    assert number_key("1,250 apples and 7.0 pears") == number_key("7 pears, 1250 apples")
    assert number_key("No numbers Here ") == number_key("no  numbers here")
    path = tmp_path / "tasks.jsonl"
    rows = []
    for i in range(80):
        rows.append({"prompt": f"What is {i} plus {i + 3}?", "answer": 2 * i + 3})
        rows.append({"prompt": f"Add {i + 3} and {i}. What do you get?", "answer": 2 * i + 3})
    path.write_text("\n".join(json.dumps(r) for r in rows))
    train, evals = load_task({"task": str(path), "eval_problems": 1000})
    held = {number_key(e["prompt"]) for e in evals["trained"]}
    assert held and not held & {number_key(t["prompt"]) for t in train}
    assert evals["unseen"] == []


def test_user_jsonl_with_hashed_heldout(tmp_path):
    path = tmp_path / "tasks.jsonl"
    rows = [{"prompt": f"What is {i} squared?", "answer": i * i} for i in range(100)]
    rows[3]["system"] = "Be brief."
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    train, evals = load_task({"task": str(path), "eval_problems": 1000})
    evals = evals["trained"]
    assert len(train) + len(evals) == 100 and 5 <= len(evals) <= 40
    assert {t["prompt"] for t in train}.isdisjoint({e["prompt"] for e in evals})
    assert all(isinstance(t["answer"], str) for t in train + evals)
    # the split is a property of the prompt, not of the file order
    path.write_text("\n".join(json.dumps(r) for r in reversed(rows)))
    assert {e["prompt"] for e in load_task({"task": str(path), "eval_problems": 1000})[1]["trained"]} == \
        {e["prompt"] for e in evals}
    sys_item = next(t for t in train + evals if t["prompt"] == "What is 3 squared?")
    assert messages_for(sys_item)[0] == {"role": "system", "content": "Be brief."}
    held = tmp_path / "held.jsonl"
    held.write_text('{"prompt": "2+2?", "answer": "4"}\n{"prompt": "Two and two?", "answer": "4", "split": "unseen"}\n')
    train2, evals2 = load_task({"task": str(path), "eval_data": str(held)})
    assert len(train2) == 100 and evals2 == {"trained": [{"prompt": "2+2?", "answer": "4"}],
                                             "unseen": [{"prompt": "Two and two?", "answer": "4"}]}


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
