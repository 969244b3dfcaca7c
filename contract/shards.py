"""The token shards' ``.manifest.json``, as the tokenize stage writes it and training reads it.

``{"tokenizer": {"path", "sha256", "vocab_size", "special_tokens"}, "dtype",
"splits": {"train"|"val": {"documents", "tokens", "shards": [{"path", "documents", "tokens"}]}}}``;
paths are relative to the shards directory.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .tokens import file_sha256

from .layout import MANIFEST, REJECTED  # noqa: F401  (re-exported: readers of shards use it)


class ShardsError(ValueError):
    """Shards that cannot be used as they are: missing, unreadable, or not what they claim."""


@dataclass
class ShardManifest:
    dir: Path
    data: dict = field(repr=False)

    @property
    def path(self) -> Path:
        return self.dir / MANIFEST

    @property
    def tokenizer(self) -> dict:
        return self.data.get("tokenizer") or {}

    @property
    def tokenizer_path(self) -> Path:
        p = self.tokenizer.get("path")
        if not p:
            raise ShardsError(f"{self.path}: no tokenizer.path")
        p = Path(p)
        return p if p.is_absolute() else (self.dir / p).resolve()

    @property
    def special_tokens(self) -> dict[str, int] | None:
        s = self.tokenizer.get("special_tokens")
        return {k: int(v) for k, v in s.items()} if s else None

    @property
    def vocab_size(self) -> int | None:
        return self.tokenizer.get("vocab_size")

    @property
    def splits(self) -> dict:
        return self.data.get("splits") or {}

    def split(self, name: str) -> dict:
        """A split's record; ShardsError when it has no shards."""
        info = self.splits.get(name)
        if not info or not info.get("shards"):
            raise ShardsError(f"{self.path}: split {name!r} has no shards")
        return info

    def shard_paths(self, name: str) -> list[Path]:
        return [self.dir / s["path"] for s in self.split(name)["shards"]]

    def check_tokenizer(self) -> None:
        """The tokenizer file exists and is the one the shards were encoded with."""
        path = self.tokenizer_path
        if not path.exists():
            raise ShardsError(f"{self.path}: tokenizer {path} not found")
        want = self.tokenizer.get("sha256")
        if want and file_sha256(path) != want:
            raise ShardsError(f"{self.path}: tokenizer {path} has changed since the shards were made "
                              f"(sha256 differs); re-run the tokenize stage")


def read_manifest(shards_dir: str | os.PathLike) -> ShardManifest:
    d = Path(shards_dir)
    path = d / MANIFEST
    if not path.exists():
        raise ShardsError(f"{path}: not found (run the tokenize stage first)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ShardsError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ShardsError(f"{path}: not a JSON object")
    return ShardManifest(d, data)
