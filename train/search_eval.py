"""Search evaluation: does the assistant answer from its corpus through a search, and say
"I don't know" when the search finds nothing?

    python -m train.search_eval PIPELINE.yaml|CKPT --truth truth.json [--index PATH]
                     [--questions 200] [--unanswerable 100] [--eval-percent 30] [--langs en]
                     [--out FILE]

On held-out questions (facts of the eval documents: no SFT question came from them, split by a
hash of each fact's cluster of URLs, train/search_data.py) it measures exact-answer accuracy with search and, on
the same checkpoint, with ``--no-tools``; on questions whose answer is in no document, the
share answered "I don't know" and the share answered with a made-up fact. Each figure has its
standard error over questions. It also says how often the model searched and how often the
gold answer was inside the inserted result (what bounds the accuracy). Greedy decoding. Targets: accuracy with search >= 50% and >= 5x
the no-tools accuracy; made-up answers <= 20% with search. The figures go to ``--out``
(default ``<output>/train/search/search_eval.json`` for a pipeline, which the report card
shows). The search is strict, as the assistant's tool always is (``contract.search``). To
train a model that meets the targets on the sample: the sample pipeline (its copy head), or
``bench/search_recipe.py``. ``make demo`` runs it on 200 + 100 questions (~15 s) so the report
card shows the figures; ``bench/search.py`` is the same command.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

from train import common, tools
from train import config as train_config
from train.chat_format import parse_reply, render_prompt, stop_ids
from train.probe import is_right, normalize
from train.search_data import EVAL_PERCENT, LANGS, facts, load_truth, shows, unanswerable

TARGETS = {"accuracy": 0.5, "ratio": 5.0, "made_up": 0.2}
RESULT_FILE = "search_eval.json"


def share(hits: list[bool]) -> dict:
    """Share of True and its standard error (binomial, over questions)."""
    n = len(hits)
    p = sum(hits) / n if n else float("nan")
    return {"n": n, "share": p, "se": math.sqrt(p * (1 - p) / n) if n else float("nan")}


def says_dont_know(reply: str) -> bool:
    return "i don t know" in normalize(reply)


def _pick(items: list[dict], n: int | None) -> list[dict]:
    """A fixed, spread-out subset: the ``n`` items with the smallest hash of their question."""
    key = lambda q: hashlib.blake2b(q["question"].encode(), digest_size=8).digest()   # noqa: E731
    return sorted(items, key=key)[:n] if n else items


def replies(model, tok, questions: list[str], tool, max_new_tokens: int, batch: int) -> list[tuple[str, list]]:
    """(the reply's text, its tool calls) per question, greedy."""
    out = []
    for s in range(0, len(questions), batch):
        prompts = [render_prompt([{"role": "user", "content": q}], tok) for q in questions[s:s + batch]]
        gens = tools.generate(model, tok, prompts, tool, max_new_tokens, temperature=0, stop_ids=stop_ids(tok))
        out += [parse_reply(g, tok) for g in gens]
    return out


def evaluate(model, tok, tool, truth: dict, *, n_questions: int | None = None, n_unanswerable: int | None = None,
             eval_percent: int = EVAL_PERCENT, langs=LANGS, max_new_tokens: int = 48, batch: int = 32) -> dict:
    """The figures (see the module docstring) of one checkpoint, with and without ``tool``."""
    qs = _pick(facts(truth, "eval", eval_percent, langs), n_questions)
    un = _pick(unanswerable(truth, langs), n_unanswerable)
    res = {"eval_percent": eval_percent, "langs": None if langs is None else list(langs),
           "eval_documents": sorted({u for q in qs for u in q["urls"]})}
    for mode, t in (("search", tool), ("no_tools", None)):
        got = replies(model, tok, [q["question"] for q in qs], t, max_new_tokens, batch)
        res[f"accuracy_{mode}"] = share([is_right(r, str(q["answer"])) for (r, _), q in zip(got, qs)])
        res[f"examples_{mode}"] = [{"question": q["question"], "answer": q["answer"], "reply": r, "calls": c}
                                   for q, (r, c) in zip(qs[:5], got[:5])]
        if mode == "search":
            res["searched"] = share([bool(c) for _, c in got])
            res["answer_in_result"] = share([any(shows(x["result"], str(q["answer"])) for x in c)
                                             for (_, c), q in zip(got, qs)])
    got = replies(model, tok, [q["question"] for q in un], tool, max_new_tokens, batch)
    idk = [says_dont_know(r) for r, _ in got]
    res["dont_know"] = share(idk)
    res["made_up"] = share([not k and bool(r.strip()) for k, (r, _) in zip(idk, got)])
    res["examples_unanswerable"] = [{"question": q["question"], "reply": r, "calls": c}
                                    for q, (r, c) in zip(un[:5], got[:5])]
    a, b = res["accuracy_search"]["share"], res["accuracy_no_tools"]["share"]
    res["ratio"] = a / b if b else (math.inf if a else float("nan"))
    res["targets"] = {"accuracy": a >= TARGETS["accuracy"], "ratio": res["ratio"] >= TARGETS["ratio"],
                      "made_up": res["made_up"]["share"] <= TARGETS["made_up"],
                      "enough_questions": len(qs) >= 200 and len(un) >= 100}
    return res


def report(res: dict) -> str:
    f = lambda d: f"{100 * d['share']:.1f}% ± {100 * d['se']:.1f} (n={d['n']})"   # noqa: E731
    return "\n".join([
        f"accuracy with search:  {f(res['accuracy_search'])}",
        f"accuracy, --no-tools:  {f(res['accuracy_no_tools'])}   ratio {res['ratio']:.1f}x",
        f"searched: {f(res['searched'])}; gold answer inside the inserted hit: {f(res['answer_in_result'])}",
        f"unanswerable: \"I don't know\" {f(res['dont_know'])}, made-up {f(res['made_up'])}",
        "targets: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in res["targets"].items())])


def main(argv: list[str] | None = None) -> int:
    from train.chat import find_checkpoint
    from train.checkpoint import load_checkpoint

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", help="pipeline file or checkpoint")
    ap.add_argument("--truth", required=True, help="truth.json with facts and unanswerable questions")
    ap.add_argument("--index", help="search index (default: the run's index/ folder)")
    ap.add_argument("--questions", type=int, default=None, help="held-out questions (default all)")
    ap.add_argument("--unanswerable", type=int, default=None)
    ap.add_argument("--eval-percent", type=int, default=EVAL_PERCENT)
    ap.add_argument("--langs", default=",".join(LANGS), help="languages of the questions, comma-separated, or all")
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--out")
    ap.add_argument("--set", action="append", dest="overrides", default=[], metavar="KEY=VALUE",
                    help="override a pipeline value, as the train commands take it")
    args = ap.parse_args(argv)

    def body() -> None:
        path, _ = find_checkpoint(args.target, args.overrides)
        pipeline = Path(args.target).is_file()
        config = train_config.load(args.target, args.overrides) if pipeline else None
        output = config["output"] if pipeline else None
        model, tok, _ = load_checkpoint(path, "cpu")
        tool = tools.open_tool(tok, path, index=args.index, output=output)
        if tool is None:
            raise common.InputError("no search tool for this checkpoint (see the note above)")
        res = evaluate(model, tok, tool, load_truth(args.truth), n_questions=args.questions,
                       n_unanswerable=args.unanswerable, eval_percent=args.eval_percent,
                       langs=None if args.langs == "all" else tuple(args.langs.split(",")),
                       max_new_tokens=args.max_new_tokens)
        res["checkpoint"] = str(path)
        out = Path(args.out or (train_config.output_dir(config, "search") / RESULT_FILE
                                if pipeline else "search_eval.json"))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2))
        print(report(res))
        print(f"-> {out}")

    return common.run_main("search eval", body)


if __name__ == "__main__":
    sys.exit(main())
