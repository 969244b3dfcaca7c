"""What a data engineer tunes by, from the stats stage's profile and the stage manifests:
removals per rule and per language, each filter signal's distribution beside its
threshold, example documents per removal reason, dedup cluster sizes, timings, faults
and the run's configuration.

Every function here takes tables the map phase wrote (``report/profile``,
``report/examples``, ``report/signals``) or the manifests, and returns plain dicts for
``stats.json``; :mod:`corpus.stages.stats.report` draws them.
"""
from __future__ import annotations

import math
import re
import shlex

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SIGNAL_STAGE = "filter"      # the stage whose numeric columns are filter signals
EXAMPLES_PER_REASON = 3      # shown per removal reason (distinct rules first)
MAX_RULES_PER_REASON = 12    # url_blocklist/domain:x could be thousands: the rest are lumped
SIGNAL_BINS = 40
_NAME = re.compile(r"^[\w.:/+=-]{1,60}$")  # a detail that names a rule, not a message

# The filter's reason code for each of its settings sections.
REASONS = {"language": "lang", "url_filter": "url_blocklist"}

# signal -> (settings section, [(setting, bound, rule detail)]). bound "min": documents
# below the value are removed; "max": above it. A rule detail of "*" is any detail.
_SIGNALS = {
    "language_score": ("language", [("threshold", "min", "*")]),
    "words": ("gopher_quality", [("min_words", "min", "min_words"), ("max_words", "max", "max_words")]),
    "mean_word_length": ("gopher_quality", [("min_mean_word_length", "min", "min_mean_word_length"),
                                            ("max_mean_word_length", "max", "max_mean_word_length")]),
    "hash_word_ratio": ("gopher_quality", [("max_symbol_word_ratio", "max", "hash_word_ratio")]),
    "ellipsis_word_ratio": ("gopher_quality", [("max_symbol_word_ratio", "max", "ellipsis_word_ratio")]),
    "bullet_lines_ratio": ("gopher_quality", [("max_bullet_lines_ratio", "max", "bullet_lines_ratio")]),
    "ellipsis_lines_ratio": ("gopher_quality", [("max_ellipsis_lines_ratio", "max", "ellipsis_lines_ratio")]),
    "alpha_words_ratio": ("gopher_quality", [("min_alpha_words_ratio", "min", "alpha_words_ratio")]),
    "stop_words": ("gopher_quality", [("min_stop_words", "min", "stop_words")]),
    "c4_sentences": ("c4", [("min_sentences", "min", "too_few_sentences")]),
    "c4_lines_removed": ("c4", []),
    "line_punct_ratio": ("fineweb", [("min_line_punct_ratio", "min", "line_punct_ratio")]),
    "short_line_ratio": ("fineweb", [("max_short_line_ratio", "max", "short_line_ratio")]),
    "dup_line_char_ratio": ("fineweb", [("max_dup_line_char_ratio", "max", "dup_line_char_ratio")]),
    "newline_word_ratio": ("fineweb", [("max_newline_word_ratio", "max", "newline_word_ratio")]),
    "quality_score": ("quality_classifier", [("threshold", "min", "*")]),
}
_NGRAM = re.compile(r"^(top|dup)_(\d+)gram_char_frac$")
_LOG_SIGNALS = {"words"}
_NOT_SIGNALS = {"offset", "length", "http_status", "reason_value", "filter_reason_value", "cluster",
                "n_tokens"}


def signal_columns(schema: pa.Schema) -> list[str]:
    """The numeric columns of a filter part that are measured signals."""
    return [f.name for f in schema if f.name not in _NOT_SIGNALS
            and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))]


def signal_settings(signal: str) -> tuple[str, list[tuple]]:
    """(settings section, [(setting path, bound, rule detail)]) of a filter signal."""
    m = _NGRAM.match(signal)
    if m:
        return "gopher_repetition", [((f"max_{m.group(1)}_ngram_char_frac", m.group(2)), "max", signal)]
    if signal.startswith(("dup_para", "dup_line_")) and signal != "dup_line_char_ratio":
        return "gopher_repetition", [((f"max_{signal}",), "max", signal)]
    section, rules = _SIGNALS.get(signal, ("other", []))
    return section, [((s,) if isinstance(s, str) else s, b, d) for s, b, d in rules]


