"""`corpus stats`: what is in a pipeline's output, and where every document went.

On a whole pipeline output it prints the **waterfall** from the HTML documents to tokens
written (the records that were no HTML document listed apart): how many documents and
characters each stage and each reason removed. The
document counts come from the stage manifests (the books the runner balances); the
characters from the rejected parts, which are counted too so any disagreement between
a manifest and its parts is shown, never hidden. Then one table per dataset: documents,
characters, length percentiles, top languages and domains, tokens per split and shard;
and an HTML report with PNG charts (``report/index.html``, see :mod:`corpus.stages.stats.report`)
that adds what filters are tuned by (:mod:`corpus.stages.stats.tuning`): removals per rule
and per language, each filter signal beside its threshold, examples per removal reason,
dedup cluster sizes, timings, faults and the run config.

As a stage it maps over every dataset (one task each, writing a small per-document
profile to ``report/profile/``, a few rejected rows per rule to ``report/examples/`` and the
filter's signal columns to ``report/signals/``), and ``finish`` aggregates them into
``report/stats.json`` and the report. ``corpus stats DIR`` also works on a single stage
directory or a shards directory, read-only: it prints the tables and writes nothing.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ...core import config as cfg
from ...core import registry
from ...core.manifest import read_manifest, write_json_atomic
from ...core.outdir import OutputBusy
from ...core.parts import document_parts, iter_batches, list_parts
from ...core.runner import RunContext, Stage, StageError, Task, TaskOutput, run_stage
from contract.layout import MANIFEST, REJECTED

SHARDS = "tokenize"  # the stage whose output is token shards (train/, val/), not documents
SPLITS = ("train", "val")
PERCENTILES = (10, 50, 90, 99)
TOP = 10

PROFILE_SCHEMA = pa.schema([
    pa.field("stage", pa.string()),      # extract | filter | dedup | tokenize
    pa.field("kind", pa.string()),       # kept | rejected | train | val
    pa.field("reason", pa.string()),     # rejected rows only
    pa.field("chars", pa.int64()),       # null for token shards
    pa.field("tokens", pa.int64()),      # token shards only
    pa.field("language", pa.string()),
    pa.field("domain", pa.string()),
    pa.field("detail", pa.string()),     # rejected rows: reason_detail (the rule), cut to 60 chars
    pa.field("cluster", pa.int64()),     # dedup's duplicate cluster
])
# A few rejected rows per (reason, detail) and task, to show as examples.
EXAMPLE_SCHEMA = pa.schema([
    pa.field("stage", pa.string()), pa.field("reason", pa.string()), pa.field("detail", pa.string()),
    pa.field("id", pa.string()), pa.field("url", pa.string()), pa.field("value", pa.float64()),
    pa.field("language", pa.string()), pa.field("dup_of", pa.string()), pa.field("snippet", pa.string()),
])
EXAMPLES_PER_RULE = 3
SNIPPET_CHARS = 300
# The extract stage's reasons for records that are no HTML document at all: the waterfall
# starts at the HTML documents and lists these apart, so filter removals are not slivers.
NON_HTML = ("not_response", "revisit", "http_status", "not_html", "read_error")


# --- which datasets an output holds ---------------------------------------------------

def document_stages() -> list[str]:
    """The registered stages whose output is documents (kept and rejected/), in run order."""
    return [name for name in registry.names() if registry.stage_class(name).holds_documents]


def pipeline_datasets(root: Path) -> list[tuple[str, str, Path]]:
    """(stage, kind, part path) of every part file under a pipeline output root."""
    out = []
    for stage in document_stages():
        d = root / registry.folder(stage)
        out += [(stage, "kept", p) for p in document_parts(d)]
        out += [(stage, "rejected", p) for p in list_parts(d / REJECTED)]
    shards = root / registry.folder(SHARDS)
    for split in SPLITS:
        out += [(SHARDS, split, p) for p in list_parts(shards / split)]
    return out


def is_pipeline_root(path: Path) -> bool:
    return any((path / registry.folder(s) / MANIFEST).exists()
               for s in document_stages() + [SHARDS])


def directory_datasets(path: Path) -> list[tuple[str, str, Path]]:
    """Datasets of a single stage directory or shards directory."""
    manifest = read_manifest(path) or {}
    if "splits" in manifest or any(list_parts(path / s) for s in SPLITS):
        return [(SHARDS, s, p) for s in SPLITS for p in list_parts(path / s)]
    stage = manifest.get("stage") or path.name
    return ([(stage, "kept", p) for p in document_parts(path)]
            + [(stage, "rejected", p) for p in list_parts(path / REJECTED)])


# --- map: one part -> a per-document profile ------------------------------------------

def profile_part(stage: str, kind: str, path: str) -> pa.Table:
    """One row per document: its stage, kind, reason, characters or tokens, language, domain."""
    return scan_part(stage, kind, path)[0]


def scan_part(stage: str, kind: str, path: str, examples: dict | None = None,
              signals: bool = False) -> tuple[pa.Table, list[dict], pa.Table | None]:
    """The part's profile; with ``examples`` (a dict counting rows taken per (reason, detail),
    shared by a task's parts), a few rejected rows per rule; with ``signals``, its filter
    signal columns. One pass over the part."""
    import pyarrow.compute as pc  # heavy: ~45 ms; every command imports this module for the settings check
    from . import tuning  # heavy: it imports pyarrow.compute (~45 ms); every command imports this module

    schema = pq.read_schema(path)
    names = set(schema.names)
    sig_cols = tuning.signal_columns(schema) if signals else []
    want = ["text", "n_tokens", "reason", "reason_detail", "language", "domain", "cluster"]
    if examples is not None:
        want += ["id", "url", "reason_value", "dup_of"]
    cols = [c for c in dict.fromkeys(want + sig_cols) if c in names]
    tables, sig_tables, picked = [], [], []
    for batch in iter_batches(path, columns=cols or None, batch_size=8192):
        n = batch.num_rows

        def col(name, typ):
            return batch.column(name).cast(typ) if name in cols else pa.nulls(n, typ)

        chars = (pc.utf8_length(pc.fill_null(batch.column("text"), "")).cast(pa.int64())
                 if "text" in cols else pa.nulls(n, pa.int64()))
        detail = pc.utf8_slice_codeunits(col("reason_detail", pa.string()), 0, 60)
        reason = col("reason", pa.string())
        tables.append(pa.table({
            "stage": pa.array([stage] * n, pa.string()), "kind": pa.array([kind] * n, pa.string()),
            "reason": reason, "chars": chars, "tokens": col("n_tokens", pa.int64()),
            "language": col("language", pa.string()), "domain": col("domain", pa.string()),
            "detail": detail, "cluster": col("cluster", pa.int64())}, schema=PROFILE_SCHEMA))
        if sig_cols:
            sig_tables.append(pa.table({"kind": pa.array([kind] * n, pa.string()), "reason": reason,
                                        "detail": detail,
                                        **{c: batch.column(c).cast(pa.float64()) for c in sig_cols}}))
        if examples is not None and "reason" in cols:
            picked += _take_examples(stage, batch, reason, detail, examples)
    profile = pa.concat_tables(tables) if tables else PROFILE_SCHEMA.empty_table()
    return profile, picked, (pa.concat_tables(sig_tables) if sig_tables else None)


def _take_examples(stage: str, batch: pa.RecordBatch, reason: pa.Array, detail: pa.Array,
                   taken: dict) -> list[dict]:
    """The first EXAMPLES_PER_RULE rows of each (reason, detail) not yet taken."""
    rows = []
    names = batch.schema.names
    for i, key in enumerate(zip(reason.to_pylist(), detail.to_pylist())):
        if taken.get(key, 0) >= EXAMPLES_PER_RULE:
            continue
        taken[key] = taken.get(key, 0) + 1

        def get(name):
            return batch.column(name)[i].as_py() if name in names else None

        text = get("text") or ""
        rows.append({"stage": stage, "reason": key[0], "detail": key[1], "id": get("id"),
                     "url": get("url"), "value": get("reason_value"), "language": get("language"),
                     "dup_of": get("dup_of"), "snippet": text[:SNIPPET_CHARS]})
    return rows


# --- reduce: profile -> stats ----------------------------------------------------------

def _describe(t: pa.Table, value: str) -> dict:
    """documents, sum, percentiles, histogram, top languages and domains of a profile slice."""
    import pyarrow.compute as pc  # heavy: ~45 ms; every command imports this module for the settings check

    v = t.column(value).drop_null().to_numpy()
    out = {"documents": t.num_rows, value: int(v.sum()) if len(v) else 0}
    if len(v):
        out["percentiles"] = {f"p{p}": int(np.percentile(v, p, method="lower")) for p in PERCENTILES}
        out["percentiles"]["max"] = int(v.max())
        edges = np.unique(np.round(np.logspace(0, np.log10(max(2, v.max() + 1)), 41)).astype(np.int64))
        counts, edges = np.histogram(v, bins=edges)
        out["histogram"] = {"edges": edges.tolist(), "counts": counts.tolist()}
    for col in ("language", "domain"):
        c = t.column(col).drop_null()
        if len(c):
            vc = pc.value_counts(c).to_pylist()
            vc.sort(key=lambda x: (-x["counts"], x["values"]))
            out[f"top_{col}s"] = [[x["values"], x["counts"]] for x in vc[:TOP]]
            out[f"distinct_{col}s"] = len(vc)
    return out


def _filter(t: pa.Table, **eq) -> pa.Table:
    import pyarrow.compute as pc  # heavy: ~45 ms; every command imports this module for the settings check

    mask = None
    for k, v in eq.items():
        m = pc.equal(t.column(k), v)
        mask = m if mask is None else pc.and_(mask, m)
    return t.filter(mask) if mask is not None else t


def _by_reason(t: pa.Table) -> dict[str, dict]:
    out = {}
    if t.num_rows == 0:
        return out
    g = t.group_by("reason").aggregate([("chars", "sum"), ("reason", "count")]).to_pylist()
    for row in g:
        out[row["reason"] or "?"] = {"documents": row["reason_count"], "chars": row["chars_sum"] or 0}
    return out


def aggregate(profile: pa.Table, manifests: dict[str, dict], examples: pa.Table | None = None,
              signals: pa.Table | None = None, root: str | None = None) -> dict:
    """The stats of an output from its per-document profile and its stage manifests; with
    the examples and signals the map phase took, the sections to tune filters by."""
    from . import tuning  # heavy: it imports pyarrow.compute (~45 ms); every command imports this module

    stats: dict = {"datasets": {}, "waterfall": [], "non_html": [], "checks": []}
    order = registry.names()
    documents = document_stages()
    present = sorted(set(profile.column("stage").to_pylist()) | set(manifests),
                     key=lambda s: (order + [s]).index(s))
    for stage in present:
        if stage in order and stage not in documents:
            continue
        kept = _filter(profile, stage=stage, kind="kept")
        rejected = _by_reason(_filter(profile, stage=stage, kind="rejected"))
        if kept.num_rows or rejected or stage in manifests:
            entry = _describe(kept, "chars")
            entry["rejected_parts"] = rejected
            stats["datasets"][stage] = entry
    for split in SPLITS:
        t = _filter(profile, stage=SHARDS, kind=split)
        if t.num_rows or SHARDS in manifests:
            stats["datasets"][f"shards/{split}"] = _describe(t, "tokens")
    if manifests.get(SHARDS, {}).get("splits"):
        stats["shards"] = {s: manifests[SHARDS]["splits"][s] for s in SPLITS}
        stats["shards"]["dtype"] = manifests[SHARDS].get("dtype")
        stats["shards"]["vocab_size"] = manifests[SHARDS].get("tokenizer", {}).get("vocab_size")
    stats["waterfall"] = waterfall(stats, manifests)
    stages = [s for s in stats["datasets"] if not s.startswith("shards/")]
    stats["rules"] = tuning.removals_by_rule(profile, stages)
    stats["checks"] += tuning.rule_checks(profile, manifests)
    stats["languages"] = tuning.removals_by_language(profile, stages)
    stats["signals"] = tuning.filter_signals(signals, manifests, stats["rules"])
    folders = {s: registry.folder(s) if s in order else s for s in stages}
    stats["examples"] = tuning.pick_examples(examples, root or ".", folders)
    clusters = tuning.cluster_sizes(profile)
    if clusters:
        stats["clusters"] = clusters
    stats["timings"] = tuning.timings(manifests)
    stats["faults"] = tuning.faults(manifests)
    stats["config"] = tuning.run_config(manifests)
    return stats


def waterfall(stats: dict, manifests: dict[str, dict]) -> list[dict]:
    """Rows from the HTML documents to tokens written; the records that were no HTML
    document go to ``stats['non_html']`` (and ``stats['records']``), checks to ``stats['checks']``."""
    rows: list[dict] = []
    checks = stats["checks"]
    previous_kept = None
    for stage in document_stages():
        m = manifests.get(stage)
        if not m:
            continue
        c = m["counts"]
        data = stats["datasets"].get(stage, {})
        parts = data.get("rejected_parts", {})
        apart: tuple = ()
        if previous_kept is None:
            reads_records = registry.stage_class(stage).upstream is None
            apart = NON_HTML if reads_records else ()
            outside = sum(n for kind in ("rejected", "errors") for r, n in c[kind].items() if r in apart)
            stats["records"] = {"stage": stage, "in": c["in"], "non_html": outside,
                                "html_documents": c["in"] - outside}
            rows.append({"step": f"{stage}: {'HTML documents' if reads_records else 'documents in'}",
                         "stage": stage, "kind": "in", "documents": c["in"] - outside, "chars": None})
        elif c["in"] != previous_kept:
            checks.append(f"{stage}: read {c['in']:,} documents but the stage before kept {previous_kept:,}")
        for kind in ("rejected", "errors"):
            for reason, n in sorted(c[kind].items(), key=lambda kv: (-kv[1], kv[0])):
                p = parts.get(reason)
                if kind == "rejected" and p and p["documents"] != n:
                    checks.append(f"{stage}: manifest says {n:,} rejected for {reason}, "
                                  f"its rejected parts hold {p['documents']:,}")
                row = {"step": f"{stage}: - {reason}", "stage": stage, "kind": kind,
                       "reason": reason, "documents": -n, "chars": -p["chars"] if p else None}
                (stats["non_html"] if reason in apart else rows).append(row)
        for reason, p in parts.items():
            if reason not in c["rejected"] and reason not in c["errors"]:
                checks.append(f"{stage}: rejected parts hold {p['documents']:,} rows for {reason}, "
                              f"which the manifest does not count")
        if data and data.get("documents") != c["kept"]:
            checks.append(f"{stage}: manifest says {c['kept']:,} kept, its parts hold {data.get('documents', 0):,}")
        rows.append({"step": f"{stage}: kept", "stage": stage, "kind": "kept", "documents": c["kept"],
                     "chars": data.get("chars")})
        previous_kept = c["kept"]
    tok = manifests.get(SHARDS)
    if tok and tok.get("splits"):
        docs = sum(tok["splits"][s]["documents"] for s in SPLITS)
        tokens = sum(tok["splits"][s]["tokens"] for s in SPLITS)
        if previous_kept is not None and tok["counts"]["in"] != previous_kept:
            checks.append(f"tokenize: read {tok['counts']['in']:,} documents but the stage before "
                          f"kept {previous_kept:,}")
        rows.append({"step": "tokenize: tokens written", "stage": SHARDS, "kind": "tokens",
                     "documents": docs, "chars": (tok.get("text") or {}).get("chars"), "tokens": tokens})
    return rows


def read_manifests(root: Path) -> dict[str, dict]:
    """The manifest of every registered stage that has run, but the stats stage's own."""
    out = {}
    for stage in registry.names():
        if stage == StatsStage.name:
            continue
        m = read_manifest(root / registry.folder(stage))
        if m:
            out[stage] = m
    return out


