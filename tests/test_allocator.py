"""train/allocator.py: with the setting a freed 48 MB tensor's pages stay with the process (the
next training step reuses them); without it glibc unmaps them. Each case runs in a fresh
interpreter: malloc settings are per process and cannot be undone."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="the setting is glibc's")

PROBE = r"""
import json, sys
import torch
from train import allocator

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

applied = allocator.keep_freed_memory() if sys.argv[1] == "on" else False
before = rss_mb()
t = torch.empty(48 << 18, dtype=torch.float32).fill_(1.0)   # 48 MB, every page touched
del t
after = rss_mb()
print(json.dumps({"applied": applied, "kept_mb": after - before}))
"""


def probe(mode: str, **env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if not (k.startswith("MALLOC_") and k.endswith("_"))}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True, text=True,
                         env={**base, "PYTHONPATH": str(ROOT), **env}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_freed_tensor_pages_stay_with_the_setting_and_go_without():
    on, off = probe("on"), probe("off")
    assert on["applied"] is True
    assert on["kept_mb"] > 40, on          # freed, but its pages are kept for the next step
    assert off["kept_mb"] < 8, off         # glibc's default: a 48 MB block is mmapped and unmapped


def test_user_malloc_settings_win():
    r = probe("on", MALLOC_TOP_PAD_="0")
    assert r["applied"] is False
    assert r["kept_mb"] < 8, r
