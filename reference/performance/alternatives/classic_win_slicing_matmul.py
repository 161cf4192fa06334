"""Alternative written from the statement alone: the convolution as windows viewed with as_strided
and one tensordot; the LSTM's classic win with x @ W_ihᵀ + b for every step before the loop and
per step one `@` and `+`, the gates sliced; attention one block of keys at a time with a running
softmax, blocks the causal mask hides from every query skipped."""

from __future__ import annotations

import math

import torch

KEYS = 256  # keys per block of attention_fast


def conv2d_fast(x, w, b, stride=1, pad=0):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho = (H + 2 * pad - KH) // stride + 1
    Wo = (W + 2 * pad - KW) // stride + 1
    xp = torch.zeros(N, C, H + 2 * pad, W + 2 * pad, dtype=x.dtype, device=x.device)
    xp[:, :, pad:pad + H, pad:pad + W] = x
    sn, sc, sh, sw = xp.stride()
    win = xp.as_strided((N, Ho, Wo, C, KH, KW), (sn, stride * sh, stride * sw, sc, sh, sw))
    out = torch.tensordot(win, w, dims=([3, 4, 5], [1, 2, 3]))  # (N, Ho, Wo, F)
    return (out + b).permute(0, 3, 1, 2)


def lstm_sequence_fast(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    T = x.shape[0]
    H = h0.shape[1]
    pre = x @ W_ih.T + (b_ih + b_hh)  # (T, B, 4H): all input projections at once
    Wt = W_hh.T
    h, c = h0, c0
    out = torch.empty(T, *h0.shape, dtype=x.dtype, device=x.device)
    for t in range(T):
        z = pre[t] + h @ Wt
        i = torch.sigmoid(z[:, :H])
        f = torch.sigmoid(z[:, H:2 * H])
        g = torch.tanh(z[:, 2 * H:3 * H])
        o = torch.sigmoid(z[:, 3 * H:])
        c = f * c + i * g
        h = o * torch.tanh(c)
        out[t] = h
    return out, (h, c)


def attention_fast(q, k, v, causal=False):
    Lq, d = q.shape[-2], q.shape[-1]
    Lk = k.shape[-2]
    q = q * (1.0 / math.sqrt(d))
    best = torch.full((*q.shape[:-1], 1), float("-inf"), dtype=q.dtype, device=q.device)
    norm = torch.zeros((*q.shape[:-1], 1), dtype=q.dtype, device=q.device)
    acc = torch.zeros((*q.shape[:-1], v.shape[-1]), dtype=q.dtype, device=q.device)
    qpos = torch.arange(Lq, device=q.device)[:, None]
    end = min(Lk, Lq) if causal else Lk  # keys past the last query are hidden from all
    for j in range(0, end, KEYS):
        j2 = min(j + KEYS, end)
        s = q @ k[..., j:j2, :].transpose(-1, -2)
        if causal:
            s = s.masked_fill(torch.arange(j, j2, device=q.device)[None, :] > qpos,
                              float("-inf"))
        new_best = torch.maximum(best, s.amax(dim=-1, keepdim=True))
        # A row that has seen no key yet keeps -inf: shift it by 0 instead (no inf - inf).
        shift = torch.where(new_best == float("-inf"), torch.zeros_like(new_best), new_best)
        p = torch.exp(s - shift)
        keep = torch.exp(best - shift)
        norm = norm * keep + p.sum(dim=-1, keepdim=True)
        acc = acc * keep + p @ v[..., j:j2, :]
        best = new_best
    return acc / norm
