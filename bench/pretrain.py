"""Pretraining throughput: the trainer's tokens/s and model FLOPs per token on a fixed small CPU
config, the data loader's tokens/s on its own (it must feed >= 20x what the trainer eats), and a
nanoGPT-style loader (random windows of one flat token array, no document alignment) on the same
shards as the reference point. With a CUDA GPU: tokens/s and MFU of a ~124M GPT (12 layers, 768
wide, seq 1024) in bf16 with torch.compile.

Side by side with nanoGPT (``--nanogpt DIR``: a nanoGPT checkout or bare git mirror; default the
mirror at /work/.mirror/karpathy+nanoGPT/repo): its model.py/train.py/configurator.py are copied
into a scratch folder (never into this repository), our shards' train/val tokens are written as
its train.bin/val.bin, and both trainers run as they ship (our ``train pretrain``, its
``train.py``) on the same config, float32, one thread each, in interleaved rounds. The machine
is shared, so the figure is tokens per CPU-second of the whole process, per step: each trainer
runs twice, for W and W + N steps, and N steps' tokens are divided by the difference of the
two runs' CPU time (start-up, imports, warm-up and final eval cancel out).

    .venv/bin/python bench/pretrain.py [--shards DIR] [--seconds 10] [--gpu-only] [--no-compile]
        [--nanogpt DIR | --no-nanogpt] [--iters 30] [--rounds 3] [--vocab 4096]

Without --shards it builds small shards from the Python stdlib's docstrings (tests/train_fixtures.py).
Timings on a shared machine are noisy: read them as orders of magnitude.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/ is not a package: keep its scripts off the import path (none may shadow a library)
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
# the side-by-side config (the issue's): 4 layers, 256 wide, 4 heads, block 256, batch 8
VS_CONFIG = {"n_layer": 4, "n_head": 4, "n_embd": 256, "block_size": 256, "batch_size": 8}
NANOGPT_MIRROR = Path("/work/.mirror/karpathy+nanoGPT/repo")
NANOGPT_FILES = ("model.py", "train.py", "configurator.py")
# what still differs between the two models at equal sizes (ours -> nanoGPT's)
DIFFERENCES = [
    ("logit_softcap", "logits 15*tanh(x/15)", "none"),
    ("tie_embeddings", "separate input/output embeddings (+V*d params in AdamW, same matmul FLOPs)", "tied"),
    ("attention", "QK-norm (RMSNorm on q and k) + RoPE", "learned position embeddings"),
    ("mlp", "ReLU^2", "GELU"),
    ("norm", "RMSNorm without weights", "LayerNorm with weights, no bias"),
    ("data", "best-fit packed documents (TokenLoader, prefetch thread)", "random windows of one flat array"),
]


def make_shards(tmp: Path, vocab: int = 768) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from train_fixtures import write_shards
    return write_shards(tmp, vocab_size=vocab)


def _one_thread_env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def fetch_nanogpt(src: Path, scratch: Path) -> None:
    """nanoGPT's files into ``scratch``: ``git archive`` from a (bare) git dir, else a copy."""
    if (src / "HEAD").is_file() and (src / "objects").is_dir():
        archive = subprocess.run(["git", "--git-dir", str(src), "archive", "HEAD", *NANOGPT_FILES],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive, check=True)
    else:
        for name in NANOGPT_FILES:
            shutil.copy(src / name, scratch / name)


