"""Read and write the safetensors format without the ``safetensors`` package (a GPU box or a
minimal install may lack it); files are interchangeable with it.

Layout: 8-byte little-endian header length N, then N bytes of JSON
``{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}``
(offsets relative to the data after the header), then the raw little-endian tensor bytes.
Loading never unpickles anything.
"""
from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import torch

_DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL", torch.uint16: "U16", torch.uint32: "U32", torch.uint64: "U64",
}
if hasattr(torch, "float8_e4m3fn"):
    _DTYPES[torch.float8_e4m3fn] = "F8_E4M3"
    _DTYPES[torch.float8_e5m2] = "F8_E5M2"
_FROM_NAME = {v: k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    pass


def _raw_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().to("cpu").contiguous().reshape(-1)
    if t.numel() == 0:
        return b""
    data = t.view(torch.uint8).numpy().tobytes()
    if sys.byteorder != "little" and t.element_size() > 1:
        import numpy as np
        data = np.frombuffer(data, dtype=np.dtype(f">u{t.element_size()}")).astype(f"<u{t.element_size()}").tobytes()
    return data


def save_file(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (name -> tensor) to ``path``. Tensors sharing memory are written once
    per name (the format has no aliasing): callers that tie weights drop the duplicate first."""
    header: dict = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise SafetensorsError("safetensors metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    chunks: list[bytes] = []
    offset = 0
    # larger alignment first, then by name (as the reference writer does): aligned reads
    for name in sorted(tensors, key=lambda n: (-tensors[n].element_size(), n)):
        t = tensors[name]
        if not isinstance(t, torch.Tensor):
            raise SafetensorsError(f"{name!r} is not a tensor")
        if t.dtype not in _DTYPES:
            raise SafetensorsError(f"{name!r}: dtype {t.dtype} has no safetensors name")
        data = _raw_bytes(t)
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for c in chunks:
            f.write(c)


def read_header(path: str | Path) -> tuple[dict, int]:
    """(header dict, byte offset where the data starts)."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise SafetensorsError(f"{path}: file too short for a safetensors header (offset 0)")
        (n,) = struct.unpack("<Q", raw)
        if n > _MAX_HEADER:
            raise SafetensorsError(f"{path}: header length {n} at offset 0 is implausible")
        head = f.read(n)
    if len(head) != n:
        raise SafetensorsError(f"{path}: header truncated (wanted {n} bytes at offset 8)")
    try:
        header = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header at offset 8 is not JSON: {e}") from None
    return header, 8 + n


def load_file(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    header, start = read_header(path)
    data = Path(path).read_bytes()[start:]
    out: dict[str, torch.Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _FROM_NAME[info["dtype"]]
            begin, end = info["data_offsets"]
            shape = [int(s) for s in info["shape"]]
        except (KeyError, TypeError, ValueError) as e:
            raise SafetensorsError(f"{path}: bad header entry for {name!r}: {e}") from None
        numel = 1
        for s in shape:
            numel *= s
        itemsize = torch.empty((), dtype=dtype).element_size()
        if not (0 <= begin <= end <= len(data)) or end - begin != numel * itemsize:
            raise SafetensorsError(f"{path}: tensor {name!r} has data_offsets {begin}..{end} that do not "
                                   f"match shape {shape} x {itemsize} bytes or the file size "
                                   f"(data starts at byte {start})")
        buf = bytearray(data[begin:end])
        if numel == 0:
            t = torch.empty(shape, dtype=dtype)
        else:
            if sys.byteorder != "little" and itemsize > 1:
                import numpy as np
                buf = bytearray(np.frombuffer(buf, dtype=f"<u{itemsize}").astype(f"=u{itemsize}").tobytes())
            t = torch.frombuffer(buf, dtype=torch.uint8).view(dtype).reshape(shape)
        out[name] = t.to(device)
    return out


def load_metadata(path: str | Path) -> dict[str, str]:
    return dict(read_header(path)[0].get("__metadata__") or {})
