"""What corpus imports, and when: `corpus --help` stays light, corpus never needs the
training side (train, torch), and each import left inside a function says why it is there."""
from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS_FILES = sorted((ROOT / "corpus").rglob("*.py"))

#: Modules that only some runs need; the CLI must start without them, up to and including
#: the settings check that imports every stage class. (The sample generator, ~60 ms of
#: imports, only for a run of the sample pipeline; pyarrow.compute, ~45 ms, and
#: sentencepiece only in the stages that use them; pandas never: corpus/core/arrow_start.py.)
HEAVY = ("ray", "torch", "trafilatura", "fasttext", "matplotlib", "corpus.sample.generate",
         "pyarrow.compute", "sentencepiece", "pandas")

#: Why an import may stay inside a function (its line carries one of these comments).
REASONS = ("# heavy:", "# cycle:", "# optional:")


def _imports(tree: ast.AST) -> list[tuple[ast.stmt, str]]:
    """Every import statement of a module with the top-level package it names
    (relative imports stay inside corpus)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.append((node, node.module.split(".")[0]))
    return out


def _local_imports(tree: ast.AST) -> list[ast.stmt]:
    """Import statements inside a function body."""
    found: dict[int, ast.stmt] = {}
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found[id(node)] = node
    return list(found.values())


def test_a_stage_command_imports_no_other_commands_module():
    """`corpus extract` builds only what it parses: the modules behind `sample`, `show`,
    `export`... stay unloaded; `corpus --help` still lists every command with its help."""
    extra = sorted(__import__("corpus.cli").cli.EXTRA_COMMANDS.values())
    code = ("import corpus.cli, sys; corpus.cli.build_parser('extract'); "
            f"print(sorted(m for m in {extra!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    helped = subprocess.run([sys.executable, "-m", "corpus.cli", "--help"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    for name in __import__("corpus.cli").cli.EXTRA_COMMANDS:  # listed, with its help line
        assert re.search(rf"^\s+{re.escape(name)}\s+[A-Z]\w+", helped, re.MULTILINE), name


def test_the_cli_keeps_numpy_blas_to_one_thread_unless_told_otherwise():
    """A corpus process parallelises with worker processes: OpenBLAS gets one thread (its
    default pool of a thread per core costs CPU at every numpy import), unless the user set
    OPENBLAS_NUM_THREADS, which wins."""
    import os

    code = "import corpus.cli, os; print(os.environ['OPENBLAS_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    for given, expect in ((None, "1"), ("3", "3")):
        run_env = env if given is None else {**env, "OPENBLAS_NUM_THREADS": given}
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, check=True, env=run_env)
        assert out.stdout.strip() == expect


def test_cli_start_up_loads_no_heavy_module():
    """Importing the CLI, building its parser (which imports every EXTRA_COMMANDS module
    for its arguments) and the settings schema (every stage class) load no HEAVY module."""
    code = ("import corpus.cli, corpus.core.settings, sys; corpus.cli.build_parser(); "
            "corpus.core.settings.schema(); "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_corpus_never_imports_train_or_torch():
    bad = []
    for path in CORPUS_FILES:
        for node, top in _imports(ast.parse(path.read_text(), str(path))):
            if top in ("train", "torch"):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {top}")
    assert bad == []


def test_every_import_inside_a_function_says_why():
    untold = []
    for path in CORPUS_FILES:
        lines = path.read_text().splitlines()
        for node in _local_imports(ast.parse("\n".join(lines), str(path))):
            if not any(r in lines[node.lineno - 1] for r in REASONS):
                untold.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert untold == [], "move these to the top of the module, or say why they stay:\n" + "\n".join(untold)


def test_skip_pandas_probe_keeps_pandas_out_of_parquet_io(tmp_path):
    """After skip_pandas_probe, writing and reading Parquet loads no pandas (pyarrow would,
    ~0.2 CPU-s a process); an explicit to_pandas() still works."""
    if importlib.util.find_spec("pandas") is None:
        pytest.skip("pandas is not installed: nothing to keep out")
    code = ("import sys; from corpus.core.arrow_start import skip_pandas_probe; skip_pandas_probe(); "
            "import pyarrow as pa, pyarrow.parquet as pq; from corpus.core.parts import PartWriter; "
            "w = PartWriter(sys.argv[1], pa.schema([('id', pa.string()), ('n', pa.int64())])); "
            "w.write({'id': 'a', 'n': 1}); w.close(); t = pq.read_table(sys.argv[1]); "
            "print('pandas' in sys.modules, t.to_pandas().shape)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p.parquet")], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False (1, 2)", out.stdout + out.stderr
