"""The datatrove peer for our benchmarks: its own venv, and a way to run a script in it.

datatrove pins ``trafilatura<1.12``, so it cannot share our venv; it lives in
``bench/.venv-datatrove`` (created on first use: datatrove 0.10.x with the ``io`` and
``processing`` extras, plus spaCy for its word splitting). See
``../shared/bench/DATATROVE.md`` for running it offline.

    spec = importlib.util.spec_from_file_location("peer_datatrove", ROOT / "bench" / "peer_datatrove.py")
    peer = importlib.util.module_from_spec(spec); spec.loader.exec_module(peer)
    out = peer.run_peer(SCRIPT, "arg1", "arg2")  # SCRIPT: Python source run in that venv; its stdout
    py = peer.datatrove_python()                 # the venv's python, if you run it yourself

(Load it by path as above: bench/ is not a package.)

Running this file creates the venv (if missing) and prints the datatrove version.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv-datatrove"
DATATROVE = "datatrove[io,processing]==0.10.1"
# lxml_html_clean: datatrove's trafilatura 1.x imports lxml.html.clean, split out of lxml 5.2+
EXTRA = ["spacy", "lxml_html_clean"]
REQUIREMENTS = " ".join([DATATROVE, *EXTRA])


class PeerUnavailable(RuntimeError):
    """The peer venv could not be made (no registry access, build failure...)."""


def datatrove_python() -> Path:
    """The peer venv's python, creating the venv on first use (a few minutes, once).

    Several benchmarks may ask at once: a lock file makes the others wait for the one
    that installs."""
    import fcntl

    py = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    if py.exists() and stamp.exists() and stamp.read_text().strip() == REQUIREMENTS:
        return py
    VENV.mkdir(parents=True, exist_ok=True)
    with open(VENV / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if py.exists() and stamp.exists() and stamp.read_text().strip() == REQUIREMENTS:
            return py
        print(f"[peer] creating {VENV} with {DATATROVE} + {' '.join(EXTRA)} (once)...", file=sys.stderr)
        try:
            if not py.exists():
                subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
            subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            DATATROVE, *EXTRA], check=True)
        except (subprocess.CalledProcessError, OSError) as err:
            raise PeerUnavailable(f"could not create {VENV}: {err}") from err
        stamp.write_text(REQUIREMENTS + "\n")
    return py


def run_peer(script: str, *args: str, timeout: float | None = None, env: dict | None = None) -> str:
    """Run Python source ``script`` in the datatrove venv with ``args``; returns its stdout.

    Its stderr passes through (progress, warnings); a failure raises with the tail of it.
    """
    py = datatrove_python()
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(script)
        path = fh.name
    try:
        proc = subprocess.run([str(py), path, *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, **(env or {})})
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        raise RuntimeError(f"datatrove peer script failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


if __name__ == "__main__":
    print(run_peer("import datatrove, importlib.metadata as m; print('datatrove', m.version('datatrove'))").strip())
