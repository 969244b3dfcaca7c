"""Documents from outside (JSONL, Parquet, an HF dataset saved to disk) enter the pipeline after
extract and come out as shards; rows that cannot be documents are errors with file and row,
and the books balance."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contract.layout import MANIFEST
from corpus.cli import main
from corpus.core.parts import read_table

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = str(ROOT / "pipelines" / "sample.yaml")


@pytest.fixture(scope="module")
def docs(sample_pipeline) -> list[dict]:
    """600 documents of the sample crawl, as someone else's extracted text."""
    t = read_table(sample_pipeline("extract") / "extract", columns=["id", "url", "text"])
    return t.slice(0, 600).to_pylist()


def write_datatrove_jsonl(path: Path, docs: list[dict]) -> None:
    """datatrove's JsonlWriter: ``{"text", "id", "metadata": {...}}`` per line, gzipped."""
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps({"text": d["text"], "id": d["id"],
                                 "metadata": {"url": d["url"], "dump": "CC-MAIN-2024-10"}}) + "\n")


def corpus(*args: str) -> int:
    return main(list(args) + ["--workers", "2", "--quiet"])


def manifest(folder: Path) -> dict:
    return json.loads((folder / MANIFEST).read_text())


@pytest.mark.slow
def test_datatrove_jsonl_enters_at_filter_and_comes_out_as_shards(docs, tmp_path):
    (tmp_path / "in").mkdir()
    write_datatrove_jsonl(tmp_path / "in" / "a.jsonl.gz", docs[:300])
    write_datatrove_jsonl(tmp_path / "in" / "b.jsonl.gz", docs[300:])
    out = tmp_path / "out"
    rc = corpus("run", PIPELINE, "--input", str(tmp_path / "in" / "*.jsonl.gz"), "--output", str(out),
                "--set", "input_format=jsonl", "--set", "reader.metadata=[metadata]")
    assert rc == 0
    assert not (out / "extract").exists()
    read = manifest(out / "read")
    assert read["counts"]["in"] == read["counts"]["kept"] == 600
    assert manifest(out / "filter")["inputs"] == [str(out / "read")]
    shards = manifest(out / "shards")
    assert shards["splits"]["train"]["documents"] > 0
    kept = read_table(out / "filter", columns=["id", "source", "row", "metadata"]).to_pylist()
    by_id = {d["id"]: d for d in docs}
    for row in kept:  # the given ids, provenance by file and row, metadata carried along
        assert row["id"] in by_id
        assert row["source"].endswith((".jsonl.gz"))
        assert json.loads(row["metadata"])["url"] == by_id[row["id"]]["url"]
    first = next(r for r in kept if r["source"].endswith("b.jsonl.gz") and r["row"] == 0)
    assert first["id"] == docs[300]["id"]


@pytest.mark.slow
def test_parquet_with_own_columns_enters_at_filter_as_that_stage_input(docs, tmp_path):
    pq.write_table(pa.table({"content": [d["text"] for d in docs], "link": [d["url"] for d in docs]}),
                   tmp_path / "dump.parquet")
    out = tmp_path / "out"
    rc = corpus("run", PIPELINE, "--output", str(out),
                "--set", f"stages.filter.input={tmp_path / 'dump.parquet'}",
                "--set", "stages.filter.input_format=parquet",
                "--set", "reader.text=content", "--set", "reader.url=link", "--set", "reader.id=null")
    assert rc == 0
    assert manifest(out / "read")["counts"]["kept"] == 600
    assert manifest(out / "shards")["splits"]["train"]["tokens"] > 0
    kept = read_table(out / "read", columns=["id", "url", "domain", "row", "offset"]).to_pylist()
    assert [r["row"] for r in kept] == list(range(600))
    assert kept[5]["url"] == docs[5]["url"] and kept[5]["domain"]
    assert all(r["offset"] is None for r in kept)
    assert len({r["id"] for r in kept}) == 600  # a hash of source and row


