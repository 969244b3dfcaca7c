"""Render OpenAI-style conversations into token ids for SFT, RL and chat.

One rendering for all three phases, so a model is trained on exactly the bytes it is
later prompted with:

    <|bos|> <|system_start|>text<|system_end|> <|user_start|>text<|user_end|>
            <|assistant_start|>text<|assistant_end|> ...

The loss mask supervises only the assistant's text and its ``<|assistant_end|>`` token:
the model learns to answer and to stop, never to imitate users or system prompts.
A generation prompt ends with ``<|assistant_start|>``.

An assistant message may carry ``"tool_calls": [{"query": ..., "result": ...}]``: searches
it ran before writing its ``content``. Each is rendered inside the assistant turn, in order:

    <|search_start|>query<|search_end|><|result_start|>result<|result_end|>

The query and both search tokens are trained (the model learns when and what to search);
the result span, which the runtime inserts (train/tools.py), never is.

``tokenizer`` is anything with ``encode(text) -> list[int]`` (no specials added) and a
``special`` dict (name -> id) holding the seven ``contract.tokens.CHAT_NAMES`` (and the
``TOOL_NAMES`` for conversations with tool calls) —
``contract.tokens.Tokenizer`` is one, and its encode is the shards' encode, so message text
gets the very ids it would have in pretraining data.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from contract.tokens import CHAT_NAMES, TOOL_NAMES

ROLES = ("system", "user", "assistant")


class ConversationError(ValueError):
    """A conversation that cannot be rendered (bad role, empty, wrong order)."""


def _special(tokenizer) -> dict:
    special = getattr(tokenizer, "special", None)
    if not isinstance(special, dict):
        raise ConversationError("tokenizer has no `special` dict of chat token ids")
    missing = [n for n in CHAT_NAMES if n not in special]
    if missing:
        raise ConversationError(f"tokenizer lacks special tokens {missing}; "
                                f"retrain it with the tokenizer stage's user_defined_symbols")
    return special


def has_tools(tokenizer) -> bool:
    """Whether the tokenizer holds the tool-call pieces (one from before them does not)."""
    special = getattr(tokenizer, "special", None) or {}
    return all(n in special for n in TOOL_NAMES)


def _tool_special(tokenizer) -> dict:
    if not has_tools(tokenizer):
        raise ConversationError("a conversation with tool_calls needs a tokenizer with the tool-call "
                                "tokens (<|search_start|> ...); retrain it with the tokenizer stage")
    return tokenizer.special


def _tool_calls(m: dict, i: int) -> list[dict]:
    calls = m.get("tool_calls") or []
    if calls and m["role"] != "assistant":
        raise ConversationError(f"message {i}: only an assistant message may have tool_calls")
    if not isinstance(calls, list):
        raise ConversationError(f"message {i}: tool_calls must be a list")
    for c in calls:
        if not (isinstance(c, dict) and isinstance(c.get("query"), str) and isinstance(c.get("result"), str)):
            raise ConversationError(f"message {i}: each tool call must be {{'query': str, 'result': str}}")
    return [{"query": c["query"], "result": c["result"]} for c in calls]


def validate(messages: Sequence[dict], *, for_prompt: bool = False) -> list[dict]:
    """Check roles and order; return ``[{"role", "content"}]`` with string contents (and
    ``tool_calls`` on the assistant messages that have them).

    Rules: an optional system message first, then user and assistant turns alternating,
    starting with user. A training conversation must contain an assistant turn; a
    prompt must end with a user turn.
    """
    if not isinstance(messages, (list, tuple)) or not messages:
        raise ConversationError("messages must be a non-empty list")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ConversationError(f"message {i} must be a dict with 'role' and 'content'")
        role, content = m["role"], m["content"]
        if role not in ROLES:
            raise ConversationError(f"message {i}: unknown role {role!r} (use {', '.join(ROLES)})")
        if not isinstance(content, str):
            raise ConversationError(f"message {i}: content must be a string")
        if role == "system" and i != 0:
            raise ConversationError(f"message {i}: a system message may only come first")
        calls = _tool_calls(m, i)
        out.append({"role": role, "content": content, **({"tool_calls": calls} if calls else {})})
    turns = out[1:] if out[0]["role"] == "system" else out
    for j, m in enumerate(turns):
        want = "user" if j % 2 == 0 else "assistant"
        if m["role"] != want:
            raise ConversationError(f"turns must alternate user/assistant starting with user; "
                                    f"got {m['role']!r} at turn {j}")
    if for_prompt:
        if not turns or turns[-1]["role"] != "user":
            raise ConversationError("a generation prompt must end with a user message")
    elif not any(m["role"] == "assistant" for m in turns):
        raise ConversationError("a training conversation needs at least one assistant message")
    return out


def render(messages: Sequence[dict], tokenizer) -> tuple[list[int], list[int]]:
    """Token ids of a whole conversation and a 0/1 mask of the same length.

    ``mask[i] == 1`` means token ``ids[i]`` is a training target (predicted from
    ``ids[:i]``): every token of assistant text and the ``<|assistant_end|>`` closing it.
    """
    sp = _special(tokenizer)
    ids: list[int] = [sp["bos"]]
    mask: list[int] = [0]
    for m in validate(messages):
        _render_turn(m, tokenizer, sp, ids, mask)
    return ids, mask


def _render_turn(m: dict, tokenizer, sp: dict, ids: list[int], mask: list[int]) -> None:
    """Append one message's ids and their supervision (see :func:`render`)."""
    def put(tokens, supervised: int) -> None:
        ids.extend(tokens)
        mask.extend([supervised] * len(tokens))

    role = m["role"]
    supervised = 1 if role == "assistant" else 0
    put([sp[f"{role}_start"]], 0)
    for call in m.get("tool_calls") or []:
        tsp = _tool_special(tokenizer)
        put([tsp["search_start"]] + tokenizer.encode(call["query"]) + [tsp["search_end"]], 1)
        put(result_span(call["result"], tokenizer), 0)   # inserted by the runtime: never a target
    put(tokenizer.encode(m["content"]) if m["content"] else [], supervised)
    put([sp[f"{role}_end"]], supervised)


