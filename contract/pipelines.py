"""The built-in pipelines, found by name from any folder by both commands.

They ship inside the package (``corpus/pipelines/``, installed with every extra, since the
wheel holds all three packages); ``train`` finds them here without importing ``corpus``.
"""
from __future__ import annotations

from pathlib import Path

BUILTIN_PIPELINES = Path(__file__).resolve().parent.parent / "corpus" / "pipelines"


def pipeline_path(arg: str) -> str:
    """``arg`` when it is a file; else the built-in pipeline it names (``sample``,
    ``sample.yaml``, ``pipelines/sample.yaml``), else ``arg`` (the loader names it missing)."""
    if Path(arg).exists():
        return arg
    name = Path(arg).name
    builtin = BUILTIN_PIPELINES / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    if builtin.is_file() and arg in (builtin.stem, builtin.name, f"pipelines/{builtin.name}"):
        return str(builtin)
    return arg
