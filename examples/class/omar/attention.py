"""Alternative: heads in a loop over feature slices; masked keys zeroed after the exponential."""

from __future__ import annotations

import math

import torch


def scaled_dot_product_attention(q, k, v, mask=None, causal=False):
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(k.shape[-1])
    keep = torch.ones(scores.shape, dtype=scores.dtype, device=scores.device)
    if mask is not None:
        keep = keep * mask.to(scores.dtype)
    if causal:
        keep = keep * torch.tril(
            torch.ones(scores.shape[-2:], dtype=scores.dtype, device=scores.device)
        )
    # Subtract the maximum over the allowed keys only, then zero the hidden ones.
    hidden = torch.tensor(float("-inf"), dtype=scores.dtype, device=scores.device)
    row_max = torch.where(keep > 0, scores, hidden).amax(dim=-1, keepdim=True)
    row_max = torch.nan_to_num(row_max, neginf=0.0)
    e = torch.exp(torch.where(keep > 0, scores - row_max, torch.zeros_like(scores))) * keep
    s = e.sum(dim=-1, keepdim=True)
    weights = torch.where(s > 0, e / s.clamp(min=torch.finfo(s.dtype).tiny), torch.zeros_like(e))
    return weights @ v, weights


def multi_head_attention(
    query, key, value, num_heads, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, mask=None, causal=False
):
    E = query.shape[-1]
    hd = E // num_heads
    in_w = torch.cat([W_q, W_k, W_v])  # (3E, E), the nn.MultiheadAttention layout
    in_b = torch.cat([b_q, b_k, b_v])
    Q = query @ in_w[:E].T + in_b[:E]
    K = key @ in_w[E : 2 * E].T + in_b[E : 2 * E]
    V = value @ in_w[2 * E :].T + in_b[2 * E :]
    heads = []
    for h in range(num_heads):
        cols = slice(h * hd, (h + 1) * hd)
        out, _ = scaled_dot_product_attention(
            Q[..., cols], K[..., cols], V[..., cols], mask, causal
        )
        heads.append(out)  # (B, Lq, hd)
    return torch.cat(heads, dim=-1) @ W_o.T + b_o
