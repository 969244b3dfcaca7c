"""Tokenizer training and token shards on generated dedup parts: exact round trip (CJK,
emoji, tabs, runs of spaces, CRLF, literal specials), the shard contract, determinism,
and readers other than ours (pyarrow, DuckDB)."""
from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sentencepiece as spm

from contract.tokens import SPECIAL_TOKENS, encode_documents, encode_text, file_sha256
from corpus.core.parts import read_table
from corpus.core.runner import run_stage
from corpus.stages.tokenize import TokenizeStage, split_is_val
from corpus.stages.tokenizer import TokenizerStage
from tokenize_fixtures import TRICKY, fake_config, write_fake_stage
from contract.layout import MANIFEST


def _build(root, workers=2, **stages):
    write_fake_stage(root)
    config = fake_config(root, **stages)
    config["executor"]["workers"] = workers
    run_stage(TokenizerStage(config), show_progress=False)
    manifest = run_stage(TokenizeStage(config), show_progress=False)
    return config, manifest


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    config, manifest = _build(root)
    return root, config, manifest


def _shard_rows(root):
    rows = {}
    for split in ("train", "val"):
        for path in sorted((root / "shards" / split).glob("part-*.parquet")):
            for r in pq.read_table(path).to_pylist():
                rows[r["id"]] = (split, r)
    return rows


def test_special_tokens_and_model_settings(built):
    root, _, _ = built
    specials = json.loads((root / "tokenizer" / "special_tokens.json").read_text())
    assert list(specials) == list(SPECIAL_TOKENS)
    sp = spm.SentencePieceProcessor(model_file=str(root / "tokenizer" / "tokenizer.model"))
    assert sp.vocab_size() == 1024
    for name, piece in SPECIAL_TOKENS.items():
        assert sp.id_to_piece(specials[name]) == piece
    assert specials["bos"] != sp.unk_id()
    # digits are split, and no plain text ever produces a special or <unk>
    ids = encode_text(sp, "year 2024 " + " ".join(TRICKY))
    assert not set(ids) & set(specials.values()) and sp.unk_id() not in ids
    pieces = [sp.id_to_piece(i) for i in encode_text(sp, "2024 1234") if not sp.is_byte(i)]
    assert not any(sum(c.isdigit() for c in p) > 1 for p in pieces), pieces


def test_every_row_round_trips_exactly(built):
    root, _, _ = built
    docs = {r["id"]: r["text"] for r in read_table(root / "dedup", columns=["id", "text"]).to_pylist()}
    rows = _shard_rows(root)
    assert set(rows) == set(docs)
    sp = spm.SentencePieceProcessor(model_file=str(root / "tokenizer" / "tokenizer.model"))
    bos = json.loads((root / "tokenizer" / "special_tokens.json").read_text())["bos"]
    specials = set(json.loads((root / "tokenizer" / "special_tokens.json").read_text()).values())
    tricky_seen = 0
    for doc_id, (_, row) in rows.items():
        tokens = row["tokens"]
        assert tokens[0] == bos and row["n_tokens"] == len(tokens)
        assert not specials & set(tokens[1:])
        assert sp.decode(tokens[1:]) == docs[doc_id]
        tricky_seen += all(t in docs[doc_id] for t in TRICKY)
    assert tricky_seen == 1
    texts = set(docs.values())
    assert any("東京" in t or "日本" in t for t in texts) and any("😀" in t or "🚀" in t for t in texts)


def test_round_trip_random_unicode(built):
    root, _, _ = built
    sp = spm.SentencePieceProcessor(model_file=str(root / "tokenizer" / "tokenizer.model"))
    rng = random.Random(1)
    alphabet = [chr(c) for c in list(range(1, 0x250)) + list(range(0x2000, 0x2100)) + list(range(0x3000, 0x3100))
                + list(range(0x4E00, 0x4F00)) + list(range(0x1F300, 0x1F700)) + [0x2581, 0xFEFF, 0xFFFD]]
    alphabet += list(SPECIAL_TOKENS.values()) + ["\n", "\t", " ", "  ", "\r\n", "<|"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200))) for _ in range(300)]
    for text, ids in zip(texts, encode_documents(sp, texts)):
        assert sp.decode(ids) == text
        assert encode_text(sp, text) == ids


