"""Rung 4, the statement's other idea alone: one block of keys at a time with a running softmax
(row maximum and sum kept, the accumulator rescaled), every key block computed even when causal."""

from __future__ import annotations

import math

import torch

BLOCK = 512


def attention_fast(q, k, v, causal=False):
    Lq, Lk = q.shape[-2], k.shape[-2]
    q = q / math.sqrt(q.shape[-1])
    m = q.new_full((*q.shape[:-1], 1), float("-inf"))
    total = q.new_zeros((*q.shape[:-1], 1))
    acc = q.new_zeros((*q.shape[:-1], v.shape[-1]))
    rows = torch.arange(Lq, device=q.device)[:, None]
    for start in range(0, Lk, BLOCK):
        stop = min(start + BLOCK, Lk)
        s = q @ k[..., start:stop, :].transpose(-2, -1)
        if causal:
            s = s.masked_fill(torch.arange(start, stop, device=q.device) > rows, float("-inf"))
        m_new = torch.maximum(m, s.amax(-1, keepdim=True))
        safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
        p = torch.exp(s - safe)
        scale = torch.exp(m - safe)
        total = total * scale + p.sum(-1, keepdim=True)
        acc = acc * scale + p @ v[..., start:stop, :]
        m = m_new
    return torch.where(total > 0, acc / total.clamp_min(torch.finfo(q.dtype).tiny),
                       torch.zeros_like(acc))
