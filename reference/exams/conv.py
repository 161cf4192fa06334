"""Answer keys of the conv exam questions, computed by the conv reference and its mutants."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from grader.exam.keys import Key, Refs, answers


@answers("conv.output_size")
def output_size(p: dict[str, Any], ref: Refs) -> Key:
    def sizes(conv: ModuleType, one_side: bool = False) -> dict[str, int]:
        # Padding on one side only is the input grown by p with no padding.
        pad = 0 if one_side else p["padding"]
        grow = p["padding"] if one_side else 0
        return {"height": conv.conv_output_size(p["H"] + grow, p["KH"], p["stride"], pad,
                                                p["dilation"]),
                "width": conv.conv_output_size(p["W"] + grow, p["KW"], p["stride"], pad,
                                               p["dilation"])}

    solution = ref.solution("conv")
    return ref.key("conv", sizes, mutants=["ceil_size"], classic={
        "padding_one_side": (sizes(solution, one_side=True),
                             "padding counted on one side only (n + p instead of n + 2p)")})


@answers("conv.conv2d_forward")
def conv2d_forward(p: dict[str, Any], ref: Refs) -> Key:
    x = np.array(p["x"], dtype=np.float64)[None, None]  # (1, 1, 4, 4)
    w = np.array(p["w"], dtype=np.float64)[None, None]  # (1, 1, 2, 2)
    b = np.array([p["b"]], dtype=np.float64)  # (1,)
    return ref.key("conv", lambda conv: {
        "out": conv.conv2d_forward(x, w, b, stride=p["stride"], pad=p["pad"])[0][0, 0]},
        mutants=["true_convolution"])


@answers("conv.max_pool_backward")
def max_pool_backward(p: dict[str, Any], ref: Refs) -> Key:
    x = np.array(p["x"], dtype=np.float64)[None, None]  # (1, 1, 3, 3)
    dout = np.array(p["dout"], dtype=np.float64)[None, None]  # (1, 1, 2, 2)

    def dx(conv: ModuleType) -> dict[str, Any]:
        _, cache = conv.max_pool_forward(x, 2, 1)
        return {"dx": conv.max_pool_backward(dout, cache)[0, 0]}

    return ref.key("conv", dx, mutants=["overlap_overwrites", "tie_to_every_max"])
