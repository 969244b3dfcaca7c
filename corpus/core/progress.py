"""Progress for long work: a bar on a terminal, periodic log lines otherwise (CI, files)."""
from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("corpus")


class Progress:
    """Counts tasks and items; shows items/s and an ETA.

    On a terminal it draws a tqdm bar; elsewhere it logs one line every
    ``log_every`` seconds so a CI log shows the run is alive without flooding it.
    """

    def __init__(self, label: str, total_tasks: int, unit: str = "docs", log_every: float = 10.0,
                 enabled: bool = True):
        self.label = label
        self.total = total_tasks
        self.unit = unit
        self.done = 0
        self.items = 0
        self.start = time.monotonic()
        self.log_every = log_every
        self._last_log = self.start
        self._bar = None
        self.enabled = enabled
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm  # heavy: loaded only when bars are drawn (stderr is a terminal)
            self._bar = tqdm(total=total_tasks, desc=label, unit="part", dynamic_ncols=True,
                             leave=False)

    def update(self, items: int = 0, tasks: int = 1) -> None:
        self.done += tasks
        self.items += items
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.items / elapsed
        if self._bar is not None:
            self._bar.update(tasks)
            self._bar.set_postfix_str(f"{self.items:,} {self.unit}, {rate:,.1f} {self.unit}/s")
            return
        now = time.monotonic()
        if self.enabled and (now - self._last_log >= self.log_every or self.done == self.total):
            self._last_log = now
            eta = (self.total - self.done) * elapsed / self.done if self.done else float("nan")
            log.info("%s: %d/%d parts, %s %s, %.1f %s/s, ETA %.0fs", self.label, self.done,
                     self.total, f"{self.items:,}", self.unit, rate, self.unit, eta)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
