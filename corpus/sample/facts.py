"""Checkable facts about invented entities, written into sample pages and recorded in truth.json.

Each page that gets facts is about one entity no other page names (the Orlen Bridge in
Halsby): one or two sentences state when it opened, where it stands, who made it or how
many of something it has, and truth.json records the question, the answer and the sentence.
Retrieval and search-assistant tests then have a gold document for every question; the
``unanswerable`` questions ask the same things about entities in no page at all.
Names are made of syllables, not drawn from the prose vocabulary, so a name finds its page.
"""
from __future__ import annotations

import random
import re

KINDS = ("when", "where", "who", "how_many")
#: languages whose clean pages carry facts (one Latin, two written without spaces)
LANGS = ("en", "ja", "zh")

# --- English ---------------------------------------------------------------------------
_ONSET = ["b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "r", "s",
          "st", "t", "tr", "v", "w", "z"]
_VOWEL = ["a", "e", "i", "o", "u", "ae", "ei", "ou", "y"]
_CODA = ["", "n", "r", "l", "s", "m", "nd", "rk", "lt", "st", "x", "v"]
_TOWN_END = ["by", "ford", "ham", "wick", "ton", "mouth", "stead", "dale", "holm", "gate"]
_GIVEN = ["Mira", "Oskar", "Lena", "Tomas", "Ines", "Pavel", "Greta", "Anselm", "Ruth", "Emil",
          "Selma", "Jonas", "Alma", "Viktor", "Nadia", "Felix", "Ilse", "Bruno", "Carla", "Elias"]
#: entity type, verb of "when", verb of "who", what "how many" counts
_EN_TYPES = [("Bridge", "opened", "designed", "arches"), ("Library", "opened", "founded", "reading rooms"),
             ("Museum", "opened", "founded", "galleries"), ("Observatory", "built", "founded", "telescopes"),
             ("Lighthouse", "built", "designed", "windows"), ("Theatre", "opened", "designed", "balconies"),
             ("Festival", "first held", "founded", "stages"), ("Brewery", "founded", "started", "cellars"),
             ("Botanical Garden", "opened", "planned", "glasshouses"), ("Railway Station", "opened",
                                                                        "designed", "platforms")]

# --- Japanese --------------------------------------------------------------------------
_KANA = ["ア", "イ", "オ", "カ", "キ", "ク", "サ", "シ", "ス", "タ", "ト", "ナ", "ニ", "ノ", "ハ",
         "ヒ", "フ", "ベ", "マ", "ミ", "ム", "ラ", "リ", "ル", "レ", "ロ", "ヴァ", "ド", "ガ", "ゼ"]
_KANA_END = ["ン", "ル", "ス", "ト", "ラ", "ー", "ド", "ク"]
_JA_FAMILY = ["佐野", "北村", "松岡", "高畑", "森田", "石川", "西野", "今井", "川口", "秋山"]
_JA_GIVEN = ["綾子", "健一", "美咲", "誠", "由紀", "浩二", "直子", "翔太", "恵", "大輔"]
#: type, the stem of "when" (+ た in the statement, + ましたか in the question), what is counted
_JA_TYPES = [("橋", "開通し", "アーチ"), ("図書館", "開館し", "閲覧室"), ("博物館", "開館し", "展示室"),
             ("天文台", "建設され", "望遠鏡"), ("灯台", "建設され", "窓"), ("劇場", "開場し", "バルコニー")]

# --- Chinese ---------------------------------------------------------------------------
_HAN = ["奥", "伦", "哈", "斯", "维", "达", "尔", "米", "拉", "诺", "克", "特", "森", "巴", "勒",
        "蒙", "洛", "塔", "菲", "纳", "贝", "卡", "里", "温", "希", "曼", "德", "索", "阿", "雅"]
_ZH_FAMILY = ["王", "李", "陈", "刘", "周", "吴", "郑", "孙", "马", "胡"]
_ZH_GIVEN = ["晓明", "丽华", "志强", "秀英", "建国", "海燕", "文博", "静怡", "国庆", "雨桐"]
_ZH_TYPES = [("桥", "建成", "拱"), ("图书馆", "开放", "阅览室"), ("博物馆", "开放", "展厅"),
             ("天文台", "建成", "望远镜"), ("灯塔", "建成", "窗户"), ("剧院", "开放", "楼座")]


