"""Keep pandas out of a corpus process: pyarrow loads it only to ask a question we know the answer to.

The first time pyarrow converts Python lists to Arrow (``pa.array``, ``Table.from_pylist``)
or reads or writes Parquet, it imports pandas (~0.2 CPU-s with what pandas pulls in:
often more than a small stage run itself) only to check whether the values are pandas
objects; its lazy pandas shim and a once-per-process C++ set-up each try the import once.
corpus never hands pandas objects to pyarrow, so :func:`skip_pandas_probe` lets those
two first tries fail while ``import pandas`` is blocked; afterwards pyarrow treats values
as plain Python objects and does not try again. An explicit pandas call
(``Table.to_pandas()``) still imports pandas: pyarrow retries the import when pandas is
asked for.

The cost, and why only the stage commands call it: in the same process, pandas objects
given to pyarrow before any explicit pandas call would be read as plain sequences. So
``corpus.cli`` calls it for the stage commands (not ``export``, nor for ``input_format:
hf``, whose ``datasets`` works with pandas), and the process-pool workers do when their
main process did.
"""
from __future__ import annotations

import sys

import pyarrow as pa

_skipped = False


class _BlockPandas:
    """A ``sys.meta_path`` finder under which ``import pandas`` fails."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"{name} is blocked while pyarrow starts", name=name)
        return None


def skip_pandas_probe() -> bool:
    """Make pyarrow's first conversions skip importing pandas; True if done, False if
    pandas is already loaded (then pyarrow may use it, and nothing changes)."""
    global _skipped
    if _skipped:
        return True
    if "pandas" in sys.modules:
        return False
    finder = _BlockPandas()
    sys.meta_path.insert(0, finder)
    try:
        pa.array(["x"])  # the lazy shim and the C++ set-up each try `import pandas` once, here
        pa.array([1])    # (and a number, should another pyarrow version try there)
    finally:
        sys.meta_path.remove(finder)
    _skipped = True
    return True


def pandas_probe_skipped() -> bool:
    """Whether :func:`skip_pandas_probe` took effect in this process (workers follow it)."""
    return _skipped
