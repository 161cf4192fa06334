"""Graph neural networks: message passing with sum, mean and max, and an embedding layer."""

from __future__ import annotations

import torch


def message_passing(
    x: torch.Tensor, edge_index: torch.Tensor, W: torch.Tensor, aggr: str
) -> torch.Tensor:
    """One round of message passing: out_i = AGG over edges j → i of (x_j W).

    edge_index[0] holds the source j and edge_index[1] the destination i of every edge.
    aggr is "sum", "mean" or "max" (anything else: ValueError); max is taken per feature.
    A node with no incoming edge gets a row of zeros; an edge listed twice sends two messages.

    x: (N, F), edge_index: (2, E) int64, W: (F, F')
    Returns (N, F'), same dtype as x.
    """
    # TODO: implement message_passing.
    raise NotImplementedError("message_passing: not implemented yet")


def embedding_forward(weight: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Embedding lookup: out[b, t] = weight[ids[b, t]].

    weight: (V, D), ids: (B, T) int64 with 0 ≤ ids < V
    Returns (B, T, D).
    """
    # TODO: implement embedding_forward.
    raise NotImplementedError("embedding_forward: not implemented yet")


def embedding_backward(dout: torch.Tensor, ids: torch.Tensor, num_embeddings: int) -> torch.Tensor:
    """Gradient of the lookup with respect to weight.

    dweight[v] = Σ over all (b, t) with ids[b, t] = v of dout[b, t]  (0 for an unused id)

    dout: (B, T, D), ids: (B, T) int64, num_embeddings: V
    Returns dweight: (V, D), same dtype as dout.
    """
    # TODO: implement embedding_backward.
    raise NotImplementedError("embedding_backward: not implemented yet")
