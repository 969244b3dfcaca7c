"""Search SFT data from truth.json facts and a real index: questions answered through a real
search (quoting the fact and the URL), unanswerable ones refused after a search, the SFT and
eval documents disjoint by a hash of the URL, and the `search` kind in the built-in mix."""
from __future__ import annotations

import json
import random

import pytest

from contract.search import add_documents, create_index
from sft_helpers import TOOL_PIECES, load_tokenizer, train_tiny_tokenizer
from train.chat_format import render
from train.search_data import DONT_KNOW, SearchData, facts, make_query, split_of, unanswerable
from train.sft_data import builtin_conversations

SYL = ["or", "len", "hal", "var", "num", "kor", "im", "bra", "tes", "sel", "bren", "dun", "mar", "vik", "ost"]


def fake_corpus(n_pages: int = 60, seed: int = 0) -> tuple[dict, list[dict]]:
    """A truth.json as the sample writes it (pages keyed by document id, each fact with the
    ``urls`` of its page and the page's copies; a copy repeats its source's facts) and the
    documents the index holds (dedup kept one page of each cluster: not always the first URL)."""
    r = random.Random(seed)
    name = lambda: "".join(r.choice(SYL) for _ in range(3)).title()   # noqa: E731
    pages, docs = {}, []
    for i in range(n_pages):
        bridge, town, person, year = name(), name(), f"{name()} {name()}", str(1800 + r.randrange(200))
        url = f"https://{town.lower()}.example/page-{i}"
        copies = [f"https://mirror{j}.example/{town.lower()}-{i}" for j in range(i % 3)]
        s1 = f"The {bridge} Bridge in {town} was opened in {year}."
        s2 = f"It was designed by {person}."
        text = f"{s1} It crosses the river in {r.randint(2, 9)} arches. {s2} Walkers use it every day."
        urls = sorted([url] + copies)
        page_facts = [
            {"kind": "when", "question": f"When was the {bridge} Bridge in {town} opened?", "answer": year,
             "sentence": s1, "urls": urls},
            {"kind": "who", "question": f"Who designed the {bridge} Bridge in {town}?", "answer": person,
             "sentence": s1 + " " + s2, "urls": urls}]
        for j, u in enumerate([url] + copies):
            pages[f"id-{i}-{j}"] = {"url": u, "language": "en", "main_text": text, "facts": page_facts}
        kept = urls[-1]                                  # the copy dedup kept, not the sorted first
        docs.append({"id": f"d{i}", "url": kept, "title": f"{bridge} Bridge", "text": text, "lang": "en"})
    missing = [{"kind": "when", "question": f"When was the {name()} Tower in {name()} built?", "lang": "en"}
               for _ in range(30)]
    return {"pages": pages, "unanswerable": missing}, docs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    truth, docs = fake_corpus()
    (d / "truth.json").write_text(json.dumps(truth))
    (d / "index").mkdir()
    con = create_index(d / "index" / "search.sqlite")
    add_documents(con, docs)
    con.close()
    return d


@pytest.fixture(scope="module")
def tool_tok(tmp_path_factory):
    return load_tokenizer(train_tiny_tokenizer(tmp_path_factory.mktemp("tok"), pieces=TOOL_PIECES))


def test_sft_and_eval_facts_are_disjoint_by_cluster(corpus):
    truth = json.loads((corpus / "truth.json").read_text())
    every = [f for p in truth["pages"].values() for f in p["facts"]]
    sft, ev = facts(truth, "sft"), facts(truth, "eval")
    assert sft and ev
    # each fact once (copies repeat their source's questions), every fact on one side
    assert sorted(f["question"] for f in sft + ev) == sorted({f["question"] for f in every})
    sft_urls = {u for f in sft for u in f["urls"]}
    eval_urls = {u for f in ev for u in f["urls"]}
    assert not sft_urls & eval_urls                       # a page and its copies on one side
    assert sft_urls | eval_urls == {p["url"] for p in truth["pages"].values()}
    assert all(split_of(min(f["urls"])) == "eval" for f in ev)      # recomputable from the URLs alone
    data = SearchData(corpus / "truth.json", corpus / "index")
    convs = data.conversations(200, seed=1)
    assert convs == SearchData(corpus / "truth.json", corpus / "index").conversations(200, seed=1)
    used = {c["url"] for c in convs if c["url"]}
    assert used and used <= sft_urls
    assert len(used) == len({min(f["urls"]) for f in sft})          # every SFT fact's page answers
    asked = {c["messages"][0]["content"] for c in convs}
    assert not asked & {f["question"] for f in ev}
    assert not asked & {q["question"] for q in unanswerable(truth)}   # all kept for evaluation
    seen = " ".join(c["messages"][1]["tool_calls"][0]["result"] for c in convs)
    assert not any(f["sentence"] in seen for f in ev)               # no eval page's text in SFT


def test_answered_and_refused_conversations(corpus, tool_tok):
    data = SearchData(corpus / "truth.json", corpus / "index", tool_tok)
    convs = data.conversations(60, seed=0)
    answered = [c for c in convs if c["url"]]
    refused = [c for c in convs if not c["url"]]
    assert answered and refused and all(c["source"] == "builtin:search" for c in convs)
    for c in answered:
        user, assistant = c["messages"]
        call = assistant["tool_calls"][0]
        assert call["query"] == make_query(user["content"]) and c["url"] in call["result"]
        answer = assistant["content"].split("\n")[0].removeprefix("Answer: ")
        assert answer in call["result"]                         # read from the real hit
        assert assistant["content"] == f"Answer: {answer}\nSource: {c['url']}"
        ids, mask = render(c["messages"], tool_tok)
        result = ids[ids.index(tool_tok.special["result_start"]):ids.index(tool_tok.special["result_end"]) + 1]
        assert len(result) <= 130 and not any(mask[ids.index(tool_tok.special["result_start"]):][:len(result)])
    for c in refused:
        assert c["messages"][1]["content"] == DONT_KNOW and c["messages"][1]["tool_calls"]
    assert make_query(" When was the Orlen Bridge\nin Halsby opened?") == "When was the Orlen Bridge in Halsby opened?"


