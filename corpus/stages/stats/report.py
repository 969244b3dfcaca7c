"""The HTML report of a pipeline output: PNG charts (matplotlib, Agg) and one page.

Everything the page needs lies beside it — images by relative path, inline CSS, no
scripts, fonts or network — so it opens from a laptop, a CI artifact or a mail.
Input is the stats dict of :mod:`corpus.stages.stats.stage` (``report/stats.json``).
"""
from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from contract.atomic import atomic_path

COLORS = {"in": "#4c72b0", "kept": "#55a868", "rejected": "#c44e52", "errors": "#8172b2", "tokens": "#dd8452"}


def _save(fig, path: Path, tight: bool = True) -> str:
    if tight:  # costs as much as drawing on a grid of charts: those set their margins instead
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path.name


def chart_waterfall(stats: dict, path: Path) -> str | None:
    rows = stats.get("waterfall") or []
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.5))
    level = 0
    labels = []
    for i, r in enumerate(rows):
        n = r["documents"]
        if r["kind"] in ("rejected", "errors"):
            left, width = level + n, -n
            level += n
        else:
            left, width = 0, n
            level = n
        ax.barh(i, width, left=left, color=COLORS[r["kind"]])
        ax.text(left + width, i, f" {abs(n):,}", va="center", fontsize=8)
        labels.append(r["step"] + (f"  ({r['tokens']:,} tokens)" if r.get("tokens") else ""))
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("documents")
    rec = stats.get("records")
    apart = f" ({rec['non_html']:,} non-HTML records apart)" if rec and rec.get("non_html") else ""
    ax.set_title(f"Where the HTML documents went{apart}")
    return _save(fig, path)


def chart_lengths(stats: dict, path: Path) -> str | None:
    docs = [(k, d) for k, d in stats["datasets"].items() if d.get("histogram")]
    if not docs:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, unit in zip(axes, ("chars", "tokens")):
        for name, d in docs:
            is_tokens = name.startswith("shards/")
            if is_tokens != (unit == "tokens"):
                continue
            edges, counts = d["histogram"]["edges"], d["histogram"]["counts"]
            ax.stairs(counts, edges, label=f"{name} ({d['documents']:,})")
        ax.set_xscale("log")
        ax.set_xlabel(f"{unit} per document")
        ax.set_ylabel("documents")
        ax.set_title(f"Document length ({unit})")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return _save(fig, path)


def chart_languages(stats: dict, path: Path) -> str | None:
    d = next((d for k, d in reversed(stats["datasets"].items()) if d.get("top_languages")), None)
    if not d:
        return None
    name = next(k for k, v in stats["datasets"].items() if v is d)
    top = d["top_languages"]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(top) + 1.5))
    ax.barh([k for k, _ in top], [n for _, n in top], color=COLORS["in"])
    ax.invert_yaxis()
    ax.set_xlabel("documents")
    ax.set_title(f"Language mix ({name}, top {len(top)})")
    return _save(fig, path)


