"""Every corpus setting, declared once: section, key, type, default and limits.

``config.load_pipeline`` checks a whole pipeline against :data:`SCHEMA` before any stage
runs, so a typo or a wrong value ends in one line naming the dotted key (and, for an
unknown key, the valid ones) instead of a traceback half-way through a run. The stages
take their defaults from here (``defaults("stages.dedup")``) and check their own section
with :func:`check` when code builds them without ``load_pipeline``.

The ``train:`` section belongs to the training side, which checks its inner keys itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

#: Order in which ``corpus run`` executes the corpus stages.
CORPUS_STAGES = ["extract", "filter", "dedup", "tokenizer", "tokenize", "stats"]

_NESTED = object()  # a section's default: the defaults of its keys


class ConfigError(ValueError):
    """A pipeline file or override that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Key:
    """One setting: its default, what it must be (in words, for the error line) and the
    test. ``in_defaults=False``: accepted but handled apart (``input_stage``, ``enabled``)."""

    default: Any
    must_be: str
    ok: Callable[[Any], bool]
    in_defaults: bool = True


@dataclass(frozen=True)
class Section:
    """A mapping with known keys. ``rule`` sees the section over its defaults and returns
    ``(key, problem)`` for a mistake that spans keys; ``free``: inner keys not checked here;
    ``nullable``: ``null`` stands for the default (``stats:`` with nothing under it)."""

    keys: dict
    rule: Callable[[dict], tuple[str, str] | None] | None = None
    free: bool = False
    nullable: bool = True
    default: Any = _NESTED
    in_defaults: bool = True
    item: str = "key"  # what its keys are, for the error line ("stage" under stages:)


# --- kinds of value ----------------------------------------------------------------------

def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _maybe(ok, null: bool):
    return (lambda v: v is None or ok(v)) if null else ok


def _words(text: str, null: bool) -> str:
    return f"{text}, or null" if null else text


def integer(default, lo: int | None = None, null: bool = False, what: str = "") -> Key:
    text = what or ("an integer" if lo is None else "a positive integer" if lo == 1
                    else f"an integer >= {lo}")
    return Key(default, _words(text, null), _maybe(lambda v: _int(v) and (lo is None or v >= lo), null))


