"""Slow, correct baselines of the performance exercises: the speed your own versions are compared with."""

from __future__ import annotations

import math

import torch


def conv2d_fast(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int = 1, pad: int = 0
) -> torch.Tensor:
    """The loop version: one small tensordot per output position.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) → out: (N, F, H', W').
    """
    N, C, H, W = x.shape
    Fo, _, KH, KW = w.shape
    Ho = (H + 2 * pad - KH) // stride + 1
    Wo = (W + 2 * pad - KW) // stride + 1
    xp = x.new_zeros(N, C, H + 2 * pad, W + 2 * pad)  # (N, C, H+2p, W+2p)
    xp[:, :, pad : pad + H, pad : pad + W] = x
    out = x.new_empty(N, Fo, Ho, Wo)
    for i in range(Ho):
        for j in range(Wo):
            window = xp[:, :, i * stride : i * stride + KH, j * stride : j * stride + KW]
            out[:, :, i, j] = torch.tensordot(window, w, dims=([1, 2, 3], [1, 2, 3]))  # (N, F)
    return out + b.reshape(1, Fo, 1, 1)


def lstm_cell(
    x: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    W_ih: torch.Tensor,
    W_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step, gate rows i, f, g, o: x (B, I), h, c (B, H) → (h', c')."""
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=1)  # (B, H) each
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_next = torch.sigmoid(o) * torch.tanh(c_next)
    return h_next, c_next


def lstm_sequence_fast(
    x: torch.Tensor,
    h0: torch.Tensor,
    c0: torch.Tensor,
    W_ih: torch.Tensor,
    W_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """A Python loop of lstm_cell: x (T, B, I), h0, c0 (B, H) → (outputs (T, B, H), (h_T, c_T))."""
    h, c = h0, c0
    outputs = []
    for t in range(x.shape[0]):
        h, c = lstm_cell(x[t], h, c, W_ih, W_hh, b_ih, b_hh)
        outputs.append(h)
    return torch.stack(outputs), (h, c)


def attention_fast(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False
) -> torch.Tensor:
    """softmax(q kᵀ / √d) v with the whole (..., Lq, Lk) score matrix in memory at once.

    q: (..., Lq, d), k: (..., Lk, d), v: (..., Lk, dv) → (..., Lq, dv).
    """
    Lq, Lk = q.shape[-2], k.shape[-2]
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (..., Lq, Lk)
    if causal:
        hidden = torch.ones(Lq, Lk, dtype=torch.bool, device=q.device).triu(1)  # key after query
        scores = scores.masked_fill(hidden, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v  # (..., Lq, dv)
