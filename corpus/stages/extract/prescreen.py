"""The extraction cascade: a cheap language check before trafilatura.

Extraction is most of a crawl pipeline's CPU, and an English-only run drops most of a
crawl at the filter stage's language rule right after it. So, when the pipeline names
the languages it keeps (``stages.filter.language.languages``), each HTML page first gets
a cheap plain-text rendering (resiliparse's ``extract_plain_text`` over the whole page,
~6% of trafilatura's CPU; lxml's ``text_content`` without resiliparse) and the filter's
own fastText model (~4%), in one batched call per group of pages. A page whose rendering
is confidently another language (top label outside the kept ones, probability >=
``prescreen_threshold``) skips trafilatura and goes to the rejected rows as
``prescreen_lang`` with that score.

A rendering keeps the menus and footers trafilatura removes, so it can only be trusted
when it is confidently foreign: on realweb-dev, dolma and whirlwind (526 pages, 123
kept by ``languages: [en]``) no kept page's rendering is foreign at any threshold from
0.3 up, and 0.5 skips 76% of the pages (``bench/cascade.py`` measures it). A page with
no text, or whose rendering fails, is never skipped: trafilatura decides.
"""
from __future__ import annotations

import re
from typing import Callable

from ...core.resources import lid_model_path
from ...core.settings import ConfigError, Key
from ..filter import langid

MODES = ("auto", "on", "off")
#: Pages per fastText call, and the most HTML held back for one call.
BATCH_PAGES = 64
BATCH_CHARS = 16 << 20


def _read_mode(v):
    """YAML reads a bare ``on``/``off`` as true/false."""
    return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v


#: ``stages.extract.prescreen``: auto (on when the filter names its languages and drops).
MODE = Key("auto", "auto, on or off", lambda v: isinstance(v, bool) or v in MODES,
           kind="auto, on or off", parse=_read_mode)


def _languages(value) -> frozenset | None:
    if value in (None, "all"):
        return None
    return frozenset([value] if isinstance(value, str) else value)


class Prescreen:
    """Which pages of a batch are surely in a language the filter drops."""

    def __init__(self, languages: frozenset, threshold: float, model: str | None, max_chars: int):
        self.languages, self.threshold = languages, threshold
        self.model, self.max_chars = model, max_chars
        self._render: Callable[[str], str] | None = None
        self.renderer = ""

    def __getstate__(self) -> dict:  # sent to worker processes: the renderer is rebuilt there
        return {**self.__dict__, "_render": None}

    def describe(self) -> dict:
        return {"languages": sorted(self.languages), "threshold": self.threshold,
                "model": self.model, "max_chars": self.max_chars}

    def render(self, html: str) -> str:
        """Plain text of the whole page ("" when it cannot be rendered: no opinion)."""
        if self._render is None:
            self.renderer, self._render = _renderer()
        try:
            return self._render(html)
        except Exception:
            return ""

    def verdicts(self, pages: list[str]) -> list[tuple[str, float] | None]:
        """``(language, score)`` for each page to skip, None for each page to extract."""
        texts = [self.render(h) for h in pages]
        langs, scores = langid.predict(texts, self.model, self.max_chars)
        return [(lang, score) if lang and lang not in self.languages and score >= self.threshold
                else None for lang, score in zip(langs, scores)]


def across(stages: dict) -> tuple[str, str] | None:
    """The settings model's cross-stage check: ``on`` needs languages to keep."""
    mode = _read_mode(((stages.get("extract") or {}).get("prescreen", "auto")))
    rule = ((stages.get("filter") or {}).get("language") or {})
    if mode == "on" and _languages(rule.get("languages", "all")) is None:
        return "extract.prescreen", ON_NEEDS
    return None


ON_NEEDS = "on needs the languages to keep in stages.filter.language.languages (it is 'all')"


def plan(config: dict, mode: str, threshold: float) -> Prescreen | None:
    """The cascade this pipeline asks for, from the filter stage's language rule; None when off.

    ``auto`` screens only where the filter would drop the page anyway: its language rule
    is enabled, names languages, and the filter runs in ``drop`` mode. ``on`` screens
    whenever languages are named (also under ``annotate``)."""
    if mode == "off":
        return None
    filt = (config.get("stages") or {}).get("filter") or {}
    rule = filt.get("language") or {}
    languages = _languages(rule.get("languages", "all"))
    if languages is None:
        if mode == "on":
            raise ConfigError(f"stages.extract.prescreen: {ON_NEEDS}")
        return None
    if mode == "auto" and (not rule.get("enabled", True) or filt.get("mode", "drop") != "drop"):
        return None
    defaults = langid.LanguageFilter.defaults
    model = rule.get("model", defaults["model"])
    if model is None:
        lid_model_path()  # fail now, naming where it looked, rather than in every task
    return Prescreen(languages, float(threshold), model, int(rule.get("max_chars", defaults["max_chars"])))


_SPACE = re.compile(r"\s+")


def _renderer() -> tuple[str, Callable[[str], str]]:
    """resiliparse's plain text when the optional package is there, else lxml's."""
    try:
        from resiliparse.extract.html2text import extract_plain_text  # heavy: optional extra
        from resiliparse.parse.html import HTMLTree  # optional: the resiliparse extra
    except ImportError:
        return "lxml", _lxml_text

    def text(html: str) -> str:
        return extract_plain_text(HTMLTree.parse(html), main_content=False)

    return "resiliparse", text


def _lxml_text(html: str) -> str:
    import lxml.etree  # heavy: loaded on use
    import lxml.html  # heavy: loaded on use (trafilatura loads it anyway)

    tree = lxml.html.document_fromstring(html.encode("utf-8", "surrogatepass"),
                                         parser=lxml.html.HTMLParser(encoding="utf-8",
                                                                     remove_comments=True))
    lxml.etree.strip_elements(tree, "script", "style", "noscript", "template", with_tail=False)
    body = tree.find("body")
    return _SPACE.sub(" ", (body if body is not None else tree).text_content())
