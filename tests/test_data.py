"""train/data.py: best-fit packing (remainders carried, or cropped), rank-disjoint reading,
exact resume, the public IterableDataset."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from contract.layout import MANIFEST

sys.path.insert(0, str(Path(__file__).parent))
from train_fixtures import write_shards  # noqa: E402

from train.data import DataError, ShardDataset, Split, TokenLoader, unigram_baseline

BOS = 1


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return write_shards(tmp_path_factory.mktemp("data"), max_docs=400, vocab_size=512,
                        docs_per_shard=100, row_group_size=16)


def _docs(shards: Path) -> dict[tuple, str]:
    """token tuple -> doc id for every train document."""
    out = {}
    for path in sorted((shards / "train").glob("*.parquet")):
        t = pq.read_table(path)
        for doc_id, toks in zip(t.column("id").to_pylist(), t.column("tokens").to_pylist()):
            out[tuple(toks)] = doc_id
    return out


def _segments(row: np.ndarray) -> list[tuple]:
    starts = [i for i, t in enumerate(row) if t == BOS]
    return [tuple(row[a:b]) for a, b in zip(starts, starts[1:] + [len(row)])]


def test_crop_packing_starts_rows_at_documents_and_holds_whole_documents(shards):
    """packing "crop" (the old behaviour): rows start at documents, the tails that do not fit go."""
    docs = _docs(shards)
    loader = TokenLoader(shards, batch_size=4, seq_len=64, grad_accum=2, prefetch=0, packing="crop")
    whole = cropped = 0
    for _ in range(20):
        rows = loader.next_rows()
        assert rows.shape == (4, 65)
        for row in rows:
            assert row[0] == BOS
            segs = _segments(row)
            for seg in segs[:-1]:
                assert seg in docs          # every segment but the last is a whole document
                whole += 1
            if segs[-1] in docs:
                whole += 1
            else:                          # the last one may be cropped: a prefix of a document
                cropped += 1
                assert any(d[:len(segs[-1])] == segs[-1] for d in docs)
    assert whole > 0
    share = loader.cropped_share()
    assert 0.0 < share < 1.0
    assert 0.0 < loader.trained_token_share() < 1.0
    x, y = loader.next()
    assert x.dtype == torch.int64 and x.shape == (4, 64) and torch.equal(x[:, 1:], y[:, :-1])


def test_best_fit_fills_rows_without_cropping_when_documents_fit(shards):
    """With rows much longer than documents the packer fills rows with whole documents."""
    loader = TokenLoader(shards, batch_size=2, seq_len=2048, prefetch=0)
    docs = _docs(shards)
    rows = loader.next_rows()
    for row in rows:
        segs = _segments(row)
        assert all(seg in docs for seg in segs[:-1])
        assert len(segs) >= 2


def test_ranks_read_disjoint_documents_and_match_single_process(shards):
    single = TokenLoader(shards, batch_size=4, seq_len=64, grad_accum=1, world_size=1, prefetch=0)
    r0 = TokenLoader(shards, batch_size=2, seq_len=64, rank=0, world_size=2, prefetch=0)
    r1 = TokenLoader(shards, batch_size=2, seq_len=64, rank=1, world_size=2, prefetch=0)
    accum = TokenLoader(shards, batch_size=2, seq_len=64, grad_accum=2, world_size=1, prefetch=0)
    for _ in range(10):
        s = single.next_rows()
        a, b = r0.next_rows(), r1.next_rows()
        assert np.array_equal(s, np.concatenate([a, b]))
        assert np.array_equal(s, np.concatenate([accum.next_rows(), accum.next_rows()]))
    refs = [{(e, i) for lane in ld.state_dict()["lanes"] for e, i, *_ in lane["buffer"]} for ld in (r0, r1)]
    taken = [{(lane["lane"] + k * 4) for lane in ld.state_dict()["lanes"] for k in range(lane["k"])}
             for ld in (r0, r1)]
    assert taken[0] and taken[1] and not taken[0] & taken[1]
    assert not refs[0] & refs[1]


def test_state_dict_resumes_exactly_even_with_prefetch(shards):
    a = TokenLoader(shards, batch_size=3, seq_len=48, grad_accum=2, prefetch=3)
    for _ in range(7):
        a.next_rows()
    state = a.state_dict()
    expected = [a.next_rows() for _ in range(40)]     # long enough to wrap an epoch on some lanes
    b = TokenLoader(shards, batch_size=3, seq_len=48, grad_accum=2, prefetch=3)
    b.load_state_dict(state)
    got = [b.next_rows() for _ in range(40)]
    assert all(np.array_equal(x, y) for x, y in zip(expected, got))
    a.close()
    b.close()
    c = TokenLoader(shards, batch_size=4, seq_len=48, grad_accum=2, prefetch=0)
    with pytest.raises(DataError, match="num_lanes"):
        c.load_state_dict(state)


def test_epochs_wrap_and_shuffle_is_seeded(shards):
    split = Split(shards, "train", seed=1)
    n = split.num_docs
    order0 = [tuple(split.doc(0, i)[:4]) for i in range(n)]
    order1 = [tuple(split.doc(1, i)[:4]) for i in range(n)]
    assert sorted(order0) == sorted(order1) and order0 != order1
    assert [tuple(Split(shards, "train", seed=1).doc(0, i)[:4]) for i in range(5)] == order0[:5]
    loader = TokenLoader(shards, batch_size=2, seq_len=512, prefetch=0)
    while min(lane["epoch"] for lane in loader.state_dict()["lanes"]) == 0:
        loader.next_rows()
    assert loader.epoch() >= 1.0


def test_unigram_baseline_is_a_plausible_entropy(shards):
    u = unigram_baseline(shards, 512)
    assert 3.0 < u < np.log(512)


def test_bad_shards_give_clear_errors(tmp_path, shards):
    with pytest.raises(DataError, match=MANIFEST):
        TokenLoader(tmp_path, prefetch=0)
    with pytest.raises(DataError, match="no shards"):
        Split(shards, "test")


def test_iterable_dataset_workers_and_state(shards):
    ds = ShardDataset(shards, seq_len=32, seed=0)
    it = iter(ds)
    first = [next(it) for _ in range(5)]
    assert first[0][0][0] == BOS          # a lane's first row starts at a document; later ones may not
    assert all(x.shape == (32,) and torch.equal(x[1:], y[:-1]) for x, y in first)
    state = ds.state_dict()
    more = [next(it) for _ in range(5)]
    again = ShardDataset(shards, seq_len=32, seed=0)
    again.load_state_dict(state)
    it2 = iter(again)
    assert all(torch.equal(a[0], next(it2)[0]) for a in more)
    # two DataLoader workers read different documents; ranks too
    dl = torch.utils.data.DataLoader(ShardDataset(shards, seq_len=32, packing="crop"), batch_size=4,
                                     num_workers=2)
    batches = []
    for i, (x, y) in enumerate(dl):
        batches.append(x)
        if i == 3:
            break
    assert all((b[:, 0] == BOS).all() for b in batches)
    assert not torch.equal(batches[0], batches[1])   # worker 0 then worker 1
    r0 = next(iter(ShardDataset(shards, seq_len=32, rank=0, world_size=2)))[0]
    r1 = next(iter(ShardDataset(shards, seq_len=32, rank=1, world_size=2)))[0]
    assert not torch.equal(r0, r1)


def test_corrupt_shard_names_file_and_row_group(tmp_path, shards):
    import shutil
    bad = tmp_path / "shards"
    shutil.copytree(shards, bad)
    part = sorted((bad / "train").glob("*.parquet"))[0]
    data = bytearray(part.read_bytes())
    data[200:400] = b"\x00" * 200              # inside the first row group's pages
    part.write_bytes(bytes(data))
    loader = TokenLoader(bad, batch_size=2, seq_len=32, prefetch=2, shuffle=False)
    with pytest.raises(DataError, match=r"part-00000\.parquet: cannot read row group 0"):
        loader.next()


# -- carrying a document's remainder into a later row (issue #14) -------------------------------
def _numbered_shards(root: Path, lengths) -> Path:
    """Train shards whose tokens name their place: each document is <|bos|> then ids that no
    other (document, position) shares, so a multiset of row tokens maps back to positions."""
    import json
    import pyarrow as pa
    docs, nxt = [], 2
    for n in lengths:
        docs.append([BOS] + list(range(nxt, nxt + int(n) - 1)))
        nxt += int(n) - 1
    assert nxt < 2 ** 16
    (root / "train").mkdir(parents=True)
    table = pa.table({"id": [str(i) for i in range(len(docs))], "tokens": docs,
                      "n_tokens": [len(d) for d in docs]},
                     schema=pa.schema([("id", pa.string()), ("tokens", pa.list_(pa.uint16())),
                                       ("n_tokens", pa.int32())]))
    pq.write_table(table, root / "train" / "part-00000.parquet", row_group_size=8)
    total = sum(len(d) for d in docs)
    (root / MANIFEST).write_text(json.dumps({"stage": "tokenize", "splits": {"train": {
        "documents": len(docs), "tokens": total,
        "shards": [{"path": "train/part-00000.parquet", "documents": len(docs), "tokens": total}]}}}))
    return root


@pytest.fixture(scope="module")
def numbered(tmp_path_factory) -> Path:
    lengths = np.random.default_rng(0).integers(2, 220, size=150)     # many longer than a row
    return _numbered_shards(tmp_path_factory.mktemp("numbered"), lengths)


def _pending(state: dict) -> list[list]:
    return [ref for lane in state["lanes"] for ref in lane["buffer"]]


def test_one_epoch_puts_every_document_token_in_exactly_one_row_position(numbered):
    """The default packing carries a remainder on (no fresh <|bos|>) instead of cropping it: run
    until no lane holds a piece of epoch 0, and the rows' tokens are exactly the tokens of the
    documents taken (all of epoch 0, the heads already written of those still buffered), each once."""
    from collections import Counter
    T, B, A = 48, 2, 2
    loader = TokenLoader(numbered, batch_size=B, seq_len=T, grad_accum=A, prefetch=0)
    got: Counter = Counter()
    continuations = 0
    while (min(lane["epoch"] for lane in loader.state_dict()["lanes"]) == 0
           or any(ref[0] == 0 for ref in _pending(loader.state_dict()))):
        rows = loader.next_rows()
        got.update(rows.ravel().tolist())
        continuations += int((rows[:, 0] != BOS).sum())
    split = Split(numbered, "train")
    pending = {(ref[0], ref[1]): (ref[2] if len(ref) > 2 else 0) for ref in _pending(loader.state_dict())}
    want: Counter = Counter()
    for lane in loader.state_dict()["lanes"]:
        for epoch in range(lane["epoch"] + 1):
            mine = range(lane["lane"], split.num_docs, loader.num_lanes)
            for i in mine if epoch < lane["epoch"] else mine[:lane["k"]]:
                toks = split.doc(epoch, i)
                want.update(toks[:pending.get((epoch, i), len(toks))].tolist())
    assert got == want
    assert continuations > 0                    # rows do start inside documents
    assert loader.trained_token_share() == 1.0
    assert loader.cropped_share() == 0.0


def test_resume_with_a_pending_remainder_matches_an_uninterrupted_run(numbered):
    a = TokenLoader(numbered, batch_size=2, seq_len=40, grad_accum=2, prefetch=3)
    for _ in range(50):
        a.next_rows()
        if any(len(ref) > 2 and ref[2] > 0 for ref in _pending(a.state_dict())):
            break
    state = a.state_dict()
    assert any(len(ref) > 2 and ref[2] > 0 for ref in _pending(state)), "no remainder pending"
    expected = [a.next_rows() for _ in range(60)]          # past the end of an epoch
    b = TokenLoader(numbered, batch_size=2, seq_len=40, grad_accum=2, prefetch=0)
    b.load_state_dict(state)
    assert all(np.array_equal(x, b.next_rows()) for x in expected)
    a.close()
    crop = TokenLoader(numbered, batch_size=2, seq_len=40, grad_accum=2, prefetch=0, packing="crop")
    with pytest.raises(DataError, match="packing"):
        crop.load_state_dict(state)


def _epoch_share(shards: Path, **kw) -> tuple[float, dict, int]:
    loader = TokenLoader(shards, "train", batch_size=8, seq_len=256, prefetch=0, **kw)
    n = 0
    while min(lane["epoch"] for lane in loader.state_dict()["lanes"]) == 0:
        loader.next_rows()
        n += 1
    return loader.trained_token_share(), loader.state_dict(), n


@pytest.mark.slow
def test_sample_shards_train_on_at_least_95_percent_of_document_tokens(sample_pipeline):
    """The embedded sample at the pretrain defaults (seq_len 256, 8 rows): over one epoch the
    packer trains on >= 95% of the document tokens it is done with; cropping trained on ~60%."""
    shards = sample_pipeline("extract", "filter", "dedup", "tokenizer", "tokenize") / "shards"
    share, state, n = _epoch_share(shards)
    lanes = state["lanes"]
    assert sum(lane["tokens_out"] for lane in lanes) == n * 8 * 257      # the counter is the rows'
    assert sum(lane["tokens_cropped"] for lane in lanes) == 0
    assert share >= 0.95
    crop, _, _ = _epoch_share(shards, packing="crop")
    assert crop < 0.95
