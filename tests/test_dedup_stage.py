"""The dedup stage end to end: on a generated corpus with planted copies (every kind of
duplicate, worker counts, Ray, incremental runs, decontamination) and on the embedded
sample's known clusters (recall and precision against true Jaccard)."""
from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpus.core.config import load_pipeline
from corpus.core.parts import list_parts, read_table
from corpus.core.runner import run_stage
from dedup_corpus import make_corpus, write_parts
from contract.layout import REJECTED


def run_dedup(out: Path, workers: int = 1, executor: str = "local", **params) -> dict:
    config = load_pipeline(None, output=str(out), workers=workers, executor=executor)
    config["stages"] = {"dedup": {"input_stage": "extract", **params}}
    from corpus.stages.dedup import DedupStage

    return run_stage(DedupStage(config), show_progress=False)


def digest(stage_dir: Path) -> str:
    """Hash of every output row (kept and rejected), part by part."""
    h = hashlib.sha256()
    for sub in ("", REJECTED):
        for p in list_parts(stage_dir / sub):
            h.update(p.name.encode())
            h.update(json.dumps(pq.read_table(p).to_pylist(), default=str).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rows, truth = make_corpus(seed=0)
    out = tmp_path_factory.mktemp("dedup-gen")
    write_parts(rows, out / "extract")
    return out, rows, truth


@pytest.fixture(scope="module")
def deduped(corpus):
    out, rows, truth = corpus
    manifest = run_dedup(out, workers=1)
    return out, rows, truth, manifest


def test_every_planted_duplicate_is_removed_with_its_reason(deduped):
    out, rows, truth, manifest = deduped
    kept = read_table(out / "dedup").to_pylist()
    rejected = read_table(out / "dedup" / REJECTED).to_pylist()
    c = manifest["counts"]
    assert c["in"] == len(rows) == c["kept"] + sum(c["rejected"].values())
    expected = {"near": "minhash_duplicate", "exact": "exact_duplicate", "url": "url_duplicate"}
    got = {r["id"]: r for r in rejected}
    kept_by_id = {r["id"]: r for r in kept}
    for doc_id, (kind, original) in truth.items():
        if kind == "url":   # the newer crawl of a URL is kept, the original removed
            assert got[original]["reason"] == "url_duplicate" and got[original]["dup_of"] == doc_id
            assert kept_by_id[doc_id]["cluster"] == got[original]["cluster"]
        else:   # the longer text is kept (ties: the newer); exact copies are equally long
            rank = {r["id"]: (len(r["text"]), r["date"]) for r in rows}
            loser, winner = ((original, doc_id) if rank[doc_id] > rank[original]
                             else (doc_id, original))
            assert got[loser]["reason"] == expected[kind], doc_id
            assert got[loser]["dup_of"] == winner
            assert kept_by_id[winner]["cluster"] == got[loser]["cluster"] is not None
    assert len(rejected) == len(truth)            # nothing else removed
    singletons = set(kept_by_id) - {r["dup_of"] for r in rejected}
    assert all(kept_by_id[i]["cluster"] is None for i in singletons)
    assert set(kept[0]) == set(rows[0]) | {"cluster"}
    assert set(rejected[0]) == set(rows[0]) | {"cluster", "reason", "reason_value",
                                                 "reason_detail", "dup_of"}
    assert manifest["dedup"]["stats"]["clusters"] == len(truth)


def test_same_output_with_two_workers_and_under_ray(deduped, tmp_path, monkeypatch):
    import corpus.stages.dedup.assign
    import corpus.stages.dedup.stage

    out, rows, _, _ = deduped
    expected = digest(out / "dedup")
    # small corpus: make the key map and the band grouping run on the executor too
    monkeypatch.setattr(corpus.stages.dedup.assign, "INLINE_BAND_KEYS", 0)
    monkeypatch.setattr(corpus.stages.dedup.stage, "INLINE_KEYS_DOCS", 0)
    for name, workers, executor in (("two", 2, "local"), ("ray", 2, "ray")):
        other = tmp_path / name
        write_parts(rows, other / "extract")
        manifest = run_dedup(other, workers=workers, executor=executor)
        assert manifest["executor"]["type"] == executor
        assert digest(other / "dedup") == expected, name


def test_band_buckets_do_not_change_the_result(deduped, tmp_path):
    out, rows, _, _ = deduped
    write_parts(rows, tmp_path / "extract")
    run_dedup(tmp_path, buckets=3)
    assert digest(tmp_path / "dedup") == digest(out / "dedup")


def test_incremental_dedup_removes_exactly_the_documents_already_there(deduped, tmp_path):
    out, rows, _, _ = deduped
    new_rows, _ = make_corpus(seed=1, originals=60, prefix="new-")
    fresh = [r for r in new_rows if r["id"].startswith("new-o")]   # 60 unrelated pages
    again = [dict(r, id="again-" + r["id"]) for r in rows[:80]]    # re-crawled old pages
    crawl2 = tmp_path / "crawl2"
    write_parts(fresh + again, crawl2 / "extract", parts=2)
    manifest = run_dedup(crawl2, against=str(out / "dedup"))
    rejected = read_table(crawl2 / "dedup" / REJECTED).to_pylist()
    assert {r["id"] for r in rejected} == {r["id"] for r in again}
    old_kept = set(read_table(out / "dedup", ["id"])["id"].to_pylist())
    assert {r["dup_of"] for r in rejected} <= old_kept
    assert manifest["dedup"]["stats"]["against_documents"] == len(rows)
    # chained: a third crawl against the second also sees the first
    crawl3 = tmp_path / "crawl3"
    write_parts([dict(r, id="third-" + r["id"]) for r in fresh[:5] + rows[:5]], crawl3 / "extract", 1)
    run_dedup(crawl3, against=str(crawl2 / "dedup"))
    assert read_table(crawl3 / "dedup").num_rows == 0


def test_decontamination_removes_or_flags(corpus, tmp_path):
    _, rows, truth = corpus
    victim = next(r for r in rows if r["id"].startswith("o") and r["id"] not in truth
                  and r["text"].isascii() and not any(o == r["id"] for _, o in truth.values()))
    words = victim["text"].split()
    passage = " ".join(words[40:55])
    evals = tmp_path / "evals.jsonl"
    evals.write_text(json.dumps({"question": f"Complete: {passage}", "answer": "x"}) + "\n")
    for action in ("remove", "flag"):
        out = tmp_path / action
        write_parts(rows, out / "extract")
        run_dedup(out, decontaminate={"eval_sets": [str(evals)], "action": action})
        rejected = read_table(out / "dedup" / REJECTED).to_pylist()
        contaminated = [r for r in rejected if r["reason"] == "contaminated"]
        if action == "remove":
            assert [r["id"] for r in contaminated] == [victim["id"]]
            assert contaminated[0]["reason_detail"] == "evals.jsonl"
            assert contaminated[0]["reason_value"] >= 1 and contaminated[0]["dup_of"] is None
        else:
            assert contaminated == []
            kept = read_table(out / "dedup", ["id", "contaminated"]).to_pylist()
            assert [r["id"] for r in kept if r["contaminated"]] == [victim["id"]]


def test_reads_language_partitioned_input(deduped, tmp_path):
    out, rows, _, _ = deduped
    write_parts([r for r in rows if r["text"].isascii()], tmp_path / "extract" / "language=en", 2)
    write_parts([r for r in rows if not r["text"].isascii()], tmp_path / "extract" / "language=zh", 1)
    manifest = run_dedup(tmp_path)
    assert manifest["counts"]["in"] == len(rows)
    assert len(list_parts(tmp_path / "dedup")) == 3

    def outcome(d):
        return {(r["id"], r["reason"], r["dup_of"]) for r in read_table(d / REJECTED).to_pylist()}

    assert outcome(tmp_path / "dedup") == outcome(out / "dedup")


def test_against_an_index_made_with_other_parameters_fails_clearly(deduped, tmp_path):
    from corpus.core.config import ConfigError

    out, rows, _, _ = deduped
    write_parts(rows[:10], tmp_path / "extract", 1)
    with pytest.raises(ConfigError, match="ngram: index 5 vs this run 4"):
        run_dedup(tmp_path, ngram=4, against=str(out / "dedup"))
    with pytest.raises(ConfigError, match="no dedup index"):
        run_dedup(tmp_path, against=str(tmp_path / "nowhere"))


def test_unreadable_input_part_is_named(corpus, tmp_path):
    _, rows, _ = corpus
    write_parts(rows[:20], tmp_path / "extract", 2)
    (tmp_path / "extract" / "part-00001.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(RuntimeError, match="part-00001.parquet"):
        run_dedup(tmp_path)


def test_bad_parameters_fail_with_the_key_name(corpus, tmp_path):
    from corpus.core.config import ConfigError

    _, rows, _ = corpus
    write_parts(rows[:10], tmp_path / "extract", 1)
    with pytest.raises(ConfigError, match="bands x rows"):
        run_dedup(tmp_path, bands=20, rows=8, num_perm=128)
    with pytest.raises(ConfigError, match="unknown key"):
        run_dedup(tmp_path, shingle=5)


def test_sample_near_duplicates_found_with_high_recall_and_precision(sample_pipeline, sample_crawl):
    from corpus.stages.dedup.shingles import jaccard, shingle_sets

    out = sample_pipeline("extract", "filter", "dedup")
    pages = json.loads((sample_crawl / "truth.json").read_text())["pages"]
    inputs = read_table(out / "filter", ["id", "text"]).to_pylist()
    text = {r["id"]: r["text"] for r in inputs}
    kept = read_table(out / "dedup", ["id", "cluster"]).to_pylist()
    rejected = read_table(out / "dedup" / REJECTED, ["id", "cluster", "reason", "dup_of"]).to_pylist()
    cluster = {r["id"]: r["cluster"] for r in kept + rejected}
    true_cluster = {i: pages[i]["cluster"] for i in text}
    members: dict[int, list[str]] = {}
    for i, c in true_cluster.items():
        if c is not None:
            members.setdefault(c, []).append(i)
    pairs = found = 0
    for ids in members.values():
        for a, b in itertools.combinations(sorted(ids), 2):
            if jaccard(shingle_sets(text[a]), shingle_sets(text[b])) >= 0.8:
                pairs += 1
                found += cluster[a] is not None and cluster[a] == cluster[b]
    assert pairs >= 100
    assert found / pairs >= 0.95
    removed = [r for r in rejected if r["reason"] != "contaminated"]
    correct = sum(true_cluster[r["id"]] is not None and true_cluster[r["id"]] == true_cluster[r["dup_of"]]
                  for r in removed)
    assert len(removed) >= 100
    assert correct / len(removed) >= 0.99
