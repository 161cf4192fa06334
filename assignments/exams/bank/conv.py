"""Exam questions on convolution: output sizes, a small cross-correlation, max-pooling gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array, Integer


def _size(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


@question(
    "conv.output_size",
    title="Output size of a convolution",
    parts=[Integer("height", "output height H′"), Integer("width", "output width W′")],
    text="""
A 2-D convolution layer reads an input of height {{ H }} and width {{ W }}. Its kernel is
{{ KH }} × {{ KW }} (height × width), with stride {{ stride }}, zero padding {{ padding }} on
every side and dilation {{ dilation }}, the same in both directions.

What are the height H′ and the width W′ of its output?
""",
)
def output_size(rng: np.random.Generator) -> dict[str, Any]:
    while True:
        p = {"H": int(rng.integers(7, 41)), "W": int(rng.integers(7, 41)),
             "KH": int(rng.choice([3, 5, 7])), "KW": int(rng.choice([1, 3, 5])),
             "stride": int(rng.integers(2, 4)), "padding": int(rng.integers(1, 4)),
             "dilation": int(rng.integers(1, 3))}
        # Both windows must fit in the padded input (an output of at least 2).
        if min(_size(p["H"], p["KH"], p["stride"], p["padding"], p["dilation"]),
               _size(p["W"], p["KW"], p["stride"], p["padding"], p["dilation"])) >= 2:
            return p


@question(
    "conv.conv2d_forward",
    title="A small cross-correlation",
    parts=[Array("out", "the output, 3 × 3", shape=(3, 3), exact=True)],
    text="""
A convolution layer with one input channel and one filter (as `torch.nn.functional.conv2d`,
which computes a cross-correlation) uses stride {{ stride }} and zero padding {{ pad }}.
The input x (4 × 4), the kernel w (2 × 2) and the bias b are

x = {{ x|matrix }}

w = {{ w|matrix }}

b = {{ b }}.

Give the 3 × 3 output.
""",
)
def conv2d_forward(rng: np.random.Generator) -> dict[str, Any]:
    stride = int(rng.integers(1, 3))
    return {"x": rng.integers(-3, 4, size=(4, 4)), "w": rng.integers(-2, 3, size=(2, 2)),
            "b": int(rng.integers(-2, 3)), "stride": stride, "pad": stride - 1}


@question(
    "conv.max_pool_backward",
    title="Gradient of max pooling",
    parts=[Array("dx", "dL/dx, 3 × 3", shape=(3, 3), exact=True)],
    text="""
Max pooling with 2 × 2 windows and stride 1 (so windows overlap) maps the 3 × 3 input

x = {{ x|matrix }}

to a 2 × 2 output. The gradient of the loss with respect to that output is

dL/dout = {{ dout|matrix }}.

Give dL/dx. When a window holds its maximum more than once, its gradient goes to the first
maximum in row-major order (left to right, then top to bottom).
""",
)
def max_pool_backward(rng: np.random.Generator) -> dict[str, Any]:
    return {"x": rng.integers(0, 5, size=(3, 3)), "dout": rng.integers(1, 6, size=(2, 2))}
