"""Dedup benchmark: MinHash signature speed, the whole stage against datatrove's MinHash
stages, and peak memory of clustering a million signatures.

    .venv/bin/python bench/dedup.py [--docs 100000] [--datasketch-docs 10000]
                                    [--datatrove-docs 2000] [--cluster-signatures 1000000]

1. Documents: realweb-dev (488 real pages) through our extract stage (trafilatura
   fast mode), replicated with small random word edits (0-4 per copy: replace, drop,
   insert) to ``--docs`` documents, written once as Parquet parts and reused by all.
2. Signatures per second in one process, same documents: ours (``MinHasher``: batch
   tokenising and hashing in numpy, 112 permutations) vs a plain per-document
   datasketch loop (``MinHash(num_perm=112)`` + ``update_batch`` over word 5-grams)
   on the first ``--datasketch-docs``, interleaved batch by batch so that both see the
   same load; CPU time (the fair figure on a shared machine) and wall time.
3. End to end on the first ``--datatrove-docs``: our ``corpus dedup`` stage (keys,
   grouping, clustering, writing kept/rejected Parquet; one worker) vs datatrove's
   four MinHash stages (signature, buckets, cluster, filter with JSONL in and out;
   one task each, in its own venv ``bench/.venv-datatrove``, see peer_datatrove.py).
   Then our stage on all ``--docs`` documents with 2 workers.
4. Peak memory (VmHWM of a fresh process) of clustering ``--cluster-signatures``
   synthetic signatures (10% planted near copies) through the stage's reduce code:
   band keys on disk in 10 parts, per-band sort, union-find, kept documents.

Timings on a shared machine are noisy; ratios measured in the same run are the figures.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ is not a package: keep its scripts off the import path (none may shadow a library)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
REAL = ROOT.parent / "shared" / "data" / "real" / "realweb-dev.warc.gz"
NUM_PERM = 112


# --- documents ------------------------------------------------------------------------
def realweb_texts(work: Path) -> list[dict]:
    """realweb-dev's documents via our extract stage (cached), else trafilatura directly."""
    from corpus.core.config import load_pipeline
    from corpus.core.parts import read_table
    from corpus.core.runner import run_stage

    try:
        from corpus.stages.extract.stage import ExtractStage

        config = load_pipeline(None, inputs=[str(REAL)], output=str(work), workers=2)
        run_stage(ExtractStage(config), show_progress=False)
        rows = read_table(work / "extract", ["id", "url", "text"]).to_pylist()
    except ImportError:
        import trafilatura
        from warcio.archiveiterator import ArchiveIterator

        rows = []
        with open(REAL, "rb") as f:
            for rec in ArchiveIterator(f):
                if rec.rec_type != "response":
                    continue
                url = rec.rec_headers.get_header("WARC-Target-URI")
                text = trafilatura.extract(rec.content_stream().read(), url=url, fast=True) or ""
                rows.append({"id": str(len(rows)), "url": url, "text": text})
    return [r for r in rows if r["text"] and len(r["text"].split()) >= 20]


def edit(text: str, rng: random.Random, vocab: list[str]) -> str:
    words = text.split(" ")
    for _ in range(rng.randint(0, 4)):
        op = rng.random()
        i = rng.randrange(len(words))
        if op < 0.5:
            words[i] = rng.choice(vocab)
        elif op < 0.75 and len(words) > 1:
            del words[i]
        else:
            words.insert(i, rng.choice(vocab))
    return " ".join(words)


