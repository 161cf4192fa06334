"""Exam questions on batch normalisation: one training step and its running statistics."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array, Choice

CONVENTION = """
The layer follows PyTorch's `BatchNorm1d`: in training it normalises each feature with the
batch mean and the biased batch variance (divide by N), and updates
running ← (1 − momentum)·running + momentum·batch statistic, using the unbiased batch variance
(divide by N − 1) for the running variance. Take ε = 10⁻⁵, which is negligible here.
"""


def _batch(rng: np.random.Generator) -> np.ndarray:
    while True:
        x = np.round(rng.uniform(-3, 3, size=(3, 2)), 1)  # (N, D) = (3, 2)
        if x.var(axis=0).min() > 0.2:  # no nearly constant feature: its x̂ would be noise
            return x


@question(
    "batchnorm.forward_train",
    title="Batch normalisation in training",
    parts=[Array("out", "the output, 3 × 2", shape=(3, 2), atol=2e-3, weight=2),
           Array("running_mean", "the new running mean (2 values)", shape=(2,)),
           Array("running_var", "the new running variance (2 values)", shape=(2,))],
    text="""
A batch-normalisation layer with 2 features, momentum {{ momentum }},
γ = {{ gamma|vec }}, β = {{ beta|vec }}, running mean {{ running_mean|vec }} and running
variance {{ running_var|vec }} receives in training mode the batch (3 samples, one per row)

x = {{ x|matrix }}
""" + CONVENTION + """
Give the output, the new running mean and the new running variance.
""",
)
def forward_train(rng: np.random.Generator) -> dict[str, Any]:
    return {"x": _batch(rng), "gamma": np.round(rng.uniform(0.5, 2, size=2), 1),
            "beta": np.round(rng.uniform(-1, 1, size=2), 1),
            "running_mean": np.round(rng.uniform(-1, 1, size=2), 1),
            "running_var": np.round(rng.uniform(0.5, 2, size=2), 1),
            "momentum": float(rng.choice([0.1, 0.2, 0.3]))}


@question(
    "batchnorm.running_var_choice",
    title="Running variance of batch normalisation",
    parts=[Choice("running_var", "the new running variance", min_options=4)],
    text="""
A batch-normalisation layer with 2 features, momentum {{ momentum }} and running variance
{{ running_var|vec }} receives in training mode the batch (3 samples, one per row)

x = {{ x|matrix }}
""" + CONVENTION + """
Which is its running variance after this step?
""",
)
def running_var_choice(rng: np.random.Generator) -> dict[str, Any]:
    return {"x": _batch(rng), "running_mean": [0.0, 0.0],
            "running_var": np.round(rng.uniform(0.5, 2, size=2), 1),
            "momentum": float(rng.choice([0.1, 0.2, 0.3]))}
