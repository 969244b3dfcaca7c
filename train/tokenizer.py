"""The tokenizer the shards were made with: ``contract.tokens.Tokenizer``, the one encoding
shared with the corpus side (a literal ``<|assistant_end|>`` typed by a user never ends
the assistant's turn), plus the two ways training finds it: beside the shards it made, or
inside a checkpoint."""
from __future__ import annotations

import os
from pathlib import Path

from contract import tokens
from contract.shards import read_manifest
from contract.tokens import MODEL_FILE, SPECIAL_NAMES, SPECIAL_TOKENS  # noqa: F401  (re-exported)
from train.checkpoint import latest_checkpoint


class Tokenizer(tokens.Tokenizer):
    @classmethod
    def from_shards(cls, shards_dir: str | os.PathLike) -> "Tokenizer":
        """The tokenizer the shards were made with (checked against the manifest's sha256)."""
        m = read_manifest(shards_dir)
        m.check_tokenizer()
        return cls(m.tokenizer_path, m.special_tokens)

    @classmethod
    def from_checkpoint(cls, ckpt_dir: str | Path) -> "Tokenizer":
        """The copy saved inside a checkpoint (a step dir, or a run dir: its latest step)."""
        ckpt_dir = Path(ckpt_dir)
        if not (ckpt_dir / MODEL_FILE).exists():
            latest = latest_checkpoint(ckpt_dir)
            if latest is None:
                raise FileNotFoundError(f"no {MODEL_FILE} in {ckpt_dir} and no checkpoint under it")
            ckpt_dir = latest
        return cls(ckpt_dir / MODEL_FILE)
