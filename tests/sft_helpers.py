"""Helpers for the SFT/chat/probe tests: a tiny sentencepiece BPE trained on the spot
(built-in conversations plus stdlib docstrings), with the seven chat specials declared
the way the tokenizer stage declares them."""
from __future__ import annotations

import json
from pathlib import Path

SPECIAL_PIECES = {"bos": "<|bos|>", "system_start": "<|system_start|>", "system_end": "<|system_end|>",
                  "user_start": "<|user_start|>", "user_end": "<|user_end|>",
                  "assistant_start": "<|assistant_start|>", "assistant_end": "<|assistant_end|>"}

#: the chat pieces plus the tool-call pieces, as the tokenizer stage declares them today
TOOL_PIECES = {**SPECIAL_PIECES, "search_start": "<|search_start|>", "search_end": "<|search_end|>",
               "result_start": "<|result_start|>", "result_end": "<|result_end|>"}


def _corpus_lines(extra: list[str] = ()) -> list[str]:
    import collections, json as _json, pathlib, random, textwrap
    from train.sft_data import builtin_conversations
    lines = []
    for c in builtin_conversations(600, seed=1):
        for m in c["messages"]:
            lines += m["content"].split("\n")
    for mod in (collections, _json, pathlib, random, textwrap):
        for name in dir(mod):
            doc = getattr(getattr(mod, name), "__doc__", None)
            if isinstance(doc, str):
                lines += [ln.strip() for ln in doc.split("\n") if ln.strip()]
    lines += list(extra)
    return lines


def train_tiny_tokenizer(out_dir: Path, vocab_size: int = 800, extra: list[str] = (),
                         pieces: dict | None = None) -> Path:
    """Write ``tokenizer.model`` and ``special_tokens.json`` into out_dir; return the model path.
    ``pieces``: the special pieces (default the seven chat ones: a tokenizer from before the
    tool-call tokens; ``TOOL_PIECES`` for one with them)."""
    pieces = pieces or SPECIAL_PIECES
    import sentencepiece as spm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = out_dir / "corpus.txt"
    text.write_text("\n".join(_corpus_lines(extra)) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(text), model_prefix=str(out_dir / "tokenizer"), model_type="bpe",
        vocab_size=vocab_size, byte_fallback=True, character_coverage=1.0,
        user_defined_symbols=list(pieces.values()), bos_id=-1, eos_id=-1,
        unk_id=0, pad_id=-1, num_threads=1, minloglevel=2,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        split_digits=True, allow_whitespace_only_pieces=True, add_dummy_prefix=False)
    sp = spm.SentencePieceProcessor(model_file=str(out_dir / "tokenizer.model"))
    special = {k: sp.piece_to_id(v) for k, v in pieces.items()}
    (out_dir / "special_tokens.json").write_text(json.dumps(special))
    return out_dir / "tokenizer.model"


def load_tokenizer(model_path: Path):
    from train.tokenizer import Tokenizer
    return Tokenizer(str(model_path))


def make_tiny_checkpoint(run_dir: Path, tokenizer_model: Path, n_layer: int = 2, n_embd: int = 128,
                         n_head: int = 2, seq_len: int = 128, seed: int = 0) -> Path:
    """A freshly initialised tiny GPT saved with train.checkpoint, as pretraining would."""
    import torch
    from train.checkpoint import save_checkpoint
    from train.model import GPT, GPTConfig
    from train.tokenizer import Tokenizer

    tok = Tokenizer(tokenizer_model)
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd,
                          seq_len=seq_len))
    save_checkpoint(run_dir, 0, model, None, {}, {"phase": "init"}, tokenizer=tok)
    return Path(run_dir)


def sft_config(out: Path, init: Path, **sft) -> dict:
    """A pipeline dict with only what `train sft` reads."""
    return {"output": str(out), "train": {"sft": {"init": str(init), **sft}}}


def one_thread():
    """Context manager: torch on one thread. On a shared, loaded 2-core box two OpenMP
    threads per tiny matmul spin against each other (10x slower); one is steady."""
    import contextlib
    import torch

    @contextlib.contextmanager
    def cm():
        old = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(old)
    return cm()
