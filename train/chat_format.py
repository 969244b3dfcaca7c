"""Render OpenAI-style conversations into token ids for SFT, RL and chat.

One rendering for all three phases, so a model is trained on exactly the bytes it is
later prompted with:

    <|bos|> <|system_start|>text<|system_end|> <|user_start|>text<|user_end|>
            <|assistant_start|>text<|assistant_end|> ...

The loss mask supervises only the assistant's text and its ``<|assistant_end|>`` token:
the model learns to answer and to stop, never to imitate users or system prompts.
A generation prompt ends with ``<|assistant_start|>``.

``tokenizer`` is anything with ``encode(text) -> list[int]`` (no specials added) and a
``special`` dict (name -> id) holding the seven ``contract.tokens.SPECIAL_NAMES`` —
``contract.tokens.Tokenizer`` is one, and its encode is the shards' encode, so message text
gets the very ids it would have in pretraining data.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from contract.tokens import SPECIAL_NAMES

ROLES = ("system", "user", "assistant")


class ConversationError(ValueError):
    """A conversation that cannot be rendered (bad role, empty, wrong order)."""


def _special(tokenizer) -> dict:
    special = getattr(tokenizer, "special", None)
    if not isinstance(special, dict):
        raise ConversationError("tokenizer has no `special` dict of chat token ids")
    missing = [n for n in SPECIAL_NAMES if n not in special]
    if missing:
        raise ConversationError(f"tokenizer lacks special tokens {missing}; "
                                f"retrain it with the tokenizer stage's user_defined_symbols")
    return special


def validate(messages: Sequence[dict], *, for_prompt: bool = False) -> list[dict]:
    """Check roles and order; return ``[{"role", "content"}]`` with string contents.

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
        out.append({"role": role, "content": content})
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
        role = m["role"]
        body = tokenizer.encode(m["content"]) if m["content"] else []
        start, end = sp[f"{role}_start"], sp[f"{role}_end"]
        supervised = 1 if role == "assistant" else 0
        ids.append(start)
        mask.append(0)
        ids.extend(body)
        mask.extend([supervised] * len(body))
        ids.append(end)
        mask.append(supervised)
    return ids, mask


def render_prompt(messages: Sequence[dict], tokenizer) -> list[int]:
    """Ids for generation: the conversation so far (ending with a user turn), then
    ``<|assistant_start|>`` so the model's next tokens are the assistant's reply."""
    sp = _special(tokenizer)
    ids = [sp["bos"]]
    for m in validate(messages, for_prompt=True):
        ids.append(sp[f"{m['role']}_start"])
        ids.extend(tokenizer.encode(m["content"]) if m["content"] else [])
        ids.append(sp[f"{m['role']}_end"])
    ids.append(sp["assistant_start"])
    return ids


def stop_ids(tokenizer) -> tuple[int, ...]:
    """Tokens that end an assistant reply: its own end token, and (defensively) the start
    of any other turn or a new document, which a weak model may emit instead."""
    sp = _special(tokenizer)
    return (sp["assistant_end"], sp["user_start"], sp["bos"], sp["system_start"])


def decode_reply(ids: Iterable[int], tokenizer) -> str:
    """Text of a generated reply: tokens up to the first stop id, specials removed."""
    stops = set(stop_ids(tokenizer))
    specials = set(_special(tokenizer).values())
    kept = []
    for t in ids:
        t = int(t)
        if t in stops:
            break
        if t not in specials:
            kept.append(t)
    return tokenizer.decode(kept)


def training_example(messages: Sequence[dict], tokenizer) -> tuple[list[int], list[int]]:
    """(inputs, targets) shifted by one for next-token loss; unsupervised targets are -1."""
    ids, mask = render(messages, tokenizer)
    inputs = ids[:-1]
    targets = [t if m else -1 for t, m in zip(ids[1:], mask[1:])]
    return inputs, targets
