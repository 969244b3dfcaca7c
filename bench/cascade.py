"""Extraction cascade benchmark: CPU per page with and without the language prescreen, and
extract without it against a plain trafilatura loop, each a whole process, on real pages.

Prints, from one run (rounds interleaved A B A B, ratios taken pair by pair, medians shown):
  1. ``corpus extract`` + ``corpus filter`` with ``languages: [en]`` on realweb-dev, the
     whirlwind and the dolma samples, with the cascade (``prescreen: auto``) and without
     (``off``): records per CPU-second of the two commands, and the share of the documents the
     filter keeps without the cascade that it still keeps with it;
  2. ``corpus extract`` (1 worker, no cascade) on realweb-dev against a plain script that reads
     the WARC with warcio and calls ``trafilatura.extract(html, url=url, fast=True)`` per page:
     CPU seconds of each whole process (start-up, imports, reading and writing included).
CPU time is the children's user + system time (``getrusage``), so other jobs on shared cores
move it far less than wall time. datatrove has no cascade; its extraction figure is in
``bench/extract.py``.

    .venv/bin/python bench/cascade.py [--rounds N]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ is not a package: keep its scripts off the import path (none may shadow a library)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
REAL = ROOT.parent / "shared" / "data" / "real"
FILES = ["realweb-dev.warc.gz", "cc-whirlwind.warc.gz", "dolma-sample-0000.warc.gz",
         "dolma-sample-0001.warc.gz"]

PLAIN = r'''
import sys, trafilatura
from warcio.archiveiterator import ArchiveIterator
n = 0
with open(sys.argv[1], "rb") as fh:
    for rec in ArchiveIterator(fh):
        if rec.rec_type == "response" and rec.http_headers and rec.http_headers.get_statuscode() == "200":
            trafilatura.extract(rec.content_stream().read(),
                                url=rec.rec_headers.get_header("WARC-Target-URI"), fast=True)
            n += 1
print(n)
'''


def warcio_readable_copy(src: Path, dst: Path) -> tuple[Path, int]:
    """A copy of ``src`` holding only the response records warcio parses an HTTP head for, so
    the plain loop and ours extract the same pages; returns it and how many were left out."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.warcwriter import WARCWriter

    dropped = 0
    with open(src, "rb") as fh, open(dst, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for rec in ArchiveIterator(fh):
            if rec.rec_type == "response" and rec.http_headers is not None:
                writer.write_record(rec)
            elif rec.rec_type == "response":
                dropped += 1
    return dst, dropped


def compile_sources() -> None:
    """Write our modules' bytecode first, as an installed package has it. Where
    PYTHONDONTWRITEBYTECODE is set (it is on the machine these figures come from) every ``corpus`` process would
    otherwise compile ~40 modules from source (~0.05 CPU-s) and the plain loop none."""
    import compileall

    for package in ("corpus", "contract"):
        compileall.compile_dir(ROOT / package, quiet=1)


def cpu_of(cmd: list[str]) -> float:
    """User + system CPU seconds of one child process run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def corpus(command: str, inputs: list[Path], out: Path, *sets: str) -> list[str]:
    cmd = [sys.executable, "-m", "corpus.cli", command, str(ROOT / "pipelines" / "sample.yaml"),
           "--output", str(out), "--workers", "1", "--force", "--quiet", "--tolerate-failures"]
    for path in inputs:
        cmd += ["--input", str(path)]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def manifest(folder: Path) -> dict:
    from contract.shards import MANIFEST

    return json.loads((folder / MANIFEST).read_text())


def kept_ids(folder: Path) -> set[str]:
    from corpus.core.parts import read_table

    return set(read_table(folder, columns=["id"]).column("id").to_pylist())


def cascade_pair(inputs: list[Path], work: Path, mode: str) -> tuple[float, float, dict]:
    """CPU of extract, of extract + filter, and the extract manifest, for one prescreen mode."""
    out = work / mode
    sets = ["stages.filter.language.languages=[en]", f"stages.extract.prescreen={mode}"]
    ex = cpu_of(corpus("extract", inputs, out, *sets))
    fi = cpu_of(corpus("filter", inputs, out, *sets))
    return ex, ex + fi, manifest(out / "extract")


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians shown)")
    args = ap.parse_args()
    inputs = [REAL / f for f in FILES]
    if not all(p.exists() for p in inputs):
        print(f"skipped: the real data is not in {REAL}")
        return 0
    sys.path.insert(0, str(ROOT))
    compile_sources()
    work = Path(tempfile.mkdtemp(prefix="bench-cascade-"))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"cascade benchmark; {os.cpu_count()} cores; load averages {load}; {args.rounds} rounds")
    same_pages, dropped = warcio_readable_copy(inputs[0], work / "realweb-dev-warcio.warc.gz")
    cpu: dict[str, list[float]] = {}
    for r in range(args.rounds):
        for mode in (("auto", "off") if r % 2 == 0 else ("off", "auto")):
            ex, both, m = cascade_pair(inputs, work, mode)
            cpu.setdefault(f"{mode}-extract", []).append(ex)
            cpu.setdefault(f"{mode}-both", []).append(both)
            cpu.setdefault(f"{mode}-m", []).append(m)
        plain = [sys.executable, "-c", PLAIN, str(same_pages)]
        ours = corpus("extract", [same_pages], work / "plainvs", "stages.extract.prescreen=off")
        for name, cmd in ((("plain", plain), ("ours", ours)) if r % 2 else (("ours", ours), ("plain", plain))):
            cpu.setdefault(name, []).append(cpu_of(cmd))
        print(f"  round {r + 1}/{args.rounds} done", flush=True)

    m_on, m_off = cpu["auto-m"][-1], cpu["off-m"][-1]
    n = m_off["counts"]["in"]
    pages = n - sum(v for k, v in m_off["counts"]["rejected"].items() if k != "no_text")
    kept_off, kept_on = kept_ids(work / "off" / "filter"), kept_ids(work / "auto" / "filter")
    still = len(kept_on & kept_off) / len(kept_off) if kept_off else 1.0
    skipped = m_on["counts"]["rejected"].get("prescreen_lang", 0)
    ratio = lambda a, b: med([x / y for x, y in zip(cpu[a], cpu[b])])  # noqa: E731
    print(f"\n1. languages: [en]; {', '.join(FILES)}: {n} records, ~{pages} HTML pages")
    print(f"  {'':34} {'extract CPU s':>14} {'records/CPU-s':>14} {'+ filter CPU s':>15} {'records/CPU-s':>14}")
    for mode, label in (("off", "no cascade (prescreen: off)"), ("auto", "cascade (prescreen: auto)")):
        ex, both = med(cpu[f"{mode}-extract"]), med(cpu[f"{mode}-both"])
        print(f"  {label:34} {ex:14.2f} {n / ex:14.1f} {both:15.2f} {n / both:14.1f}")
    print(f"  cascade speed-up, pairwise median: extract {ratio('off-extract', 'auto-extract'):.2f}x, "
          f"extract + filter {ratio('off-both', 'auto-both'):.2f}x (target >= 1.8x)")
    print(f"  pages skipped by the prescreen: {skipped} ({skipped / max(pages, 1):.0%} of HTML pages); "
          f"documents the filter keeps: {len(kept_off)} without, {len(kept_on)} with the cascade; "
          f"{still:.1%} of those kept without it still kept (target >= 99.5%)")
    pages2 = manifest(work / "plainvs" / "extract")["counts"]["in"]
    print(f"\n2. extract without the cascade vs a plain warcio + trafilatura.extract(fast=True) loop, "
          f"whole processes, CPU s (median of {args.rounds}), on the same {pages2} pages: realweb-dev "
          f"less the {dropped} response records whose HTTP head warcio cannot parse (the plain loop "
          f"would skip them, ours extracts them)")
    print(f"  plain loop {med(cpu['plain']):.2f} s ({pages2 / med(cpu['plain']):.1f} pages/CPU-s); "
          f"corpus extract, 1 worker {med(cpu['ours']):.2f} s ({pages2 / med(cpu['ours']):.1f} pages/CPU-s); "
          f"ours at {ratio('plain', 'ours'):.2f}x the plain loop's speed (pairwise median; target >= 1.0x; "
          f"pairs {min(x / y for x, y in zip(cpu['plain'], cpu['ours'])):.2f}-"
          f"{max(x / y for x, y in zip(cpu['plain'], cpu['ours'])):.2f}x)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
