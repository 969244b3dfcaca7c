"""Packaging: the extras keep torch out of the corpus side and trafilatura/Ray out of the training
side, constraints.txt pins what pyproject bounds, and a wheel installed in a fresh virtualenv runs
`corpus run --sample` from any folder (the built-in pipeline, `corpus setup`'s model)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from corpus.core.resources import lid_model_path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(req: str) -> str:
    return re.split(r"[\s\[<>=!~;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def closure(reqs: list[str]) -> set[str]:
    """Every distribution ``reqs`` pull in, through the installed packages' own requirements
    (extras of ours followed; a dependency's optional extras not)."""
    extras = PROJECT["optional-dependencies"]
    todo, seen = list(reqs), set()
    while todo:
        req = todo.pop()
        if req.startswith("crawl2tokens["):
            todo += [r for e in req[len("crawl2tokens["):-1].split(",") for r in extras[e]]
            continue
        name = _name(req)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [r.split(";")[0] for r in requires if "extra ==" not in r]
    return seen


def test_corpus_extra_pulls_no_torch_and_train_no_trafilatura_or_ray():
    base = PROJECT["dependencies"]
    corpus = closure(base + PROJECT["optional-dependencies"]["corpus"])
    train = closure(base + PROJECT["optional-dependencies"]["train"])
    assert "trafilatura" in corpus and "torch" not in corpus
    assert "torch" in train and not {"trafilatura", "ray"} & train
    assert closure(base + PROJECT["optional-dependencies"]["all"]) >= corpus | train


def test_pyproject_has_lower_bounds_and_constraints_pin_them():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[_name(name)] = version.strip()
    reqs = PROJECT["dependencies"] + [r for e in PROJECT["optional-dependencies"].values() for r in e
                                      if not r.startswith("crawl2tokens[")]
    for req in reqs:
        assert "==" not in req, f"{req}: pyproject keeps lower bounds; pins go to constraints.txt"
        name, bound = _name(req), req.split(">=")[1]
        assert name in pins, f"{name} has no pin in constraints.txt"
        as_tuple = lambda v: tuple(int(x) for x in re.findall(r"\d+", v))  # noqa: E731
        assert as_tuple(pins[name]) >= as_tuple(bound), f"{name}=={pins[name]} is below {bound}"


def _run(cmd: list, cwd, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_the_sample_from_any_folder(tmp_path):
    src, wheels = tmp_path / "src", tmp_path / "wheels"  # built from a copy: the checkout stays clean
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "contract", "corpus", "train"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, src / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                          if (ROOT / name).is_dir() else {}))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CRAWL2TOKENS_LID_MODEL")}
    r = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
              "-w", str(wheels), str(src)], cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    (wheel,) = wheels.glob("crawl2tokens-*.whl")
    venv = tmp_path / "venv"
    r = _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    r = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
              str(wheel)], cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    # The dependencies come from this environment (tests never need the internet): a .pth line
    # puts its site-packages after the new venv's own, where only our wheel is
    # installed (written after it, so pip does not take this checkout's install for it).
    site = next(venv.glob("lib/python*/site-packages"))
    here = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "pyarrow").is_dir())
    (site / "deps.pth").write_text(here + "\n")
    corpus = str(venv / "bin" / "corpus")
    work = tmp_path / "elsewhere"
    work.mkdir()

    r = _run([corpus, "filter", "--sample", "--quiet"], cwd=work, env=env)  # no model in this venv
    assert r.returncode == 3 and "corpus setup" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    env["CRAWL2TOKENS_LID_MODEL"] = str(lid_model_path())  # what `corpus setup` would have fetched
    r = _run([corpus, "run", "--sample", "--workers", "2", "--quiet"], cwd=work, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    shards = work / "out" / "sample" / "shards"
    assert list((shards / "train").glob("part-*.parquet")) and list((shards / "val").glob("part-*.parquet"))
    r = _run([str(venv / "bin" / "python"), "-c", "import corpus; print(corpus.__file__)"], cwd=work, env=env)
    assert r.stdout.startswith(str(venv))  # the wheel's code ran, not this checkout's


def test_setup_offline_says_so_in_one_line(tmp_path):
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path), "PYTHONPATH": str(ROOT)}
    r = _run([sys.executable, "-m", "corpus.cli", "setup", "--to", str(tmp_path / "lid.176.ftz")],
             cwd=tmp_path, env=env)
    assert r.returncode == 3
    assert len(r.stderr.strip().splitlines()) == 1 and "CRAWL2TOKENS_LID_MODEL" in r.stderr
    assert not (tmp_path / "lid.176.ftz").exists()


def test_builtin_pipeline_names_resolve_from_any_folder(tmp_path, monkeypatch):
    from corpus.cli import pipeline_path

    monkeypatch.chdir(tmp_path)
    assert Path(pipeline_path("sample")) == ROOT / "corpus" / "pipelines" / "sample.yaml"
    assert pipeline_path("pipelines/sample.yaml") == pipeline_path("sample")
    assert pipeline_path("nope.yaml") == "nope.yaml"
