"""The search tool: tool-call tokens in the tokenizer contract, the runtime that runs a search
when the model writes <|search_end|> and inserts the hits, and `train chat` doing so as a
subprocess against a small real index (a tiny model taught to search by SFT)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contract.search import add_documents, create_index, open_searcher
from sft_helpers import TOOL_PIECES, load_tokenizer, make_tiny_checkpoint, one_thread, sft_config, train_tiny_tokenizer

ROOT = Path(__file__).resolve().parent.parent

DOCS = [
    {"id": "d1", "url": "https://halsby.example/orlen-bridge", "title": "Orlen Bridge", "lang": "en",
     "text": "The Orlen Bridge in Halsby was opened in 1931. It crosses the river Hal in three arches."},
    {"id": "d2", "url": "https://varnum.example/mill", "title": "Varnum Mill", "lang": "en",
     "text": "The Varnum Mill stands in Tessel. It was built by Ada Brenn and employs 42 weavers."},
    {"id": "d3", "url": "https://korla.example/lake", "title": "Lake Korla", "lang": "en",
     "text": "Lake Korla lies north of Imbra. Its water is cold and clear all year."},
]
QUESTIONS = [("When was the Orlen Bridge in Halsby opened?", "Orlen Bridge Halsby opened", "1931", 0),
             ("Who built the Varnum Mill?", "Varnum Mill built", "Ada Brenn", 1),
             ("Where does Lake Korla lie?", "Lake Korla lies", "north of Imbra", 2)]


def build_index(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    con = create_index(folder / "search.sqlite")
    add_documents(con, DOCS)
    con.close()
    return folder / "search.sqlite"


def chat(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "train.cli", "chat", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def tool_tok_path(tmp_path_factory):
    return train_tiny_tokenizer(tmp_path_factory.mktemp("tok"), pieces=TOOL_PIECES,
                                extra=[d["text"] for d in DOCS] + [q for q, *_ in QUESTIONS])


# --- the contract ----------------------------------------------------------------------------

def test_tool_tokens_follow_the_chat_tokens_in_the_tokenizer_stage():
    from contract.tokens import CHAT_NAMES, SPECIAL_TOKENS, TOOL_NAMES, Tokenizer  # noqa: F401
    from corpus.stages.tokenizer import special_ids, train_sentencepiece
    import sentencepiece as spm

    assert TOOL_NAMES == ("search_start", "search_end", "result_start", "result_end")
    texts = [d["text"] for d in DOCS] * 20
    sp = spm.SentencePieceProcessor(model_proto=train_sentencepiece(texts, 400, threads=1))
    ids = special_ids(sp)
    assert [ids[n] for n in CHAT_NAMES + TOOL_NAMES] == list(range(1, 12))   # the tools after the seven
    text = "a page quoting <|search_start|>q<|search_end|><|result_start|>r<|result_end|>"
    from contract.tokens import encode_text
    assert not set(encode_text(sp, text)) & set(ids.values()) and sp.decode(encode_text(sp, text)) == text


# --- the runtime ----------------------------------------------------------------------------

def test_search_tool_inserts_bounded_hits(tool_tok_path, tmp_path):
    from train.tools import SearchTool
    tok = load_tokenizer(tool_tok_path)
    tool = SearchTool(open_searcher(build_index(tmp_path / "index")), tok, k=2, max_tokens=40)
    r = tool.run("Orlen Bridge opened")
    assert r.hits[0].url == DOCS[0]["url"]
    assert r.ids[0] == tok.special["result_start"] and r.ids[-1] == tok.special["result_end"]
    assert len(r.ids) <= 42 and not set(r.ids[1:-1]) & set(tok.special.values())
    assert tok.decode(r.ids[1:-1]).startswith("[1] Orlen Bridge\nhttps://halsby.example/orlen-bridge")
    assert tok.decode(tool.run("zzqx unknown").ids[1:-1]) == "No results."


@pytest.fixture(scope="module")
def searcher_run(tool_tok_path, tmp_path_factory):
    """``out/train/sft`` (a tiny model overfit to search before answering) and ``out/index``."""
    from train import sft
    from train.sft_data import write_jsonl
    from train.tools import SearchTool

    w = tmp_path_factory.mktemp("run")
    out = w / "out"
    index = build_index(out / "index")
    tok = load_tokenizer(tool_tok_path)
    tool = SearchTool(open_searcher(index), tok)
    convs = []
    for q, query, answer, d in QUESTIONS:
        result = tok.decode(tool.run(query).ids[1:-1])
        convs.append({"messages": [{"role": "user", "content": q}, {
            "role": "assistant", "content": f"{answer}. Source: {DOCS[d]['url']}",
            "tool_calls": [{"query": query, "result": result}]}]})
    convs.append({"messages": [{"role": "user", "content": "Hello!"},
                               {"role": "assistant", "content": "Hello! How can I help you today?"}]})
    write_jsonl(convs, w / "convs.jsonl")
    init = make_tiny_checkpoint(w / "pre", tool_tok_path, seq_len=256)
    config = sft_config(out, init, builtin={"n": 0}, data=[str(w / "convs.jsonl")], val_fraction=0,
                        batch_size=4, steps=80, lr=3e-3, warmup=5, log_every=20, samples=[])
    with one_thread():
        sft.run(config)
    return out


def test_chat_subprocess_runs_a_search_and_inserts_the_hits(searcher_run):
    # the index is found from the checkpoint: <output>/index beside <output>/train/sft
    r = chat(searcher_run / "train" / "sft", "--prompt", QUESTIONS[0][0], "--temperature", "0",
             "--max-new-tokens", "60")
    assert r.returncode == 0, r.stderr
    assert "[search] Orlen Bridge Halsby opened\n" in r.stdout, r.stdout
    assert f"[hit] Orlen Bridge <{DOCS[0]['url']}>" in r.stdout
    assert "searching is off" not in r.stderr
    # --no-tools: the same model is never given results
    r = chat(searcher_run / "train" / "sft", "--prompt", QUESTIONS[0][0], "--temperature", "0",
             "--max-new-tokens", "30", "--no-tools")
    assert r.returncode == 0, r.stderr
    assert "[hit]" not in r.stdout


def test_generate_batches_searches_and_parse_reply_reads_them(searcher_run):
    from train.chat_format import parse_reply, render_prompt, stop_ids
    from train.checkpoint import load_checkpoint
    from train.tools import SearchTool, generate

    model, tok, _ = load_checkpoint(searcher_run / "train" / "sft", "cpu")
    tool = SearchTool(open_searcher(searcher_run / "index"), tok)
    prompts = [render_prompt([{"role": "user", "content": q}], tok) for q, *_ in QUESTIONS[:2]]
    prompts.append(render_prompt([{"role": "user", "content": "Hello!"}], tok))
    with one_thread():
        outs = generate(model, tok, prompts, tool, 40, temperature=0, stop_ids=stop_ids(tok))
    for (q, query, _, d), ids in zip(QUESTIONS[:2], outs[:2]):
        text, calls = parse_reply(ids, tok)
        assert calls and calls[0]["query"] == query and DOCS[d]["url"] in calls[0]["result"]
    assert parse_reply(outs[2], tok)[1] == []      # small talk: no search


def test_old_tokenizer_still_chats_with_tools_off_and_one_notice(tmp_path):
    ckpt = make_tiny_checkpoint(tmp_path / "old", train_tiny_tokenizer(tmp_path / "tok"))  # seven pieces
    build_index(tmp_path / "index")
    r = chat(ckpt, "--prompt", "Hello!", "--max-new-tokens", "5", "--index", tmp_path / "index")
    assert r.returncode == 0, r.stderr
    notes = [ln for ln in r.stderr.splitlines() if "searching is off" in ln]
    assert len(notes) == 1 and "tool-call tokens" in notes[0]


def test_missing_index_flag_is_an_input_error(searcher_run, tmp_path):
    r = chat(searcher_run / "train" / "sft", "--prompt", "hi", "--index", tmp_path / "nowhere")
    assert r.returncode == 3 and "--index" in r.stderr and "Traceback" not in r.stderr


def test_probe_searches_and_judges_only_the_reply_itself(searcher_run):
    from train import probe
    from train.checkpoint import load_checkpoint
    from train.tools import SearchTool

    model, tok, _ = load_checkpoint(searcher_run / "train" / "sft", "cpu")
    tool = SearchTool(open_searcher(searcher_run / "index"), tok)
    opts = {**probe.DEFAULTS, "samples": 2, "temperature": 0, "max_new_tokens": 40, "seed": 0}
    qs = [{"question": QUESTIONS[0][0], "answer": "1931"},
          {"question": QUESTIONS[0][0], "answer": "three arches"}]   # only in the inserted result
    with one_thread():
        found, result_only = probe.probe(model, tok, qs, opts, tool)
    assert found["accuracy"] == 1.0 and result_only["accuracy"] == 0.0
    assert all("Orlen Bridge in Halsby" not in s for s in found["samples"])   # the hits are not the reply


def test_sample_takes_the_tool_flags(searcher_run, tmp_path, capsys):
    from train import sample
    ckpt = searcher_run / "train" / "sft"
    assert sample.main([str(ckpt), "--prompt", "The", "--index", str(tmp_path / "nowhere")]) == 3
    assert "--index" in capsys.readouterr().err
    with one_thread():
        assert sample.main([str(ckpt), "--prompt", "The", "--max-new-tokens", "5", "--seed", "0"]) == 0
        assert sample.main([str(ckpt), "--prompt", "The", "--max-new-tokens", "5", "--no-tools",
                            "--num-samples", "2"]) == 0


def test_bench_search_figures_and_the_report_card_section(searcher_run, tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    import search as bench_search
    from train import report
    from train.checkpoint import load_checkpoint
    from train.tools import SearchTool

    truth = {"pages": {f"id{d}": {"url": DOCS[d]["url"], "language": "en", "facts": [
        {"kind": "who", "question": q, "answer": a, "sentence": "", "urls": [DOCS[d]["url"]]}]}
        for q, _, a, d in QUESTIONS},
        "unanswerable": [{"kind": "when", "question": "When was the Zorb Tower in Quux built?", "lang": "en"}]}
    model, tok, _ = load_checkpoint(searcher_run / "train" / "sft", "cpu")
    tool = SearchTool(open_searcher(searcher_run / "index"), tok)
    with one_thread():
        res = bench_search.evaluate(model, tok, tool, truth, eval_percent=100, max_new_tokens=40)
    acc = res["accuracy_search"]
    assert acc["n"] == 3 and acc["share"] >= 2 / 3 and acc["se"] == acc["se"]
    assert res["dont_know"]["n"] == 1 and res["targets"]["enough_questions"] is False
    assert set(res["eval_documents"]) == {d["url"] for d in DOCS}
    assert res["searched"]["share"] == 1 and res["answer_in_result"]["n"] == 3
    assert "accuracy with search" in bench_search.report(res)
    # the report card shows the figures once the file exists
    (searcher_run / "train" / "search").mkdir(parents=True, exist_ok=True)
    (searcher_run / "train" / "search" / "search_eval.json").write_text(json.dumps(res))
    md, _ = report.write_card(str(searcher_run), tmp_path / "card")
    card = md.read_text()
    assert "exact answers, with search" in card and "gold answer inside the inserted hit" in card


def test_bench_search_runs_as_a_script():
    # run as `python bench/search.py`, bench/ is first on sys.path: torch's import must still
    # find the standard library (tests/test_docs.py: no bench script shadows a module)
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "search.py"), "--help"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "--no-tools" in r.stdout or "no-tools" in r.stdout


def test_demo_asks_a_held_out_question_through_a_search(searcher_run, tmp_path):
    from corpus.demo import search_demo
    url = DOCS[0]["url"]
    truth = {"pages": {"p0": {"url": url, "language": "en", "facts": [
        {"kind": "when", "question": QUESTIONS[0][0], "answer": "1931", "sentence": "", "urls": [url]}]}},
        "unanswerable": [{"kind": "when", "question": "When was the Zorb Tower in Quux built?", "lang": "en"}]}
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    config = {"output": str(searcher_run), "sample": {"dir": str(tmp_path)},
              "train": {"sft": {"builtin": {"mix": {"search": 1}, "search": {"eval_percent": 99}}}}}
    pipeline = tmp_path / "pipeline.json"
    pipeline.write_text(json.dumps(config))
    summary: list = []
    (searcher_run / "train" / "search" / "search_eval.json").unlink(missing_ok=True)
    lines = search_demo(config, str(pipeline), ["--set", "train.chat.threads=1"], summary)
    assert lines[0] == f"search: Q {QUESTIONS[0][0]!r} (truth: 1931)"
    assert lines[1] == f"        query 'Orlen Bridge Halsby opened' -> hit {url}", lines
    assert lines[2].startswith("        answer '1931")
    assert lines[3].startswith("search: Q 'When was the Zorb Tower in Quux built?' (in no document)")
    assert [name for name, *_ in summary] == ["search"]
    # then the figures (train/search_eval.py), in the summary and where the report card reads them
    assert any(ln.startswith("search: accuracy with search:") for ln in lines), lines
    assert any(ln.startswith("search: unanswerable:") for ln in lines), lines
    res = json.loads((searcher_run / "train" / "search" / "search_eval.json").read_text())
    assert res["accuracy_search"]["n"] == 1 and res["dont_know"]["n"] == 1
    # without the search kind in the SFT mix, the demo asks nothing
    assert search_demo({**config, "train": {}}, str(pipeline), [], []) == []


def test_rl_rollouts_run_searches_and_never_train_on_the_results(searcher_run, tmp_path):
    """``train.rl.tools``: the sampled completions hold the searches' inserted results; the
    policy loss targets every token the model wrote and none of a result span (both ends
    included); the reward reads the reply alone; a run of the RL loop with tools completes."""
    from train import rl
    from train.chat_format import render_prompt, stop_ids
    from train.checkpoint import load_checkpoint
    from train.tools import SearchTool

    model, tok, _ = load_checkpoint(searcher_run / "train" / "sft", "cpu")
    tool = SearchTool(open_searcher(searcher_run / "index"), tok)
    start, end = tok.special["result_start"], tok.special["result_end"]
    prompt = render_prompt([{"role": "user", "content": QUESTIONS[0][0]}], tok)
    with one_thread():
        comps = rl.sample_groups(model, [prompt], 2, 60, 0.0, None, stop_ids(tok), seed=0, tool=tool)
    comp = comps[0]
    assert start in comp and end in comp, "the rollout ran no search"
    _, targets = rl._pad_batch([prompt], [comp], "cpu", inserted=(start, end))
    row = targets[0, len(prompt) - 1:len(prompt) - 1 + len(comp)].tolist()
    a, b = comp.index(start), comp.index(end)
    assert row[a:b + 1] == [-1] * (b + 1 - a)                       # the result span: not trained
    assert row[:a] == comp[:a] and row[b + 1:] == comp[b + 1:]      # every token the model wrote
    # the reward reads the reply's own words, never the inserted page text
    assert "three arches" in tok.decode(comp) and "three arches" not in rl.decode_reply(comp, tok)
    task = rl.Task.__new__(rl.Task)
    reward = {"reward": "regex", "reward_options": {"pattern": r"^{answer}\."}}   # "1931. Source: ..."
    task.tok, task.reward_fn = tok, rl.make_reward(reward["reward"], **reward["reward_options"])
    assert task.score({"prompt": QUESTIONS[0][0], "answer": "1931"}, comp) == 1.0
    # the whole loop, tools on: a JSONL task of the fact questions, one step
    problems = tmp_path / "search.jsonl"
    problems.write_text("".join(json.dumps({"prompt": q, "answer": a, "split": "sft" if i else "eval"}) + "\n"
                                for i, (q, _, a, _) in enumerate(QUESTIONS)))
    config = {"output": str(searcher_run), "train": {"rl": {
        "task": str(problems), "tools": True, **reward, "steps": 1, "prompts_per_step": 2, "group_size": 2,
        "max_new_tokens": 60, "eval_samples": 2, "eval_every": 0, "out_dir": str(tmp_path / "rl"),
        "init": str(searcher_run / "train" / "sft")}}}
    with one_thread():
        res = rl.run(config)
    assert res["before"]["problems"] == 1 and res["before"]["greedy"] == 1.0   # answered through a search
