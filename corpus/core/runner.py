"""The stage runner: a stage maps input parts to output parts; executors run the parts.

A stage subclasses :class:`Stage` and says three things: which tasks there are
(``tasks``), what one task does (``process``, run in a worker, writing its own
part files through :class:`TaskOutput`), and optionally a global step before
(``prepare``) or after (``finish``) the map. The runner does the rest: skips parts
already complete, commits each part atomically (files first, then a done marker),
shows progress, sums the counts, checks that they balance, writes ``.manifest.json``.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Sequence

import pyarrow as pa

from . import config as cfg
from . import fs, outdir
from contract.atomic import sweep_temporaries
from .parts import SCRATCH_SUFFIX, PartWriter
from .executors import LocalExecutor, make_executor
from .manifest import (add_counts, check_balance, command_line, empty_counts, package_versions,
                       read_manifest, write_json_atomic)
from .progress import Progress
from .settings import Section
from contract.layout import MANIFEST

log = logging.getLogger("corpus")

DONE_DIR = ".parts"


class StageError(RuntimeError):
    """A stage could not finish; parts that did finish are kept for the re-run."""


@dataclass(frozen=True)
class Task:
    """One unit of work. ``id`` names its output part (``part-00007``)."""

    id: str
    payload: dict = field(default_factory=dict)


class TaskOutput:
    """Where a task writes. Files stay temporary until the runner commits the task."""

    def __init__(self, stage_directory: Path, task: Task):
        self.dir = stage_directory
        self.task = task
        self._writers: dict[str, PartWriter] = {}

    def writer(self, schema: pa.Schema, subdir: str = "", scratch: bool = False) -> PartWriter:
        """The Parquet writer for this task's part in ``subdir`` ("" = kept, ``REJECTED``, ...);
        ``scratch``: an intermediate part the stage's ``finish`` reads once and removes, an
        Arrow IPC file (``<task>.arrow``: :func:`corpus.core.parts.read_scratch`)."""
        if subdir not in self._writers:
            path = self.dir / subdir / f"{self.task.id}{SCRATCH_SUFFIX if scratch else '.parquet'}"
            self._writers[subdir] = PartWriter(path, schema, scratch=scratch)
        return self._writers[subdir]

    def commit(self) -> dict[str, int]:
        # the manifest names outputs by kind ("__rejected/" holds the "rejected" rows)
        return {(name or "kept").lstrip("_"): w.close() for name, w in self._writers.items()}

    def abort(self) -> None:
        for w in self._writers.values():
            w.abort()


class Stage:
    """Base class of every corpus stage. Instances are pickled to workers: keep them light
    (configuration only) and load heavy things (models) lazily inside ``process``.

    A subclass says who it is in its class attributes; :mod:`corpus.core.registry` lists
    the classes, and the CLI, ``corpus run``, the settings check and stats read them."""

    name = ""                      # the CLI verb, and its section under ``stages:``
    folder = ""                    # its output folder under the pipeline's output ("": name)
    upstream: str | None = None    # whose output it reads unless ``input_stage`` says (None: inputs)
    schema = Section({})           # its settings (corpus.core.settings)
    owns: tuple[str, ...] = ()     # files it writes besides outdir.COMMON (the rest is not its)
    holds_documents = True         # its parts are documents, kept and __rejected/ (stats counts them)
    #: With a URL output, the data files of its own folder (patterns relative to it) its
    #: driver reads (``prepare``, ``finish``) and so fetches; the rest stays on the store,
    #: where the tasks fetch what they read. Upstream data is never fetched by the driver.
    driver_reads: tuple[str, ...] = ("*",)
    #: Its tasks all write one shared file (the index's SQLite database) and take turns at
    #: its lock. With a URL output they then run one after another in the driver
    #: (:func:`map_executor`): a worker publishes the files that changed under the stage's
    #: folder, and beside another worker's open transaction it would upload a half-written
    #: database (or trip over its vanishing journal); on several machines each would hold
    #: its own copy, and the last upload would win.
    single_writer = False
    unit = "docs"

    def __init__(self, config: dict):
        self.config = config
        self.params = cfg.stage_params(config, self.name)
        self.dir = Path(config["output"]) / (self.folder or self.name)

    # --- what a stage defines -------------------------------------------------------
    def input_dir(self) -> Path | None:
        """The upstream stage's directory (None for a stage reading the raw inputs); the
        ``read`` step's folder for the stage where documents from outside enter."""
        entry = self.config.get("entry") or {}
        if entry.get("stage") == self.name:  # set by the CLI (corpus.crawl.readers.entry_point)
            return Path(entry["dir"])
        upstream = self.params.get("input_stage", self.upstream)
        return cfg.stage_dir(self.config, upstream) if upstream else None

    def inputs(self) -> list[str]:
        """What this stage reads, for the manifest and the fingerprint (URL outputs:
        the runner writes mirror paths as URLs)."""
        d = self.input_dir()
        return [str(d)] if d else list(self.config.get("inputs") or [])

    def tasks(self) -> list[Task]:
        raise NotImplementedError

    def prepare(self, run: "RunContext") -> None:
        """Global work before the map (optional)."""

    def process(self, task: Task, out: TaskOutput) -> dict:
        """Do one task; return its counts: ``{"in", "kept", "rejected": {}, "errors": {}}``
        plus optionally ``"faults"`` (a list of dicts) and ``"extra"`` (anything JSON)."""
        raise NotImplementedError

    def finish(self, run: "RunContext", results: list[dict]) -> dict:
        """Global work after the map; returns extra fields for the manifest (optional)."""
        return {}

    def fingerprint_source(self) -> Any:
        """Everything that, if changed, makes existing parts stale."""
        upstream = None
        d = self.input_dir()
        if d and (d / MANIFEST).exists():
            upstream = json.loads((d / MANIFEST).read_text()).get("fingerprint")
        return {"stage": self.name, "params": self.params, "inputs": self.inputs(),
                "upstream": upstream}


