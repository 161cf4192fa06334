"""Answer keys of the gaussian_classifier exam questions, from its reference and mutants."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from grader.exam.keys import Key, Refs, answers


@answers("gaussian_classifier.mle")
def mle(p: dict[str, Any], ref: Refs) -> Key:
    points = np.array(p["points"], dtype=np.float64)  # (n, 3): two features and the class
    X, y = points[:, :2], points[:, 2].astype(np.int64)

    def values(m: ModuleType) -> dict[str, Any]:
        mu1, mu0, sigma, n1, n0 = m.fit_gaussian(X, y)
        w, b = m.linear_form(mu1, mu0, sigma, n1, n0)
        return {"mu1": mu1, "mu0": mu0, "sigma": sigma, "w": w, "b": b}

    return ref.key("gaussian_classifier", values, mutants=[
        "unbiased_class_covariance", "unweighted_covariance", "total_covariance",
        "no_prior_term", "prior_ratio_flipped", "means_swapped"])
