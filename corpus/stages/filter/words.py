"""Word splitting that works for every script, and per-language stop words.

The heuristic filters were written for English, where ``text.split()`` finds words.
Chinese, Japanese and Thai put no spaces between words, so a whole paragraph would
be one "word" and every length rule would wipe such pages out. Text containing such
characters is split by a regex in which each of them counts as one word (a character
is roughly a morpheme in Chinese and Japanese; for Thai it over-counts, which only
makes the minimum-length rules milder), and the rules that assume spaces (mean word
length) are skipped for those languages. Other text is split on whitespace.
"""
from __future__ import annotations

import re

#: Scripts written without spaces between words: Han, Hiragana, Katakana, Thai, Lao,
#: Khmer, Myanmar, plus the CJK compatibility and half-width forms.
NO_SPACE_CHARS = (
    "\u0e00-\u0e7f"  # Thai
    "\u0e80-\u0eff"  # Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u309f"  # Hiragana
    "\u30a0-\u30ff"  # Katakana
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f"  # half-width Katakana
)

#: Languages (ISO 639-1 / fastText labels) written without spaces between words.
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "wuu", "yue", "bo", "dz"})

# A word is: one character of a no-space script, or a run of other word characters
# (letters, digits, combining marks) possibly joined by an apostrophe, hyphen or dot
# ("don't", "e-mail", "3.5"), or a run of symbols that are not punctuation marks
# (e.g. "©", "→"), which count as words without letters, as nltk/spaCy tokens do.
#: Symbols that nltk/spaCy keep as tokens but are not punctuation: ©, ®, °, ™,
#: currency signs, arrows, maths, box drawing, shapes, dingbats, emoji.
SYMBOL_CHARS = ("\u00a9\u00ae\u00b0\u2122\u20a0-\u20cf\u2190-\u23ff\u2500-\u27bf"
                "\U0001f000-\U0001faff")
_WORD = (rf"[{NO_SPACE_CHARS}]|[^\W{NO_SPACE_CHARS}]+(?:['’\-.][^\W{NO_SPACE_CHARS}]+)*"
         rf"|[{SYMBOL_CHARS}]+")
WORD_RE = re.compile(_WORD)
NO_SPACE_RE = re.compile(f"[{NO_SPACE_CHARS}]")


def words(text: str) -> list[str]:
    """The words of ``text``: whitespace-separated tokens (as Dolma's Gopher rules count
    them; ten times cheaper than a regex tokenizer), unless the text has characters of a
    script without spaces, then :data:`WORD_RE` tokens (one per such character)."""
    if NO_SPACE_RE.search(text) is None:
        return text.split()
    return WORD_RE.findall(text)


def count_words(text: str) -> int:
    """How many words ``words(text)`` would return, for one line (cheap on spaced text)."""
    if NO_SPACE_RE.search(text) is None:
        return len(text.split())
    return len(WORD_RE.findall(text))


def is_no_space(language: str | None) -> bool:
    """Is ``language`` written without spaces between words?"""
    return (language or "") in NO_SPACE_LANGUAGES


# Stop words: the Gopher rule ("at least two of: the, be, to, of, and, that, have, with")
# needs, for other languages, the words that play the same role: the most frequent
# articles, prepositions, conjunctions and forms of "to be"/"to have". Lists written
# for this project; a language without a list skips the rule.
STOP_WORDS: dict[str, frozenset[str]] = {
    # Gopher / MassiveText (Rae et al. 2021), exactly.
    "en": frozenset({"the", "be", "to", "of", "and", "that", "have", "with"}),
    "de": frozenset({"der", "die", "das", "und", "zu", "von", "mit", "ist", "den", "nicht",
                     "ein", "eine", "sich", "auf", "für", "dem", "des", "im", "sind", "haben"}),
    "fr": frozenset({"le", "la", "les", "de", "des", "et", "à", "que", "est", "un", "une",
                     "du", "en", "pour", "dans", "avec", "être", "avoir", "qui", "pas"}),
    "es": frozenset({"el", "la", "los", "las", "de", "que", "y", "a", "en", "un", "una",
                     "es", "por", "con", "para", "del", "se", "no", "ser", "al"}),
    "it": frozenset({"il", "la", "di", "che", "e", "è", "a", "in", "un", "una", "per",
                     "con", "non", "del", "della", "le", "gli", "si", "essere", "sono"}),
    "pt": frozenset({"o", "a", "os", "as", "de", "que", "e", "do", "da", "em", "um", "uma",
                     "para", "com", "não", "se", "por", "é", "ser", "no"}),
    "nl": frozenset({"de", "het", "een", "en", "van", "is", "dat", "op", "te", "in", "zijn",
                     "met", "voor", "niet", "die", "er", "aan", "hebben", "om", "ook"}),
    "sv": frozenset({"och", "att", "det", "som", "en", "på", "är", "av", "för", "med",
                     "till", "den", "har", "de", "inte", "om", "ett", "var", "jag", "så"}),
    "pl": frozenset({"i", "w", "nie", "się", "na", "jest", "że", "z", "do", "to", "jak",
                     "o", "ale", "co", "tak", "od", "po", "przez", "dla", "być"}),
    "ru": frozenset({"и", "в", "не", "на", "что", "с", "по", "это", "как", "к", "из", "он",
                     "а", "то", "за", "для", "от", "быть", "у", "так"}),
    "tr": frozenset({"ve", "bir", "bu", "da", "de", "için", "ile", "çok", "olarak", "daha",
                     "gibi", "ne", "ama", "olan", "kadar", "en", "her", "mi", "o", "var"}),
    # Chinese and Japanese: single characters, matching the one-character words above.
    "zh": frozenset({"的", "是", "了", "在", "和", "有", "我", "不", "这", "也", "就", "人",
                     "都", "一", "他", "们", "中", "到", "说", "要"}),
    "ja": frozenset({"の", "に", "は", "を", "た", "が", "で", "て", "と", "し", "れ", "さ",
                     "な", "い", "る", "も", "か", "す", "ま", "こ"}),
}


def stop_words_for(language: str | None, overrides: dict | None = None) -> frozenset[str] | None:
    """The stop-word set for ``language``: the YAML's list when given, else ours, else None."""
    if overrides and language in overrides:
        return frozenset(overrides[language] or ())
    return STOP_WORDS.get(language or "")
