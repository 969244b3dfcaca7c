"""The filter stage: language id, URL blocklists, Gopher / C4 / FineWeb heuristics, an
optional fastText quality classifier and PII masking, over the extract stage's parts.

One task per input part. Documents are read in record batches; the language of the
whole batch is predicted in one fastText call; the heuristics then run per document
(each filter stops at its first tripped rule in ``drop`` mode). Kept documents get
``language``, ``language_score`` and the measured signals as columns; removed ones go to
``rejected/`` with ``reason`` (the filter), ``reason_detail`` (the rule) and
``reason_value`` (the value that tripped it). ``mode: annotate`` keeps every document
and writes the would-be reason as ``filter_reason``, ``filter_reason_detail``,
``filter_reason_value`` and ``filter_reasons`` instead (RedPajama-v2 style): prefixed, so
a later stage's own ``reason`` columns (dedup's rejected rows) never collide with them.

Order, as FineWeb's pipeline: URL blocklist, language, Gopher repetition, Gopher
quality, C4 (which also removes lines), FineWeb, quality classifier; then PII masking.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ...core.parts import iter_batches, list_parts, rejected_schema
from ...core.runner import Stage, Task, TaskOutput
from ...core.settings import INPUT_STAGE, Section, boolean, integer, one_of
from . import langid
from .base import Doc, Filter
from .c4 import C4Quality
from .fineweb import FineWebQuality
from .gopher import GopherQuality, GopherRepetition
from .pii import SCHEMA as PII_SCHEMA, PiiMasker
from .quality import QualityClassifier
from .urls import UrlBlocklist
from contract.layout import REJECTED

#: The heuristic chain, in the order documents meet it.
CHAIN = [UrlBlocklist, langid.LanguageFilter, GopherRepetition, GopherQuality, C4Quality,
         FineWebQuality]

#: ``stages.filter``: the stage's own keys, then one block per filter (declared by each).
SCHEMA = Section({
    "mode": one_of("drop", ("drop", "annotate")),
    "partition_by_language": boolean(False),
    "signals": boolean(True),
    "batch_size": integer(512, 1),
    "input_stage": INPUT_STAGE,
    **{f.name: f.schema for f in CHAIN},
    QualityClassifier.name: QualityClassifier.schema,
    "pii": PII_SCHEMA,  # mask e-mails, phone numbers, public IPs
})


class FilterSettings:
    """The stage's parameters, checked against its schema (unknown keys and bad values
    fail before any work, naming the dotted key)."""

    def __init__(self, params: dict):
        SCHEMA.check(params, "stages.filter")
        self.mode = params.get("mode", "drop")
        self.partition = bool(params.get("partition_by_language", False))
        self.batch_size = int(params.get("batch_size", 512))
        self.signals = bool(params.get("signals", True))
        self.chain: list[Filter] = [cls(params.get(cls.name)) for cls in CHAIN]
        self.language = self.chain[1]
        self.quality = QualityClassifier(params.get(QualityClassifier.name))
        self.pii_params = params.get("pii")
        PiiMasker(self.pii_params)  # validate

    @property
    def annotate(self) -> bool:
        return self.mode == "annotate"

    def signal_fields(self) -> list[pa.Field]:
        fields = [pa.field("language", pa.string()), pa.field("language_score", pa.float64())]
        if self.signals:
            for f in [*self.chain, self.quality]:
                if f.enabled:
                    fields += f.signal_fields()
        elif self.quality.enabled:
            fields += self.quality.signal_fields()
        if self.annotate:
            fields += [pa.field("filter_reason", pa.string()),
                       pa.field("filter_reason_value", pa.float64()),
                       pa.field("filter_reason_detail", pa.string()),
                       pa.field("filter_reasons", pa.list_(pa.string()))]
        return fields


class FilterStage(Stage):
    name = "filter"
    folder = "filter"
    upstream = "extract"
    schema = SCHEMA
    owns = ("language=*/part-*.parquet",)
    driver_reads = ()  # a URL output's driver never fetches the parts (the tasks write them)

    def __init__(self, config: dict):
        super().__init__(config)
        self.settings = FilterSettings(self.params)
        self.quality_cutoff: float | None = None

    def fingerprint_source(self):
        """Also the content of the files the filters read (blocklists, classifier model):
        editing a blocklist makes the existing parts stale."""
        src = super().fingerprint_source()
        files = {}
        url = self.settings.chain[0].p
        paths = [url.get("domains_file"), url.get("substrings_file"), self.settings.quality.p["model"]]
        for item in paths:
            for path in ([item] if isinstance(item, (str, Path)) else item or []):
                p = Path(path)
                files[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        src["files"] = files
        return src

    def tasks(self) -> list[Task]:
        src = self.input_dir()
        parts = list_parts(src)
        if not parts:
            raise FileNotFoundError(f"filter: no input parts in {src} (run the extract stage first)")
        return [Task(p.stem, {"path": str(p)}) for p in parts]

    def prepare(self, run) -> None:
        """With ``quality_classifier.top_fraction``: score every document that passes the
        heuristics, in a map over the parts, and set the global cut-off."""
        q = self.settings.quality
        if not (q.enabled and q.p["top_fraction"]):
            return
        parts = [t.payload["path"] for t in self.tasks()]
        scores = run.map(survivor_scores, [(self, p) for p in parts], label="filter: quality scores")
        allv = np.concatenate([np.asarray(s, dtype=float) for s in scores]) if scores else np.zeros(0)
        frac = float(q.p["top_fraction"])
        self.quality_cutoff = float(np.quantile(allv, 1.0 - frac)) if len(allv) else 1.0

    def process(self, task: Task, out: TaskOutput) -> dict:
        return run_part(self, Path(task.payload["path"]), out)

    def finish(self, run, results: list[dict]) -> dict:
        extra: dict = {"mode": self.settings.mode}
        langs_in: dict[str, int] = {}
        langs_kept: dict[str, int] = {}
        rules: dict[str, int] = {}
        pii: dict[str, int] = {}
        timing: dict[str, float] = {}
        lines_removed = 0
        for res in results:
            e = res.get("extra") or {}
            for src, dst in ((e.get("languages_in"), langs_in), (e.get("languages_kept"), langs_kept),
                             (e.get("rules"), rules), (e.get("pii"), pii)):
                for k, v in (src or {}).items():
                    dst[k] = dst.get(k, 0) + v
            for k, v in (e.get("timing_s") or {}).items():
                timing[k] = round(timing.get(k, 0.0) + v, 3)
            lines_removed += int(e.get("c4_lines_removed", 0))
        order = lambda d: dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))  # noqa: E731
        extra.update(languages_in=order(langs_in), languages_kept=order(langs_kept),
                     rules=order(rules), c4_lines_removed=lines_removed, timing_s=timing)
        if self.settings.pii_params and PiiMasker(self.settings.pii_params).enabled:
            extra["pii"] = pii
        if self.quality_cutoff is not None:
            extra["quality_cutoff"] = self.quality_cutoff
        top = ", ".join(f"{k} {v:,}" for k, v in list(order(langs_kept).items())[:6])
        extra["summary"] = f"kept languages: {top or 'none'}"
        if extra.get("pii"):
            extra["summary"] += " | PII masked: " + ", ".join(f"{k} {v:,}" for k, v in pii.items())
        return extra


def output_schema(settings: FilterSettings, upstream: pa.Schema) -> pa.Schema:
    """Upstream columns (all kept) plus the language and signal columns."""
    added = settings.signal_fields()
    names = {f.name for f in added}
    fields = [f for f in upstream if f.name not in names] + added
    return pa.schema(fields)


def evaluate(settings: FilterSettings, docs: list[Doc], timing: dict, quality_cutoff=None):
    """Run the chain over ``docs``; returns (signals, trips) per document, where trips is
    a list of ``(reason, rule, value)`` (only the first in drop mode)."""
    full = settings.annotate
    sigs: list[dict] = []
    trips: list[list[tuple]] = []
    for doc in docs:
        sig: dict = {}
        trips.append(_run_chain(settings.chain, doc, sig, full, timing))
        sigs.append(sig)
    if settings.quality.enabled:
        _score_quality(settings.quality, docs, sigs, trips, full, timing, quality_cutoff)
    return sigs, trips


def _run_chain(chain: list[Filter], doc: Doc, sig: dict, full: bool, timing: dict) -> list[tuple]:
    """One document through the heuristics, timing each; stops at the first trip unless ``full``."""
    clock = time.process_time
    tripped: list[tuple] = []
    for f in chain:
        if not f.applies_to(doc):
            continue
        t0 = clock()
        t = f.check(doc, sig, full)
        timing[f.name] = timing.get(f.name, 0.0) + clock() - t0
        if t is not None:
            tripped.append((f.reason, t[0], float(t[1])))
            if not full:
                break
    return tripped


def _score_quality(q: QualityClassifier, docs: list[Doc], sigs: list[dict], trips: list[list],
                   full: bool, timing: dict, quality_cutoff) -> None:
    """The classifier runs last, on the survivors only (all documents when ``full``): one batch call."""
    t0 = time.process_time()
    idx = [i for i, d in enumerate(docs) if full or not trips[i]]
    if idx:
        scores = q.scores([docs[i].text for i in idx])
        cut = quality_cutoff if quality_cutoff is not None else q.p["threshold"]
        for i, s in zip(idx, scores):
            sigs[i]["quality_score"] = float(s)
            if cut is not None and s < cut and (full or not trips[i]):
                trips[i].append((q.reason, "score", float(s)))
    timing[q.name] = timing.get(q.name, 0.0) + time.process_time() - t0


def _docs_for_batch(settings: FilterSettings, batch: pa.RecordBatch, timing: dict):
    texts = batch.column("text").to_pylist()
    urls = batch.column("url").to_pylist() if "url" in batch.schema.names else [""] * len(texts)
    t0 = time.process_time()
    lp = settings.language.p
    langs, scores = langid.predict(texts, lp["model"], lp["max_chars"])
    timing["langid"] = timing.get("langid", 0.0) + time.process_time() - t0
    docs = [Doc(t or "", u or "", lg, s) for t, u, lg, s in zip(texts, urls, langs, scores)]
    return texts, docs


def survivor_scores(stage: FilterStage, path: str) -> list[float]:
    """Quality scores of the documents of one part that pass the heuristics (for top_fraction)."""
    settings = stage.settings
    q = settings.quality
    timing: dict = {}
    out: list[float] = []
    for batch in iter_batches(path, batch_size=settings.batch_size):
        _, docs = _docs_for_batch(settings, batch, timing)
        keep = []
        for doc in docs:
            if not any(f.applies_to(doc) and f.check(doc, {}, False) for f in settings.chain):
                keep.append(doc.text)
        out.extend(float(s) for s in q.scores(keep))
    return out


@dataclass
class _Tally:
    """One part's manifest counts, gathered batch by batch."""

    counts: dict = field(default_factory=lambda: {"in": 0, "kept": 0, "rejected": {}, "errors": {}})
    langs_in: dict = field(default_factory=dict)
    langs_kept: dict = field(default_factory=dict)
    rules: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    lines_removed: int = 0

    def result(self, pii: PiiMasker) -> dict:
        """The task's counts, with the filter's own figures under ``extra``."""
        self.counts["extra"] = {"languages_in": self.langs_in, "languages_kept": self.langs_kept,
                                "rules": self.rules, "c4_lines_removed": self.lines_removed,
                                "timing_s": {k: round(v, 4) for k, v in self.timing.items()}}
        if pii.enabled:
            self.counts["extra"]["pii"] = dict(pii.counts)
        return self.counts


