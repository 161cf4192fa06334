"""Alternative: vectorised with sliding_window_view and einsum; dict caches; explicit checks."""

from __future__ import annotations

import operator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv_output_size(
    n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1 with validation."""
    values = {"n": n, "kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation}
    for name, value in values.items():
        if type(value) is bool:
            raise ValueError(f"{name} must be an integer")
        try:
            values[name] = operator.index(value)
        except TypeError:
            raise ValueError(f"{name} must be an integer") from None
    n, kernel, stride, padding, dilation = values.values()
    if min(n, kernel, stride, dilation) < 1 or padding < 0:
        raise ValueError("invalid convolution arguments")
    effective = dilation * (kernel - 1) + 1
    if effective > n + 2 * padding:
        raise ValueError("kernel larger than the padded input")
    return (n + 2 * padding - effective) // stride + 1


def _windows(xp: np.ndarray, kh: int, kw: int, stride: int) -> np.ndarray:
    # (N, C, H'', W'', kh, kw) view, then every stride-th window
    return sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]


def conv2d_forward(x, w, b, stride=1, pad=0):
    """Cross-correlation via one einsum over all windows."""
    _, _, H, W = x.shape
    _, _, KH, KW = w.shape
    Ho = conv_output_size(H, KH, stride, pad)
    Wo = conv_output_size(W, KW, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = _windows(xp, KH, KW, stride)[:, :, :Ho, :Wo]  # (N, C, Ho, Wo, KH, KW)
    out = np.einsum("ncijuv,fcuv->nfij", win, w) + b[None, :, None, None]
    return out, {"x": x, "w": w, "stride": stride, "pad": pad}


def conv2d_backward(dout, cache):
    """dx by scattering per kernel offset, dw and db by einsum."""
    x, w, s, p = cache["x"], cache["w"], cache["stride"], cache["pad"]
    _, _, H, W = x.shape
    _, _, KH, KW = w.shape
    _, _, Ho, Wo = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    win = _windows(xp, KH, KW, s)[:, :, :Ho, :Wo]
    dw = np.einsum("nfij,ncijuv->fcuv", dout, win)
    db = dout.sum(axis=(0, 2, 3))
    dxp = np.zeros_like(xp)
    contrib = np.einsum("nfij,fcuv->ncijuv", dout, w)  # (N, C, Ho, Wo, KH, KW)
    for u in range(KH):
        for v in range(KW):
            dxp[:, :, u : u + s * Ho : s, v : v + s * Wo : s] += contrib[:, :, :, :, u, v]
    return dxp[:, :, p : p + H, p : p + W], dw, db


def max_pool_forward(x, kernel, stride):
    """Max pooling; the cache keeps the flat argmax of every window."""
    _, _, H, W = x.shape
    Ho = conv_output_size(H, kernel, stride)
    Wo = conv_output_size(W, kernel, stride)
    win = _windows(x, kernel, kernel, stride)[:, :, :Ho, :Wo]  # (N, C, Ho, Wo, k, k)
    flat = win.reshape(*win.shape[:4], kernel * kernel)
    arg = flat.argmax(axis=-1)  # first maximum in row-major order
    out = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    return out, {"shape": x.shape, "arg": arg, "k": kernel, "s": stride}


def max_pool_backward(dout, cache):
    """Scatter-add each window's gradient onto its first maximum."""
    N, C, H, W = cache["shape"]
    k, s, arg = cache["k"], cache["s"], cache["arg"]
    _, _, Ho, Wo = dout.shape
    du, dv = np.divmod(arg, k)
    rows = np.arange(Ho)[None, None, :, None] * s + du
    cols = np.arange(Wo)[None, None, None, :] * s + dv
    n = np.broadcast_to(np.arange(N)[:, None, None, None], arg.shape)
    c = np.broadcast_to(np.arange(C)[None, :, None, None], arg.shape)
    dx = np.zeros((N, C, H, W))
    np.add.at(dx, (n, c, rows, cols), dout)
    return dx


def avg_pool_forward(x, kernel, stride):
    """Average pooling over all windows at once."""
    _, _, H, W = x.shape
    Ho = conv_output_size(H, kernel, stride)
    Wo = conv_output_size(W, kernel, stride)
    win = _windows(x, kernel, kernel, stride)[:, :, :Ho, :Wo]
    return win.mean(axis=(-2, -1)), {"shape": x.shape, "k": kernel, "s": stride}


def avg_pool_backward(dout, cache):
    """Every input of a window receives dout / k² per window it belongs to."""
    k, s = cache["k"], cache["s"]
    _, _, Ho, Wo = dout.shape
    dx = np.zeros(cache["shape"])
    for u in range(k):
        for v in range(k):
            dx[:, :, u : u + s * Ho : s, v : v + s * Wo : s] += dout / (k * k)
    return dx