class Names:
    """Invented names, each entity once across the crawl (and none a word of the prose)."""

    def __init__(self, rng: random.Random, vocabulary: set[str]):
        self.rng = rng
        self.taken = set(vocabulary)

    def _unique(self, make) -> str:
        while True:
            name = make()
            if name.lower() not in self.taken:
                self.taken.add(name.lower())
                return name

    def en_word(self, syllables: int = 2) -> str:
        r = self.rng
        w = "".join(r.choice(_ONSET) + r.choice(_VOWEL) for _ in range(syllables - 1))
        return (w + r.choice(_ONSET) + r.choice(_VOWEL) + r.choice(_CODA)).capitalize()

    def entity(self, lang: str) -> dict:
        r = self.rng
        if lang == "ja":
            name = self._unique(lambda: "".join(r.choice(_KANA) for _ in range(r.randint(2, 3)))
                                + r.choice(_KANA_END))
            typ, verb, unit = r.choice(_JA_TYPES)
            town = "".join(r.choice(_KANA) for _ in range(3)) + r.choice(_KANA_END) + "市"
            person = r.choice(_JA_FAMILY) + r.choice(_JA_GIVEN)
            return {"lang": lang, "name": name, "type": typ, "when_verb": verb, "unit": unit,
                    "place": town, "person": person}
        if lang == "zh":
            name = self._unique(lambda: "".join(r.choice(_HAN) for _ in range(r.randint(3, 4))))
            typ, verb, unit = r.choice(_ZH_TYPES)
            town = "".join(r.choice(_HAN) for _ in range(3)) + "市"
            person = r.choice(_ZH_FAMILY) + r.choice(_ZH_GIVEN)
            return {"lang": lang, "name": name, "type": typ, "when_verb": verb, "unit": unit,
                    "place": town, "person": person}
        name = self._unique(lambda: self.en_word(r.randint(2, 3)))
        typ, when_verb, who_verb, unit = r.choice(_EN_TYPES)
        town = self.en_word(2) + r.choice(_TOWN_END)
        person = f"{r.choice(_GIVEN)} {self.en_word(2)}"
        return {"lang": lang, "name": name, "type": typ, "when_verb": when_verb, "who_verb": who_verb,
                "unit": unit, "place": town, "person": person}


def _numbers(e: dict, rng: random.Random) -> dict:
    return {"year": str(rng.randint(1820, 2015)), "n": str(rng.randint(3, 48))}


def fact(e: dict, kind: str, rng: random.Random, with_sentence: bool = True) -> dict:
    """One fact about entity ``e``: kind, question, answer and (for a page) the sentence."""
    v = {**e, **_numbers(e, rng)}
    lang = e["lang"]
    if lang == "ja":
        full = f"{v['place']}の{v['name']}{v['type']}"
        q, a, s = {
            "when": (f"{full}は何年に{v['when_verb']}ましたか？", v["year"],
                     f"{full}は{v['year']}年に{v['when_verb']}た。"),
            "where": (f"{v['name']}{v['type']}はどこにありますか？", v["place"],
                      f"{v['name']}{v['type']}は{v['place']}にある。"),
            "who": (f"{full}を設計したのは誰ですか？", v["person"],
                    f"{full}は{v['person']}が設計した。"),
            "how_many": (f"{full}にはいくつの{v['unit']}がありますか？", v["n"],
                         f"{full}には{v['n']}の{v['unit']}がある。"),
        }[kind]
    elif lang == "zh":
        full = f"{v['place']}的{v['name']}{v['type']}"
        q, a, s = {
            "when": (f"{full}是哪一年{v['when_verb']}的？", v["year"],
                     f"{full}于{v['year']}年{v['when_verb']}。"),
            "where": (f"{v['name']}{v['type']}位于哪里？", v["place"],
                      f"{v['name']}{v['type']}位于{v['place']}。"),
            "who": (f"{full}是由谁设计的？", v["person"], f"{full}由{v['person']}设计。"),
            "how_many": (f"{full}有多少个{v['unit']}？", v["n"],
                         f"{full}共有{v['n']}个{v['unit']}。"),
        }[kind]
    else:
        thing = f"the {v['name']} {v['type']}"
        full = f"{thing} in {v['place']}"
        q, a, s = {
            "when": (f"When was {full} {v['when_verb']}?", v["year"],
                     f"{full[0].upper()}{full[1:]} was {v['when_verb']} in {v['year']}."),
            "where": (f"Where is {thing}?", v["place"],
                      f"{thing[0].upper()}{thing[1:]} stands in the town of {v['place']}."),
            "who": (f"Who {v['who_verb']} {full}?", v["person"],
                    f"{full[0].upper()}{full[1:]} was {v['who_verb']} by {v['person']}."),
            "how_many": (f"How many {v['unit']} does {full} have?", v["n"],
                         f"{full[0].upper()}{full[1:]} has {v['n']} {v['unit']}."),
        }[kind]
    out = {"kind": kind, "question": q, "answer": a}
    if with_sentence:
        out["sentence"] = s
    return out


def page_facts(names: Names, lang: str, rng: random.Random) -> list[dict]:
    """One or two facts (of different kinds) about a new entity."""
    e = names.entity(lang)
    kinds = rng.sample(KINDS, rng.choice((1, 2)))
    return [fact(e, k, rng) for k in kinds]


def insert_sentences(paragraphs: list[str], sentences: list[str], cjk: bool,
                     rng: random.Random) -> list[str]:
    """The paragraphs with each sentence placed at a sentence boundary of a random paragraph."""
    paras = list(paragraphs)
    splitter = re.compile(r"(?<=[。！？])" if cjk else r"(?<=[.!?»“])\s+")
    for s in sentences:
        i = rng.randrange(len(paras))
        parts = [p for p in splitter.split(paras[i]) if p]
        parts.insert(rng.randint(0, len(parts)), s)
        paras[i] = ("" if cjk else " ").join(parts)
    return paras


def unanswerable(names: Names, rng: random.Random, n: int = 200) -> list[dict]:
    """Questions about entities in no page: most in English, a tenth each in ja and zh."""
    out = []
    for i in range(n):
        lang = "ja" if i % 10 == 3 else "zh" if i % 10 == 7 else "en"
        q = fact(names.entity(lang), KINDS[i % len(KINDS)], rng, with_sentence=False)
        out.append({"kind": q["kind"], "question": q["question"], "lang": lang})
    return out
