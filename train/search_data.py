"""SFT conversations that teach when and how to search, generated from the corpus itself.

From the checkable facts a corpus records (the sample's ``truth.json``: ``pages[doc_id]["facts"]
= [{"kind", "question", "answer", "sentence", "urls"}]``, where ``urls`` lists every page that
states the fact: its page and that page's copies) and the corpus's own search index:

- a question about the corpus: the assistant searches (the question as asked), reads
  the real top hit the index returns, and answers ``Answer: X`` then ``Source: URL`` (the
  ``Answer:`` line is what the benchmark and the probe check);
- a question no document answers: it searches, finds nothing about it, says "I don't know".
  SFT asks about invented names (an SFT question's names swapped for made-up ones); the
  search is strict (``contract.search``: a name no document holds finds nothing), so the hit
  is "No results." (with a search server, or ``strict`` off: some other entity's page);
  ``truth.json``'s own ``unanswerable`` questions are all kept for evaluation;
- counterfactual copies of answered questions (``counterfactual_share``): names and answer
  swapped for made-up ones in question, hit and answer, so the answer can only be copied;
- small talk and arithmetic, which never search, come from the rest of the built-in mix.

Facts used for SFT and facts used for evaluation (``bench/search.py``) come from disjoint
documents: a fact is in the eval split when a hash of its cluster (the first of its sorted
``urls``: the same for a page and its copies) falls below ``eval_percent``, so every page that
states an eval fact is on the eval side, and any tool can recompute the split (:func:`split_of`).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from collections import defaultdict
from pathlib import Path

from contract.jsonl import write_jsonl
from contract.search import open_searcher
from train.tools import SearchTool

EVAL_PERCENT = 30
LANGS = ("en",)
DONT_KNOW = "I don't know: the search found nothing about that."


def split_of(key: str, eval_percent: int = EVAL_PERCENT) -> str:
    """``"eval"`` or ``"sft"`` for a fact's cluster key (:func:`cluster_of`), by its hash."""
    h = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")
    return "eval" if h % 100 < eval_percent else "sft"


def cluster_of(fact: dict) -> str:
    """The key a fact is split by: the first of the URLs stating it (a page and its copies agree)."""
    return min(fact["urls"])


def make_query(question: str) -> str:
    """The search query the assistant writes: the question as asked. BM25 ranks by the rare
    words (the names) anyway, and a small model copies a whole span far more reliably than it
    picks words out of it (a word picked first would also tokenize differently, without the
    space before it, so not even its pieces could be copied)."""
    return " ".join(question.split())


def answer_text(fact: dict, url: str) -> str:
    """Short (a small model's context also holds the hits): the answer, then its source."""
    return f"Answer: {fact['answer']}\nSource: {url}"


def shows(text: str, answer: str) -> bool:
    """Whether ``answer`` stands in ``text`` as whole words (a year "1903", not the "3" of a URL)."""
    return re.search(rf"(?<!\w){re.escape(answer)}(?!\w)", text) is not None


def load_truth(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"truth file not found: {path}")
    return json.loads(path.read_text(encoding="utf-8"))


def all_facts(truth: dict, langs=None) -> list[dict]:
    """Every fact once (copies repeat their source's), with ``urls`` and its page's ``lang``,
    in page-id order. ``langs``: only facts of pages in these languages (None: all)."""
    out, seen = [], set()
    for pid in sorted(truth.get("pages") or {}):
        page = truth["pages"][pid]
        lang = page.get("language") or page.get("lang") or ""
        if langs is not None and lang not in langs:
            continue
        for f in page.get("facts") or []:
            if f["question"] in seen:
                continue
            seen.add(f["question"])
            out.append({**f, "urls": sorted(f.get("urls") or [page["url"]]), "lang": lang})
    return out


def facts(truth: dict, split: str, eval_percent: int = EVAL_PERCENT, langs=None) -> list[dict]:
    """The facts of one split (see :func:`all_facts` and :func:`split_of`)."""
    return [f for f in all_facts(truth, langs) if split_of(cluster_of(f), eval_percent) == split]


def unanswerable(truth: dict, langs=None) -> list[dict]:
    """``truth.json``'s questions about entities in no document: all held out for evaluation."""
    return [q for q in truth.get("unanswerable") or [] if langs is None or q.get("lang", "") in langs]