# --- the stage -------------------------------------------------------------------------

class StatsStage(Stage):
    """Profile every part of a pipeline output; aggregate; write stats.json and the report."""

    name = "stats"
    folder = "report"
    upstream = None  # reads every stage's output
    owns = ("profile/part-*.parquet", "examples/part-*.parquet", "signals/part-*.parquet",
            "stats.json", "index.html", "waterfall.png", "lengths.png", "languages.png", "shards.png",
            "rules.png", "language_removals.png", "clusters.png", "signals_*.png")
    holds_documents = False

    def root(self) -> Path:
        return Path(self.config["output"])

    def inputs(self) -> list[str]:
        return [str(self.root())]

    def fingerprint_source(self):
        manifests = read_manifests(self.root())
        return {"stage": self.name, "params": self.params,
                "upstream": {k: m.get("fingerprint") for k, m in manifests.items()}}

    def tasks(self) -> list[Task]:
        datasets = pipeline_datasets(self.root())
        if not datasets:
            raise StageError(f"stats: no stage output under {self.root()}; run the pipeline first")
        groups: dict[tuple[str, str], list[str]] = {}
        for s, k, p in datasets:  # one task per dataset: profiling a part takes milliseconds
            groups.setdefault((s, k), []).append(str(p))
        return [Task(f"part-{i:05d}", {"stage": s, "kind": k, "paths": paths})
                for i, ((s, k), paths) in enumerate(groups.items())]

    def process(self, task: Task, out: TaskOutput) -> dict:
        from . import tuning  # heavy: it imports pyarrow.compute (~45 ms); every command imports this module

        p = task.payload
        writer = out.writer(PROFILE_SCHEMA, "profile")
        taken: dict | None = {} if p["kind"] == "rejected" else None
        want_signals = p["stage"] == tuning.SIGNAL_STAGE and p["kind"] in ("kept", "rejected")
        n = 0
        for path in p["paths"]:
            table, examples, signals = scan_part(p["stage"], p["kind"], path, taken, want_signals)
            writer.write_table(table)
            if examples:
                out.writer(EXAMPLE_SCHEMA, "examples").write_table(
                    pa.Table.from_pylist(examples, schema=EXAMPLE_SCHEMA))
            if signals is not None:
                w = out.writer(signals.schema, "signals")
                w.write_table(signals.select(w.schema.names).cast(w.schema))
            n += table.num_rows
        return {"in": n, "kept": n}

    def finish(self, run: RunContext, results: list[dict]) -> dict:
        from .report import write_report  # heavy: matplotlib loads only to draw the report

        def gather(sub: str) -> pa.Table | None:
            paths = [self.dir / sub / f"{r['task']}.parquet" for r in results]
            tables = [pq.read_table(p) for p in paths if p.exists()]
            return pa.concat_tables(tables, promote_options="default") if tables else None

        stats = aggregate(gather("profile"), read_manifests(self.root()), examples=gather("examples"),
                          signals=gather("signals"), root=str(self.root()))
        stats["root"] = str(self.root())
        html = write_report(stats, self.dir)  # names each signal's image in stats
        write_json_atomic(self.dir / "stats.json", stats)
        return {"stats": "stats.json", "report": os.path.relpath(html, self.dir),
                "checks": stats["checks"], "summary": headline(stats) + f"; report: {html}"}


