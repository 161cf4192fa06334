"""Exam questions on reverse-mode autodiff: gradients through a graph that reuses a result."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Number


@question(
    "autograd.shared_node",
    title="Backpropagation through a shared result",
    parts=[Number("f", "the value f"), Number("dx", "∂f/∂x"), Number("dy", "∂f/∂y")],
    text="""
A program computes, from x = {{ x }} and y = {{ y }},

u = x·y,  v = u + x,  f = u·v.

Reverse-mode differentiation walks this graph from f back to x and y: u is used twice (by v
and by f) and x twice (by u and by v), so each receives a gradient along every path.

Give f, ∂f/∂x and ∂f/∂y at these values.
""",
)
def shared_node(rng: np.random.Generator) -> dict[str, Any]:
    x, y = (int(v) * int(rng.choice([-1, 1])) for v in rng.integers(1, 4, size=2))
    return {"x": x, "y": y}
