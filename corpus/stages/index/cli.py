"""Search the corpus index: the best hits for a question, with a snippet each.

    corpus search OUT "query" [-k 5]

OUT is a pipeline's output folder (its ``index/`` is searched), the index folder or file,
a pipeline YAML (its output), or an OpenSearch/Elasticsearch index URL
(``https://host:9200/index_name``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contract.search import INDEX_FILE, open_searcher

from ...core import registry
from ...core.config import load_pipeline

EXIT_BAD_INPUT = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="output folder, index folder or file, pipeline YAML, or http(s)://host:9200/index")
    parser.add_argument("query", help="what to look for (free text, any language)")
    parser.add_argument("-k", type=int, default=5, help="how many hits (default 5)")
    parser.add_argument("--strict", action="store_true",
                        help="only relevant hits, as the assistant's search tool sees them: nothing when a "
                             "name in the query is in no document (docs/stages/index.md)")


def resolve(out: str) -> str:
    """Where the index is: URLs as given; a folder holding ``index/`` means that index."""
    if out.startswith(("http://", "https://")):
        return out
    if out.endswith((".yaml", ".yml")):
        out = load_pipeline(out)["output"]
    p = Path(out)
    stage_dir = p / registry.folder("index")
    return str(stage_dir if (stage_dir / INDEX_FILE).is_file() else p)


def main(args: argparse.Namespace) -> int:
    if args.k < 1:
        print(f"error: -k must be at least 1, got {args.k}", file=sys.stderr)
        return 2
    try:
        searcher = open_searcher(resolve(args.out))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as err:  # a pipeline YAML that does not load, a malformed URL
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        hits = searcher.search(args.query, k=args.k, strict=args.strict)
    except (ConnectionError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        searcher.close()
    if not hits:
        print("no hits")
    for rank, h in enumerate(hits, 1):
        print(f"{rank}. [{h.score:.2f}] {h.title or '(no title)'}\n   {h.url}\n   {' '.join(h.snippet.split())}")
    return 0
