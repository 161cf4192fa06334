"""Exam questions on logistic and softmax regression: softmax cross-entropy, the BCE gradient."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array, Number


@question(
    "logistic_regression.softmax_ce",
    title="Softmax and cross-entropy",
    parts=[Array("probs", "softmax(Z), 2 × 3", shape=(2, 3)),
           Number("loss", "the mean cross-entropy loss"),
           Array("dZ", "the gradient dL/dZ, 2 × 3", shape=(2, 3))],
    text="""
A softmax classifier with 3 classes gives two samples the logits (one row per sample)

Z = {{ Z|matrix }}

and their true classes are y = {{ y|vec }} (classes numbered from 0). The loss L is the mean
over the two samples of the cross-entropy −ln softmax(Z)ᵢ,yᵢ.

Give softmax(Z) (row by row), L and its gradient dL/dZ.
""",
)
def softmax_ce(rng: np.random.Generator) -> dict[str, Any]:
    return {"Z": np.round(rng.uniform(-2, 3, size=(2, 3)), 1), "y": rng.integers(0, 3, size=2)}


@question(
    "logistic_regression.bce_grad",
    title="Gradient of logistic regression",
    parts=[Number("loss", "the loss L"), Array("dw", "dL/dw (2 values)", shape=(2,)),
           Number("db", "dL/db")],
    text="""
Logistic regression predicts P(y = 1 | x) = σ(w·x + b) with w = {{ w|vec }} and b = {{ b }}.
Its loss L is the mean binary cross-entropy over the three samples

{{ X|table(["x₁", "x₂", "x₃"], ["feature 1", "feature 2"]) }}

with labels y = {{ y|vec }}.

Give L and its gradient: dL/dw and dL/db.
""",
)
def bce_grad(rng: np.random.Generator) -> dict[str, Any]:
    y = np.array([0, 1, int(rng.integers(0, 2))])  # both classes present
    return {"X": np.round(rng.uniform(-2, 2, size=(3, 2)), 1), "y": rng.permutation(y),
            "w": np.round(rng.uniform(-1.5, 1.5, size=2), 1),
            "b": round(float(rng.uniform(-1, 1)), 1)}
