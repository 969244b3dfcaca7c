"""End to end on the embedded sample: extract -> filter -> dedup -> tokenizer -> tokenize
-> stats with pipelines/sample.yaml's settings. Every shard row decodes to its document
exactly; the shards are readable as they are by pyarrow and DuckDB; `corpus stats` on the
output prints a waterfall whose counts are the manifests'."""
from __future__ import annotations

import json

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import sentencepiece as spm

from corpus.cli import main as corpus_main
from corpus.core.parts import read_table
from tokenize_fixtures import check_waterfall
from contract.layout import MANIFEST

pytestmark = pytest.mark.slow

STAGES = ("extract", "filter", "dedup", "tokenizer", "tokenize")


@pytest.fixture(scope="module")
def out(sample_pipeline):
    return sample_pipeline(*STAGES)


def test_sample_round_trip_every_row(out):
    docs = read_table(out / "dedup", columns=["id", "text", "language"]).to_pylist()
    text = {d["id"]: d["text"] for d in docs}
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer" / "tokenizer.model"))
    specials = json.loads((out / "tokenizer" / "special_tokens.json").read_text())
    seen = set()
    for path in sorted((out / "shards").glob("*/part-*.parquet")):
        for row in pq.read_table(path).to_pylist():
            assert row["tokens"][0] == specials["bos"]
            assert not set(row["tokens"][1:]) & set(specials.values())
            assert sp.decode(row["tokens"][1:]) == text[row["id"]], row["id"]
            seen.add(row["id"])
    assert seen == set(text)
    # the sample's CJK pages made it through, and they round-tripped above
    langs = {d["language"] for d in docs}
    assert {"zh", "ja"} <= langs
    assert any("\n" in t for t in text.values())


def test_sample_split_and_readers(out):
    duckdb = pytest.importorskip("duckdb")
    m = json.loads((out / "shards" / MANIFEST).read_text())
    assert m["dtype"] == "uint16" and m["tokenizer"]["vocab_size"] == 4096
    val, train = m["splits"]["val"], m["splits"]["train"]
    assert val["documents"] >= 20 and val["tokens"] >= 10_000  # enough for a val loss
    assert 0.02 < val["documents"] / (val["documents"] + train["documents"]) < 0.1
    assert len(train["shards"]) >= 2
    table = ds.dataset(str(out / "shards" / "train"), format="parquet").to_table()
    assert table.num_rows == train["documents"]
    con = duckdb.connect()
    n, tokens = con.execute(
        f"select count(*), sum(len(tokens)) from read_parquet('{out / 'shards' / 'val' / '*.parquet'}')").fetchone()
    assert (n, tokens) == (val["documents"], val["tokens"])


def test_sample_stats_waterfall(out, capsys):
    assert corpus_main(["stats", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    stats = json.loads((out / "report" / "stats.json").read_text())
    check_waterfall(out, stats)
    assert "extract: records in" in printed and "tokenize: tokens written" in printed
    for img in ("waterfall.png", "lengths.png", "languages.png", "shards.png"):
        assert (out / "report" / img).stat().st_size > 5000