def test_search_kind_in_the_builtin_mix(corpus):
    data = SearchData(corpus / "truth.json", corpus / "index")
    mix = {"greeting": 1, "arithmetic": 1, "search": 2}
    convs = builtin_conversations(40, seed=0, mix=mix, search=data)
    kinds = {c["source"] for c in convs}
    assert kinds == {"builtin:greeting", "builtin:arithmetic", "builtin:search"}
    assert sum(c["source"] == "builtin:search" for c in convs) == 20
    assert not any(m.get("tool_calls") for c in convs if c["source"] != "builtin:search"
                   for m in c["messages"])             # small talk and arithmetic never search
    with pytest.raises(ValueError, match="builtin.search"):
        builtin_conversations(10, mix=mix)


def test_sft_reads_the_search_block(corpus, tool_tok):
    from train.config import ConfigError
    from train.sft import gather_conversations
    params = {"builtin": {"n": 20, "seed": 0, "mix": {"search": 1, "greeting": 1},
                          "search": {"truth": str(corpus / "truth.json"), "index": str(corpus / "index")}}}
    convs = gather_conversations(params, tool_tok)
    assert sum(c["source"] == "builtin:search" for c in convs) == 10
    params["builtin"]["search"] = {"truth": str(corpus / "truth.json")}
    with pytest.raises(ConfigError, match="builtin.search"):
        gather_conversations(params, tool_tok)


def test_sft_search_block_finds_truth_and_index_from_the_pipeline(corpus, tool_tok):
    from train.config import ConfigError
    from train.sft import gather_conversations
    config = {"output": str(corpus), "sample": {"dir": str(corpus)}}   # <output>/index, <sample.dir>/truth.json
    params = {"builtin": {"n": 20, "seed": 0, "mix": {"search": 1, "greeting": 1}, "search": {"langs": ["en"]}}}
    convs = gather_conversations(params, tool_tok, config)
    assert sum(c["source"] == "builtin:search" for c in convs) == 10
    params["builtin"]["search"] = {"lang": ["en"]}
    with pytest.raises(ConfigError, match=r"builtin\.search\.lang: unknown key"):
        gather_conversations(params, tool_tok, config)
    params["builtin"]["search"] = {"langs": ["de"]}             # no facts in that language
    with pytest.raises(ValueError, match="no usable facts"):
        gather_conversations(params, tool_tok, config)


def test_counterfactual_conversations_swap_names_and_answer_everywhere(corpus, tool_tok):
    """With ``counterfactual_share`` 1 every answered conversation is about made-up names with a
    made-up answer (no page holds either), consistent across question, query, result and answer,
    so only copying, never recall, produces the answer; the source URL is kept; "I don't know"
    conversations are untouched; the swap is deterministic and differs between repeats."""
    truth = json.loads((corpus / "truth.json").read_text())
    known = " ".join(p["main_text"] for p in truth["pages"].values()).lower()
    data = SearchData(corpus / "truth.json", corpus / "index", tool_tok, counterfactual_share=1.0)
    convs = data.conversations(120, seed=0)
    assert convs == SearchData(corpus / "truth.json", corpus / "index", tool_tok,
                               counterfactual_share=1.0).conversations(120, seed=0)
    answered = [c for c in convs if c["url"]]
    assert answered and all(c["source"] == "builtin:search:counterfactual" for c in answered)
    originals = {f["question"] for f in facts(truth, "sft")}
    for c in answered:
        user, assistant = c["messages"]
        call = assistant["tool_calls"][0]
        answer = assistant["content"].split("\n")[0].removeprefix("Answer: ")
        assert call["query"] == make_query(user["content"])
        assert answer in call["result"] and c["url"] in call["result"]
        assert assistant["content"] == f"Answer: {answer}\nSource: {c['url']}"
        if not answer.isdigit():
            assert answer.split()[-1].lower() not in known        # a name no page holds
        names = [w for w in user["content"].split()[1:] if w[0].isupper() and w.lower().strip("?") not in known]
        assert all(n.strip("?") in call["result"] for n in names)
    # a word two facts share is no name (here: the fake names collide), so a few questions keep theirs
    assert sum(c["messages"][0]["content"] not in originals for c in answered) >= 0.8 * len(answered)
    refused = [c for c in convs if not c["url"]]
    assert refused and all(c["source"] == "builtin:search" for c in refused)
    assert len({c["messages"][0]["content"] for c in answered}) > len({c["url"] for c in answered})


def test_counterfactual_share_setting(corpus, tool_tok):
    from train.config import ConfigError
    from train.sft import gather_conversations
    block = {"truth": str(corpus / "truth.json"), "index": str(corpus / "index"), "counterfactual_share": 0.5}
    params = {"builtin": {"n": 40, "seed": 0, "mix": {"search": 1}, "search": block}}
    sources = {c["source"] for c in gather_conversations(params, tool_tok)}
    assert sources == {"builtin:search", "builtin:search:counterfactual"}
    block["counterfactual_share"] = 1.5
    with pytest.raises(ConfigError, match="counterfactual_share"):
        gather_conversations(params, tool_tok)

