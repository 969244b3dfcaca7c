"""Token shards -> (B, T+1) rows for training, resumable to the exact batch.

The shards (``shards/.manifest.json`` + Parquet parts with one document per row, each starting
with ``<|bos|>``) are read by *lanes*. A lane owns every L-th document of the split (global
document index i with i % L == lane, in an order fixed by the seed and the epoch), keeps a small
buffer of them, and packs them into rows of T+1 tokens by best fit: the longest buffered
document that still fits goes next. When none fits, one is split to fill the row, by ``packing``:

- ``carry`` (the default): the oldest buffered document is split and its remainder opens the
  lane's next row, as a continuation without a fresh ``<|bos|>`` (that row starts inside a
  document, conditioned on nothing before it). Every document token lands in exactly one row
  position, and splitting the oldest keeps any document from waiting long in the buffer.
- ``crop``: the shortest is cropped and its tail dropped (counted); every row starts at a
  document start, but with documents longer than a row much of the text is never trained on.

One optimizer step uses L = batch_size * grad_accum * world_size rows, one per lane; rank r
owns lanes [r * B * A, (r + 1) * B * A) and reads only their documents. The batches of a step
therefore do not depend on how the step is split over ranks and accumulation, and a DDP run
sees exactly the data of a single-process run with the same global batch.

A lane's position is (epoch, k = documents taken this epoch, buffered document references, with
the offset where a carried remainder starts), so a loader's state is a few numbers per lane;
``load_state_dict`` re-reads the buffered documents and carries on with the very next batch an
uninterrupted run would have seen.

``ShardDataset`` is the same machinery as a PyTorch ``IterableDataset`` for other training code.
"""
from __future__ import annotations

import bisect
import queue
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow.parquet as pq
import torch

from contract.shards import ShardsError, read_manifest


#: Unusable shards: the contract's error, so one ``except DataError`` also covers what
#: ``Tokenizer.from_shards`` finds wrong with the manifest or the tokenizer.
DataError = ShardsError


# -- the split: a list of row groups, addressed by global document index ------------------------
class Split:
    """The documents of one split, addressed by (epoch, index): the order of row groups is a
    permutation seeded by (seed, epoch) when ``shuffle``, else the manifest's order."""

    def __init__(self, shards_dir: str | Path, split: str = "train", seed: int = 0, shuffle: bool = True,
                 cache_groups: int = 16) -> None:
        self.dir = Path(shards_dir)
        m = read_manifest(self.dir)
        manifest_path, self.manifest = m.path, m.data
        info = m.split(split)
        self.split, self.seed, self.shuffle = split, seed, shuffle
        self.files = m.shard_paths(split)
        self.groups: list[tuple[int, int, int]] = []       # (file index, row group, rows)
        for fi, path in enumerate(self.files):
            if not path.exists():
                raise DataError(f"{manifest_path}: shard {path} is missing")
            meta = pq.ParquetFile(path).metadata
            for g in range(meta.num_row_groups):
                n = meta.row_group(g).num_rows
                if n:
                    self.groups.append((fi, g, n))
        self.num_docs = sum(n for _, _, n in self.groups)
        if self.num_docs == 0:
            raise DataError(f"{manifest_path}: split {split!r} has no documents")
        self.num_tokens = int(info.get("tokens") or 0)
        self._orders: dict[int, tuple[list[int], list[int]]] = {}
        self._cache: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cache_groups = cache_groups
        self._lock = threading.Lock()

    def _order(self, epoch: int) -> tuple[list[int], list[int]]:
        """(row group order, cumulative document counts) of an epoch."""
        if epoch not in self._orders:
            order = list(range(len(self.groups)))
            if self.shuffle:
                order = np.random.default_rng([self.seed, epoch]).permutation(len(self.groups)).tolist()
            starts, total = [], 0
            for g in order:
                starts.append(total)
                total += self.groups[g][2]
            if len(self._orders) > 4:
                self._orders.pop(min(self._orders))
            self._orders[epoch] = (order, starts)
        return self._orders[epoch]

    def _group(self, gi: int) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, values) of a row group's ``tokens`` column, decoded once, LRU-cached."""
        with self._lock:
            hit = self._cache.get(gi)
            if hit is not None:
                self._cache.move_to_end(gi)
                return hit
        fi, g, _ = self.groups[gi]
        try:
            col = pq.ParquetFile(self.files[fi]).read_row_group(g, columns=["tokens"]).column("tokens")
            col = col.combine_chunks()
            item = (col.offsets.to_numpy(), col.values.to_numpy())
        except Exception as e:
            raise DataError(f"{self.files[fi]}: cannot read row group {g} column 'tokens': {e}") from e
        with self._lock:
            self._cache[gi] = item
            while len(self._cache) > self._cache_groups:
                self._cache.popitem(last=False)
        return item

    def doc(self, epoch: int, index: int) -> np.ndarray:
        order, starts = self._order(epoch)
        j = bisect.bisect_right(starts, index) - 1
        offsets, values = self._group(order[j])
        row = index - starts[j]
        return values[offsets[row]:offsets[row + 1]]