def test_batched_encoding_matches_one_by_one_with_and_without_specials(built):
    """Long documents are encoded cut at word boundaries in one batched call, and literal
    special pieces / U+2581 are spelled as bytes only where they occur: ids equal the
    one-by-one encoder's, and plain sentencepiece's for plain text."""
    root, _, _ = built
    sp = spm.SentencePieceProcessor(model_file=str(root / "tokenizer" / "tokenizer.model"))
    rng = random.Random(7)
    words = ["the", "cat", "Grüße", "東京", "😀", "2024", "x" * 40, " ", "   ", "\n", "\t", "a.b", ""]
    plain = ["".join(rng.choice(words) + rng.choice([" ", "  ", "", "\n "]) for _ in range(rng.randint(0, 900)))
             for _ in range(40)] + ["", " ", "   lead", "trail   ", " " * 700, "y" * 2000]
    odd = list(SPECIAL_TOKENS.values()) + ["\u2581", "<|", "|>"]
    mixed = [t[:i] + rng.choice(odd) + t[i:] for t in plain[:20] for i in (0, len(t) // 2, len(t))]
    alone = encode_documents(sp, plain)
    assert alone == sp.encode(plain)
    together = encode_documents(sp, mixed + plain, threads=2)
    assert together[len(mixed):] == alone
    for text, ids in zip(mixed + plain, together):
        assert ids == encode_text(sp, text) and sp.decode(ids) == text


def test_models_that_merge_across_spaces_are_not_cut(tmp_path):
    """A model whose pieces span spaces (``split_by_whitespace=False``) is encoded whole."""
    import io

    from contract import tokens

    rng = random.Random(2)
    texts = [" ".join(rng.choice(["ab", "cd", "ef"]) for _ in range(400)) for _ in range(30)]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=model, model_type="bpe",
                                   vocab_size=300, split_by_whitespace=False, byte_fallback=True,
                                   add_dummy_prefix=False, normalization_rule_name="identity",
                                   remove_extra_whitespaces=False, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    assert any("\u2581" in sp.id_to_piece(i).lstrip("\u2581") for i in range(sp.get_piece_size()))
    assert not tokens._cuts_at_words(sp)
    assert encode_documents(sp, texts) == sp.encode(texts)


def test_shard_contract_and_manifest(built):
    root, config, manifest = built
    m = json.loads((root / "shards" / MANIFEST).read_text())
    assert m["dtype"] == "uint16"
    tok = m["tokenizer"]
    model = (root / "shards" / tok["path"]).resolve()
    assert model == (root / "tokenizer" / "tokenizer.model").resolve()
    assert tok["sha256"] == file_sha256(model) and tok["vocab_size"] == 1024
    assert tok["special_tokens"] == json.loads((root / "tokenizer" / "special_tokens.json").read_text())
    rows = _shard_rows(root)
    total_docs = 0
    for split in ("train", "val"):
        info = m["splits"][split]
        assert info["documents"] > 0
        assert info["documents"] == sum(s["documents"] for s in info["shards"])
        assert info["tokens"] == sum(s["tokens"] for s in info["shards"])
        assert sorted(p.name for p in (root / "shards" / split).glob("part-*.parquet")) == \
            [s["path"].split("/")[1] for s in info["shards"]]
        for s in info["shards"]:
            t = pq.read_table(root / "shards" / s["path"])
            assert t.schema.field("tokens").type == pa.list_(pa.uint16())
            assert t.schema.field("n_tokens").type == pa.int32()
            assert t.column_names == ["id", "tokens", "n_tokens"]
            assert (t.num_rows, sum(t.column("n_tokens").to_pylist())) == (s["documents"], s["tokens"])
        total_docs += info["documents"]
    assert total_docs == manifest["counts"]["in"] == len(rows)
    # shards hold about shard_tokens tokens each (the last one may be short)
    train = m["splits"]["train"]["shards"]
    assert len(train) >= 2 and all(s["tokens"] >= 20_000 for s in train[:-1])
    # the split is a function of the id alone
    ids = sorted(rows)
    val = split_is_val(ids, 0, 0.1)
    assert [rows[i][0] == "val" for i in ids] == list(val)
    assert not (root / "shards" / "parts").exists()


def test_rows_are_shuffled_not_in_input_order(built):
    root, _, _ = built
    input_ids = read_table(root / "dedup", columns=["id"]).column("id").to_pylist()
    shard_ids = pq.read_table(root / "shards" / "train" / "part-00000.parquet").column("id").to_pylist()
    order = [input_ids.index(i) for i in shard_ids]
    assert order != sorted(order)


def test_readable_by_duckdb(built):
    duckdb = pytest.importorskip("duckdb")
    root, _, _ = built
    m = json.loads((root / "shards" / MANIFEST).read_text())
    glob = str(root / "shards" / "train" / "*.parquet")
    con = duckdb.connect()
    n, tokens, first = con.execute(
        f"select count(*), sum(n_tokens), min(tokens[1]) from read_parquet('{glob}')").fetchone()
    assert (n, tokens) == (m["splits"]["train"]["documents"], m["splits"]["train"]["tokens"])
    assert first == m["tokenizer"]["special_tokens"]["bos"]
    assert con.execute(f"select max(len(tokens) - n_tokens) from read_parquet('{glob}')").fetchone()[0] == 0


def test_deterministic_across_runs_and_worker_counts(built, tmp_path):
    root, _, _ = built
    _build(tmp_path, workers=1)
    assert (tmp_path / "tokenizer" / "tokenizer.model").read_bytes() == \
        (root / "tokenizer" / "tokenizer.model").read_bytes()
    for split in ("train", "val"):
        a = sorted((root / "shards" / split).glob("*.parquet"))
        b = sorted((tmp_path / "shards" / split).glob("*.parquet"))
        assert [p.name for p in a] == [p.name for p in b]
        for x, y in zip(a, b):
            assert x.read_bytes() == y.read_bytes()


def test_rerun_is_up_to_date_and_force_redoes(built):
    root, config, manifest = built
    again = run_stage(TokenizeStage(config), show_progress=False)
    assert again["started"] == manifest["started"]
    redone = run_stage(TokenizeStage(config), force=True, show_progress=False)
    assert redone["splits"] == manifest["splits"]


def test_uint32_for_large_vocab():
    from corpus.stages.tokenize import dtype_for
    assert dtype_for(65536) == "uint16" and dtype_for(65537) == "uint32"


def test_missing_tokenizer_is_a_clear_error(tmp_path):
    from corpus.core.runner import StageError
    write_fake_stage(tmp_path, parts=1, docs_per_part=5)
    with pytest.raises(StageError, match="no tokenizer"):
        run_stage(TokenizeStage(fake_config(tmp_path)), show_progress=False)


def test_vocab_too_large_for_the_sample_is_a_clear_error(tmp_path):
    from corpus.core.runner import StageError
    write_fake_stage(tmp_path, parts=1, docs_per_part=20)
    config = fake_config(tmp_path, tokenizer={"vocab_size": 60000})
    config["executor"]["workers"] = 1
    with pytest.raises(StageError, match="too small for vocab_size=60000"):
        run_stage(TokenizerStage(config), show_progress=False)


def test_reads_language_partitioned_input(tmp_path):
    """Pointed at a filter output partitioned into language=xx/ folders, every doc is encoded."""
    write_fake_stage(tmp_path, stage="filter/language=de", parts=1, docs_per_part=60, seed=1)
    write_fake_stage(tmp_path, stage="filter/language=en", parts=1, docs_per_part=60, seed=2)
    config = fake_config(tmp_path, tokenizer={"input_stage": "filter", "vocab_size": 600},
                         tokenize={"input_stage": "filter"})
    run_stage(TokenizerStage(config), show_progress=False)
    m = run_stage(TokenizeStage(config), show_progress=False)
    assert m["counts"]["in"] == 120
    assert set(_shard_rows(tmp_path)) == set(read_table(tmp_path / "filter" / "language=de").column("id").to_pylist()
                                             + read_table(tmp_path / "filter" / "language=en").column("id").to_pylist())
