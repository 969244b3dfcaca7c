"""Scale run: a crawl of real pages through `corpus` extract -> filter -> dedup -> tokenizer ->
tokenize with 2 workers, and what one Common Crawl snapshot would cost at that rate.

    .venv/bin/python bench/scale.py [--gb 1.0] [--workers 2] [--work out/bench/scale]

1. Crawl: the response records of ``../shared/data/real/realweb-dev.warc.gz`` (488 real
   pages) written again and again, each copy with ~15% of the words of every text node
   replaced by other words of the same page (so language and word statistics stay, and
   copies are far below the MinHash threshold) and its own URL, as gzip WARC files
   (one gzip member per record, zlib level 6) of at most 128 MB, until ``--gb`` GB.
   Only response records: Common Crawl's request and metadata records are small.
2. Each stage runs as its own ``corpus <stage>`` subprocess on pipelines/commoncrawl.yaml's
   settings (FineWeb-like: English only) with the inputs, output and workers replaced and a
   smaller tokenizer sample (``--tokenizer-chars``). Per stage: wall time, CPU time of the
   whole process tree and peak RSS of the largest single process and of the tree together
   (``/proc`` sampled every 0.2 s: the pool's workers hang off a forkserver that nobody
   reaps, so ``RUSAGE_CHILDREN`` misses them; ``VmHWM`` is each process's own high-water
   mark), documents in and out.
3. Extrapolation to one snapshot (~90,000 WARC files of ~1 GB): CPU seconds per GB of gzip
   WARC x 90,000, in core-hours, per stage. The tokenizer is trained once per corpus (not
   per GB) and is left out of the per-GB figure. Beside it, datatrove's per-core rates
   measured on the same pages on this machine (../shared/bench/DATATROVE.md), applied to
   the same page and document counts: an estimate, not a run of datatrove at this scale.

Timings on a shared machine are noisy; CPU time is the figure to read.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
REAL = ROOT.parent / "shared" / "data" / "real" / "realweb-dev.warc.gz"
STAGES = ("extract", "filter", "dedup", "tokenizer", "tokenize")
FILE_BYTES = 128 << 20
SNAPSHOT_GB = 90_000
# datatrove 0.10.1, one core, on the realweb pages, from ../shared/bench/DATATROVE.md
DATATROVE = {"extract+filter pages/s": 31.7, "minhash signature docs/s": 101.0, "tokenizer MB/s": 4.2}


# --- 1. the crawl ---------------------------------------------------------------------------
def real_pages() -> list[tuple[str, bytes, bytes]]:
    """(url, HTTP status line + headers, decoded body) of every response record."""
    from warcio.archiveiterator import ArchiveIterator

    pages = []
    with open(REAL, "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type != "response" or rec.http_headers is None:
                continue
            body = rec.content_stream().read()
            h = rec.http_headers
            keep = [(k, v) for k, v in h.headers
                    if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")]
            head = (h.statusline if h.statusline.startswith("HTTP/") else f"{h.protocol} {h.statusline}")
            lines = [head] + [f"{k}: {v}" for k, v in keep]
            pages.append((rec.rec_headers.get_header("WARC-Target-URI"),
                          ("\r\n".join(lines)).encode("latin-1", "replace"), body))
    return pages


_NODE = re.compile(rb">([^<]{20,})<")
_WORD = re.compile(rb"[^\W\d_]{3,}")


def edit_page(body: bytes, rng: random.Random, share: float = 0.15) -> bytes:
    """About ``share`` of the words of the page's text nodes replaced by other words of it."""
    pool = _WORD.findall(body)
    if not pool:
        return body

    def word(m: re.Match) -> bytes:
        return rng.choice(pool) if rng.random() < share else m.group()

    return _NODE.sub(lambda m: b">" + _WORD.sub(word, m.group(1)) + b"<", body)


def warc_record(url: str, http_head: bytes, body: bytes, level: int = 6) -> bytes:
    block = http_head + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
            f"WARC-Date: 2024-05-01T00:00:00Z\r\nWARC-Target-URI: {url}\r\n"
            f"Content-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(block)}\r\n\r\n").encode()
    z = zlib.compressobj(level, zlib.DEFLATED, 31)
    return z.compress(head + block + b"\r\n\r\n") + z.flush()