PACKINGS = ("carry", "crop")


# -- one lane: a document stream and its best-fit packer ---------------------------------------
@dataclass
class Lane:
    lane: int
    num_lanes: int
    epoch: int = 0
    k: int = 0                                        # documents of this epoch taken so far
    buffer: list = field(default_factory=list)        # [(epoch, index, offset, tokens[offset:])]
    tokens_in: int = 0                                # tokens of all documents taken
    tokens_cropped: int = 0                           # ... dropped (packing "crop")
    docs: int = 0
    tokens_out: int = 0                               # ... written into rows

    def _next_ref(self, split: Split) -> tuple[int, int]:
        if self.lane >= split.num_docs:
            raise DataError(f"split {split.split!r} has {split.num_docs} documents, fewer than the "
                            f"{self.num_lanes} rows a step needs: lower the batch size")
        index = self.lane + self.k * self.num_lanes
        if index >= split.num_docs:
            self.epoch, self.k = self.epoch + 1, 0
            index = self.lane
        self.k += 1
        return self.epoch, index

    def fill(self, split: Split, buffer_size: int) -> None:
        while len(self.buffer) < buffer_size:
            epoch, index = self._next_ref(split)
            toks = split.doc(epoch, index)
            self.tokens_in += len(toks)
            self.docs += 1
            self.buffer.append((epoch, index, 0, toks))

    def row(self, split: Split, capacity: int, buffer_size: int, out: np.ndarray,
            packing: str = "carry") -> None:
        """Fill ``out`` (capacity tokens) from the buffer, best fit first; when nothing fits,
        split a document: with "carry" the oldest (its remainder stays oldest and opens the
        lane's next row, so no piece waits long), with "crop" the shortest (its tail dropped)."""
        carry = packing == "carry"
        pos = 0
        while pos < capacity:
            self.fill(split, buffer_size)
            remaining = capacity - pos
            best, best_len = -1, 0
            if carry and pos == 0 and self.buffer[0][2]:   # a carried remainder goes first
                if len(self.buffer[0][3]) <= remaining:
                    best, best_len = 0, len(self.buffer[0][3])
            else:
                for i, (_, _, _, toks) in enumerate(self.buffer):
                    n = len(toks)
                    if best_len < n <= remaining:
                        best, best_len = i, n
                        if n == remaining:
                            break
            if best >= 0:
                toks = self.buffer.pop(best)[3]
                out[pos:pos + best_len] = toks
                pos += best_len
                self.tokens_out += best_len
                continue
            # nothing fits: split a document to fill the row
            i = 0 if carry else min(range(len(self.buffer)), key=lambda j: len(self.buffer[j][3]))
            epoch, index, offset, toks = self.buffer.pop(i)
            out[pos:] = toks[:remaining]
            self.tokens_out += remaining
            if carry:
                self.buffer.insert(0, (epoch, index, offset + remaining, toks[remaining:]))
            else:
                self.tokens_cropped += len(toks) - remaining
            pos = capacity

    def state(self) -> dict:
        return {"lane": self.lane, "epoch": self.epoch, "k": self.k,
                "buffer": [[e, i, off] if off else [e, i] for e, i, off, _ in self.buffer],
                "tokens_in": self.tokens_in, "tokens_cropped": self.tokens_cropped, "docs": self.docs,
                "tokens_out": self.tokens_out}

    @classmethod
    def from_state(cls, state: dict, num_lanes: int, split: Split) -> "Lane":
        lane = cls(state["lane"], num_lanes, state["epoch"], state["k"], [],
                   state.get("tokens_in", 0), state.get("tokens_cropped", 0), state.get("docs", 0))
        for e, i, *off in state["buffer"]:
            off = off[0] if off else 0
            lane.buffer.append((e, i, off, split.doc(e, i)[off:]))
        # states written before tokens_out was counted: what was taken, less dropped and waiting
        lane.tokens_out = state.get("tokens_out", lane.tokens_in - lane.tokens_cropped
                                    - sum(len(t) for *_, t in lane.buffer))
        return lane


