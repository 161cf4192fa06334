"""Mutant: embedding_backward takes dweight by central differences of the lookup, not worked out.
Right at the small sizes; at a vocabulary's usual size it needs a lookup per entry of weight."""

# expect: embedding_backward did not finish within .*finite differences.*Work the gradient out

from __future__ import annotations

import torch

H = 1e-5

AGGREGATIONS = ("sum", "mean", "max")


def message_passing(
    x: torch.Tensor, edge_index: torch.Tensor, W: torch.Tensor, aggr: str
) -> torch.Tensor:
    """out_i = AGG over edges j → i of x_j W.

    x: (N, F), edge_index: (2, E) long with rows [src; dst], W: (F, F'), aggr in
    {"sum", "mean", "max"} → (N, F'). A node with no incoming edge gets zeros; a duplicate edge
    is a second message.
    """
    if aggr not in AGGREGATIONS:
        raise ValueError(f"message_passing: aggr must be one of {AGGREGATIONS}, got {aggr!r}")
    N = x.shape[0]
    src, dst = edge_index[0], edge_index[1]  # (E,), (E,)
    messages = (x @ W)[src]  # (E, F'): transform first, so max sees x_j W and not x_j
    out = messages.new_zeros(N, messages.shape[1])  # (N, F')
    if aggr == "max":
        # include_self=False: a receiving node's row is the max of its messages alone, and a
        # node without messages keeps its zeros.
        index = dst.unsqueeze(1).expand_as(messages)  # (E, F')
        return out.scatter_reduce(0, index, messages, reduce="amax", include_self=False)
    out = out.index_add(0, dst, messages)  # (N, F'): sums, duplicates counted twice
    if aggr == "mean":
        count = torch.bincount(dst, minlength=N).to(out.dtype)  # (N,) in-degree
        out = out / count.clamp(min=1).unsqueeze(1)  # isolated nodes: 0 / 1 = 0
    return out


def embedding_forward(weight: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Rows of weight by id: out[b, t] = weight[ids[b, t]].

    weight: (V, D), ids: (B, T) long → (B, T, D).
    """
    return weight[ids]  # (B, T, D)


def embedding_backward(dout: torch.Tensor, ids: torch.Tensor, num_embeddings: int) -> torch.Tensor:
    """dweight measured: each entry of a weight nudged, the lookup run again."""
    D = dout.shape[-1]
    weight = dout.new_zeros(num_embeddings, D)
    flat = weight.view(-1)
    grad = torch.zeros_like(flat)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + H
        up = float((embedding_forward(weight, ids) * dout).sum())
        flat[i] = old - H
        down = float((embedding_forward(weight, ids) * dout).sum())
        flat[i] = old
        grad[i] = (up - down) / (2 * H)
    return grad.view(num_embeddings, D)
