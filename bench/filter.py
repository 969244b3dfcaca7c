"""Filter-stage benchmark on real pages (realweb-dev: 488 pages, mostly German and English).

    .venv/bin/python bench/filter.py [--reps 3] [--no-peer] [--work bench/out/filter]

1. The extract stage (corpus.stages.extract.stage, one in-process worker) over
   ``../shared/data/real/realweb-dev.warc.gz``: its CPU seconds per document is the
   yardstick (the filter should cost <= 15% of it).
2. The filter stage (one in-process worker, defaults of pipelines/sample.yaml: all
   languages, Gopher repetition + quality, C4, FineWeb) on those documents, including its
   Parquet reading and writing: docs/s of CPU time, the share of extract's CPU per
   document, the time per filter, the language mix and what each rule removed.
3. datatrove 0.10 (its own venv, bench/peer_datatrove.py) running the same filters in
   the same order on the same documents: LanguageFilter (all languages, 0.65),
   GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter, FineWebQualityFilter,
   all with their defaults; docs/s of CPU time (filters only: no I/O) and per filter,
   and how often its keep/drop decision agrees with ours.

CPU time (``time.process_time``) is reported, best of ``--reps``: this machine is shared,
so wall-clock figures are noisier still. Run it twice.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ is not a package: keep its scripts off the import path (none may shadow a library)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
REAL = ROOT.parent / "shared" / "data" / "real" / "realweb-dev.warc.gz"

PEER_SCRIPT = r'''
import copy, json, sys, time
docs_path, lid_path, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
from datatrove.data import Document
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                        GopherRepetitionFilter, LanguageFilter)
from datatrove.utils import lid as dt_lid

# Its language model downloads lid.176.bin from a URL: point it at our local copy.
for name in dir(dt_lid):
    obj = getattr(dt_lid, name)
    if isinstance(obj, type) and hasattr(obj, "MODEL_URL"):
        obj.MODEL_URL = lid_path
rows = [json.loads(l) for l in open(docs_path, encoding="utf-8")]
def make():
    import inspect
    sig = inspect.signature(LanguageFilter.__init__).parameters
    lang = LanguageFilter(languages=None) if "languages" in sig else LanguageFilter()
    return [("language", lang), ("gopher_repetition", GopherRepetitionFilter()),
            ("gopher_quality", GopherQualityFilter()), ("c4", C4QualityFilter()),
            ("fineweb", FineWebQualityFilter())]
chain = make()
# warm-up: load the models (fastText, spaCy tokenizer) outside the timed runs
warm = Document(text=rows[0]["text"], id="w")
for _, f in chain:
    try:
        f.filter(copy.deepcopy(warm))
    except Exception:
        pass
best = None
for _ in range(reps):
    docs = [Document(text=r["text"], id=r["id"], metadata={"url": r["url"]}) for r in rows]
    times = {n: 0.0 for n, _ in chain}
    removed = {n: 0 for n, _ in chain}
    kept = []
    t_all = time.process_time()
    for d in docs:
        ok = True
        for n, f in chain:
            t0 = time.process_time()
            res = f.filter(d)
            times[n] += time.process_time() - t0
            if not (res[0] if isinstance(res, tuple) else bool(res)):
                removed[n] += 1
                ok = False
                break
        if ok:
            kept.append(d.id)
    total = time.process_time() - t_all
    if best is None or total < best["total_s"]:
        best = {"total_s": total, "times": times, "removed": removed, "kept": kept,
                "languages": {}}
        for d in docs:
            lg = d.metadata.get("language", "?")
            best["languages"][lg] = best["languages"].get(lg, 0) + 1
import importlib.metadata as md
best["version"] = md.version("datatrove")
print(json.dumps(best))
'''


def run_extract(work: Path, reps: int) -> tuple[float, int]:
    """Best CPU seconds of the extract stage on realweb-dev, and the documents it made."""
    from corpus.core.config import load_pipeline
    from corpus.stages.extract.stage import ExtractStage
    from corpus.core.runner import run_stage

    config = load_pipeline(ROOT / "pipelines" / "sample.yaml", inputs=[str(REAL)], output=str(work),
                           workers=1)
    config.pop("sample", None)
    best = None
    for _ in range(reps):
        t0 = time.process_time()
        m = run_stage(ExtractStage(config), force=True, show_progress=False)
        cpu = time.process_time() - t0
        best = cpu if best is None else min(best, cpu)
    return best, m["counts"]["kept"]


def run_filter(work: Path, reps: int, overrides: list[str] | None = None) -> tuple[float, float, dict]:
    """(first-run CPU s incl. model load, best CPU s, manifest) of the filter stage."""
    from corpus.core.config import load_pipeline
    from corpus.stages.filter.stage import FilterStage
    from corpus.core.runner import run_stage

    config = load_pipeline(ROOT / "pipelines" / "sample.yaml", overrides or [], output=str(work),
                           workers=1)
    config.pop("sample", None)
    times = []
    for _ in range(reps):
        t0 = time.process_time()
        m = run_stage(FilterStage(config), force=True, show_progress=False)
        times.append(time.process_time() - t0)
    return times[0], min(times[1:] or times), m


def write_docs(work: Path) -> Path:
    from corpus.core.parts import read_table

    t = read_table(work / "extract", columns=["id", "url", "text"])
    path = work / "docs.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for row in t.to_pylist():
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3, help="filter runs (best is reported)")
    ap.add_argument("--extract-reps", type=int, default=1, help="extract runs (best is reported)")
    ap.add_argument("--no-peer", action="store_true", help="skip datatrove")
    ap.add_argument("--work", default=str(ROOT / "bench" / "out" / "filter"))
    args = ap.parse_args(argv)
    if not REAL.exists():
        print(f"realweb-dev not found at {REAL}; nothing to measure")
        return 0
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    ex_cpu, n_docs = run_extract(work, max(1, args.extract_reps))
    ex_per_doc = ex_cpu / max(1, n_docs)
    print(f"extract (corpus.stages.extract.stage, trafilatura fast): {n_docs} docs, {ex_cpu:.2f} s CPU "
          f"= {1e3 * ex_per_doc:.2f} ms/doc = {n_docs / ex_cpu:.1f} docs/s/core")

    first, best, m = run_filter(work, args.reps)
    c = m["counts"]
    per_doc = best / max(1, c["in"])
    print(f"filter  (corpus.stages.filter.stage, defaults): {c['in']} docs -> kept {c['kept']}, "
          f"{best:.3f} s CPU = {1e3 * per_doc:.3f} ms/doc = {c['in'] / best:.0f} docs/s/core "
          f"(incl. Parquet I/O; first run with model load {first:.2f} s)")
    print(f"filter CPU share of extract per doc: {100 * per_doc / ex_per_doc:.1f}% (target <= 15%)")
    timing = m.get("timing_s", {})
    tot = sum(timing.values()) or 1
    print("  time by step: " + ", ".join(f"{k} {1e3 * v / c['in']:.3f} ms/doc ({100 * v / tot:.0f}%)"
                                         for k, v in timing.items()))
    print("  languages in: " + ", ".join(f"{k} {v}" for k, v in m["languages_in"].items()))
    print("  removed: " + ", ".join(f"{k} {v}" for k, v in c["rejected"].items()))
    print("  rules:   " + ", ".join(f"{k} {v}" for k, v in m["rules"].items()))

    fw = work / "fineweb-like"
    fw.mkdir(exist_ok=True)
    if not (fw / "extract").exists():
        (fw / "extract").symlink_to(work / "extract", target_is_directory=True)
    _, best_en, m_en = run_filter(fw, args.reps, [
        "stages.filter.language.languages=[en]", "stages.filter.c4.filter_no_terminal_punct=false"])
    print(f"filter  (FineWeb-like: languages [en], C4 without the punctuation rule): "
          f"kept {m_en['counts']['kept']} of {m_en['counts']['in']}, "
          f"{m_en['counts']['in'] / best_en:.0f} docs/s/core")

    if args.no_peer:
        return 0
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location("peer_datatrove", ROOT / "bench" / "peer_datatrove.py")
        peer = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(peer)
        run_peer = peer.run_peer
        from corpus.core.resources import lid_model_path

        docs = write_docs(work)
        out = json.loads(run_peer(PEER_SCRIPT, str(docs), str(lid_model_path()), str(args.reps)))
    except Exception as err:  # the peer is optional: say why it did not run
        print(f"datatrove: not run ({type(err).__name__}: {str(err)[:300]})")
        return 0
    n = c["in"]
    dt_total = out["total_s"]
    print(f"datatrove {out['version']} same filters, same order, defaults: {n} docs -> kept "
          f"{len(out['kept'])}, {dt_total:.3f} s CPU = {n / dt_total:.0f} docs/s/core (filters only, no I/O)")
    print("  time by filter: " + ", ".join(f"{k} {1e3 * v / n:.3f} ms/doc" for k, v in out["times"].items()))
    print("  removed: " + ", ".join(f"{k} {v}" for k, v in out["removed"].items()))
    ours_filters = sum(v for k, v in timing.items() if k != "io_and_assembly")
    print(f"ours, filters only (no I/O): {n / ours_filters:.0f} docs/s/core; "
          f"with I/O: {n / best:.0f} docs/s/core; datatrove: {n / dt_total:.0f} docs/s/core "
          f"-> ours {dt_total / best:.1f}x faster incl. our I/O")
    from corpus.core.parts import read_table

    ours_kept = set(read_table(work / "filter", columns=["id"]).column("id").to_pylist())
    dt_kept = set(out["kept"])
    all_ids = set(read_table(work / "extract", columns=["id"]).column("id").to_pylist())
    agree = sum((i in ours_kept) == (i in dt_kept) for i in all_ids) / max(1, len(all_ids))
    print(f"keep/drop agreement with datatrove, all docs: {100 * agree:.1f}% "
          f"(both keep {len(ours_kept & dt_kept)}, only ours {len(ours_kept - dt_kept)}, "
          f"only datatrove {len(dt_kept - ours_kept)}; datatrove applies English stop words "
          f"and tokenization to every language)")
    langs = {}
    for sub in ("filter", "filter/rejected"):
        t = read_table(work / sub, columns=["id", "language"])
        langs.update(zip(t.column("id").to_pylist(), t.column("language").to_pylist()))
    en = [i for i in all_ids if langs.get(i) == "en"]
    agree_en = sum((i in ours_kept) == (i in dt_kept) for i in en) / max(1, len(en))
    print(f"keep/drop agreement on the {len(en)} English docs: {100 * agree_en:.1f}% "
          f"(both keep {len(ours_kept & dt_kept & set(en))}, only ours {len((ours_kept - dt_kept) & set(en))}, "
          f"only datatrove {len((dt_kept - ours_kept) & set(en))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
