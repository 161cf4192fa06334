"""Answer keys of the regularization exam questions, from its reference and mutants."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from grader.exam.keys import Key, Refs, answers


@answers("regularization.dropout")
def dropout(p: dict[str, Any], ref: Refs) -> Key:
    x = np.array(p["x"], dtype=np.float64)  # (6,)
    u = np.array(p["u"], dtype=np.float64)  # (6,)
    return ref.key("regularization", lambda m: {"out": m.dropout_forward(x, p["p"], True, u)[0]},
                   mutants=["dropout_divides_by_p", "dropout_keep_probability",
                            "dropout_strict_inequality"])


def uniform_bound(m: ModuleType, fan_in: int, fan_out: int) -> float:
    """The bound a of ``m.xavier_uniform``, read off its draw.

    A seeded ``Generator.uniform(-a, a)`` returns −a + 2a·u for the same seed's ``random()``
    stream u, so every entry gives a back exactly; entries that disagree mean the function does
    not draw U(−a, a) at all.
    """
    W = m.xavier_uniform(fan_in, fan_out, 0)  # (fan_in, fan_out)
    u = np.random.default_rng(0).random(W.shape)  # (fan_in, fan_out)
    scale = 2 * u - 1
    i = np.unravel_index(np.argmax(np.abs(scale)), W.shape)
    a = float(W[i] / scale[i])
    if not np.allclose(W, a * scale, rtol=1e-9, atol=0):
        raise ValueError("not a seeded uniform draw")
    return a


@answers("regularization.xavier_choice")
def xavier_choice(p: dict[str, Any], ref: Refs) -> Key:
    def values(m: ModuleType) -> dict[str, float]:
        a = uniform_bound(m, p["fan_in"], p["fan_out"])
        return {"bound": a, "variance": a * a / 3}  # the variance of U(−a, a)

    return ref.key("regularization", values, mutants=["xavier_he_bound", "xavier_normal_bound"])