class NameForge:
    """Made-up names that look like the corpus's own: two known names cut and joined, never a
    word any question of ``pool`` uses (so a made-up name names nothing in the corpus)."""

    def __init__(self, pool: list[dict]):
        self.clusters: dict[str, set] = defaultdict(set)
        for f in pool:
            for w in re.findall(r"\w+", f["question"] + " " + str(f.get("answer", ""))):
                self.clusters[w.lower()].add(cluster_of(f))
        self.names = sorted(w for w, c in self.clusters.items()
                            if len(c) == 1 and len(w) >= 4 and w.isalpha() and w.isascii())
        self._is_name = set(self.names)   # asked for every word of every conversation

    def is_name(self, word: str) -> bool:
        """A word only one cluster's facts use: a name (not "Library", not "Who")."""
        return word.lower() in self._is_name

    def fresh(self, r: random.Random) -> str | None:
        for _ in range(20):
            a, b = r.choice(self.names), r.choice(self.names)
            new = (a[: max(2, len(a) // 2)] + b[len(b) // 2:]).capitalize()
            if new.lower() not in self.clusters:
                return new
        return None


def invented_questions(pool: list[dict], seed: int = 0, forge: NameForge | None = None) -> list[dict]:
    """Questions about things no document names: each question of ``pool`` with its names (the
    words no other cluster's question uses) swapped for made-up ones (:class:`NameForge`).
    Languages written with spaces only (a CJK question is one long "word")."""
    forge = forge or NameForge(pool)
    r = random.Random(seed)
    out = []
    for f in pool:
        words = [w for w in re.findall(r"\w+", f["question"]) if forge.is_name(w)]
        if not words or not forge.names:
            continue
        q = f["question"]
        for w in words:
            new = forge.fresh(r)
            if new is not None:
                q = re.sub(rf"\b{re.escape(w)}\b", new, q)
        if q != f["question"]:
            out.append({"kind": f.get("kind", ""), "question": q, "lang": f.get("lang", ""),
                        "names": [w.lower() for w in re.findall(r"\w+", q) if w.lower() not in forge.clusters]})
    return out


def counterfactual(conv: dict, fact: dict, forge: NameForge, r: random.Random) -> dict | None:
    """``conv`` (an answered search conversation) with the fact's names and its answer swapped
    for made-up ones everywhere: question, query, the inserted result (its URL kept) and the
    answer. The model has never read these names, so recalling from pretraining cannot produce
    the answer: only copying the query from the question and the answer from the result can.
    That is the skill a small model lacks (it garbles a name it must copy), and a fact it
    memorised teaches nothing about it. None when the fact has nothing to swap."""
    swap: dict[str, str] = {}
    for w in re.findall(r"\w+", fact["question"]):
        if forge.is_name(w) and w not in swap:
            swap[w] = forge.fresh(r) or w
    answer = str(fact["answer"])
    if answer.isdigit():
        lo, hi = (1800, 2020) if fact.get("kind") == "when" or len(answer) == 4 else (2, 60)
        swap[answer] = str(r.choice([n for n in range(lo, hi) if str(n) != answer]))
    else:
        for w in re.findall(r"\w+", answer):
            if forge.is_name(w) and w not in swap:
                swap[w] = forge.fresh(r) or w
    swap = {a: b for a, b in swap.items() if a != b}
    if not swap:
        return None
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(a)}(?!\w)" for a in sorted(swap, key=len, reverse=True)))
    if not pattern.search(answer):
        return None

    def sub(text: str, keep: str | None = None) -> str:
        if keep and keep in text:   # the source URL stays as it was (its digits are not the answer)
            return keep.join(pattern.sub(lambda m: swap[m.group(0)], part) for part in text.split(keep))
        return pattern.sub(lambda m: swap[m.group(0)], text)

    url = conv.get("url")
    user, reply = conv["messages"]
    call = reply["tool_calls"][0]
    return {**conv, "messages": [
        {**user, "content": sub(user["content"])},
        {**reply, "content": sub(reply["content"], url),
         "tool_calls": [{"query": sub(call["query"]), "result": sub(call["result"], url)}]}],
        "source": "builtin:search:counterfactual"}


class SearchData:
    """The ``search`` kind of the built-in SFT mix: conversations from the SFT split only."""

    def __init__(self, truth: str | Path | dict, index: str | Path, tokenizer=None,
                 eval_percent: int = EVAL_PERCENT, unanswerable_share: float = 0.3, langs=LANGS,
                 counterfactual_share: float = 0.0):
        self.truth = truth if isinstance(truth, dict) else load_truth(truth)
        self.searcher = open_searcher(index)
        self.tool = SearchTool(self.searcher, tokenizer)
        self.eval_percent, self.unanswerable_share = eval_percent, unanswerable_share
        self.counterfactual_share = counterfactual_share
        self.langs = None if langs is None else tuple(langs)
        self.skipped = 0     # facts whose answer the top hits do not show: no honest answer to teach
        self.eval_urls = {u for f in facts(self.truth, "eval", eval_percent) for u in f["urls"]}

    def result(self, query: str) -> tuple[str, list]:
        """What the runtime would insert for ``query`` (bounded by the tokenizer when known)."""
        if self.tool.tok is not None:
            r = self.tool.run(query)
            return self.tool.tok.decode(r.ids[1:-1]), r.hits
        return self.tool.result_text(query)

    def answered(self, fact: dict) -> dict | None:
        query = make_query(fact["question"])
        result, hits = self.result(query)
        url = next((h.url for h in hits if h.url in fact["urls"]), None)
        if url is None or not shows(result.replace(url, " "), str(fact["answer"])):
            self.skipped += 1
            return None
        return self._conversation(fact["question"], query, result, answer_text(fact, url), url)

    def refused(self, q: dict) -> dict | None:
        query = make_query(q["question"])
        result, hits = self.result(query)
        if any(n in result.lower() for n in q.get("names", [])):   # an invented name that exists after all
            return None
        if any(h.url in self.eval_urls for h in hits):   # an eval page's text never shows in SFT
            return None
        return self._conversation(q["question"], query, result, DONT_KNOW, None)

    @staticmethod
    def _conversation(question: str, query: str, result: str, answer: str, url: str | None) -> dict:
        return {"messages": [{"role": "user", "content": question},
                             {"role": "assistant", "content": answer,
                              "tool_calls": [{"query": query, "result": result}]}],
                "source": "builtin:search", "url": url}

    def conversations(self, n: int, seed: int = 0) -> list[dict]:
        """``n`` conversations (about ``unanswerable_share`` of them "I don't know"), deterministic:
        each SFT fact once before any repeats, likewise each invented question. About
        ``counterfactual_share`` of the answered ones have their names and answer swapped for
        made-up ones (:func:`counterfactual`), a new swap each time a fact comes round again."""
        r = random.Random(seed)
        sft = facts(self.truth, "sft", self.eval_percent, self.langs)
        pool = [(f, c) for f, c in ((f, self.answered(f)) for f in sft) if c]
        forge = NameForge(sft)
        refusals = [c for c in (self.refused(q) for q in invented_questions(sft, seed, forge)) if c]
        if not pool:
            raise ValueError("search SFT data: no usable facts in the SFT split (truth.json has no facts "
                             f"in {self.langs or 'any language'}, or the index does not find their pages)")
        n_refuse = round(n * self.unanswerable_share) if refusals else 0
        answered = []
        for f, c in _cycle(pool, n - n_refuse, r):
            swapped = counterfactual(c, f, forge, r) if r.random() < self.counterfactual_share else None
            answered.append(swapped or c)
        out = answered + _cycle(refusals, n_refuse, r)
        r.shuffle(out)
        return out

    def close(self) -> None:
        self.searcher.close()


def _cycle(items: list, n: int, r: random.Random) -> list:
    """``n`` items drawn as shuffled passes over ``items`` (every one once before any twice)."""
    out: list = []
    while items and len(out) < n:
        batch = list(items)
        r.shuffle(batch)
        out += batch[: n - len(out)]
    return out


def demo_questions(truth: dict, eval_percent: int = EVAL_PERCENT, langs=LANGS) -> list[dict]:
    """The first held-out fact question and the first unanswerable one: what ``make demo``
    asks (``python -m train.search_data TRUTH``, so ``corpus`` never imports ``train``)."""
    held = [{"question": f["question"], "answer": f["answer"]} for f in facts(truth, "eval", eval_percent, langs)[:1]]
    return held + [{"question": q["question"], "answer": None} for q in unanswerable(truth, langs)[:1]]


def rl_task(truth: dict, eval_percent: int = EVAL_PERCENT, langs=LANGS) -> list[dict]:
    """Every fact question as an RL problem ``{prompt, answer, split}`` (``train rl`` with
    ``tools: true`` and ``task: FILE``): SFT-split facts train, eval-split ones are held out."""
    return [{"prompt": f["question"], "answer": f["answer"], "split": split}
            for split in ("sft", "eval") for f in facts(truth, split, eval_percent, langs)]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="print the demo's two search questions as JSON, or "
                                             "write the fact questions as an RL task (--rl-task)")
    ap.add_argument("truth")
    ap.add_argument("--eval-percent", type=int, default=EVAL_PERCENT)
    ap.add_argument("--langs", default=",".join(LANGS), help="comma-separated, or all")
    ap.add_argument("--rl-task", metavar="FILE.jsonl",
                    help="write {prompt, answer, split} per fact for `train rl` (tools: true)")
    a = ap.parse_args()
    langs = None if a.langs == "all" else tuple(a.langs.split(","))
    if a.rl_task:
        rows = rl_task(load_truth(a.truth), a.eval_percent, langs)
        write_jsonl(rows, a.rl_task)
        print(f"{len(rows)} problems ({sum(r['split'] == 'eval' for r in rows)} held out) -> {a.rl_task}")
    else:
        print(json.dumps(demo_questions(load_truth(a.truth), a.eval_percent, langs), ensure_ascii=False))