def build_crawl(out: Path, gb: float) -> dict:
    """Gzip WARC files of edited copies of the real pages, ``gb`` GB in all (cached)."""
    stamp = out / f".complete-{gb:g}.json"
    if stamp.exists():
        return json.loads(stamp.read_text())
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    pages = real_pages()
    rng = random.Random(0)
    target, total, n, copy, files = int(gb * 1e9), 0, 0, 0, 0
    t0 = time.process_time()
    f = None
    while total < target:
        for url, head, body in pages:
            if f is None or f.tell() >= FILE_BYTES:
                if f:
                    f.close()
                f = open(out / f"crawl-{files:05d}.warc.gz", "wb")
                files += 1
            if copy:
                body = edit_page(body, rng)
                url = f"{url}{'&' if '?' in url else '?'}c2t_copy={copy}"
            rec = warc_record(url, head, body)
            f.write(rec)
            total += len(rec)
            n += 1
            if total >= target:
                break
        copy += 1
    f.close()
    info = {"gb": round(total / 1e9, 3), "files": files, "pages": n, "copies": copy,
            "build_cpu_s": round(time.process_time() - t0, 1)}
    stamp.write_text(json.dumps(info))
    return info


# --- 2. the stages --------------------------------------------------------------------------
def pipeline_yaml(work: Path, crawl: Path, workers: int, tokenizer_chars: int,
                  shard_tokens: int | None = None, cascade: bool = True) -> Path:
    import yaml

    p = yaml.safe_load((ROOT / "pipelines" / "commoncrawl.yaml").read_text())
    p["name"] = "scale"
    p["inputs"] = [str(crawl / "*.warc.gz")]
    p["output"] = str(work / "out")
    p["executor"] = {"type": "local", "workers": workers}
    ex = p.setdefault("stages", {}).setdefault("extract", {})
    ex.pop("paths_limit", None)
    ex.pop("paths_prefix", None)
    ex["split_bytes"] = 32 << 20
    if not cascade:
        ex["prescreen"] = "off"
    p["stages"]["tokenizer"] = {**p["stages"].get("tokenizer", {}), "sample_chars": tokenizer_chars}
    if shard_tokens:
        p["stages"]["tokenize"] = {**p["stages"].get("tokenize", {}), "shard_tokens": shard_tokens}
    path = work / "scale.yaml"
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    return path


