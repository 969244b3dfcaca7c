"""The extract stage: crawl files (WARC / WET) -> one document per HTML page, the rest accounted for.

Every record ends in exactly one place: a kept document (``part-*.parquet``), or a
row in ``_rejected/`` with a reason (``not_response``, ``revisit``, ``http_status``,
``not_html``, ``too_large``, ``no_text``, ``extract_timeout``, ``prescreen_lang``) or an error
(``read_error``, ``decode_error``, ``extract_error``). Unreadable stretches of a
file are also listed as ``faults`` (file, byte offset, message) in the manifest.
``prescreen_lang``: the extraction cascade (:mod:`.prescreen`) found the page surely in a
language the filter stage drops, so trafilatura never ran on it.

Tasks are byte ranges of files (see :mod:`corpus.crawl.split`), so one big file
keeps every worker busy; the ranges depend on the file size only, so the output is
the same for any worker count and executor.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Iterator

import pyarrow as pa

from ...core.parts import BASE_FIELDS, doc_id_from_record_id, rejected_schema, url_domain
from ...core.runner import Stage, Task, TaskOutput
from ...core.settings import (INPUT_STAGE, Key, Section, fraction, integer, mapping, number, one_of,
                              string)
from ...crawl import inputs as inp
from ...crawl.records import (DecodeError, Record, RecordError, TooLarge, decode_html, is_html,
                              iter_warc, mime_of, parse_date, parse_http, payload)
from ...crawl.split import (CHUNK, Fault, RawRecord, iter_gzip_records, iter_plain_records,
                            plan_ranges, sniff)
from . import extractors, prescreen
from .extractors import EXTRACTORS, TRAFILATURA, ExtractTimeout, timer_available, with_timeout
from contract.layout import REJECTED

DOC_SCHEMA = pa.schema(BASE_FIELDS + [
    pa.field("content_type", pa.string()),
    pa.field("http_status", pa.int32()),
    pa.field("charset", pa.string()),
    pa.field("extractor", pa.string()),
])
REJECTED_SCHEMA = rejected_schema(DOC_SCHEMA)

REJECT_REASONS = ("not_response", "revisit", "http_status", "not_html", "too_large", "no_text",
                  "extract_timeout", "prescreen_lang")
ERROR_REASONS = ("read_error", "decode_error", "extract_error")

#: Imported inside the extractor (the CLI starts without it) yet needed by every job: the
#: forkserver preloads it once (corpus/core/executors.py) instead of each worker.
WORKER_MODULES = ("trafilatura",)

#: Below this a byte range holds a handful of records: more task overhead than work.
MIN_SPLIT_BYTES = 64 << 10


def _split_bytes(v) -> bool:
    return v is None or v == "auto" or (isinstance(v, int) and not isinstance(v, bool)
                                        and v >= MIN_SPLIT_BYTES)


#: ``stages.extract``: extractor, options, time and size limits, ranges.
SCHEMA = Section({
    "extractor": one_of("trafilatura", EXTRACTORS),
    "trafilatura": TRAFILATURA,            # options passed to trafilatura.extract
    "resiliparse": mapping({}),            # options for resiliparse's extract_plain_text
    "timeout_s": number(1.0, 0, lo_open=True, null=True),  # CPU seconds per page (null: none)
    "max_bytes": integer(8 << 20, 1),      # record payload above this -> too_large
    "split_bytes": Key("auto", f"auto or an integer >= {MIN_SPLIT_BYTES} (64 KiB)", _split_bytes),
    "paths_prefix": string(inp.COMMONCRAWL_PREFIX),       # for Common Crawl *.paths.gz lists
    "paths_limit": integer(None, 1, null=True),                # take the first N files of a list
    "http_timeout_s": number(inp.HTTP_TIMEOUT_S, 0, lo_open=True),  # http(s) inputs: connect / silence between reads
    "prescreen": prescreen.MODE,           # the cascade: auto | on | off (prescreen.py)
    "prescreen_threshold": fraction(0.5),  # skip a page whose rendering is another language at >= this
    "input_stage": INPUT_STAGE,
})
DEFAULTS = SCHEMA.defaults()

_EXTRACTOR_CACHE: dict[str, object] = {}
#: Bytes per ranged request when a task reads its part of a remote file.
REMOTE_BLOCK = 8 << 20


def settings(params: dict) -> dict:
    """The stage's parameters over the defaults; mistakes fail here, before any work."""
    SCHEMA.check(params, "stages.extract")
    out = {**DEFAULTS, **params}
    out["prescreen"] = prescreen.MODE.parse(out["prescreen"])
    return out


