"""Generated document parts in the dedup schema, so the tokenizer, tokenize and stats
tests do not depend on the upstream stages: multilingual text with CJK, emoji, tabs,
runs of spaces, CRLF, and the strings sentencepiece treats specially."""
from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from corpus.core.parts import BASE_FIELDS, PartWriter
from contract.layout import REJECTED

DEDUP_SCHEMA = pa.schema(BASE_FIELDS + [pa.field("language", pa.string()),
                                        pa.field("language_score", pa.float64()),
                                        pa.field("cluster", pa.int64())])

WORDS = {
    "en": "the of and to in is that for it as was with be by on not he this are or his from at which "
          "but have an they you were her she there been one all we their has would when if so no will "
          "market river government history science people between important through during".split(),
    "de": "der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch es an "
          "werden aus er hat dass sie nach wird bei einer Straße Regierung Größe Bürger über".split(),
    "fr": "de la le et les des en un du une que est pour qui dans par plus pas au sur ne se été être "
          "très où français déjà château élève".split(),
    "zh": list("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所"),
    "ja": list("あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん日本語東京大学"),
}
EMOJI = ["😀", "🚀", "🇩🇪", "👩‍💻", "❤️", "🎉"]
TRICKY = ["col1\tcol2\tcol3", "spaced   out    words", "windows\r\nline", " leading and trailing ",
          "literal \u2581 mark", "not a special: <|bos|> nor <|user_start|>", "price 1234.56 € 2024-11-22",
          "\u3000full-width\u3000space", "combining e\u0301", "nbsp\u00a0here", "zero\u200bwidth"]


def make_text(rng: random.Random, lang: str) -> str:
    paragraphs = []
    for _ in range(rng.randint(1, 6)):
        words = [rng.choice(WORDS[lang]) for _ in range(rng.randint(5, 80))]
        sep = "" if lang in ("zh", "ja") else " "
        para = sep.join(words)
        if rng.random() < 0.3:
            para += " " + rng.choice(EMOJI)
        if rng.random() < 0.2:
            para += "\n" + rng.choice(TRICKY)
        paragraphs.append(para)
    return "\n\n".join(paragraphs)


def write_fake_stage(root: Path, stage: str = "dedup", parts: int = 3, docs_per_part: int = 120,
                     seed: int = 0) -> Path:
    """Write ``parts`` document parts into ``root/stage``; returns the stage dir."""
    rng = random.Random(seed)
    out = root / stage
    langs = ["en", "en", "en", "de", "fr", "zh", "ja"]
    n = 0
    for p in range(parts):
        with PartWriter(out / f"part-{p:05d}.parquet", DEDUP_SCHEMA, row_group_size=50) as w:
            for _ in range(docs_per_part):
                lang = rng.choice(langs)
                site = rng.choice(["example.com", "news.example.org", "blog.example.net", "wiki.example.de"])
                text = make_text(rng, lang)
                if n == 0:  # one document holding every tricky case at once
                    text = "\n".join(TRICKY) + "\n\n" + text + "  \n\t"
                w.write({"id": f"{seed:04x}{n:08x}-0000-0000-0000-000000000000", "url": f"https://{site}/{n}",
                         "domain": site, "date": datetime(2024, 1, 1, tzinfo=timezone.utc),
                         "source": "fake.warc.gz", "offset": n * 1000, "length": 1000, "text": text,
                         "language": lang, "language_score": 0.9, "cluster": None})
                n += 1
    return out


def fake_config(root: Path, **stages) -> dict:
    from corpus.core.config import load_pipeline

    config = load_pipeline(None, output=str(root), workers=2)
    config["stages"] = {"tokenizer": {"vocab_size": 1024, "sample_chars": 200_000, "max_doc_chars": 2000},
                        "tokenize": {"val_fraction": 0.1, "shard_tokens": 20_000}}
    for k, v in stages.items():
        config["stages"][k] = {**config["stages"].get(k, {}), **v}
    return config


# --- a whole fake pipeline (extract -> filter -> dedup) through the real runner --------

from corpus.core.parts import iter_batches, list_parts, rejected_schema  # noqa: E402
from corpus.core.runner import Stage, Task  # noqa: E402


class FakeExtract(Stage):
    """Generated documents; every 10th record is a `not_response`, every 25th a `read_error`."""

    name = "extract"

    def tasks(self):
        return [Task(f"part-{i:05d}", {"i": i}) for i in range(3)]

    def process(self, task, out):
        i = task.payload["i"]
        rng = random.Random(i)
        kept = out.writer(DEDUP_SCHEMA)
        rejected = out.writer(rejected_schema(DEDUP_SCHEMA), REJECTED)
        counts = {"in": 0, "kept": 0, "rejected": {}, "errors": {}}
        for j in range(100):
            counts["in"] += 1
            lang = rng.choice(["en", "en", "de", "fr", "zh", "ja"])
            row = {"id": f"{i:04x}{j:08x}-0000-0000-0000-000000000000", "url": f"https://s{j % 5}.example/{i}/{j}",
                   "domain": f"s{j % 5}.example", "date": datetime(2024, 1, 1, tzinfo=timezone.utc),
                   "source": "fake.warc.gz", "offset": j, "length": 1, "text": make_text(rng, lang),
                   "language": lang, "language_score": 0.9, "cluster": None}
            if j % 25 == 24:
                counts["errors"]["read_error"] = counts["errors"].get("read_error", 0) + 1
            elif j % 10 == 0:
                rejected.write({**row, "text": "", "reason": "not_response", "reason_value": None,
                                "reason_detail": None})
                counts["rejected"]["not_response"] = counts["rejected"].get("not_response", 0) + 1
            else:
                kept.write(row)
                counts["kept"] += 1
        return counts


