"""Each reward function, on completions that should and should not score."""
import pytest

from train.rewards import final_answer, make_reward, parse_number


def test_final_answer_line():
    assert final_answer("3 + 4 = 7\nAnswer: 7") == "7"
    assert final_answer("Answer: 5\nwait\nanswer = 6\n\n") == "6"
    assert final_answer("no marker here\n  the end  \n") == "the end"
    assert final_answer("") == ""


def test_exact():
    exact = make_reward("exact")
    assert exact("3 + 4 = 7\nAnswer: 7", "7") == 1.0
    assert exact("3 + 4 = 7\nAnswer: 8", "7") == 0.0
    assert exact("3 + 4 = 7\nAnswer: 77", "7") == 0.0
    assert exact("Paris", "paris") == 1.0          # case and spacing do not count
    assert exact("Answer: 7.0", "7") == 0.0        # exact is exact: use numeric for that


def test_numeric_with_tolerance():
    numeric = make_reward("numeric")
    assert numeric("Answer: 7.0", "7") == 1.0
    assert numeric("Answer: 1,250 apples", "1250") == 1.0
    assert numeric("Answer: seven", "7") == 0.0
    assert numeric("the total is 6.98", "7") == 0.0
    loose = make_reward("numeric", tolerance=0.05)
    assert loose("the total is 6.98", "7") == 1.0
    rel = make_reward("numeric", relative=0.01)
    assert rel("Answer: 990", "1000") == 1.0 and rel("Answer: 980", "1000") == 0.0
    with pytest.raises(ValueError, match="not a number"):
        numeric("Answer: 3", "three")
    assert parse_number("x -2.5e1 y") == -25.0


def test_regex():
    rx = make_reward("regex")
    assert rx("Answer: 42", r"4\d") == 1.0
    assert rx("Answer: 425", r"4\d") == 0.0      # full match of the final answer
    found = make_reward("regex", pattern=r"\bis {answer}\b")
    assert found("I think the total is 3.5 overall", "3.5") == 1.0
    assert found("I think the total is 3x5 overall", "3.5") == 0.0   # the answer is escaped


def test_python_function(tmp_path, monkeypatch):
    (tmp_path / "my_rewards.py").write_text(
        "def length_bonus(completion, answer):\n    return len(completion) / 10\n"
        "def with_prompt(completion, answer, prompt):\n    return float(prompt in completion)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fn = make_reward("python", function="my_rewards:length_bonus")
    assert fn("abcde", "x") == pytest.approx(0.5)
    by_spec = make_reward("my_rewards:with_prompt")
    assert by_spec("say hi", "", prompt="hi") == 1.0 and by_spec("bye", "", prompt="hi") == 0.0
    by_file = make_reward("python", function=f"{tmp_path / 'my_rewards.py'}:length_bonus")
    assert by_file("abcdefghij", "x") == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no function"):
        make_reward("python", function="my_rewards:missing")
    with pytest.raises(ValueError, match="cannot import"):
        make_reward("python", function="no_such_module_xyz:f")


def test_unknown_reward():
    with pytest.raises(ValueError, match="unknown reward"):
        make_reward("fuzzy")


def test_answer_marker_inside_a_line():
    # a tokenizer that folds newlines into spaces must not hide the answer
    assert final_answer("6 + 5 = 11 Answer: 11") == "11"
    assert make_reward("exact")("6 + 5 = 11 Answer: 11", "11") == 1.0
    assert final_answer("Answer: 3\nThe answer: 4 apples") == "4 apples"
    assert final_answer("the answers: none") == "the answers: none"
