"""Exam questions on optimizers: one Adam step, one momentum step, one RMSProp step."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array, Choice


def _nonzero(rng: np.random.Generator, low: float, high: float, size: int) -> np.ndarray:
    while True:
        g = np.round(rng.uniform(low, high, size=size), 1)
        if np.all(np.abs(g) >= 0.1):
            return g


@question(
    "optimizers.adam_step",
    title="The first step of Adam",
    parts=[Array("m", "m after the step (2 values)", shape=(2,), atol=1e-9),
           Array("v", "v after the step (2 values)", shape=(2,), atol=1e-9),
           Array("w", "w after the step (2 values)", shape=(2,))],
    text="""
Adam (with bias correction, ε = 10⁻⁸, step counter t = 1 on the first step) starts from
m = v = 0 with learning rate {{ lr }}, β₁ = {{ beta1 }} and β₂ = {{ beta2 }}. The parameters
are w = {{ w|vec }} and the first gradient is g = {{ g|vec }}.

Give m, v and w after this first step.
""",
)
def adam_step(rng: np.random.Generator) -> dict[str, Any]:
    return {"w": np.round(rng.uniform(-2, 2, size=2), 1), "g": _nonzero(rng, -3, 3, 2),
            "lr": float(rng.choice([0.01, 0.05, 0.1])), "beta1": float(rng.choice([0.8, 0.9])),
            "beta2": float(rng.choice([0.99, 0.999]))}


@question(
    "optimizers.momentum_choice",
    title="SGD with momentum",
    parts=[Choice("w", "w after the step", min_options=4)],
    text="""
SGD with momentum in PyTorch's form, v ← μ·v + g and then w ← w − lr·v, runs with
learning rate {{ lr }} and μ = {{ mu }}. Before this step w = {{ w|vec }} and the velocity is
v = {{ v|vec }}; the gradient is g = {{ g|vec }}.

Which is w after the step?
""",
)
def momentum_choice(rng: np.random.Generator) -> dict[str, Any]:
    return {"w": np.round(rng.uniform(-2, 2, size=2), 1), "v": _nonzero(rng, -2, 2, 2),
            "g": _nonzero(rng, -3, 3, 2), "lr": float(rng.choice([0.1, 0.2, 0.5])),
            "mu": float(rng.choice([0.8, 0.9]))}


@question(
    "optimizers.rmsprop_step",
    title="One step of RMSProp",
    parts=[Array("s", "s after the step (2 values)", shape=(2,), atol=1e-6),
           Array("w", "w after the step (2 values)", shape=(2,))],
    text="""
RMSProp keeps s ← ρ·s + (1 − ρ)·g² and steps w ← w − lr·g/(√s + ε) (elementwise,
ε = 10⁻⁸), with learning rate {{ lr }} and ρ = {{ rho }}. Before this step
w = {{ w|vec }} and s = {{ s|vec }}; the gradient is g = {{ g|vec }}.

Give s and w after the step.
""",
)
def rmsprop_step(rng: np.random.Generator) -> dict[str, Any]:
    return {"w": np.round(rng.uniform(-2, 2, size=2), 1), "g": _nonzero(rng, -3, 3, 2),
            "s": np.round(rng.uniform(0.1, 2, size=2), 1), "lr": float(rng.choice([0.01, 0.1])),
            "rho": float(rng.choice([0.9, 0.8]))}
