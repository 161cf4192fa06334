"""Alternative: plain loops over every output element, object caches, hand-scanned maxima."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def conv_output_size(
    n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1 with validation."""
    for value in (n, kernel, stride, padding, dilation):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"expected integers, got {value!r}")
    if n < 1 or kernel < 1 or stride < 1 or padding < 0 or dilation < 1:
        raise ValueError("argument out of range")
    size = math.floor((n + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1
    if size < 1:
        raise ValueError("output would be empty")
    return int(size)


class _Cache:
    __slots__ = ("data", "extra", "stride")

    def __init__(self, data: Any, stride: int, extra: Any = None) -> None:
        self.data, self.stride, self.extra = data, stride, extra


def conv2d_forward(x, w, b, stride=1, pad=0):
    """Naive cross-correlation, one output element at a time."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho = conv_output_size(H, KH, stride, pad)
    Wo = conv_output_size(W, KW, stride, pad)
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    xp[:, :, pad : pad + H, pad : pad + W] = x
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    r, c = i * stride, j * stride
                    out[n, f, i, j] = np.sum(xp[n, :, r : r + KH, c : c + KW] * w[f]) + b[f]
    return out, _Cache(data=(x, w), stride=stride, extra=pad)


def conv2d_backward(dout, cache):
    """Naive gradients, one output element at a time."""
    x, w = cache.data
    s, pad = cache.stride, cache.extra
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    _, _, Ho, Wo = dout.shape
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    xp[:, :, pad : pad + H, pad : pad + W] = x
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = np.zeros(F)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    r, c = i * s, j * s
                    g = dout[n, f, i, j]
                    dw[f] += g * xp[n, :, r : r + KH, c : c + KW]
                    dxp[n, :, r : r + KH, c : c + KW] += g * w[f]
                    db[f] += g
    return dxp[:, :, pad : pad + H, pad : pad + W].copy(), dw, db


def max_pool_forward(x, kernel, stride):
    """Scan each window row by row; a later equal value never replaces the first maximum."""
    N, C, H, W = x.shape
    Ho = conv_output_size(H, kernel, stride)
    Wo = conv_output_size(W, kernel, stride)
    out = np.zeros((N, C, Ho, Wo))
    where = np.zeros((N, C, Ho, Wo, 2), dtype=int)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    best, pos = -math.inf, (i * stride, j * stride)
                    for u in range(kernel):
                        for v in range(kernel):
                            val = x[n, c, i * stride + u, j * stride + v]
                            if val > best:
                                best, pos = val, (i * stride + u, j * stride + v)
                    out[n, c, i, j] = best
                    where[n, c, i, j] = pos
    return out, _Cache(data=x.shape, stride=stride, extra=where)


def max_pool_backward(dout, cache):
    """Route each window's gradient to the recorded position."""
    dx = np.zeros(cache.data)
    N, C, Ho, Wo = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    r, col = cache.extra[n, c, i, j]
                    dx[n, c, r, col] += dout[n, c, i, j]
    return dx


def avg_pool_forward(x, kernel, stride):
    """Window sums divided by kernel²."""
    N, C, H, W = x.shape
    Ho = conv_output_size(H, kernel, stride)
    Wo = conv_output_size(W, kernel, stride)
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            r, c = i * stride, j * stride
            out[:, :, i, j] = x[:, :, r : r + kernel, c : c + kernel].sum(axis=(2, 3))
    return out / kernel**2, _Cache(data=x.shape, stride=stride, extra=kernel)


def avg_pool_backward(dout, cache):
    """Spread dout / kernel² over each window."""
    k, s = cache.extra, cache.stride
    dx = np.zeros(cache.data)
    _, _, Ho, Wo = dout.shape
    for i in range(Ho):
        for j in range(Wo):
            dx[:, :, i * s : i * s + k, j * s : j * s + k] += dout[:, :, i, j, None, None] / k**2
    return dx
