"""Mutant: attention_fast (running softmax over key blocks) applies the causal mask in the first block of keys only: it is dropped between blocks."""

# expect: attention_fast

from __future__ import annotations

import torch

K_BLOCK = 256  # keys per block: the scores held at once are Lq × K_BLOCK


def conv2d_fast(x, w, b, stride=1, pad=0):
    N, C, H, W = x.shape
    _, _, KH, KW = w.shape
    xp = torch.zeros(N, C, H + 2 * pad, W + 2 * pad, dtype=x.dtype, device=x.device)
    xp[:, :, pad : pad + H, pad : pad + W] = x
    Ho = (H + 2 * pad - KH) // stride + 1
    Wo = (W + 2 * pad - KW) // stride + 1
    sN, sC, sH, sW = xp.stride()
    windows = xp.as_strided((N, C, Ho, Wo, KH, KW),
                            (sN, sC, sH * stride, sW * stride, sH, sW))  # no copy
    return torch.einsum("nchwuv,fcuv->nfhw", windows, w) + b[None, :, None, None]


def lstm_sequence_fast(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    T, B, _ = x.shape
    H = h0.shape[1]
    gx = (x.reshape(T * B, -1) @ W_ih.T + (b_ih + b_hh)).reshape(T, B, 4 * H)
    W_hh_t = W_hh.T.contiguous()
    outputs = torch.empty(T, B, H, dtype=x.dtype, device=x.device)
    h, c = h0, c0
    for t in range(T):
        gates = torch.addmm(gx[t], h, W_hh_t)  # (B, 4H)
        s = gates.sigmoid()  # the g block is recomputed with tanh below
        c = s[:, H : 2 * H] * c + s[:, :H] * gates[:, 2 * H : 3 * H].tanh()
        h = s[:, 3 * H :] * c.tanh()
        outputs[t] = h
    return outputs, (h, c)


def attention_fast(q, k, v, causal=False):
    Lq, d = q.shape[-2], q.shape[-1]
    Lk = k.shape[-2]
    qs = q * d**-0.5
    m = torch.full((*q.shape[:-1], 1), float("-inf"), dtype=q.dtype, device=q.device)  # row max
    l = torch.zeros((*q.shape[:-1], 1), dtype=q.dtype, device=q.device)  # softmax denominator
    acc = torch.zeros((*q.shape[:-1], v.shape[-1]), dtype=q.dtype, device=q.device)
    rows = torch.arange(Lq, device=q.device).unsqueeze(1)  # (Lq, 1)
    last = min(Lk, Lq) if causal else Lk  # causal: keys past the last query are never seen
    for start in range(0, last, K_BLOCK):
        stop = min(start + K_BLOCK, Lk)
        s = qs @ k[..., start:stop, :].transpose(-2, -1)  # (..., Lq, block)
        if causal and start == 0:
            cols = torch.arange(start, stop, device=q.device)
            s = s.masked_fill(cols > rows, float("-inf"))
        m_new = torch.maximum(m, s.amax(-1, keepdim=True))
        # A row whose keys are all hidden so far has max -inf; exp(-inf - -inf) would be NaN.
        m_safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
        p = torch.exp(s - m_safe)
        rescale = torch.exp(m - m_safe)
        l = l * rescale + p.sum(-1, keepdim=True)
        acc = acc * rescale + p @ v[..., start:stop, :]
        m = m_new
    return torch.where(l > 0, acc / l.clamp_min(torch.finfo(q.dtype).tiny), torch.zeros_like(acc))
