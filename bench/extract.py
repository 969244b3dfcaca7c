"""Extract benchmark on realweb-dev (488 real pages): speed and F1, ours beside the peers.

Prints, from one run on the same file:
  1. a plain loop of ``trafilatura.extract(html, url=url, fast=True)`` over pages already in memory;
  2. ``corpus extract`` with 1 worker (in-process), and 2 workers on the same single file;
  3. datatrove 0.10.x ``WarcReader`` + ``Trafilatura`` with the same options (its own venv);
  4. ``corpus extract`` with ``extractor: resiliparse`` when that optional package is installed.
Wall-clock pages/s and, for in-process runs, CPU-time pages/s (less sensitive to other
load on shared cores). ``uptime`` load averages are printed before and after.

    .venv/bin/python bench/extract.py [--warc PATH --truth PATH] [--skip-peer]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REAL = ROOT.parent / "shared" / "data" / "real"


def load_pages(warc: Path) -> list[tuple[str, bytes]]:
    """(url, HTML bytes) of every HTTP response, read once, for the plain loop."""
    from corpus.records import parse_http, parse_warc, payload
    from corpus.warc_split import iter_gzip_records

    pages = []
    with open(warc, "rb") as fh:
        for raw in iter_gzip_records(fh):
            for rec in parse_warc(raw.offset, raw.length, raw.data):
                resp = parse_http(rec.block)
                if rec.warc_type == "response" and resp is not None:
                    pages.append((rec.url, payload(resp)))
    return pages


def plain_loop(pages: list[tuple[str, bytes]]) -> tuple[dict, float, float]:
    import trafilatura

    texts = {}
    w0, c0 = time.perf_counter(), time.process_time()
    for url, html in pages:
        texts[url] = trafilatura.extract(html, url=url, fast=True)
    return texts, time.perf_counter() - w0, time.process_time() - c0


def ours(warc: Path, out: Path, workers: int, **params) -> tuple[dict, float, float]:
    from corpus.config import load_pipeline
    from corpus.extract import ExtractStage
    from corpus.runner import run_stage

    shutil.rmtree(out, ignore_errors=True)
    config = load_pipeline(None, inputs=[str(warc)], output=str(out), workers=workers)
    config["stages"] = {"extract": params}
    w0, c0 = time.perf_counter(), time.process_time()
    manifest = run_stage(ExtractStage(config), show_progress=False)
    return manifest, time.perf_counter() - w0, time.process_time() - c0


PEER_SCRIPT = r'''
import json, sys, time
from datatrove.pipeline.readers import WarcReader
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.writers import JsonlWriter
from datatrove.executor import LocalPipelineExecutor

folder, name, out = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
ex = LocalPipelineExecutor(pipeline=[
        WarcReader(folder, glob_pattern=name),
        # same options as our default: fast mode (no_fallback in trafilatura 1.x), no dedup,
        # no precision preference
        Trafilatura(favour_precision=False, deduplicate=False, timeout=1.0, no_fallback=True),
        JsonlWriter(out, compression=None),
    ], tasks=1, workers=1, logging_dir=out + "/logs", skip_completed=False)
ex.run()
print(json.dumps({"seconds": time.perf_counter() - t0}))
'''


def with_payload_type(src: Path, dst: Path) -> None:
    """A copy of the WARC whose responses declare ``WARC-Identified-Payload-Type: text/html``,
    so datatrove's reader does not guess (and drop) pages with libmagic."""
    import gzip

    from corpus.warc_split import iter_gzip_records

    with open(src, "rb") as fh, open(dst, "wb") as out:
        for raw in iter_gzip_records(fh):
            data = raw.data
            if b"WARC-Type: response" in data[:200]:
                data = data.replace(b"\r\n\r\n", b"\r\nWARC-Identified-Payload-Type: text/html\r\n\r\n", 1)
            out.write(gzip.compress(data, compresslevel=6))