def trained_share(written: int, cropped: int) -> float:
    """written / (written + cropped): tokens still waiting in a lane's buffer (documents taken,
    remainders carried) count in neither, as they are not lost, only not yet used. 1.0 with
    packing "carry" (nothing is dropped); with "crop" the rest is the cropped tails."""
    done = written + cropped
    return written / done if done else 1.0


# -- the training loader ------------------------------------------------------------------------
class TokenLoader:
    """Yields (x, y) micro-batches, each (batch_size, seq_len) int64, y = x shifted by one.

    Micro-batch a of a step holds lanes first + a*B .. first + (a+1)*B - 1 of this rank.
    ``state_dict()`` is the position after the last batch *handed out* (the background thread
    may have prepared more)."""

    def __init__(self, shards_dir, split: str = "train", batch_size: int = 8, seq_len: int = 256,
                 grad_accum: int = 1, rank: int = 0, world_size: int = 1, seed: int = 0,
                 shuffle: bool = True, buffer_size: int = 32, device: str | torch.device = "cpu",
                 prefetch: int = 4, packing: str = "carry") -> None:
        if packing not in PACKINGS:
            raise ValueError(f"packing must be one of {', '.join(PACKINGS)}, not {packing!r}")
        self.split = Split(shards_dir, split, seed=seed, shuffle=shuffle)
        self.packing = packing
        self.B, self.T, self.A = batch_size, seq_len, grad_accum
        self.rank, self.world = rank, world_size
        self.num_lanes = batch_size * grad_accum * world_size
        self.first_lane = rank * batch_size * grad_accum
        self.buffer_size = buffer_size
        self.device = torch.device(device)
        self.prefetch = prefetch
        self.lanes = [Lane(self.first_lane + j, self.num_lanes) for j in range(batch_size * grad_accum)]
        self.micro = 0                       # micro-batch index within the step (0..A-1)
        self._last_state = self._snapshot()
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # position
    def _snapshot(self) -> dict:
        return {"version": 1, "num_lanes": self.num_lanes, "first_lane": self.first_lane,
                "seed": self.split.seed, "shuffle": self.split.shuffle, "split": self.split.split,
                "seq_len": self.T, "buffer_size": self.buffer_size, "packing": self.packing,
                "micro": self.micro,
                "lanes": [lane.state() for lane in self.lanes]}

    def state_dict(self) -> dict:
        return self._last_state

    def load_state_dict(self, state: dict) -> None:
        self.close()
        mine = {"num_lanes": self.num_lanes, "first_lane": self.first_lane, "seq_len": self.T,
                "buffer_size": self.buffer_size, "seed": self.split.seed, "shuffle": self.split.shuffle,
                "packing": self.packing}
        saved = {"packing": "crop", **state}        # states from before carrying was possible
        for key, value in mine.items():
            if saved.get(key) != value:
                raise DataError(f"loader state does not match this run: {key} was {saved.get(key)!r}, "
                                f"now {value!r} (resume with the same batch layout and data settings)")
        self.lanes = [Lane.from_state(s, self.num_lanes, self.split) for s in state["lanes"]]
        self.micro = state["micro"]
        self._last_state = self._snapshot()

    # statistics
    def cropped_share(self) -> float:
        """Share of the tokens taken from documents that were cropped away."""
        st = self._last_state["lanes"]
        total = sum(s["tokens_in"] for s in st)
        return sum(s["tokens_cropped"] for s in st) / total if total else 0.0

    def token_counts(self) -> list[int]:
        """[document tokens written into the rows handed out, document tokens cropped away]."""
        st = self._last_state["lanes"]
        return [sum(s["tokens_out"] for s in st), sum(s["tokens_cropped"] for s in st)]

    def trained_token_share(self) -> float:
        """Of the document tokens the packer is done with, the share trained on: tokens written
        into the rows handed out / (those + tokens cropped away); see ``trained_share``."""
        return trained_share(*self.token_counts())

    def epoch(self) -> float:
        """Epochs completed, as a fraction (mean over this rank's lanes)."""
        st = self._last_state["lanes"]
        per_lane = max(1, self.split.num_docs // self.num_lanes)
        return sum(s["epoch"] + s["k"] / per_lane for s in st) / len(st)

    # production
    def _make(self) -> tuple[np.ndarray, dict]:
        rows = np.empty((self.B, self.T + 1), dtype=np.int64)
        base = self.micro * self.B
        for b in range(self.B):
            self.lanes[base + b].row(self.split, self.T + 1, self.buffer_size, rows[b], self.packing)
        self.micro = (self.micro + 1) % self.A
        return rows, self._snapshot()

    def _worker(self) -> None:
        try:
            while not self._stop.is_set():
                item = self._make()
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as e:           # hand the error to the consumer
            self._queue.put(e)

    def _to_device(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.from_numpy(rows)
        if self.device.type == "cuda":
            t = t.pin_memory().to(self.device, non_blocking=True)
        elif self.device.type != "cpu":
            t = t.to(self.device)
        return t[:, :-1], t[:, 1:]

    def next_rows(self) -> np.ndarray:
        """The next micro-batch as a numpy (B, T+1) array."""
        if self.prefetch <= 0:
            rows, self._last_state = self._make()
            return rows
        if self._thread is None:
            self._stop.clear()
            self._queue = queue.Queue(maxsize=self.prefetch)
            self._thread = threading.Thread(target=self._worker, name="token-loader", daemon=True)
            self._thread.start()
        item = self._queue.get()
        if isinstance(item, BaseException):   # the thread has ended; a retry starts a new one
            self._thread.join()
            self._thread = self._queue = None
            self._restore(self._last_state)
            raise item
        rows, self._last_state = item
        return rows

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._to_device(self.next_rows())

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield self.next()

    def close(self) -> None:
        """Stop the prefetch thread; production resumes from the last handed-out batch."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self._queue = None
            self._restore(self._last_state)   # the thread ran ahead: back to the consumer's position

    def _restore(self, state: dict) -> None:
        try:
            self.lanes = [Lane.from_state(s, self.num_lanes, self.split) for s in state["lanes"]]
        except DataError:
            return                             # unreadable data: the next read reports it
        self.micro = state["micro"]

    def __del__(self) -> None:
        try:
            self._stop.set()
        except Exception:
            pass


def unigram_baseline(shards_dir, vocab_size: int, max_tokens: int = 50_000_000) -> float:
    """Cross-entropy (nats/token) of the val split's targets under the train split's token
    frequencies (add-one smoothed; counted over the first ``max_tokens``): the loss of a model
    that ignores context, the bar a trained model must clear."""
    counts = np.zeros(vocab_size, dtype=np.float64)
    train = Split(shards_dir, "train", shuffle=False)
    for gi in range(len(train.groups)):
        _, values = train._group(gi)
        counts += np.bincount(values, minlength=vocab_size)[:vocab_size]
        if counts.sum() >= max_tokens:
            break
    logp = np.log((counts + 1) / (counts.sum() + vocab_size))
    val = Split(shards_dir, "val", shuffle=False)
    nats, n = 0.0, 0
    for gi in range(len(val.groups)):
        if n >= max_tokens:
            break
        offsets, values = val._group(gi)
        mask = np.ones(len(values), dtype=bool)
        mask[offsets[:-1]] = False               # the first token (<|bos|>) is never a target
        tgt = values[mask]
        nats -= logp[tgt].sum()
        n += len(tgt)
    return nats / max(n, 1)


# -- the public IterableDataset -----------------------------------------------------------------
class ShardDataset(torch.utils.data.IterableDataset):
    """Our token shards for anyone's training loop: yields (x, y) pairs of ``seq_len`` int64
    tokens, packed as the trainer's (best fit; ``packing`` "carry" or "crop", see the module).

    Each (DDP rank, DataLoader worker) pair is one lane reading its own documents. Resumable:
    ``state_dict()``/``load_state_dict()`` work in-process (num_workers=0) and, with several
    workers, under torchdata's ``StatefulDataLoader`` (which calls them inside each worker)."""

    def __init__(self, shards_dir, split: str = "train", seq_len: int = 1024, rank: int | None = None,
                 world_size: int | None = None, seed: int = 0, shuffle: bool = True, buffer_size: int = 32,
                 epochs: int | None = None, packing: str = "carry") -> None:
        super().__init__()
        if packing not in PACKINGS:
            raise ValueError(f"packing must be one of {', '.join(PACKINGS)}, not {packing!r}")
        self.packing = packing
        self.shards_dir, self.split_name, self.seq_len = Path(shards_dir), split, seq_len
        self.rank, self.world_size = rank, world_size
        self.seed, self.shuffle, self.buffer_size, self.epochs = seed, shuffle, buffer_size, epochs
        self._split: Split | None = None
        self._lane: Lane | None = None
        self._pending: dict | None = None

    def _layout(self) -> tuple[int, int]:
        rank, world = self.rank, self.world_size
        if rank is None or world is None:
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
            else:
                rank, world = 0, 1
        info = torch.utils.data.get_worker_info()
        workers, wid = (info.num_workers, info.id) if info else (1, 0)
        return rank * workers + wid, world * workers

    def _ensure(self) -> None:
        if self._split is None:
            self._split = Split(self.shards_dir, self.split_name, seed=self.seed, shuffle=self.shuffle)
        lane, lanes = self._layout()
        if self._pending is not None:
            if self._pending["num_lanes"] != lanes or self._pending["lane"]["lane"] != lane:
                raise DataError(f"dataset state is for lane {self._pending['lane']['lane']} of "
                                f"{self._pending['num_lanes']}, this consumer is lane {lane} of {lanes}")
            self._lane = Lane.from_state(self._pending["lane"], lanes, self._split)
            self._pending = None
        elif self._lane is None:
            self._lane = Lane(lane, lanes)

    def __iter__(self):
        self._ensure()
        row = np.empty(self.seq_len + 1, dtype=np.int64)
        while self.epochs is None or self._lane.epoch < self.epochs:
            self._lane.row(self._split, self.seq_len + 1, self.buffer_size, row, self.packing)
            t = torch.from_numpy(row.copy())
            yield t[:-1], t[1:]

    def state_dict(self) -> dict:
        self._ensure()
        return {"num_lanes": self._lane.num_lanes, "lane": self._lane.state()}

    def load_state_dict(self, state: dict) -> None:
        self._pending = state
        self._lane = None