def test_bad_rows_are_errors_with_file_and_row_and_the_books_balance(docs, tmp_path):
    lines = [json.dumps({"text": docs[0]["text"], "id": "a"}), "{not json", json.dumps({"id": "b"}),
             json.dumps({"text": 42, "id": "c"}), json.dumps(["a", "list"]),
             json.dumps({"text": docs[1]["text"], "id": None}), "", json.dumps({"text": docs[2]["text"], "id": 7})]
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    rc = corpus("filter", PIPELINE, "--input", str(tmp_path / "d.jsonl"), "--output", str(out),
                "--set", "input_format=jsonl")
    assert rc == 0  # sample.yaml tolerates input faults
    c = manifest(out / "read")["counts"]
    assert (c["in"], c["kept"]) == (7, 2)
    assert c["errors"] == {"bad_json": 1, "no_text": 1, "bad_text": 1, "bad_row": 1, "bad_id": 1}
    faults = manifest(out / "read")["faults"]
    assert [f["row"] for f in faults] == [1, 2, 3, 4, 5]
    assert all(f["file"] == str(tmp_path / "d.jsonl") for f in faults)
    assert sorted(read_table(out / "read", columns=["id"]).column("id").to_pylist()) == ["7", "a"]
    assert manifest(out / "filter")["counts"]["in"] == 2


def test_truncated_jsonl_gz_keeps_what_was_read_and_records_a_fault(docs, tmp_path):
    write_datatrove_jsonl(tmp_path / "t.jsonl.gz", docs[:50])
    data = (tmp_path / "t.jsonl.gz").read_bytes()
    (tmp_path / "t.jsonl.gz").write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    rc = corpus("filter", PIPELINE, "--input", str(tmp_path / "t.jsonl.gz"), "--output", str(out),
                "--set", "input_format=jsonl", "--set", "tolerate_failures=false")
    assert rc == 3  # a fault, not tolerated: the run finished and says so
    m = manifest(out / "read")
    assert 0 < m["counts"]["kept"] < 50 and m["counts"]["in"] == m["counts"]["kept"]
    assert m["faults"][0]["reason"] == "read_error" and m["faults"][0]["file"].endswith("t.jsonl.gz")


def test_hf_dataset_saved_to_disk_enters_at_filter(docs, tmp_path):
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_list(
        [{"body": d["text"], "uid": d["id"]} for d in docs[:40]])}).save_to_disk(str(tmp_path / "hf"))
    out = tmp_path / "out"
    rc = corpus("filter", PIPELINE, "--input", str(tmp_path / "hf"), "--output", str(out),
                "--set", "input_format=hf", "--set", "reader.text=body", "--set", "reader.id=uid",
                "--set", "reader.rows_per_part=16")
    assert rc == 0
    m = manifest(out / "read")
    assert m["counts"]["kept"] == 40 and len(m["outputs"]["kept"]) == 3
    got = read_table(out / "read", columns=["id", "row"]).to_pylist()
    assert got == [{"id": d["id"], "row": i} for i, d in enumerate(docs[:40])]


@pytest.mark.parametrize("args, code, words", [
    (["--set", "input_format=csv"], 2, "input_format"),
    (["--set", "input_format=jsonl", "--set", "reader.txt=body"], 2, "reader.txt"),
    (["--set", "input_format=parquet", "--set", "reader.text=body"], 2, "reader.text"),
    (["--set", "input_format=jsonl", "--input", "/nonexistent/*.jsonl"], 3, "no file matches"),
    (["--set", "stages.dedup.input=x.jsonl"], 2, "stages.dedup.input"),
])
def test_bad_reader_settings_and_inputs_stop_before_anything_runs(tmp_path, capsys, args, code, words):
    pq.write_table(pa.table({"text": ["some text"]}), tmp_path / "p.parquet")
    out = tmp_path / "out"
    base = ["--input", str(tmp_path / "p.parquet")] if "--input" not in args else []
    assert main(["filter", PIPELINE, "--output", str(out), "--quiet", *base, *args]) == code
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_extract_refuses_documents(tmp_path, capsys):
    (tmp_path / "d.jsonl").write_text('{"text": "x"}\n')
    assert main(["extract", PIPELINE, "--input", str(tmp_path / "d.jsonl"), "--output", str(tmp_path / "o"),
                 "--set", "input_format=jsonl"]) == 2
    assert "enter after extract" in capsys.readouterr().err
