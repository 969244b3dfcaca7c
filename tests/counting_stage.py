"""A minimal stage used to test the runner itself: each task writes ``rows`` generated
documents, rejecting every third one, and can be told to fail or to lie about counts."""
from __future__ import annotations

from datetime import datetime, timezone

from corpus.core.parts import BASE_SCHEMA, rejected_schema
from corpus.core.runner import Stage, Task


class CountingStage(Stage):
    name = "extract"

    def tasks(self):
        n = int(self.params.get("tasks", 5))
        return [Task(f"part-{i:05d}", {"i": i}) for i in range(n)]

    def process(self, task, out):
        i = task.payload["i"]
        if i in self.params.get("fail", []):
            raise ValueError(f"task {i} was told to fail")
        kept = out.writer(BASE_SCHEMA)
        rejected = out.writer(rejected_schema(BASE_SCHEMA), "rejected")
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
