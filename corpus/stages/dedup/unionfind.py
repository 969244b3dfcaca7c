"""Candidate pairs -> clusters, and the one document each cluster keeps.

Connected components are found with array operations (hooking and pointer jumping,
as in parallel union-find), so a few million links take seconds, not a Python loop
per pair; the label of a component is its smallest document ordinal, which does not
depend on the order the links arrive in. Which document a cluster keeps is decided by
a rank array (lower is better) that the caller builds from its documented rule.
"""
from __future__ import annotations

import numpy as np


def components(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Label of each of ``n`` nodes: the smallest node connected to it by the links u-v."""
    labels = np.arange(n, dtype=np.int64)
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    if len(u) == 0:
        return labels
    while True:
        lu, lv = labels[u], labels[v]
        differ = lu != lv
        if not differ.any():
            return labels
        lu, lv = lu[differ], lv[differ]
        low, high = np.minimum(lu, lv), np.maximum(lu, lv)
        np.minimum.at(labels, high, low)      # hook the larger root under the smaller
        while True:                            # pointer jumping: flatten every chain
            nxt = labels[labels]
            if np.array_equal(nxt, labels):
                break
            labels = nxt
        u, v = u[differ], v[differ]


def winners(labels: np.ndarray, members: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """For each member, the member of its component with the lowest rank.

    ``labels`` maps node -> component label; ``members`` are the node ordinals to
    consider; ``rank`` maps node -> rank (unique: ties are broken before).
    """
    if len(members) == 0:
        return members.copy()
    lab = labels[members]
    order = np.lexsort((rank[members], lab))
    sorted_lab = lab[order]
    first = np.empty(len(order), dtype=bool)
    first[0] = True
    np.not_equal(sorted_lab[1:], sorted_lab[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    best = members[order][starts]
    out = np.empty(len(members), dtype=np.int64)
    out[order] = np.repeat(best, np.diff(np.append(starts, len(order))))
    return out