def chart_shards(stats: dict, path: Path) -> str | None:
    sh = stats.get("shards")
    if not sh:
        return None
    bars = [(s["path"], s["tokens"], split) for split in ("train", "val") for s in sh[split]["shards"]]
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 0.3 * len(bars) + 2), 3.5))
    ax.bar(range(len(bars)), [b[1] for b in bars],
           color=[COLORS["kept"] if b[2] == "train" else COLORS["tokens"] for b in bars])
    ax.set_xticks(range(len(bars)), [b[0] for b in bars], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("tokens")
    ax.set_title("Tokens per shard (green: train, orange: val)")
    return _save(fig, path)


def chart_rules(stats: dict, path: Path) -> str | None:
    """Documents removed per rule, every stage, the non-HTML records left out."""
    rows = [(f"{stage}: {r['rule']}", r["documents"], stage) for stage, rs in stats.get("rules", {}).items()
            for r in rs if not _non_html(stats, stage, r["reason"])]
    if not rows:
        return None
    rows.sort(key=lambda x: -x[1])
    rows = rows[:40]
    stages = list(dict.fromkeys(s for _, _, s in rows))
    palette = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(rows) + 1.5))
    ax.barh(range(len(rows)), [n for _, n, _ in rows], color=[palette(stages.index(s) % 10) for _, _, s in rows])
    for i, (_, n, _) in enumerate(rows):
        ax.text(n, i, f" {n:,}", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [label for label, _, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("documents removed")
    ax.set_title("Removals per rule" + (f" (top {len(rows)})" if len(rows) == 40 else ""))
    return _save(fig, path)


def chart_language_removals(stats: dict, path: Path) -> str | None:
    """Per stage with languages: each language's removals stacked by reason, with its rate."""
    stages = [(s, rows[:12]) for s, rows in stats.get("languages", {}).items() if any(r["removed"] for r in rows)]
    if not stages:
        return None
    height = max(len(rows) for _, rows in stages)
    fig, axes = plt.subplots(1, len(stages), figsize=(5.5 * len(stages), 0.3 * height + 1.8), squeeze=False)
    palette = plt.get_cmap("tab10")
    for ax, (stage, rows) in zip(axes[0], stages):
        reasons = sorted({r for row in rows for r in row["by_reason"]})
        left = [0] * len(rows)
        for k, reason in enumerate(reasons):
            widths = [row["by_reason"].get(reason, 0) for row in rows]
            ax.barh(range(len(rows)), widths, left=left, color=palette(k % 10), label=reason)
            left = [a + b for a, b in zip(left, widths)]
        for i, row in enumerate(rows):
            ax.text(left[i], i, f" {row['removed'] / max(row['in'], 1):.0%} of {row['in']:,}", va="center", fontsize=7)
        ax.set_yticks(range(len(rows)), [row["language"] for row in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("documents removed")
        ax.set_title(f"{stage}: removals per language", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
        ax.margins(x=0.25)
    return _save(fig, path)


def chart_clusters(stats: dict, path: Path) -> str | None:
    cl = stats.get("clusters")
    if not cl or not cl["sizes"]:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.2))
    sizes, counts = zip(*cl["sizes"])
    ax.bar([str(s) for s in sizes], counts, color=COLORS["in"])
    ax.set_yscale("log")
    ax.set_xlabel("documents in the cluster (kept one + its duplicates)")
    ax.set_ylabel("clusters")
    ax.set_title(f"Dedup cluster sizes ({cl['clusters']:,} clusters, {cl['singletons']:,} documents alone)")
    return _save(fig, path)


def chart_signals(signals: list[dict], section: str, path: Path) -> str | None:
    """Small multiples: each signal's histogram (kept green, removed red) and its thresholds."""
    if not signals:
        return None
    ncols = min(4, len(signals))
    nrows = -(-len(signals) // ncols)
    height = 2.4 * nrows + 0.6
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, height), squeeze=False)
    fig.subplots_adjust(left=0.22 / ncols, right=0.98, bottom=0.35 / height, top=1 - 0.55 / height,
                        wspace=0.35, hspace=0.45)
    for ax in axes.flat[len(signals):]:
        ax.set_visible(False)
    for ax, sig in zip(axes.flat, signals):
        h = sig["histogram"]
        ax.stairs(h["kept"], h["edges"], color=COLORS["kept"], fill=True, alpha=0.6, label="kept")
        ax.stairs(h["rejected"], h["edges"], color=COLORS["rejected"], label="removed")
        if h["log"]:
            ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1)  # one removed document still shows beside 2,000 kept
        for t in sig["thresholds"]:
            if t["value"] is not None:
                ax.axvline(t["value"], color="black", linestyle="--", linewidth=1)
                ax.annotate(f"{t['bound']} {t['value']:g}", (t["value"], 1), xycoords=("data", "axes fraction"),
                            fontsize=7, ha="left", va="top", rotation=90)
        ax.set_title(sig["signal"], fontsize=9)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"filter signals: {section} (dashed: threshold)", fontsize=10)
    return _save(fig, path, tight=False)


def _non_html(stats: dict, stage: str, reason: str) -> bool:
    return any(r["stage"] == stage and r.get("reason") == reason for r in stats.get("non_html", []))


CSS = """body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
td.snip{font-size:12px;max-width:420px;color:#444;white-space:pre-wrap}code{font-size:12px;background:#f4f4f4}
pre{font-size:12px;background:#f8f8f8;padding:.5em;overflow-x:auto}.warn{color:#b00}.note{color:#555;font-size:13px}"""


def _n(x) -> str:
    return "" if x is None else f"{x:,}"


def _v(x) -> str:
    return "" if x is None else f"{x:.4g}" if isinstance(x, float) else f"{x:,}"


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset(),
           classes: dict[int, str] | None = None) -> str:
    """A table of already escaped cells; the columns in ``numeric`` right-aligned."""
    cls = {**{i: "n" for i in numeric}, **(classes or {})}
    out = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td class={cls[i]}>{c}</td>" if i in cls else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>")
    return "".join(out) + "</table>"


def _img(images: dict, key: str, alt: str) -> str:
    src = images.get(key)
    return f"<img src='{html.escape(src)}' alt='{html.escape(alt)}'>" if src else ""


