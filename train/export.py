"""`train export CKPT OUT --format hf`: a checkpoint as a Hugging Face model folder
(``config.json``, ``model.safetensors``, ``generation_config.json``, the tokenizer files) that
``AutoModelForCausalLM.from_pretrained(OUT)`` and ``AutoTokenizer.from_pretrained(OUT)`` load.

The model maps exactly onto transformers' Qwen3 (QK-norm, RoPE, SwiGLU, RMSNorm) when it was
trained with ``train.pretrain.arch: qwen3`` (or ``mlp: swiglu`` and ``logit_softcap: 0``); the
default ``gpt`` arch (ReLU^2, soft-capped logits) has no transformers counterpart and is refused
(exit 2) rather than exported approximately. What the mapping does, in ``hf_state_dict``:
our norms have no weights (HF's get ones), our embedding is RMS-normed before the first block
(folded into the embedding table), and our RoPE rotates the other way (the second half of each
query/key head is negated: the scores are the same). Exit codes as every `train` command.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from contract import hf_tokenizer
from train import common
from train.chat_format import stop_ids
from train.checkpoint import load_checkpoint
from train.config import ConfigError

MARKER = "crawl2tokens_export"     # in config.json: OUT is an export of ours, safe to overwrite
FORMATS = ("hf",)


def check_exportable(cfg) -> None:
    """ConfigError (exit 2) naming what no transformers architecture computes."""
    problems = []
    if cfg.mlp != "swiglu":
        problems.append(f"mlp={cfg.mlp}")
    if cfg.logit_softcap:
        problems.append(f"logit_softcap={cfg.logit_softcap:g}")
    if getattr(cfg, "copy_head", False):
        problems.append("copy_head=true")
    if problems:
        raise ConfigError(f"the checkpoint's model ({', '.join(problems)}) has no exact Hugging Face "
                          f"counterpart; pretrain with train.pretrain.arch=qwen3 to export it")


def _qkv(sd: dict, i: int, n_embd: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Block i's query, key and value weights, stored apart (c_q/c_k/c_v) or fused (one *qkv*)."""
    pre = f"blocks.{i}.attn."
    if pre + "c_q.weight" in sd:
        return sd[pre + "c_q.weight"], sd[pre + "c_k.weight"], sd[pre + "c_v.weight"]
    fused = [k for k in sd if k.startswith(pre) and "qkv" in k and k.endswith(".weight")]
    if len(fused) != 1 or sd[fused[0]].shape[0] != 3 * n_embd:
        raise ConfigError(f"cannot find block {i}'s query/key/value weights in the checkpoint")
    return tuple(sd[fused[0]].split(n_embd, dim=0))


