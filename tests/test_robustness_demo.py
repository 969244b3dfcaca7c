"""`make demo` (corpus.demo) finds its default pipeline, the built-in sample, from any folder."""
from __future__ import annotations

from pathlib import Path

from corpus import demo
from corpus.cli import BUILTIN_PIPELINES


def test_demo_default_pipeline_works_outside_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv in ([], ["pipelines/sample.yaml"], ["sample"]):
        got = Path(demo.parse_args(argv).pipeline)
        assert got.is_file() and got == BUILTIN_PIPELINES / "sample.yaml", argv
    mine = tmp_path / "mine.yaml"
    mine.write_text("output: out\n")
    assert demo.parse_args([str(mine)]).pipeline == str(mine)


def test_train_finds_the_built_in_pipeline_from_any_folder(tmp_path, monkeypatch):
    from train import config as train_config

    monkeypatch.chdir(tmp_path)
    for name in ("sample", "pipelines/sample.yaml"):
        cfg = train_config.load(name)
        assert cfg["name"] == "sample" and "pretrain" in cfg["train"], name
