"""`corpus export`: the sample's shards as nanoGPT .bin, Megatron-core indexed dataset and an HF
dataset, read back and compared with the shards; documents as datatrove JSONL and Parquet."""
from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pyarrow.parquet as pq
import pytest

from contract.shards import read_manifest
from corpus.cli import main
from corpus.core.parts import read_table


@pytest.fixture(scope="module")
def run(sample_pipeline):
    return sample_pipeline("extract", "filter", "dedup", "tokenizer", "tokenize")


def shard_docs(run, split: str) -> list[np.ndarray]:
    """Each document's tokens, in the manifest's shard order."""
    out = []
    for p in read_manifest(run / "shards").shard_paths(split):
        out += [np.asarray(t) for t in pq.read_table(p, columns=["tokens"]).column("tokens").to_pylist()]
    return out


def read_megatron_idx(path):
    """The index of megatron-core 0.16's IndexedDataset (indexed_dataset.py, _IndexReader):
    header, version <Q, dtype code <B, sequence count <Q, document count <Q, then int32 sequence
    lengths, int64 byte pointers, int64 document indices."""
    raw = path.read_bytes()
    assert raw[:9] == b"MMIDIDX\x00\x00"
    version, code, n_seq, n_doc = struct.unpack("<QBQQ", raw[9:34])
    assert version == 1
    at = 34
    lengths = np.frombuffer(raw, np.int32, n_seq, at)
    pointers = np.frombuffer(raw, np.int64, n_seq, at + 4 * n_seq)
    docs = np.frombuffer(raw, np.int64, n_doc, at + 12 * n_seq)
    return {8: np.uint16, 4: np.int32}[code], lengths, pointers, docs


def test_nanogpt_bins_are_the_shard_tokens(run, tmp_path):
    assert main(["export", str(run), "--format", "nanogpt", "--to", str(tmp_path / "ng")]) == 0
    meta = json.loads((tmp_path / "ng" / "meta.json").read_text())
    assert meta["dtype"] == "uint16" and meta["vocab_size"] == read_manifest(run / "shards").vocab_size
    for split in ("train", "val"):
        docs = shard_docs(run, split)
        got = np.fromfile(tmp_path / "ng" / f"{split}.bin", dtype=np.uint16)  # as nanoGPT's get_batch reads it
        assert np.array_equal(got, np.concatenate(docs))
        assert (got == meta["bos_id"]).sum() >= len(docs)  # every document starts with <|bos|>