def _waterfall(stats: dict, images: dict) -> list[str]:
    e = html.escape
    out = []
    rec = stats.get("records")
    if rec and stats.get("non_html"):
        out.append(f"<h2 id=records>Records that were no HTML document</h2><p class=note>{rec['in']:,} records "
                   f"read by {e(rec['stage'])}; {rec['non_html']:,} of them were no HTML document and are listed "
                   f"here, apart: the waterfall starts at the {rec['html_documents']:,} HTML documents.</p>")
        out.append(_table(["step", "records", "characters"],
                          [[e(r["step"]), _n(-r["documents"]), _n(r.get("chars") and -r["chars"])]
                           for r in stats["non_html"]], {1, 2}))
    if stats.get("waterfall"):
        out.append("<h2 id=waterfall>Waterfall: HTML documents to tokens</h2>")
        out.append(_table(["step", "documents", "characters", "tokens"],
                          [[e(r["step"]), _n(r["documents"]), _n(r.get("chars")), _n(r.get("tokens"))]
                           for r in stats["waterfall"]], {1, 2, 3}))
        for c in stats.get("checks", []):
            out.append(f"<p class=warn>{e(c)}</p>")
        out.append(_img(images, "waterfall", "Where the documents went"))
    return out


def _rules(stats: dict, images: dict) -> list[str]:
    e = html.escape
    if not stats.get("rules"):
        return []
    out = ["<h2 id=rules>Removals per rule</h2>", _img(images, "rules", "Removals per rule")]
    for stage, rules in stats["rules"].items():
        rows = [[e(r["rule"]), _n(r["documents"]), _n(r["chars"])] for r in rules
                if not _non_html(stats, stage, r["reason"])]
        if rows:
            out.append(f"<h3>{e(stage)}</h3>" + _table(["rule", "documents", "characters"], rows, {1, 2}))
    return out


def _languages(stats: dict, images: dict) -> list[str]:
    e = html.escape
    if not stats.get("languages"):
        return []
    out = ["<h2 id=language-removals>Removals per language</h2>",
           _img(images, "language_removals", "Removals per language")]
    for stage, rows in stats["languages"].items():
        reasons = sorted({r for row in rows for r in row["by_reason"]})
        body = [[e(row["language"]), _n(row["in"]), _n(row["kept"]), _n(row["removed"]),
                 f"{row['removed'] / max(row['in'], 1):.1%}"] + [_n(row["by_reason"].get(r)) for r in reasons]
                for row in rows]
        out.append(f"<h3>{e(stage)}</h3>" + _table(["language", "in", "kept", "removed", "rate"]
                                                  + [e(r) for r in reasons], body, set(range(1, 5 + len(reasons)))))
    return out


def _signals(stats: dict, images: dict) -> list[str]:
    e = html.escape
    sigs = stats.get("signals") or []
    if not sigs:
        return []
    out = ["<h2 id=signals>Filter signals and their thresholds</h2><p class=note>Each signal's "
           "distribution over the documents it was measured on (a removed document is measured up to "
           "the rule that removed it); the dashed line is the threshold in the filter's settings.</p>"]
    for section in dict.fromkeys(s["section"] for s in sigs):
        out.append(f"<h3>{e(section)}</h3>" + _img(images, f"signals:{section}", f"filter signals: {section}"))
        rows = []
        for s in (x for x in sigs if x["section"] == section):
            for t in s["thresholds"] or [{"setting": "", "bound": "", "value": None, "removed": None}]:
                rows.append([e(s["signal"]), _n(s["documents"]), e(t["setting"]), e(t["bound"]),
                             "off" if t["setting"] and t["value"] is None else _v(t["value"]), _n(t["removed"])])
        out.append(_table(["signal", "measured on", "setting", "bound", "threshold", "removed by it"],
                          rows, {1, 4, 5}))
    return out


def _examples(stats: dict) -> list[str]:
    e = html.escape
    if not stats.get("examples"):
        return []
    out = ["<h2 id=examples>Examples of each removal reason</h2><p class=note>Print one in full with the "
           "<code>corpus show</code> line beside it (add <code>--raw</code> for its WARC record).</p>"]
    for stage, reasons in stats["examples"].items():
        rows = []
        for reason, items in reasons.items():
            for x in items:
                what = x["url"] or ""
                if x.get("dup_of"):
                    what += f"\nduplicate of {x['dup_of']}"
                rows.append([e(reason), e(x["rule"]), _v(x["value"]), e(x["language"] or ""),
                             f"{e(what)}\n{e(x['snippet'] or '')}", f"<code>{e(x['command'])}</code>"])
        out.append(f"<h3>{e(stage)}</h3>" + _table(["reason", "rule", "value", "language", "document", "show it"],
                                                  rows, {2}, {4: "snip"}))
    return out


def _clusters(stats: dict, images: dict) -> list[str]:
    cl = stats.get("clusters")
    if not cl:
        return []
    return ["<h2 id=clusters>Dedup cluster sizes</h2>",
            f"<p>{cl['documents']:,} documents: {cl['singletons']:,} alone, {cl['documents_in_clusters']:,} in "
            f"{cl['clusters']:,} clusters of duplicates (largest: {cl['largest']:,}).</p>",
            _img(images, "clusters", "Dedup cluster sizes"),
            _table(["cluster size", "clusters"], [[_n(s), _n(n)] for s, n in cl["sizes"]], {0, 1})]


