"""Mutant: predict_next_loss takes its gradients by finite differences of the loss (complex-step
ones, exact to rounding even where scores reach 1e3), none worked out. Right at the small sizes;
at a vocabulary's usual size it needs a pass of the loss per entry."""

# expect: predict_next_loss did not finish within .*finite differences.*Work the gradient out

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

H = 1e-20

IGNORE = -100  # the label of a position that is not predicted (as torch's ignore_index)


def context_windows(ids: np.ndarray, n: int, pad_id: int) -> np.ndarray:
    """Row t holds the n ids before position t, oldest first, pad_id before the start.

    ids: (T,) int → (T, n) int64.
    """
    padded = np.concatenate([np.full(n, pad_id, dtype=np.int64), np.asarray(ids, np.int64)])
    T = len(ids)
    return np.stack([padded[t:t + n] for t in range(T)]) if T else np.zeros((0, n), np.int64)


def embed(E: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The rows of E for ids: one-hot(ids) @ E. E: (V, D), ids: any shape → (*ids.shape, D)."""
    return E[np.asarray(ids)]


def _loss(E: np.ndarray, W: np.ndarray, b: np.ndarray, contexts: np.ndarray,
          targets: np.ndarray, combine: str) -> complex:
    N, n = contexts.shape
    vectors = E[contexts]
    h = vectors.mean(axis=1) if combine == "mean" else vectors.reshape(N, -1)
    z = h @ W + b
    shifted = z - z.real.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return complex(-log_p[np.arange(N), targets].mean())


def _differences(f: Callable[[], complex], v: np.ndarray) -> np.ndarray:
    """d f / d v, entry by entry: v nudged by i·H in place, the loss's imaginary part over H."""
    g = np.zeros(v.shape)
    for i in np.ndindex(v.shape):
        old = v[i]
        v[i] = old + 1j * H
        g[i] = f().imag / H
        v[i] = old
    return g


def predict_next_loss(E: np.ndarray, W: np.ndarray, b: np.ndarray, contexts: np.ndarray,
                      targets: np.ndarray, combine: str = "mean") -> tuple[float, dict]:
    """The loss, and its gradients measured: each entry nudged, the loss taken again."""
    if combine not in ("mean", "concat"):
        raise ValueError(f"predict_next_loss: combine must be 'mean' or 'concat', got {combine!r}")
    E, W, b = (np.array(a, dtype=np.complex128) for a in (E, W, b))

    def f() -> complex:
        return _loss(E, W, b, contexts, targets, combine)

    return f().real, {"E": _differences(f, E), "W": _differences(f, W), "b": _differences(f, b)}


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