def run_part(stage: FilterStage, path: Path, out: TaskOutput) -> dict:
    """Filter one input part into its kept and rejected parts; returns the task's counts."""
    settings = stage.settings
    schema = output_schema(settings, _upstream_schema(path))
    rej_schema = rejected_schema(schema)
    added = settings.signal_fields()
    pii = PiiMasker(settings.pii_params)
    tally = _Tally()
    if not settings.partition:
        out.writer(schema, "")
    if not settings.annotate:
        out.writer(rej_schema, REJECTED)
    t_io = time.process_time()
    io_s = 0.0
    for batch in iter_batches(path, batch_size=settings.batch_size):
        io_s += time.process_time() - t_io
        texts, docs = _docs_for_batch(settings, batch, tally.timing)
        sigs, trips = evaluate(settings, docs, tally.timing, stage.quality_cutoff)
        t_io = time.process_time()
        new_text = _output_texts(settings, pii, tally, docs, texts, trips, sigs)
        table = _with_columns(batch, _columns(added, docs, trips, sigs, new_text))
        _write_batch(settings, out, schema, rej_schema, table, trips, tally)
        io_s += time.process_time() - t_io
        t_io = time.process_time()
    tally.timing["io_and_assembly"] = io_s
    return tally.result(pii)


def _upstream_schema(path: Path) -> pa.Schema:
    """The input part's schema; a part that is not an extract part fails the task clearly."""
    try:
        upstream = pq.ParquetFile(path).schema_arrow
    except (pa.ArrowException, OSError) as err:
        raise ValueError(f"{path}: not a readable Parquet part ({err})") from err
    if "text" not in upstream.names:
        raise ValueError(f"{path}: no 'text' column (is this an extract stage part?)")
    return upstream


