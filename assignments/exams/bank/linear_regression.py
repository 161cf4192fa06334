"""Exam questions on linear regression: closed-form least squares, one gradient-descent step."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array, Number


@question(
    "linear_regression.least_squares",
    title="Least squares by hand",
    parts=[Number("a", "the slope a"), Number("b", "the intercept b")],
    text="""
Fit the line y ≈ a·x + b by least squares (minimising Σ(yᵢ − a·xᵢ − b)²) to the {{ x|length }}
points

{{ [x, y]|table(["x", "y"]) }}

Give the slope a and the intercept b.
""",
)
def least_squares(rng: np.random.Generator) -> dict[str, Any]:
    n = int(rng.integers(3, 6))
    # Distinct x values spread over at least 3 units: the fit is well conditioned.
    x = np.sort(rng.choice(np.arange(-3, 8), size=n, replace=False))
    a, b = rng.uniform(-2, 2), rng.uniform(-3, 3)
    y = np.round(a * x + b + rng.normal(0, 0.8, size=n), 1)
    return {"x": x, "y": y}


@question(
    "linear_regression.gradient_step",
    title="One step of gradient descent",
    parts=[Array("w", "the new w (2 values)", shape=(2,)), Number("b", "the new b")],
    text="""
A linear model ŷ = X w + b with w = {{ w|vec }} and b = {{ b }} is trained on the mean squared
error L = (1/n) Σ (ŷᵢ − yᵢ)² over the n = 3 samples

{{ X|table(["x₁", "x₂", "x₃"], ["feature 1", "feature 2"]) }}

with targets y = {{ y|vec }}.

Give w and b after one step of full-batch gradient descent with learning rate {{ lr }}.
""",
)
def gradient_step(rng: np.random.Generator) -> dict[str, Any]:
    return {"X": rng.integers(-2, 4, size=(3, 2)), "y": rng.integers(-3, 6, size=3),
            "w": np.round(rng.uniform(-1, 1, size=2), 1),
            "b": round(float(rng.uniform(-1, 1)), 1), "lr": float(rng.choice([0.01, 0.05, 0.1]))}