def hf_state_dict(state: dict, cfg) -> dict[str, torch.Tensor]:
    """Our GPT's state dict (separate or fused q/k/v) as Qwen3ForCausalLM's, float32."""
    sd = {k: v.detach().float().cpu() for k, v in state.items()}
    d, hd = cfg.n_embd, cfg.head_dim
    # our RoPE turns by -angle: negating each head's second half turns q and k by +angle instead
    flip = torch.ones(hd)
    flip[hd // 2:] = -1
    flip = flip.repeat(cfg.n_head)[:, None]
    out = {"model.embed_tokens.weight": F.rms_norm(sd["wte.weight"], (d,), eps=cfg.norm_eps),
           "model.norm.weight": torch.ones(d),
           "lm_head.weight": sd["lm_head.weight"].clone()}
    for i in range(cfg.n_layer):
        q, k, v = _qkv(sd, i, d)
        b, m = f"blocks.{i}.", f"model.layers.{i}."
        out.update({
            m + "self_attn.q_proj.weight": q * flip, m + "self_attn.k_proj.weight": k * flip,
            m + "self_attn.v_proj.weight": v.clone(), m + "self_attn.o_proj.weight": sd[b + "attn.c_proj.weight"],
            m + "self_attn.q_norm.weight": torch.ones(hd), m + "self_attn.k_norm.weight": torch.ones(hd),
            m + "mlp.gate_proj.weight": sd[b + "mlp.c_gate.weight"], m + "mlp.up_proj.weight": sd[b + "mlp.c_fc.weight"],
            m + "mlp.down_proj.weight": sd[b + "mlp.c_proj.weight"],
            m + "input_layernorm.weight": torch.ones(d), m + "post_attention_layernorm.weight": torch.ones(d)})
    return {k: v.contiguous() for k, v in out.items()}


def hf_config(cfg, tok, hidden: int):
    from transformers import Qwen3Config

    stops = list(stop_ids(tok))
    return Qwen3Config(
        vocab_size=cfg.vocab_size, hidden_size=cfg.n_embd, num_hidden_layers=cfg.n_layer,
        num_attention_heads=cfg.n_head, num_key_value_heads=cfg.n_head, head_dim=cfg.head_dim,
        intermediate_size=hidden, hidden_act="silu", max_position_embeddings=cfg.seq_len,
        rms_norm_eps=cfg.norm_eps, rope_parameters={"rope_type": "default", "rope_theta": float(cfg.rope_base)},
        tie_word_embeddings=False, attention_bias=False, use_sliding_window=False,
        bos_token_id=tok.bos_id, eos_token_id=stops, pad_token_id=tok.bos_id, dtype="float32")


def _check_out(out: Path) -> None:
    """OUT is new, empty, or an export of ours: nothing of anyone else's is overwritten."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"OUT {out} exists and is not a folder")
    conf = out / "config.json"
    ours = conf.is_file() and MARKER in json.loads(conf.read_text() or "{}")
    if any(out.iterdir()) and not ours:
        raise ConfigError(f"OUT {out} is not empty and not an earlier export; choose a new folder")


def export_hf(ckpt, out) -> Path:
    """Write the HF folder ``out`` for checkpoint ``ckpt``; returns ``out``."""
    from transformers import GenerationConfig, Qwen3ForCausalLM

    out = Path(out)
    _check_out(out)
    model, tok, meta = load_checkpoint(ckpt, "cpu")
    cfg = model.config
    check_exportable(cfg)
    hf = Qwen3ForCausalLM(hf_config(cfg, tok, model.blocks[0].mlp.c_proj.in_features))
    hf.load_state_dict(hf_state_dict(model.state_dict(), cfg), strict=True)
    hf.generation_config = GenerationConfig(bos_token_id=tok.bos_id, eos_token_id=list(stop_ids(tok)),
                                            pad_token_id=tok.bos_id, do_sample=False)
    out.mkdir(parents=True, exist_ok=True)
    hf.save_pretrained(out)
    conf = json.loads((out / "config.json").read_text())
    conf[MARKER] = {"checkpoint": meta.get("checkpoint"), "step": meta.get("step")}
    (out / "config.json").write_text(json.dumps(conf, indent=2) + "\n")
    hf_tokenizer.write(Path(meta["tokenizer"]["path"]), out, tok.special, model_max_length=cfg.seq_len)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="train export", description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", help="step dir or run dir (its latest step)")
    ap.add_argument("out", help="folder to write (new, empty, or an earlier export)")
    ap.add_argument("--format", default="hf", help="hf (the only one so far)")
    args = ap.parse_args(argv)

    def body():
        if args.format not in FORMATS:
            raise ConfigError(f"--format: {args.format!r} is not one of {', '.join(FORMATS)}")
        try:
            import tokenizers, transformers  # noqa: F401
        except ImportError as err:
            raise ConfigError(f"--format hf needs the hf extra (pip install 'crawl2tokens[hf]'): {err}") from None
        print(f"exported to {export_hf(args.checkpoint, args.out)}")

    return common.run_main("train export", body)


if __name__ == "__main__":
    sys.exit(main())
