"""Alternative: einsum, a hand-written stable softmax with finite fill values, F.linear."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def scaled_dot_product_attention(q, k, v, mask=None, causal=False):
    Lq, Lk = q.shape[-2], k.shape[-2]
    scores = torch.einsum("...id,...jd->...ij", q * q.shape[-1] ** -0.5, k)  # (..., Lq, Lk)
    allowed = torch.ones_like(scores, dtype=torch.bool)
    if mask is not None:
        allowed = allowed & mask
    if causal:
        i = torch.arange(Lq, device=q.device)[:, None]
        j = torch.arange(Lk, device=q.device)[None, :]
        allowed = allowed & (j <= i)
    low = torch.finfo(scores.dtype).min
    scores = torch.where(allowed, scores, torch.full_like(scores, low))
    e = torch.exp(scores - scores.amax(dim=-1, keepdim=True)) * allowed
    total = e.sum(dim=-1, keepdim=True)
    weights = e / torch.where(total > 0, total, torch.ones_like(total))
    return torch.einsum("...ij,...jd->...id", weights, v), weights


def multi_head_attention(
    query, key, value, num_heads, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, mask=None, causal=False
):
    B, Lq, E = query.shape
    hd = E // num_heads
    Q = F.linear(query, W_q, b_q).view(B, Lq, num_heads, hd).permute(0, 2, 1, 3)
    K = F.linear(key, W_k, b_k).view(B, -1, num_heads, hd).permute(0, 2, 1, 3)
    V = F.linear(value, W_v, b_v).view(B, -1, num_heads, hd).permute(0, 2, 1, 3)
    if mask is not None:
        mask = mask[:, None] if mask.dim() == 3 else mask[None, None]
    out, _ = scaled_dot_product_attention(Q, K, V, mask, causal)
    return F.linear(out.permute(0, 2, 1, 3).reshape(B, Lq, E), W_o, b_o)
