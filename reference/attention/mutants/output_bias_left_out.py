"""Mutant: the output projection's bias b_o left out."""

# expect: classic mistake: the output projection's bias b_o left out

from __future__ import annotations

import math

import torch


def _allowed(
    scores: torch.Tensor, mask: torch.Tensor | None, causal: bool
) -> torch.Tensor | None:
    """Boolean (..., Lq, Lk) of the keys each query may attend to, or None when all may."""
    Lq, Lk = scores.shape[-2], scores.shape[-1]
    allowed = None
    if mask is not None:
        allowed = mask.to(device=scores.device, dtype=torch.bool)
    if causal:
        # Key j is visible from query i when j <= i (top-left aligned, as torch's is_causal).
        tril = torch.ones(Lq, Lk, dtype=torch.bool, device=scores.device).tril()  # (Lq, Lk)
        allowed = tril if allowed is None else allowed & tril
    if allowed is None:
        return None
    return allowed.expand(scores.shape)


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q kᵀ / √d, masked) v.

    q: (..., Lq, d), k: (..., Lk, d), v: (..., Lk, dv), mask: bool broadcastable to
    (..., Lq, Lk) with True = may attend → out: (..., Lq, dv), weights: (..., Lq, Lk).
    A query with no allowed key gets zero weights and a zero output.
    """
    d = q.shape[-1]
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(d)  # (..., Lq, Lk)
    allowed = _allowed(scores, mask, causal)
    if allowed is None:
        weights = torch.softmax(scores, dim=-1)  # (..., Lq, Lk)
    else:
        scores = scores.masked_fill(~allowed, float("-inf"))
        # A row of only -inf makes softmax return NaN; such rows are defined as all zeros.
        weights = torch.softmax(scores, dim=-1).masked_fill(~allowed, 0.0)  # (..., Lq, Lk)
    return weights @ v, weights  # (..., Lq, dv), (..., Lq, Lk)


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
    """Multi-head attention as torch.nn.MultiheadAttention(E, num_heads, batch_first=True).

    query: (B, Lq, E), key, value: (B, Lk, E), W_*: (E, E), b_*: (E,), mask: bool (B, Lq, Lk)
    or (Lq, Lk) with True = may attend → (B, Lq, E).
    """
    B, Lq, E = query.shape
    Lk = key.shape[1]
    hd = E // num_heads

    def heads(x: torch.Tensor, L: int) -> torch.Tensor:
        # Head h owns features h*hd:(h+1)*hd of the projection.
        return x.reshape(B, L, num_heads, hd).transpose(1, 2)  # (B, nh, L, hd)

    q = heads(query @ W_q.T + b_q, Lq)  # (B, nh, Lq, hd)
    k = heads(key @ W_k.T + b_k, Lk)  # (B, nh, Lk, hd)
    v = heads(value @ W_v.T + b_v, Lk)  # (B, nh, Lk, hd)
    if mask is not None and mask.dim() == 3:
        mask = mask.unsqueeze(1)  # (B, 1, Lq, Lk): the same mask for every head
    out, _ = scaled_dot_product_attention(q, k, v, mask=mask, causal=causal)  # (B, nh, Lq, hd)
    out = out.transpose(1, 2).reshape(B, Lq, E)  # (B, Lq, E), heads side by side
    return out @ W_o.T  # (B, Lq, E)
