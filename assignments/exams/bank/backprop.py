"""Exam questions on backpropagation: the gradients of an affine layer."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array


@question(
    "backprop.affine_backward",
    title="Backpropagation through an affine layer",
    parts=[Array("dW", "dL/dW, 3 × 2", shape=(3, 2), exact=True),
           Array("db", "dL/db (2 values)", shape=(2,), exact=True)],
    text="""
An affine layer computes out = x W + b for a batch of two samples (one per row), with

x = {{ x|matrix }}, W = {{ W|matrix }}, b = {{ b|vec }}.

The gradient of the loss with respect to its output is

dL/dout = {{ dout|matrix }}.

Give dL/dW (the shape of W) and dL/db.
""",
)
def affine_backward(rng: np.random.Generator) -> dict[str, Any]:
    return {"x": rng.integers(-3, 4, size=(2, 3)), "W": rng.integers(-2, 3, size=(3, 2)),
            "b": rng.integers(-2, 3, size=2), "dout": rng.integers(-3, 4, size=(2, 2))}
