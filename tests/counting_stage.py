"""A minimal stage used to test the runner itself: each task writes ``rows`` generated
documents, rejecting every third one, and can be told to fail or to lie about counts.
It is a stage like any other: tests register it (:func:`registered`) under its own name,
so its settings live in ``stages.counting`` and are checked as the pipeline loads."""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime, timezone

from corpus.core import registry
from corpus.core.config import load_pipeline
from corpus.core.parts import BASE_SCHEMA, rejected_schema
from corpus.core.runner import Stage, Task
from corpus.core.settings import Key, Section, integer
from contract.layout import REJECTED


def _task_numbers(v) -> bool:
    return isinstance(v, list) and all(isinstance(i, int) and i >= 0 for i in v)


class CountingStage(Stage):
    name = "counting"
    folder = "counting"
    schema = Section({
        "tasks": integer(5, 1),
        "rows": integer(9, 0),
        "fail": Key([], "a list of task numbers", _task_numbers),      # these tasks raise
        "miscount": Key([], "a list of task numbers", _task_numbers),  # these report one too many
    })

    def tasks(self):
        n = int(self.params.get("tasks", 5))
        return [Task(f"part-{i:05d}", {"i": i}) for i in range(n)]

    def process(self, task, out):
        i = task.payload["i"]
        if i in self.params.get("fail", []):
            raise ValueError(f"task {i} was told to fail")
        kept = out.writer(BASE_SCHEMA)
        rejected = out.writer(rejected_schema(BASE_SCHEMA), REJECTED)
        rows = int(self.params.get("rows", 9))
        for j in range(rows):
            row = dict(id=f"doc-{i}-{j}", url=f"https://example.org/{i}/{j}", domain="example.org",
                       date=datetime(2024, 1, 1, tzinfo=timezone.utc), source="generated",
                       offset=j * 100, length=100, text=f"document {j} of part {i}")
            if j % 3 == 0:
                rejected.write({**row, "reason": "every_third", "reason_value": float(j),
                                "reason_detail": None})
            else:
                kept.write(row)
        n_rejected = len(range(0, rows, 3))
        lie = 1 if i in self.params.get("miscount", []) else 0
        return {"in": rows, "kept": rows - n_rejected + lie, "rejected": {"every_third": n_rejected}}


@contextmanager
def registered():
    """CountingStage is a registered stage while the block runs (then the registry is as
    it was, so no other test sees it)."""
    registry.register(CountingStage)
    try:
        yield
    finally:
        registry.unregister(CountingStage.name)


def counting_config(output, workers: int = 1, **params) -> dict:
    """A pipeline whose ``stages.counting`` holds ``params``, checked as it loads."""
    overrides = [f"stages.counting.{k}={json.dumps(v)}" for k, v in params.items()]
    return load_pipeline(None, overrides, output=str(output), workers=workers)
