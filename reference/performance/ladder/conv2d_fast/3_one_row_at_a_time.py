"""Rung 3, a partial improvement: the windows of one output row at once (unfolded along the
width), one product per output row instead of one per position."""

from __future__ import annotations

import torch


def conv2d_fast(x, w, b, stride=1, pad=0):
    N, C, H, W = x.shape
    Fo, _, KH, KW = w.shape
    Ho = (H + 2 * pad - KH) // stride + 1
    Wo = (W + 2 * pad - KW) // stride + 1
    xp = x.new_zeros(N, C, H + 2 * pad, W + 2 * pad)
    xp[:, :, pad : pad + H, pad : pad + W] = x
    out = x.new_empty(N, Fo, Ho, Wo)
    for i in range(Ho):
        band = xp[:, :, i * stride : i * stride + KH, :]  # (N, C, KH, Wp)
        windows = band.unfold(3, KW, stride)[:, :, :, :Wo]  # (N, C, KH, Wo, KW)
        out[:, :, i, :] = torch.einsum("ncuwv,fcuv->nfw", windows, w)
    return out + b.reshape(1, Fo, 1, 1)
