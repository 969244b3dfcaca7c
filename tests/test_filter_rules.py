"""Each filter rule on hand-made texts: it trips on a text built to trip it, and not on
clean prose (English, German, Chinese, Japanese)."""
from __future__ import annotations

import pytest

from corpus.stages.filter import langid
from corpus.stages.filter import words as W
from corpus.stages.filter.base import Doc
from corpus.stages.filter.c4 import C4Quality, count_sentences
from corpus.stages.filter.fineweb import FineWebQuality
from corpus.stages.filter.gopher import GopherQuality, GopherRepetition
from corpus.stages.filter.pii import PiiMasker
from corpus.stages.filter.urls import UrlBlocklist

CLEAN_EN = """The town council met on Tuesday evening to discuss the future of the old railway bridge.
Engineers had inspected the structure in the spring and found that several of the iron girders were badly corroded.
Repairing the bridge would cost about two million pounds, according to the report that was presented to the members.
Some councillors argued that the money would be better spent on the primary school, which has been waiting for a new roof for years.
Others pointed out that the bridge is the only direct link between the two halves of the valley and that a detour would add twenty minutes to many journeys.
After a long debate, the council agreed to ask the regional government for a grant and to decide again in the autumn.
Residents who want to comment on the plans can write to the town hall until the end of the month."""

CLEAN_DE = """Der Gemeinderat hat am Dienstagabend über die Zukunft der alten Eisenbahnbrücke beraten.
Die Ingenieure hatten das Bauwerk im Frühjahr untersucht und festgestellt, dass mehrere Träger stark verrostet sind.
Eine Sanierung würde nach dem vorgelegten Bericht etwa zwei Millionen Euro kosten.
Einige Mitglieder des Rates meinten, das Geld sei in der Grundschule besser angelegt, die seit Jahren auf ein neues Dach wartet.
Andere wiesen darauf hin, dass die Brücke die einzige direkte Verbindung zwischen den beiden Hälften des Tals ist.
Nach einer langen Debatte beschloss der Rat, bei der Landesregierung einen Zuschuss zu beantragen und im Herbst erneut zu entscheiden."""

CLEAN_ZH = """镇议会星期二晚上开会，讨论了旧铁路桥的未来。
工程师们在春天检查了这座桥，发现有几根铁梁已经严重生锈。
根据提交给议员们的报告，修理这座桥大约需要两百万元。
一些议员认为，这笔钱最好用在小学上，因为学校多年来一直在等待新的屋顶。
另一些议员指出，这座桥是山谷两边之间唯一的直接通道，如果绕行，很多人的路程要多花二十分钟。
经过长时间的讨论，议会决定向省政府申请补助，并在秋天再做决定。
想对这个计划发表意见的居民，可以在月底之前写信给镇政府。"""

CLEAN_JA = """町議会は火曜日の夜に会合を開き、古い鉄道橋の将来について話し合いました。
技術者たちは春に橋を点検し、何本かの鉄の桁がひどくさびていることを確認しました。
議員に提出された報告書によると、橋の修理には約二億円がかかる見込みです。
一部の議員は、何年も新しい屋根を待っている小学校にお金を使うべきだと主張しました。
ほかの議員は、この橋が谷の両側を結ぶ唯一の直接の道であり、遠回りすると多くの人の移動に二十分余計にかかると指摘しました。
長い議論の末、議会は県に補助金を申請し、秋に改めて決めることにしました。
計画について意見のある住民は、月末まで町役場に手紙を送ることができます。"""

CLEAN = {"en": CLEAN_EN, "de": CLEAN_DE, "zh": CLEAN_ZH, "ja": CLEAN_JA}


def doc(text: str, lang: str = "en", url: str = "https://example.org/a") -> Doc:
    return Doc(text, url, lang, 0.99)


def check(f, d: Doc, full: bool = False):
    return f.check(d, {}, full)


# --- words -------------------------------------------------------------------------

def test_words_split_spaced_and_unspaced_scripts():
    assert W.words("The cat, the dog.") == ["The", "cat,", "the", "dog."]
    zh = W.words("我们是学生。Hello world")
    assert zh[:4] == ["我", "们", "是", "学"] and "Hello" in zh
    assert len(W.words(CLEAN_ZH)) > 180  # every Han character counts: no wipe-out
    assert len(W.words("ภาษาไทย")) == 7
    assert W.count_words("我们是学生") == 5 and W.count_words("three little words") == 3


@pytest.mark.parametrize("lang", sorted(CLEAN))
def test_clean_prose_passes_every_heuristic(lang):
    for f in (GopherRepetition(), GopherQuality(), C4Quality(), FineWebQuality()):
        d = doc(CLEAN[lang], lang)
        assert check(f, d, full=True) is None, (lang, f.name, check(f, doc(CLEAN[lang], lang), True))


# --- Gopher quality ----------------------------------------------------------------

