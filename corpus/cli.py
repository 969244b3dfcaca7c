"""`corpus`: the command line of the data toolkit.

    corpus run PIPELINE.yaml                 every registered stage, in order
    corpus run --sample                      the built-in sample pipeline, into ./out/sample
    corpus STAGE PIPELINE.yaml [flags]       one stage (each registered stage is a command below)
    corpus sample OUT_DIR                    write the embedded sample crawl
    corpus export OUT --format FORMAT        nanogpt | megatron | hf | jsonl | parquet
    corpus setup                             fetch the language-id model the filter needs
    corpus show ID --in DIR [--raw]          one document, or its original WARC record
    corpus search OUT "query" [-k 5]         the index's best hits (after `corpus index`)

Common flags: --input (repeatable), --output, --workers, --executor, --ray-address,
--set key.path=value (any YAML value), --force (redo complete parts).

Exit status: 0 done; 1 a stage failed; 2 a bad setting, or the output folder is in use by
another run (its `.lock` says which; nothing is touched); 3 a bad input (e.g. one inside
the output folder a stage would clear), or input faults without --tolerate-failures.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from pathlib import Path

# A corpus process runs in parallel through worker processes, never through numpy's BLAS.
# Left alone, OpenBLAS starts a thread per core the moment numpy loads (pyarrow loads it),
# in the main process and in every worker: ~0.06 CPU-s each on 2 cores, more with more
# cores. One thread, unless the user chose otherwise (torch, in `train`, uses its own MKL).
# Set before the imports below, the first of which load numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from contract.pipelines import BUILTIN_PIPELINES, pipeline_path  # noqa: F401,E402  (re-exported)

from .core import config as cfg
from .core import registry
from .core.manifest import BalanceError
from .core import executors, fs
from .core.arrow_start import skip_pandas_probe
from .core.outdir import OutputBusy, output_lock
from .core.resources import lid_model_path
from .core.runner import StageError, run_stage
from .crawl import readers
from .crawl.inputs import InputError

log = logging.getLogger("corpus")

#: The pipelines that come with the package (``corpus/pipelines/*.yaml``; ``pipelines/`` in a
#: checkout links there): a name (``sample``) or its old relative path works from any folder.
DEFAULT_PIPELINE = "sample"


#: Exit status for an input that matches nothing (always), or when a stage finished but some
#: input could not be read (unless --tolerate-failures).
EXIT_INPUT_FAULTS = 3
#: Exit status for a pipeline file, override or flag that cannot be used (nothing ran).
EXIT_BAD_SETTINGS = 2


def _pipeline_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("pipeline", nargs="?", default=DEFAULT_PIPELINE,
                   help="pipeline YAML, or the name of a built-in one: "
                        + ", ".join(sorted(f.stem for f in BUILTIN_PIPELINES.glob("*.yaml")))
                        + f" (default {DEFAULT_PIPELINE}); `stats` also takes an output directory")
    p.add_argument("--sample", action="store_true",
                   help="the built-in sample pipeline (its crawl and output under ./out/sample)")
    p.add_argument("--input", action="append", dest="inputs", metavar="PATH_OR_URL",
                   help="input file, glob, URL or Common Crawl paths file (repeatable; replaces the YAML's inputs)")
    p.add_argument("--output", help="output directory (replaces the YAML's output)")
    p.add_argument("--workers", type=int, help="parallel workers (0 = one per core)")
    p.add_argument("--executor", choices=["local", "ray"], help="where tasks run")
    p.add_argument("--ray-address", help="address of an existing Ray cluster (default: start a local one)")
    p.add_argument("--set", action="append", dest="overrides", default=[], metavar="KEY=VALUE",
                   help="override any pipeline value, e.g. --set stages.filter.language.threshold=0.5")
    p.add_argument("--force", action="store_true", help="discard complete parts and redo the stage")
    p.add_argument("--tolerate-failures", action="store_true",
                   help="exit 0 even if some inputs could not be read (they are listed in the manifest)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or log lines")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; given the ``command`` about to run, the modules of the other
    extra commands are not imported (their options are never parsed then)."""
    parser = argparse.ArgumentParser(prog="corpus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _pipeline_args(sub.add_parser("run", help="run every corpus stage of a pipeline, in order: "
                                              + ", ".join(registry.names())))
    for name in registry.names():
        _pipeline_args(sub.add_parser(name, help=f"run the {name} stage"))
    # Commands owned by a module register themselves through `add_arguments`.
    for name, module in EXTRA_COMMANDS.items():
        if command is None or command == name:
            mod = importlib.import_module(module)
            mod.add_arguments(sub.add_parser(name, help=(mod.__doc__ or "").strip().splitlines()[0]))
        else:
            sub.add_parser(name)
    return parser


#: Subcommands implemented by one module each: `add_arguments(parser)` and `main(args)`.
EXTRA_COMMANDS = {
    "sample": "corpus.sample.cli",
    "show": "corpus.show",
    "quality-train": "corpus.stages.filter.quality_train",
    "export": "corpus.export",
    "setup": "corpus.setup",
    "search": "corpus.stages.index.cli",
}


def print_summary(manifest: dict) -> None:
    c = manifest["counts"]
    rejected = ", ".join(f"{k}={v:,}" for k, v in sorted(c["rejected"].items(), key=lambda kv: -kv[1]))
    errors = ", ".join(f"{k}={v:,}" for k, v in sorted(c["errors"].items(), key=lambda kv: -kv[1]))
    print(f"[{manifest['stage']}] in {c['in']:,} -> kept {c['kept']:,}"
          + (f" | rejected: {rejected}" if rejected else "")
          + (f" | errors: {errors}" if errors else "")
          + f" | {manifest['duration_s']:.1f}s")
    if manifest.get("summary"):
        print(f"[{manifest['stage']}] {manifest['summary']}")
    print(f"[{manifest['stage']}] output: {manifest.get('output_dir', '')}")


