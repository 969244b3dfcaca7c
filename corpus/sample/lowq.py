"""Low-quality pages: the kinds of junk a crawl is full of and the filters must catch.

Each function returns ``(title, paragraphs)``; ``paragraphs`` is what sits in the page's
article element (empty for boilerplate-only pages) and becomes the truth's main text.
"""
from __future__ import annotations

import random

from .language import language
from .prose import Composer

KINDS = ("keyword_spam", "link_list", "repeated_lines", "boilerplate_only", "too_short")


def keyword_spam(lang: str, comp: Composer, rng: random.Random) -> tuple[str, list[str]]:
    lng = language(lang)
    words, sep = lng.spam, ("" if lng.cjk else " ")
    title = sep.join(rng.sample(words, 4))
    paras = []
    for _ in range(rng.randint(3, 6)):
        paras.append(sep.join(rng.choice(words) for _ in range(rng.randint(25, 60))))
    return title, paras


def link_list(lang: str, comp: Composer, rng: random.Random) -> tuple[str, list[str]]:
    """A page of links; the 'text' is a list of headlines with no prose between them."""
    def headline() -> str:
        for _ in range(10):  # anchors read like headlines: no closing quote or full stop
            t = comp.title()
            if t[-1] not in "\"»」”.!?。":
                return t
        return t.rstrip("\"»」”.!?。")

    title = headline()
    return title, [headline() for _ in range(rng.randint(15, 40))]


def repeated_lines(lang: str, comp: Composer, rng: random.Random) -> tuple[str, list[str]]:
    title = comp.title()
    block = [comp.sentence() for _ in range(rng.randint(1, 3))]
    return title, [block[i % len(block)] for i in range(rng.randint(12, 30))]


def boilerplate_only(lang: str, comp: Composer, rng: random.Random) -> tuple[str, list[str]]:
    return comp.title(), []


def too_short(lang: str, comp: Composer, rng: random.Random) -> tuple[str, list[str]]:
    return comp.title(), [comp.sentence()]


MAKERS = {"keyword_spam": keyword_spam, "link_list": link_list, "repeated_lines": repeated_lines,
          "boilerplate_only": boilerplate_only, "too_short": too_short}