def test_gopher_quality_rules_trip():
    g = GopherQuality()
    assert check(g, doc("Only a handful of words here, and that is all."))[0] == "min_words"
    assert check(GopherQuality({"max_words": 50}), doc(CLEAN_EN))[0] == "max_words"
    short = " ".join(["a an to of is it"] * 20) + " the and"
    assert check(g, doc(short))[0] == "min_mean_word_length"
    long = " ".join(["internationalisation responsibilities characteristically"] * 30) + " the and"
    assert check(g, doc(long))[0] == "max_mean_word_length"
    hashes = CLEAN_EN + "\n" + " ".join(f"#tag{i}" for i in range(40))
    assert check(g, doc(hashes))[0] == "hash_word_ratio"
    ellipses = CLEAN_EN + " " + "and so on... " * 40
    assert check(g, doc(ellipses))[0] == "ellipsis_word_ratio"
    ell_lines = "\n".join(f"Read the rest of the story about the {w} and more..." for w in
                          ["bridge", "school", "roof", "valley", "council", "grant", "river", "market"])
    assert check(g, doc(ell_lines))[0] == "ellipsis_lines_ratio"
    bullets = "\n".join(f"• the item number {i} of the list with some words" for i in range(20))
    assert check(g, doc(bullets))[0] == "bullet_lines_ratio"
    numbers = "the and " + " ".join(str(1000 + i) for i in range(80))
    assert check(g, doc(numbers))[0] == "alpha_words_ratio"
    no_stop = " ".join(["Buy cheap shoes online discount price best deals free shipping"] * 8)
    assert check(g, doc(no_stop))[0] == "stop_words"


def test_gopher_quality_language_aware():
    g = GopherQuality()
    # German prose has none of the English stop words but passes with the German list.
    assert check(g, doc(CLEAN_DE, "de")) is None
    assert check(g, doc(CLEAN_DE, "en"))[0] == "stop_words"
    # A language without a list skips the stop-word rule rather than failing it.
    sig: dict = {}
    assert g.check(doc(CLEAN_DE, "xx"), sig) is None and "stop_words" not in sig
    # Chinese: per-character words; mean word length is not measured.
    sig = {}
    assert g.check(doc(CLEAN_ZH, "zh"), sig) is None
    assert sig["words"] > 180 and "mean_word_length" not in sig


# --- Gopher repetition --------------------------------------------------------------

def test_gopher_repetition_rules_trip():
    r = GopherRepetition()
    lines = CLEAN_EN.split("\n")
    dup_lines = "\n".join(lines[:2] * 6)
    assert check(r, doc(dup_lines))[0] == "dup_line_frac"
    paras = CLEAN_EN.split("\n")
    dup_paras = "\n\n".join([paras[0], paras[1], paras[0], paras[1], paras[2]])
    assert check(r, doc(dup_paras))[0] in ("dup_para_frac", "dup_para_char_frac")
    long_dup = CLEAN_EN + "\n" + "\n".join(lines[3:5])  # two long lines repeated: > 20% of chars
    assert check(r, doc(long_dup))[0] == "dup_line_char_frac"
    top2 = CLEAN_EN + " " + " ".join(["cheap tickets"] * 60)
    assert check(r, doc(top2))[0] == "top_2gram_char_frac"
    # Every sentence said twice, the second time inside a different line: no line repeats,
    # no single n-gram dominates, but most characters sit in duplicated n-grams.
    twice = CLEAN_EN + "\n" + "\n".join(f"As noted above ({i}), {ln}" for i, ln in enumerate(lines))
    assert check(r, doc(twice))[0] == "dup_5gram_char_frac"


def test_gopher_repetition_signals_in_full_mode():
    sig: dict = {}
    assert GopherRepetition().check(doc(CLEAN_EN), sig, full=True) is None
    for n in (2, 3, 4):
        assert 0 <= sig[f"top_{n}gram_char_frac"] < 0.1
    for n in range(5, 11):
        assert sig[f"dup_{n}gram_char_frac"] == 0.0


# --- C4 ----------------------------------------------------------------------------

