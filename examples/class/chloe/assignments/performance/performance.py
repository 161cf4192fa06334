"""Performance: a fast 2-D convolution, a fast LSTM over a sequence and memory-lean attention (PyTorch)."""

from __future__ import annotations

import torch


def conv2d_fast(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int = 1, pad: int = 0
) -> torch.Tensor:
    """Cross-correlation, as torch.nn.functional.conv2d(x, w, b, stride, pad), without it.

    out[n, f, i, j] = b[f] + Σ_c Σ_u Σ_v xp[n, c, i·stride + u, j·stride + v] · w[f, c, u, v]
    where xp is x zero-padded by pad on all four sides; H' = (H + 2·pad − KH) // stride + 1,
    W' likewise.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) — float32 or float64, on any device
    Returns out: (N, F, H', W'), same dtype and device as x.
    Graded on speed against baseline.conv2d_fast (one small tensordot per output position).
    """
    # TODO: implement conv2d_fast (hint: every window as a column, then one matmul).
    raise NotImplementedError("conv2d_fast: not implemented yet")


def lstm_sequence_fast(
    x: torch.Tensor,
    h0: torch.Tensor,
    c0: torch.Tensor,
    W_ih: torch.Tensor,
    W_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """An LSTM run over a whole sequence, gate rows i, f, g, o (as torch.nn.LSTM), at every step t:

        [i, f, g, o] = x[t] W_ihᵀ + b_ih + h W_hhᵀ + b_hh
        c = σ(f) ⊙ c + σ(i) ⊙ tanh(g),   h = σ(o) ⊙ tanh(c),   outputs[t] = h

    x: (T, B, I), h0, c0: (B, H), W_ih: (4H, I), W_hh: (4H, H), b_ih, b_hh: (4H,)
    Returns (outputs: (T, B, H), (h_T: (B, H), c_T: (B, H))).
    Graded on speed against baseline.lstm_sequence_fast (a Python loop of lstm_cell).
    """
    # TODO: implement lstm_sequence_fast (hint: one matmul for every step's input projection).
    raise NotImplementedError("lstm_sequence_fast: not implemented yet")


def attention_fast(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False
) -> torch.Tensor:
    """softmax(q kᵀ / √d) v without holding the whole Lq × Lk score matrix at once.

    causal=True hides key j from query i when j > i (top-left aligned, as
    torch.nn.functional.scaled_dot_product_attention(..., is_causal=True)).

    q: (..., Lq, d), k: (..., Lk, d), v: (..., Lk, dv) — any number of leading batch dims
    Returns out: (..., Lq, dv), same dtype and device as q.
    On a GPU also graded on peak memory for long sequences (L ≥ 4096).
    """
    # TODO: implement attention_fast (hint: a block of queries, or of keys, at a time).
    raise NotImplementedError("attention_fast: not implemented yet")
