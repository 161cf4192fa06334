"""Alternative: convolution as one matmul per kernel offset, an LSTM on torch.chunk, and attention
over chunks of queries with a hand-written stable softmax."""

from __future__ import annotations

import torch
import torch.nn.functional as F

CHUNK = 200  # queries per chunk: the scores held at once are CHUNK × Lk


def conv2d_fast(x, w, b, stride=1, pad=0):
    N, _, H, W = x.shape
    Fo, _, KH, KW = w.shape
    xp = F.pad(x, (pad, pad, pad, pad))  # (N, C, H+2p, W+2p)
    Ho = (H + 2 * pad - KH) // stride + 1
    Wo = (W + 2 * pad - KW) // stride + 1
    out = b.reshape(1, Fo, 1, 1).expand(N, Fo, Ho, Wo).clone()
    for u in range(KH):
        for v in range(KW):
            # Every window's (u, v) element at once: (N, C, Ho, Wo).
            patch = xp[:, :, u : u + stride * (Ho - 1) + 1 : stride, v : v + stride * (Wo - 1) + 1 : stride]
            out += torch.einsum("nchw,fc->nfhw", patch, w[:, :, u, v])
    return out


def lstm_sequence_fast(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    T, B, _ = x.shape
    proj = torch.addmm(b_ih + b_hh, x.flatten(0, 1), W_ih.t()).unflatten(0, (T, B))  # (T, B, 4H)
    W = W_hh.t().contiguous()
    h, c = h0, c0
    outs = []
    for p in proj.unbind(0):
        i, f, g, o = torch.addmm(p, h, W).chunk(4, dim=1)
        c = torch.addcmul(f.sigmoid() * c, i.sigmoid(), g.tanh())
        h = o.sigmoid() * c.tanh()
        outs.append(h)
    return torch.stack(outs), (h, c)


def attention_fast(q, k, v, causal=False):
    Lq, Lk = q.shape[-2], k.shape[-2]
    out = []
    for start in range(0, Lq, CHUNK):
        stop = min(start + CHUNK, Lq)
        keys = min(stop, Lk) if causal else Lk
        s = torch.einsum("...id,...jd->...ij", q[..., start:stop, :], k[..., :keys, :])
        s = s / q.shape[-1] ** 0.5
        if causal:
            i = torch.arange(start, stop, device=q.device)[:, None]
            s = s.masked_fill(torch.arange(keys, device=q.device)[None, :] > i, float("-inf"))
        e = torch.exp(s - s.amax(-1, keepdim=True))
        out.append(torch.einsum("...ij,...jd->...id", e / e.sum(-1, keepdim=True), v[..., :keys, :]))
    return torch.cat(out, dim=-2)