def write_nanogpt_data(shards: Path, data_dir: Path) -> int:
    """Our shards' tokens as nanoGPT's data/<name>/{train,val}.bin (flat uint16) + meta.pkl."""
    data_dir.mkdir(parents=True, exist_ok=True)
    vocab = 0
    for split, name in (("train", "train.bin"), ("val", "val.bin")):
        sp = Split(shards, split, shuffle=False)
        np.concatenate([sp._group(g)[1] for g in range(len(sp.groups))]).astype(np.uint16).tofile(data_dir / name)
        vocab = int(sp.manifest["tokenizer"]["vocab_size"])
    with open(data_dir / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": vocab}, f)
    return vocab


def _child_cpu(cmd: list[str], cwd: Path, what: str) -> float:
    """CPU seconds (user + system) of one run of ``cmd``, one thread."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, cwd=cwd, env=_one_thread_env(), capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode:
        raise RuntimeError(f"{what} failed: {out.stderr[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_nanogpt(scratch: Path, iters: int) -> float:
    c = VS_CONFIG
    args = [f"--{k}={v}" for k, v in c.items()] + [
        "--dataset=c2t", "--device=cpu", "--dtype=float32", "--compile=False", "--dropout=0.0", "--bias=False",
        "--gradient_accumulation_steps=1", f"--max_iters={iters}", "--eval_interval=1000000", "--eval_iters=1",
        "--log_interval=1", "--always_save_checkpoint=False", f"--out_dir={scratch / 'out'}"]
    return _child_cpu([sys.executable, "train.py", *args], scratch, "nanoGPT train.py")


def run_ours(shards: Path, scratch: Path, iters: int) -> float:
    c = VS_CONFIG
    run_dir = scratch / "ours"
    pipeline = {"output": str(scratch / "out"), "train": {"pretrain": {
        "shards": str(shards), "out_dir": str(run_dir), "n_layer": c["n_layer"], "n_head": c["n_head"],
        "n_embd": c["n_embd"], "seq_len": c["block_size"], "device_batch_size": c["batch_size"],
        "max_steps": iters, "device": "cpu", "threads": 1, "log_every": 1000000, "eval_every": 1000000,
        "ckpt_every": 1000000, "eval_tokens": 1000, "grad_clip": 1.0}}}
    (scratch / "ours.json").write_text(json.dumps(pipeline))
    shutil.rmtree(run_dir, ignore_errors=True)
    cpu = _child_cpu([sys.executable, "-m", "train.cli", "pretrain", str(scratch / "ours.json")], ROOT,
                     "train pretrain")
    shutil.rmtree(run_dir)
    return cpu


def per_cpu_second(run, warmup: int, iters: int) -> float:
    """Tokens per CPU-second of ``iters`` steps: runs of warmup and warmup + iters steps, differenced."""
    tokens = VS_CONFIG["batch_size"] * VS_CONFIG["block_size"] * iters
    return tokens / max(1e-9, run(warmup + iters) - run(warmup))


def nanogpt_bench(shards: Path, src: Path | None, iters: int, rounds: int) -> None:
    """Both trainers as they ship, interleaved rounds; prints the medians, their ratio and the
    differences that remain."""
    if src is None or not src.exists():
        print(f"nanoGPT side by side: skipped (no nanoGPT checkout at {src or NANOGPT_MIRROR}; pass --nanogpt DIR)")
        return
    warmup = 5
    with tempfile.TemporaryDirectory(prefix="nanogpt-") as tmp:
        scratch = Path(tmp)
        fetch_nanogpt(src, scratch)
        vocab = write_nanogpt_data(shards, scratch / "data" / "c2t")
        ours, theirs = [], []
        for r in range(rounds):
            pair = [(ours, lambda: per_cpu_second(lambda n: run_ours(shards, scratch, n), warmup, iters)),
                    (theirs, lambda: per_cpu_second(lambda n: run_nanogpt(scratch, n), warmup, iters))]
            for store, fn in (pair if r % 2 == 0 else pair[::-1]):
                store.append(fn())
            print(f"  round {r + 1}: ours {ours[-1]:,.0f}, nanoGPT {theirs[-1]:,.0f} tokens/CPU-s", flush=True)
    c = VS_CONFIG
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"nanoGPT side by side (CPU, 1 thread each, float32, no compile): {c['n_layer']} layers, {c['n_embd']} wide, "
          f"{c['n_head']} heads, block {c['block_size']}, batch {c['batch_size']}, vocab {vocab}, {iters} steps "
          f"per round (after {warmup}), median of {rounds} interleaved rounds")
    print(f"  ours `train pretrain`       {o:12,.0f} tokens/CPU-s")
    print(f"  nanoGPT train.py            {t:12,.0f} tokens/CPU-s")
    print(f"  ratio ours / nanoGPT        {o / t:12.2f}x")
    print("  differences that remain (ours vs nanoGPT):")
    for key, mine, theirs_ in DIFFERENCES:
        print(f"    {key:15s} {mine}  vs  {theirs_}")


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
    ap.add_argument("--nanogpt", type=Path, help=f"nanoGPT checkout or git dir (default: {NANOGPT_MIRROR} if present)")
    ap.add_argument("--no-nanogpt", action="store_true", help="skip the side by side with nanoGPT")
    ap.add_argument("--iters", type=int, default=30, help="steps per trainer per round in the side by side")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the side by side")
    ap.add_argument("--vocab", type=int, default=768, help="vocab of the generated shards (without --shards)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    nanogpt = args.nanogpt or (NANOGPT_MIRROR if NANOGPT_MIRROR.exists() else None)

    def cpu_all(shards: Path) -> None:
        cpu_bench(shards, args.seconds)
        if not args.no_nanogpt:
            nanogpt_bench(shards, nanogpt, args.iters, args.rounds)

    if not args.gpu_only:
        if args.shards:
            cpu_all(args.shards)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                cpu_all(make_shards(Path(tmp), args.vocab))
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
