"""One settings model for both sides (issue #13): every section, corpus and train, refuses an
unknown key the same way on the real command line; an empty section means its defaults on both
sides; and the one YAML loader refuses aliases (billion laughs) on the train side too."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from corpus.core import settings as corpus_settings
from corpus.core.registry import names as stage_names
from train import config as train_config

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = str(ROOT / "pipelines" / "sample.yaml")
MEM_CAP = 2 << 30  # a loader that expands aliases fails on this cap instead of the machine


def _sections(spec, path: str = ""):
    """The dotted path of every section the corpus side checks (``""`` = the top level)."""
    yield path
    for key, sub in spec.keys.items():
        if isinstance(sub, corpus_settings.Section) and not sub.free:
            yield from _sections(sub, f"{path}.{key}" if path else key)


CORPUS_SECTIONS = list(_sections(corpus_settings.schema()))
TRAIN_SECTIONS = ["train"] + [f"train.{phase}" for phase in train_config.SCHEMAS]


def _command(section: str) -> str:
    """A corpus command that reads ``section``: the stage it belongs to, else extract."""
    parts = section.split(".")
    return parts[1] if parts[0] == "stages" and len(parts) > 1 else "extract"


def _run(module: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (MEM_CAP, MEM_CAP))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, preexec_fn=cap, timeout=300)


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line(proc: subprocess.CompletedProcess, names: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and names in lines[0], proc.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize("section", CORPUS_SECTIONS + TRAIN_SECTIONS)
def test_unknown_key_in_every_section_is_one_line_exit_2(section, tmp_path):
    key = f"{section}.bogus_key" if section else "bogus_key"
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("a file the user wrote\n")
    before = _snapshot(out)
    if section.startswith("train"):
        phase = section.split(".")[1] if "." in section else "pretrain"
        proc = _run("train.cli", [phase, SAMPLE, "--set", f"{key}=1"], cwd=out)
    else:
        proc = _run("corpus.cli", [_command(section), SAMPLE, "--output", str(out), "--set", f"{key}=1"],
                    cwd=ROOT)
    line = _one_line(proc, key)
    assert "valid" in line, line
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


EMPTY_SECTIONS = "name: empty\nexecutor:\nstages:\n  dedup:\ntrain:\n  sft:\n"


@pytest.mark.parametrize("text", [EMPTY_SECTIONS, "", "train:\nstages:\n"], ids=["sections", "file", "top"])
def test_an_empty_section_is_its_defaults_on_both_sides(text, tmp_path):
    from corpus.core.config import load_pipeline
    from corpus.core.registry import stage_class
    from corpus.stages.dedup.stage import resolve_options
    from train import common

    pipe = tmp_path / "p.yaml"
    pipe.write_text(text)
    config = load_pipeline(pipe, output=str(tmp_path / "out"))
    assert config["executor"] == corpus_settings.defaults("executor")
    assert stage_class("dedup")(config).opts == resolve_options({})
    assert common.load_settings(str(pipe), [], "sft")[1] == train_config.defaults("sft")
    assert not (tmp_path / "out").exists()


def _laughs(levels: int = 9) -> str:
    """~1 KB of nested aliases that expand to 10**levels strings, under a key the train side
    does not look into."""
    lines = ["output: out", "stages:", "  l0: &l0 [" + ", ".join(["lol"] * 10) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_given_to_train_pretrain_is_one_line_exit_2(tmp_path):
    pipe = tmp_path / "laughs.yaml"
    pipe.write_text(_laughs())
    work = tmp_path / "work"
    work.mkdir()
    line = _one_line(_run("train.cli", ["pretrain", str(pipe)], cwd=work), "alias")
    assert str(pipe) in line, line
    assert list(work.iterdir()) == []


def test_one_config_error_class_on_both_sides():
    from contract.settings import ConfigError
    from corpus.core import config as corpus_config

    assert corpus_settings.ConfigError is ConfigError is train_config.ConfigError
    assert corpus_config.ConfigError is ConfigError


@pytest.mark.parametrize("libyaml", [True, False], ids=["libyaml", "pure-python"])
def test_yaml_loaders_read_the_shipped_pipelines_alike_and_refuse_aliases(libyaml, monkeypatch):
    """The one YAML reader uses libyaml when PyYAML has it and PyYAML's Python parser
    otherwise: the same values from every shipped pipeline, the same refusal of an alias."""
    import yaml

    from contract.settings import ConfigError, load_yaml

    if not libyaml:
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    elif not getattr(yaml, "CSafeLoader", None):
        pytest.skip("this PyYAML was built without libyaml")
    root = Path(__file__).resolve().parent.parent
    files = sorted(root.glob("pipelines/*.yaml")) + sorted(root.glob("corpus/pipelines/*.yaml"))
    assert files
    for path in files:
        text = path.read_text()
        assert load_yaml(text) == yaml.load(text, Loader=yaml.SafeLoader), path
    with pytest.raises(ConfigError, match=r"line 3: YAML alias \*a is not allowed"):
        load_yaml("x: &a [1, 2]\ny: 2\nz: *a\n")
    with pytest.raises(ConfigError, match=r"not valid YAML: line 2"):
        load_yaml("a: [1,\n")