def test_c4_document_rules_and_line_cleaning():
    c = C4Quality()
    assert check(c, doc(CLEAN_EN + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit."))[0] == "lorem_ipsum"
    assert check(c, doc(CLEAN_EN + "\nThe function returns { a: 1 } to the caller.")) [0] == "curly_bracket"
    assert check(c, doc("One sentence here. Two sentences there.\nA third line of text.")) == (
        "too_few_sentences", 3.0) or check(c, doc("One sentence here. Two sentences there.\nA third line of text."))[0] == "too_few_sentences"
    messy = ("Menu\nHome | News | Contact\n" + CLEAN_EN +
             "\nPlease enable JavaScript to view the comments.\nThis site uses cookies to improve your experience."
             "\nRead more...\nThe bridge was built in 1887 and opened by the mayor.[3]")
    d = doc(messy)
    sig: dict = {}
    assert c.check(d, sig) is None
    assert "Menu" not in d.text and "JavaScript" not in d.text and "cookies" not in d.text
    assert "Read more" not in d.text and "[3]" not in d.text
    assert d.text.endswith("opened by the mayor.")
    assert sig["c4_lines_removed"] == 5


def test_c4_accepts_cjk_terminal_punctuation():
    for lang in ("zh", "ja"):
        d = doc(CLEAN[lang], lang)
        sig: dict = {}
        assert C4Quality().check(d, sig) is None
        assert sig["c4_lines_removed"] == 0 and sig["c4_sentences"] >= 7
    assert count_sentences("第一句。第二句！第三句？\n第四句。") == 4


# --- FineWeb -----------------------------------------------------------------------

def test_fineweb_rules_trip():
    f = FineWebQuality()
    heads = "\n".join(f"Headline number {i} about the council and the bridge" for i in range(30))
    assert check(f, doc(heads))[0] == "line_punct_ratio"
    short = "\n".join(["Short line here."] * 3 + [f"Item {i}." for i in range(20)] + [CLEAN_EN])
    assert check(f, doc(short))[0] == "short_line_ratio"
    dup = CLEAN_EN + "\n" + CLEAN_EN.split("\n")[3]
    assert check(f, doc(dup))[0] == "dup_line_char_ratio"
    listy = "\n".join(f"Buy item {i}." for i in range(40))
    assert check(FineWebQuality({"max_short_line_ratio": None}), doc(listy))[0] == "newline_word_ratio"


# --- language ----------------------------------------------------------------------

def test_language_id_batched():
    langs, scores = langid.predict([CLEAN_EN, CLEAN_DE, CLEAN_ZH, CLEAN_JA, "", "Hello\nworld\n"])
    assert langs[:4] == ["en", "de", "zh", "ja"]
    assert all(s > 0.65 for s in scores[:4])
    assert langs[4] == "" and scores[4] == 0.0


def test_language_filter_list_and_threshold():
    f = langid.LanguageFilter({"languages": ["en"]})
    assert f.check(Doc(CLEAN_DE, "", "de", 0.99), {}) == ("de", 0.99)
    assert f.check(Doc(CLEAN_EN, "", "en", 0.99), {}) is None
    assert f.check(Doc(CLEAN_EN, "", "en", 0.5), {}) == ("en", 0.5)
    assert langid.LanguageFilter({}).check(Doc(CLEAN_DE, "", "de", 0.9), {}) is None


# --- URL blocklist -----------------------------------------------------------------

def test_url_blocklist_from_files(tmp_path):
    (tmp_path / "domains.txt").write_text("# bad sites\nspam.example\n\ncasino.test  # comment\n")
    (tmp_path / "subs.txt").write_text("/porn/\nutm_source=spam\n")
    f = UrlBlocklist({"domains_file": str(tmp_path / "domains.txt"),
                      "substrings_file": [str(tmp_path / "subs.txt")]})
    assert f.check(doc("x", url="https://www.spam.example/page"), {}) == ("domain:spam.example", 1.0)
    assert f.check(doc("x", url="http://a.b.casino.test/"), {}) == ("domain:casino.test", 1.0)
    assert f.check(doc("x", url="https://notspam.example/"), {}) is None
    assert f.check(doc("x", url="https://ok.org/x?utm_source=spam"), {})[0] == "substring:utm_source=spam"
    assert f.check(doc("x", url="https://ok.org/news/"), {}) is None
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        UrlBlocklist({"domains_file": str(tmp_path / "missing.txt")}).load()


# --- PII -----------------------------------------------------------------------------

def test_pii_masking_counts_and_leaves_private_addresses():
    m = PiiMasker({"enabled": True})
    text = ("Write to jane.doe@example.com or call +49 30 1234 5678 or (555) 123-4567. "
            "Our server is 93.184.216.34 and 2001:4860:4860::8888; the router is 192.168.0.1. "
            "The meeting is on 2021-03-12 10:30 and tickets cost 1.234.567 euros.")
    out = m.mask(text)
    assert "jane.doe" not in out and "<EMAIL>" in out
    assert "1234 5678" not in out and "123-4567" not in out
    assert "93.184.216.34" not in out and "2001:4860" not in out
    assert "192.168.0.1" in out and "2021-03-12 10:30" in out and "1.234.567" in out
    assert m.counts == {"email": 1, "phone": 2, "ip": 2}
    assert PiiMasker({}).mask(text) == text  # off by default


def test_signals_do_not_depend_on_the_hash_seed():
    """n-grams are hashed with Python's str hash, which differs per process: the signals
    (and so the output files) must not."""
    import json
    import os
    import subprocess
    import sys

    code = ("import json, sys; sys.path.insert(0, 'tests'); from test_filter_rules import *; "
            "s = {}; GopherRepetition().check(doc(CLEAN_EN + '\\n' + CLEAN_DE), s, True); "
            "print(json.dumps(s, sort_keys=True))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(outs) == 1 and json.loads(outs.pop())["top_2gram_char_frac"] > 0
