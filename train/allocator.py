"""glibc malloc settings for training on the CPU: keep freed memory instead of handing it back.

Why: an eager training step allocates and frees the same large tensors every step (activations,
logits, their gradients: 8-34 MB each for the demo model). glibc serves blocks of 32 MB and more
with a fresh ``mmap`` and unmaps them on ``free``, and trims the top of its heap when it frees
smaller ones, so every step faults in fresh zeroed pages again (~18 ms per 32 MB here, more than
the arithmetic of an element-wise op). Serving blocks up to 64 MB from the heap and never
trimming it lets the next step reuse pages already mapped: +8-15% tokens per CPU-second on the
4-layer model (bench/RESULTS.md). The price: the process keeps its high-water mark of memory,
which a training process reaches every step anyway.

Applied by ``train pretrain``, ``sft`` and ``rl`` on the CPU; no-op on other C libraries, and
when the user set glibc's own ``MALLOC_*`` variables (theirs win).
"""
from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 64 << 20     # blocks below this come from the heap (glibc's default caps at 32 MB)
TRIM_THRESHOLD = 2**31 - 1    # never give the heap's free top back to the kernel
TOP_PAD = 256 << 20           # grow the heap in big steps: fewer brk calls

_applied: bool | None = None


def user_malloc_settings() -> list[str]:
    """glibc settings the user gave through the environment (``MALLOC_*_`` or GLIBC_TUNABLES)."""
    names = [k for k in os.environ if k.startswith("MALLOC_") and k.endswith("_")]
    if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        names.append("GLIBC_TUNABLES")
    return names


def keep_freed_memory() -> bool:
    """Apply the settings above once per process; returns whether they are in force."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or user_malloc_settings():
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = all(mallopt(param, value) == 1 for param, value in
                   ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                    (M_TOP_PAD, TOP_PAD)))
    return _applied
