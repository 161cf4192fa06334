"""Mutant: both pooling backward passes take their gradients by central differences of the forward
pass, not worked out. Right at the small sizes; at a layer's usual size they need a forward pass
per entry of x."""

# expect: pool_backward did not finish within .*finite differences.*Work the gradient out

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

H = 1e-5


def _differences(f: Callable[[], float], v: np.ndarray) -> np.ndarray:
    """d f / d v, entry by entry: v nudged up and down in place."""
    g = np.zeros(v.shape)
    for i in np.ndindex(v.shape):
        old = v[i]
        v[i] = old + H
        up = f()
        v[i] = old - H
        down = f()
        v[i] = old
        g[i] = (up - down) / (2 * H)
    return g


def _check_int(name: str, value: Any, minimum: int) -> None:
    # bool is an int subclass, but conv_output_size(5, True) is a bug to report, not a kernel of 1.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def conv_output_size(
    n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1, or ValueError for invalid arguments or a result < 1."""
    _check_int("n", n, 1)
    _check_int("kernel", kernel, 1)
    _check_int("stride", stride, 1)
    _check_int("padding", padding, 0)
    _check_int("dilation", dilation, 1)
    span = int(n) + 2 * int(padding) - int(dilation) * (int(kernel) - 1) - 1
    # Floor division: a negative span (window larger than the padded input) must give a result
    # below 1, which truncation towards zero would hide for stride > 1.
    size = span // int(stride) + 1
    if size < 1:
        raise ValueError(
            f"a window of {kernel} (dilation {dilation}) does not fit in an input of {n} "
            f"with padding {padding}"
        )
    return size


def conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0
) -> tuple[np.ndarray, Any]:
    """Cross-correlation of x (N, C, H, W) with w (F, C, KH, KW) plus b (F,): out (N, F, H', W')."""
    N, C, H, W = x.shape
    F, Cw, KH, KW = w.shape
    if C != Cw:
        raise ValueError(f"x has {C} channels but w expects {Cw}")
    Ho = conv_output_size(H, KH, stride, pad)
    Wo = conv_output_size(W, KW, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (N, C, H+2p, W+2p)
    out = np.empty((N, F, Ho, Wo), dtype=np.result_type(x, w, b))
    for i in range(Ho):
        for j in range(Wo):
            window = xp[:, :, i * stride : i * stride + KH, j * stride : j * stride + KW]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))  # (N, F)
    out += b[None, :, None, None]
    return out, (x, w, stride, pad)


def conv2d_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients dx (N, C, H, W), dw (F, C, KH, KW), db (F,) from dout (N, F, H', W')."""
    x, w, stride, pad = cache
    _, _, H, W = x.shape
    _, _, KH, KW = w.shape
    _, _, Ho, Wo = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (N, C, H+2p, W+2p)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(Ho):
        for j in range(Wo):
            rows = slice(i * stride, i * stride + KH)
            cols = slice(j * stride, j * stride + KW)
            g = dout[:, :, i, j]  # (N, F)
            dw += np.tensordot(g, xp[:, :, rows, cols], axes=([0], [0]))  # (F, C, KH, KW)
            dxp[:, :, rows, cols] += np.tensordot(g, w, axes=([1], [0]))  # (N, C, KH, KW)
    # Input rows/columns that no window reaches (stride not dividing) keep a zero gradient.
    dx = dxp[:, :, pad : pad + H, pad : pad + W]
    db = dout.sum(axis=(0, 2, 3))  # (F,)
    return dx, dw, db


def max_pool_forward(x: np.ndarray, kernel: int, stride: int) -> tuple[np.ndarray, Any]:
    """Max over kernel × kernel windows of x (N, C, H, W), no padding: out (N, C, H', W')."""
    N, C, H, W = x.shape
    Ho = conv_output_size(H, kernel, stride)
    Wo = conv_output_size(W, kernel, stride)
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    argmax = np.empty((N, C, Ho, Wo), dtype=np.intp)  # flat index inside the window
    for i in range(Ho):
        for j in range(Wo):
            window = x[:, :, i * stride : i * stride + kernel, j * stride : j * stride + kernel]
            flat = window.reshape(N, C, kernel * kernel)  # row-major order inside the window
            idx = flat.argmax(axis=2)  # first maximum on ties
            argmax[:, :, i, j] = idx
            out[:, :, i, j] = np.take_along_axis(flat, idx[:, :, None], axis=2)[:, :, 0]
    return out, (x.copy(), kernel, stride)


def max_pool_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """dx measured: each entry nudged, the pooling run again."""
    x, kernel, stride = cache
    return _differences(lambda: float(np.sum(max_pool_forward(x, kernel, stride)[0] * dout)), x)

def avg_pool_forward(x: np.ndarray, kernel: int, stride: int) -> tuple[np.ndarray, Any]:
    """Mean over kernel × kernel windows of x (N, C, H, W), no padding: out (N, C, H', W')."""
    N, C, H, W = x.shape
    Ho = conv_output_size(H, kernel, stride)
    Wo = conv_output_size(W, kernel, stride)
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            window = x[:, :, i * stride : i * stride + kernel, j * stride : j * stride + kernel]
            out[:, :, i, j] = window.mean(axis=(2, 3))
    return out, (x.copy(), kernel, stride)


def avg_pool_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """dx measured: each entry nudged, the pooling run again."""
    x, kernel, stride = cache
    return _differences(lambda: float(np.sum(avg_pool_forward(x, kernel, stride)[0] * dout)), x)
