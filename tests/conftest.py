"""Shared fixtures. The embedded sample is generated once per test session, and the
corpus stages run on it once too: every test that needs a stage's output asks
``sample_pipeline(...)`` for it, and stages already complete are reused, not redone."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = ROOT.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """``../shared/data/real`` (real crawls); tests using it skip on a clone without it."""
    if not (REAL_DATA / "README.md").exists():
        pytest.skip(f"real web data not found at {REAL_DATA} (only present beside the CI checkout)")
    return REAL_DATA


@pytest.fixture(scope="session")
def sample_crawl(tmp_path_factory) -> Path:
    """The embedded sample crawl (WARCs + truth.json), generated once, seed 0."""
    from corpus.sample import generate_sample

    out = tmp_path_factory.mktemp("sample-crawl")
    generate_sample(out, seed=0)
    return out


@pytest.fixture(scope="session")
def sample_config(sample_crawl, tmp_path_factory) -> dict:
    """pipelines/sample.yaml, pointed at the session's crawl and a session output dir."""
    from corpus.core.config import load_pipeline

    out = tmp_path_factory.mktemp("sample-out")
    config = load_pipeline(ROOT / "pipelines" / "sample.yaml", inputs=[str(sample_crawl / "*.warc.gz")],
                           output=str(out), workers=2)
    config.pop("sample", None)
    return config


@pytest.fixture(scope="session")
def sample_pipeline(sample_config):
    """``sample_pipeline("extract", "filter")`` runs those stages (once per session) and
    returns the output root; a stage already complete is reused."""
    from corpus.core.runner import run_stage
    from corpus.core.registry import stage_class

    def run(*names: str) -> Path:
        for name in names:
            run_stage(stage_class(name)(sample_config), show_progress=False)
        return Path(sample_config["output"])

    return run
