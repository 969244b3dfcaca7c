"""Pretraining throughput: the trainer's tokens/s and model FLOPs per token on a fixed small CPU
config, the data loader's tokens/s on its own (it must feed >= 20x what the trainer eats), and a
nanoGPT-style loader (random windows of one flat token array, no document alignment) on the same
shards as the reference point. With a CUDA GPU: tokens/s and MFU of a ~124M GPT (12 layers, 768
wide, seq 1024) in bf16 with torch.compile.

    .venv/bin/python bench/pretrain.py [--shards DIR] [--seconds 10] [--gpu-only] [--no-compile]

Without --shards it builds small shards from the Python stdlib's docstrings (tests/train_fixtures.py).
Timings on a shared machine are noisy: read them as orders of magnitude.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

# bench/ holds scripts named like stdlib modules (tokenize.py): keep it off the import path
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from train.data import Split, TokenLoader  # noqa: E402
from train.model import GPT, GPTConfig  # noqa: E402
from train.optim import build_optimizers  # noqa: E402
from train.pretrain import DEFAULTS, peak_flops  # noqa: E402

CPU_CONFIG = {"depth": 2, "seq_len": 256, "batch": 8}


def make_shards(tmp: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from train_fixtures import write_shards
    return write_shards(tmp, vocab_size=768)


def trainer_throughput(model: GPT, loader, steps: int, seconds: float, device, autocast) -> tuple[float, int]:
    """Tokens/s of forward + backward + AdamW step, fed by ``loader`` (a callable -> (x, y))."""
    opts = build_optimizers(model, DEFAULTS, device.type)
    tokens = 0

    def step():
        x, y = loader()
        with autocast:
            _, loss = model(x, y)
        loss.backward()
        for o in opts:
            o.step()
            o.zero_grad(set_to_none=True)
        return x.numel()

    for _ in range(3):           # warm-up (and compilation)
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0, n = time.perf_counter(), 0
    while n < steps or time.perf_counter() - t0 < seconds:
        tokens += step()
        n += 1
        if device.type != "cuda" and time.perf_counter() - t0 > 4 * seconds:
            break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return tokens / (time.perf_counter() - t0), n


def loader_throughput(shards: Path, batch: int, seq_len: int, seconds: float) -> tuple[float, float]:
    loader = TokenLoader(shards, "train", batch, seq_len, prefetch=0)
    loader.next_rows()
    t0, tokens = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        tokens += loader.next_rows().size - batch
    return tokens / (time.perf_counter() - t0), loader.cropped_share()


def nanogpt_style_throughput(shards: Path, batch: int, seq_len: int, seconds: float) -> float:
    """nanoGPT's get_batch: random offsets into one concatenated uint16 array."""
    split = Split(shards, "train", shuffle=False)
    data = np.concatenate([split._group(g)[1] for g in range(len(split.groups))])
    rng = np.random.default_rng(0)
    t0, tokens = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        ix = rng.integers(0, len(data) - seq_len - 1, batch)
        x = torch.from_numpy(np.stack([data[i:i + seq_len].astype(np.int64) for i in ix]))
        y = torch.from_numpy(np.stack([data[i + 1:i + 1 + seq_len].astype(np.int64) for i in ix]))
        tokens += x.numel()
    return tokens / (time.perf_counter() - t0)


def cpu_bench(shards: Path, seconds: float) -> None:
    vocab = Split(shards, "train").manifest["tokenizer"]["vocab_size"]
    cfg = GPTConfig.from_depth(CPU_CONFIG["depth"], vocab, CPU_CONFIG["seq_len"])
    torch.manual_seed(0)
    model = GPT(cfg)
    B, T = CPU_CONFIG["batch"], cfg.seq_len
    feed = TokenLoader(shards, "train", B, T, prefetch=4)
    train_tps, steps = trainer_throughput(model, feed.next, 5, seconds, torch.device("cpu"), contextlib.nullcontext())
    feed.close()
    load_tps, cropped = loader_throughput(shards, B, T, seconds / 2)
    peer_tps = nanogpt_style_throughput(shards, B, T, seconds / 2)
    fpt = model.estimate_flops_per_token()
    print(f"CPU ({torch.get_num_threads()} torch threads), GPT depth {cfg.n_layer}: {model.num_params() / 1e6:.2f}M "
          f"params, vocab {vocab}, seq {T}, batch {B} ({steps} timed steps)")
    print(f"  trainer tokens/s            {train_tps:12,.0f}")
    print(f"  model FLOPs/token           {fpt:12,.0f}  ({fpt * train_tps / 1e9:.2f} GFLOP/s achieved)")
    print(f"  our loader tokens/s         {load_tps:12,.0f}  ({load_tps / train_tps:.0f}x the trainer; "
          f"best-fit packing, {cropped * 100:.1f}% of tokens cropped)")
    print(f"  nanoGPT-style loader tok/s  {peer_tps:12,.0f}  (random windows, rows start mid-document)")
    print(f"  loader >= 20x trainer: {'yes' if load_tps >= 20 * train_tps else 'NO'}")


def gpu_bench(seconds: float, compile_model: bool) -> None:
    device = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    # GPT-2 small's shape: 12 heads of 64, tied embeddings -> 124M parameters
    cfg = GPTConfig(vocab_size=50304, n_layer=12, n_head=12, n_embd=768, seq_len=1024, tie_embeddings=True)
    torch.manual_seed(0)
    model = GPT(cfg).to(device)
    net = torch.compile(model) if compile_model else model
    B = 16
    x = torch.randint(0, cfg.vocab_size, (B, cfg.seq_len + 1), device=device)
    feed = lambda: (x[:, :-1], x[:, 1:])  # noqa: E731
    autocast = torch.autocast("cuda", dtype=torch.bfloat16)
    tps, steps = trainer_throughput(net, feed, 20, seconds, device, autocast)
    fpt = model.estimate_flops_per_token()
    peak = peak_flops(device)
    name = torch.cuda.get_device_name(device)
    print(f"GPU {name}: GPT 12 layers x 768, seq 1024, {model.num_params() / 1e6:.1f}M params, batch {B}, bf16 autocast, "
          f"compile={compile_model} ({steps} timed steps)")
    print(f"  tokens/s                    {tps:12,.0f}")
    print(f"  model FLOPs/token           {fpt:12,.0f}")
    if peak:
        print(f"  MFU                         {fpt * tps / peak * 100:11.1f}%  (peak {peak / 1e12:.0f} TFLOP/s bf16)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shards", type=Path, help="token shards dir (default: generated)")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--gpu-only", action="store_true")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.gpu_only:
        if args.shards:
            cpu_bench(args.shards, args.seconds)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                cpu_bench(make_shards(Path(tmp)), args.seconds)
    if torch.cuda.is_available():
        gpu_bench(args.seconds, not args.no_compile)
    elif args.gpu_only:
        print("no CUDA device", file=sys.stderr)
        return 1
    else:
        print("GPU: no CUDA device here; run on a GPU machine for tokens/s and MFU of the 124M config")
    return 0


if __name__ == "__main__":
    sys.exit(main())