def run_stages(config: dict, names: list[str], force: bool = False, quiet: bool = False,
               first: list | None = None) -> list[dict]:
    """Run the ``first`` stage objects (the ``read`` step), then the named stages, in order,
    and return their manifests; the output root stays locked for the whole run, so another
    run cannot slip in between two stages."""
    manifests = []
    with output_lock(config["output"]):
        if any(n == "extract" for n in names):
            ensure_sample(config)
        executors.preload_for_stages([type(s) for s in first or []]
                                     + [registry.stage_class(n) for n in names])
        for stage in list(first or []) + names:
            name = stage if isinstance(stage, str) else stage.name
            stage = registry.stage_class(name)(config) if isinstance(stage, str) else stage
            manifest = run_stage(stage, force=force, show_progress=not quiet)
            manifest["output_dir"] = fs.public(str(stage.dir), fs.remote_for(config))
            print_summary(manifest)
            manifests.append(manifest)
            if name in ("extract", "read") and manifest["counts"]["kept"] == 0:
                raise_no_documents(manifest)
    return manifests


def raise_no_documents(manifest: dict) -> None:
    """Not one document came out of the inputs: tolerating corrupt records never means
    accepting no data, and the later stages would only fail on an empty corpus."""
    c = manifest["counts"]
    reasons = ", ".join(f"{k}={v}" for k, v in {**c["rejected"], **c["errors"]}.items())
    faults = manifest.get("faults") or []
    first = f"; first fault: {faults[0].get('message')}" if faults else ""
    raise InputError(f"no document could be extracted from the {len(manifest['inputs'])} input(s) "
                     f"({c['in']} record(s){': ' + reasons if reasons else ''}){first}")


def ensure_sample(config: dict) -> None:
    """A pipeline with a ``sample:`` section generates its embedded crawl when missing."""
    sample = config.get("sample")
    if not sample:
        return
    from .sample.cli import ensure_sample_crawl  # heavy: the generator loads only for a sample pipeline

    ensure_sample_crawl(sample)


def entry_stages(config: dict, command: str, names: list[str],
                 flag_inputs: list[str] | None) -> tuple[list, list[str]]:
    """``([read step], stages from the entry on)`` when documents from outside enter the
    pipeline (corpus/crawl/readers.py), else ``([], names)``. The inputs and their columns
    are checked here, before anything runs (ConfigError: exit 2; InputError: exit 3)."""
    entry = readers.entry_point(config, command, registry.names())
    if entry is None:
        return [], names
    stage, inputs = entry
    config["inputs"] = list(flag_inputs or inputs)
    config.pop("sample", None)
    config["reader"] = readers.READER.read(config.get("reader"), "reader")
    reader = readers.read_stage(config)
    config["entry"] = {"stage": stage, "dir": str(reader.dir)}
    reader.check()
    order = registry.names()
    return [reader], (order[order.index(stage):] if command == "run" else [stage])


def missing_lid_model_ok(config: dict) -> bool:
    """The filter needs the language-id model: without it, one line saying how to get it
    (before anything runs) rather than a failed stage."""
    if ((cfg.stage_params(config, "filter").get("language") or {}).get("model")):
        return True  # a model of the pipeline's own: the filter checks it
    try:
        lid_model_path()
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv and not argv[0].startswith("-") else None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    if args.command in EXTRA_COMMANDS:
        return importlib.import_module(EXTRA_COMMANDS[args.command]).main(args) or 0
    args.pipeline = pipeline_path(DEFAULT_PIPELINE if args.sample else args.pipeline)
    if args.command == "stats":  # takes a pipeline YAML or any output directory
        from .stages.stats.stage import cli_main  # heavy: pyarrow.compute loads only for `stats`
        return cli_main(args)
    try:
        config = cfg.load_pipeline(args.pipeline, args.overrides, inputs=args.inputs,
                                   output=args.output, workers=args.workers,
                                   executor=args.executor, ray_address=args.ray_address)
        cfg.check_output_writable(config["output"])
    except cfg.ConfigError as err:  # one line, no usage text: the message names the key
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    if args.inputs:  # the user named the crawl: don't generate the pipeline's sample one
        config.pop("sample", None)
    names = registry.names() if args.command == "run" else [args.command]
    try:
        first, names = entry_stages(config, args.command, names, args.inputs)
    except cfg.ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INPUT_FAULTS
    if "filter" in names and not missing_lid_model_ok(config):
        return EXIT_INPUT_FAULTS
    if config.get("input_format") != "hf":  # HF datasets works with pandas: leave pyarrow's probe
        skip_pandas_probe()  # pyarrow's first conversion would import pandas (~0.2 CPU-s) for nothing
    t0 = time.monotonic()
    try:
        manifests = run_stages(config, names, force=args.force, quiet=args.quiet, first=first)
    except OutputBusy as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except InputError as err:  # no data is never tolerated: stop before any output is touched
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INPUT_FAULTS
    except (StageError, BalanceError, FileNotFoundError, cfg.ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.command == "run":
        print(f"[run] {len(manifests)} stage(s) in {time.monotonic() - t0:.1f}s; output in {config.get('output_url') or config['output']}")
    faults = [f for m in manifests for f in m.get("faults", [])]
    if faults:
        print(f"warning: {len(faults)} input fault(s); see the manifests' 'faults' lists", file=sys.stderr)
        for f in faults[:5]:
            print(f"  {json.dumps(f)}", file=sys.stderr)
        if not (args.tolerate_failures or config.get("tolerate_failures")):
            return EXIT_INPUT_FAULTS
    return 0


if __name__ == "__main__":
    sys.exit(main())
