"""Which modules of a topic share fingerprints, and how much: counted from an index, not pair by pair.

Every (owner, hash) of the class goes into one NumPy array, sorted by hash; a hash held by more
than ``limit`` owners is the common way to write something (MOSS's ``-m``) and is dropped; every
other hash adds one to each pair of its holders, counted with ``np.unique`` over pair codes. The
work grows with the number of fingerprints and the holders per fingerprint, never with the square
of the class, and no Python loop runs over the hashes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def flatten(sets: Sequence[frozenset[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(owner index, hash) of every hash of every set, as two arrays."""
    sizes = np.fromiter((len(s) for s in sets), dtype=np.int64, count=len(sets))
    owners = np.repeat(np.arange(len(sets), dtype=np.int64), sizes)
    hashes = np.fromiter((h for s in sets for h in s), dtype=np.uint64, count=int(sizes.sum()))
    return owners, hashes


def held_by_many(groups: np.ndarray, hashes: np.ndarray, limit: int) -> np.ndarray:
    """The hashes held by more than ``limit`` distinct groups (modules), sorted."""
    if not len(hashes):
        return np.empty(0, dtype=np.uint64)
    pairs = np.unique(np.stack([hashes, groups.astype(np.uint64)]), axis=1)
    values, counts = np.unique(pairs[0], return_counts=True)
    return values[counts > limit]


def shared_counts(owners: np.ndarray, hashes: np.ndarray, n_owners: int, cap: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, n): the pairs of owners (a < b) that hold ``n`` > 0 hashes in common. Hashes held
    by more than ``cap`` owners are left out. Each (owner, hash) must be unique."""
    empty = np.empty(0, dtype=np.int64)
    if not len(hashes):
        return empty, empty, empty
    order = np.lexsort((owners, hashes))
    h, o = hashes[order], owners[order]
    starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
    sizes = np.diff(np.r_[starts, len(h)])
    codes = []
    for size in range(2, min(int(sizes.max()), cap) + 1):
        at = starts[sizes == size]
        if not len(at):
            continue
        for i in range(size):
            for j in range(i + 1, size):
                codes.append(o[at + i] * n_owners + o[at + j])
    if not codes:
        return empty, empty, empty
    values, counts = np.unique(np.concatenate(codes), return_counts=True)
    return values // n_owners, values % n_owners, counts