def _datasets(stats: dict) -> list[str]:
    e = html.escape
    rows = []
    for name, d in stats["datasets"].items():
        p = d.get("percentiles", {})
        langs = ", ".join(f"{k} ({n:,})" for k, n in d.get("top_languages", [])[:5])
        doms = ", ".join(f"{k} ({n:,})" for k, n in d.get("top_domains", [])[:5])
        rows.append([e(name), _n(d["documents"]), _n(d.get("tokens", d.get("chars")))]
                    + [_n(p.get(k)) for k in ("p10", "p50", "p90", "p99", "max")] + [e(langs), e(doms)])
    return ["<h2 id=datasets>Datasets</h2>",
            _table(["dataset", "documents", "chars / tokens", "p10", "p50", "p90", "p99", "max",
                    "top languages", "top domains"], rows, set(range(1, 8)))]


def _runs(stats: dict) -> list[str]:
    e = html.escape
    out = []
    if stats.get("timings"):
        rows = [[e(t["stage"]), e(t["started"] or ""), _v(t["duration_s"]), _n(t["workers"]), _n(t["in"]),
                 _v(t["per_second"]), e(", ".join(f"{k} {v:g} s" for k, v in t["detail"].items()))]
                for t in stats["timings"]]
        out += ["<h2 id=timings>Timings</h2>",
                _table(["stage", "started", "seconds", "workers", "in", "per second", "parts of it"], rows,
                       {2, 3, 4, 5})]
    fl = stats.get("faults")
    out.append("<h2 id=faults>Faults</h2>")
    if fl:
        rows = [[e(f["stage"] or ""), e(str(f["file"] or "")), _n(f["offset"]), e(f["message"] or "")]
                for f in fl[:100]]
        out.append(_table(["stage", "file", "offset", "message"], rows, {2}))
        if len(fl) > 100:
            out.append(f"<p>... {len(fl) - 100:,} more in the manifests</p>")
    else:
        out.append("<p>None.</p>")
    conf = stats.get("config")
    if conf and conf.get("stages"):
        out.append("<h2 id=config>Run configuration</h2>")
        for stage, c in conf["stages"].items():
            out.append(f"<details><summary>{e(stage)} (fingerprint {e(str(c.get('fingerprint')))})</summary>"
                       f"<pre>{e(json.dumps(c, indent=1, default=str))}</pre></details>")
        if conf.get("versions"):
            out.append("<p class=note>" + e(", ".join(f"{k} {v}" for k, v in conf["versions"].items())) + "</p>")
    return out


def render_html(stats: dict, images: dict[str, str]) -> str:
    e = html.escape
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>crawl2tokens report</title>",
           f"<style>{CSS}</style></head><body><h1>crawl2tokens report</h1>",
           f"<p>Output: <code>{e(str(stats.get('root', '')))}</code></p>"]
    out += _waterfall(stats, images)
    out += _rules(stats, images)
    out += _languages(stats, images)
    out += _signals(stats, images)
    out += _examples(stats)
    out += _clusters(stats, images)
    for key, title in (("lengths", "Document lengths"), ("languages", "Languages"), ("shards", "Tokens per shard")):
        if images.get(key):
            out.append(f"<h2>{title}</h2>" + _img(images, key, title))
    out += _datasets(stats)
    out += _runs(stats)
    out.append("</body></html>")
    return "\n".join(x for x in out if x) + "\n"


def write_report(stats: dict, out_dir: str | os.PathLike) -> Path:
    """Charts and ``index.html`` into ``out_dir``; returns the page's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = {
        "waterfall": chart_waterfall(stats, out_dir / "waterfall.png"),
        "rules": chart_rules(stats, out_dir / "rules.png"),
        "language_removals": chart_language_removals(stats, out_dir / "language_removals.png"),
        "clusters": chart_clusters(stats, out_dir / "clusters.png"),
        "lengths": chart_lengths(stats, out_dir / "lengths.png"),
        "languages": chart_languages(stats, out_dir / "languages.png"),
        "shards": chart_shards(stats, out_dir / "shards.png"),
    }
    sigs = stats.get("signals") or []
    for section in dict.fromkeys(s["section"] for s in sigs):
        name = "signals_" + re.sub(r"[^\w-]", "_", section) + ".png"
        images[f"signals:{section}"] = chart_signals([s for s in sigs if s["section"] == section], section,
                                                     out_dir / name)
        for s in sigs:
            if s["section"] == section:
                s["image"] = name
    page = out_dir / "index.html"
    with atomic_path(page) as tmp:
        tmp.write_text(render_html(stats, images), encoding="utf-8")
    return page
