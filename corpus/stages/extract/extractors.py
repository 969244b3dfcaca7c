"""HTML -> main text: trafilatura (default, its fast mode) or resiliparse, under a per-page time limit.

The time limit is a CPU-time timer (``ITIMER_PROF``/SIGPROF) armed around each call,
in the worker's own main thread: no helper process per page (datatrove's way costs
~10% here), and the worker survives. CPU time, not wall time, so a page is not
abandoned because other processes share the cores. The signal raises a ``BaseException`` so the libraries' own ``except
Exception`` blocks cannot swallow it; it fires between Python steps, which
trafilatura takes constantly (its tree walks are Python), so even an lxml-heavy page
stops within milliseconds of the limit. Where no timer can be armed (not the main
thread), pages run without a limit and the stage says so in its manifest.
"""
from __future__ import annotations

import signal
import threading
from typing import Callable

from ...core.settings import Section, boolean, paths, string
from .speedups import guard_regex_tests, native_class_lookup

#: trafilatura.extract options we expose (``stages.extract.trafilatura``), with
#: trafilatura's own defaults except ``fast``.
TRAFILATURA = Section({
    "fast": boolean(True),
    "favor_precision": boolean(False),
    "favor_recall": boolean(False),
    "include_comments": boolean(True),
    "include_tables": boolean(True),
    "include_links": boolean(False),
    "include_images": boolean(False),
    "include_formatting": boolean(False),
    "deduplicate": boolean(False),
    "target_language": string(None, null=True),
    "prune_xpath": paths(None),
}, default={})
TRAFILATURA_DEFAULTS = TRAFILATURA.defaults()

EXTRACTORS = ("trafilatura", "resiliparse")


class ExtractTimeout(BaseException):
    """A page ran past its time limit."""


def _on_alarm(signum, frame):
    raise ExtractTimeout()


def timer_available() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def with_timeout(fn: Callable, seconds: float | None) -> Callable:
    """``fn`` wrapped so that a call past ``seconds`` raises :class:`ExtractTimeout`."""
    if not seconds or seconds <= 0 or not timer_available():
        return fn
    signal.signal(signal.SIGPROF, _on_alarm)
    setitimer, real = signal.setitimer, signal.ITIMER_PROF

    def call(*args, **kwargs):
        setitimer(real, seconds)
        try:
            return fn(*args, **kwargs)
        finally:
            setitimer(real, 0)

    return call


def trafilatura_options(params: dict | None) -> dict:
    opts = dict(TRAFILATURA_DEFAULTS)
    unknown = set(params or {}) - set(opts)
    if unknown:
        raise ValueError(f"stages.extract.trafilatura: unknown option(s) {sorted(unknown)}; "
                         f"known: {sorted(opts)}")
    opts.update(params or {})
    return opts


def make_trafilatura(params: dict | None) -> Callable[[str, str], str | None]:
    import trafilatura  # heavy: loaded only by the worker that extracts with it
    from trafilatura import utils  # heavy: as above

    native_class_lookup(getattr(utils, "HTML_PARSER", None))
    guard_regex_tests("trafilatura")
    opts = trafilatura_options(params)
    extract = trafilatura.extract

    def run(html: str, url: str) -> str | None:
        return extract(html, url=url or None, **opts)

    return run


def make_resiliparse(params: dict | None) -> Callable[[str, str], str | None]:
    try:
        from resiliparse.extract.html2text import extract_plain_text  # heavy: optional extra, on use
        from resiliparse.parse.html import HTMLTree  # heavy: optional extra, loaded on use
    except ImportError:
        raise ImportError("extractor 'resiliparse' needs the optional package: "
                          "pip install 'crawl2tokens[resiliparse]'") from None
    opts = {"main_content": True, "alt_texts": False, "links": False, "list_bullets": True,
            "preserve_formatting": True}
    opts.update(params or {})

    def run(html: str, url: str) -> str | None:
        return extract_plain_text(HTMLTree.parse(html), **opts).strip() or None

    return run


def make_extractor(name: str, params: dict | None = None) -> Callable[[str, str], str | None]:
    """``fn(html, url) -> text | None`` for an extractor name."""
    if name == "trafilatura":
        return make_trafilatura(params)
    if name == "resiliparse":
        return make_resiliparse(params)
    raise ValueError(f"stages.extract.extractor must be one of {EXTRACTORS}, got {name!r}")
