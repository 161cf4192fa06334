"""Answer keys of the batchnorm exam questions, computed by the batchnorm reference and mutants."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from grader.exam.keys import Key, Refs, answers


def _step(bn: ModuleType, p: dict[str, Any], momentum: float | None = None) -> tuple[Any, ...]:
    x = np.array(p["x"], dtype=np.float64)  # (3, 2)
    D = x.shape[1]
    gamma = np.array(p.get("gamma", [1.0] * D), dtype=np.float64)
    beta = np.array(p.get("beta", [0.0] * D), dtype=np.float64)
    out, mean, var, _ = bn.batchnorm_forward(
        x, gamma, beta, np.array(p["running_mean"], dtype=np.float64),
        np.array(p["running_var"], dtype=np.float64), True,
        momentum=p["momentum"] if momentum is None else momentum)
    return out, mean, var


@answers("batchnorm.forward_train")
def forward_train(p: dict[str, Any], ref: Refs) -> Key:
    def step(bn: ModuleType) -> dict[str, Any]:
        out, mean, var = _step(bn, p)
        return {"out": out, "running_mean": mean, "running_var": var}

    return ref.key("batchnorm", step,
                   mutants=["unbiased_normalisation", "biased_running_var", "momentum_swapped"])


@answers("batchnorm.running_var_choice")
def running_var_choice(p: dict[str, Any], ref: Refs) -> Key:
    solution = ref.solution("batchnorm")
    return ref.key(
        "batchnorm", lambda bn: {"running_var": _step(bn, p)[2]},
        mutants=["biased_running_var", "momentum_swapped"],
        # momentum 1: the running variance becomes the batch's unbiased variance.
        classic={"no_running_average": ({"running_var": _step(solution, p, momentum=1.0)[2]},
                                        "the running variance replaced by the batch variance")})
