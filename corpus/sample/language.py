"""The sample's languages: word lists, templates and interface strings read from ``langs/<code>.yaml``.

A data file holds ``slots`` (name -> words), ``clauses``, ``sentences``, ``titles`` and optional
``topics`` (topic -> slot -> words), each list written one entry per line in a YAML block
(``|``); an entry ending in `` * N`` counts N times (a composed phrase drawn as often as N
plain words). ``ui`` holds the site boilerplate strings, ``spam`` the keyword-spam words; ``cjk``,
``joiner`` and ``template_share`` say how the language is written. What no data file can say
(articles, elisions) is code: ``POSTPROCESS`` below.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

LANGS_DIR = Path(__file__).with_name("langs")

_REPEAT = re.compile(r"^(.*\S) \* (\d+)$")


def _an_before_vowel(text: str) -> str:
    """English: 'a' before a vowel sound becomes 'an' (our words have no silent h or 'yoo' u)."""
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU](?!ni|s[eu]))", r"\1n ", text)


def _es_contractions(text: str) -> str:
    """Spanish contractions the slots cannot know about."""
    text = re.sub(r"\bde el\b", "del", text)
    return re.sub(r"\ba el\b", "al", text)


def _fr_elisions(text: str) -> str:
    """French elisions and contractions the slots cannot know about."""
    text = re.sub(r"\bque ([aeiouéèhAEIOUÉ])", r"qu'\1", text)
    text = re.sub(r"\bde ([aeiouéèAEIOUÉ])", r"d'\1", text)
    text = re.sub(r"\bde le\b", "du", text)
    text = re.sub(r"\bde les\b", "des", text)
    text = re.sub(r"\bà le\b", "au", text)
    text = re.sub(r"\bà les\b", "aux", text)
    return re.sub(r"\bce que ([aeiouéèAEIOUÉ])", r"ce qu'\1", text)


#: Per-language fixes applied to every sentence and title after filling the template.
POSTPROCESS: dict[str, Callable[[str], str]] = {"en": _an_before_vowel, "es": _es_contractions, "fr": _fr_elisions}


@dataclass(frozen=True)
class Language:
    code: str
    slots: dict[str, list[str]]
    clauses: list[str]
    sentences: list[str]
    titles: list[str]
    ui: dict
    spam: list[str]
    topics: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    cjk: bool = False  # written without spaces: lengths and shingles count characters
    joiner: str = " "  # between sentences of a paragraph
    template_share: float = 1.0  # share of sentence patterns one page writes with
    postprocess: Callable[[str], str] | None = None


def entries(block: str) -> list[str]:
    """The entries of a one-per-line block: blank lines skipped, ``text * N`` repeated N times."""
    out: list[str] = []
    for line in block.splitlines():
        line = line.strip()
        if line:
            m = _REPEAT.match(line)
            out += [m.group(1)] * int(m.group(2)) if m else [line]
    return out


@functools.cache
def language(code: str) -> Language:
    """The language ``code`` as its data file describes it (read once per process)."""
    with (LANGS_DIR / f"{code}.yaml").open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for key in ("clauses", "sentences", "titles"):
        data[key] = entries(data[key])
    data["slots"] = {name: entries(block) for name, block in data["slots"].items()}
    data["topics"] = {topic: {name: entries(block) for name, block in slots.items()}
                      for topic, slots in data.get("topics", {}).items()}
    data["spam"] = data["spam"].split()
    return Language(code=code, postprocess=POSTPROCESS.get(code), **data)
