"""Show one document by id, from any stage directory; --raw re-reads its original WARC record.

    corpus show ID --in out/sample/extract          the row (kept or rejected) and its text
    corpus show ID --in out/sample/filter --raw     the WARC headers, HTTP headers and HTML

The raw record comes from the row's provenance (``source``, ``offset``, ``length``):
one ranged read of the file or URL, so it works on remote crawls without downloading them.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq

from .crawl.inputs import InputError, read_range
from .crawl.records import RecordError, decode_html, parse_http, parse_warc, payload
from .crawl.split import read_record_bytes
from contract.layout import REJECTED


def add_arguments(p) -> None:
    p.add_argument("id", help="document id (the UUID of its WARC-Record-ID)")
    p.add_argument("--in", dest="directory", required=True,
                   help="a stage directory (e.g. out/sample/extract) or a pipeline output root")
    p.add_argument("--raw", action="store_true",
                   help="print the original WARC record (headers + HTML) instead of the row")
    p.add_argument("--max-chars", type=int, default=0,
                   help="cut the text/HTML after this many characters (0 = all)")


def find_row(directory: str | Path, doc_id: str) -> tuple[dict, Path] | None:
    """The row with ``id`` in a stage dir (its kept parts, then ``rejected/``), or in any
    stage dir below an output root."""
    d = Path(directory)
    dirs = [d, d / REJECTED]
    if not any(d.glob("part-*.parquet")):
        # hidden folders are the runner's (a build in progress, markers): never a result
        dirs += [x for sub in sorted(d.iterdir()) if sub.is_dir() and not sub.name.startswith(".")
                 for x in (sub, sub / REJECTED)] \
            if d.is_dir() else []
    for sub in dirs:
        for part in sorted(sub.glob("part-*.parquet")):
            pf = pq.ParquetFile(part)
            if "id" not in pf.schema_arrow.names:
                continue
            table = pq.read_table(part, filters=[("id", "==", doc_id)])
            if table.num_rows:
                return table.slice(0, 1).to_pylist()[0], part
    return None


def raw_record(source: str, offset: int, length: int) -> bytes:
    """The original record's bytes (WARC headers, HTTP headers, payload), inflated."""
    return read_record_bytes(read_range(source, int(offset), int(length)))


def main(args) -> int:
    found = find_row(args.directory, args.id)
    if found is None:
        print(f"error: no document {args.id!r} under {args.directory}", file=sys.stderr)
        return 1
    row, part = found
    out = sys.stdout
    if args.raw:
        if row.get("source") is None or row.get("offset") is None or not row.get("length"):
            print(f"error: row {args.id} has no provenance (source/offset/length)", file=sys.stderr)
            return 1
        try:
            data = raw_record(row["source"], row["offset"], row["length"])
            rec = parse_warc(row["offset"], row["length"], data)[0]
        except (OSError, InputError, RecordError, EOFError) as err:  # the crawl moved or changed
            print(f"error: cannot re-read {row['source']} at byte {row['offset']}: {err}", file=sys.stderr)
            return 3
        head_end = data.find(b"\r\n\r\n")
        out.write(data[:head_end].decode("utf-8", "replace") + "\n\n")
        resp = parse_http(rec.block)
        if resp is None:
            body = rec.block.decode("utf-8", "replace")
        else:
            http_end = rec.block.find(b"\r\n\r\n")
            out.write(rec.block[:max(http_end, 0)].decode("latin-1") + "\n\n")
            body, _ = decode_html(payload(resp), resp.headers.get("content-type", ""))
        out.write(body[:args.max_chars] if args.max_chars else body)
        out.write("\n")
        return 0
    text = row.pop("text", None)
    out.write(f"# {part}\n")
    for k, v in row.items():
        out.write(f"{k}: {v}\n")
    out.write("\n")
    if text is not None:
        out.write((text[:args.max_chars] if args.max_chars else text) + "\n")
    return 0