def test_megatron_export_reads_back(run, tmp_path):
    assert main(["export", str(run / "shards"), "--format", "megatron", "--to", str(tmp_path / "mg")]) == 0
    for split in ("train", "val"):
        docs = shard_docs(run, split)
        dtype, lengths, pointers, doc_idx = read_megatron_idx(tmp_path / "mg" / f"{split}_text_document.idx")
        assert dtype == np.uint16 and list(lengths) == [len(d) for d in docs]
        assert list(doc_idx) == list(range(len(docs) + 1))
        data = np.fromfile(tmp_path / "mg" / f"{split}_text_document.bin", dtype=dtype)
        for i in (0, len(docs) // 2, len(docs) - 1):
            start = pointers[i] // dtype().itemsize
            assert np.array_equal(data[start:start + lengths[i]], docs[i])


@pytest.mark.slow
def test_megatron_core_reads_the_export(run, tmp_path):
    """The real reader, where megatron-core is installed (the dev extra carries it)."""
    indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    assert main(["export", str(run), "--format", "megatron", "--to", str(tmp_path / "mg")]) == 0
    docs = shard_docs(run, "val")
    ds = indexed.IndexedDataset(str(tmp_path / "mg" / "val_text_document"))
    assert len(ds) == len(docs)
    assert all(np.array_equal(ds[i], docs[i]) for i in range(len(docs)))


def test_hf_export_has_input_ids_per_split(run, tmp_path):
    from datasets import load_from_disk

    assert main(["export", str(run), "--format", "hf", "--to", str(tmp_path / "hf")]) == 0
    dd = load_from_disk(str(tmp_path / "hf"))
    assert set(dd) == {"train", "validation"}
    val = dd["validation"]
    assert val.column_names == ["id", "input_ids"]
    docs = shard_docs(run, "val")
    assert len(val) == len(docs) and all(list(val[i]["input_ids"]) == list(docs[i]) for i in (0, len(docs) - 1))


def test_documents_as_datatrove_jsonl_and_parquet(run, tmp_path):
    assert main(["export", str(run), "--format", "jsonl", "--to", str(tmp_path / "j")]) == 0
    assert main(["export", str(run), "--stage", "dedup", "--format", "parquet", "--to", str(tmp_path / "p")]) == 0
    kept = read_table(run / "dedup")
    rows = [json.loads(line) for f in sorted((tmp_path / "j").glob("*.jsonl.gz"))
            for line in gzip.open(f, "rt", encoding="utf-8")]
    assert [r["id"] for r in rows] == kept.column("id").to_pylist()
    assert rows[0]["text"] == kept.column("text")[0].as_py()
    assert rows[0]["metadata"]["url"] == kept.column("url")[0].as_py()
    assert read_table(tmp_path / "p").equals(kept)


def test_export_refuses_to_overwrite_and_names_bad_inputs(run, tmp_path, capsys):
    (tmp_path / "ng").mkdir()
    (tmp_path / "ng" / "train.bin").write_bytes(b"someone else's")
    assert main(["export", str(run), "--format", "nanogpt", "--to", str(tmp_path / "ng")]) == 2
    assert (tmp_path / "ng" / "train.bin").read_bytes() == b"someone else's"
    assert main(["export", str(tmp_path / "nothing"), "--format", "nanogpt"]) == 3
    assert main(["export", str(run), "--stage", "dedup", "--format", "megatron", "--to", str(tmp_path / "x")]) == 2
    assert main(["export", str(run), "--stage", "tokenize", "--format", "jsonl", "--to", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("error: ") for line in err)
    assert not (tmp_path / "x").exists()


def test_hf_export_trains_with_transformers_trainer(run, tmp_path):
    """The HF export feeds ``transformers.Trainer`` as it is: a few steps of a tiny Qwen3 of our
    vocabulary give a finite loss, and the Trainer hands the collator ``input_ids`` (it drops
    the columns the model's forward does not take, so the name matters)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")       # Trainer needs it (the dev extra carries it)
    from datasets import load_from_disk

    assert main(["export", str(run), "--format", "hf", "--to", str(tmp_path / "hf")]) == 0
    train = load_from_disk(str(tmp_path / "hf"))["train"]
    block, seen = 32, set()

    def collate(rows):
        seen.update(*(r.keys() for r in rows))
        ids = torch.zeros(len(rows), block, dtype=torch.long)
        labels = torch.full((len(rows), block), -100, dtype=torch.long)
        for i, r in enumerate(rows):
            row = torch.as_tensor(r["input_ids"][:block])
            ids[i, :len(row)], labels[i, :len(row)] = row, row
        return {"input_ids": ids, "labels": labels, "attention_mask": (labels != -100).long()}

    torch.manual_seed(0)
    config = transformers.Qwen3Config(vocab_size=read_manifest(run / "shards").vocab_size, hidden_size=32,
                                      intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                      num_key_value_heads=1, head_dim=16, max_position_embeddings=block)
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "trainer"), max_steps=3,
                                          per_device_train_batch_size=4, report_to=[], use_cpu=True,
                                          save_strategy="no", logging_steps=1, disable_tqdm=True)
    trainer = transformers.Trainer(model=transformers.Qwen3ForCausalLM(config), args=args,
                                   train_dataset=train, data_collator=collate)
    result = trainer.train()
    assert result.global_step == 3 and np.isfinite(result.training_loss)
    assert seen == {"input_ids"}            # kept; the string `id` column is the one dropped