def _extractor(s: dict):
    """The per-process extractor (built once per worker, not per task)."""
    key = json.dumps([s["extractor"], s.get(s["extractor"]), s["timeout_s"]], sort_keys=True,
                     default=str)
    fn = _EXTRACTOR_CACHE.get(key)
    if fn is None:
        # looked up on the module at call time: a test may substitute its own make_extractor
        fn = with_timeout(extractors.make_extractor(s["extractor"], s.get(s["extractor"])),
                          s["timeout_s"])
        _EXTRACTOR_CACHE[key] = fn
    return fn


class _Prefixed:
    """A stream with bytes already read (for sniffing) put back in front."""

    def __init__(self, head: bytes, fh):
        self.head, self.fh = head, fh

    def read(self, n: int = -1) -> bytes:
        if not self.head:
            return self.fh.read(n)
        if n < 0:
            out, self.head = self.head + self.fh.read(), b""
            return out
        out, self.head = self.head[:n], self.head[n:]
        return out


def _synthetic_id(source: str, offset: int) -> str:
    return hashlib.sha1(f"{source}@{offset}".encode()).hexdigest()


def iter_items(payload: dict, max_bytes: int,
               timeout: float | None = inp.HTTP_TIMEOUT_S) -> Iterator[RawRecord | Fault | Record]:
    """Raw records and faults of one task's byte range (any open/read failure is a fault,
    with its true cause: not found, HTTP status, connection refused, timed out)."""
    src = payload["source"]
    start, end = payload.get("start", 0), payload.get("end")
    if payload.get("error"):  # planning already failed to open it: don't wait on it again
        yield Fault(0, f"cannot open: {payload['error']}", count=False)
        return
    try:
        if not inp.is_remote(src):
            fh = open(inp.local_path(src), "rb")
        elif payload.get("ranged"):  # byte-range reads: this task's range of a remote file
            fh = inp.open_input(src, block_size=REMOTE_BLOCK, timeout=timeout)
        else:
            fh = inp.open_stream(src, timeout=timeout)
    except inp.InputError as err:
        yield Fault(0, f"cannot open: {err.cause}", count=False)
        return
    except Exception as err:
        yield Fault(0, f"cannot open: {inp.describe_error(err, timeout)}", count=False)
        return
    head = bytes.fromhex(payload.get("head") or "")
    try:
        with fh:
            fmt = payload.get("format")
            stream = fh
            if fmt is None:  # remote: sniff the stream's first bytes, then put them back
                head = fh.read(CHUNK)
                fmt = sniff(head)
                stream = _Prefixed(head, fh)
            elif start:
                fh.seek(start)
            if fmt == "empty":
                yield Fault(0, "empty file (0 bytes)", count=False)
            elif fmt == "warc.gz":
                yield from iter_gzip_records(stream, start, end, max_bytes)
            elif fmt == "warc":
                yield from iter_plain_records(stream, max_bytes)
            elif fmt in ("arc", "arc.gz"):
                yield from _iter_arc(stream)
            else:
                yield Fault(0, "not a WARC/ARC file (no gzip member or 'WARC/' header at the start"
                               + (f"; starts with {head[:8]!r}" if head else "") + ")")
    except Exception as err:  # network or disk failure mid-file: a fault, the books still balance
        yield Fault(start or 0, f"read failed: {inp.describe_error(err, timeout)}", count=False)


def _iter_arc(stream) -> Iterator[Record | Fault]:
    """ARC files, through warcio (converted to WARC-like records)."""
    from warcio.archiveiterator import ArchiveIterator  # heavy: loaded only for .arc inputs

    it = ArchiveIterator(stream, arc2warc=True)
    try:
        for rec in it:
            body = rec.content_stream().read()
            http = rec.http_headers.to_bytes() if rec.http_headers else b""
            h = {k.lower(): v for k, v in rec.rec_headers.headers}
            url = h.get("warc-target-uri", "")
            offset = it.get_record_offset()
            # warcio invents random record ids for ARC; ours must be stable across runs
            rid = f"arc:{url} {h.get('warc-date', '')} {offset}"
            yield Record(offset, it.get_record_length(), h.get("warc-type", "response"), rid, url,
                         parse_date(h.get("warc-date", "")), h, http + body)
    except Exception as err:
        yield Fault(it.offset if hasattr(it, "offset") else 0, f"ARC read failed: {err}")


