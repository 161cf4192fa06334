"""Alternative: as_strided windows with einsum, an LSTM split into gates with in-place updates, and
attention over blocks of keys with a running softmax (flash-attention style)."""

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
    gx = torch.einsum("tbi,gi->tbg", x, W_ih) + (b_ih + b_hh)  # (T, B, 4H), before the loop
    W_hh_t = W_hh.T.contiguous()
    h, c = h0, c0
    hs = []
    for gx_t in gx.unbind(0):
        i, f, g, o = torch.addmm(gx_t, h, W_hh_t).chunk(4, dim=1)  # (B, H) each
        c = torch.addcmul(torch.sigmoid(f).mul_(c), torch.sigmoid(i), torch.tanh(g))
        h = torch.tanh(c).mul_(torch.sigmoid(o))
        hs.append(h)
    return torch.stack(hs), (h, c)


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
        if causal:
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
