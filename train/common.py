"""What every `train` command shares, in nanochat's manner: the exit codes and the one place
that maps errors to them, the settings loader, the argparse parents, the device and
distributed set-up, and the JSONL + console log. Each phase keeps its loop in its own file."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist

from contract.jsonl import JsonlError
from train import allocator
from train import config as train_config
from train.chat_format import ConversationError
from train.checkpoint import CheckpointError, ModelMismatch
from train.config import ConfigError
from train.data import DataError

# -- exit codes (documented in train/cli.py) ----------------------------------------------------

EXIT_OK, EXIT_FAILED, EXIT_SETTING, EXIT_INPUT = 0, 1, 2, 3


class RunFailed(RuntimeError):
    """The run itself went wrong (e.g. the loss became NaN/inf): exit 1."""


class InputError(ValueError):
    """An input file that cannot be used (as a whole; a bad line is a JsonlError): exit 3."""


#: error classes -> exit code, first match wins (the input errors are ValueErrors too).
EXIT_CODES: tuple[tuple[tuple[type, ...], int], ...] = (
    ((CheckpointError, DataError, JsonlError, ConversationError, InputError, FileNotFoundError), EXIT_INPUT),
    ((ConfigError, ModelMismatch, ValueError), EXIT_SETTING),
    ((RunFailed,), EXIT_FAILED),
)


def exit_code(err: BaseException) -> int | None:
    """The documented exit code of ``err``, or None for an error nobody expected (a bug)."""
    for classes, code in EXIT_CODES:
        if isinstance(err, classes):
            return code
    return None


def run_main(prog: str, body: Callable[[], object]) -> int:
    """Run a command's body: 0 when it returns, and an expected error as one line on stderr
    and its exit code (an unexpected one keeps its traceback)."""
    try:
        body()
        return EXIT_OK
    except Exception as err:
        code = exit_code(err)
        if code is None:
            raise
        print(f"{prog}: error: {err}", file=sys.stderr, flush=True)
        return code


# -- settings -------------------------------------------------------------------------------------

def load_settings(pipeline: str | None, overrides: list[str] | None, phase: str,
                  output: str | None = None) -> tuple[dict, dict]:
    """(the whole pipeline dict, ``train.<phase>`` checked and with its defaults): the one way
    every phase reads its settings. ConfigError names the bad key."""
    config = train_config.load(pipeline, overrides)
    if output:
        config["output"] = output
    return config, train_config.validate(config, phase)


def overrides_parent() -> argparse.ArgumentParser:
    """``--set KEY=VALUE``: every command that reads a pipeline file takes it."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a pipeline setting, e.g. --set train.sft.steps=20 (repeatable)")
    return parent


def phase_parent(init: bool = True) -> argparse.ArgumentParser:
    """The training phases' flags: ``--set``, ``--resume`` and (where a phase starts from
    another's checkpoint) ``--init``."""
    parent = argparse.ArgumentParser(add_help=False, parents=[overrides_parent()])
    parent.add_argument("--resume", action="store_true", help="continue from the latest checkpoint of the run dir")
    if init:
        parent.add_argument("--init", help="checkpoint to start from (overrides train.<phase>.init)")
    return parent


# -- device and distributed set-up ----------------------------------------------------------------

def pick_device(requested: str | None = "auto", key: str = "device") -> torch.device:
    """``requested`` (auto, cpu, cuda, cuda:N, mps) as a torch.device that exists here; auto is
    CUDA when there is one, else the CPU. A device this machine lacks is a setting problem:
    ConfigError naming ``key``."""
    name = "auto" if requested is None else str(requested)
    problem = train_config.device_name(name)
    if problem:
        raise ConfigError(f"{key}: {name!r} {problem}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(f"{key}: {name!r} is not available on this machine "
                          f"({torch.cuda.device_count()} CUDA device(s))")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"{key}: 'mps' is not available on this machine")
    return device


def set_threads(threads: int | None) -> None:
    """torch's CPU threads; 0 or None leaves torch's default."""
    if threads:
        torch.set_num_threads(int(threads))


def tune_cpu_allocator(device: torch.device) -> bool:
    """Training on the CPU: glibc keeps freed tensors' pages for the next step (train/allocator.py).
    Returns whether that is in force (the final log record says so)."""
    return device.type == "cpu" and allocator.keep_freed_memory()


class Dist:
    """Rank, world size and a few collectives; a no-op without torchrun. Under torchrun the
    process group is NCCL on CUDA (one GPU per local rank) and gloo on the CPU."""

    def __init__(self, requested: str | None, key: str = "device") -> None:
        self.enabled = "RANK" in os.environ and "WORLD_SIZE" in os.environ
        self.rank = int(os.environ.get("RANK", 0))
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        device = pick_device(requested, key)
        if self.enabled:
            if device.type == "cuda":
                device = torch.device("cuda", self.local_rank)
                torch.cuda.set_device(device)
                dist.init_process_group("nccl", device_id=device)
            else:
                dist.init_process_group("gloo")
        elif device.type == "cuda":
            device = torch.device("cuda", torch.cuda.current_device())
        self.device = device
        self.master = self.rank == 0

    def sum(self, values: list[float]) -> list[float]:
        if not self.enabled:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        return self.sum([1.0 if flag else 0.0])[0] > 0

    def gather(self, obj) -> list:
        if not self.enabled:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


# -- the log ---------------------------------------------------------------------------------------

class RunLog:
    """``<run_dir>/log.jsonl`` (one JSON object a line) plus a readable line on stdout, on the
    master rank only. A fresh run starts the file anew; a resumed one (``resume_step``) keeps
    the records up to the checkpoint's step and appends. TensorBoard / W&B mirror the numbers
    when asked for and installed."""

    def __init__(self, path: Path, resume_step: int | None = None, enabled: bool = True,
                 tensorboard: Path | None = None, wandb: dict | None = None) -> None:
        self.path, self.enabled = Path(path), enabled
        self.tb = self.wandb = self.f = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.exists():   # drop records past the checkpoint
            kept = [line for line in self.path.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= resume_step]
            self.path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        elif resume_step is None and self.path.exists():
            self.path.unlink()
        self.f = self.path.open("a", encoding="utf-8")
        if tensorboard is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter  # optional: tensorboard
                self.tb = SummaryWriter(str(tensorboard))
            except ImportError:
                print("tensorboard asked for but not installed; logging to log.jsonl only", file=sys.stderr)
        if wandb is not None:
            try:
                import wandb as wandb_lib  # optional: wandb
                self.wandb = wandb_lib.init(project=wandb.get("project"), config=wandb.get("config"),
                                            resume="allow")
            except ImportError:
                print("wandb asked for but not installed; logging to log.jsonl only", file=sys.stderr)

    def __call__(self, record: dict, line: str | None = None) -> None:
        if not self.enabled:
            return
        self.f.write(json.dumps(record) + "\n")
        self.f.flush()
        if line:
            print(line, flush=True)
        step = record.get("step", 0)
        numbers = {k: v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if self.tb:
            for key, value in numbers.items():
                if key != "step":
                    self.tb.add_scalar(key, value, step)
        if self.wandb:
            self.wandb.log(numbers, step=step)

    log = __call__

    def close(self) -> None:
        if self.f:
            self.f.close()
        if self.tb:
            self.tb.close()
        if self.wandb:
            self.wandb.finish()
