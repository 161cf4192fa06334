"""Answer keys of the linear_regression exam questions, from its reference and mutants."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.keys import Key, Refs, answers


@answers("linear_regression.least_squares")
def least_squares(p: dict[str, Any], ref: Refs) -> Key:
    x = np.array(p["x"], dtype=np.float64)  # (n,)
    y = np.array(p["y"], dtype=np.float64)  # (n,)
    return ref.key("linear_regression",
                   lambda m: dict(zip(("a", "b"), m.fit_univariate(x, y))),
                   mutants=["univariate_through_origin", "univariate_mixed_ddof"])


@answers("linear_regression.gradient_step")
def gradient_step(p: dict[str, Any], ref: Refs) -> Key:
    X = np.array(p["X"], dtype=np.float64)  # (3, 2)
    y = np.array(p["y"], dtype=np.float64)  # (3,)
    w = np.array(p["w"], dtype=np.float64)  # (2,)
    return ref.key("linear_regression",
                   lambda m: dict(zip(("w", "b"), m.gradient_step(X, y, w, p["b"], p["lr"]))),
                   mutants=["gradient_missing_factor_two", "gradient_sum_not_mean"])