class _Books:
    """Counts, rows and faults of one task."""

    __slots__ = ("src", "docs", "rejected", "n_in", "kept", "rej", "err", "faults")

    def __init__(self, src: str, docs, rejected):
        self.src, self.docs, self.rejected = src, docs, rejected
        self.n_in = self.kept = 0
        self.rej: dict[str, int] = {}
        self.err: dict[str, int] = {}
        self.faults: list[dict] = []

    def reject(self, row: dict, reason: str, value=None, detail=None, error=False) -> None:
        box = self.err if error else self.rej
        box[reason] = box.get(reason, 0) + 1
        row["reason"], row["reason_value"], row["reason_detail"] = reason, value, detail
        row["text"] = None
        self.rejected.write(row)

    def fault(self, f: Fault) -> None:
        self.faults.append({"stage": "extract", "file": self.src, "offset": f.offset,
                            "message": f"{self.src} at byte {f.offset}: {f.message}"})
        if f.count:
            self.n_in += 1
            self.reject({"id": _synthetic_id(self.src, f.offset), "source": self.src,
                         "offset": f.offset}, "read_error", None, f.message, error=True)


def _row(rec: Record, src: str) -> dict:
    return {"id": doc_id_from_record_id(rec.record_id) if rec.record_id else
            _synthetic_id(src, rec.offset),
            "url": rec.url, "domain": url_domain(rec.url), "date": rec.date, "source": src,
            "offset": rec.offset, "length": rec.length}


def _holds_more(first: Record, member_size: int) -> bool:
    """Whether an oversized member holds more than its first record."""
    try:
        clen = int(first.headers.get("content-length", 0))
    except ValueError:
        return False
    return member_size > clen + 64 * 1024  # WARC headers are far below 64 KiB


def handle_record(rec: Record, b: _Books, extract, s: dict) -> None:
    """Route one record to a document or a reason."""
    page = prepare(rec, b, s)
    if page is not None:
        extract_page(page[0], page[1], b, extract, s)


def prepare(rec: Record, b: _Books, s: dict) -> tuple[dict, str] | None:
    """Everything before extraction: ``(row, html)`` for an HTML page to extract; any other
    record is accounted for here (a document, a reason or an error) and gives None."""
    row = _row(rec, b.src)
    kind = rec.warc_type
    if kind == "response":
        if rec.too_large:
            row["content_type"] = None
            return b.reject(row, "too_large", float(rec.size), f"record of {rec.size} bytes > "
                            f"max_bytes {s['max_bytes']}")
        resp = parse_http(rec.block)
        if resp is None:
            row["content_type"] = mime_of(rec.headers.get("content-type", ""))
            return b.reject(row, "not_html", None, "response without an HTTP header")
        ctype = resp.headers.get("content-type", "")
        mime = mime_of(ctype)
        row["content_type"], row["http_status"] = mime, resp.status
        if resp.status != 200:
            return b.reject(row, "http_status", float(resp.status), str(resp.status))
        try:
            body = payload(resp, s["max_bytes"])
        except TooLarge as err:  # a compressed body inflating past the limit: stopped there
            if not is_html(mime, err.head, rec.headers.get("warc-identified-payload-type", "")):
                return b.reject(row, "not_html", None, mime or "(no content type)")
            return b.reject(row, "too_large", float(err.size),
                            f"{err} (max_bytes {s['max_bytes']}; decompression stopped there)")
        except DecodeError as err:
            return b.reject(row, "decode_error", None, str(err), error=True)
        if not is_html(mime, body, rec.headers.get("warc-identified-payload-type", "")):
            return b.reject(row, "not_html", None, mime or "(no content type)")
        if len(body) > s["max_bytes"]:
            return b.reject(row, "too_large", float(len(body)), f"payload of {len(body)} bytes")
        try:
            html, charset = decode_html(body, ctype)
        except DecodeError as err:
            return b.reject(row, "decode_error", None, str(err), error=True)
        row["charset"], row["extractor"] = charset, s["extractor"]
        return row, html
    elif kind == "conversion":  # WET: Common Crawl's own text, taken as-is
        row["content_type"] = mime_of(rec.headers.get("content-type", "")) or "text/plain"
        row["charset"], row["extractor"] = "utf-8", "wet"
        if rec.too_large:
            return b.reject(row, "too_large", float(rec.size), f"record of {rec.size} bytes")
        text = rec.block.decode("utf-8", "replace").strip()
        if not text:
            return b.reject(row, "no_text", None, None)
        row["text"] = text
        b.kept += 1
        b.docs.write(row)
    elif kind == "revisit":
        b.reject(row, "revisit", None, rec.headers.get("warc-profile", "")[-80:] or None)
    else:
        row["content_type"] = mime_of(rec.headers.get("content-type", ""))
        b.reject(row, "not_response", None, kind or "(no WARC-Type)")
    return None