def _output_texts(settings: FilterSettings, pii: PiiMasker, tally: _Tally, docs: list[Doc],
                  texts: list, trips: list, sigs: list) -> list[str]:
    """Each document's text as written (PII masked), counting languages, rules and lines in."""
    tally.counts["in"] += len(docs)
    new_text = []
    for doc, orig, tr, sig in zip(docs, texts, trips, sigs):
        tally.lines_removed += int(sig.get("c4_lines_removed") or 0)
        lang = doc.language or "none"
        tally.langs_in[lang] = tally.langs_in.get(lang, 0) + 1
        if tr:
            rule = f"{tr[0][0]}/{tr[0][1]}"
            tally.rules[rule] = tally.rules.get(rule, 0) + 1
        # Kept documents carry their cleaned text; annotated and rejected ones the original.
        text = doc.text if (not tr and not settings.annotate) else (orig or "")
        new_text.append(pii.mask(text) if pii.enabled else text)
    return new_text


def _columns(added: list[pa.Field], docs: list[Doc], trips: list, sigs: list,
             new_text: list[str]) -> dict[str, pa.Array]:
    """The columns the filter adds or replaces: text, language, signals, annotations."""
    cols = {"text": pa.array(new_text, pa.string()),
            "language": pa.array([d.language for d in docs], pa.string()),
            "language_score": pa.array([d.language_score for d in docs], pa.float64())}
    first = {"filter_reason": 0, "filter_reason_detail": 1, "filter_reason_value": 2}
    for f in added:
        if f.name in cols:
            continue
        if f.name in first:
            k = first[f.name]
            cols[f.name] = pa.array([t[0][k] if t else None for t in trips], f.type)
        elif f.name == "filter_reasons":
            cols[f.name] = pa.array([[f"{r}/{d}" for r, d, _ in t] for t in trips], f.type)
        else:
            cols[f.name] = pa.array([s.get(f.name) for s in sigs], f.type)
    return cols


