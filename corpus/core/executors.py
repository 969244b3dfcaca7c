"""Executors run a function over many argument tuples: in a process pool or on Ray.

Stage code never knows which one runs it. Both yield ``(index, result)`` as tasks
complete, so the runner can show progress; ordering of the final output never depends
on completion order (each task writes its own named part).
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import select
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, Sequence

from . import fs
from .arrow_start import pandas_probe_skipped, skip_pandas_probe

log = logging.getLogger("corpus")


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


#: Test hook: when set (to a directory), every pooled task writes a file named by its
#: worker's pid there and then blocks forever, so a test can kill a run mid-stage.
BLOCK_TASKS_ENV = "CORPUS_TEST_BLOCK_TASKS"


def _in_worker(fn: Callable, *args):
    """Run one task in a pool worker (honouring the test hook above)."""
    block_dir = os.environ.get(BLOCK_TASKS_ENV)
    if block_dir:
        open(os.path.join(block_dir, str(os.getpid())), "w").close()
        threading.Event().wait()
    return fn(*args)


def _die_with(main_pid: int) -> None:
    """Pool initializer: end this worker as soon as the main process ends, however it ends.

    A worker's parent is the forkserver, and the forkserver (and after it the resource
    tracker) only exits once every worker has closed its end of their pipes; so after a
    ``kill -9`` of the main process nothing would ever end the workers. Each worker
    therefore watches the main process itself: a pidfd on Linux (woken by its exit),
    else a poll of its pid.
    """
    try:
        pidfd = os.pidfd_open(main_pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # not Linux, or an old kernel
        pidfd = None

    def watch() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])
        else:
            while True:
                try:
                    os.kill(main_pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-main", daemon=True).start()


def _start_worker(main_pid: int, skip_pandas: bool) -> None:
    """Pool initializer: :func:`_die_with`, and no pandas import by pyarrow's first
    conversion when the main process skipped it too (corpus/core/arrow_start.py)."""
    if skip_pandas:
        skip_pandas_probe()
    _die_with(main_pid)


#: Stage modules the forkserver also preloads, for the stages a run has still to come
#: (see :func:`preload_for_stages`).
_RUN_MODULES: set[str] = set()


def preload_for_stages(stage_classes: Iterable[type]) -> None:
    """Declare the stages this process will run, before the first pool starts.

    The forkserver starts once per process, with the first pool, and preloads only then:
    without this, ``corpus run``'s later stages (tokenize after extract) would have every
    worker import its own libraries (sentencepiece, pyarrow.compute, trafilatura: ~0.05-0.16
    CPU-s each) on the critical path of each parallel stage."""
    _RUN_MODULES.update(cls.__module__ for cls in stage_classes)


def _with_libraries(project: Iterable[str]) -> list[str]:
    """Project modules, then the libraries they name in ``WORKER_MODULES`` (imported inside
    their functions so the CLI starts light, yet needed by every job)."""
    project = sorted(set(project))
    libraries = {m for n in project for m in getattr(sys.modules.get(n), "WORKER_MODULES", ())}
    return project + sorted(libraries)


def _modules_of(fn: Callable, args: tuple) -> list[str]:
    """The modules a worker imports to run a job: the project modules of the function and of
    its arguments' types (a stage's task: the stage's module), with their libraries.
    Preloaded in the forkserver when it starts (the first pool of a process, with those of
    the stages declared by :func:`preload_for_stages`), every worker forked from it has them
    already, instead of each importing pyarrow, sentencepiece or trafilatura itself on the
    run's critical path."""
    names = {getattr(fn, "__module__", None), *(type(a).__module__ for a in args)}
    return _with_libraries(n for n in names if n and n.split(".")[0] in ("corpus", "contract"))


