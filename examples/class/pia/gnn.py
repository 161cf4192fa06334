"""Alternative: a Python loop over edges, and one-hot matrices for the embedding."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def message_passing(x, edge_index, W, aggr):
    if aggr not in ("sum", "mean", "max"):
        raise ValueError("aggr must be 'sum', 'mean' or 'max'")
    msg = torch.matmul(x, W)  # (N, F')
    N, Fo = msg.shape
    out = torch.zeros(N, Fo, dtype=msg.dtype, device=msg.device)
    count = [0] * N
    for j, i in edge_index.t().tolist():
        if aggr == "max":
            out[i] = msg[j] if count[i] == 0 else torch.maximum(out[i], msg[j])
        else:
            out[i] = out[i] + msg[j]
        count[i] += 1
    if aggr == "mean":
        for i in range(N):
            if count[i]:
                out[i] = out[i] / count[i]
    return out


def embedding_forward(weight, ids):
    onehot = F.one_hot(ids, weight.shape[0]).to(weight.dtype)  # (B, T, V)
    return onehot @ weight


def embedding_backward(dout, ids, num_embeddings):
    onehot = F.one_hot(ids.reshape(-1), num_embeddings).to(dout.dtype)  # (B·T, V)
    return onehot.T @ dout.reshape(-1, dout.shape[-1])