def _setting(config: dict, section: str, path: tuple):
    """The value of stages.filter.<section>.<path...> in the manifest's config (None: off)."""
    v = config.get(section)
    if not isinstance(v, dict) or v.get("enabled") is False:
        return None
    for key in path:
        if not isinstance(v, dict):
            return None
        v = v.get(key, v.get(str(key)))
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


# --- removals per rule and per language ---------------------------------------------------

def rule_name(reason: str, detail: str | None) -> str:
    """``reason/detail`` where the detail names a rule (the filter's), else the reason."""
    return f"{reason}/{detail}" if detail and _NAME.match(detail) else reason


def removals_by_rule(profile: pa.Table, stages: list[str]) -> dict[str, list[dict]]:
    """stage -> [{rule, reason, documents, chars}], most removals first."""
    rej = profile.filter(pc.equal(profile.column("kind"), "rejected"))
    if rej.num_rows == 0:
        return {}
    g = rej.group_by(["stage", "reason", "detail"]).aggregate([("chars", "sum"), ("reason", "count")])
    per: dict[tuple, dict] = {}
    for row in g.to_pylist():
        reason = row["reason"] or "?"
        key = (row["stage"], reason, rule_name(reason, row["detail"]))
        e = per.setdefault(key, {"documents": 0, "chars": 0})
        e["documents"] += row["reason_count"]
        e["chars"] += row["chars_sum"] or 0
    out: dict[str, list[dict]] = {}
    for stage in stages:
        by_reason: dict[str, list] = {}
        for (s, reason, rule), v in sorted(per.items(), key=lambda kv: (-kv[1]["documents"], kv[0])):
            if s == stage:
                by_reason.setdefault(reason, []).append({"rule": rule, "reason": reason, **v})
        listed = []
        for reason, items in by_reason.items():
            head, tail = items[:MAX_RULES_PER_REASON], items[MAX_RULES_PER_REASON:]
            if tail:
                head.append({"rule": f"{reason}/({len(tail)} other rules)", "reason": reason,
                             "documents": sum(x["documents"] for x in tail),
                             "chars": sum(x["chars"] for x in tail)})
            listed += head
        if listed:
            out[stage] = sorted(listed, key=lambda x: (-x["documents"], x["rule"]))
    return out


def rule_checks(profile: pa.Table, manifests: dict[str, dict]) -> list[str]:
    """The filter manifest's per-rule counts against its rejected parts (drop mode)."""
    m = manifests.get(SIGNAL_STAGE) or {}
    if not m.get("rules") or m.get("mode", "drop") != "drop":
        return []
    rej = profile.filter(pc.and_(pc.equal(profile.column("stage"), SIGNAL_STAGE),
                                 pc.equal(profile.column("kind"), "rejected")))
    held: dict[str, int] = {}
    for row in rej.group_by(["reason", "detail"]).aggregate([("reason", "count")]).to_pylist():
        key = f"{row['reason']}/{row['detail']}"
        held[key] = held.get(key, 0) + row["reason_count"]
    return [f"{SIGNAL_STAGE}: manifest counts {n:,} for rule {rule}, its rejected parts hold "
            f"{held.get(rule, 0):,}" for rule, n in sorted(m["rules"].items()) if held.get(rule, 0) != n]


