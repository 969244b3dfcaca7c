"""The search tool at generation time: when the model writes ``<|search_end|>``, the query it
wrote since ``<|search_start|>`` goes to a :class:`contract.search.Searcher`, the top hits
(title, url, snippet; bounded in tokens) are inserted between ``<|result_start|>`` and
``<|result_end|>``, and the model continues from there. ``train chat``, ``train sample``,
``train probe``, ``bench/search.py`` and (as a hook) the RL rollouts generate through here.

The index is reached through ``contract.search`` only: ``train`` never imports ``corpus``.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from contract.search import INDEX_FILE, Hit, open_searcher
from train.chat_format import has_tools, result_span
from train.checkpoint import latest_checkpoint

INDEX_FOLDER = "index"    # the index stage's folder in a pipeline's output
MAX_CALLS = 2             # searches per reply: a model stuck in a loop still ends
#: Hits one search inserts. One: on the sample the gold page is the top hit for every fact
#: question, and a small model copies an answer more reliably from one passage than from two.
HITS = 1


@dataclass
class ToolResult:
    """One executed search: what was asked, what came back, and the ids inserted."""
    query: str
    hits: list[Hit]
    ids: list[int]


def format_hits(hits: Sequence[Hit], snippet_chars: int = 200) -> str:
    """The result text the model reads (and SFT data shows it): one block per hit, its title
    (when the page has one), URL and snippet. A URL costs ~40 tokens, so it is never shown twice."""
    if not hits:
        return "No results."
    blocks = []
    for i, h in enumerate(hits, 1):
        snippet = " ".join(h.snippet.split())[:snippet_chars]
        head = f"{h.title}\n{h.url}" if h.title else h.url
        blocks.append(f"[{i}] {head}\n{snippet}")
    return "\n\n".join(blocks)


class SearchTool:
    """A searcher plus the bounds of what one search inserts into the context."""

    def __init__(self, searcher, tokenizer, k: int = HITS, max_tokens: int = 128, snippet_chars: int = 200,
                 strict: bool | None = None):
        self.searcher, self.tok = searcher, tokenizer
        self.k, self.max_tokens, self.snippet_chars = k, max_tokens, snippet_chars
        # only relevant hits (contract.search.SqliteSearcher._strict_query): "No results." is
        # what tells the model that the corpus does not know; a search server keeps its own rules
        self.strict = getattr(searcher, "can_be_strict", False) if strict is None else strict

    def result_text(self, query: str) -> tuple[str, list[Hit]]:
        hits = self.searcher.search(query, self.k, strict=self.strict) if query.strip() else []
        return format_hits(hits, self.snippet_chars), hits

    def run(self, query: str) -> ToolResult:
        text, hits = self.result_text(query)
        take = self.max_tokens
        while len(self.tok.encode(text)) > self.max_tokens:   # a decoded cut may re-encode longer
            text = self.tok.decode(self.tok.encode(text)[:take])
            take -= 1
        return ToolResult(query, hits, result_span(text, self.tok))

    def close(self) -> None:
        self.searcher.close()


# --- finding the index -----------------------------------------------------------------------

def _index_file(path: Path) -> Path | None:
    for p in (path, path / INDEX_FILE, path / INDEX_FOLDER / INDEX_FILE):
        if p.is_file():
            return p
    return None


def find_index(checkpoint: str | Path, output: str | Path | None = None) -> Path | None:
    """The run's index: ``<output>/index/`` when the pipeline is known, else the first folder
    above the checkpoint (``<output>/train/<phase>/step-N``) that has ``index/search.sqlite``,
    else beside the shards the checkpoint was trained on."""
    if output is not None:
        return _index_file(Path(output) / INDEX_FOLDER)
    ckpt = Path(checkpoint).resolve()
    for parent in [ckpt, *ckpt.parents][:6]:
        found = _index_file(parent / INDEX_FOLDER)
        if found:
            return found
    try:    # a checkpoint moved elsewhere: the output or shards recorded in its meta
        step = ckpt if (ckpt / "state.json").exists() else latest_checkpoint(ckpt)
        meta = json.loads((step / "state.json").read_text())["meta"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    places = [(meta.get("pipeline") or {}).get("output"), (meta.get("train_config") or {}).get("shards")]
    places = [Path(places[0]) if places[0] else None, Path(places[1]).parent if places[1] else None]
    for place in places:
        found = place and _index_file(place / INDEX_FOLDER)
        if found:
            return found
    return None


def open_tool(tokenizer, checkpoint, *, index: str | None = None, no_tools: bool = False,
              output: str | Path | None = None, warn: Callable[[str], None] | None = None) -> SearchTool | None:
    """The search tool for a command, or None (tools off) with a one-line notice saying why.
    An explicit ``--index`` that does not exist is an input error (FileNotFoundError)."""
    warn = warn or (lambda line: print(line, file=sys.stderr, flush=True))
    if no_tools:
        return None
    if not has_tools(tokenizer):
        warn("note: this checkpoint's tokenizer has no tool-call tokens (<|search_start|> ...); "
             "searching is off")
        return None
    if index is not None:
        found = _index_file(Path(index))
        if found is None:
            raise FileNotFoundError(f"--index: no search index at {index} (run `corpus index PIPELINE`)")
    else:
        found = find_index(checkpoint, output)
        if found is None:
            warn("note: no search index found for this checkpoint (give --index PATH); searching is off")
            return None
    return SearchTool(open_searcher(found), tokenizer)


# --- generation with the tool in the loop ------------------------------------------------------

def _query(ids: Sequence[int], tokenizer) -> str:
    """The text after the last ``<|search_start|>`` (the ids end with ``<|search_end|>``)."""
    start = tokenizer.special["search_start"]
    body = list(ids[:-1])
    cut = len(body) - body[::-1].index(start) if start in body else 0
    return tokenizer.decode(body[cut:]).strip()


def stream(model, tokenizer, prompt: list[int], tool: SearchTool | None, max_new_tokens: int,
           temperature: float = 1.0, top_k: int | None = None, stop_ids: Sequence[int] = (),
           seed: int | None = None, max_calls: int = MAX_CALLS) -> Iterator[int | ToolResult]:
    """``model.stream`` with searches: yields the model's ids one by one (the stop id last, as
    model.stream does) and, after each ``<|search_end|>``, the :class:`ToolResult` whose ids
    now follow in the context. ``max_new_tokens`` counts the model's ids only."""
    seq, made, calls = list(prompt), 0, 0
    stops = set(int(s) for s in stop_ids)
    while made < max_new_tokens:
        search_end = tokenizer.special["search_end"] if tool is not None and calls < max_calls else None
        last = None
        for t in model.stream(seq, max_new_tokens - made, temperature, top_k,
                              tuple(stops) + ((search_end,) if search_end is not None else ()), seed):
            seq.append(t)
            made += 1
            last = t
            yield t
            if t in stops or t == search_end:
                break
        if last is None or last != search_end:
            return
        result = tool.run(_query(seq, tokenizer))
        seq += result.ids
        calls += 1
        yield result


