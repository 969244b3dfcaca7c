"""LSH banding: signatures -> one 64-bit key per band, and candidate pairs from equal keys.

Two documents become candidates when all ``rows`` slots of any one of ``bands`` bands
agree; for Jaccard ``s`` that happens with probability ``1 - (1 - s**rows)**bands``
(14 x 8, FineWeb's choice, is an S-curve centred near 0.72). Keys are written per
input part; grouping reads one band (optionally one hash bucket of it) from every
part, sorts it with numpy and links each document to the first one holding the same
key: memory is one band-bucket at a time, however large the corpus.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .shingles import mix64

U64 = np.uint64
_ROW_MULT_SEED = 0xBA2D


@dataclass(frozen=True)
class LSHParams:
    bands: int = 14
    rows: int = 8

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    def probability(self, s: float | np.ndarray) -> float | np.ndarray:
        """Chance that two documents with Jaccard ``s`` share at least one band key."""
        return 1.0 - (1.0 - np.asarray(s, dtype=float) ** self.rows) ** self.bands


def optimal_params(threshold: float, num_perm: int, fp_weight: float = 0.5,
                   fn_weight: float = 0.5) -> LSHParams:
    """Bands x rows (<= num_perm) minimising the weighted false positive area below
    ``threshold`` plus false negative area above it (datasketch's ``_optimal_param``)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    lo = np.linspace(0.0, threshold, 201)
    hi = np.linspace(threshold, 1.0, 201)
    best, best_err = None, float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            p = LSHParams(b, r)
            fp = np.trapezoid(p.probability(lo), lo)
            fn = np.trapezoid(1.0 - p.probability(hi), hi)
            err = fp_weight * fp + fn_weight * fn
            if err < best_err - 1e-12:
                best, best_err = p, err
    return best


def band_keys(signatures: np.ndarray, params: LSHParams) -> np.ndarray:
    """(bands, n) uint64: each band's ``rows`` slots hashed to one key (band-major so a
    grouping step reads one band contiguously)."""
    n, p = signatures.shape
    if p < params.num_perm:
        raise ValueError(f"signatures have {p} slots; {params.bands} x {params.rows} needs "
                         f"{params.num_perm}")
    sig = signatures[:, : params.num_perm].reshape(n, params.bands, params.rows)
    mult = np.random.default_rng(_ROW_MULT_SEED + params.rows).integers(
        0, 1 << 63, size=params.rows, dtype=np.int64).astype(U64) * U64(2) + U64(1)
    acc = np.zeros((n, params.bands), dtype=U64)
    with np.errstate(over="ignore"):
        for r in range(params.rows):
            acc += sig[:, :, r].astype(U64) * mult[r]
        keys = mix64(acc)
    return np.ascontiguousarray(keys.T)


def bucket_of(keys: np.ndarray, buckets: int) -> np.ndarray:
    """Which of ``buckets`` groups a key falls in (top bits: keys are well mixed)."""
    return ((keys >> U64(32)) % U64(buckets)).astype(np.int64)


def links_from_keys(keys: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort (key, doc) and link each doc to the smallest doc with the same key.

    Returns ``(child, first)`` arrays: every doc in a group of size > 1 except the
    first, with the group's first doc. ``docs`` are global ordinals (int64).
    """
    if len(keys) < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    order = np.lexsort((docs, keys))
    k = keys[order]
    d = docs[order]
    new_group = np.empty(len(k), dtype=bool)
    new_group[0] = True
    np.not_equal(k[1:], k[:-1], out=new_group[1:])
    group_first = np.flatnonzero(new_group)
    first = np.repeat(d[group_first], np.diff(np.append(group_first, len(k))))
    child = ~new_group
    return d[child], first[child]
