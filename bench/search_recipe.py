"""Search recipe benchmark (not a test): train, on the sample, the assistant that looks facts up,
then measure it with bench/search.py.

    .venv/bin/python bench/search_recipe.py [--out bench/out/search] [--fresh]

sample crawl -> corpus stages (index included) -> pretrain (depth 4, 600 steps) -> SFT phase 1:
copy drills -> SFT phase 2: the search mix -> bench/search.py on 200 held-out questions and 100
unanswerable ones. About 30 minutes on one core of a 2-core CPU.

Why two SFT phases. Answering through a search is copying: the query copies the names of the
question, the answer copies a span of the inserted hit. A model this size does not copy out of
the box: trained on search conversations alone it garbles every made-up name ("Daebadrust" ->
"Daebaebaebae...") and answers 0% (bench/RESULTS.md, search). Phase 1 trains only on ``copy``
drills (repeat a string of made-up names, places and numbers; train/sft_data.py): the loss
stays near 3 nats per token for a few hundred steps, then falls below 0.1, the sign that the
attention which copies (an induction head) has formed. Phase 2 is the search mix with
counterfactual conversations (the fact's names and answer swapped for made-up ones, so only
copying, never recall, gives the answer), train/search_data.py; copy drills stay in the mix.
Questions about made-up names get "I don't know" because the search is strict (a name in no
document finds nothing, contract.search).
Pretraining is reused from an earlier run unless ``--fresh``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rl import run, sets   # bench/rl.py: the same way of running a phase with settings

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PIPELINE = ROOT / "pipelines" / "sample.yaml"

PRETRAIN = {"threads": 1, "depth": 4, "max_steps": 600, "max_seconds": None, "eval_every": 300}
COPY_SFT = {"threads": 1, "steps": 2000, "batch_size": 16, "max_seconds": None, "warmup": 10, "log_every": 100,
            "builtin": {"n": 32000, "seed": 1, "mix": {"copy": 1}},
            "samples": ["Repeat after me: the Kelvaraith Bridge in Dunmarsby 1877"]}
SEARCH_SFT = {"threads": 1, "steps": 1500, "batch_size": 4, "max_seconds": None, "log_every": 100,
              "builtin": {"n": 6000, "seed": 0, "arithmetic_levels": [1, 2],
                          "mix": {"greeting": 0.03, "identity": 0.03, "instruction": 0.08, "arithmetic": 0.08,
                                  "unknowable": 0.03, "copy": 0.15, "search": 0.6},
                          "search": {"langs": ["en"], "counterfactual_share": 0.7, "unanswerable_share": 0.4}}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "search"))
    ap.add_argument("--fresh", action="store_true", help="redo the corpus stages and pretraining too")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.fresh and out.exists():
        shutil.rmtree(out)
    copy_out = out / "copy-phase"          # phase 1 has an output of its own: both phases are `train sft`
    for d in (copy_out, out / "train" / "sft"):
        shutil.rmtree(d, ignore_errors=True)
    where = ["--set", f"output={json.dumps(str(out))}"]
    search = dict(SEARCH_SFT["builtin"]["search"], truth=str(out / "crawl" / "truth.json"), index=str(out / "index"))
    search_sft = dict(SEARCH_SFT, builtin=dict(SEARCH_SFT["builtin"], search=search))
    times: dict[str, float] = {}
    times["corpus"] = run([BIN / "corpus", "run", PIPELINE, "--output", out, "--quiet"])
    if (out / "train" / "pretrain" / "latest").exists():
        print(f"reusing the pretrained model in {out / 'train' / 'pretrain'} (--fresh redoes it)")
    else:
        times["pretrain"] = run([BIN / "train", "pretrain", PIPELINE, *where, *sets("pretrain", PRETRAIN)])
    times["sft copy"] = run([BIN / "train", "sft", PIPELINE, "--set", f"output={json.dumps(str(copy_out))}",
                             "--init", out / "train" / "pretrain", *sets("sft", COPY_SFT)])
    times["sft search"] = run([BIN / "train", "sft", PIPELINE, *where, "--init", copy_out / "train" / "sft",
                               *sets("sft", search_sft)])
    t0 = time.monotonic()
    code = subprocess.run([sys.executable, ROOT / "bench" / "search.py", out / "train" / "sft",
                           "--truth", out / "crawl" / "truth.json", "--index", out / "index",
                           "--questions", "200", "--unanswerable", "100",
                           "--out", out / "train" / "search" / "search_eval.json"], cwd=ROOT).returncode
    times["eval"] = time.monotonic() - t0
    print("time: " + ", ".join(f"{k} {v:.0f}s" for k, v in times.items()) + " (shared CPU, timings noisy)")
    return code


if __name__ == "__main__":
    sys.exit(main())