def generate(model, tokenizer, prompts: list[list[int]], tool: SearchTool | None, max_new_tokens: int,
             temperature: float = 1.0, top_k: int | None = None, stop_ids: Sequence[int] = (),
             seed: int | None = None, max_calls: int = MAX_CALLS) -> list[list[int]]:
    """``model.generate`` with searches: the new ids of each prompt, inserted result spans
    included (so :func:`train.chat_format.parse_reply` sees the calls). Rows that searched
    continue together, in a batch, until each stops or has made ``max_new_tokens`` ids."""
    if tool is None:
        return model.generate(prompts, max_new_tokens, temperature, top_k, stop_ids, seed)
    search_end = tokenizer.special["search_end"]
    outs: list[list[int]] = [[] for _ in prompts]
    made = [0] * len(prompts)
    active = list(range(len(prompts)))
    for rnd in range(max_calls + 1):
        searching = rnd < max_calls
        stops = tuple(stop_ids) + ((search_end,) if searching else ())
        budget = max(max_new_tokens - made[i] for i in active)
        new = model.generate([list(prompts[i]) + outs[i] for i in active], budget, temperature, top_k, stops,
                             None if seed is None else seed + rnd)
        again = []
        for i, ids in zip(active, new):
            ids = ids[: max_new_tokens - made[i]]
            outs[i] += ids
            made[i] += len(ids)
            if searching and ids and ids[-1] == search_end:
                outs[i] += tool.run(_query(outs[i], tokenizer)).ids
                if made[i] < max_new_tokens:
                    again.append(i)
        active = again
        if not active:
            break
    return outs