# --- terminal output -------------------------------------------------------------------

def headline(stats: dict) -> str:
    w = stats["waterfall"]
    if not w:
        return "no pipeline stages found"
    first, last = w[0], w[-1]
    tail = (f"{last['documents']:,} docs / {last['tokens']:,} tokens" if "tokens" in last
            else f"{last['documents']:,} docs")
    rec = stats.get("records")
    head = (f"{rec['in']:,} records, {first['documents']:,} HTML documents" if rec and rec["non_html"]
            else f"{first['documents']:,} records")
    return f"{head} -> {tail}"


def _num(x) -> str:
    return "" if x is None else f"{x:,}"


def format_tables(stats: dict) -> str:
    lines = []
    if stats.get("waterfall"):
        rec = stats.get("records")
        if rec and stats.get("non_html"):
            lines.append("Records that were no HTML document (apart from the waterfall)")
            lines.append(f"  {rec['stage'] + ': records in':<40} {rec['in']:>12,}")
            for r in stats["non_html"]:
                lines.append(f"  {r['step']:<40} {_num(r['documents']):>12}")
            lines.append("")
        lines.append("Waterfall: HTML documents -> tokens written")
        lines.append(f"  {'step':<40} {'documents':>12} {'characters':>16} {'tokens':>14}")
        for r in stats["waterfall"]:
            lines.append(f"  {r['step']:<40} {_num(r['documents']):>12} {_num(r.get('chars')):>16} "
                         f"{_num(r.get('tokens')):>14}")
        for c in stats.get("checks", []):
            lines.append(f"  ! {c}")
        lines.append("")
    skip = set(NON_HTML) if stats.get("records") else set()
    rules = [(stage, r) for stage, rs in stats.get("rules", {}).items() for r in rs
             if not (stats.get("records", {}).get("stage") == stage and r["reason"] in skip)]
    if rules:
        lines.append("Removals per rule")
        for stage, r in rules:
            lines.append(f"  {stage + ': ' + r['rule']:<52} {r['documents']:>12,}")
        lines.append("")
    for name, d in stats["datasets"].items():
        value = "tokens" if name.startswith("shards/") else "chars"
        lines.append(f"{name}: {d['documents']:,} documents, {d.get(value, 0):,} {value}")
        if d.get("percentiles"):
            pct = "  ".join(f"{k}={v:,}" for k, v in d["percentiles"].items())
            lines.append(f"  {value} per document: {pct}")
        for col in ("languages", "domains"):
            top = d.get(f"top_{col}")
            if top:
                total = d["documents"] or 1
                shown = ", ".join(f"{k} {n / total:.0%}" for k, n in top[:8])
                lines.append(f"  top {col} ({d[f'distinct_{col}']:,} distinct): {shown}")
        for reason, r in sorted(d.get("rejected_parts", {}).items(), key=lambda kv: -kv[1]["documents"]):
            lines.append(f"  rejected {reason}: {r['documents']:,} documents, {r['chars']:,} chars")
        lines.append("")
    sh = stats.get("shards")
    if sh:
        lines.append(f"shards ({sh.get('dtype')}, vocab {_num(sh.get('vocab_size'))}):")
        for s in SPLITS:
            lines.append(f"  {s}: {sh[s]['documents']:,} documents, {sh[s]['tokens']:,} tokens, "
                         f"{len(sh[s]['shards'])} shard(s)")
            for x in sh[s]["shards"][:20]:
                lines.append(f"    {x['path']}: {x['documents']:,} docs, {x['tokens']:,} tokens")
            if len(sh[s]["shards"]) > 20:
                lines.append(f"    ... {len(sh[s]['shards']) - 20} more")
    return "\n".join(lines).rstrip() + "\n"