def _done_path(stage_directory: Path, task_id: str) -> Path:
    return stage_directory / DONE_DIR / f"{task_id}.json"


def run_task(stage: Stage, task: Task) -> dict:
    """Run one task in whichever process the executor chose, and commit it.

    The done marker is written last: a part without one is incomplete and is redone.
    With a URL output the task first fetches what it reads (this machine may share no
    disk with the driver), and its files are published by upload, the marker last.
    """
    remote = fs.remote_for(stage.config)
    if remote is None:
        return _run_task(stage, task)
    prefix = remote.rel(stage.dir)
    fs.hydrate(remote, task, task.id, prefix)
    before = fs.snapshot(remote.mirror, prefix)
    result = _run_task(stage, task, remote)
    fs.publish_new(remote, before, prefix)
    return result


def _run_task(stage: Stage, task: Task, remote: "fs.Remote | None" = None) -> dict:
    start = time.monotonic()
    attempt = _start_attempt(stage, task, remote)
    _block_once_hook()
    out = TaskOutput(stage.dir, task)
    try:
        result = stage.process(task, out)
    except BaseException:
        out.abort()
        raise
    result = dict(result)
    result["outputs"] = out.commit()
    result["task"] = task.id
    result["seconds"] = round(time.monotonic() - start, 3)
    for key in ("rejected", "errors"):
        result.setdefault(key, {})
    if attempt > 1:
        result["attempt"] = attempt
    check_balance(result, f"{stage.name} {task.id}")
    write_json_atomic(_done_path(stage.dir, task.id), result)
    _kill_hook()
    return result


def _start_attempt(stage: Stage, task: Task, remote: "fs.Remote | None") -> int:
    """On Ray (which retries a task whose worker died) count this task's attempts with a
    marker each, ``.parts/<task>.attempt-N``: the manifest then says how many retries
    the stage cost. 0 elsewhere (no marker is written)."""
    if (stage.config.get("executor") or {}).get("type") != "ray":
        return 0
    done = stage.dir / DONE_DIR
    stem = f"{task.id}.attempt-"
    if remote is not None:
        names = [PurePosixPath(r).name for r in remote.listing(remote.rel(done))]
    else:
        names = [p.name for p in done.glob(stem + "*")]
    attempt = 1 + sum(1 for n in names if n.startswith(stem))
    marker = done / f"{stem}{attempt}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    if remote is not None:
        remote.upload([remote.rel(marker)])
    return attempt


def _forget_attempts(stage_dir: Path, pending: list[Task]) -> None:
    """Remove the attempt markers of the tasks this run is about to (re)do: an interrupted
    run's attempts are not this run's retries (a resumed run would count them otherwise).
    With a URL output the driver holds the markers (small files) and the push before the
    tasks start removes them from the store too."""
    ids = {t.id for t in pending}
    for p in (stage_dir / DONE_DIR).glob("*.attempt-*"):
        if p.name.split(".attempt-")[0] in ids:
            p.unlink()


#: Test hook: when set (to a directory), the first task to start (of any run using that
#: directory) writes its pid to ``<dir>/blocked`` and then blocks until its process is
#: killed; every other task, its retry included, runs normally.
BLOCK_ONE_TASK = "CORPUS_TEST_BLOCK_ONE_TASK"


