"""`corpus`: the command line of the data toolkit.

    corpus run PIPELINE.yaml                 every registered stage, in order
    corpus STAGE PIPELINE.yaml [flags]       one stage (each registered stage is a command below)
    corpus sample OUT_DIR                    write the embedded sample crawl
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
import sys
import time

from .core import config as cfg
from .core import registry
from .core.manifest import BalanceError
from .core.outdir import OutputBusy, output_lock
from .core.runner import StageError, run_stage
from .crawl.inputs import InputError
from .sample.cli import ensure_sample_crawl

log = logging.getLogger("corpus")

DEFAULT_PIPELINE = "pipelines/sample.yaml"

#: Exit status for an input that matches nothing (always), or when a stage finished but some
#: input could not be read (unless --tolerate-failures).
EXIT_INPUT_FAULTS = 3
#: Exit status for a pipeline file, override or flag that cannot be used (nothing ran).
EXIT_BAD_SETTINGS = 2


def _pipeline_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("pipeline", nargs="?", default=DEFAULT_PIPELINE,
                   help=f"pipeline YAML (default {DEFAULT_PIPELINE}); `stats` also takes an output directory")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="corpus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _pipeline_args(sub.add_parser("run", help="run every corpus stage of a pipeline, in order: "
                                              + ", ".join(registry.names())))
    for name in registry.names():
        _pipeline_args(sub.add_parser(name, help=f"run the {name} stage"))
    # Commands owned by a module register themselves through `add_arguments`.
    for command, module in EXTRA_COMMANDS.items():
        mod = importlib.import_module(module)
        mod.add_arguments(sub.add_parser(command, help=(mod.__doc__ or "").strip().splitlines()[0]))
    return parser


#: Subcommands implemented by one module each: `add_arguments(parser)` and `main(args)`.
EXTRA_COMMANDS = {
    "sample": "corpus.sample.cli",
    "show": "corpus.show",
    "quality-train": "corpus.stages.filter.quality_train",
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


def run_stages(config: dict, names: list[str], force: bool = False, quiet: bool = False) -> list[dict]:
    """Run the named stages in order and return their manifests; the output root stays
    locked for the whole run, so another run cannot slip in between two stages."""
    manifests = []
    with output_lock(config["output"]):
        if any(n == "extract" for n in names):
            ensure_sample(config)
        for name in names:
            stage = registry.stage_class(name)(config)
            manifest = run_stage(stage, force=force, show_progress=not quiet)
            manifest["output_dir"] = str(stage.dir)
            print_summary(manifest)
            manifests.append(manifest)
            if name == "extract" and manifest["counts"]["kept"] == 0:
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
    ensure_sample_crawl(sample)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    if args.command in EXTRA_COMMANDS:
        return importlib.import_module(EXTRA_COMMANDS[args.command]).main(args) or 0
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
    t0 = time.monotonic()
    try:
        manifests = run_stages(config, names, force=args.force, quiet=args.quiet)
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
        print(f"[run] {len(manifests)} stage(s) in {time.monotonic() - t0:.1f}s; output in {config['output']}")
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
