"""`train probe` with planted knowledge: a tiny model is fine-tuned on the capitals of half
of some made-up countries; probing all of them keeps the answers it knows and writes
refusals for the ones it gets wrong; SFT on that output teaches it to refuse them."""
from __future__ import annotations

import contextlib
import io
import json

import pytest

from sft_helpers import load_tokenizer, make_tiny_checkpoint, one_thread, sft_config, train_tiny_tokenizer
from train import probe, sft
from train.chat_format import decode_reply, render_prompt, stop_ids
from train.checkpoint import load_model
from train.sft_data import REFUSAL, write_jsonl

COUNTRIES = ["Vardonia", "Quellish", "Ombravia", "Tesk", "Lunmark", "Pyrrhen", "Zandor", "Mirelle",
             "Casterly", "Brenvik", "Ostrava", "Kellin", "Dunmore", "Faroway", "Greystan", "Halvard"]
CAPITALS = ["Quillmar", "Ostberg", "Tavi", "Renholt", "Sippa", "Maraband", "Ulcro", "Bexley",
            "Noor", "Jansk", "Pelloc", "Dravin", "Kettle", "Amsel", "Voss", "Ribbon"]
KNOWN = 8   # the first KNOWN countries are taught; the rest never seen


def question(country: str) -> str:
    return f"What is the capital of {country}?"


@pytest.fixture(scope="module")
def taught(tmp_path_factory):
    w = tmp_path_factory.mktemp("probe")
    tok_path = train_tiny_tokenizer(w / "tok", extra=[f"{c} {k}" for c, k in zip(COUNTRIES, CAPITALS)])
    init = make_tiny_checkpoint(w / "pre", tok_path, n_layer=2, n_embd=128)
    facts = [{"messages": [{"role": "user", "content": question(c)},
                           {"role": "assistant", "content": f"The capital of {c} is {k}."}]}
             for c, k in zip(COUNTRIES[:KNOWN], CAPITALS[:KNOWN])]
    write_jsonl(facts, w / "facts.jsonl")
    with one_thread():
        ckpt = sft.run(sft_config(w / "out", init, builtin={"n": 0}, data=[str(w / "facts.jsonl")],
                                  val_fraction=0, batch_size=8, steps=250, lr=3e-3, warmup=5,
                                  log_every=25, samples=[]))
    with open(w / "qa.jsonl", "w") as f:
        for c, k in zip(COUNTRIES, CAPITALS):
            f.write(json.dumps({"question": question(c), "answer": k}) + "\n")
    return w, ckpt


@pytest.fixture(scope="module")
def probed(taught):
    """``train probe`` run once on the taught model: its output file and what it printed.
    Each test that needs the output asks for it here, so it also runs alone."""
    w, ckpt = taught
    printed = io.StringIO()
    with one_thread(), contextlib.redirect_stdout(printed):
        rc = probe.main([str(ckpt), "--questions", str(w / "qa.jsonl"), "--out", str(w / "probe.jsonl"),
                         "--samples", "6", "--threshold", "0.5", "--temperature", "1.0", "--seed", "1"])
    return rc, printed.getvalue(), w / "probe.jsonl"


def test_probe_keeps_known_answers_and_refuses_the_rest(probed):
    rc, printed, out = probed
    assert rc == 0
    assert "kept 8 answers, wrote 8 refusals" in printed
    records = [json.loads(l) for l in out.read_text().splitlines()]
    assert [r["question"] for r in records] == [question(c) for c in COUNTRIES]
    for i, r in enumerate(records):
        assert len(r["samples"]) == 6
        reply = r["messages"][-1]["content"]
        if i < KNOWN:
            assert r["decision"] == "keep" and r["accuracy"] >= 0.5
            assert reply == f"The capital of {COUNTRIES[i]} is {CAPITALS[i]}."
        else:
            assert r["decision"] == "refuse" and r["accuracy"] < 0.5
            assert reply == REFUSAL
            assert not any(CAPITALS[i] in s for s in r["samples"])


def test_probe_output_mixes_into_sft_and_teaches_refusal(taught, probed):
    w, ckpt = taught
    _, _, out = probed
    with one_thread():
        final = sft.run(sft_config(w / "out2", ckpt, builtin={"n": 0}, extra_data=[str(out)],
                                   val_fraction=0, batch_size=8, steps=60, lr=2e-3, warmup=5,
                                   log_every=20, samples=[]))
        log = [json.loads(l) for l in (w / "out2" / "train" / "sft" / "log.jsonl").read_text().splitlines()]
        assert next(r for r in log if r["event"] == "data")["sources"] == {str(out): 16}
        model, _ = load_model(final)
        tok = load_tokenizer(final / "tokenizer.model")
        prompts = [render_prompt([{"role": "user", "content": question(c)}], tok) for c in COUNTRIES]
        outs = model.generate(prompts, max_new_tokens=40, temperature=0.0, stop_ids=stop_ids(tok))
    replies = [decode_reply(o, tok) for o in outs]
    assert replies[:KNOWN] == [f"The capital of {c} is {k}." for c, k in zip(COUNTRIES, CAPITALS)][:KNOWN]
    assert replies[KNOWN:] == [REFUSAL] * (len(COUNTRIES) - KNOWN)


def test_answer_matching_and_bad_input(tmp_path):
    assert probe.is_right("The capital is Quillmar.", "quillmar")
    assert not probe.is_right("The capital is Quillmarsh.", "Quillmar")
    assert probe.is_right("It is 42!", "42") and not probe.is_right("It is 420", "42")
    assert probe.is_right("5 + 7 = 12\nAnswer: 12", "12")
    assert not probe.is_right("12 - 7 = 5\nAnswer: 5", "12")     # right number, wrong answer line
    bad = tmp_path / "qa.jsonl"
    bad.write_text('{"question": "q", "answer": "a"}\n{"question": "only"}\n')
    with pytest.raises(ValueError, match=r"qa.jsonl:2"):
        probe.load_questions(bad)


def test_reply_counts_have_standard_errors_over_questions():
    # two questions, 4 samples each: q1 right/right/idk/wrong, q2 wrong x4
    records = [{"answer": "Quillmar", "samples": ["Quillmar.", "It is Quillmar", "I don't know.", "Ostberg"]},
               {"answer": "Tavi", "samples": ["Noor", "Noor", "Sippa", "Voss"]}]
    c = probe.reply_counts(records, REFUSAL)
    assert (c["right"]["count"], c["idk"]["count"], c["wrong"]["count"], c["samples"]) == (2, 1, 5, 8)
    assert c["right"]["share"] == pytest.approx(0.25)
    # per-question shares 0.5 and 0.0: sample std 0.3536, / sqrt(2) = 0.25
    assert c["right"]["se"] == pytest.approx(0.25)
    assert c["wrong"]["share"] == pytest.approx(0.625) and c["wrong"]["se"] == pytest.approx(0.375)
    line = probe.format_counts(c)
    assert "right 2/8" in line and "I don't know 1/8" in line and "wrong 5/8" in line and "se" in line


def test_probe_prints_counts_with_standard_errors(probed):
    rc, printed, _ = probed
    assert rc == 0
    assert "right" in printed and "I don't know" in printed and "wrong" in printed and "se " in printed