def _peer_module():
    """bench/peer_datatrove.py, loaded by path (bench/ is not a package, and a bench module
    named like a stdlib one makes putting bench/ on sys.path unsafe)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("peer_datatrove", ROOT / "bench" / "peer_datatrove.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def peer(warc: Path, work: Path, truth: dict) -> dict:
    from corpus.extract_score import score

    run_peer = _peer_module().run_peer

    out = work / "datatrove"
    shutil.rmtree(out, ignore_errors=True)
    res = json.loads(run_peer(PEER_SCRIPT, str(warc.parent), warc.name, str(out)).strip().splitlines()[-1])
    texts = {}
    for f in sorted(out.glob("*.jsonl")):
        for line in f.read_text().splitlines():
            d = json.loads(line)
            texts[d["metadata"].get("url")] = d["text"]
    return {"seconds": res["seconds"], "docs": len(texts), "score": score(texts, truth)}


def uptime() -> str:
    try:
        return "load averages " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load averages unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warc", default=str(REAL / "realweb-dev.warc.gz"))
    ap.add_argument("--truth", default=str(REAL / "realweb-dev.truth.json"))
    ap.add_argument("--skip-peer", action="store_true", help="skip datatrove")
    args = ap.parse_args()
    warc = Path(args.warc)
    if not warc.exists():
        print(f"skipped: {warc} not found (real data lives beside the checkout)")
        return 0
    from corpus.extract_score import load_truth, score, score_stage_dir

    truth = load_truth(args.truth)
    work = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    print(f"extract benchmark on {warc.name}; {os.cpu_count()} cores; {uptime()}")
    pages = load_pages(warc)
    n = len(pages)

    def line(label, n_pages, wall, cpu=None, s=None, extra=""):
        txt = f"  {label:<44} {n_pages / wall:7.1f} pages/s wall"
        txt += f"  {n_pages / cpu:7.1f} pages/s CPU" if cpu else " " * 22
        print(txt + (f"  {s}" if s else "") + (f"  {extra}" if extra else ""), flush=True)

    texts, wall, cpu = plain_loop(pages)
    plain_rate = n / wall
    line("plain trafilatura loop (fast=True)", n, wall, cpu, score(texts, truth))
    m1, wall1, cpu1 = ours(warc, work / "w1", 1)
    line("corpus extract, 1 worker", n, wall1, cpu1, score_stage_dir(work / "w1" / "extract", truth),
         f"{(n / wall1) / plain_rate:.2f}x plain")
    m2, wall2, _ = ours(warc, work / "w2", 2)
    line("corpus extract, 2 workers, same file", n, wall2, None,
         score_stage_dir(work / "w2" / "extract", truth),
         f"{(n / wall2) / plain_rate:.2f}x plain; {len(m2['outputs']['kept'])} parts")
    texts, wall_b, cpu_b = plain_loop(pages)
    line("plain trafilatura loop again (noise check)", n, wall_b, cpu_b)
    try:
        import resiliparse  # noqa: F401
        mr, wr, cr = ours(warc, work / "rp", 1, extractor="resiliparse")
        line("corpus extract, resiliparse, 1 worker", n, wr, cr,
             score_stage_dir(work / "rp" / "extract", truth))
    except ImportError:
        print("  resiliparse: not installed (pip install 'crawl2tokens[resiliparse]')")
    if not args.skip_peer:
        try:
            typed = work / "realweb-typed.warc.gz"
            with_payload_type(warc, typed)
            p = peer(typed, work, truth)
            line("datatrove WarcReader+Trafilatura, 1 task", n, p["seconds"], None, p["score"],
                 "(copy with WARC-Identified-Payload-Type: text/html)")
            p0 = peer(warc, work, truth)
            print(f"  datatrove on the original file: {p0['docs']} of {n} pages read "
                  f"({n - p0['docs']} dropped by its libmagic content-type guess), {p0['score']}")
        except Exception as err:  # the peer is optional: say why it did not run
            print(f"  datatrove: not run ({type(err).__name__}: {str(err)[:300]})")
    print(f"done; {uptime()}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
