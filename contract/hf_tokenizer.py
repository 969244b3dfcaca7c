"""The corpus tokenizer as Hugging Face files: ``tokenizer.json`` + ``tokenizer_config.json``
+ ``special_tokens_map.json``, loadable with ``AutoTokenizer.from_pretrained(folder)``.

Why it is built by hand (``tokenizers`` only, no transformers): the sentencepiece model is
BPE with byte fallback, identity normalization and no dummy prefix, so the HF pipeline is just
a BPE model (every vocabulary pair whose join is a piece becomes a merge, ranked by the joined
piece's score, as sentencepiece merges) and a few text replacements. It must give the ids of
``contract.tokens.encode_text`` for any text, and two things sentencepiece itself does not:

* A literal U+2581 is spelled as bytes. The pieces' U+2581 (sentencepiece's space) is written
  as a real space in the HF vocabulary, so a literal U+2581 is a character outside the
  vocabulary and byte fallback spells it, exactly as our encoder does.
* A literal special piece (``<|assistant_end|>`` typed in a document) is spelled as bytes. The
  special pieces are ASCII and their characters are in the vocabulary, so their byte tokens
  (``<0x3C>`` ...) are never needed for fallback: those byte tokens are renamed to Unicode
  noncharacters (U+FDD0.., reserved for internal use), and a normalizer rewrites each literal
  special piece into them. The one thing given up: a noncharacter used so, typed in a text,
  encodes as that byte (ours spells its UTF-8 bytes).

The special pieces are also HF special tokens, so the chat template can write them. transformers
turns a special piece typed in text into the special token unless asked not to: encode untrusted
text with ``tokenizer(text, split_special_tokens=True)`` and conversations with
``apply_chat_template(messages, sanitize_control_tokens=True)``; both then equal our encoder.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from contract.atomic import write_text_atomic
from contract.tokens import MODEL_FILE, SPECIAL_TOKENS, SPECIALS_FILE, load_special_tokens

HF_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")

#: Unicode noncharacters, in the order they are handed out as renamed byte tokens.
_SENTINELS = [chr(c) for c in range(0xFDD0, 0xFDF0)] + \
             [chr(p * 0x10000 + o) for p in range(1, 17) for o in (0xFFFE, 0xFFFF)]

ROLES = ("system", "user", "assistant")


def chat_template() -> str:
    """Jinja rendering ``train.chat_format``: bos, then ``<|role_start|>text<|role_end|>`` per
    message (an assistant's tool calls before its text), and ``<|assistant_start|>`` for a
    generation prompt."""
    parts = ["{{- bos_token -}}", "{%- for message in messages -%}"]
    for i, role in enumerate(ROLES):
        start, end = SPECIAL_TOKENS[f"{role}_start"], SPECIAL_TOKENS[f"{role}_end"]
        parts.append(("{%- if" if i == 0 else "{%- elif") + f" message['role'] == '{role}' -%}}")
        parts.append(f"{{{{- '{start}' -}}}}")
        if role == "assistant":
            parts.append(_tool_calls_template())
        parts.append(f"{{{{- message['content'] + '{end}' -}}}}")
    parts += ["{%- else -%}{{- raise_exception('unknown role: ' + message['role']) -}}",
              "{%- endif -%}", "{%- endfor -%}",
              "{%- if add_generation_prompt -%}{{- '" + SPECIAL_TOKENS["assistant_start"] + "' -}}{%- endif -%}"]
    return "".join(parts)


def _tool_calls_template() -> str:
    """An assistant message's ``tool_calls`` before its content, as ``train.chat_format`` renders
    them: ``<|search_start|>query<|search_end|><|result_start|>result<|result_end|>`` each."""
    t = SPECIAL_TOKENS
    return ("{%- for call in message.get('tool_calls') or [] -%}"
            f"{{{{- '{t['search_start']}' + call['query'] + '{t['search_end']}'"
            f" + '{t['result_start']}' + call['result'] + '{t['result_end']}' -}}}}"
            "{%- endfor -%}")


def _merges(pieces: list[str], scores: list[float], normal: set[int]) -> list[tuple[str, str]]:
    """Every (left, right) of normal pieces whose join is a normal piece, best joined piece first."""
    index = {pieces[i]: i for i in normal}
    found = []
    for i in normal:
        p = pieces[i]
        for k in range(1, len(p)):
            left, right = index.get(p[:k]), index.get(p[k:])
            if left is not None and right is not None:
                found.append((-scores[i], i, left, right))
    found.sort()
    return [(pieces[left], pieces[right]) for _, _, left, right in found]


def build(model_path: str | os.PathLike, special: dict[str, int] | None = None):
    """A ``tokenizers.Tokenizer`` giving the ids of ``contract.tokens.encode_text``."""
    import sentencepiece as spm
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors

    sp = spm.SentencePieceProcessor(model_file=str(model_path))
    if special is None:
        special = load_special_tokens(Path(model_path).parent)
    n = sp.get_piece_size()
    pieces = [sp.id_to_piece(i) for i in range(n)]
    special_set = set(special.values())
    normal = {i for i in range(n) if i not in special_set and not (
        sp.is_byte(i) or sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i))}
    vocab = [p.replace("\u2581", " ") if i in normal else p for i, p in enumerate(pieces)]
    merges = _merges(vocab, [sp.get_score(i) for i in range(n)], normal)

    # rename the byte tokens of the special pieces' characters (never needed for fallback)
    in_vocab = {vocab[i] for i in normal}
    sentinel: dict[str, str] = {}
    for piece in sorted({p for name, p in SPECIAL_TOKENS.items() if name in special}):
        if not piece.isascii():
            raise ValueError(f"special piece {piece!r} is not ASCII; the HF tokenizer cannot spell it as bytes")
        for ch in piece:
            if ch in in_vocab and ch not in sentinel:
                if len(sentinel) == len(_SENTINELS):
                    raise ValueError("too many distinct characters in the special pieces")
                sentinel[ch] = _SENTINELS[len(sentinel)]
    for ch, s in sentinel.items():
        byte = sp.piece_to_id(f"<0x{ord(ch):02X}>")
        if not sp.is_byte(byte):
            raise ValueError(f"{model_path}: no byte pieces (trained without byte_fallback)")
        vocab[byte] = s

    tok = Tokenizer(models.BPE(vocab={p: i for i, p in enumerate(vocab)}, merges=merges,
                               unk_token=pieces[sp.unk_id()], byte_fallback=True))
    by_length = sorted((p for name, p in SPECIAL_TOKENS.items() if name in special), key=len, reverse=True)
    tok.normalizer = normalizers.Sequence(
        [normalizers.Replace(p, "".join(sentinel.get(c, c) for c in p)) for p in by_length])
    tok.decoder = decoders.Sequence([decoders.Replace(s, ch) for ch, s in sentinel.items()]
                                    + [decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens([AddedToken(p, special=True, normalized=False)
                            for name, p in SPECIAL_TOKENS.items() if name in special])
    bos = SPECIAL_TOKENS["bos"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B:1", special_tokens=[(bos, special["bos"])])
    return tok


def write(model_path: str | os.PathLike, out_dir: str | os.PathLike, special: dict[str, int] | None = None,
          model_max_length: int | None = None) -> list[Path]:
    """Write the three HF tokenizer files into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if special is None:
        special = load_special_tokens(Path(model_path).parent)
    tok = build(model_path, special)
    names = [n for n in SPECIAL_TOKENS if n in special]
    extra = [SPECIAL_TOKENS[n] for n in names if n not in ("bos", "assistant_end")]
    specials_map = {"bos_token": SPECIAL_TOKENS["bos"], "eos_token": SPECIAL_TOKENS["assistant_end"],
                    "unk_token": "<unk>", "additional_special_tokens": extra}
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **specials_map,
        "extra_special_tokens": extra,
        "add_bos_token": True,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(model_max_length) if model_max_length else 1_000_000_000,
        "chat_template": chat_template(),
    }
    paths = [out / f for f in HF_TOKENIZER_FILES]
    write_text_atomic(paths[0], tok.to_str(pretty=False) + "\n")
    write_text_atomic(paths[1], json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(paths[2], json.dumps(specials_map, indent=2) + "\n")
    return paths


def write_beside(tokenizer_dir: str | os.PathLike, **kw) -> list[Path]:
    """The HF files of ``tokenizer_dir/tokenizer.model`` (and its ``special_tokens.json``), in it."""
    d = Path(tokenizer_dir)
    special = load_special_tokens(d) if (d / SPECIALS_FILE).exists() else None
    return write(d / MODEL_FILE, d, special, **kw)