def extract_page(row: dict, html: str, b: _Books, extract, s: dict) -> None:
    """Run the extractor on one decoded HTML page: a document or a reason."""
    try:
        text = extract(html, row["url"])
    except ExtractTimeout:
        return b.reject(row, "extract_timeout", float(s["timeout_s"]),
                        f"no result within {s['timeout_s']} s")
    except Exception as err:
        return b.reject(row, "extract_error", None, f"{type(err).__name__}: {err}"[:500],
                        error=True)
    if not text or not text.strip():
        return b.reject(row, "no_text", None, None)
    row["text"] = text
    b.kept += 1
    b.docs.write(row)


class _Cascade:
    """HTML pages held back until a batch is full, then screened in one fastText call and
    extracted (or rejected as ``prescreen_lang``) in their order."""

    def __init__(self, screen: prescreen.Prescreen, b: _Books, extract, s: dict):
        self.screen, self.b, self.extract, self.s = screen, b, extract, s
        self.pages: list[tuple[dict, str]] = []
        self.chars = 0

    def add(self, page: tuple[dict, str]) -> None:
        self.pages.append(page)
        self.chars += len(page[1])
        if len(self.pages) >= prescreen.BATCH_PAGES or self.chars >= prescreen.BATCH_CHARS:
            self.flush()

    def flush(self) -> None:
        pages, self.pages, self.chars = self.pages, [], 0
        if not pages:
            return
        verdicts = self.screen.verdicts([html for _, html in pages])
        for (row, html), verdict in zip(pages, verdicts):
            try:
                if verdict is None:
                    extract_page(row, html, self.b, self.extract, self.s)
                else:
                    row["extractor"] = None
                    self.b.reject(row, "prescreen_lang", verdict[1], verdict[0])
            except Exception as err:  # as in process(): counted, never lost
                self.b.reject(row, "extract_error", None, f"{type(err).__name__}: {err}"[:500],
                              error=True)