def removals_by_language(profile: pa.Table, stages: list[str]) -> dict[str, list[dict]]:
    """stage -> [{language, in, kept, removed, by_reason}] for stages whose rows carry a language."""
    out: dict[str, list[dict]] = {}
    for stage in stages:
        t = profile.filter(pc.equal(profile.column("stage"), stage))
        t = t.filter(pc.is_in(t.column("kind"), pa.array(["kept", "rejected"])))
        if t.num_rows == 0 or t.column("language").null_count == t.num_rows:
            continue
        t = t.set_column(t.schema.get_field_index("language"), "language",
                         pc.fill_null(t.column("language"), "none"))
        t = t.set_column(t.schema.get_field_index("reason"), "reason", pc.fill_null(t.column("reason"), ""))
        rows: dict[str, dict] = {}
        g = t.group_by(["language", "kind", "reason"]).aggregate([("kind", "count")])
        for r in g.to_pylist():
            e = rows.setdefault(r["language"], {"language": r["language"], "in": 0, "kept": 0,
                                                "removed": 0, "by_reason": {}})
            e["in"] += r["kind_count"]
            if r["kind"] == "kept":
                e["kept"] += r["kind_count"]
            else:
                e["removed"] += r["kind_count"]
                e["by_reason"][r["reason"] or "?"] = r["kind_count"]
        out[stage] = sorted(rows.values(), key=lambda e: (-e["in"], e["language"]))
    return out


# --- filter signals beside their thresholds ---------------------------------------------

def _histogram(values: np.ndarray, kept: np.ndarray, lines: list[float], log: bool) -> dict:
    lo, hi = float(values.min()), float(values.max())
    lo, hi = min([lo, *lines]), max([hi, *lines])
    if log:
        lo = max(lo, 1.0)
        edges = np.unique(np.geomspace(lo, max(hi, lo * 10), SIGNAL_BINS + 1))
        values = np.clip(values, lo, None)
    else:
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, SIGNAL_BINS + 1)
    k, _ = np.histogram(values[kept], bins=edges)
    r, _ = np.histogram(values[~kept], bins=edges)
    return {"edges": [float(x) for x in edges], "kept": k.tolist(), "rejected": r.tolist(), "log": log}


def filter_signals(signals: pa.Table | None, manifests: dict[str, dict],
                   rules: dict[str, list[dict]]) -> list[dict]:
    """One entry per signal: its histogram (kept and removed documents) and thresholds."""
    if signals is None or signals.num_rows == 0:
        return []
    config = (manifests.get(SIGNAL_STAGE) or {}).get("config") or {}
    removed = {r["rule"]: r["documents"] for r in rules.get(SIGNAL_STAGE, [])}
    kept_all = pc.equal(signals.column("kind"), "kept").to_numpy(zero_copy_only=False)
    out = []
    for name in signals.column_names:
        if name in ("kind", "reason", "detail"):
            continue
        col = signals.column(name)
        valid = pc.is_valid(col).to_numpy(zero_copy_only=False)
        values = col.to_numpy(zero_copy_only=False)[valid].astype(np.float64)
        finite = np.isfinite(values)
        values, kept = values[finite], kept_all[valid][finite]
        if len(values) == 0:
            continue
        section, settings = signal_settings(name)
        reason = REASONS.get(section, section)
        thresholds = []
        for path, bound, detail in settings:
            value = _setting(config, section, path)
            n = (sum(v for k, v in removed.items() if k.startswith(reason + "/")) if detail == "*"
                 else removed.get(f"{reason}/{detail}", 0))
            thresholds.append({"setting": f"{section}.{'.'.join(map(str, path))}", "bound": bound,
                               "value": value, "removed": n})
        lines = [t["value"] for t in thresholds if t["value"] is not None and math.isfinite(t["value"])]
        out.append({"signal": name, "section": section, "documents": int(len(values)),
                    "kept": int(kept.sum()), "rejected": int((~kept).sum()),
                    "thresholds": thresholds,
                    "histogram": _histogram(values, kept, lines, name in _LOG_SIGNALS)})
    return out


# --- example documents per removal reason -----------------------------------------------

