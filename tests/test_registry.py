"""The stage registry: a new stage is one class and one registry call, and the rest of the
toolkit (settings, `corpus run`'s order, the CLI, upstream folders, stats) follows."""
from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from corpus.core import registry
from corpus.core.config import ConfigError, load_pipeline
from corpus.core.parts import document_parts, iter_batches, read_table, rejected_schema
from corpus.core.runner import Stage, Task
from corpus.core.settings import INPUT_STAGE, Section, integer
from corpus.crawl.split import iter_gzip_records
from contract.layout import REJECTED

ROOT = Path(__file__).resolve().parent.parent


class ShortDocsStage(Stage):
    """Toy stage: drops documents shorter than ``min_chars`` (reason ``too_short``) and
    writes the others with their length in a ``chars`` column."""

    name = "short_docs"
    folder = "short_docs"
    upstream = "filter"
    schema = Section({"min_chars": integer(1500, 0), "input_stage": INPUT_STAGE})

    def tasks(self):
        parts = document_parts(self.input_dir())
        return [Task(f"part-{i:05d}", {"path": str(p)}) for i, p in enumerate(parts)]

    def process(self, task, out):
        min_chars = self.params.get("min_chars", 1500)
        n_in = n_short = 0
        for batch in iter_batches(task.payload["path"]):
            table = pa.Table.from_batches([batch])
            chars = pc.utf8_length(table.column("text")).cast(pa.int64())
            table = table.append_column("chars", chars)
            short = pc.less(chars, min_chars)
            kept = table.filter(pc.invert(short))
            dropped = table.filter(short)
            out.writer(kept.schema).write_table(kept)
            rejected = out.writer(rejected_schema(kept.schema), REJECTED)
            n = dropped.num_rows
            rejected.write_table(dropped.append_column("reason", pa.array(["too_short"] * n))
                                 .append_column("reason_value", dropped.column("chars").cast(pa.float64()))
                                 .append_column("reason_detail", pa.nulls(n, pa.string())))
            n_in += table.num_rows
            n_short += n
        return {"in": n_in, "kept": n_in - n_short, "rejected": {"too_short": n_short}}


def first_records(src: Path, dst: Path, count: int) -> None:
    """A small crawl: the first ``count`` gzip members (records) of a sample WARC."""
    with open(src, "rb") as fh:
        end = [r.offset + r.length for r, _ in zip(iter_gzip_records(fh), range(count))][-1]
        fh.seek(0)
        dst.write_bytes(fh.read(end))


@pytest.fixture
def short_docs_registered():
    registry.register(ShortDocsStage, after="filter")  # the one registry call
    yield
    registry.unregister(ShortDocsStage.name)


def test_a_toy_stage_registered_from_a_test_runs_between_filter_and_dedup(
        short_docs_registered, sample_crawl, tmp_path):
    from corpus.cli import build_parser, run_stages
    from corpus.stages.stats.stage import stats_of_directory

    warc = tmp_path / "slice.warc.gz"
    first_records(sample_crawl / "sample-00000.warc.gz", warc, 300)
    # Its settings are checked as the pipeline loads; dedup reads it through input_stage.
    config = load_pipeline(ROOT / "pipelines" / "sample.yaml",
                           ["stages.short_docs.min_chars=1500", "stages.dedup.input_stage=short_docs"],
                           inputs=[str(warc)], output=str(tmp_path / "out"), workers=1)
    config.pop("sample")
    with pytest.raises(ConfigError, match="stages.short_docs.min_chars"):
        load_pipeline(None, ["stages.short_docs.min_chars=-1"])

    names = registry.names()
    assert names[:4] == ["extract", "filter", "short_docs", "dedup"]  # `corpus run`'s order
    assert build_parser().parse_args(["short_docs", "p.yaml"]).command == "short_docs"
    manifests = {m["stage"]: m for m in run_stages(config, names[:4], quiet=True)}

    out = tmp_path / "out"
    toy, dedup = manifests["short_docs"]["counts"], manifests["dedup"]["counts"]
    assert toy["in"] == manifests["filter"]["counts"]["kept"]
    assert toy["in"] == toy["kept"] + toy["rejected"]["too_short"] and not toy["errors"]
    assert toy["kept"] > 0 and toy["rejected"]["too_short"] > 0
    short = read_table(out / "short_docs" / REJECTED).column("reason_value").to_pylist()
    assert len(short) == toy["rejected"]["too_short"] and max(short) < 1500
    # dedup read the toy stage's output: its documents and their extra column
    assert manifests["dedup"]["inputs"] == [str(out / "short_docs")]
    assert dedup["in"] == toy["kept"]
    assert dedup["in"] == dedup["kept"] + sum(dedup["rejected"].values()) + sum(dedup["errors"].values())
    kept = read_table(out / "dedup")
    assert kept.num_rows == dedup["kept"] and min(kept.column("chars").to_pylist()) >= 1500
    # stats follows the chain through it: every stage read what the one before kept
    stats = stats_of_directory(out)
    assert [s for s in stats["datasets"]] == ["extract", "filter", "short_docs", "dedup"]
    assert stats["checks"] == []


def test_input_stage_names_a_registered_stage(tmp_path):
    with pytest.raises(ConfigError, match="stages.dedup.input_stage: must be one of extract, filter"):
        load_pipeline(None, ["stages.dedup.input_stage=short_docs"])
    with pytest.raises(ConfigError, match="stages.short_docs: unknown stage"):
        load_pipeline(None, ["stages.short_docs.min_chars=5"])


def test_register_refuses_a_taken_name_or_an_unknown_place():
    class Nameless(Stage):
        pass

    class Again(Stage):
        name = "filter"

    with pytest.raises(ValueError, match="no name"):
        registry.register(Nameless)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Again)
    with pytest.raises(KeyError, match="unknown stage 'filters'"):
        registry.register(ShortDocsStage, after="filters")
    assert "short_docs" not in registry.names()


def test_built_in_stages_declare_what_the_registry_lists():
    folders = {name: registry.folder(name) for name in registry.names()}
    assert folders == {"extract": "extract", "filter": "filter", "dedup": "dedup",
                       "index": "index", "tokenizer": "tokenizer", "tokenize": "shards", "stats": "report"}
    upstream = {name: registry.stage_class(name).upstream for name in registry.names()}
    assert upstream == {"extract": None, "filter": "extract", "dedup": "filter",
                        "index": "dedup", "tokenizer": "dedup", "tokenize": "dedup", "stats": None}


def test_makefile_has_a_target_per_registered_stage():
    text = (ROOT / "Makefile").read_text()
    stages = re.search(r"^STAGES := (.+)$", text, re.M).group(1).split()
    assert stages == registry.names()
    assert re.search(r"^\$\(STAGES\): install\n\t\$\(BIN\)/corpus \$@ ", text, re.M)
