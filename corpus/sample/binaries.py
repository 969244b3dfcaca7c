"""Small but well-formed non-HTML payloads (PDF, PNG, JPEG) for the crawl's other responses."""
from __future__ import annotations

import functools
import io
import random
import struct
import zlib
from pathlib import Path


def pdf(title: str, lines: list[str]) -> bytes:
    """A one-page PDF 1.4 with a text stream and a correct xref table."""
    def esc(s: str) -> str:
        s = s.encode("latin-1", "replace").decode("latin-1")
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    text = ["BT", "/F1 16 Tf", "72 760 Td", f"({esc(title)}) Tj", "/F1 11 Tf"]
    for ln in lines:
        text += ["0 -18 Td", f"({esc(ln)}) Tj"]
    text.append("ET")
    stream = "\n".join(text).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (" + esc(title).encode("latin-1") + b") /Producer (crawl2tokens sample) >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


def png(rng: random.Random, width: int = 48, height: int = 32) -> bytes:
    """An RGB PNG with a seeded gradient (valid chunks and CRCs)."""
    r0, g0, b0 = rng.randrange(256), rng.randrange(256), rng.randrange(256)
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        for x in range(width):
            raw += bytes(((r0 + 5 * x) % 256, (g0 + 7 * y) % 256, (b0 + x * y) % 256))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b"")


def jpeg(rng: random.Random) -> bytes:
    """One of a few small baseline JPEGs (32x24 gradients in ``jpegs/``), made once with Pillow
    and kept as files so the crawl's bytes do not depend on the installed JPEG library."""
    return rng.choice(_jpegs())


@functools.cache
def _jpegs() -> list[bytes]:
    return [p.read_bytes() for p in sorted(Path(__file__).with_name("jpegs").glob("*.jpg"))]