class LocalExecutor:
    """A process pool (forkserver: workers start clean, no inherited threads) whose
    workers end with the main process, even when it is killed.

    With one worker the tasks run in this process: no pickling, no start-up cost,
    and a debugger or profiler sees everything. The pool is kept from one ``map`` to the
    next until :meth:`close` (a stage's tasks, then its ``finish`` maps: tokenize's shards,
    dedup's bands), so its workers start once per stage, not once per map; a map that fails
    or is abandoned shuts it down, and the next map starts a fresh one.
    """

    name = "local"

    def __init__(self, workers: int = 0):
        self.workers = workers or default_workers()
        self._pool: ProcessPoolExecutor | None = None

    def _pool_for(self, fn: Callable, first: tuple) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = mp.get_context("forkserver" if os.name == "posix" else "spawn")
            if os.name == "posix":
                ctx.set_forkserver_preload(list(dict.fromkeys(
                    ["corpus.core.runner", *_modules_of(fn, first), *_with_libraries(_RUN_MODULES)])))
            # workers start on demand (forkserver/spawn), never more than the tasks need
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                             initializer=_start_worker,
                                             initargs=(os.getpid(), pandas_probe_skipped()))
        return self._pool

    def map(self, fn: Callable, items: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        if self.workers == 1 or len(items) <= 1:
            for i, args in enumerate(items):
                yield i, fn(*args)
            return
        pool = self._pool_for(fn, items[0])
        futures = {pool.submit(_in_worker, fn, *args): i for i, args in enumerate(items)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield futures[fut], fut.result()
        except BaseException:
            for fut in pending:
                fut.cancel()
            self.close()
            raise

    def close(self) -> None:
        """Shut the pool down, waiting for the tasks still running."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


#: Environment a Ray worker needs from the driver: object-store settings and credentials
#: (fsspec reads ``FSSPEC_<PROTOCOL>_<KEY>``), Ray's own switches, the project's test hooks.
FORWARDED_ENV = ("FSSPEC_", "AWS_", "GOOGLE_", "RAY_AUTH_MODE", "CORPUS_", "CRAWL2TOKENS_")

#: Attempts Ray makes after the first when a task's worker dies (tasks are idempotent:
#: a part is published whole, its done marker last). An exception inside a task is not
#: retried: it comes back as the task's failure.
RAY_MAX_RETRIES = 3


def _ray_runtime_env(ship_code: bool) -> dict:
    """What the workers need: the settings above and, on a cluster, this code itself
    (``py_modules``): workers on other machines need not have the project installed."""
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV)}
    runtime_env: dict[str, Any] = {"env_vars": env} if env else {}
    if ship_code:
        import contract  # cycle: the packages themselves, shipped to the cluster
        import corpus  # cycle: the packages themselves, shipped to the cluster

        runtime_env["py_modules"] = [corpus, contract]
    return runtime_env


class RayExecutor:
    """Tasks as Ray remote functions: an existing cluster (``address``) or a local one.

    A local Ray started here gets ``workers`` CPUs (default: all cores) and is shut
    down by ``close()``; a cluster we merely connected to is left running. On a cluster
    the code travels with the job and the data through the output's object store.
    """

    name = "ray"

    def __init__(self, workers: int = 0, address: str | None = None):
        import ray  # heavy: loaded only with executor: ray

        self.ray = ray
        self.address = address
        self.workers = workers or default_workers()
        self._started_here = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=True,
                                          logging_level=logging.WARNING,
                                          runtime_env=_ray_runtime_env(bool(address)))
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=self.workers, **kwargs)
            self._started_here = True

    def map(self, fn: Callable, items: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        remote = self.ray.remote(num_cpus=1, max_retries=RAY_MAX_RETRIES,
                                 retry_exceptions=False)(fn)
        refs = {remote.remote(*args): i for i, args in enumerate(items)}
        pending = list(refs)
        while pending:
            done, pending = self.ray.wait(pending, num_returns=1)
            for ref in done:
                yield refs[ref], self.ray.get(ref)

    def close(self) -> None:
        if self._started_here and self.ray.is_initialized():
            if self.address:
                self._drop_worker_copies()
            self.ray.shutdown()

    def _drop_worker_copies(self) -> None:
        """A URL output's tasks fetch into a copy of the driver's mirror on every node they
        run on; nothing else would ever remove it there. One task per node removes it
        (:func:`fs.drop_worker_copies`; the driver's own machine keeps its mirror)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # heavy: ray

        mirrors = fs.driver_mirrors()
        if not mirrors:
            return
        drop = self.ray.remote(num_cpus=0)(fs.drop_worker_copies)
        try:
            refs = [drop.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                        node["NodeID"], soft=False)).remote(mirrors)
                    for node in self.ray.nodes() if node.get("Alive")]
            self.ray.get(refs)
        except Exception as err:  # a node gone meanwhile: its copy went with it
            log.warning("could not clear the worker nodes' copies of %s: %s", mirrors, err)


def make_executor(config: dict):
    ex = config.get("executor") or {}
    kind = ex.get("type", "local")
    workers = int(ex.get("workers") or 0)
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "ray":
        return RayExecutor(workers, ex.get("ray_address"))
    raise ValueError(f"unknown executor {kind!r}: use 'local' or 'ray'")