def stats_of_directory(path: Path) -> dict:
    """Read-only stats of one stage directory, shards directory or pipeline root."""
    path = Path(path)
    if is_pipeline_root(path):
        datasets, manifests = pipeline_datasets(path), read_manifests(path)
    else:
        datasets = directory_datasets(path)
        m = read_manifest(path)
        manifests = {}
        if m and m.get("stage") in registry.names():
            manifests[m["stage"]] = m
    if not datasets:
        raise StageError(f"stats: no Parquet parts found in {path}")
    profile = pa.concat_tables([profile_part(s, k, str(p)) for s, k, p in datasets])
    return aggregate(profile, manifests)


def cli_main(args) -> int:
    """`corpus stats PIPELINE.yaml | DIR`: a pipeline runs the stats stage (writes the
    report); a directory that is not a pipeline's output is only read."""
    target = Path(args.pipeline)
    if not target.exists():
        print(f"error: {target}: no such pipeline file or output directory", file=sys.stderr)
        return 1
    if target.is_dir() and not is_pipeline_root(target):
        try:
            stats = stats_of_directory(target)
        except StageError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        sys.stdout.write(format_tables(stats))
        return 0
    try:
        if target.is_dir():
            config = cfg.load_pipeline(None, args.overrides, output=str(target), workers=args.workers,
                                       executor=args.executor, ray_address=args.ray_address)
        else:
            config = cfg.load_pipeline(target, args.overrides, output=args.output, workers=args.workers,
                                       executor=args.executor, ray_address=args.ray_address)
        cfg.check_output_writable(config["output"])
    except cfg.ConfigError as err:  # a bad setting: one line, exit 2, nothing written
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        stage = StatsStage(config)
        manifest = run_stage(stage, force=args.force, show_progress=not args.quiet)
    except OutputBusy as err:  # another run writes this output: nothing was touched
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (StageError, cfg.ConfigError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    stats = json.loads((stage.dir / "stats.json").read_text())
    sys.stdout.write(format_tables(stats))
    print(f"report: {stage.dir / manifest.get('report', 'index.html')}")
    return 0
