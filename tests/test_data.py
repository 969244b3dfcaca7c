"""train/data.py: best-fit packing from document starts, rank-disjoint reading, exact resume,
the public IterableDataset."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

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


def test_rows_start_at_documents_and_hold_whole_documents(shards):
    docs = _docs(shards)
    loader = TokenLoader(shards, batch_size=4, seq_len=64, grad_accum=2, prefetch=0)
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
    assert 0.0 <= share < 1.0
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
    refs = [{(e, i) for lane in ld.state_dict()["lanes"] for e, i in lane["buffer"]} for ld in (r0, r1)]
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
    while loader.state_dict()["lanes"][0]["epoch"] == 0:
        loader.next_rows()
    assert loader.epoch() >= 1.0


def test_unigram_baseline_is_a_plausible_entropy(shards):
    u = unigram_baseline(shards, 512)
    assert 3.0 < u < np.log(512)


def test_bad_shards_give_clear_errors(tmp_path, shards):
    with pytest.raises(DataError, match="manifest.json"):
        TokenLoader(tmp_path, prefetch=0)
    with pytest.raises(DataError, match="no shards"):
        Split(shards, "test")


def test_iterable_dataset_workers_and_state(shards):
    ds = ShardDataset(shards, seq_len=32, seed=0)
    it = iter(ds)
    first = [next(it) for _ in range(5)]
    assert all(x[0] == BOS and x.shape == (32,) and torch.equal(x[1:], y[:-1]) for x, y in first)
    state = ds.state_dict()
    more = [next(it) for _ in range(5)]
    again = ShardDataset(shards, seq_len=32, seed=0)
    again.load_state_dict(state)
    it2 = iter(again)
    assert all(torch.equal(a[0], next(it2)[0]) for a in more)
    # two DataLoader workers read different documents; ranks too
    dl = torch.utils.data.DataLoader(ShardDataset(shards, seq_len=32), batch_size=4, num_workers=2)
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
