"""Rung 6, the classic win written from the statement alone (A), without the reference:
blocks of queries sized to a bound on the scores held, each against the keys it may see,
`torch.softmax` over the block."""

from __future__ import annotations

import math

import torch

# Upper bound on the number of scores held at once (per query block, all batch dims together):
# 2**24 floats = 64 MiB in float32, so a block plus its softmax stays far below the memory limit.
_MAX_SCORES = 1 << 24


def attention_fast(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False
) -> torch.Tensor:
    """softmax(q kᵀ / √d) v, one block of queries at a time against every key it may see.

    q: (..., Lq, d), k: (..., Lk, d), v: (..., Lk, dv) -> (..., Lq, dv).
    """
    Lq, d = q.shape[-2], q.shape[-1]
    Lk, dv = k.shape[-2], v.shape[-1]
    batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    n_batch = math.prod(batch)
    sqrt_d = math.sqrt(d)

    out = torch.empty(*batch, Lq, dv, dtype=q.dtype, device=q.device)
    if Lq == 0:
        return out

    block = max(1, min(Lq, _MAX_SCORES // max(1, n_batch * Lk)))
    k_t = k.transpose(-2, -1)  # (..., d, Lk), a view

    for start in range(0, Lq, block):
        end = min(start + block, Lq)
        q_blk = q[..., start:end, :]
        # Causal: query i sees keys 0..i, so this block needs only keys < end.
        k_end = min(end, Lk) if causal else Lk

        scores = torch.matmul(q_blk, k_t[..., :k_end])  # (..., bq, k_end)
        scores.div_(sqrt_d)
        if causal and k_end - 1 > start:  # some key in range lies after some query of the block
            q_idx = torch.arange(start, end, device=q.device).unsqueeze(1)
            k_idx = torch.arange(k_end, device=q.device).unsqueeze(0)
            scores.masked_fill_(k_idx > q_idx, float("-inf"))
        # softmax subtracts each row's maximum: stable for large scores. Every row sees key 0.
        probs = torch.softmax(scores, dim=-1)
        del scores
        out[..., start:end, :] = torch.matmul(probs, v[..., :k_end, :])
    return out
