"""Dedup building blocks on generated texts: tokens, MinHash estimates vs true Jaccard
(and vs datasketch), LSH parameters, grouping, union-find, URL keys, decontamination."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from corpus.stages.dedup.decontam import build_ngram_table, contamination
from corpus.stages.dedup.exact import normalize_url, url_keys
from corpus.stages.dedup.lsh import LSHParams, band_keys, links_from_keys, optimal_params
from corpus.stages.dedup.minhash import MinHasher, estimate_jaccard
from corpus.stages.dedup.shingles import TokenBatch, jaccard, shingle_sets, tokenize
from corpus.stages.dedup.unionfind import components, winners
from dedup_corpus import TextMaker


def test_tokenize_words_digits_punctuation_and_no_space_scripts():
    assert tokenize("Hello, World! It's 2024…") == ["hello", "world", "it", "s", "0000"]
    assert tokenize("Grüße aus Köln «Straße»") == ["grüße", "aus", "köln", "straße"]
    # Chinese/Japanese/Thai: one token per character; punctuation separates; mixed text works
    assert tokenize("中文，测试abc def") == ["中", "文", "测", "试", "abc", "def"]
    assert tokenize("日本語のテキスト。") == ["日", "本", "語", "の", "テ", "キ", "ス", "ト"]
    assert len(tokenize("สวัสดี")) == 6
    assert tokenize("") == [] and tokenize("  ,.;  ") == []


def test_token_hashes_and_text_keys_follow_the_normalised_tokens():
    tb = TokenBatch.from_texts(["The cat sat.", "", "the CAT, sat", "the cat sits", "cat the sat"])
    assert tb.counts.tolist() == [3, 0, 3, 3, 3]
    h = tb.hashes.reshape(-1, 3)
    assert (h[0] == h[1]).all()          # same tokens -> same hashes, wherever they are
    assert h[0][2] != h[2][2]
    keys = tb.text_keys()
    assert keys[1] == 0 and keys[0] != 0
    assert keys[0] == keys[2]            # case and punctuation do not matter
    assert len({keys[0], keys[3], keys[4]}) == 3   # a changed or reordered word does


def test_signature_of_a_document_does_not_depend_on_its_batch():
    tm = TextMaker(1)
    texts = [tm.text(200) for _ in range(30)] + ["short text", "", tm.chinese(300)]
    mh = MinHasher(num_perm=64)
    together = mh.signatures(texts)
    alone = np.stack([mh.signatures([t])[0] for t in texts])
    assert (together == alone).all()
    assert (together[-2] == np.uint32(0xFFFFFFFF)).all()   # no tokens: empty signature
    assert (together[-3] != np.uint32(0xFFFFFFFF)).any()   # fewer than 5 tokens: one shingle


def test_case_folding_in_numpy_matches_str_lower():
    """Shingling lowers UTF-8 bytes in numpy; any text must hash as its ``str.lower()`` does,
    including the characters it hands to str.lower (final sigma, İ, Kelvin sign, Deseret)."""
    rng = random.Random(3)
    letters = list("abcXYZ 09.,'ÄÖÜäößÉéΣσςΑΔİIıЖжЯ中文カไทย😀𐐀𐐨\u00a0\u2019！\ud800ȺⱥKÅẞǅᏸ")
    texts = ["".join(rng.choice(letters) for _ in range(rng.randint(0, 200))) for _ in range(200)]
    texts += ["ΟΔΟΣ Σ", "İstanbul", "ÄRGER über ÖL", "ЖУРНАЛ", "plain ascii", "", None]
    easy = [t for t in texts if t and not any(c in t for c in "ΣİȺKÅẞ𐐀")]
    for batch in (texts, easy, easy[:1], texts[-7:]):
        lowered = [t.lower() if t else t for t in batch]
        got, want = TokenBatch.from_texts(batch), TokenBatch.from_texts(lowered)
        assert got.counts.tolist() == want.counts.tolist()
        assert (got.hashes == want.hashes).all()
        assert [tokenize(t or "") for t in batch] == [tokenize(t or "") for t in lowered]


def _pairs(seed: int, n: int = 60):
    tm = TextMaker(seed)
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        a = tm.text(rng.randint(80, 300))
        b = tm.near_copy(a, rng.choice([0, 1, 3, 6, 12, 25, 50]))
        pairs.append((a, b))
    return pairs


def test_minhash_estimates_track_true_jaccard_like_datasketch():
    from datasketch import MinHash

    pairs = _pairs(3)
    mh = MinHasher(num_perm=128)
    ours, theirs, true = [], [], []
    for a, b in pairs:
        sa, sb = shingle_sets(a), shingle_sets(b)
        true.append(jaccard(sa, sb))
        s = mh.signatures([a, b])
        ours.append(float(estimate_jaccard(s[0], s[1])))
        ds = []
        for sh in (sa, sb):
            m = MinHash(num_perm=128)
            m.update_batch([" ".join(g).encode() for g in sh])
            ds.append(m)
        theirs.append(ds[0].jaccard(ds[1]))
    true, ours, theirs = map(np.array, (true, ours, theirs))
    assert true.min() < 0.4 and true.max() > 0.9          # the pairs span the range
    err, ds_err = np.abs(ours - true), np.abs(theirs - true)
    # standard error of a 128-slot estimate is at most 0.044
    assert err.mean() < 0.04 and err.max() < 0.15
    assert abs(err.mean() - ds_err.mean()) < 0.02          # as close as datasketch's own
    assert abs((ours - true).mean()) < 0.02                 # unbiased


def test_chinese_near_copies_are_similar_and_unrelated_texts_are_not():
    tm = TextMaker(5)
    a = tm.chinese(600)
    near = tm.near_copy_chars(a, 3)
    other = tm.chinese(600)
    s = MinHasher().signatures([a, near, other])
    assert jaccard(shingle_sets(a), shingle_sets(near)) > 0.8
    assert estimate_jaccard(s[0], s[1]) > 0.7
    assert estimate_jaccard(s[0], s[2]) < 0.1


def test_lsh_parameters_match_datasketch_and_fineweb_curve():
    from datasketch import MinHashLSH

    for threshold, num_perm in ((0.8, 128), (0.7, 112), (0.5, 64)):
        ours = optimal_params(threshold, num_perm)
        ds = MinHashLSH(threshold=threshold, num_perm=num_perm)
        assert (ours.bands, ours.rows) == (ds.b, ds.r)
    p = LSHParams(14, 8)
    assert p.probability(0.9) > 0.99 and p.probability(0.8) > 0.9 and p.probability(0.3) < 0.001


def test_band_keys_group_near_copies():
    tm = TextMaker(7)
    base = [tm.text(300) for _ in range(20)]
    texts = base + [tm.near_copy(t, 1) for t in base[:10]]
    keys = band_keys(MinHasher().signatures(texts), LSHParams(14, 8))
    assert keys.shape == (14, 30)
    found = set()
    for b in range(14):
        child, first = links_from_keys(keys[b], np.arange(30))
        found |= set(zip(first.tolist(), child.tolist()))
    assert {(i, 20 + i) for i in range(10)} <= found
    assert all(c - f == 20 for f, c in found)               # nothing else collides


def test_links_components_and_winners():
    child, first = links_from_keys(np.array([5, 3, 5, 9, 3, 5], np.uint64), np.arange(6))
    assert sorted(zip(child.tolist(), first.tolist())) == [(2, 0), (4, 1), (5, 0)]
    labels = components(7, np.array([1, 4, 6]), np.array([4, 6, 3]))
    assert labels.tolist() == [0, 1, 2, 1, 1, 5, 1]
    rank = np.array([6, 5, 4, 0, 3, 2, 1])
    assert winners(labels, np.array([1, 3, 4, 6, 5]), rank).tolist() == [3, 3, 3, 3, 5]


def test_components_match_a_plain_union_find():
    rng = np.random.default_rng(0)
    n = 3000
    u, v = rng.integers(0, n, 2500), rng.integers(0, n, 2500)
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(u.tolist(), v.tolist()):
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    labels = components(n, u, v)
    groups: dict[int, int] = {}
    for x in range(n):     # the same partition, labelled by the smallest member
        groups.setdefault(find(x), x)
        assert labels[x] == groups[find(x)]


def test_url_normalisation():
    same = ["https://www.Example.com/a/b/?utm_source=x&b=2&a=1#top", "http://example.com:80/a/b?a=1&b=2",
            "https://example.com/a/b?a=1&b=2&fbclid=zz"]
    assert len({normalize_url(u) for u in same}) == 1
    assert normalize_url("https://example.com/a/c") != normalize_url(same[0])
    keys = url_keys(same + ["", None])
    assert len(set(keys[:3].tolist())) == 1 and keys[3] == 0 and keys[4] == 0


def test_decontamination_finds_a_planted_13_gram(tmp_path):
    tm = TextMaker(11)
    docs = [tm.text(200) for _ in range(5)]
    planted = "the quick brown fox jumps over the lazy dog near the old mill pond today"
    docs[2] = docs[2] + " " + planted.upper() + "! " + tm.text(50)
    twelve = " ".join(planted.split()[:12])
    docs[3] = docs[3] + " " + twelve            # 12 words only: not contaminated
    evals = tmp_path / "eval.jsonl"
    evals.write_text(json.dumps({"question": f"Q: {planted}?", "answer": "yes"}) + "\n"
                     + json.dumps({"question": "too short"}) + "\n")
    table, owners, stats = build_ngram_table([evals], ["question", "answer"], 13)
    assert stats[str(evals)] == {"items": 3, "too_short": 2}
    counts, which = contamination(TokenBatch.from_texts(docs), table, owners, 13)
    assert counts.tolist() == [0, 0, 3, 0, 0]    # 15 planted words hold three 13-grams
    assert which.tolist() == [-1, -1, 0, -1, -1]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{oops\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        build_ngram_table([bad], ["text"], 13)
