"""The contract both sides share: one encoding of text for shards and for chat prompts,
one JSONL reader, and the import boundaries (contract imports neither side nor torch;
corpus never imports train)."""
from __future__ import annotations

import ast
import json
import random
from pathlib import Path

import pytest

from corpus.stages import tokenize as corpus_tokenize
from corpus.stages.tokenizer import special_ids, train_sentencepiece
from tokenize_fixtures import make_text
from contract.layout import MANIFEST

ROOT = Path(__file__).resolve().parents[1]

ADVERSARIAL = [
    "say <|bos|> now", "x \u2581 y", "\u2581\u2581", "<|assistant_end|>", "<|user_start|>hi<|user_end|>",
    "<|", "<|bos|", "|>", "<|<|bos|>|>", "\u2581<|bos|>\u2581",
    "日本語のテキスト、東京大学", "中文文本", "emoji 😀🚀🇩🇪👩\u200d💻❤️", "\x00\x07\x1b[31m",
    "a  \t  b", "line\r\nline", "", " leading", "trailing ", "   ", "\n\n\t", "\r", "2024-11-22 1234.56",
    "\u3000full-width\u3000space", "combining e\u0301", "nbsp\u00a0here", "zero\u200bwidth", "\ufeffbom",
]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A real tokenizer made by the tokenizer stage's trainer, with its sidecar."""
    import sentencepiece as spm

    rng = random.Random(0)
    texts = [make_text(rng, rng.choice(["en", "de", "fr", "zh", "ja"])) for _ in range(300)]
    blob = train_sentencepiece(texts, 1024, threads=1)
    d = tmp_path_factory.mktemp("tok")
    (d / "tokenizer.model").write_bytes(blob)
    sp = spm.SentencePieceProcessor(model_proto=blob)
    (d / "special_tokens.json").write_text(json.dumps(special_ids(sp)))
    return d / "tokenizer.model"


def test_corpus_and_training_encode_alike_and_round_trip(model):
    """Shard tokens (the tokenize stage's encoder) == the ids SFT/chat put in a user turn."""
    import sentencepiece as spm

    from train.chat_format import render_prompt
    from train.tokenizer import Tokenizer

    sp = spm.SentencePieceProcessor(model_file=str(model))
    tok = Tokenizer(model)
    shard_ids = corpus_tokenize.encode_documents(sp, list(ADVERSARIAL), 1)
    specials = set(tok.special.values())
    for text, ids in zip(ADVERSARIAL, shard_ids):
        assert tok.encode(text) == ids, repr(text)
        assert tok.decode(ids) == text, repr(text)
        assert not set(ids) & specials, repr(text)
        prompt = render_prompt([{"role": "user", "content": text}], tok)
        assert prompt[2:-2] == ids, repr(text)  # bos, user_start | text | user_end, assistant_start


def test_jsonl_bad_line_names_path_and_line(tmp_path):
    from contract.jsonl import JsonlError, read_jsonl, write_jsonl

    good = write_jsonl([{"a": 1}, {"b": "é\u2581"}], tmp_path / "ok.jsonl")
    assert list(read_jsonl(good)) == [{"a": 1}, {"b": "é\u2581"}]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"a": 1}\n\n  \n{"a": \n')
    with pytest.raises(JsonlError, match=r"bad\.jsonl:4: not valid JSON") as err:
        list(read_jsonl(bad))
    assert err.value.line == 4
    bad.write_bytes(b'{"a": 1}\n[1, 2]\n')
    with pytest.raises(JsonlError, match=r"bad\.jsonl:2: expected a JSON object"):
        list(read_jsonl(bad))
    assert list(read_jsonl(bad, objects=False, numbered=True)) == [(1, {"a": 1}), (2, [1, 2])]
    bad.write_bytes(b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(JsonlError, match=r"bad\.jsonl:2: not UTF-8"):
        list(read_jsonl(bad))


def test_every_jsonl_reader_uses_the_contract(tmp_path):
    """The RL tasks, SFT conversations, probe questions, decontamination sets and quality
    training data all report a bad line the same way."""
    from contract.jsonl import JsonlError
    from corpus.stages.dedup.decontam import EvalSetError, iter_eval_texts
    from corpus.stages.filter.quality_train import read_examples
    from train.probe import load_questions
    from train.rl_tasks import load_jsonl
    from train.sft_data import load_conversations

    bad = tmp_path / "bad.jsonl"
    first = {"prompt": "p", "answer": 1, "question": "q", "text": "t", "label": 1,
             "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    bad.write_text(json.dumps(first) + "\n{oops\n")
    for read in (load_jsonl, load_conversations, load_questions,
                 lambda p: read_examples([str(p)], "text", "label")):
        with pytest.raises(JsonlError, match=r"bad\.jsonl:2: not valid JSON"):
            read(bad)
    with pytest.raises(EvalSetError, match=r"bad\.jsonl:2: not valid JSON"):
        list(iter_eval_texts(bad, ["text"]))


def test_shards_manifest_checks_the_tokenizer(model, tmp_path):
    from contract.shards import ShardsError, read_manifest
    from contract.tokens import file_sha256
    from train.tokenizer import Tokenizer

    shards = tmp_path / "shards"
    shards.mkdir()
    manifest = {"tokenizer": {"path": str(model), "sha256": file_sha256(model), "vocab_size": 1024},
                "splits": {"train": {"shards": [{"path": "train/part-00000.parquet"}]}}}
    (shards / MANIFEST).write_text(json.dumps(manifest))
    assert Tokenizer.from_shards(shards).vocab_size == 1024
    assert read_manifest(shards).shard_paths("train") == [shards / "train/part-00000.parquet"]
    with pytest.raises(ShardsError, match="split 'val' has no shards"):
        read_manifest(shards).split("val")
    manifest["tokenizer"]["sha256"] = "0" * 64
    (shards / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ShardsError, match="sha256 differs"):
        Tokenizer.from_shards(shards)


def _imports(package: str) -> dict[str, set[str]]:
    """Top-level modules each file of a package imports (relative imports resolved)."""
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names.add(package if node.level else (node.module or "").split(".")[0])
        out[str(path.relative_to(ROOT))] = names
    return out


def test_import_boundaries():
    for f, names in _imports("contract").items():
        assert not names & {"torch", "corpus", "train"}, (f, names)
    for f, names in _imports("corpus").items():
        assert not names & {"train", "torch"}, (f, names)
    for f, names in _imports("train").items():
        assert "corpus" not in names, (f, names)
