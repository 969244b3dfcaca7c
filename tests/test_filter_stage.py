"""The filter stage end to end on hand-made extract parts: drop and annotate modes,
rejected rows with their reasons, URL blocklists, PII counts in the manifest, output
partitioned by language, and the fastText quality classifier (quality-train + filter)."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.core.config import load_pipeline
from corpus.core.parts import BASE_SCHEMA, read_table
from corpus.stages.filter.stage import FilterStage
from corpus.core.runner import run_stage
from test_filter_rules import CLEAN_DE, CLEAN_EN, CLEAN_JA, CLEAN_ZH
from contract.layout import MANIFEST, REJECTED

_rng = random.Random(7)
_SPAM_WORDS = ("buy cheap shoes online discount price best deals free shipping sale outlet "
               "shop order now top brand sneakers boots sandals trainers lowest offer coupon "
               "clearance genuine original fast delivery bargain new season women men kids").split()
SPAM = " ".join(_rng.choice(_SPAM_WORDS) for _ in range(80))
_WHO = ["Council", "Mayor", "Local school", "Museum", "Fire brigade", "Choir", "Football club",
        "Library", "Hospital", "Bakery"]
_DID = ["approves", "delays", "rejects", "opens", "funds", "plans", "reviews", "celebrates"]
_WHAT = ["new budget", "river path", "summer fair", "bus timetable", "roof repairs", "tree planting",
         "music week", "car park", "night market", "reading club"]
LINKS = "\n".join(f"The {_rng.choice(_WHO)} {_rng.choice(_DID)} the {_rng.choice(_WHAT)}" for _ in range(30))
CONTACT = (CLEAN_EN + "\nFor questions write to anna.smith@example.com or call +44 20 7946 0958. "
           "The archive server is 93.184.216.34 and it is open to all.")

DOCS = [  # (id, url, text, expected reason or None)
    ("en1", "https://news.example.org/bridge", CLEAN_EN, None),
    ("de1", "https://zeitung.example.de/bruecke", CLEAN_DE, None),
    ("zh1", "https://news.example.cn/bridge", CLEAN_ZH, None),
    ("ja1", "https://news.example.jp/bridge", CLEAN_JA, None),
    ("pii", "https://news.example.org/contact", CONTACT, None),
    ("spam", "https://shop.example.com/shoes", SPAM, "gopher_quality"),
    ("links", "https://portal.example.com/", LINKS, ("c4", "fineweb", "gopher_repetition")),
    ("short", "https://news.example.org/brief", "The council met on Tuesday.", "gopher_quality"),
    ("empty", "https://news.example.org/empty", "", "lang"),
    ("blocked", "https://ads.spam.example/bridge", CLEAN_EN, "url_blocklist"),
]


def write_extract(root, docs=DOCS, parts=2):
    d = root / "extract"
    d.mkdir(parents=True, exist_ok=True)
    date = datetime(2024, 5, 1, tzinfo=timezone.utc)
    schema = BASE_SCHEMA.append(pa.field("extractor", pa.string()))
    for p in range(parts):
        rows = [dict(id=i, url=u, domain=u.split("/")[2], date=date, source="x.warc.gz",
                     offset=n, length=1, text=t, extractor="trafilatura")
                for n, (i, u, t, _) in enumerate(docs) if n % parts == p]
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), d / f"part-{p:05d}.parquet")


def config(root, **filter_params):
    filter_params.setdefault("url_filter", {"domains": ["spam.example"]})
    cfg = load_pipeline(None, output=str(root), workers=1)
    cfg["stages"]["filter"] = filter_params
    return cfg


def run(root, **params) -> dict:
    return run_stage(FilterStage(config(root, **params)), show_progress=False)


def test_drop_mode_keeps_good_docs_and_explains_removals(tmp_path):
    write_extract(tmp_path)
    m = run(tmp_path, pii={"enabled": True})
    kept = read_table(tmp_path / "filter")
    rej = read_table(tmp_path / "filter" / REJECTED)
    expected_kept = {i for i, _, _, r in DOCS if r is None}
    assert set(kept.column("id").to_pylist()) == expected_kept
    reasons = dict(zip(rej.column("id").to_pylist(), rej.column("reason").to_pylist()))
    assert reasons.keys() == {i for i, _, _, r in DOCS if r is not None}
    for i, _, _, r in DOCS:
        if r is not None:
            assert reasons[i] in (r if isinstance(r, tuple) else (r,)), i
    # every rejected row says which rule and which value
    details = dict(zip(rej.column("id").to_pylist(), rej.column("reason_detail").to_pylist()))
    values = dict(zip(rej.column("id").to_pylist(), rej.column("reason_value").to_pylist()))
    assert details["spam"] == "stop_words" and values["spam"] == 0
    assert details["short"] == "min_words" and values["short"] == 5
    assert details["blocked"] == "domain:spam.example"
    # base columns kept, ours added
    for col in ("id", "url", "domain", "date", "source", "offset", "length", "text", "extractor",
                "language", "language_score", "words", "dup_5gram_char_frac", "line_punct_ratio"):
        assert col in kept.column_names, col
    langs = dict(zip(kept.column("id").to_pylist(), kept.column("language").to_pylist()))
    assert langs == {"en1": "en", "de1": "de", "zh1": "zh", "ja1": "ja", "pii": "en"}
    # counts balance; PII counted in the manifest and masked in the text
    c = m["counts"]
    assert c["in"] == len(DOCS) and c["kept"] == len(expected_kept)
    assert m["pii"] == {"email": 1, "phone": 1, "ip": 1}
    text = dict(zip(kept.column("id").to_pylist(), kept.column("text").to_pylist()))["pii"]
    assert "anna.smith" not in text and "<EMAIL>" in text and "<PHONE>" in text
    assert m["languages_kept"]["en"] == 2 and m["rules"]["gopher_quality/stop_words"] == 1
    manifest = json.loads((tmp_path / "filter" / MANIFEST).read_text())
    assert manifest["counts"] == c


def test_annotate_mode_keeps_every_row_with_would_be_reasons(tmp_path):
    write_extract(tmp_path)
    m = run(tmp_path, mode="annotate")
    t = read_table(tmp_path / "filter")
    assert t.num_rows == len(DOCS) and m["counts"]["kept"] == len(DOCS)
    assert not (tmp_path / "filter" / REJECTED).exists()
    reason = dict(zip(t.column("id").to_pylist(), t.column("filter_reason").to_pylist()))
    for i, _, _, r in DOCS:
        assert reason[i] in (r if isinstance(r, tuple) else (r,)), i
    reasons = dict(zip(t.column("id").to_pylist(), t.column("filter_reasons").to_pylist()))
    # all the rules a document trips are listed, not only the first
    assert len(reasons["spam"]) >= 2 and reasons["en1"] == []
    # signals are measured for every row, even after a rule tripped
    words = dict(zip(t.column("id").to_pylist(), t.column("words").to_pylist()))
    assert words["spam"] == 80 and words["en1"] > 120
    # annotate never rewrites the text (C4 line cleaning is reported, not applied)
    assert dict(zip(t.column("id").to_pylist(), t.column("text").to_pylist()))["links"] == LINKS


def test_filter_language_list_and_partitioned_output(tmp_path):
    write_extract(tmp_path, parts=1)
    m = run(tmp_path, partition_by_language=True, language={"languages": ["en", "de"]})
    out = tmp_path / "filter"
    assert sorted(p.name for p in out.glob("language=*")) == ["language=de", "language=en"]
    assert read_table(out / "language=de").column("id").to_pylist() == ["de1"]
    rej = read_table(out / REJECTED)
    lang_rej = {i: d for i, r, d in zip(rej.column("id").to_pylist(), rej.column("reason").to_pylist(),
                                        rej.column("reason_detail").to_pylist()) if r == "lang"}
    assert lang_rej["zh1"] == "zh" and lang_rej["ja1"] == "ja"
    assert m["counts"]["kept"] == 3


def test_bad_config_fails_early_with_the_key(tmp_path):
    with pytest.raises(ValueError, match="gopher_quality.*min_wrds"):
        FilterStage(config(tmp_path, gopher_quality={"min_wrds": 3}))
    with pytest.raises(ValueError, match="mode"):
        FilterStage(config(tmp_path, mode="maybe"))
    with pytest.raises(FileNotFoundError, match="extract"):
        FilterStage(config(tmp_path)).tasks()


def test_switching_a_filter_off(tmp_path):
    write_extract(tmp_path, parts=1)
    m = run(tmp_path, gopher_quality={"enabled": False})
    assert "gopher_quality" not in m["counts"]["rejected"]
    assert "words" not in read_table(tmp_path / "filter").column_names


def test_quality_train_and_classifier_filter(tmp_path):
    from corpus.cli import main

    # Prose sentences from the clean texts as positives, shop spam and link lists as negatives.
    good = [ln for t in (CLEAN_EN, CLEAN_DE) for ln in t.split("\n")]
    rng = random.Random(3)
    bad = [" ".join(rng.choice(_SPAM_WORDS) for _ in range(20)) for _ in range(60)]
    rows = [{"text": t, "label": "hq"} for t in good * 6] + [{"text": t, "label": "spam"} for t in bad]
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    model = tmp_path / "q.bin"
    assert main(["quality-train", "--input", str(data), "--output", str(model), "--epoch", "20",
                 "--bucket", "20000", "--dim", "16"]) == 0
    report = json.loads((tmp_path / "q.bin.json").read_text())
    assert report["holdout"]["auc"] >= 0.9 and report["holdout_rows"] > 0
    write_extract(tmp_path, parts=1)
    m = run(tmp_path, mode="annotate", quality_classifier={"model": str(model), "threshold": 0.5})
    t = read_table(tmp_path / "filter")
    score = dict(zip(t.column("id").to_pylist(), t.column("quality_score").to_pylist()))
    assert score["en1"] > 0.5 > score["spam"]
    reasons = dict(zip(t.column("id").to_pylist(), t.column("filter_reasons").to_pylist()))
    assert "quality_classifier/score" in reasons["spam"]
    assert m["counts"]["kept"] == len(DOCS)
    # top_fraction: the cut-off is the score quantile over the documents that pass the
    # heuristics (5 here), computed over every part before the map.
    write_extract(tmp_path, parts=2)
    m = run(tmp_path, quality_classifier={"model": str(model), "top_fraction": 0.4})
    survivors = sum(r is None for *_, r in DOCS)
    assert 0 < m["quality_cutoff"] < 1
    assert m["counts"]["kept"] == round(0.4 * survivors)
    assert m["counts"]["rejected"]["quality_classifier"] == survivors - round(0.4 * survivors)


def test_quality_train_bad_input_names_the_line(tmp_path, capsys):
    from corpus.cli import main

    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "a", "label": 1}\nnot json\n')
    assert main(["quality-train", "--input", str(data), "--output", str(tmp_path / "m.bin")]) == 1
    assert "bad.jsonl:2" in capsys.readouterr().err
