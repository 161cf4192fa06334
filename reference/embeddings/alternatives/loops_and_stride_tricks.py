"""Alternative: sliding windows with stride tricks, the gradient into E accumulated example by
example in a Python loop, cosine similarities by an einsum, masking by a chain of np.select."""

from __future__ import annotations

import numpy as np


def context_windows(ids, n, pad_id):
    padded = np.concatenate([np.full(n, pad_id), np.asarray(ids)]).astype(np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(padded, n)  # (T + 1, n)
    return windows[:-1].copy()


def embed(E, ids):
    ids = np.asarray(ids)
    return np.take(E, ids.reshape(-1), axis=0).reshape(*ids.shape, E.shape[1])


def predict_next_loss(E, W, b, contexts, targets, combine="mean"):
    if combine not in {"mean", "concat"}:
        raise ValueError(f"unknown combine {combine}")
    N, n = contexts.shape
    D = E.shape[1]
    dE = np.zeros_like(E)
    dW = np.zeros_like(W)
    db = np.zeros_like(b)
    loss = 0.0
    for i in range(N):
        vecs = [E[c] for c in contexts[i]]
        h = np.mean(vecs, axis=0) if combine == "mean" else np.concatenate(vecs)
        z = h @ W + b
        z = z - z.max()
        logp = z - np.log(np.sum(np.exp(z)))
        loss -= logp[targets[i]]
        dz = np.exp(logp)
        dz[targets[i]] -= 1
        dz /= N
        dW += np.outer(h, dz)
        db += dz
        dh = W @ dz
        for j, c in enumerate(contexts[i]):
            dE[c] += dh / n if combine == "mean" else dh[j * D:(j + 1) * D]
    return float(loss / N), {"E": dE, "W": dW, "b": db}


def nearest(E, word_id, k):
    norms = np.sqrt(np.einsum("vd,vd->v", E, E))
    dots = np.einsum("vd,d->v", E, E[word_id])
    denom = norms * norms[word_id]
    sims = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
    sims[word_id] = -np.inf
    order = np.argsort(-sims, kind="stable")
    return order[:k].astype(np.int64)


def mask_tokens(ids, u, mask_id, vocab_size, special_ids=(), rate=0.15):
    ids = np.asarray(ids).astype(np.int64)
    special = np.zeros(ids.shape, dtype=bool)
    for s in special_ids:
        special |= ids == s
    chosen = (u[..., 0] < rate) & ~special
    action = u[..., 1]
    inputs = np.select([chosen & (action < 0.8), chosen & (action < 0.9)],
                       [np.full(ids.shape, mask_id), (u[..., 2] * vocab_size).astype(np.int64)],
                       default=ids)
    labels = np.where(chosen, ids, -100)
    return inputs.astype(np.int64), labels.astype(np.int64)
