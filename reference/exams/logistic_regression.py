"""Answer keys of the logistic_regression exam questions, from its reference and mutants."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from grader.exam.keys import Key, Refs, answers


@answers("logistic_regression.softmax_ce")
def softmax_ce(p: dict[str, Any], ref: Refs) -> Key:
    Z = np.array(p["Z"], dtype=np.float64)  # (2, 3)
    y = np.array(p["y"], dtype=np.int64)  # (2,)

    def values(m: ModuleType) -> dict[str, Any]:
        loss, dZ = m.softmax_cross_entropy(Z, y)
        return {"probs": m.softmax(Z), "loss": loss, "dZ": dZ}

    return ref.key("logistic_regression", values,
                   mutants=["softmax_wrong_axis", "ce_grad_not_averaged"])


@answers("logistic_regression.bce_grad")
def bce_grad(p: dict[str, Any], ref: Refs) -> Key:
    X = np.array(p["X"], dtype=np.float64)  # (3, 2)
    y = np.array(p["y"], dtype=np.float64)  # (3,)
    w = np.array(p["w"], dtype=np.float64)  # (2,)

    def values(m: ModuleType) -> dict[str, Any]:
        dw, db = m.bce_grad(X, y, w, p["b"])
        return {"loss": m.bce_loss(X, y, w, p["b"]), "dw": dw, "db": db}

    return ref.key("logistic_regression", values, mutants=["grad_not_averaged"])