def write_replicas(base: list[dict], n: int, out: Path, per_part: int = 10000) -> Path:
    """``n`` documents: copies of ``base`` with small random edits, as Parquet parts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from corpus.core.parts import BASE_SCHEMA

    stamp = out / f".complete-{n}"
    if stamp.exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = random.Random(0)
    vocab = sorted({w for r in base[:50] for w in r["text"].split()})
    from datetime import datetime, timezone

    date = datetime(2024, 5, 1, tzinfo=timezone.utc)
    for p, lo in enumerate(range(0, n, per_part)):
        rows = []
        for i in range(lo, min(n, lo + per_part)):
            b = base[i % len(base)]
            text = b["text"] if i < len(base) else edit(b["text"], rng, vocab)
            rows.append({"id": f"doc-{i:07d}", "url": f"{b['url']}#copy-{i}" if i < len(base)
                         else f"https://replica{i % 97}.example/{i}", "domain": "", "date": date,
                         "source": str(REAL), "offset": i, "length": len(text), "text": text})
        pq.write_table(pa.Table.from_pylist(rows, schema=BASE_SCHEMA), out / f"part-{p:05d}.parquet")
    stamp.touch()
    return out


def iter_texts(parts: Path, limit: int, batch: int = 64):
    from corpus.core.parts import iter_batches, list_parts

    seen = 0
    for part in list_parts(parts):
        for b in iter_batches(part, ["text"], batch_size=batch):
            texts = b.column("text").to_pylist()[: limit - seen]
            seen += len(texts)
            yield texts
            if seen >= limit:
                return


# --- 2. signatures --------------------------------------------------------------------
def datasketch_signature(text: str):
    from datasketch import MinHash

    words = text.lower().split()
    shingles = {" ".join(words[i: i + 5]) for i in range(max(1, len(words) - 4))}
    m = MinHash(num_perm=NUM_PERM)
    m.update_batch([s.encode("utf-8") for s in shingles])
    return m


def bench_signatures(parts: Path, limit: int, ds_limit: int) -> dict:
    """Ours over ``limit`` documents and the datasketch loop over the first ``ds_limit``,
    interleaved batch by batch so both see the same load on a shared machine. CPU time
    of this process and wall time are both kept."""
    from corpus.stages.dedup.lsh import LSHParams, band_keys
    from corpus.stages.dedup.minhash import MinHasher

    mh, lsh = MinHasher(NUM_PERM), LSHParams(14, 8)
    batches = list(iter_texts(parts, limit))
    ds_texts = [t for b in batches for t in b][:ds_limit]
    every = max(1, len(batches) * 64 // max(1, len(ds_texts)))   # our batches per datasketch batch
    r = {"ours": [0, 0.0, 0.0], "datasketch": [0, 0.0, 0.0]}       # docs, cpu s, wall s
    r["mb"] = sum(len(t.encode()) for b in batches for t in b) / 1e6
    j = 0
    for i, texts in enumerate(batches):
        c, w = time.process_time(), time.perf_counter()
        band_keys(mh.signatures(texts), lsh)
        r["ours"][0] += len(texts)
        r["ours"][1] += time.process_time() - c
        r["ours"][2] += time.perf_counter() - w
        if i % every == 0 or i == len(batches) - 1:
            chunk = ds_texts[j: j + 64] if i < len(batches) - 1 else ds_texts[j:]
            j += len(chunk)
            c, w = time.process_time(), time.perf_counter()
            for text in chunk:
                datasketch_signature(text)
            r["datasketch"][0] += len(chunk)
            r["datasketch"][1] += time.process_time() - c
            r["datasketch"][2] += time.perf_counter() - w
    return r


# --- 3. end to end --------------------------------------------------------------------
def subset(parts: Path, n: int, out: Path) -> Path:
    """The first ``n`` documents as one Parquet part (ours) and one JSONL file (datatrove)."""
    import pyarrow.parquet as pq

    from corpus.core.parts import list_parts

    shutil.rmtree(out, ignore_errors=True)
    (out / "extract").mkdir(parents=True)
    (out / "jsonl").mkdir(parents=True)
    tables, got = [], 0
    for part in list_parts(parts):
        t = pq.read_table(part)
        tables.append(t.slice(0, n - got))
        got += tables[-1].num_rows
        if got >= n:
            break
    import pyarrow as pa

    table = pa.concat_tables(tables)
    pq.write_table(table, out / "extract" / "part-00000.parquet")
    with open(out / "jsonl" / "docs.jsonl", "w") as fh:
        for r in table.select(["id", "text"]).to_pylist():
            fh.write(json.dumps({"id": r["id"], "text": r["text"]}) + "\n")
    return out


def run_ours_stage(work: Path, workers: int = 1) -> tuple[float, float, dict]:
    """The whole stage (with one worker it runs in this process): wall, CPU, counts."""
    from corpus.core.config import load_pipeline
    from corpus.stages.dedup import DedupStage
    from corpus.core.runner import run_stage

    config = load_pipeline(None, output=str(work), workers=workers)
    config["stages"] = {"dedup": {"input_stage": "extract"}}
    t0, c0 = time.perf_counter(), time.process_time()
    m = run_stage(DedupStage(config), show_progress=False, force=True)
    return time.perf_counter() - t0, time.process_time() - c0, m["counts"]


DATATROVE_SCRIPT = r'''
import json, sys, time, logging
from datatrove.executor.local import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets,
                                              MinhashDedupCluster, MinhashDedupFilter)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers.jsonl import JsonlWriter
try:
    from loguru import logger
    logger.remove()
except Exception:
    pass
inp, work = sys.argv[1], sys.argv[2]
cfg = MinhashConfig(num_buckets=14, hashes_per_bucket=8, n_grams=5)
times = {}
def run(name, pipeline, tasks):
    t = time.perf_counter()
    LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1,
                          logging_dir=f"{work}/logs/{name}").run()
    times[name] = time.perf_counter() - t
run("signatures", [JsonlReader(inp), MinhashDedupSignature(output_folder=f"{work}/sigs", config=cfg)], 1)
run("buckets", [MinhashDedupBuckets(input_folder=f"{work}/sigs", output_folder=f"{work}/buckets",
                                    config=cfg)], cfg.num_buckets)
run("cluster", [MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove",
                                    config=cfg)], 1)
run("filter", [JsonlReader(inp), MinhashDedupFilter(input_folder=f"{work}/remove",
               exclusion_writer=JsonlWriter(f"{work}/removed")), JsonlWriter(f"{work}/kept")], 1)
import glob, gzip
def count(d):
    n = 0
    for f in glob.glob(f"{d}/*"):
        op = gzip.open if f.endswith(".gz") else open
        with op(f, "rt") as fh:
            n += sum(1 for _ in fh)
    return n
print(json.dumps({"seconds": times, "kept": count(f"{work}/kept"), "removed": count(f"{work}/removed")}))
'''


def run_datatrove(sub: Path) -> dict | None:
    import importlib.util

    path = ROOT / "bench" / "peer_datatrove.py"
    if not path.exists():
        print("datatrove: bench/peer_datatrove.py missing; skipped")
        return None
    spec = importlib.util.spec_from_file_location("peer_datatrove", path)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    PeerUnavailable, run_peer = peer.PeerUnavailable, peer.run_peer
    work = sub / "datatrove"
    shutil.rmtree(work, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        out = run_peer(DATATROVE_SCRIPT, str(sub / "jsonl"), str(work), timeout=3600)
    except (PeerUnavailable, RuntimeError) as err:
        print(f"datatrove: unavailable ({str(err)[:300]})")
        return None
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out.strip().splitlines()[-1])
    result["cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result


# --- 4. clustering memory -------------------------------------------------------------
def cluster_synthetic(n: int, work: Path) -> dict:
    """Runs in a fresh process (``--cluster-only``): synthetic signatures -> band keys on
    disk -> the stage's reduce. Returns timing, clusters and peak RSS."""
    import numpy as np
    import pyarrow as pa

    from corpus.stages.dedup import index as idx
    from corpus.stages.dedup.assign import assign
    from corpus.stages.dedup.lsh import LSHParams, band_keys

    shutil.rmtree(work, ignore_errors=True)
    index = work / "index"
    lsh = LSHParams(14, 8)
    rng = np.random.default_rng(0)
    parts, per = [], max(1, n // 10)
    planted = 0
    t0 = time.perf_counter()
    prev = None
    for p, lo in enumerate(range(0, n, per)):
        m = min(per, n - lo)
        sig = rng.integers(0, 1 << 32, size=(m, NUM_PERM), dtype=np.uint64).astype(np.uint32)
        if prev is not None:   # 10%: near copies (5% of slots changed) of the previous part
            k = m // 10
            src = rng.integers(0, len(prev), k)
            copy = prev[src].copy()
            mask = rng.random(copy.shape) < 0.05
            copy[mask] = rng.integers(0, 1 << 32, int(mask.sum()), dtype=np.uint64).astype(np.uint32)
            sig[:k] = copy
            planted += k
        prev = sig
        docs = pa.table({"id": [f"s{lo + i}" for i in range(m)],
                         "url_key": np.zeros(m, np.uint64), "text_key": np.zeros(m, np.uint64),
                         "date": np.zeros(m, np.int64), "length": np.full(m, 1000, np.int64),
                         "has_sig": np.ones(m, bool), "contam": np.zeros(m, np.int64),
                         "contam_set": np.full(m, -1, np.int32)}, schema=idx.DOCS_SCHEMA)
        idx.write_part(index, f"part-{p:05d}", docs, band_keys(sig, lsh))
        parts.append(f"part-{p:05d}")
        del sig, docs
    keys_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    stats = assign(work / ".work", index, parts, [], lsh.bands, {"url": False, "exact": False},
                   lambda fn, items: [fn(*a) for a in items])
    return {"signatures": n, "planted_copies": planted, "keys_seconds": round(keys_s, 2),
            "cluster_seconds": round(time.perf_counter() - t1, 2),
            "removed": stats["minhash_duplicate"], "clusters": stats["clusters"],
            "max_rss_mb": round(peak_rss_kb() / 1024, 1)}


def peak_rss_kb() -> int:
    """Peak resident memory of this process image. Linux's ``ru_maxrss`` survives exec, so
    a child would report its parent's peak: read VmHWM (this image only) where it exists."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --- main -----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--datasketch-docs", type=int, default=10_000)
    ap.add_argument("--datatrove-docs", type=int, default=2_000)
    ap.add_argument("--cluster-signatures", type=int, default=1_000_000)
    ap.add_argument("--work", default=str(ROOT / "out" / "bench" / "dedup"))
    ap.add_argument("--cluster-only", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    work = Path(args.work)
    if args.cluster_only:
        print(json.dumps(cluster_synthetic(args.cluster_only, work / "cluster")))
        return 0

    base = realweb_texts(work / "realweb")
    words = sum(len(r["text"].split()) for r in base) / len(base)
    print(f"documents: {len(base)} realweb-dev pages extracted (mean {words:.0f} words), "
          f"replicated with 0-4 random word edits to {args.docs:,}")
    parts = write_replicas(base, args.docs, work / "replicas")

    r = bench_signatures(parts, args.docs, args.datasketch_docs)
    (n, cpu, wall), (dn, dcpu, dwall) = r["ours"], r["datasketch"]
    print(f"signatures, ours (numpy batch, {NUM_PERM} perms, + 14x8 band keys): {n:,} docs, "
          f"{n / cpu:,.0f} docs/s of CPU ({r['mb'] / cpu:.1f} MB/s), {n / wall:,.0f} docs/s wall, one process")
    print(f"signatures, datasketch loop (MinHash({NUM_PERM}) + update_batch): {dn:,} docs, "
          f"{dn / dcpu:,.0f} docs/s of CPU, {dn / dwall:,.0f} docs/s wall, one process")
    print(f"  -> ours / datasketch = {(n / cpu) / (dn / dcpu):.1f}x (CPU), "
          f"{(n / wall) / (dn / dwall):.1f}x (wall); measured interleaved, batch by batch")

    sub = subset(parts, args.datatrove_docs, work / "e2e")
    e2e_secs, e2e_cpu, counts = run_ours_stage(sub)
    removed = sum(counts["rejected"].values())
    print(f"end to end, ours (corpus dedup: url + exact + minhash, 1 worker): {counts['in']:,} docs "
          f"in {e2e_secs:.1f}s wall, {e2e_cpu:.1f}s CPU = {counts['in'] / e2e_cpu:,.0f} docs/s of CPU; "
          f"removed {removed:,} ({counts['rejected']})")
    dt = run_datatrove(sub)
    if dt:
        total = sum(dt["seconds"].values())
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in dt["seconds"].items())
        print(f"end to end, datatrove (MinHash signature/buckets/cluster/filter, 1 task each): "
              f"{args.datatrove_docs:,} docs in {total:.1f}s wall ({steps}), {dt['cpu']:.1f}s CPU "
              f"(incl. interpreter start-ups) = {args.datatrove_docs / dt['cpu']:,.0f} docs/s of CPU; "
              f"removed {dt['removed']:,}, kept {dt['kept']:,}")
        print(f"  -> ours / datatrove end to end = {dt['cpu'] / e2e_cpu:.1f}x (CPU), "
              f"{total / e2e_secs:.1f}x (wall)")

    full = work / "full"
    if not (full / "extract").exists():
        full.mkdir(parents=True, exist_ok=True)
        (full / "extract").symlink_to(parts.resolve())
    secs, _, counts = run_ours_stage(full, workers=2)
    print(f"end to end, ours on all {counts['in']:,} documents, 2 workers: {secs:.1f}s wall = "
          f"{counts['in'] / secs:,.0f} docs/s; removed {sum(counts['rejected'].values()):,} "
          f"({counts['rejected']})")

    proc = subprocess.run([sys.executable, __file__, "--work", str(work),
                           "--cluster-only", str(args.cluster_signatures)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"clustering: failed\n{proc.stderr[-2000:]}")
        return 1
    c = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"clustering {c['signatures']:,} synthetic signatures ({c['planted_copies']:,} planted near "
          f"copies): band keys {c['keys_seconds']}s, grouping + union-find {c['cluster_seconds']}s, "
          f"removed {c['removed']:,} in {c['clusters']:,} clusters; peak RSS {c['max_rss_mb']:,.0f} MB "
          f"(limit 2,048 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