def _with_columns(batch: pa.RecordBatch, cols: dict[str, pa.Array]) -> pa.Table:
    """The batch as a table, each of ``cols`` replacing its namesake or appended."""
    table = pa.Table.from_batches([batch])
    for name, arr in cols.items():
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, arr) if i >= 0 else table.append_column(name, arr)
    return table


def _write_batch(settings: FilterSettings, out: TaskOutput, schema: pa.Schema,
                 rej_schema: pa.Schema, table: pa.Table, trips: list, tally: _Tally) -> None:
    """Kept rows to the part (or its language folders), removed ones to ``rejected/``."""
    if settings.annotate:
        kept_mask = np.ones(table.num_rows, dtype=bool)
    else:
        kept_mask = np.array([not t for t in trips], dtype=bool)
    kept = table.filter(pa.array(kept_mask))
    tally.counts["kept"] += kept.num_rows
    for lang in kept.column("language").to_pylist():
        tally.langs_kept[lang or "none"] = tally.langs_kept.get(lang or "none", 0) + 1
    if settings.partition:
        import pyarrow.compute as pc  # heavy: ~45 ms; every command imports this module for the settings check

        for lang in sorted(set(kept.column("language").to_pylist())):
            part = kept.filter(pc.equal(kept.column("language"), lang))
            out.writer(schema, f"language={lang or 'none'}").write_table(part)
    elif kept.num_rows:
        out.writer(schema, "").write_table(kept)
    if not settings.annotate and not kept_mask.all():
        _write_rejected(out, rej_schema, table, trips, np.flatnonzero(~kept_mask), tally.counts)


def _write_rejected(out: TaskOutput, rej_schema: pa.Schema, table: pa.Table, trips: list,
                    rej_idx: np.ndarray, counts: dict) -> None:
    """The removed rows with the first tripped filter, rule and value; counted by filter."""
    rej = table.take(pa.array(rej_idx))
    first = [trips[i][0] for i in rej_idx]
    rej = rej.append_column("reason", pa.array([t[0] for t in first], pa.string()))
    rej = rej.append_column("reason_value", pa.array([t[2] for t in first], pa.float64()))
    rej = rej.append_column("reason_detail", pa.array([t[1] for t in first], pa.string()))
    out.writer(rej_schema, REJECTED).write_table(rej)
    for t in first:
        counts["rejected"][t[0]] = counts["rejected"].get(t[0], 0) + 1