def result_span(text: str, tokenizer) -> list[int]:
    """The ids the runtime inserts after a search: the result text in its two tokens."""
    tsp = _tool_special(tokenizer)
    return [tsp["result_start"]] + (tokenizer.encode(text) if text else []) + [tsp["result_end"]]


def render_prompt(messages: Sequence[dict], tokenizer) -> list[int]:
    """Ids for generation: the conversation so far (ending with a user turn), then
    ``<|assistant_start|>`` so the model's next tokens are the assistant's reply."""
    sp = _special(tokenizer)
    ids, mask = [sp["bos"]], [0]
    for m in validate(messages, for_prompt=True):
        _render_turn(m, tokenizer, sp, ids, mask)
    ids.append(sp["assistant_start"])
    return ids


def stop_ids(tokenizer) -> tuple[int, ...]:
    """Tokens that end an assistant reply: its own end token, and (defensively) the start
    of any other turn or a new document, which a weak model may emit instead."""
    sp = _special(tokenizer)
    return (sp["assistant_end"], sp["user_start"], sp["bos"], sp["system_start"])


def decode_reply(ids: Iterable[int], tokenizer) -> str:
    """Text of a generated reply: tokens up to the first stop id, specials removed, and
    tool calls (query and inserted result) left out: only what the assistant says."""
    return parse_reply(ids, tokenizer)[0]


def parse_reply(ids: Iterable[int], tokenizer) -> tuple[str, list[dict]]:
    """(the reply's own text, its tool calls ``[{"query", "result"}]``) of generated ids up
    to the first stop id. A call cut short (no end token) still counts, with what it has."""
    stops = set(stop_ids(tokenizer))
    special = _special(tokenizer)
    names = {i: n for n, i in special.items()}
    kept: list[int] = []
    calls: list[dict] = []
    span, where = None, None      # the ids of the query or result being read
    for t in ids:
        t = int(t)
        if t in stops:
            break
        name = names.get(t)
        if name in ("search_start", "result_start"):
            span, where = [], name
            if name == "search_start":
                calls.append({"query": "", "result": ""})
        elif name in ("search_end", "result_end"):
            span = None
        elif name is None:
            if span is None:
                kept.append(t)
            else:
                span.append(t)
                if calls:
                    calls[-1]["query" if where == "search_start" else "result"] = tokenizer.decode(span)
    return tokenizer.decode(kept), calls


def training_example(messages: Sequence[dict], tokenizer) -> tuple[list[int], list[int]]:
    """(inputs, targets) shifted by one for next-token loss; unsupervised targets are -1."""
    ids, mask = render(messages, tokenizer)
    inputs = ids[:-1]
    targets = [t if m else -1 for t, m in zip(ids[1:], mask[1:])]
    return inputs, targets
