"""SFT conversations that teach when and how to search, generated from the corpus itself.

From the checkable facts a corpus records per page (the sample's ``truth.json``:
``pages[url]["facts"] = [{"kind", "question", "answer", "sentence"}]``, and top-level
``unanswerable = [{"kind", "question"}]``) and the corpus's own search index:

- a question about the corpus: the assistant searches (a query made from the question), reads
  the real top hits the index returns, and answers quoting the source: ``According to URL:
  SENTENCE`` then ``Answer: X`` (the last line, as the arithmetic answers);
- a question no document answers: it searches, finds nothing relevant, says "I don't know";
- small talk and arithmetic, which never search, come from the rest of the built-in mix.

Documents whose facts are used for SFT and documents used for evaluation (``bench/search.py``)
are disjoint: a page is in the eval split when a hash of its URL falls below ``eval_percent``
(the unanswerable questions are split by a hash of the question), so the split is recorded by
the URL alone and any tool can recompute it (:func:`split_of`).
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

from contract.search import open_searcher
from train.tools import SearchTool, format_hits

EVAL_PERCENT = 30
DONT_KNOW = "I don't know: the search found nothing about that."
QUESTION_WORDS = set("""a an the of in on at to for by from with and or is are was were be been do does did
what when where who whom whose which why how many much there their its it this that these those""".split())


def split_of(key: str, eval_percent: int = EVAL_PERCENT) -> str:
    """``"eval"`` or ``"sft"`` for a page URL (or an unanswerable question), by its hash."""
    h = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")
    return "eval" if h % 100 < eval_percent else "sft"


def make_query(question: str) -> str:
    """The search query the assistant writes: the question's content words, in order."""
    words = re.findall(r"\w+", question)
    kept = [w for w in words if w.lower() not in QUESTION_WORDS]
    return " ".join(kept or words)


def answer_text(fact: dict, url: str) -> str:
    """Short (a small model's context also holds the hits): the answer, then its source."""
    return f"Answer: {fact['answer']}\nSource: {url}"


def load_truth(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"truth file not found: {path}")
    return json.loads(path.read_text(encoding="utf-8"))


def facts(truth: dict, split: str, eval_percent: int = EVAL_PERCENT) -> list[dict]:
    """Every fact of the pages in ``split``, each with its page's ``url``, in URL order."""
    out = []
    for url in sorted(truth.get("pages") or {}):
        if split_of(url, eval_percent) == split:
            for f in truth["pages"][url].get("facts") or []:
                out.append({**f, "url": url})
    return out


def unanswerable(truth: dict, split: str, eval_percent: int = EVAL_PERCENT) -> list[dict]:
    return [q for q in truth.get("unanswerable") or [] if split_of(q["question"], eval_percent) == split]


class SearchData:
    """The ``search`` kind of the built-in SFT mix: conversations from the SFT split only."""

    def __init__(self, truth: str | Path | dict, index: str | Path, tokenizer=None,
                 eval_percent: int = EVAL_PERCENT, unanswerable_share: float = 0.25):
        self.truth = truth if isinstance(truth, dict) else load_truth(truth)
        self.searcher = open_searcher(index)
        self.tool = SearchTool(self.searcher, tokenizer) if tokenizer is not None else None
        self.eval_percent, self.unanswerable_share = eval_percent, unanswerable_share
        self.skipped = 0     # facts whose answer the top hits do not show: no honest answer to teach

    def result(self, query: str) -> tuple[str, list]:
        """What the runtime would insert for ``query`` (bounded by the tokenizer when known)."""
        if self.tool is not None:
            r = self.tool.run(query)
            return self.tool.tok.decode(r.ids[1:-1]), r.hits
        hits = self.searcher.search(query, 2)
        return format_hits(hits), hits

    def answered(self, fact: dict) -> dict | None:
        query = make_query(fact["question"])
        result, hits = self.result(query)
        if fact["url"] not in {h.url for h in hits} or str(fact["answer"]) not in result:
            self.skipped += 1
            return None
        return self._conversation(fact["question"], query, result, answer_text(fact, fact["url"]), fact["url"])

    def refused(self, q: dict) -> dict:
        query = make_query(q["question"])
        result, _ = self.result(query)
        return self._conversation(q["question"], query, result, DONT_KNOW, None)

    @staticmethod
    def _conversation(question: str, query: str, result: str, answer: str, url: str | None) -> dict:
        return {"messages": [{"role": "user", "content": question},
                             {"role": "assistant", "content": answer,
                              "tool_calls": [{"query": query, "result": result}]}],
                "source": "builtin:search", "url": url}

    def conversations(self, n: int, seed: int = 0) -> list[dict]:
        """``n`` conversations (about ``unanswerable_share`` of them "I don't know"), deterministic."""
        r = random.Random(seed)
        pool = [c for c in (self.answered(f) for f in facts(self.truth, "sft", self.eval_percent)) if c]
        refusals = [self.refused(q) for q in unanswerable(self.truth, "sft", self.eval_percent)]
        if not pool and not refusals:
            raise ValueError("search SFT data: no usable facts in the SFT split (truth.json has no facts, "
                             "or the index does not find their pages)")
        n_refuse = round(n * self.unanswerable_share) if refusals else 0
        n_refuse = n if not pool else n_refuse
        out = [r.choice(pool) for _ in range(n - n_refuse)] + [r.choice(refusals) for _ in range(n_refuse)]
        r.shuffle(out)
        return out

    def close(self) -> None:
        self.searcher.close()
