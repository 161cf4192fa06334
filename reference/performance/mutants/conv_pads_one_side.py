"""Mutant: conv2d_fast pads 2·pad zeros after the input and none before, so windows shift by pad (fast, wrong)."""

# expect: conv2d_fast

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Queries per block in attention_fast: the scores of one block of queries against every key are
# the largest thing held at once (twice Q_BLOCK × Lk instead of Lq × Lk).
Q_BLOCK = 256


def conv2d_fast(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int = 1, pad: int = 0
) -> torch.Tensor:
    """Cross-correlation of x (N, C, H, W) with w (F, C, KH, KW) plus b (F,): out (N, F, H', W').

    im2col: every window is one column of F.unfold, so the whole convolution is one matmul.
    """
    N, _, H, W = x.shape
    Fo, _, KH, KW = w.shape
    Ho = (H + 2 * pad - KH) // stride + 1
    Wo = (W + 2 * pad - KW) // stride + 1
    xp = F.pad(x, (0, 2 * pad, 0, 2 * pad))  # (N, C, H+2p, W+2p), all the zeros after
    cols = F.unfold(xp, (KH, KW), stride=stride)  # (N, C·KH·KW, Ho·Wo)
    out = w.reshape(Fo, -1) @ cols  # (N, F, Ho·Wo)
    out = out + b.reshape(1, Fo, 1)
    return out.reshape(N, Fo, Ho, Wo)


def lstm_sequence_fast(
    x: torch.Tensor,
    h0: torch.Tensor,
    c0: torch.Tensor,
    W_ih: torch.Tensor,
    W_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """An LSTM (gate rows i, f, g, o) over x (T, B, I) from h0, c0 (B, H).

    Returns (outputs (T, B, H), (h_T, c_T)). The input projections of every step are one matmul;
    each step then runs seven kernels on preallocated buffers, and no Python-level slicing.
    """
    T, B, _ = x.shape
    H = h0.shape[1]
    # Gate rows reordered to i, f, o | g: one sigmoid covers the first three blocks.
    order = torch.cat([torch.arange(2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)])
    order = order.to(x.device)
    gx = torch.addmm((b_ih + b_hh)[order], x.reshape(T * B, -1), W_ih[order].t())  # (T·B, 4H)
    W_hh_t = W_hh[order].t().contiguous()  # (H, 4H)
    outputs = x.new_empty(T, B, H)
    gates = x.new_empty(B, 4 * H)
    sig = x.new_empty(B, 3 * H)
    g = x.new_empty(B, H)
    tanh_c = x.new_empty(B, H)
    i, f, o = sig[:, :H], sig[:, H : 2 * H], sig[:, 2 * H :]  # views, (B, H) each
    c = c0.clone()  # updated in place
    h = h0
    for gx_t, out_t in zip(gx.reshape(T, B, 4 * H).unbind(0), outputs.unbind(0)):
        torch.addmm(gx_t, h, W_hh_t, out=gates)  # (B, 4H)
        torch.sigmoid(gates[:, : 3 * H], out=sig)
        torch.tanh(gates[:, 3 * H :], out=g)
        c.mul_(f).addcmul_(i, g)
        torch.tanh(c, out=tanh_c)
        h = torch.mul(o, tanh_c, out=out_t)  # written straight into outputs[t]
    return outputs, (h, c)


def attention_fast(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False
) -> torch.Tensor:
    """softmax(q kᵀ / √d) v, one block of Q_BLOCK queries at a time.

    q: (..., Lq, d), k: (..., Lk, d), v: (..., Lk, dv) → (..., Lq, dv). causal hides key j from
    query i when j > i (top-left aligned); a query with no allowed key gets a zero output. Keys
    after the last query of a block are never read for that block when causal.
    """
    Lq, d = q.shape[-2], q.shape[-1]
    Lk = k.shape[-2]
    scale = 1.0 / math.sqrt(d)
    out = q.new_empty(*q.shape[:-1], v.shape[-1])  # (..., Lq, dv)
    for start in range(0, Lq, Q_BLOCK):
        stop = min(start + Q_BLOCK, Lq)
        keys = min(stop, Lk) if causal else Lk  # later keys are hidden from every query here
        if keys == 0:  # causal with no key at all: every output row is zero
            out[..., start:stop, :] = 0
            continue
        scores = q[..., start:stop, :] @ k[..., :keys, :].transpose(-2, -1)  # (..., block, keys)
        scores.mul_(scale)  # in place: one block of scores at a time, and no second copy
        if causal:
            rows = torch.arange(start, stop, device=q.device).unsqueeze(1)  # (block, 1)
            cols = torch.arange(keys, device=q.device)  # (keys,)
            scores.masked_fill_(cols > rows, float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (..., block, keys)
        out[..., start:stop, :] = weights @ v[..., :keys, :]
    return out
