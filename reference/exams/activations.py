"""Answer keys of the activations exam questions, from its reference and mutants."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from grader.exam.keys import Key, Refs, answers


@answers("activations.derivatives")
def derivatives(p: dict[str, Any], ref: Refs) -> Key:
    x = np.array(p["x"], dtype=np.float64)  # (3,)

    def grads(m: ModuleType) -> dict[str, Any]:
        return {"relu": m.relu_grad(x), "leaky": m.leaky_relu_grad(x, slope=p["slope"]),
                "sigmoid": m.sigmoid_grad(x)}

    return ref.key("activations", grads, mutants=[
        "relu_grad_one_at_zero", "leaky_grad_one_at_zero", "leaky_grad_fixed_slope",
        "sigmoid_grad_of_input"])
