"""Exam questions on the Gaussian generative classifier: MLE with a shared covariance, then w and b."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array, Number


@question(
    "gaussian_classifier.mle",
    title="Gaussian classifier with a shared covariance",
    parts=[Array("mu1", "μ₁ (2 values)", shape=(2,)), Array("mu0", "μ₀ (2 values)", shape=(2,)),
           Array("sigma", "Σ, 2 × 2", shape=(2, 2)),
           Array("w", "w (2 values)", shape=(2,), rtol=1e-2, atol=2e-3),
           Number("b", "b", rtol=1e-2, atol=2e-3)],
    text="""
Two classes are modelled as Gaussians with means μ₁, μ₀ and one shared covariance Σ, all
fitted by maximum likelihood: each class's covariance Σₖ divides by its own count nₖ, and
Σ = (n₁Σ₁ + n₀Σ₀)/(n₁ + n₀). The training points are

{{ points|table(labels, ["feature 1", "feature 2", "class"]) }}

The posterior is then P(C₁ | x) = σ(w·x + b) with w = Σ⁻¹(μ₁ − μ₀) and
b = −½ μ₁ᵀΣ⁻¹μ₁ + ½ μ₀ᵀΣ⁻¹μ₀ + ln(n₁/n₀).

Give μ₁, μ₀, Σ, w and b.
""",
)
def mle(rng: np.random.Generator) -> dict[str, Any]:
    n1, n0 = (3, 2) if rng.random() < 0.5 else (2, 3)
    while True:
        X1 = rng.integers(0, 7, size=(n1, 2))
        X0 = rng.integers(0, 7, size=(n0, 2))
        scatter = sum(((X - X.mean(0)).T @ (X - X.mean(0)) for X in (X1, X0)), np.zeros((2, 2)))
        sigma = scatter / (n1 + n0)
        # Well conditioned and the classes apart: w stays a sane size.
        if np.linalg.det(sigma) > 0.3 and np.linalg.cond(sigma) < 15 and \
                np.abs(X1.mean(0) - X0.mean(0)).max() >= 1:
            break
    X = np.vstack([X1, X0])
    y = np.array([1] * n1 + [0] * n0)
    order = rng.permutation(n1 + n0)
    points = np.column_stack([X, y])[order]
    return {"points": points, "labels": [f"x{i + 1}" for i in range(n1 + n0)]}
