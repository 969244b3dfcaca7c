"""Which class implements each corpus stage (imported lazily: a stage's heavy
dependencies load only when that stage runs)."""
from __future__ import annotations

import importlib
import importlib.util

STAGE_CLASSES = {
    "extract": "corpus.stages.extract.stage:ExtractStage",
    "filter": "corpus.stages.filter.stage:FilterStage",
    "dedup": "corpus.stages.dedup:DedupStage",
    "tokenizer": "corpus.stages.tokenizer:TokenizerStage",
    "tokenize": "corpus.stages.tokenize:TokenizeStage",
    "stats": "corpus.stages.stats.stage:StatsStage",
}


def stage_class(name: str):
    try:
        module_name, cls_name = STAGE_CLASSES[name].split(":")
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; known: {list(STAGE_CLASSES)}") from None
    return getattr(importlib.import_module(module_name), cls_name)


def available(name: str) -> bool:
    """True when the stage's module exists (lets `corpus run` say what is not built yet)."""
    return module_exists(STAGE_CLASSES[name].split(":")[0])


def module_exists(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:  # its parent package does not exist either
        return False
