"""Exam questions on regularisation: inverted dropout, the Xavier uniform bound."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array, Choice, Number


@question(
    "regularization.dropout",
    title="Inverted dropout",
    parts=[Array("out", "the output (6 values)", shape=(6,))],
    text="""
Inverted dropout with drop probability p = {{ p }} is applied in training mode to

x = {{ x|vec }}.

The uniform random numbers drawn for the six entries are u = {{ u|vec }}; an entry is kept
where u ≥ p and dropped otherwise.

Give the output.
""",
)
def dropout(rng: np.random.Generator) -> dict[str, Any]:
    p = float(rng.choice([0.2, 0.25, 0.3, 0.4]))
    u = np.round(rng.uniform(0, 1, size=6), 2)
    u[int(rng.integers(0, 6))] = p  # the boundary case: u == p is kept
    x = np.round(rng.uniform(-3, 3, size=6), 1)
    x[x == 0] = 1.0  # a dropped 0 would look kept
    return {"x": x, "u": u, "p": p}


@question(
    "regularization.xavier_choice",
    title="Xavier initialisation",
    parts=[Choice("bound", "the bound a", min_options=3),
           Number("variance", "the variance of each weight", atol=1e-8)],
    text="""
A fully connected layer with fan_in = {{ fan_in }} inputs and fan_out = {{ fan_out }} outputs
is initialised with Xavier (Glorot) uniform initialisation: every weight is drawn from
U(−a, a).

Which is the bound a? And what is the variance of each weight?
""",
)
def xavier_choice(rng: np.random.Generator) -> dict[str, Any]:
    return {"fan_in": int(rng.integers(8, 513)), "fan_out": int(rng.integers(8, 513))}
