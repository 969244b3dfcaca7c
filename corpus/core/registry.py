"""The corpus stages, in the order ``corpus run`` runs them.

A stage class says who it is (``name``: its CLI verb and its ``stages:`` section;
``folder``; ``upstream``; ``schema``: its settings); this list only says which classes
there are and in what order. The CLI, ``corpus run``, the settings check, the output
folders, stats and the Makefile's targets (checked by a test) all read it. Built-in
stages are named by module path and imported when first needed, so loading one stage
does not load the others' modules.
"""
from __future__ import annotations

import importlib

#: (name, "module:Class") of the built-in stages, in ``corpus run`` order.
BUILTIN = [
    ("extract", "corpus.stages.extract.stage:ExtractStage"),
    ("filter", "corpus.stages.filter.stage:FilterStage"),
    ("dedup", "corpus.stages.dedup:DedupStage"),
    ("index", "corpus.stages.index.stage:IndexStage"),
    ("tokenizer", "corpus.stages.tokenizer:TokenizerStage"),
    ("tokenize", "corpus.stages.tokenize:TokenizeStage"),
    ("stats", "corpus.stages.stats.stage:StatsStage"),
]

_order: list[str] = [name for name, _ in BUILTIN]
_classes: dict[str, str | type] = dict(BUILTIN)


def names() -> list[str]:
    """Every registered stage, in ``corpus run`` order."""
    return list(_order)


def stage_class(name: str) -> type:
    try:
        target = _classes[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; known: {names()}") from None
    if isinstance(target, str):
        module_name, cls_name = target.split(":")
        target = getattr(importlib.import_module(module_name), cls_name)
        if target.name != name:
            raise TypeError(f"{module_name}.{cls_name} calls itself {target.name!r}, "
                            f"registered as {name!r}")
        _classes[name] = target
    return target


def folder(name: str) -> str:
    """The stage's output folder, relative to the pipeline's output."""
    cls = stage_class(name)
    return cls.folder or cls.name


def by_folder(folder_name: str) -> type | None:
    """The stage writing into ``folder_name`` (None: no registered stage does)."""
    for name in _order:
        if folder(name) == folder_name:
            return stage_class(name)
    return None


def register(cls: type, after: str | None = None) -> type:
    """Add a stage: ``corpus <name>``, its ``stages.<name>`` settings and its place in
    ``corpus run``, right after the stage ``after`` (default: last). Which output a
    later stage reads stays that stage's ``input_stage`` setting."""
    name = getattr(cls, "name", "")
    if not name:
        raise ValueError(f"{cls.__name__} has no name")
    if name in _classes:
        raise ValueError(f"a stage named {name!r} is already registered")
    if after is not None and after not in _classes:
        raise KeyError(f"unknown stage {after!r}; known: {names()}")
    _order.insert(len(_order) if after is None else _order.index(after) + 1, name)
    _classes[name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a stage added with :func:`register` (tests clean up with it)."""
    if name in dict(BUILTIN):
        raise ValueError(f"{name!r} is a built-in stage")
    _order.remove(name)
    del _classes[name]
