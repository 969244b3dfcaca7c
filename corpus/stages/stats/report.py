"""The HTML report of a pipeline output: PNG charts (matplotlib, Agg) and one page.

Everything the page needs lies beside it — images by relative path, inline CSS, no
scripts, fonts or network — so it opens from a laptop, a CI artifact or a mail.
Input is the stats dict of :mod:`corpus.stages.stats.stage` (``report/stats.json``).
"""
from __future__ import annotations

import html
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from contract.atomic import atomic_path

COLORS = {"in": "#4c72b0", "kept": "#55a868", "rejected": "#c44e52", "errors": "#8172b2", "tokens": "#dd8452"}


def _save(fig, path: Path) -> str:
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
    ax.set_title("Where the documents went: records read -> tokens written")
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


CSS = """body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
td.n{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.warn{color:#b00}"""


def _n(x) -> str:
    return "" if x is None else f"{x:,}"


def render_html(stats: dict, images: dict[str, str]) -> str:
    e = html.escape
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>crawl2tokens report</title>",
           f"<style>{CSS}</style></head><body><h1>crawl2tokens report</h1>",
           f"<p>Output: <code>{e(str(stats.get('root', '')))}</code></p>"]
    if stats.get("waterfall"):
        out.append("<h2>Waterfall</h2><table><tr><th>step</th><th>documents</th><th>characters</th><th>tokens</th></tr>")
        for r in stats["waterfall"]:
            out.append(f"<tr><td>{e(r['step'])}</td><td class=n>{_n(r['documents'])}</td>"
                       f"<td class=n>{_n(r.get('chars'))}</td><td class=n>{_n(r.get('tokens'))}</td></tr>")
        out.append("</table>")
        for c in stats.get("checks", []):
            out.append(f"<p class=warn>{e(c)}</p>")
    for key, title in (("waterfall", "Where the documents went"), ("lengths", "Document lengths"),
                       ("languages", "Languages"), ("shards", "Tokens per shard")):
        if images.get(key):
            out.append(f"<h2>{title}</h2><img src='{e(images[key])}' alt='{e(title)}'>")
    out.append("<h2>Datasets</h2><table><tr><th>dataset</th><th>documents</th><th>chars / tokens</th>"
               "<th>p10</th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>top languages</th><th>top domains</th></tr>")
    for name, d in stats["datasets"].items():
        value = d.get("tokens", d.get("chars"))
        p = d.get("percentiles", {})
        langs = ", ".join(f"{k} ({n:,})" for k, n in d.get("top_languages", [])[:5])
        doms = ", ".join(f"{k} ({n:,})" for k, n in d.get("top_domains", [])[:5])
        out.append(f"<tr><td>{e(name)}</td><td class=n>{_n(d['documents'])}</td><td class=n>{_n(value)}</td>"
                   + "".join(f"<td class=n>{_n(p.get(k))}</td>" for k in ("p10", "p50", "p90", "p99", "max"))
                   + f"<td>{e(langs)}</td><td>{e(doms)}</td></tr>")
    out.append("</table></body></html>")
    return "\n".join(out) + "\n"


def write_report(stats: dict, out_dir: str | os.PathLike) -> Path:
    """Charts and ``index.html`` into ``out_dir``; returns the page's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = {
        "waterfall": chart_waterfall(stats, out_dir / "waterfall.png"),
        "lengths": chart_lengths(stats, out_dir / "lengths.png"),
        "languages": chart_languages(stats, out_dir / "languages.png"),
        "shards": chart_shards(stats, out_dir / "shards.png"),
    }
    page = out_dir / "index.html"
    with atomic_path(page) as tmp:
        tmp.write_text(render_html(stats, images), encoding="utf-8")
    return page
