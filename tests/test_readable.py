"""Every stage folder of a sample run is read whole by the common Parquet readers: pyarrow.dataset,
pandas, DuckDB and HF ``datasets`` each see the kept documents (or the shards' rows) and nothing
else: the manifest, the rejected documents and dedup's index are named so they skip them."""
from __future__ import annotations

import json

import pytest

from contract.layout import MANIFEST

STAGES = ["extract", "filter", "dedup", "shards"]
READERS = ["pyarrow", "pandas", "duckdb", "datasets"]


def _expected_rows(folder) -> int:
    """Kept documents of a document stage; documents of both splits of the shards."""
    manifest = json.loads((folder / MANIFEST).read_text())
    if "splits" in manifest:
        return sum(s["documents"] for s in manifest["splits"].values())
    return manifest["counts"]["kept"]


def _read(reader: str, folder, tmp_path) -> tuple[int, set[str]]:
    """(rows, columns) of the folder read whole the way a user of that library would."""
    if reader == "pyarrow":
        import pyarrow.dataset as ds

        t = ds.dataset(str(folder), format="parquet").to_table()
        return t.num_rows, set(t.column_names)
    if reader == "pandas":
        import pandas as pd

        df = pd.read_parquet(folder)
        return len(df), set(df.columns)
    if reader == "duckdb":
        import duckdb

        # the shards keep each split in its folder (train/, val/): one glob level deeper
        pattern = f"{folder}/*/*.parquet" if (folder / "train").is_dir() else f"{folder}/*.parquet"
        con = duckdb.connect()
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{pattern}')").fetchall()[0][0]
        cols = {c[0] for c in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{pattern}')").fetchall()}
        return rows, cols
    from datasets import load_dataset

    dd = load_dataset("parquet", data_dir=str(folder), cache_dir=str(tmp_path / "hf"))
    return sum(len(s) for s in dd.values()), set(next(iter(dd.values())).column_names)


@pytest.fixture(scope="module")
def sample_run(sample_pipeline):
    return sample_pipeline("extract", "filter", "dedup", "tokenizer", "tokenize")


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("reader", READERS)
def test_stage_folder_read_whole(sample_run, stage, reader, tmp_path):
    folder = sample_run / stage
    rows, cols = _read(reader, folder, tmp_path)
    assert rows == _expected_rows(folder)
    assert "id" in cols
    assert "reason" not in cols  # no rejected row slipped in
    assert ("tokens" in cols) == (stage == "shards")


def test_datasets_names_the_shard_splits(sample_run, tmp_path):
    """HF ``datasets`` takes the shards' ``train/`` and ``val/`` folders as its train and
    validation splits (the layout is documented in docs/pipelines.md)."""
    from datasets import load_dataset

    dd = load_dataset("parquet", data_dir=str(sample_run / "shards"), cache_dir=str(tmp_path / "hf"))
    manifest = json.loads((sample_run / "shards" / MANIFEST).read_text())
    assert {k: len(v) for k, v in dd.items()} == {
        "train": manifest["splits"]["train"]["documents"],
        "validation": manifest["splits"]["val"]["documents"]}
