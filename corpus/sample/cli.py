"""Write the embedded sample crawl (deterministic WARCs + truth.json).

    corpus sample OUT_DIR [--seed N] [--pages N]
    corpus sample pipelines/sample.yaml        (uses the pipeline's sample.dir and sample.seed)
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from ..core.config import load_pipeline

log = logging.getLogger("corpus.sample")

DEFAULT_PAGES = 2000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", help="directory to write into, or a pipeline YAML with a `sample:` section")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 0, or the pipeline's)")
    parser.add_argument("--pages", type=int, default=None, help=f"HTML pages to write (default {DEFAULT_PAGES})")


def _from_pipeline(path: str) -> dict:
    config = load_pipeline(path)
    sample = config.get("sample")
    if not sample or "dir" not in sample:
        raise SystemExit(f"error: {path} has no `sample.dir` to write the sample crawl into")
    return dict(sample)


def main(args: argparse.Namespace) -> int:
    target = args.out_dir
    sample = _from_pipeline(target) if target.endswith((".yaml", ".yml")) else {"dir": target}
    if args.seed is not None:
        sample["seed"] = args.seed
    if args.pages is not None:
        sample["pages"] = args.pages
    t0 = time.monotonic()
    try:
        from . import generate_sample  # heavy: the generator loads only when a crawl is written

        truth_path = generate_sample(sample["dir"], seed=int(sample.get("seed", 0)),
                                     pages=int(sample.get("pages", DEFAULT_PAGES)))
    except (ValueError, OSError) as err:
        print(f"error: corpus sample: {err}", file=sys.stderr)
        return 2
    counts = json.loads(truth_path.read_text(encoding="utf-8"))["counts"]
    print(f"[sample] {counts['html_pages']:,} HTML pages in {counts['files']} WARC files "
          f"({counts['records']:,} records; languages {', '.join(counts['languages'])}; "
          f"{counts['duplicates']} duplicates, {counts['low_quality']} low quality) "
          f"in {time.monotonic() - t0:.1f}s")
    print(f"[sample] output: {truth_path.parent} (truth: {truth_path})")
    return 0


def ensure_sample_crawl(sample_cfg: dict) -> Path:
    """Generate the crawl into ``sample_cfg["dir"]`` unless a matching one is already there."""
    from . import VERSION, generate_sample  # heavy: the generator loads only for a sample pipeline

    out = Path(sample_cfg["dir"])
    seed = int(sample_cfg.get("seed", 0))
    pages = int(sample_cfg.get("pages", DEFAULT_PAGES))
    truth = out / "truth.json"
    if truth.is_file():
        try:
            with truth.open(encoding="utf-8") as fh:
                head = json.loads(fh.read())
            if (head.get("seed") == seed and head.get("version") == VERSION
                    and head.get("counts", {}).get("html_pages") == pages
                    and all((out / f).is_file() for f in head.get("files", []))):
                return truth
        except (OSError, ValueError):
            pass
        log.info("sample crawl in %s is stale or incomplete: regenerating", out)
    return generate_sample(out, seed=seed, pages=pages)