class _FakeReject(Stage):
    def rule(self, row, j):
        raise NotImplementedError

    def tasks(self):
        return [Task(p.stem, {"path": str(p)}) for p in list_parts(self.input_dir())]

    def process(self, task, out):
        kept = out.writer(DEDUP_SCHEMA)
        rejected = out.writer(rejected_schema(DEDUP_SCHEMA), REJECTED)
        counts = {"in": 0, "kept": 0, "rejected": {}}
        for batch in iter_batches(task.payload["path"]):
            for j, row in enumerate(batch.to_pylist()):
                counts["in"] += 1
                reason = self.rule(row, counts["in"])
                if reason:
                    rejected.write({**row, "reason": reason, "reason_value": 1.0, "reason_detail": None})
                    counts["rejected"][reason] = counts["rejected"].get(reason, 0) + 1
                else:
                    kept.write(row)
                    counts["kept"] += 1
        return counts


class FakeFilter(_FakeReject):
    """Drops Japanese (`lang`) and very short documents (`gopher_quality`)."""

    name = "filter"
    upstream = "extract"

    def rule(self, row, j):
        if row["language"] == "ja":
            return "lang"
        if len(row["text"]) < 60:
            return "gopher_quality"
        return None


class FakeDedup(_FakeReject):
    """Calls every 7th document an exact duplicate."""

    name = "dedup"
    upstream = "filter"

    def rule(self, row, j):
        return "exact_duplicate" if j % 7 == 0 else None


def build_fake_pipeline(root: Path) -> dict:
    """extract -> filter -> dedup (fake, real runner) -> tokenizer -> tokenize (real)."""
    from corpus.core.runner import run_stage
    from corpus.stages.tokenize import TokenizeStage
    from corpus.stages.tokenizer import TokenizerStage

    config = fake_config(root)
    for cls in (FakeExtract, FakeFilter, FakeDedup, TokenizerStage, TokenizeStage):
        run_stage(cls(config), show_progress=False)
    return config


def check_waterfall(root, stats):
    """Every count of the waterfall equals the manifests' counts; chars equal the parts'."""
    import pyarrow.compute as pc

    from corpus.core.parts import read_table
    from corpus.core.manifest import read_manifest

    rows = {r["step"]: r for r in stats["waterfall"] + stats["non_html"]}
    stages = [s for s in ("extract", "filter", "dedup") if read_manifest(root / s)]
    # the waterfall starts at the HTML documents; the other records are listed apart
    first = stats["waterfall"][0]
    assert first["step"] == f"{stages[0]}: HTML documents"
    assert first["documents"] - sum(r["documents"] for r in stats["non_html"]) \
        == stats["records"]["in"] == read_manifest(root / stages[0])["counts"]["in"]
    for stage in stages:
        c = read_manifest(root / stage)["counts"]
        assert rows[f"{stage}: kept"]["documents"] == c["kept"]
        kept_chars = pc.sum(pc.utf8_length(read_table(root / stage, columns=["text"]).column("text"))).as_py()
        assert rows[f"{stage}: kept"]["chars"] == kept_chars
        for kind in ("rejected", "errors"):
            for reason, n in c[kind].items():
                assert rows[f"{stage}: - {reason}"]["documents"] == -n
        listed = {r["reason"] for r in stats["waterfall"] + stats["non_html"]
                  if r["stage"] == stage and "reason" in r}
        assert listed == set(c["rejected"]) | set(c["errors"])
        rejected = read_table(root / stage / REJECTED, columns=["reason", "text"])
        for reason in set(rejected.column("reason").to_pylist()):
            t = rejected.filter(pc.equal(rejected.column("reason"), reason))
            assert rows[f"{stage}: - {reason}"]["chars"] == -(pc.sum(pc.utf8_length(t.column("text"))).as_py() or 0)
    tok = read_manifest(root / "shards")
    last = stats["waterfall"][-1]
    assert last["step"] == "tokenize: tokens written"
    assert last["documents"] == tok["counts"]["in"] == read_manifest(root / stages[-1])["counts"]["kept"]
    assert last["tokens"] == tok["splits"]["train"]["tokens"] + tok["splits"]["val"]["tokens"]
    assert stats["checks"] == []
