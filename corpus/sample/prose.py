"""A tiny template grammar that composes varied, plausible prose in several languages.

Each language's data file (``langs/en.yaml`` ...) holds hand-written word lists (slots)
and sentence templates. Composition draws slot values *without replacement* within a page,
so one page rarely repeats a phrase: the generated text passes the repetition and
quality heuristics real pipelines apply, while every word of it was written here.

Template syntax: ``{S}`` a subject, ``{V}`` a verb agreeing with the subject of the same
index (``{S2}``/``{V2}``), ``{Vt}`` the verb's tail (German participle), ``{C}`` a whole
clause from the language's ``clauses``; any other ``{NAME}`` is a draw from ``slots[NAME]``.
Slot entries ``text|p`` are plural subjects; verb entries are ``singular|plural[|tail]``;
``NAME`` and ``ROLE`` entries may end in ``|f`` or ``|m`` so a role agrees with the name.
A slot value may itself be a template (``{MOD}{NOUN}``): phrases compose, so the
vocabulary of languages written without spaces does not repeat from page to page.
"""
from __future__ import annotations

import random
import re

from .language import Language

_SLOT = re.compile(r"\{([A-Za-z]+)(\d?)\}")
# A quotation starts with a capital letter, whatever clause the grammar put in it.
_QUOTE_START = re.compile(r"((?:^|(?<=[\s:]))[\"„«“]\s?)([^\W\d_])")


class Bag:
    """Draws without replacement, reshuffling when empty, so repeats are spread apart."""

    def __init__(self, rng: random.Random, items: list[str]):
        self.rng = rng
        self.items = items
        self.pool: list[str] = []

    def draw(self) -> str:
        pool = self.pool
        if not pool:
            pool = self.pool = list(self.items)
        i = self.rng.randrange(len(pool))
        pool[i], pool[-1] = pool[-1], pool[i]
        return pool.pop()


class Composer:
    """Writes sentences, paragraphs and articles for one page in one language."""

    def __init__(self, lang: Language, rng: random.Random, topic: str | None = None):
        self.lang = lang
        self.rng = rng
        # A topic's own words join the general ones (languages without topics ignore it).
        self.topic = lang.topics.get(topic or "", {})
        self.bags: dict[str, Bag] = {}
        self.used: set[str] = set()

    def _bag(self, name: str) -> Bag:
        bag = self.bags.get(name)
        if bag is None:
            if name == "C":
                items = self.lang.clauses
            elif name == "SENT":
                items = self.lang.sentences
                share = self.lang.template_share
                if share < 1.0:  # each page writes with its own subset of sentence patterns
                    items = self.rng.sample(items, max(8, int(len(items) * share)))
            elif name == "TITLE":
                items = self.lang.titles
            else:
                items = self.lang.slots[name]
            bag = self.bags[name] = Bag(self.rng, items)
        return bag

    def draw(self, name: str) -> str:
        """A slot value: from the page's topic words more often than not, when it has some."""
        if name in self.topic and self.rng.random() < 0.6:
            # Topic words are few: each is used at most once a page, then general words take over.
            left = self.bags.get("topic:" + name)
            if left is None:
                left = self.bags["topic:" + name] = Bag(self.rng, self.topic[name])
                left.pool = list(left.items)
            if left.pool:
                return left.draw()
        return self._bag(name).draw()

    def fill(self, template: str) -> str:
        drawn: dict[tuple[str, str], str] = {}
        plural: dict[str, bool] = {}
        verbs: dict[str, list[str]] = {}
        gender: dict[str, str] = {}

        def subst(m: re.Match) -> str:
            base, idx = m.group(1), m.group(2)
            if base == "C":
                return self.fill(self._bag("C").draw())
            if base == "S":
                if (base, idx) not in drawn:
                    text, _, num = self.draw("S").partition("|")
                    drawn[(base, idx)] = text
                    plural[idx] = num == "p"
                return drawn[(base, idx)]
            if base in ("V", "Vt"):
                if idx not in verbs:
                    verbs[idx] = self.draw("V").split("|")
                forms = verbs[idx]
                if base == "Vt":
                    return forms[2] if len(forms) > 2 else ""
                return forms[1] if plural.get(idx) and len(forms) > 1 else forms[0]
            key = (base, idx)
            if key not in drawn:
                if base == "NAME":
                    text, _, gender["name"] = self.draw(base).partition("|")
                elif base == "ROLE":
                    # A role written in the feminine goes with a woman's name, and so on.
                    want = gender.get("name", "")
                    for _ in range(40):
                        text, _, g = self.draw(base).partition("|")
                        if not (want and g and g != want):
                            break
                else:
                    text = self.draw(base)
                    if "{" in text:  # a composed phrase, e.g. "{MOD}{NOUN}"
                        text = self.fill(text)
                drawn[key] = text
            return drawn[key]

        text = _SLOT.sub(subst, template)
        return re.sub(r"\s{2,}", " ", text).replace(" ,", ",").strip()

    def sentence(self) -> str:
        """A new sentence, never one this page already has."""
        post = self.lang.postprocess
        for _ in range(20):
            s = self.fill(self._bag("SENT").draw())
            if post:
                s = post(s)
            s = _QUOTE_START.sub(lambda m: m.group(1) + m.group(2).upper(), s[:1].upper() + s[1:])
            if s not in self.used:
                self.used.add(s)
                return s
        return s

    def title(self) -> str:
        post = self.lang.postprocess
        t = self.fill(self._bag("TITLE").draw())
        t = post(t) if post else t
        return _QUOTE_START.sub(lambda m: m.group(1) + m.group(2).upper(), t[:1].upper() + t[1:])

    def paragraph(self, n_sentences: int) -> str:
        joiner = self.lang.joiner
        return joiner.join(self.sentence() for _ in range(n_sentences))

    def article(self, target_units: int) -> list[str]:
        """Paragraphs totalling about ``target_units`` words (characters for CJK), 3 to 10 of them."""
        unit = len if self.lang.cjk else _count_units
        paras: list[str] = []
        total = 0
        while (total < target_units or len(paras) < 3) and len(paras) < 9:
            p = self.paragraph(self.rng.randint(2, 5))
            paras.append(p)
            total += unit(p)
        return paras


def _count_units(text: str) -> int:
    return len(text.split())
