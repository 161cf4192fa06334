"""Answer keys of the backprop exam questions, from its reference and mutants."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from grader.exam.keys import Key, Refs, answers


@answers("backprop.affine_backward")
def affine_backward(p: dict[str, Any], ref: Refs) -> Key:
    x, W, b, dout = (np.array(p[k], dtype=np.float64) for k in ("x", "W", "b", "dout"))

    def grads(m: ModuleType) -> dict[str, Any]:
        _, cache = m.affine_forward(x, W, b)
        _, dW, db = m.affine_backward(dout, cache)
        return {"dW": dW, "db": db}

    return ref.key("backprop", grads, mutants=["dW_transposed", "db_mean"])