def _tree(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_stage(stage: str, pipeline: Path) -> dict:
    """One ``corpus <stage>`` subprocess: wall, CPU of its tree, peak RSS (largest process, tree)."""
    cmd = [sys.executable, "-m", "corpus.cli", stage, str(pipeline)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = {"process_kb": 0, "tree_kb": 0}
    ticks: dict[int, int] = {}   # CPU ticks last seen per process: a check on RUSAGE_CHILDREN
    done = threading.Event()

    def sample():
        while not done.is_set():
            pids = _tree(proc.pid)
            for p in pids:
                try:
                    with open(f"/proc/{p}/stat") as fh:
                        f = fh.read().rsplit(")", 1)[1].split()
                    ticks[p] = int(f[11]) + int(f[12])
                except (OSError, IndexError, ValueError):
                    pass
            rss = [_status_kb(p, "VmRSS:") for p in pids]
            peak["tree_kb"] = max(peak["tree_kb"], sum(rss))
            peak["process_kb"] = max([peak["process_kb"]] + [_status_kb(p, "VmHWM:") for p in pids])
            done.wait(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out = proc.communicate()[0]
    done.set()
    t.join()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"corpus {stage} failed ({proc.returncode}):\n{out[-3000:]}")
    # The pool's workers are children of the forkserver, which the stage process does not
    # reap: RUSAGE_CHILDREN sees only the stage's own process. The tree's CPU is the sum of
    # each process's own time as last sampled (each may miss its last 0.2 s).
    cpu = sum(ticks.values()) / os.sysconf("SC_CLK_TCK")
    return {"wall_s": round(wall, 1), "cpu_s": round(max(cpu, reaped), 1),
            "cpu_reaped_s": round(reaped, 1),
            "peak_process_mb": round(peak["process_kb"] / 1024), "peak_tree_mb": round(peak["tree_kb"] / 1024)}


def stage_counts(out: Path, stage: str) -> dict:
    from contract.shards import MANIFEST
    from corpus.core.registry import folder

    m = json.loads((out / folder(stage) / MANIFEST).read_text())
    c = m.get("counts", {})
    r = {"in": c.get("in"), "out": c.get("kept")}
    if stage == "tokenize":
        r["tokens"] = sum(m["splits"][s]["tokens"] for s in ("train", "val"))
        r["out"] = sum(m["splits"][s]["documents"] for s in ("train", "val"))
        r["text_mb"] = round(m["text"]["bytes"] / 1e6, 1)
    return r


# --- 3. report ------------------------------------------------------------------------------
def report(crawl: dict, rows: dict) -> str:
    gb = crawl["gb"]
    lines = [f"crawl: {gb} GB gzip WARC, {crawl['files']} files, {crawl['pages']:,} response records "
             f"({crawl['copies']} copies of realweb-dev, edited)",
             "", "| stage | wall s | CPU s | CPU s per GB | peak RSS, largest process MB | peak RSS, all processes MB "
             "| docs in | docs out |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s, r in rows.items():
        lines.append(f"| {s} | {r['wall_s']} | {r['cpu_s']} | {r['cpu_s'] / gb:,.0f} | {r['peak_process_mb']:,} | "
                     f"{r['peak_tree_mb']:,} | {r['in'] if r['in'] is not None else ''} | {r['out'] if r['out'] is not None else ''} |")
    tok = rows.get("tokenize", {})
    per_gb = {s: r["cpu_s"] / gb for s, r in rows.items() if s != "tokenizer"}
    total = sum(per_gb.values())
    lines += ["", f"documents out {tok.get('out', 0):,}, tokens out {tok.get('tokens', 0):,} "
              f"({tok.get('text_mb', 0)} MB of text); wall {sum(r['wall_s'] for r in rows.values()):,.0f} s, "
              f"CPU {sum(r['cpu_s'] for r in rows.values()):,.0f} s",
              "", f"one snapshot, {SNAPSHOT_GB:,} GB (tokenizer training left out: once per corpus):", "",
              "| stage | ours core-hours | datatrove core-hours (per-core rates from DATATROVE.md) |",
              "|---|---:|---:|"]
    pages = crawl["pages"] / gb * SNAPSHOT_GB
    dt = {"extract": pages / DATATROVE["extract+filter pages/s"] / 3600,
          "dedup": rows["filter"]["out"] / gb * SNAPSHOT_GB / DATATROVE["minhash signature docs/s"] / 3600
          if rows.get("filter", {}).get("out") else None,
          "tokenize": (tok.get("text_mb", 0) / gb * SNAPSHOT_GB / DATATROVE["tokenizer MB/s"] / 3600) if tok else None}
    for s, v in per_gb.items():
        d = dt.get(s)
        note = {"extract": " (extract + filters together)", "filter": " (in extract's figure)",
                "dedup": " (signatures only)"}.get(s, "")
        lines.append(f"| {s} | {v * SNAPSHOT_GB / 3600:,.0f} | {'' if d is None else f'{d:,.0f}'}{note} |")
    dt_total = sum(v for v in dt.values() if v)
    lines.append(f"| **total** | **{total * SNAPSHOT_GB / 3600:,.0f}** | **{dt_total:,.0f}** |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gb", type=float, default=1.0, help="gzip WARC to build and run, in GB")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tokenizer-chars", type=int, default=5_000_000,
                    help="stages.tokenizer.sample_chars (training is once per corpus)")
    ap.add_argument("--work", default=str(ROOT / "out" / "bench" / "scale"))
    ap.add_argument("--shard-tokens", type=int, default=None,
                    help="stages.tokenize.shard_tokens (default: the pipeline's 100M). The tokenize "
                         "repack holds one shard in memory, so its peak RSS grows with the input "
                         "until the output fills one shard; set this below the output to see it flat")
    ap.add_argument("--no-cascade", action="store_true",
                    help="stages.extract.prescreen: off (every HTML page through trafilatura, as datatrove does)")
    args = ap.parse_args(argv)
    if not REAL.exists():
        print(f"skipped: {REAL} not found")
        return 0
    work = Path(args.work) / f"{args.gb:g}gb{'-nocascade' if args.no_cascade else ''}"
    crawl_dir = Path(args.work) / f"crawl-{args.gb:g}gb"
    crawl = build_crawl(crawl_dir, args.gb)
    print(f"crawl built: {json.dumps(crawl)}", flush=True)
    shutil.rmtree(work / "out", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    pipeline = pipeline_yaml(work, crawl_dir, args.workers, args.tokenizer_chars, args.shard_tokens,
                             cascade=not args.no_cascade)
    rows = {}
    for stage in STAGES:
        r = run_stage(stage, pipeline)
        r.update(stage_counts(work / "out", stage))
        rows[stage] = r
        print(f"{stage}: {json.dumps(r)}", flush=True)
    text = report(crawl, rows)
    print("\n" + text)
    (work / "report.md").write_text(text + "\n")
    (work / "rows.json").write_text(json.dumps({"crawl": crawl, "stages": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
