"""The built-in arithmetic task: deterministic, correct, and a held-out split that never
overlaps training."""
import re

import pytest

from train.arithmetic import LEVELS, make_problems


@pytest.mark.parametrize("level", LEVELS)
def test_solutions_are_correct_and_end_with_answer_line(level):
    for p in make_problems(200, seed=3, level=level):
        lines = p["solution"].split("\n")
        assert lines[-1] == f"Answer: {p['answer']}"
        # every step line is a true equation and the last step gives the answer
        for line in lines[:-1]:
            m = re.fullmatch(r"(\d+) ([-+*/]) (\d+) = (-?\d+)", line)
            assert m, line
            a, op, b, r = int(m[1]), m[2], int(m[3]), int(m[4])
            expect = {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]
            assert r == expect and (op != "/" or a % b == 0)
        assert lines[-2].endswith(f"= {p['answer']}")
        assert int(p["answer"]) >= 0
        assert p["prompt"].endswith("?")


def test_deterministic_and_seed_dependent():
    assert make_problems(50, seed=1, level=2) == make_problems(50, seed=1, level=2)
    assert make_problems(50, seed=1, level=2) != make_problems(50, seed=2, level=2)


@pytest.mark.parametrize("level", LEVELS)
def test_heldout_split_is_disjoint_from_train(level):
    train = {p["key"] for p in make_problems(3000, seed=0, level=level)}
    test = make_problems(300, seed=0, level=level, split="test")
    assert train.isdisjoint({p["key"] for p in test})
    # the held-out problems are distinct where the problem space allows
    assert len({p["key"] for p in test}) >= min(len(test), 40)


def test_mixture_and_bad_arguments():
    levels = {p["level"] for p in make_problems(100, seed=0, level=[1, 3])}
    assert levels == {1, 3}
    with pytest.raises(ValueError, match="level"):
        make_problems(1, level=9)
    with pytest.raises(ValueError, match="split"):
        make_problems(1, split="dev")


@pytest.mark.parametrize("level", LEVELS)
def test_rl_split_is_disjoint_from_sft_and_test(level):
    sft = {p["key"] for p in make_problems(800, seed=0, level=level, split="train")}
    rl = {p["key"] for p in make_problems(800, seed=0, level=level, split="rl")}
    test = {p["key"] for p in make_problems(300, seed=0, level=level, split="test")}
    assert rl and sft.isdisjoint(rl) and rl.isdisjoint(test) and sft.isdisjoint(test)


def test_level1_splits_hold_hundreds_of_distinct_problems():
    # a small pool is memorised by RL and a small held-out set is all noise: level 1 must
    # give RL and evaluation a few hundred distinct problems each
    rl = {p["key"] for p in make_problems(2000, seed=0, level=1, split="rl")}
    test = {p["key"] for p in make_problems(2000, seed=0, level=1, split="test")}
    assert len(rl) >= 300 and len(test) >= 200
    assert rl.isdisjoint(test)
