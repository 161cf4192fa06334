"""Attention: masked scaled dot-product attention and multi-head attention in PyTorch."""

from __future__ import annotations

import torch


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """weights = softmax(q kᵀ / √d) over the allowed keys; out = weights v.

    mask is boolean, broadcastable to (..., Lq, Lk), True = may attend. causal=True also hides
    key j from query i when j > i. A query with no allowed key gets all-zero weights and a zero
    output (never NaN).

    q: (..., Lq, d), k: (..., Lk, d), v: (..., Lk, dv) — any number of leading batch dims
    Returns (out: (..., Lq, dv), weights: (..., Lq, Lk)).
    """
    # TODO: implement scaled_dot_product_attention.
    raise NotImplementedError("scaled_dot_product_attention: not implemented yet")


def multi_head_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    num_heads: int,
    W_q: torch.Tensor,
    W_k: torch.Tensor,
    W_v: torch.Tensor,
    W_o: torch.Tensor,
    b_q: torch.Tensor,
    b_k: torch.Tensor,
    b_v: torch.Tensor,
    b_o: torch.Tensor,
    mask: torch.Tensor | None = None,
    causal: bool = False,
) -> torch.Tensor:
    """Multi-head attention, equal to torch.nn.MultiheadAttention(E, num_heads, batch_first=True).

    Q = query W_qᵀ + b_q, K = key W_kᵀ + b_k, V = value W_vᵀ + b_v, each split into num_heads
    heads of E / num_heads features (head h owns features h·hd to (h+1)·hd − 1);
    every head runs scaled_dot_product_attention; the heads are concatenated back in order
    and projected: out = concat W_oᵀ + b_o.

    mask: bool (B, Lq, Lk) or (Lq, Lk), True = may attend (the opposite of nn.MultiheadAttention's
    attn_mask); the same mask for every head.

    query: (B, Lq, E), key: (B, Lk, E), value: (B, Lk, E), W_*: (E, E), b_*: (E,)
    Returns (B, Lq, E).
    """
    # TODO: implement multi_head_attention.
    raise NotImplementedError("multi_head_attention: not implemented yet")
