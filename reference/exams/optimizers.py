"""Answer keys of the optimizers exam questions, from its reference and mutants."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from grader.exam.keys import Key, Refs, answers


def _a(values: list[float]) -> np.ndarray:
    return np.array(values, dtype=np.float64)


@answers("optimizers.adam_step")
def adam_step(p: dict[str, Any], ref: Refs) -> Key:
    def step(m: ModuleType) -> dict[str, Any]:
        w, state = m.adam(_a(p["w"]), _a(p["g"]), {}, p["lr"], beta1=p["beta1"],
                          beta2=p["beta2"])
        return {"m": state["m"], "v": state["v"], "w": w}

    return ref.key("optimizers", step,
                   mutants=["adam_no_bias_correction", "adam_step_off_by_one"])


@answers("optimizers.momentum_choice")
def momentum_choice(p: dict[str, Any], ref: Refs) -> Key:
    return ref.key(
        "optimizers",
        lambda m: {"w": m.sgd_momentum(_a(p["w"]), _a(p["g"]), {"v": _a(p["v"])}, p["lr"],
                                       momentum=p["mu"])[0]},
        mutants=["momentum_dampened", "momentum_stale_velocity", "momentum_lr_in_velocity"])


@answers("optimizers.rmsprop_step")
def rmsprop_step(p: dict[str, Any], ref: Refs) -> Key:
    def step(m: ModuleType) -> dict[str, Any]:
        w, state = m.rmsprop(_a(p["w"]), _a(p["g"]), {"s": _a(p["s"])}, p["lr"], rho=p["rho"])
        return {"s": state["s"], "w": w}

    return ref.key("optimizers", step,
                   mutants=["rmsprop_no_one_minus_rho", "rmsprop_rho_swapped"])