class ExtractStage(Stage):
    name = "extract"
    folder = "extract"
    upstream = None  # the pipeline's inputs
    schema = SCHEMA
    unit = "records"
    driver_reads = ()  # a URL output's driver never fetches the parts (the tasks write them)
    across = staticmethod(prescreen.across)  # checked with the whole pipeline (settings model)

    def __init__(self, config: dict):
        super().__init__(config)
        self.settings = settings(self.params)
        self.prescreen = prescreen.plan(self.config, self.settings["prescreen"],
                                        self.settings["prescreen_threshold"])
        self._sources: list[str] | None = None

    def sources(self) -> list[str]:
        if self._sources is None:
            s = self.settings
            self._sources = inp.resolve_inputs(list(self.config.get("inputs") or []),
                                               s["paths_prefix"], s["paths_limit"],
                                               s["http_timeout_s"])
        return self._sources

    def inputs(self) -> list[str]:
        return self.sources()

    def fingerprint_source(self):
        stamp = []
        for src in self.sources():
            if not inp.is_remote(src) and os.path.exists(inp.local_path(src)):
                st = os.stat(inp.local_path(src))
                stamp.append([src, st.st_size, st.st_mtime_ns])
            else:
                stamp.append([src])
        # how long to wait on a server is no reason to redo finished work
        params = {k: v for k, v in self.settings.items() if k != "http_timeout_s"}
        # the cascade follows the filter's languages: naming others makes the parts stale
        params["prescreen_plan"] = self.prescreen.describe() if self.prescreen else None
        return {"stage": self.name, "params": params, "inputs": stamp}

    def tasks(self) -> list[Task]:
        out: list[Task] = []
        for src in self.sources():
            base = {"source": src}
            if inp.is_remote(src):
                try:
                    probe = inp.probe_ranges(src, CHUNK, self.settings["http_timeout_s"])
                except inp.InputError as err:  # the task reports it as a fault
                    out.append(Task(f"part-{len(out):05d}", {**base, "error": err.cause}))
                    continue
                if probe is None:  # one streamed task (any server works)
                    out.append(Task(f"part-{len(out):05d}", base))
                    continue
                size, head = probe
                base["ranged"] = True
            elif not os.path.isfile(inp.local_path(src)):
                out.append(Task(f"part-{len(out):05d}", base))
                continue
            else:
                size = os.path.getsize(inp.local_path(src))
                with open(inp.local_path(src), "rb") as fh:
                    head = fh.read(CHUNK)
            fmt = sniff(head)
            base.update(format=fmt, size=size)
            if fmt == "unknown":
                base["head"] = head[:16].hex()
            if fmt == "warc.gz":
                for start, end in plan_ranges(size, self.settings["split_bytes"]):
                    out.append(Task(f"part-{len(out):05d}", {**base, "start": start, "end": end}))
            else:
                out.append(Task(f"part-{len(out):05d}", base))
        return out

    def process(self, task: Task, out: TaskOutput) -> dict:
        s = self.settings
        p = task.payload
        extract = _extractor(s)
        b = _Books(p["source"], out.writer(DOC_SCHEMA), out.writer(REJECTED_SCHEMA, REJECTED))
        cascade = _Cascade(self.prescreen, b, extract, s) if self.prescreen else None
        max_bytes = int(s["max_bytes"])
        for item in iter_items(p, max_bytes, s["http_timeout_s"]):
            if isinstance(item, Fault):
                b.fault(item)
                continue
            if isinstance(item, Record):
                records = [item]
            else:
                records = []
                for rec in iter_warc(item.offset, item.length, item.data, item.too_large, item.size):
                    if isinstance(rec, RecordError):
                        b.fault(Fault(item.offset, str(rec)))
                    else:
                        records.append(rec)
                if item.too_large and records and _holds_more(records[0], item.size):
                    b.fault(Fault(item.offset, f"gzip member of {item.size} bytes holds several records "
                                               f"(whole-file gzip?) and exceeds max_bytes; only its "
                                               f"first record is accounted for", count=False))
            for rec in records:
                b.n_in += 1
                page = None
                try:
                    if cascade is None:
                        handle_record(rec, b, extract, s)
                    else:
                        page = prepare(rec, b, s)
                except Exception as err:  # a bug or an oddity we did not foresee: count it
                    b.reject(_row(rec, b.src), "extract_error", None,
                             f"{type(err).__name__}: {err}"[:500], error=True)
                if page is not None:
                    cascade.add(page)
        extra = {"timeout_active": timer_available()}
        if cascade is not None:
            cascade.flush()
            extra["prescreen_renderer"] = self.prescreen.renderer or None
        return {"in": b.n_in, "kept": b.kept, "rejected": b.rej, "errors": b.err,
                "faults": b.faults, "extra": extra}

    def finish(self, run, results: list[dict]) -> dict:
        kept = sum(r.get("kept", 0) for r in results)
        n_in = sum(r.get("in", 0) for r in results)
        faults = sum(len(r.get("faults", [])) for r in results)
        secs = sum(r.get("seconds", 0) for r in results)
        files = len(self.sources())
        screened = sum(r.get("rejected", {}).get("prescreen_lang", 0) for r in results)
        summary = (f"{kept:,} documents from {n_in:,} records in {files} file(s), "
                   f"{len(results)} part(s)" + (f"; {faults} input fault(s)" if faults else "")
                   + (f"; {screened:,} page(s) skipped by the language prescreen" if screened else "")
                   + (f"; {n_in / secs:,.1f} records/s per worker" if secs else ""))
        cascade = None
        if self.prescreen:
            renderers = sorted({r["extra"]["prescreen_renderer"] for r in results
                                if r.get("extra", {}).get("prescreen_renderer")})
            cascade = {**self.prescreen.describe(), "skipped": screened, "renderer": ", ".join(renderers) or None}
        return {"summary": summary,
                "extract": {"files": files, "extractor": self.settings["extractor"],
                            "timeout_active": all(r.get("extra", {}).get("timeout_active", True)
                                                  for r in results),
                            "prescreen": cascade}}
