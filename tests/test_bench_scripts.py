"""bench/ scripts run as ``python bench/X.py``, which puts bench/ first on sys.path: a script
named like a module would then replace it for every import in that process (bench/tokenize.py
once replaced the standard library's tokenize, and pandas' import failed in bench/extract.py)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def test_no_bench_script_is_named_like_a_module():
    clashes = []
    for script in sorted(BENCH.glob("*.py")):
        name = script.stem
        spec = importlib.util.find_spec(name) if name not in sys.modules else None
        elsewhere = spec is not None and spec.origin and Path(spec.origin).parent != BENCH
        if name in sys.stdlib_module_names or name in sys.modules or elsewhere:
            clashes.append(script.name)
    assert clashes == []

