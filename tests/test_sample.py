"""The embedded sample crawl: deterministic, and its WARCs hold what truth.json promises.

Counts are checked by reading the WARCs back with warcio, not by trusting truth.json.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from corpus.sample import generate_sample
from corpus.sample.cli import ensure_sample_crawl
from corpus.sample.generate import jaccard


@pytest.fixture(scope="module")
def truth(sample_crawl) -> dict:
    return json.loads((sample_crawl / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def read_back(sample_crawl, truth) -> dict:
    """Every record warcio yields: (file, offset) -> record facts and payload."""
    out: dict = {}
    errors: list = []
    for name in truth["files"]:
        with open(sample_crawl / name, "rb") as fh:
            it = ArchiveIterator(fh)
            try:
                for rec in it:
                    payload = rec.content_stream().read()
                    http = rec.http_headers
                    out[(name, it.get_record_offset())] = {
                        "type": rec.rec_type,
                        "record_id": rec.rec_headers.get_header("WARC-Record-ID"),
                        "url": rec.rec_headers.get_header("WARC-Target-URI"),
                        "status": int(http.get_statuscode()) if http and rec.rec_type == "response" else None,
                        "content_type": http.get_header("Content-Type") if http else None,
                        "declared_length": int(http.get_header("Content-Length") or -1) if http else None,
                        "location": http.get_header("Location") if http else None,
                        "headers": rec.rec_headers,
                        "payload": payload,
                    }
            except Exception as err:  # the truncated final record may raise
                errors.append((name, repr(err)))
    out["_errors"] = errors
    return out


def _records(read_back):
    return {k: v for k, v in read_back.items() if k != "_errors"}


def _digest_files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_same_seed_gives_identical_bytes(tmp_path):
    """Same seed, same bytes, even in another process with another hash seed; another seed differs."""
    here, there = tmp_path / "here", tmp_path / "there"
    generate_sample(here, seed=0, pages=300)
    code = f"from corpus.sample import generate_sample; generate_sample({str(there)!r}, seed=0, pages=300)"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=Path(__file__).resolve().parent.parent)
    assert _digest_files(here) == _digest_files(there)
    other = tmp_path / "other"
    generate_sample(other, seed=1, pages=300)
    a, b = _digest_files(here), _digest_files(other)
    assert a.keys() == b.keys()
    assert all(a[k] != b[k] for k in a)


def test_records_match_truth(truth, read_back):
    recs = _records(read_back)
    assert len(truth["files"]) >= 3
    assert all(re.fullmatch(r"sample-\d{5}\.warc\.gz", f) for f in truth["files"])
    by_pos = {(r["file"], r["offset"]): r for r in truth["records"]}
    assert set(recs) == set(by_pos)
    for pos, got in recs.items():
        want = by_pos[pos]
        assert got["type"] == want["warc_type"]
        assert got["record_id"] == want["record_id"]
        assert got["url"] == want["url"]
        if want["warc_type"] == "response" and want["expect"] != "read_error":
            assert got["status"] == want["http_status"]
    # Each file starts with warcinfo; requests come right before their responses.
    for name in truth["files"]:
        assert recs[(name, 0)]["type"] == "warcinfo"
    order = truth["records"]
    for i, r in enumerate(order):
        if r["warc_type"] in ("response", "revisit"):
            assert order[i - 1]["warc_type"] == "request" and order[i - 1]["url"] == r["url"]


def test_counts_meet_the_issue_minimums(truth, read_back):
    recs = _records(read_back)
    types = Counter(r["type"] for r in recs.values())
    for t in ("warcinfo", "request", "response", "metadata", "revisit"):
        assert types[t] > 0, t
    html_200 = [(pos, r) for pos, r in recs.items() if r["type"] == "response" and r["status"] == 200
                and (r["content_type"] or "").startswith("text/html")
                and len(r["payload"]) == r["declared_length"]]
    assert len(html_200) >= 2000
    pages = truth["pages"]
    by_pos = {(r["file"], r["offset"]): r for r in truth["records"]}
    assert {by_pos[pos]["id"] for pos, _ in html_200} == set(pages)
    langs = Counter(p["language"] for p in pages.values())
    assert len(langs) >= 6 and langs["zh"] > 0 and langs["ja"] > 0
    assert langs["en"] >= 0.4 * len(pages)
    n = len(pages)
    copies = [p for p in pages.values() if p["dup_kind"] in ("exact", "near")]
    assert len(copies) >= 0.10 * n
    assert {p["dup_kind"] for p in copies} == {"exact", "near"}
    low = Counter(p["quality"] for p in pages.values() if p["quality"] != "clean")
    assert sum(low.values()) >= 0.10 * n
    assert set(low) == {"keyword_spam", "link_list", "repeated_lines", "boilerplate_only", "too_short"}
    statuses = Counter(r["status"] for r in recs.values() if r["type"] == "response")
    assert statuses[404] and statuses[301] and statuses[500]
    ctypes = {r["content_type"] for r in recs.values() if r["type"] == "response"}
    assert {"application/pdf", "image/png", "image/jpeg"} <= ctypes
    assert truth["counts"]["html_pages"] == n
    assert truth["counts"]["records_by_type"] == dict(sorted(Counter(r["warc_type"] for r in truth["records"]).items()))


def test_non_html_and_status_payloads(truth, read_back):
    recs = _records(read_back)
    magic = {"application/pdf": b"%PDF-", "image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff",
             "text/plain": b"User-agent: *"}
    seen = Counter()
    response_ids = {r["record_id"] for r in recs.values() if r["type"] == "response"}
    for pos, r in recs.items():
        if r["type"] == "response" and r["content_type"] in magic:
            assert r["payload"].startswith(magic[r["content_type"]])
            seen[r["content_type"]] += 1
        if r["type"] == "response" and r["status"] == 301:
            assert r["location"] and r["location"].startswith("https://")
        if r["type"] == "revisit":
            assert r["headers"].get_header("WARC-Refers-To") in response_ids
            assert r["headers"].get_header("WARC-Payload-Digest")
    assert len(seen) == 4
    expect = {(x["file"], x["offset"]): x["expect"] for x in truth["records"]}
    for pos, r in recs.items():
        if r["type"] in ("request", "metadata", "warcinfo"):
            assert expect[pos] == "not_response"


def test_charsets_decode_with_truth(truth, read_back):
    recs = _records(read_back)
    by_id = {r["id"]: (r["file"], r["offset"]) for r in truth["records"]}
    declared = Counter()
    for doc_id, page in truth["pages"].items():
        got = recs[by_id[doc_id]]
        html = got["payload"].decode(page["charset"])  # strict: must decode
        meta = re.search(r'<meta charset="([^"]+)"', html)
        header_cs = re.search(r"charset=([\w-]+)", got["content_type"] or "")
        if page["charset_declared"] == "header":
            assert header_cs and header_cs.group(1).lower() == page["charset"]
        elif page["charset_declared"] == "meta":
            assert not header_cs and meta and meta.group(1).lower() == page["charset"]
        else:
            assert not header_cs and not meta
        if page["charset"] != "utf-8":
            declared[page["charset_declared"]] += 1
            with pytest.raises(UnicodeDecodeError):
                got["payload"].decode("utf-8")
        first = page["main_text"].split("\n")[0][:30]
        if page["quality"] == "clean" and page["charset"] == page.get("charset"):
            import html as html_mod
            assert html_mod.escape(first) in html or first in html_mod.unescape(html)
    assert declared["header"] and declared["meta"] and declared["none"]


def test_last_record_is_truncated(sample_crawl, truth, read_back):
    last = truth["records"][-1]
    assert last["file"] == truth["files"][-1] and last["expect"] == "read_error"
    assert sum(r["expect"] == "read_error" for r in truth["records"]) == 1
    got = read_back.get((last["file"], last["offset"]))
    if got is not None:  # warcio stops early rather than raising: the payload comes up short
        assert len(got["payload"]) < got["declared_length"]
    else:
        assert read_back["_errors"]
    raw = (sample_crawl / last["file"]).read_bytes()[last["offset"]:]
    with pytest.raises((EOFError, OSError)):
        gzip.decompress(raw)


def test_duplicate_clusters(truth, read_back):
    recs = _records(read_back)
    by_id = {r["id"]: (r["file"], r["offset"]) for r in truth["records"]}
    pages = truth["pages"]
    clusters: dict[int, list[str]] = {}
    for doc_id, p in pages.items():
        if p["cluster"] is not None:
            clusters.setdefault(p["cluster"], []).append(doc_id)
    assert clusters
    near_j = []
    for members in clusters.values():
        kinds = Counter(pages[m]["dup_kind"] for m in members)
        assert kinds["original"] == 1 and len(members) >= 2
        orig = next(m for m in members if pages[m]["dup_kind"] == "original")
        for m in members:
            p = pages[m]
            if p["dup_kind"] == "exact":
                assert recs[by_id[m]]["payload"] == recs[by_id[orig]]["payload"]
                assert p["url"] != pages[orig]["url"] and p["main_text"] == pages[orig]["main_text"]
            elif p["dup_kind"] == "near":
                assert p["site"] != pages[orig]["site"]
                j = jaccard(pages[orig]["main_text"], p["main_text"], p["language"] in ("zh", "ja"))
                assert j == pytest.approx(p["jaccard"], abs=1e-3)
                near_j.append(j)
            # Originals are crawled first.
            assert by_id[orig] <= by_id[m] or pages[m]["dup_kind"] == "original"
    assert sum(j >= 0.8 for j in near_j) >= 0.9 * len(near_j)
    assert all(p["cluster"] is None and p["dup_kind"] is None for p in pages.values() if p["cluster"] is None)


def test_clean_main_texts_are_plausible(truth):
    """Clean pages pass the simple checks the filters apply (lengths, punctuation, no repeats)."""
    for p in truth["pages"].values():
        if p["quality"] != "clean":
            continue
        text = p["main_text"]
        paras = text.split("\n\n")
        assert 3 <= len(paras) <= 10
        assert all(q.rstrip()[-1] in ".!?。！？»”\"」" for q in paras)
        assert len(set(paras)) == len(paras)
        assert "{" not in text and "lorem ipsum" not in text.lower() and "javascript" not in text.lower()
        assert "|" not in text + p["title"]  # no grammar tags leak into the prose
        if p["language"] in ("zh", "ja"):
            assert 300 <= len(text) <= 1700
        else:
            assert 150 <= len(text.split()) <= 800


def test_language_id_agrees_with_truth(truth):
    fasttext = pytest.importorskip("fasttext")
    from corpus.core.resources import lid_model_path

    model = fasttext.load_model(str(lid_model_path()))
    clean = [p for p in truth["pages"].values() if p["quality"] == "clean"]
    labels, scores = model.predict([p["main_text"].replace("\n", " ") for p in clean])
    ok = sum(lab[0] == f"__label__{p['language']}" and s[0] >= 0.65 for p, lab, s in zip(clean, labels, scores))
    assert ok >= 0.98 * len(clean)


def test_ensure_sample_crawl_regenerates_only_when_needed(tmp_path):
    cfg = {"dir": str(tmp_path / "crawl"), "seed": 3, "pages": 80}
    truth = ensure_sample_crawl(cfg)
    stamp = truth.stat().st_mtime_ns
    assert ensure_sample_crawl(cfg).stat().st_mtime_ns == stamp
    truth2 = ensure_sample_crawl({**cfg, "seed": 4})
    assert json.loads(truth2.read_text(encoding="utf-8"))["seed"] == 4


def test_cli_writes_from_a_pipeline_yaml(tmp_path, capsys):
    from corpus.cli import main

    yaml_path = tmp_path / "p.yaml"
    out = tmp_path / "from-yaml"
    yaml_path.write_text(f"sample:\n  dir: {out}\n  seed: 5\ninputs: [{out}/*.warc.gz]\noutput: {tmp_path / 'o'}\n")
    assert main(["sample", str(yaml_path), "--pages", "60"]) == 0
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    assert truth["seed"] == 5 and truth["counts"]["html_pages"] == 60
    assert "HTML pages" in capsys.readouterr().out


@pytest.mark.parametrize("pages", [50, 53])
def test_small_crawls_are_consistent(tmp_path, pages):
    truth = json.loads(generate_sample(tmp_path, seed=7, pages=pages).read_text(encoding="utf-8"))
    assert len(truth["pages"]) == pages
    assert sum(r["expect"] == "document" for r in truth["records"]) == pages
    assert truth["records"][-1]["expect"] == "read_error"


def test_unrelated_pages_are_not_near_duplicates(truth):
    """Generated prose shares grammar, not text: random unclustered pairs stay far below 0.8."""
    import random

    rng = random.Random(0)
    for lang in ("en", "de", "fr", "zh", "ja"):
        texts = [p["main_text"] for p in truth["pages"].values()
                 if p["quality"] == "clean" and p["cluster"] is None and p["language"] == lang]
        worst = max(jaccard(*rng.sample(texts, 2), lang in ("zh", "ja")) for _ in range(150))
        assert worst < 0.4, (lang, worst)


def test_trafilatura_finds_the_article_and_not_the_boilerplate(truth, read_back):
    """The site templates are extractable: article text in, cookie banner and footer out."""
    trafilatura = pytest.importorskip("trafilatura")
    from corpus.sample.language import language

    recs = _records(read_back)
    by_id = {r["id"]: (r["file"], r["offset"]) for r in truth["records"]}
    clean = [(i, p) for i, p in truth["pages"].items() if p["quality"] == "clean"]
    seen_styles = set()
    for doc_id, page in clean[::60]:
        html = recs[by_id[doc_id]]["payload"].decode(page["charset"])
        text = trafilatura.extract(html, url=page["url"], fast=True) or ""
        for para in page["main_text"].split("\n\n"):
            assert para in text
        ui = language(page["language"]).ui
        for boiler in (ui["cookie"], ui["rights"], ui["newsletter"], ui["related"], ui["legal"][0]):
            assert boiler not in text
        assert "{" not in text and "javascript" not in text.lower()  # scripts, JSON-LD, noscript stay out
        seen_styles.add(page["site"])
    assert len(seen_styles) >= 10


#: sha256 of a seed-3, 120-page crawl's truth (pages, records without byte offsets, counts).
PINNED_TRUTH = "1a7a4e72c2860834b5307b6e5349a58318b50feffe9ef1f85885b45c432f8341"


def test_sample_text_is_pinned(tmp_path):
    """Every word, page and record stays as it was: README figures and test thresholds rest on it.

    Offsets and lengths are left out (they follow zlib's output). A deliberate change to the
    generator updates PINNED_TRUTH and bumps ``corpus.sample.generate.VERSION``."""
    import hashlib

    truth = json.loads(generate_sample(tmp_path, seed=3, pages=120).read_text(encoding="utf-8"))
    recs = [{k: v for k, v in r.items() if k not in ("offset", "length")} for r in truth["records"]]
    blob = json.dumps([truth["pages"], recs, truth["counts"], truth["unanswerable"]], ensure_ascii=False,
                      sort_keys=True)
    assert hashlib.sha256(blob.encode()).hexdigest() == PINNED_TRUTH


def test_languages_are_data_files_whose_templates_resolve():
    """One data file per language; every ``{SLOT}`` its templates and phrases use has words to draw."""
    from corpus.sample.generate import LANG_SHARE
    from corpus.sample.language import LANGS_DIR, language

    ui_keys = set(language("en").ui)
    for code in LANG_SHARE:
        assert (LANGS_DIR / f"{code}.yaml").is_file()
        lang = language(code)
        words = [w for ws in lang.slots.values() for w in ws]
        words += [w for topic in lang.topics.values() for ws in topic.values() for w in ws]
        used = {m.group(1) for t in lang.clauses + lang.sentences + lang.titles + words
                for m in re.finditer(r"\{([A-Za-z]+)\d?\}", t)}
        assert used - {"S", "V", "Vt", "C"} <= set(lang.slots), code
        assert {"S", "V"} <= set(lang.slots) and lang.clauses and lang.sentences and lang.titles, code
        assert all(set(topic) <= set(lang.slots) for topic in lang.topics.values()), code
        assert set(lang.ui) == ui_keys and len(lang.spam) >= 10, code


def test_facts_are_stated_by_the_pages_that_record_them(truth):
    """Clean en/ja/zh pages state 1-2 facts about an entity of their own; copies state their
    source's; each fact lists every URL that states it; unanswerable questions name no page's entity."""
    from corpus.sample.facts import KINDS, LANGS

    pages = list(truth["pages"].values())
    by_url = {p["url"]: p for p in pages}
    entity = re.compile(r"\b(?:the|of) ([A-Z][a-z]+) ")
    names: dict[str, str] = {}
    for p in pages:
        if p["quality"] != "clean" or p["language"] not in LANGS:
            assert p["facts"] == []
            continue
        assert 1 <= len(p["facts"]) <= 2 and len({f["kind"] for f in p["facts"]}) == len(p["facts"])
        for f in p["facts"]:
            assert f["kind"] in KINDS and f["answer"] in f["sentence"] and f["sentence"] in p["main_text"]
            assert p["main_text"].count(f["sentence"]) == 1 and f["question"].endswith(("?", "？"))
            assert p["url"] in f["urls"]
            assert all(f["sentence"] in by_url[u]["main_text"] for u in f["urls"])
            if p["language"] == "en":  # one entity, one page (and its copies)
                name = entity.search(f["question"]).group(1)
                assert names.setdefault(name, f["urls"][0]) == f["urls"][0], name
    unanswerable = truth["unanswerable"]
    assert len(unanswerable) >= 150 and {u["kind"] for u in unanswerable} == set(KINDS)
    assert {"ja", "zh", "en"} <= {u["lang"] for u in unanswerable}
    words = {w for p in pages for w in re.findall(r"\w+", p["main_text"])}
    for u in unanswerable:
        assert "answer" not in u
        if u["lang"] == "en":
            assert entity.search(u["question"]).group(1) not in words
    assert len([f for p in pages for f in p["facts"] if p["dup_kind"] in (None, "original")]) >= 1000