def _block_once_hook() -> None:
    block_dir = os.environ.get(BLOCK_ONE_TASK)
    if not block_dir:
        return
    try:
        fd = os.open(os.path.join(block_dir, "blocked"), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    threading.Event().wait()


#: Test hook: with CRAWL2TOKENS_KILL_AFTER_PARTS=N set, a process that has just committed its
#: N-th part kills its run with SIGKILL, at a known point instead of a race with a timer.
KILL_AFTER_PARTS = "CRAWL2TOKENS_KILL_AFTER_PARTS"
_parts_committed = 0


def _kill_hook() -> None:
    """Kill -9 the whole process group (main process and workers) if it leads its own session
    (``start_new_session``), else this process only: never the shell that started it."""
    global _parts_committed
    limit = os.environ.get(KILL_AFTER_PARTS)
    if not limit:
        return
    _parts_committed += 1
    if _parts_committed >= int(limit):
        if os.getsid(0) == os.getpgrp():
            os.killpg(os.getpgrp(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)


def _call_task(stage: Stage, task: Task) -> dict:
    """Run a task; a failure comes back as a record so the other tasks carry on."""
    try:
        return run_task(stage, task)
    except Exception as err:
        return {"_failed": f"{stage.name} {task.id} failed: {type(err).__name__}: {err}",
                "_traceback": traceback.format_exc()}


class RunContext:
    """What ``prepare`` and ``finish`` get: the executor, for their own maps."""

    def __init__(self, stage: Stage, executor, show_progress: bool = True):
        self.stage = stage
        self.executor = executor
        self.show_progress = show_progress

    def map(self, fn: Callable, items: Sequence[tuple], label: str = "", unit: str = "parts",
            count: Callable[[Any], int] | None = None) -> list:
        """Run ``fn(*args)`` for every args tuple; results in input order. With a URL
        output, the driver publishes its files first, each call fetches its inputs and
        publishes what it wrote, and the driver fetches the results after."""
        remote = fs.remote_for(self.stage.config)
        if remote is not None:
            prefix = remote.rel(self.stage.dir)
            items = [(remote, prefix, fn, *args) for args in items]
            fn = fs.call_with_remote
            remote.push()
        try:
            return self._map(fn, items, label, unit, count)
        finally:
            if remote is not None:
                _hold(self.stage, self.stage.dir)

    def _map(self, fn, items, label, unit, count) -> list:
        results: list = [None] * len(items)
        bar = Progress(label or self.stage.name, len(items), unit=unit, enabled=self.show_progress)
        try:
            for i, res in self.executor.map(fn, list(items)):
                results[i] = res
                bar.update(count(res) if count else 0)
        finally:
            bar.close()
        return results


def run_stage(stage: Stage, force: bool = False, show_progress: bool = True,
              executor=None) -> dict:
    """Run (or resume) one stage; returns its manifest.

    A complete earlier output stays in place until the new one is complete: a run with
    other settings, or ``force``, builds in a hidden staging folder beside it (resumed
    like any run when killed) and swaps it in at the end. Only files the project wrote
    are ever removed, and an input inside the output folder is refused.
    """
    final = stage.dir
    staging = outdir.staging_dir(final)
    remote = fs.remote_for(stage.config)
    if remote is not None:  # e.g. a sample crawl just written: the inputs may be read from the URL
        with outdir.output_lock(final.parent):
            remote.push()
    outdir.check_inputs_outside(stage.name, stage.inputs(), [final, staging])
    with outdir.output_lock(final.parent):
        if remote is None:
            return _run_stage(stage, final, staging, force, show_progress, executor)
        remote.push()  # e.g. a sample crawl written since, then what other runs added
        remote.pull("", fs.small_files)
        _hold(stage, final, staging)
        try:
            return _run_stage(stage, final, staging, force, show_progress, executor)
        finally:  # what completed is published, the manifest last; then the staging folder
            remote.push(remote.rel(final))
            remote.push()


def _hold(stage: Stage, *dirs: Path, everything: bool = False) -> None:
    """With a URL output, fetch into the driver's mirror what it works on in these folders
    of the stage: the small files and the data it reads (``Stage.driver_reads``); or
    ``everything``, before a swap or a clear moves or removes files (the push then does
    the same on the store). A local output: nothing to do."""
    remote = fs.remote_for(stage.config)
    if remote is None:
        return
    for d in dirs:
        base = remote.rel(d)

        def want(rel: str) -> bool:
            inner = rel[len(base):].lstrip("/")
            return (everything or fs.small_files(rel)
                    or any(fnmatchcase(inner, p) for p in stage.driver_reads))

        remote.pull(base, want)


def _run_stage(stage: Stage, final: Path, staging: Path, force: bool, show_progress: bool,
               executor) -> dict:
    """Resume, rebuild or keep the stage's output (see :func:`run_stage`)."""
    fp = cfg.fingerprint(fs.public(stage.fingerprint_source(), fs.remote_for(stage.config)))
    staged = read_manifest(staging)
    if staged is not None and staged.get("fingerprint") == fp and not force:
        log.info("%s: finishing the swap of %s into place", stage.name, staging)
        _hold(stage, staging, final, everything=True)
        outdir.swap_in(staging, final, stage.owns)
        return staged
    current = read_manifest(final)
    if current is not None and current.get("fingerprint") == fp and not force:
        log.info("%s: up to date (%s); --force redoes it", stage.name, final)
        return current
    build = staging if current is not None else final
    _start_build(stage, build, fp, force)
    stage.dir = build
    try:
        manifest = _build(stage, fp, show_progress, executor)
    finally:
        stage.dir = final
    if build != final:
        _hold(stage, staging, final, everything=True)
        outdir.swap_in(staging, final, stage.owns)
    return manifest


def _start_build(stage: Stage, build: Path, fp: str, force: bool) -> None:
    """Resume ``build`` when it holds parts of this very run, else start it afresh."""
    fp_file = build / DONE_DIR / "_fingerprint"
    if force or not fp_file.exists() or fp_file.read_text() != fp:
        why = "--force" if force else "its configuration or input changed"
        _hold(stage, build, everything=True)
        if build != stage.dir:
            outdir.remove_staging(build)
            log.info("%s: building in %s (%s); it replaces %s once complete", stage.name,
                     build, why, stage.dir)
        elif build.exists():
            log.warning("%s: clearing the stage's files from %s (%s)", stage.name, build, why)
            outdir.clear_owned(build, stage.owns)
    fp_file.parent.mkdir(parents=True, exist_ok=True)
    fp_file.write_text(fp)
    sweep_temporaries(build)


def map_executor(stage: Stage, executor):
    """The executor of a stage's tasks: the run's, except for a single-writer stage with a URL
    output, whose tasks run in this process (``Stage.single_writer``)."""
    if stage.single_writer and fs.remote_for(stage.config) is not None:
        return LocalExecutor(1)   # one worker: the tasks run in this process
    return executor


def _build(stage: Stage, fp: str, show_progress: bool, executor) -> dict:
    """Run the pending tasks and ``finish`` in ``stage.dir``; write its manifest last."""
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    tasks = stage.tasks()
    ids = [t.id for t in tasks]
    if len(set(ids)) != len(ids):
        raise StageError(f"{stage.name}: task ids are not unique")
    pending = [t for t in tasks if not _done_path(stage.dir, t.id).exists()]
    if len(pending) < len(tasks):
        log.info("%s: %d of %d parts already complete, resuming", stage.name,
                 len(tasks) - len(pending), len(tasks))

    own_executor = executor is None
    executor = executor or make_executor(stage.config)
    run = RunContext(stage, executor, show_progress)
    remote = fs.remote_for(stage.config)
    failures: list[str] = []
    try:
        _forget_attempts(stage.dir, pending)
        stage.prepare(run)
        if remote is not None:  # the workers fetch what prepare wrote (and forget old attempts)
            remote.push()
        bar = Progress(stage.name, len(pending), unit=stage.unit, enabled=show_progress)
        try:
            for _, res in map_executor(stage, executor).map(_call_task, [(stage, t) for t in pending]):
                if "_failed" in res:
                    log.error("%s\n%s", res["_failed"], res["_traceback"])
                    failures.append(res["_failed"])
                    continue
                bar.update(int(res.get("in", 0)))
        finally:
            bar.close()
            if remote is not None:  # the markers (and parts it reads) the workers published
                _hold(stage, stage.dir)
        if failures:
            raise StageError(f"{stage.name}: {len(failures)} task(s) failed; completed parts are "
                             f"kept, re-run to resume.\n" + "\n".join(failures[:10]))

        results = [json.loads(_done_path(stage.dir, t.id).read_text()) for t in tasks]
        counts = empty_counts()
        for res in results:
            add_counts(counts, res)
        check_balance(counts, stage.name)
        extra = stage.finish(run, results) or {}
    finally:
        if own_executor:
            executor.close()

    outputs = {}
    for res in results:
        for kind, rows in res.get("outputs", {}).items():
            outputs.setdefault(kind, []).append({"part": f"{res['task']}.parquet", "rows": rows})
    faults = [f for res in results for f in res.get("faults", [])]
    manifest = {
        "stage": stage.name,
        "fingerprint": fp,
        "command": command_line(),
        "config": stage.params,
        "executor": {"type": getattr(executor, "name", "?"), "workers": executor.workers},
        "inputs": fs.public(stage.inputs(), remote),
        "outputs": outputs,
        "counts": counts,
        "faults": fs.public(faults, remote),
        **({"retries": sum(max(0, r.get("attempt", 1) - 1) for r in results)}
           if (stage.config.get("executor") or {}).get("type") == "ray" else {}),
        "started": started.isoformat(),
        "duration_s": round(time.monotonic() - t0, 3),
        "versions": package_versions(),
        **extra,
    }
    write_json_atomic(stage.dir / MANIFEST, manifest)
    return manifest