def pick_examples(examples: pa.Table | None, root: str, folders: dict[str, str]) -> dict[str, dict]:
    """stage -> reason -> up to EXAMPLES_PER_REASON examples, distinct rules first, each with
    the ``corpus show`` command that prints it."""
    if examples is None or examples.num_rows == 0:
        return {}
    out: dict[str, dict] = {}
    groups: dict[tuple, list[dict]] = {}
    for row in examples.to_pylist():
        groups.setdefault((row["stage"], row["reason"] or "?"), []).append(row)
    for (stage, reason), rows in groups.items():
        seen: dict[str, int] = {}
        ranked = []
        for i, row in enumerate(rows):  # the n-th example of its rule ranks n-th: variety first
            rule = rule_name(reason, row["detail"])
            ranked.append((seen.get(rule, 0), i, rule, row))
            seen[rule] = seen.get(rule, 0) + 1
        picked = []
        for _, _, rule, row in sorted(ranked, key=lambda x: x[:2])[:EXAMPLES_PER_REASON]:
            directory = f"{root.rstrip('/')}/{folders.get(stage, stage)}"
            picked.append({"id": row["id"], "url": row["url"], "rule": rule, "detail": row["detail"],
                           "value": row["value"], "language": row["language"], "dup_of": row["dup_of"],
                           "snippet": row["snippet"],
                           "command": f"corpus show {shlex.quote(row['id'] or '')} --in {shlex.quote(directory)}"})
        out.setdefault(stage, {})[reason] = picked
    return out


# --- dedup cluster sizes ------------------------------------------------------------------

def cluster_sizes(profile: pa.Table, stage: str = "dedup") -> dict | None:
    """How many clusters of each size (kept document and its removed duplicates together)."""
    t = profile.filter(pc.and_(pc.equal(profile.column("stage"), stage),
                               pc.is_in(profile.column("kind"), pa.array(["kept", "rejected"]))))
    if t.num_rows == 0:
        return None
    c = t.column("cluster").drop_null()
    sizes = np.array(pc.value_counts(c).field("counts").to_pylist() if len(c) else [], dtype=np.int64)
    hist = np.bincount(sizes) if len(sizes) else np.zeros(0, dtype=np.int64)
    return {"documents": t.num_rows, "singletons": t.num_rows - len(c), "clusters": int(len(sizes)),
            "documents_in_clusters": int(sizes.sum()), "largest": int(sizes.max()) if len(sizes) else 0,
            "sizes": [[int(s), int(n)] for s, n in enumerate(hist) if n]}


# --- timings, faults, configuration ---------------------------------------------------------

def timings(manifests: dict[str, dict]) -> list[dict]:
    """Each stage's start, duration and rate, with the finer timings its manifest has."""
    out = []
    for stage, m in manifests.items():
        c = m.get("counts") or {}
        d = m.get("duration_s")
        finer = m.get("timing_s") or m.get("timing") or {}
        reduce_s = ((m.get("dedup") or {}).get("stats") or {}).get("reduce_seconds")
        if reduce_s is not None:
            finer = {**finer, "reduce": reduce_s}
        out.append({"stage": stage, "started": m.get("started"), "duration_s": d,
                    "workers": (m.get("executor") or {}).get("workers"), "in": c.get("in"),
                    "per_second": round(c["in"] / d, 1) if d and c.get("in") else None,
                    "detail": {k: v for k, v in finer.items() if isinstance(v, (int, float))}})
    return out


def faults(manifests: dict[str, dict]) -> list[dict]:
    return [{"stage": f.get("stage", stage), "file": f.get("file"), "offset": f.get("offset"),
             "message": f.get("message")}
            for stage, m in manifests.items() for f in (m.get("faults") or [])]


def run_config(manifests: dict[str, dict]) -> dict:
    """Each stage's settings as its manifest recorded them, and the library versions."""
    out = {"stages": {}, "versions": {}}
    for stage, m in manifests.items():
        inputs = m.get("inputs") or []
        out["stages"][stage] = {"fingerprint": m.get("fingerprint"), "command": m.get("command"),
                                "executor": m.get("executor"), "config": m.get("config"),
                                "inputs": inputs[:20] + ([f"... {len(inputs) - 20} more"] if len(inputs) > 20 else [])}
        out["versions"] = out["versions"] or m.get("versions") or {}
    return out
