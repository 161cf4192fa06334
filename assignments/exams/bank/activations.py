"""Exam questions on activation functions: derivatives of ReLU, leaky ReLU and the sigmoid."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array


@question(
    "activations.derivatives",
    title="Derivatives of activations",
    parts=[Array("relu", "ReLU′ (3 values)", shape=(3,)),
           Array("leaky", "leaky ReLU′ (3 values)", shape=(3,)),
           Array("sigmoid", "σ′ (3 values)", shape=(3,))],
    text="""
Give the derivatives of ReLU, of leaky ReLU with slope {{ slope }} and of the sigmoid σ at each
of the points x = {{ x|vec }}. At x = 0 take ReLU′(0) = 0 and leaky ReLU′(0) = {{ slope }}
(the slope), as the course's exercises do.
""",
)
def derivatives(rng: np.random.Generator) -> dict[str, Any]:
    x = np.round(rng.uniform(0.3, 3, size=3), 1) * rng.choice([-1, 1], size=3)
    x[0] = 0.0
    if (x[1] > 0) == (x[2] > 0):
        x[2] = -x[2]  # one point on each side
    return {"x": rng.permutation(x), "slope": float(rng.choice([0.05, 0.1, 0.2]))}
