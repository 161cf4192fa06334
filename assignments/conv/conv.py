"""Convolution exercise: output sizes, a naive 2-D convolution, and max and average pooling."""

from __future__ import annotations

from typing import Any

import numpy as np


def conv_output_size(
    n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Length of a convolution's output along one axis.

        out = ⌊(n + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1

    Arguments are integers: n ≥ 1, kernel ≥ 1, stride ≥ 1, padding ≥ 0, dilation ≥ 1.
    Returns:
        out: int ≥ 1
    Raises:
        ValueError: if an argument is invalid (not an integer, or out of range) or out < 1
    """
    # TODO: validate the arguments, then apply the formula with floor division.
    raise NotImplementedError("conv_output_size: not implemented yet")


def conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0
) -> tuple[np.ndarray, Any]:
    """Forward pass of a 2-D convolution layer (cross-correlation, as torch.nn.functional.conv2d).

        out[n, f, i, j] = b[f] + Σ_{c, u, v} x_pad[n, c, i·stride + u, j·stride + v] · w[f, c, u, v]

    x_pad is x with `pad` zeros added on every side of both spatial axes.
    Shapes:
        x: (N, C, H, W) inputs
        w: (F, C, KH, KW) filters
        b: (F,) bias
    Returns:
        out: (N, F, H', W') with H' = conv_output_size(H, KH, stride, pad), W' likewise
        cache: whatever conv2d_backward will need; the grader passes it back untouched
    """
    # TODO: pad x, then slide every filter over it with explicit loops.
    raise NotImplementedError("conv2d_forward: not implemented yet")


def conv2d_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of conv2d_forward.

        dw[f, c, u, v] = Σ_{n, i, j} dout[n, f, i, j] · x_pad[n, c, i·stride + u, j·stride + v]
        dx_pad[n, c, i·stride + u, j·stride + v] += Σ_f dout[n, f, i, j] · w[f, c, u, v]
        db[f] = Σ_{n, i, j} dout[n, f, i, j]

    dx is dx_pad without the padding.
    Shapes:
        dout: (N, F, H', W') upstream gradient
        cache: what conv2d_forward returned
    Returns:
        dx: (N, C, H, W), dw: (F, C, KH, KW), db: (F,)
    """
    # TODO: accumulate the gradients window by window.
    raise NotImplementedError("conv2d_backward: not implemented yet")


def max_pool_forward(x: np.ndarray, kernel: int, stride: int) -> tuple[np.ndarray, Any]:
    """Forward pass of max pooling over square kernel × kernel windows, no padding.

        out[n, c, i, j] = max_{0 ≤ u, v < kernel} x[n, c, i·stride + u, j·stride + v]

    Shapes:
        x: (N, C, H, W)
    Returns:
        out: (N, C, H', W') with H' = conv_output_size(H, kernel, stride), W' likewise
        cache: whatever max_pool_backward will need; the grader passes it back untouched
    """
    # TODO: take the maximum of every window and remember where it was.
    raise NotImplementedError("max_pool_forward: not implemented yet")


def max_pool_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Backward pass of max pooling.

        dx[n, c, position of the maximum of window (i, j)] += dout[n, c, i, j]

    On ties the whole gradient goes to the first maximum in row-major order within the window.
    Shapes:
        dout: (N, C, H', W') upstream gradient
        cache: what max_pool_forward returned
    Returns:
        dx: (N, C, H, W)
    """
    # TODO: send each window's gradient to its (first) maximum; overlapping windows add up.
    raise NotImplementedError("max_pool_backward: not implemented yet")


def avg_pool_forward(x: np.ndarray, kernel: int, stride: int) -> tuple[np.ndarray, Any]:
    """Forward pass of average pooling over square kernel × kernel windows, no padding.

        out[n, c, i, j] = (1 / kernel²) Σ_{0 ≤ u, v < kernel} x[n, c, i·stride + u, j·stride + v]

    Shapes:
        x: (N, C, H, W)
    Returns:
        out: (N, C, H', W') with H' = conv_output_size(H, kernel, stride), W' likewise
        cache: whatever avg_pool_backward will need; the grader passes it back untouched
    """
    # TODO: average every window.
    raise NotImplementedError("avg_pool_forward: not implemented yet")


def avg_pool_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Backward pass of average pooling.

        dx[n, c, i·stride + u, j·stride + v] += dout[n, c, i, j] / kernel²

    Shapes:
        dout: (N, C, H', W') upstream gradient
        cache: what avg_pool_forward returned
    Returns:
        dx: (N, C, H, W)
    """
    # TODO: spread each window's gradient evenly over its inputs; overlapping windows add up.
    raise NotImplementedError("avg_pool_backward: not implemented yet")