def number(default, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           null: bool = False) -> Key:
    """A real number within ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    def ok(v):
        return (_num(v) and (lo is None or (v > lo if lo_open else v >= lo))
                and (hi is None or v <= hi))
    if lo is not None and hi is not None:
        text = f"a number in {'(' if lo_open else '['}{lo}, {hi}]"
    elif lo is not None:
        text = f"a number {'>' if lo_open else '>='} {lo}"
    else:
        text = "a number"
    return Key(default, _words(text, null), _maybe(ok, null))


def fraction(default, null: bool = False) -> Key:
    return number(default, 0, 1, null=null)


def boolean(default, in_defaults: bool = True) -> Key:
    return Key(default, "true or false", lambda v: isinstance(v, bool), in_defaults)


def string(default, null: bool = False) -> Key:
    return Key(default, _words("a string", null), _maybe(lambda v: isinstance(v, str) and v != "", null))


def one_of(default, choices, null: bool = False, in_defaults: bool = True) -> Key:
    return Key(default, _words("one of " + ", ".join(map(str, choices)), null),
               _maybe(lambda v: isinstance(v, str) and v in choices, null), in_defaults)


def _strs(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) and x for x in v)


def str_list(default) -> Key:
    return Key(default, "a list of strings", lambda v: v is None or _strs(v))


def paths(default) -> Key:
    return Key(default, "a path, a list of paths, or null",
               lambda v: v is None or (isinstance(v, str) and v != "") or _strs(v))


def mapping(default) -> Key:
    return Key(default, "a mapping, or null", lambda v: v is None or isinstance(v, dict))


def languages(default, in_defaults: bool = False) -> Key:
    return Key(default, "all, a language code, or a list of language codes",
               lambda v: v is None or (isinstance(v, str) and v != "") or _strs(v), in_defaults)


def ngram_fractions(default) -> Key:
    """``{n: fraction}`` with n >= 2 (YAML gives int keys; ``--set a.b.3=0.1`` a string)."""
    def ok(v):
        return v is None or (isinstance(v, dict) and all(
            str(n).isdigit() and int(n) >= 2 and _num(f) and 0 <= f <= 1 for n, f in v.items()))
    return Key(default, "a mapping of n-gram size (>= 2) to a number in [0, 1], or null", ok)


def _split_bytes(v) -> bool:
    return v is None or v == "auto" or (_int(v) and v >= MIN_SPLIT_BYTES)


#: Below this a byte range holds a handful of records: more task overhead than work.
MIN_SPLIT_BYTES = 64 << 10
ENABLED = boolean(True, in_defaults=False)     # every filter can be switched off ...
LANGUAGES = languages("all")                   # ... or limited to some languages
INPUT_STAGE = one_of(None, CORPUS_STAGES, null=True, in_defaults=False)  # read another stage's output


# --- the stages --------------------------------------------------------------------------

def _filter(keys: dict, rule=None) -> Section:
    return Section({**keys, "enabled": ENABLED, "languages": LANGUAGES}, rule)


def _quality_rule(s: dict) -> tuple[str, str] | None:
    if s.get("enabled") and not s.get("model"):
        return "model", "the quality classifier is enabled but no model path is given"
    return None


def _dedup_rule(s: dict) -> tuple[str, str] | None:
    if s.get("threshold") is None and s.get("num_perm") is not None \
            and s["bands"] * s["rows"] > s["num_perm"]:
        return "num_perm", (f"must be at least bands x rows = {s['bands'] * s['rows']}, "
                            f"got {s['num_perm']}")
    return None


EXTRACT = Section({
    "extractor": one_of("trafilatura", ("trafilatura", "resiliparse")),
    "trafilatura": Section({  # options passed to trafilatura.extract: its defaults except fast
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
    }, default={}),
    "resiliparse": mapping({}),            # options for resiliparse's extract_plain_text
    "timeout_s": number(1.0, 0, lo_open=True, null=True),  # CPU seconds per page (null: none)
    "max_bytes": integer(8 << 20, 1),      # record payload above this -> too_large
    "split_bytes": Key("auto", f"auto or an integer >= {MIN_SPLIT_BYTES} (64 KiB)", _split_bytes),
    "paths_prefix": string("https://data.commoncrawl.org/"),  # for Common Crawl *.paths.gz lists
    "paths_limit": integer(None, 1, null=True),                # take the first N files of a list
    "http_timeout_s": number(60.0, 0, lo_open=True),  # http(s) inputs: connect / silence between reads
    "input_stage": INPUT_STAGE,
})

FILTER = Section({
    "mode": one_of("drop", ("drop", "annotate")),
    "partition_by_language": boolean(False),
    "signals": boolean(True),
    "batch_size": integer(512, 1),
    "input_stage": INPUT_STAGE,
    "url_filter": _filter({
        "domains_file": paths(None),       # path or list of paths: one domain per line
        "substrings_file": paths(None),    # path or list of paths: one substring per line
        "domains": str_list([]),           # inline additions
        "substrings": str_list([]),
    }),
    "language": _filter({
        "threshold": fraction(0.65),       # datatrove's LanguageFilter and DCLM
        "max_chars": integer(2000, 0),     # characters given to fastText (0 = all)
        "model": string(None, null=True),  # default: lid.176
    }),
    "gopher_repetition": _filter({
        "max_dup_para_frac": fraction(0.3, null=True),   # Gopher Table A1
        "max_dup_para_char_frac": fraction(0.2, null=True),
        "max_dup_line_frac": fraction(0.3, null=True),
        "max_dup_line_char_frac": fraction(0.2, null=True),
        "max_top_ngram_char_frac": ngram_fractions({2: 0.2, 3: 0.18, 4: 0.16}),
        "max_dup_ngram_char_frac": ngram_fractions({5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11,
                                                    10: 0.10}),
        # Languages without spaces count characters as words; n words are about 2n
        # characters there (Chinese words average 1.5-2 characters, and Japanese verb
        # endings such as "しました。" alone fill a 5-gram), so n-grams are scaled.
        "no_space_ngram_scale": integer(2, 1, null=True),
    }),
    "gopher_quality": _filter({
        "min_words": integer(50, 0, null=True),          # Gopher: 50 <= words <= 100,000
        "max_words": integer(100000, 0, null=True),
        "min_mean_word_length": number(3, 0, null=True),  # Gopher: mean word length in [3, 10]
        "max_mean_word_length": number(10, 0, null=True),
        "max_symbol_word_ratio": number(0.1, 0, null=True),  # Gopher: '#' or ellipsis to word ratio <= 0.1
        "max_bullet_lines_ratio": fraction(0.9, null=True),   # Gopher: <= 90% of lines start with a bullet
        "max_ellipsis_lines_ratio": fraction(0.3, null=True),  # Gopher: <= 30% of lines end with an ellipsis
        "min_alpha_words_ratio": fraction(0.8, null=True),    # Gopher: >= 80% of words contain a letter
        "min_stop_words": integer(2, 0, null=True),  # Gopher: >= 2 different of the, be, to, of, and, that, have, with
        "stop_words": mapping(None),                 # {lang: [words]} to replace/add lists
    }),
    "c4": _filter({
        "clean_lines": boolean(True),               # replace the text with its kept lines (as C4 does)
        "filter_no_terminal_punct": boolean(True),  # C4 paper; FineWeb sets this false
        "min_words_per_line": integer(3, 0, null=True),  # C4 paper
        "max_word_length": integer(1000, 1, null=True),  # C4 code
        "remove_citations": boolean(True),          # C4 code
        "filter_javascript": boolean(True),         # C4 paper
        "filter_policy": boolean(True),             # C4 code
        "filter_lorem_ipsum": boolean(True),        # C4 paper
        "filter_curly_bracket": boolean(True),      # C4 paper
        "min_sentences": integer(5, 0, null=True),  # C4 paper
    }),
    "fineweb": _filter({
        "min_line_punct_ratio": fraction(0.12, null=True),  # paper and code: remove if ratio <= 0.12
        "line_punct_exclude_zero": boolean(False),  # code: treat ratio 0 as "no signal" when true
        "short_line_length": integer(30, 0),        # paper and code
        "max_short_line_ratio": fraction(0.67, null=True),  # paper and code: remove if ratio >= 0.67
        "max_dup_line_char_ratio": fraction(0.01, null=True),  # code 0.01 (paper table: 0.1)
        "max_newline_word_ratio": number(0.3, 0, null=True),  # code only
    }),
    "quality_classifier": Section({
        "model": string(None, null=True),    # a fastText .bin from `corpus quality-train`
        "label": string("__label__hq"),      # the label whose probability is the score
        "threshold": fraction(0.5, null=True),  # keep score >= threshold ...
        "top_fraction": number(None, 0, 1, lo_open=True, null=True),  # ... or this best fraction
        "max_chars": integer(20000, 0),
        # default: on when a model is given
        "enabled": Key(None, "true or false", lambda v: v is None or isinstance(v, bool), False),
        "languages": LANGUAGES,
    }, _quality_rule),
    "pii": Section({  # mask e-mails, phone numbers, public IPs
        "enabled": boolean(False),
        "email": boolean(True),
        "phone": boolean(True),
        "ip": boolean(True),
        "email_replacement": Key("<EMAIL>", "a string", lambda v: isinstance(v, str)),
        "phone_replacement": Key("<PHONE>", "a string", lambda v: isinstance(v, str)),
        "ip_replacement": Key("<IP_ADDRESS>", "a string", lambda v: isinstance(v, str)),
    }),
})

DEDUP = Section({
    "url": boolean(True),            # drop crawls of the same normalised URL, keeping the newest
    "exact": boolean(True),          # drop documents with the same normalised text
    "minhash": boolean(True),        # drop near duplicates (MinHash LSH)
    "ngram": integer(5, 1),          # shingle size in tokens (characters for CJK/Thai)
    "num_perm": integer(None, 1, null=True),  # signature length; default bands * rows
    "bands": integer(14, 1),
    "rows": integer(8, 1),
    "threshold": Key(None, "a number between 0 and 1 (exclusive), or null",
                     lambda v: v is None or (_num(v) and 0 < v < 1)),  # bands x rows chosen for this Jaccard
    "seed": integer(1, 0),
    "buckets": integer(1, 1),        # split each band's keys into this many sorted groups (memory)
    "batch_size": integer(64, 1),    # documents hashed together (64: arrays stay cache sized)
    "against": string(None, null=True),  # earlier dedup dir (or its index/) to dedup incrementally against
    "decontaminate": Section({       # drop (or flag) documents sharing n-grams with evaluation sets
        "eval_sets": paths([]),
        "fields": str_list(["text", "question", "answer", "prompt", "input"]),
        "ngram": integer(13, 1),
        "action": one_of("remove", ("remove", "flag")),
    }, default=None),
    "input_stage": INPUT_STAGE,
}, _dedup_rule)

TOKENIZER = Section({
    "vocab_size": integer(32768, 1),
    "sample_chars": integer(50_000_000, 1),  # characters of text the tokenizer is trained on
    "max_doc_chars": integer(8000, 1),       # each document's contribution is capped at this many characters
    "character_coverage": number(0.9995, 0, 1, lo_open=True),  # rarer characters are spelled as bytes
    "max_piece_length": integer(16, 1),
    "seed": integer(0, 0),
    # sentencepiece training threads: a fixed number, not "one per core", because the model
    # file records it (the pieces are the same for any count; the bytes would not be)
    "threads": integer(4, 1),
    "input_stage": INPUT_STAGE,
})

TOKENIZE = Section({
    "val_fraction": fraction(0.01),        # share of documents (by hash of id) in the val split
    "shard_tokens": integer(100_000_000, 1),  # target tokens per shard
    "seed": integer(0, 0),                 # salts the split and shuffle hashes
    "batch_size": integer(1024, 1),        # documents per sentencepiece batch
    "encode_threads": integer(1, 0),       # sentencepiece threads per task (0 = all cores)
    "tokenizer": string(None, null=True),  # path of tokenizer.model (default: the tokenizer stage's)
    "input_stage": INPUT_STAGE,
})

SCHEMA = Section({
    "name": string("pipeline"),
    "inputs": Key([], "a path, glob or URL, or a list of them",
                  lambda v: v is None or (isinstance(v, str) and v != "") or _strs(v)),
    "output": Key("out", "a directory path", lambda v: isinstance(v, str) and v != ""),
    "tolerate_failures": boolean(False),
    "executor": Section({
        "type": one_of("local", ("local", "ray")),
        "workers": integer(0, 0, what="an integer >= 0 (0 = one per core)"),
        "ray_address": string(None, null=True),
    }, nullable=False),
    "sample": Section({  # the embedded sample crawl (corpus.sample)
        "seed": integer(0, 0),
        "pages": integer(2000, 1),
        "dir": string(None, null=True),
    }, default=None),
    "stages": Section({"extract": EXTRACT, "filter": FILTER, "dedup": DEDUP,
                       "tokenizer": TOKENIZER, "tokenize": TOKENIZE, "stats": Section({})}, item="stage"),
    "train": Section({}, free=True),  # the training side's settings: train/config.py checks them
}, nullable=False)


# --- reading the schema ------------------------------------------------------------------

def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def section(path: str) -> Section:
    """The section at a dotted path (``"stages.filter.c4"``)."""
    node: Any = SCHEMA
    for part in [p for p in path.split(".") if p]:
        node = node.keys[part]
    if not isinstance(node, Section):
        raise KeyError(f"{path} is a key, not a section")
    return node


def defaults(path: str = "") -> dict:
    """The default value of every key of a section (keys handled apart are left out)."""
    out = {}
    for key, spec in (section(path) if path else SCHEMA).keys.items():
        if not spec.in_defaults:
            continue
        if isinstance(spec, Section):
            out[key] = defaults(f"{path}.{key}" if path else key) if spec.default is _NESTED else spec.default
        else:
            out[key] = spec.default
    return out


def check(path: str, value: Any) -> None:
    """Raise :class:`ConfigError` naming the first dotted key in ``value`` (the section at
    ``path``; ``""`` = a whole pipeline) that is unknown or not what it must be."""
    _walk(section(path) if path else SCHEMA, value, path)


def _walk(spec: Section, value: Any, path: str) -> None:
    where = path or "the pipeline"
    if value is None and spec.nullable:
        return
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a mapping, got {_show(value)}")
    if spec.free:
        return
    for key, item in value.items():
        dotted = f"{path}.{key}" if path else str(key)
        sub = spec.keys.get(key) if isinstance(key, str) else None
        if sub is None:
            raise ConfigError(f"{dotted}: unknown {spec.item}; valid {spec.item}s: "
                              f"{', '.join(sorted(spec.keys)) or 'none'}")
        if isinstance(sub, Section):
            _walk(sub, item, dotted)
        elif not sub.ok(item):
            raise ConfigError(f"{dotted}: must be {sub.must_be}, got {_show(item)}")
    if spec.rule is not None:
        merged = {**{k: s.default for k, s in spec.keys.items() if isinstance(s, Key)}, **value}
        problem = spec.rule(merged)
        if problem:
            key, text = problem
            raise ConfigError(f"{path}.{key}: {text}")
