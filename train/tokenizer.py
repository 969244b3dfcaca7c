"""The sentencepiece tokenizer the shards were made with, plus its special token ids.

Special pieces (``<|bos|>``, ``<|user_start|>``...) are user-defined symbols, which
sentencepiece would match inside plain text too; ``encode`` never produces them from text
(a user typing ``<|assistant_end|>`` must not end the assistant's turn).
"""
from __future__ import annotations

import json
from pathlib import Path

import sentencepiece as spm

SPECIAL_NAMES = ("bos", "system_start", "system_end", "user_start", "user_end", "assistant_start", "assistant_end")


def special_piece(name: str) -> str:
    return f"<|{name}|>"


class Tokenizer:
    def __init__(self, model_path: str | Path, special: dict[str, int] | None = None) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.exists():
            raise FileNotFoundError(f"tokenizer model not found: {self.model_path}")
        self.sp = spm.SentencePieceProcessor(model_file=str(self.model_path))
        if special is None:
            sidecar = self.model_path.parent / "special_tokens.json"
            if sidecar.exists():
                special = json.loads(sidecar.read_text())
            else:  # look the pieces up in the model itself
                special = {}
                for name in SPECIAL_NAMES:
                    pid = self.sp.piece_to_id(special_piece(name))
                    if pid != self.sp.unk_id() or special_piece(name) == self.sp.id_to_piece(pid):
                        special[name] = pid
        self.special: dict[str, int] = {k: int(v) for k, v in special.items()}
        if "bos" not in self.special:
            raise ValueError(f"{self.model_path}: no <|bos|> piece and no special_tokens.json beside it")
        self._special_pieces = [special_piece(n) for n in self.special]
        self._dummy_prefix = self.sp.encode("a", out_type=str)[:1] == ["\u2581a"] or \
            self.sp.encode("a", out_type=str)[:1] == ["\u2581"]

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def from_shards(cls, shards_dir: str | Path) -> "Tokenizer":
        """The tokenizer named in ``<shards>/manifest.json``."""
        shards_dir = Path(shards_dir)
        manifest = json.loads((shards_dir / "manifest.json").read_text())
        tok = manifest.get("tokenizer") or {}
        if "path" not in tok:
            raise ValueError(f"{shards_dir / 'manifest.json'}: no tokenizer.path")
        path = Path(tok["path"])
        if not path.is_absolute():
            path = (shards_dir / path).resolve()
        return cls(path, tok.get("special_tokens"))

    @classmethod
    def from_checkpoint(cls, ckpt_dir: str | Path) -> "Tokenizer":
        """The copy saved inside a checkpoint (a step dir, or a run dir: its latest step)."""
        ckpt_dir = Path(ckpt_dir)
        if not (ckpt_dir / "tokenizer.model").exists():
            from train.checkpoint import latest_checkpoint
            latest = latest_checkpoint(ckpt_dir)
            if latest is None:
                raise FileNotFoundError(f"no tokenizer.model in {ckpt_dir} and no checkpoint under it")
            ckpt_dir = latest
        return cls(ckpt_dir / "tokenizer.model")

    # -- use ----------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    @property
    def bos_id(self) -> int:
        return self.special["bos"]

    def encode(self, text: str) -> list[int]:
        """Plain text -> ids, never emitting a special token."""
        if "<|" not in text or not any(p in text for p in self._special_pieces):
            return list(self.sp.encode(text))
        # split every special piece's literal after its "<|" so sentencepiece cannot match it
        cuts = [0]
        i = 0
        while True:
            hits = [(text.find(p, i), p) for p in self._special_pieces]
            hits = [(pos, p) for pos, p in hits if pos >= 0]
            if not hits:
                break
            pos, p = min(hits)
            cuts.append(pos + 2)
            i = pos + 2
        cuts.append(len(text))
        ids: list[int] = []
        for n, (a, b) in enumerate(zip(cuts, cuts[1:])):
            part = text[a:b]
            if not part:
                continue
            piece_ids = list(self.sp.encode(part))
            if n > 0 and self._dummy_prefix and piece_ids:
                piece_ids = self._drop_dummy_prefix(piece_ids)
            ids.extend(piece_ids)
        return ids

    def _drop_dummy_prefix(self, ids: list[int]) -> list[int]:
        """Undo the "▁" sentencepiece puts in front of every encode call (only the first
        chunk of the text really starts a word)."""
        first = self.sp.id_to_piece(ids[0])
        if first == "\u2581":
            return ids[1:]
        if first.startswith("\u2581"):
            rest = first[1:]
            rid = self.sp.piece_to_id(rest)
            if self.sp.id_to_piece(rid) == rest:
                return [rid] + ids[1:]
            return self._bytes_ids(rest) + ids[1:]
        return ids

    def _bytes_ids(self, s: str) -> list[int]:
        out = []
        for b in s.encode("utf-8"):
            out.append(self.sp.piece_to_id(f"<0x{b:02X}>"))
        return out

    def decode(self, ids) -> str:
        return self.sp.decode([int(i) for i in ids])

    def id_to_piece(self, i: int) -> str:
        return self.sp.id_to_piece(int(i))

    def token_bytes(self) -> list[int]:
        """UTF-8 byte length of every id when decoded on its own (0 for special/control pieces);
        used for bits per byte."""
        out = []
        specials = set(self.special.values())
        for i in range(self.vocab_size):
            if i in specials or self.sp.is_control(i) or self.sp.is_unknown(i):
                out.append(0)
                continue
            piece = self.sp.id_to_piece(i)
            if self.sp.is_byte(i):
                out.append(1)
            else:
                out.append(len(piece.replace("\u2581", " ").encode("utf-8")))
        return out
