"""Generated document parts in the dedup schema, so the tokenizer, tokenize and stats
tests do not depend on the upstream stages: multilingual text with CJK, emoji, tabs,
runs of spaces, CRLF, and the strings sentencepiece treats specially."""
from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from corpus.docs import BASE_FIELDS, PartWriter

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
    from corpus.config import load_pipeline

    config = load_pipeline(None, output=str(root), workers=2)
    config["stages"] = {"tokenizer": {"vocab_size": 1024, "sample_chars": 200_000, "max_doc_chars": 2000},
                        "tokenize": {"val_fraction": 0.1, "shard_tokens": 20_000}}
    for k, v in stages.items():
        config["stages"][k] = {**config["stages"].get(k, {}), **v}
    return config
