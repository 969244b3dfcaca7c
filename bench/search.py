"""Search benchmark (not a test): ``train/search_eval.py`` as a script, the same arguments.

    .venv/bin/python bench/search.py PIPELINE.yaml|CKPT --truth truth.json [--index PATH]
                     [--questions 200] [--unanswerable 100] [--eval-percent 30] [--langs en]
                     [--out FILE]

Exact-answer accuracy on held-out questions with search and with ``--no-tools``, "I don't
know" vs made-up answers on unanswerable ones, each with its standard error (details in
train/search_eval.py; ``make demo`` runs it too, for the report card).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ is not a package: keep its scripts off the import path (none may shadow a library)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from train.search_eval import evaluate, main, report  # noqa: E402,F401  (re-exported)

if __name__ == "__main__":
    sys.exit(main())
