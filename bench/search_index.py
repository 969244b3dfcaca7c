"""Search index benchmark: SQLite FTS5 (the index stage) vs tantivy, on the sample and at 100k docs.

    .venv/bin/python bench/search_index.py [--docs 100000] [--no-tantivy] [--work out/bench/search]

1. The sample crawl through extract, filter and dedup (cached in ``--work``), then
   ``corpus index`` (one worker): build time, index size, query latency and top-5
   retrieval of the gold document on every fact question of truth.json whose page (or
   a copy of it) survived dedup. The same documents and questions in tantivy (pip
   ``tantivy``, the Rust engine behind Quickwit; optional): same analysis (text in
   scripts without spaces as character bigrams, since tantivy's default tokenizer has
   the same blind spot as ``unicode61``), same OR-of-terms BM25 query.
2. ``--docs`` documents (default 100,000): the sample's deduplicated texts replicated
   with 0-4 random word edits per copy, as 20 Parquet parts; ``corpus index`` with two
   workers, then tantivy on the same rows: build time, size, query latency.

Timings on a shared machine are noisy; sizes and retrieval are exact.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from contract import search  # noqa: E402


def dir_bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in Path(d).rglob("*") if p.is_file())


def sample_dedup(work: Path) -> tuple[Path, dict]:
    """The sample through dedup (stages already complete are reused); its truth.json."""
    from corpus.cli import ensure_sample
    from corpus.core.config import load_pipeline
    from corpus.core.registry import stage_class
    from corpus.core.runner import run_stage

    config = load_pipeline(ROOT / "pipelines" / "sample.yaml", output=str(work), workers=2)
    ensure_sample(config)
    for name in ("extract", "filter", "dedup"):
        run_stage(stage_class(name)(config), show_progress=False)
    truth = json.loads((Path(config["sample"]["dir"]) / "truth.json").read_text(encoding="utf-8"))
    return work, truth


def build_fts(out: Path, workers: int) -> tuple[float, int]:
    """``corpus index`` from scratch on ``out/dedup``; (seconds, bytes of search.sqlite)."""
    from corpus.core.config import load_pipeline
    from corpus.core.runner import run_stage
    from corpus.stages.index.stage import IndexStage

    config = load_pipeline(None, output=str(out), workers=workers)
    t0 = time.perf_counter()
    run_stage(IndexStage(config), force=True, show_progress=False)
    return time.perf_counter() - t0, (out / "index" / search.INDEX_FILE).stat().st_size


def stored_text_mb(out: Path) -> float:
    """MB of original text the index keeps for snippets (tantivy here keeps none)."""
    import sqlite3

    with sqlite3.connect(out / "index" / search.INDEX_FILE) as con:
        return con.execute("SELECT sum(length(CAST(text AS BLOB))) FROM docs").fetchone()[0] / 1e6


class Tantivy:
    """The same documents in tantivy: stored id and url, the analysed text to search (no snippets)."""

    def __init__(self, path: Path):
        import tantivy

        self.tantivy = tantivy
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        sb = tantivy.SchemaBuilder()
        for f in ("id", "url"):
            sb.add_text_field(f, stored=True, tokenizer_name="raw")
        sb.add_text_field("body", stored=False)
        self.index = tantivy.Index(sb.build(), path=str(path))
        self.path = path

    def build(self, rows, threads: int = 1) -> float:
        t0 = time.perf_counter()
        writer = self.index.writer(heap_size=256 << 20, num_threads=threads)
        for r in rows:
            writer.add_document(self.tantivy.Document(id=r["id"], url=r["url"] or "",
                                                      body=search.fold(search.segment(r["text"]))))
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        return time.perf_counter() - t0

    def search(self, q: str, k: int = 5) -> list[str]:
        ts = [t for t in search.terms(q) if t.isalnum()]
        if not ts:
            return []
        query = self.index.parse_query(" OR ".join(ts), ["body"])
        s = self.index.searcher()
        return [s.doc(addr)["url"][0] for _, addr in s.search(query, k).hits]


def questions(truth: dict, indexed: set[str]) -> list[tuple[str, set[str]]]:
    out = {}
    for p in truth["pages"].values():
        for f in p["facts"]:
            gold = set(f["urls"]) & indexed
            if gold:
                out[f["question"]] = gold
    return list(out.items())


def timed_queries(fn, qs: list[str]) -> tuple[float, list]:
    results, times = [], []
    for q in qs:
        t0 = time.perf_counter()
        results.append(fn(q))
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, results


def replicas(out: Path, base: list[dict], n: int, parts: int = 20) -> Path:
    """``n`` documents: ``base`` replicated with 0-4 random word edits each (cached)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = out / "dedup"
    if len(list(d.glob("part-*.parquet"))) == parts and (out / "n.txt").exists() \
            and (out / "n.txt").read_text() == str(n):
        return out
    shutil.rmtree(out, ignore_errors=True)
    d.mkdir(parents=True)
    rng = random.Random(0)
    vocab = [w for r in base[:200] for w in r["text"].split()]
    per = -(-n // parts)
    for i in range(parts):
        rows = []
        for j in range(i * per, min(n, (i + 1) * per)):
            src = base[j % len(base)]
            words = src["text"].split(" ")
            for _ in range(rng.randint(0, 4)):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            rows.append({"id": f"r{j:07d}", "url": f"{src['url']}#copy{j}", "text": " ".join(words),
                         "language": src.get("language")})
        pq.write_table(pa.Table.from_pylist(rows), d / f"part-{i:05d}.parquet")
    (out / "n.txt").write_text(str(n))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--no-tantivy", action="store_true")
    ap.add_argument("--work", default=str(ROOT / "out" / "bench" / "search"))
    args = ap.parse_args(argv)
    work = Path(args.work)
    use_tantivy = not args.no_tantivy
    if use_tantivy:
        try:
            import tantivy  # noqa: F401
        except ImportError:
            print("tantivy not installed (pip install tantivy): FTS5 only")
            use_tantivy = False

    from corpus.core.parts import read_table

    out, truth = sample_dedup(work / "sample")
    rows = read_table(out / "dedup", ["id", "url", "text", "language"]).to_pylist()
    secs, size = build_fts(out, workers=1)
    s = search.open_searcher(out / "index")
    qs = questions(truth, {r["url"] for r in rows})
    ms, hits = timed_queries(lambda q: [h.url for h in s.search(q, 5)], [q for q, _ in qs])
    top5 = sum(bool(set(h) & g) for h, (_, g) in zip(hits, qs)) / len(qs)
    print(f"sample: {len(rows):,} docs ({sum(len(r['text']) for r in rows) / 1e6:.1f} M chars), "
          f"{len(qs):,} fact questions")
    print(f"  fts5    build {secs:6.2f} s  size {size / 1e6:6.1f} MB ({stored_text_mb(out):.1f} MB of it the "
          f"original text)  query p50 {ms:6.2f} ms (with snippets)  top-5 {top5:.3f}")
    if use_tantivy:
        tv = Tantivy(work / "tantivy-sample")
        tsecs = tv.build(rows)
        tms, thits = timed_queries(tv.search, [q for q, _ in qs])
        ttop5 = sum(bool(set(h) & g) for h, (_, g) in zip(thits, qs)) / len(qs)
        print(f"  tantivy build {tsecs:6.2f} s  size {dir_bytes(tv.path) / 1e6:6.1f} MB  query p50 "
              f"{tms:6.2f} ms (no snippets)  top-5 {ttop5:.3f}")
    s.close()

    if args.docs:
        big = replicas(work / f"replicas-{args.docs}", rows, args.docs)
        secs, size = build_fts(big, workers=2)
        s = search.open_searcher(big / "index")
        sample_qs = [q for q, _ in qs[:200]]
        ms, _ = timed_queries(lambda q: s.search(q, 5), sample_qs)
        s.close()
        print(f"{args.docs:,} docs (sample texts with 0-4 word edits each, 20 parts):")
        print(f"  fts5    build {secs:6.1f} s (2 workers)  size {size / 1e6:7.1f} MB ({stored_text_mb(big):.1f} MB "
              f"of it the original text)  query p50 {ms:6.2f} ms (with snippets)")
        if use_tantivy:
            tv = Tantivy(work / "tantivy-big")
            big_rows = read_table(big / "dedup", ["id", "url", "text"]).to_pylist()
            tsecs = tv.build(big_rows, threads=2)
            tms, _ = timed_queries(tv.search, sample_qs)
            print(f"  tantivy build {tsecs:6.1f} s (2 threads)  size {dir_bytes(tv.path) / 1e6:7.1f} MB  "
                  f"query p50 {tms:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
