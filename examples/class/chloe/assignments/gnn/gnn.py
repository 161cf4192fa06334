"""Alternative: a dense count matrix for sum/mean, a masked (N, E, F') tensor for max."""

from __future__ import annotations

import torch


def message_passing(x, edge_index, W, aggr):
    N = x.shape[0]
    src, dst = edge_index
    E = src.shape[0]
    if aggr in ("sum", "mean"):
        A = torch.zeros(N, N, dtype=x.dtype, device=x.device)  # A[i, j] = edges j → i
        A.index_put_((dst, src), torch.ones(E, dtype=x.dtype, device=x.device), accumulate=True)
        if aggr == "mean":
            A = A / A.sum(dim=1, keepdim=True).clamp(min=1)
        return A @ (x @ W)
    if aggr == "max":
        msg = (x @ W)[src]  # (E, F')
        hit = dst[None, :] == torch.arange(N, device=x.device)[:, None]  # (N, E)
        cand = torch.where(hit[..., None], msg[None], torch.full_like(msg[None], float("-inf")))
        best = (
            cand.amax(dim=1)
            if E
            else torch.full((N, msg.shape[1]), float("-inf"), dtype=x.dtype, device=x.device)
        )
        return torch.where(torch.isinf(best), torch.zeros_like(best), best)
    raise ValueError(f"unknown aggregation {aggr!r}")


def embedding_forward(weight, ids):
    return weight.index_select(0, ids.reshape(-1)).reshape(*ids.shape, weight.shape[1])


def embedding_backward(dout, ids, num_embeddings):
    D = dout.shape[-1]
    dweight = torch.zeros(num_embeddings, D, dtype=dout.dtype, device=dout.device)
    dweight.index_put_((ids.reshape(-1),), dout.reshape(-1, D), accumulate=True)
    return dweight
