"""Answer keys of the autograd exam questions, from its reference and mutants."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from grader.exam.keys import Key, Refs, answers

# u = x·y (slot 2), v = u + x (slot 3), f = u·v (slot 4): f's operands are (u, v) in that order.
PROGRAM = [["mul", 0, 1], ["add", 2, 0], ["mul", 2, 3]]


@answers("autograd.shared_node")
def shared_node(p: dict[str, Any], ref: Refs) -> Key:
    def values(m: ModuleType) -> dict[str, Any]:
        f, (dx, dy) = m.run_program(PROGRAM, [np.array(float(p["x"])), np.array(float(p["y"]))])
        return {"f": float(f), "dx": float(dx), "dy": float(dy)}

    return ref.key("autograd", values, mutants=["grad_assigned_not_added", "breadth_first_order"])
