"""What corpus imports, and when: `corpus --help` stays light, corpus never needs the
training side (train, torch), and each import left inside a function says why it is there."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS_FILES = sorted((ROOT / "corpus").rglob("*.py"))

#: Modules that only some runs need; the CLI must start without them.
#: (The sample generator, ~60 ms of imports, only for a run of the sample pipeline.)
HEAVY = ("ray", "torch", "trafilatura", "fasttext", "matplotlib", "corpus.sample.generate")

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


def test_cli_start_up_loads_no_heavy_module():
    code = ("import corpus.cli, sys; "
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
