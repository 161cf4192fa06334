"""Mutant: context_windows lists each window newest first, [ids[t−1], …, ids[t−n]], instead of oldest first."""

# expect: classic mistake: context_windows lists each window newest first


from __future__ import annotations

from collections.abc import Sequence

import numpy as np

IGNORE = -100  # the label of a position that is not predicted (as torch's ignore_index)


def context_windows(ids: np.ndarray, n: int, pad_id: int) -> np.ndarray:
    """Row t holds the n ids before position t, oldest first, pad_id before the start.

    ids: (T,) int → (T, n) int64.
    """
    padded = np.concatenate([np.full(n, pad_id, dtype=np.int64), np.asarray(ids, np.int64)])
    T = len(ids)
    return np.stack([padded[t:t + n][::-1] for t in range(T)]) if T else np.zeros((0, n), np.int64)


def embed(E: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The rows of E for ids: one-hot(ids) @ E. E: (V, D), ids: any shape → (*ids.shape, D)."""
    return E[np.asarray(ids)]


def predict_next_loss(E: np.ndarray, W: np.ndarray, b: np.ndarray, contexts: np.ndarray,
                      targets: np.ndarray, combine: str = "mean") -> tuple[float, dict]:
    """Mean softmax cross-entropy of predicting targets from their contexts, and its gradients.

    h = mean of the context vectors (K = D) or their concatenation, oldest first (K = n·D);
    z = h W + b. E: (V, D), W: (K, V), b: (V,), contexts: (N, n) int, targets: (N,) int.
    Returns (loss, {"E": (V, D), "W": (K, V), "b": (V,)}).
    """
    if combine not in ("mean", "concat"):
        raise ValueError(f"predict_next_loss: combine must be 'mean' or 'concat', got {combine!r}")
    N, n = contexts.shape
    D = E.shape[1]
    vectors = E[contexts]  # (N, n, D)
    h = vectors.mean(axis=1) if combine == "mean" else vectors.reshape(N, n * D)  # (N, K)
    z = h @ W + b  # (N, V)
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, V)
    loss = -float(log_p[np.arange(N), targets].mean())
    dz = np.exp(log_p)
    dz[np.arange(N), targets] -= 1.0
    dz /= N  # (N, V)
    dh = dz @ W.T  # (N, K)
    if combine == "mean":
        dvectors = np.repeat(dh[:, None, :] / n, n, axis=1)  # (N, n, D)
    else:
        dvectors = dh.reshape(N, n, D)
    dE = np.zeros_like(E)
    # np.add.at adds once per occurrence; dE[contexts] += dvectors would keep one per word.
    np.add.at(dE, contexts, dvectors)
    return loss, {"E": dE, "W": h.T @ dz, "b": dz.sum(axis=0)}


def nearest(E: np.ndarray, word_id: int, k: int) -> np.ndarray:
    """The k ids most cosine-similar to word_id (itself excluded), most similar first; ties go
    to the smaller id; a zero vector has similarity 0 with every word. → (k,) int64."""
    norms = np.linalg.norm(E, axis=1)  # (V,)
    safe = np.where(norms > 0, norms, 1.0)
    unit = E / safe[:, None]  # zero rows stay zero
    sims = unit @ unit[word_id]  # (V,)
    order = np.lexsort((np.arange(len(E)), -sims))  # by similarity, then by id
    return order[order != word_id][:k].astype(np.int64)


def mask_tokens(ids: np.ndarray, u: np.ndarray, mask_id: int, vocab_size: int,
                special_ids: Sequence[int] = (), rate: float = 0.15
                ) -> tuple[np.ndarray, np.ndarray]:
    """BERT's masking, driven by u (*ids.shape, 3) uniform in [0, 1).

    A position is chosen when u[..., 0] < rate and its id is not special. A chosen position
    becomes mask_id when u[..., 1] < 0.8, a random id floor(u[..., 2]·vocab_size) when
    0.8 ≤ u[..., 1] < 0.9, and keeps its id otherwise. labels: the original id where chosen,
    IGNORE (−100) elsewhere. Returns (inputs, labels), both int64 of ids' shape.
    """
    ids = np.asarray(ids, dtype=np.int64)
    chosen = (u[..., 0] < rate) & ~np.isin(ids, np.asarray(special_ids, dtype=np.int64))
    to_mask = chosen & (u[..., 1] < 0.8)
    to_random = chosen & (u[..., 1] >= 0.8) & (u[..., 1] < 0.9)
    random_ids = np.floor(u[..., 2] * vocab_size).astype(np.int64)
    inputs = np.where(to_mask, mask_id, np.where(to_random, random_ids, ids))
    labels = np.where(chosen, ids, IGNORE)  # every chosen position is predicted, kept ones too
    return inputs.astype(np.int64), labels.astype(np.int64)
