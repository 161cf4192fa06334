"""Alternative: one-hot matrices everywhere — embeddings as onehot @ E, the gradient into E as
onehotᵀ @ g (which adds repeated words by itself), a sorted list of (−similarity, id) pairs."""

from __future__ import annotations

import math

import numpy as np


def _onehot(ids, V):
    ids = np.asarray(ids)
    return (ids[..., None] == np.arange(V)).astype(np.float64)


def context_windows(ids, n, pad_id):
    ids = list(np.asarray(ids).tolist())
    rows = [[ids[t - j] if t - j >= 0 else pad_id for j in range(n, 0, -1)]
            for t in range(len(ids))]
    return np.array(rows, dtype=np.int64).reshape(len(ids), n)


def embed(E, ids):
    return _onehot(ids, E.shape[0]) @ E


def predict_next_loss(E, W, b, contexts, targets, combine="mean"):
    N, n = contexts.shape
    V, D = E.shape
    onehots = _onehot(contexts, V)  # (N, n, V)
    if combine == "mean":
        h = onehots.mean(axis=1) @ E  # (N, D)
    elif combine == "concat":
        h = np.concatenate([onehots[:, j] @ E for j in range(n)], axis=1)  # (N, n·D)
    else:
        raise ValueError("combine must be 'mean' or 'concat'")
    z = h @ W + b
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    loss = float(np.mean(lse - z[np.arange(N), targets]))
    p = np.exp(z - lse[:, None])
    dz = (p - _onehot(targets, V)) / N
    dh = dz @ W.T
    if combine == "mean":
        dE = onehots.mean(axis=1).T @ dh
    else:
        dE = sum(onehots[:, j].T @ dh[:, j * D:(j + 1) * D] for j in range(n))
    return loss, {"E": dE, "W": h.T @ dz, "b": dz.sum(axis=0)}


def nearest(E, word_id, k):
    target = E[word_id]
    tn = math.sqrt(float(target @ target))
    scored = []
    for v in range(E.shape[0]):
        if v == word_id:
            continue
        vn = math.sqrt(float(E[v] @ E[v]))
        sim = float(E[v] @ target) / (vn * tn) if vn > 0 and tn > 0 else 0.0
        scored.append((-sim, v))
    scored.sort()
    return np.array([v for _, v in scored[:k]], dtype=np.int64)


def mask_tokens(ids, u, mask_id, vocab_size, special_ids=(), rate=0.15):
    ids = np.asarray(ids)
    inputs = ids.astype(np.int64).copy()
    labels = np.full(ids.shape, -100, dtype=np.int64)
    special = set(int(s) for s in special_ids)
    for p in np.ndindex(ids.shape):
        if int(ids[p]) in special or not u[p][0] < rate:
            continue
        labels[p] = ids[p]
        if u[p][1] < 0.8:
            inputs[p] = mask_id
        elif u[p][1] < 0.9:
            inputs[p] = int(u[p][2] * vocab_size)
    return inputs, labels
