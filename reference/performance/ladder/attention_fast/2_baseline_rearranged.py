"""Rung 2, the baseline rearranged without a real improvement: helpers for the scores, the mask
and the softmax, still the whole score matrix at once."""

from __future__ import annotations

import torch


def _scores(q, k):
    return torch.matmul(q, k.transpose(-2, -1)) * q.shape[-1] ** -0.5


def _hide_future(scores):
    Lq, Lk = scores.shape[-2:]
    future = torch.arange(Lk, device=scores.device)[None, :] > \
        torch.arange(Lq, device=scores.device)[:, None]
    return scores.masked_fill(future, float("-inf"))


def attention_fast(q, k, v, causal=False):
    scores = _scores(q, k)
    if causal:
        scores = _hide_future(scores)
    return torch.matmul(scores.softmax(dim=-1), v)
