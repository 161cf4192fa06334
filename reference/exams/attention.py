"""Answer keys of the attention exam questions, from its reference, its mutants and torch.nn."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch

from grader.exam.keys import Key, Mistake, Refs, answers


def _t(values: Any) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


@answers("attention.masked_weights")
def masked_weights(p: dict[str, Any], ref: Refs) -> Key:
    mask = torch.tensor(p["mask"], dtype=torch.bool)  # (2, 3), True = may attend

    def values(m: ModuleType) -> dict[str, Any]:
        out, weights = m.scaled_dot_product_attention(_t(p["q"]), _t(p["k"]), _t(p["v"]),
                                                      mask=mask)
        return {"weights": weights, "out": out}

    return ref.key("attention", values,
                   mutants=["mask_inverted", "scale_by_d", "mask_fill_zero",
                            "softmax_wrong_axis"])


@answers("attention.mha_params")
def mha_params(p: dict[str, Any], ref: Refs) -> Key:
    E, heads = p["E"], p["heads"]
    hd = E // heads
    # torch's layer holds the weights the reference's multi_head_attention takes: W_q, W_k, W_v
    # (as in_proj_weight), W_o and their four biases.
    layer = torch.nn.MultiheadAttention(E, heads)
    count = sum(t.numel() for t in layer.parameters())
    return Key({"head_dim": hd, "count": count}, mistakes={
        "per_head_projection": Mistake({"count": 4 * E * hd + 4 * E},
                                       "each projection taken as E × E/h instead of E × E"),
        "no_biases": Mistake({"count": 4 * E * E}, "the four bias vectors left out"),
    })
