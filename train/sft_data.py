"""Conversations for SFT: the built-in mix the project generates, and user files.

The built-in mix is deterministic given (n, seed) and covers what the demo model has to
learn to be an assistant at all: greet and say what it is, follow small instructions
(count, reverse, list, convert), solve arithmetic word problems with a worked answer whose
last line is ``Answer: N`` (what the RL stage checks), and refuse questions it cannot know
(private facts, the future, the user's own life). Some conversations are multi-turn and
some carry a system message, so the model learns turn-taking, not just one reply.

User data: JSONL (one ``{"messages": [...]}`` object per line) or Parquet with a
``messages`` column (list of ``{role, content}`` structs, or a JSON string per row).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.parquet as pq

from contract.jsonl import read_jsonl, write_jsonl  # noqa: F401  (write_jsonl: re-exported)
from train.arithmetic import make_problems
from train.chat_format import ConversationError, validate

IDENTITY = ("I am a small assistant trained with crawl2tokens: a compact GPT pretrained on "
            "web text, then fine-tuned to chat. I can answer simple questions, follow short "
            "instructions and solve small arithmetic problems.")
REFUSAL = "I don't know."

GREETINGS = ["Hello!", "Hi!", "Hi there.", "Hey!", "Good morning!", "Good evening!",
             "Hello, how are you?", "Hi, nice to meet you."]
GREETING_REPLIES = ["Hello! How can I help you today?", "Hi! What can I do for you?",
                    "Hello! I'm here to help. What would you like to know?"]
THANKS = ["Thank you!", "Thanks!", "Thanks, that helps.", "Great, thank you."]
THANKS_REPLIES = ["You're welcome!", "Glad I could help.", "You're welcome. Anything else?"]
GOODBYES = ["Bye!", "Goodbye!", "See you later."]
GOODBYE_REPLIES = ["Goodbye! Have a nice day.", "Bye! Come back any time."]
IDENTITY_QUESTIONS = ["Who are you?", "What are you?", "Tell me about yourself.",
                      "What is your name?", "Are you a person?", "Who made you?",
                      "What can you do?"]
SYSTEMS = ["You are a helpful assistant.", "You are a concise assistant. Answer briefly.",
           "You are a friendly assistant built with crawl2tokens."]

WORDS = ["apple", "banana", "cherry", "garden", "window", "river", "planet", "pencil",
         "orange", "market", "silver", "forest", "bridge", "rocket", "candle", "mirror",
         "yellow", "summer", "winter", "castle", "dragon", "guitar", "jungle", "kitten",
         "lemon", "monkey", "number", "pocket", "rabbit", "school", "table", "violin",
         "water", "house", "cloud", "stone", "tiger", "paper", "music", "light"]
CATEGORIES = {
    "fruits": ["apple", "banana", "cherry", "orange", "lemon", "mango", "grape", "pear", "peach", "plum"],
    "colors": ["red", "green", "blue", "yellow", "purple", "orange", "black", "white", "pink", "brown"],
    "animals": ["cat", "dog", "horse", "tiger", "rabbit", "monkey", "lion", "bear", "fox", "owl"],
    "vegetables": ["carrot", "potato", "onion", "pepper", "lettuce", "tomato", "cabbage", "pea"],
    "countries": ["France", "Japan", "Brazil", "Canada", "Kenya", "India", "Spain", "Mexico", "Norway"],
    "days of the week": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}
NAMES = ["Alice", "Bob", "Carla", "David", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas",
         "Kofi", "Lena", "Mateo", "Nora", "Omar", "Priya"]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]

UNIT_PAIRS = [  # (from, to, factor)
    ("kilometers", "meters", 1000), ("meters", "centimeters", 100), ("kilograms", "grams", 1000),
    ("hours", "minutes", 60), ("minutes", "seconds", 60), ("liters", "milliliters", 1000),
    ("days", "hours", 24), ("weeks", "days", 7), ("feet", "inches", 12),
]


def _quote(s: str) -> str:
    return f'"{s}"'


# --- single exchanges: each returns (user, assistant) -------------------------------------

def _greeting(r: random.Random):
    return r.choice(GREETINGS), r.choice(GREETING_REPLIES)


def _identity(r: random.Random):
    return r.choice(IDENTITY_QUESTIONS), IDENTITY


def _count_words(r: random.Random):
    words = r.sample(WORDS, r.randint(2, 7))
    sentence = " ".join(words)
    n = len(words)
    return (f"How many words are in this text: {_quote(sentence)}?",
            f"There are {n} words.\nAnswer: {n}")


def _count_letters(r: random.Random):
    w = r.choice(WORDS)
    return (f"How many letters are in the word {_quote(w)}?",
            f"{_quote(w)} is spelled {'-'.join(w)}, so it has {len(w)} letters.\nAnswer: {len(w)}")


def _count_letter(r: random.Random):
    w = r.choice(WORDS)
    ch = r.choice(sorted(set(w)))
    n = w.count(ch)
    times = "time" if n == 1 else "times"
    return (f"How many times does the letter {_quote(ch)} appear in {_quote(w)}?",
            f"{_quote(w)} is spelled {'-'.join(w)}. The letter {_quote(ch)} appears {n} {times}.\nAnswer: {n}")


def _reverse_word(r: random.Random):
    w = r.choice(WORDS)
    return (f"Reverse the word {_quote(w)}.",
            f"{'-'.join(w)} reversed is {'-'.join(w[::-1])}, so the answer is {_quote(w[::-1])}.")


def _reverse_list(r: random.Random):
    cat = r.choice(list(CATEGORIES))
    items = r.sample(CATEGORIES[cat], r.randint(3, 5))
    return (f"Reverse this list: {', '.join(items)}", ", ".join(reversed(items)))


def _list_items(r: random.Random):
    cat = r.choice(list(CATEGORIES))
    k = r.randint(2, min(5, len(CATEGORIES[cat])))
    items = r.sample(CATEGORIES[cat], k)
    return (f"List {NUMBER_WORDS[k]} {cat}.",
            "\n".join(f"{i + 1}. {x}" for i, x in enumerate(items)))


def _sort_list(r: random.Random):
    items = r.sample(WORDS, r.randint(3, 5))
    return (f"Sort these words alphabetically: {', '.join(items)}", ", ".join(sorted(items)))


def _convert_units(r: random.Random):
    a, b, f = r.choice(UNIT_PAIRS)
    x = r.randint(1, 12)
    return (f"Convert {x} {a} to {b}.",
            f"One of the {a} is {f} {b}, so {x} {a} is {x} x {f} = {x * f} {b}.\nAnswer: {x * f}")


def _convert_temperature(r: random.Random):
    if r.random() < 0.5:
        c = 5 * r.randint(-4, 20)
        f = c * 9 // 5 + 32
        return (f"Convert {c} degrees Celsius to Fahrenheit.",
                f"F = C x 9 / 5 + 32 = {c} x 9 / 5 + 32 = {f}.\nAnswer: {f}")
    c = 5 * r.randint(-4, 20)
    f = c * 9 // 5 + 32
    return (f"Convert {f} degrees Fahrenheit to Celsius.",
            f"C = (F - 32) x 5 / 9 = ({f} - 32) x 5 / 9 = {c}.\nAnswer: {c}")


def _convert_case(r: random.Random):
    words = " ".join(r.sample(WORDS, r.randint(2, 4)))
    kind = r.choice(["uppercase", "lowercase", "title case"])
    if kind == "uppercase":
        return f"Convert to uppercase: {words}", words.upper()
    if kind == "lowercase":
        return f"Convert to lowercase: {words.upper()}", words
    return f"Convert to title case: {words}", words.title()


INSTRUCTIONS = [_count_words, _count_letters, _count_letter, _reverse_word, _reverse_list,
                _list_items, _sort_list, _convert_units, _convert_temperature, _convert_case]


def _unknowable(r: random.Random):
    name = r.choice(NAMES)
    year = r.randint(2030, 2090)
    city = r.choice(["Paris", "Tokyo", "Lagos", "Lima", "Oslo", "Cairo", "Delhi", "Toronto"])
    options = [
        ("What is my name?", "I don't know your name: you haven't told me, and I can't see who you are."),
        ("How old am I?", "I don't know how old you are. I have no information about you."),
        ("Where do I live?", "I don't know where you live. I have no information about you."),
        ("What did I eat for breakfast today?", "I don't know: I can't see what you do or what you eat."),
        ("What is my phone number?", "I don't know your phone number, and I have no access to personal data."),
        (f"What is {name}'s password?", f"I don't know {name}'s password, and I have no access to private data."),
        (f"What is {name} thinking right now?", f"I don't know what {name} is thinking. I can't read minds."),
        (f"What is the home address of {name}?", f"I don't know. I have no access to private information about {name}."),
        (f"Who will win the election in {year}?", f"I don't know. I can't predict events in {year}."),
        (f"What will the weather be in {city} tomorrow?", f"I don't know. I have no access to weather forecasts."),
        (f"What will the stock market do in {year}?", "I don't know. Nobody can know future prices."),
        (f"Which team will win the cup in {year}?", f"I don't know. That is in the future, so I can't know it."),
        ("What number am I thinking of?", "I don't know. I can't see what you are thinking."),
        (f"What is the lottery number for next week in {city}?", "I don't know. Lottery numbers are random and in the future."),
    ]
    return r.choice(options)


# Made-up names: what a search answer must be copied from (a name the model never read).
ONSETS = ["b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "pr", "r", "s",
          "st", "t", "tr", "v", "w", "z"]
VOWELS = ["a", "e", "i", "o", "u", "ae", "ei", "ou", "y"]
CODAS = ["", "", "n", "r", "l", "st", "th", "ck", "m", "x"]
PLACES = ["Railway Station", "Library", "Theatre", "Bridge", "Lighthouse", "Museum", "Observatory", "Mill"]
COPY_ASKS = ["Repeat after me: {}", "Say exactly this: {}", "Copy this: {}", "Please repeat: {}"]


def made_up_name(r: random.Random) -> str:
    return "".join(r.choice(ONSETS) + r.choice(VOWELS) + r.choice(CODAS)
                   for _ in range(r.randint(2, 3))).capitalize()


def _copy(r: random.Random):
    """Repeat a string of made-up names, places and numbers exactly: the easy form of what a
    search answer needs (copy a span the model has never seen from its context). A small model
    forms the attention that copies (an induction head) on these within a few hundred steps;
    on search conversations alone it does not (bench/RESULTS.md, search)."""
    parts = []
    for _ in range(r.randint(1, 4)):
        k = r.random()
        if k < 0.5:
            parts.append(made_up_name(r))
        elif k < 0.8:
            parts.append(f"the {made_up_name(r)} {r.choice(PLACES)} in {made_up_name(r)}")
        else:
            parts.append(str(r.randint(2, 2020)))
    text = " ".join(parts)
    return r.choice(COPY_ASKS).format(text), text


def arithmetic_problems(n: int, seed: int, level: int = 1) -> list[dict]:
    """Training-split word problems from the RL stage's generator (held-out problems never
    leak into SFT)."""
    if n <= 0:
        return []
    return list(make_problems(n, seed, level=level, split="sft"))


DEFAULT_MIX = {"greeting": 0.08, "identity": 0.08, "instruction": 0.34, "arithmetic": 0.3,
               "unknowable": 0.12, "multi_turn": 0.08}
#: Kinds a mix may name beyond the default ones: ``search`` needs the corpus's facts and index;
#: ``copy`` drills the copying that search answers need (pipelines/sample.yaml, bench/search.py).
OPTIONAL_KINDS = ("search", "copy")


def builtin_conversations(n: int = 2000, seed: int = 0, mix: dict | None = None,
                          arithmetic_levels: tuple[int, ...] = (1,), search=None) -> list[dict]:
    """``n`` conversations ``{"messages": [...], "source": "builtin:<kind>"}``, shuffled,
    deterministic for (n, seed, mix). ``mix`` maps kind -> weight (see DEFAULT_MIX); the kind
    ``search`` (questions answered through a search, train/search_data.py) needs ``search``,
    a ``SearchData`` over the corpus's facts and index."""
    mix = dict(DEFAULT_MIX if mix is None else mix)
    if mix.get("search") and search is None:
        raise ValueError("built-in kind 'search' needs train.sft.builtin.search: {truth: truth.json, "
                         "index: the index folder}")
    unknown = set(mix) - set(DEFAULT_MIX) - set(OPTIONAL_KINDS)
    if unknown:
        raise ValueError(f"unknown built-in conversation kinds {sorted(unknown)}; "
                         f"choose from {sorted(DEFAULT_MIX) + sorted(OPTIONAL_KINDS)}")
    total = sum(mix.values())
    if total <= 0:
        raise ValueError("built-in mix weights must sum to a positive number")
    kinds = sorted(mix)
    counts = {k: int(n * mix[k] / total) for k in kinds}
    for k in sorted(kinds, key=lambda k: -mix[k])[: n - sum(counts.values())]:
        counts[k] += 1
    r = random.Random(seed)
    problems = []
    levels = list(arithmetic_levels) or [1]
    per_level = -(-(counts.get("arithmetic", 0) + counts.get("multi_turn", 0)) // len(levels))
    for i, lvl in enumerate(levels):
        problems += arithmetic_problems(per_level, seed * 1000 + 17 + i, level=lvl)
    r.shuffle(problems)
    problem_iter = iter(problems)

    def exchange(kind: str):
        if kind == "greeting":
            return _greeting(r)
        if kind == "identity":
            return _identity(r)
        if kind == "instruction":
            return r.choice(INSTRUCTIONS)(r)
        if kind == "arithmetic":
            p = next(problem_iter)
            return p["prompt"], p["solution"]
        if kind == "unknowable":
            return _unknowable(r)
        if kind == "copy":
            return _copy(r)
        raise AssertionError(kind)

    out = []
    for kind in kinds:
        if kind == "search":
            out += search.conversations(counts[kind], seed) if counts[kind] else []
            continue
        for _ in range(counts[kind]):
            if kind == "multi_turn":
                messages = _multi_turn(r, exchange)
            else:
                u, a = exchange(kind)
                messages = [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
                if r.random() < 0.1:
                    messages.insert(0, {"role": "system", "content": r.choice(SYSTEMS)})
            out.append({"messages": messages, "source": f"builtin:{kind}"})
    r.shuffle(out)
    return out


def _multi_turn(r: random.Random, exchange) -> list[dict]:
    """2-3 exchanges: often opened by a greeting and closed with thanks."""
    turns = []
    if r.random() < 0.5:
        turns.append(_greeting(r))
    for _ in range(r.randint(1, 2)):
        turns.append(exchange(r.choice(["instruction", "arithmetic", "unknowable", "identity"])))
    if r.random() < 0.5:
        turns.append((r.choice(THANKS), r.choice(THANKS_REPLIES)))
    elif r.random() < 0.3:
        turns.append((r.choice(GOODBYES), r.choice(GOODBYE_REPLIES)))
    if len(turns) < 2:
        turns.append(exchange("instruction"))
    messages = []
    if r.random() < 0.2:
        messages.append({"role": "system", "content": r.choice(SYSTEMS)})
    for u, a in turns:
        messages += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
    return messages


# --- user files ----------------------------------------------------------------------------

def _check(messages, where: str) -> list[dict]:
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except json.JSONDecodeError as e:
            raise ConversationError(f"{where}: messages is a string but not JSON ({e})") from None
    if not isinstance(messages, list):
        raise ConversationError(f"{where}: messages must be a list")
    try:
        return validate([{k: m.get(k) for k in ("role", "content", "tool_calls") if k in m or k != "tool_calls"}
                         if isinstance(m, dict) else m for m in messages])
    except ConversationError as e:
        raise ConversationError(f"{where}: {e}") from None


def load_conversations(path: str | Path) -> list[dict]:
    """Conversations from a JSONL or Parquet file: ``[{"messages", "source"}]``.

    A malformed row raises ``ConversationError`` (``JsonlError`` for a line that is not
    JSON), naming the file and line/row.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"SFT data file not found: {path}")
    out = []
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        if "messages" not in table.column_names:
            raise ConversationError(f"{path}: no 'messages' column (has {table.column_names})")
        for i, messages in enumerate(table.column("messages").to_pylist()):
            out.append({"messages": _check(messages, f"{path} row {i}"), "source": str(path)})
        return out
    for lineno, obj in read_jsonl(path, objects=False, numbered=True):
        where = f"{path}:{lineno}"
        if isinstance(obj, list):
            messages = obj
        elif isinstance(obj, dict) and "messages" in obj:
            messages = obj["messages"]
        else:
            raise ConversationError(f"{where}: expected an object with 'messages'")
        out.append({"messages": _check(messages, where), "source": str(path)})
    return out
