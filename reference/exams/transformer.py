"""Answer keys of the transformer exam questions, from its reference, its mutants and torch.nn."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch

from grader.exam.keys import Key, Mistake, Refs, answers


@answers("transformer.positional_encoding")
def positional_encoding(p: dict[str, Any], ref: Refs) -> Key:
    zeros = torch.zeros(max(p["p"]) + 1, p["d"], dtype=torch.float64)

    def values(m: ModuleType) -> dict[str, Any]:
        pe = m.add_positional_encoding(zeros)
        return {"values": [float(pe[pos, j]) for pos, j in zip(p["p"], p["j"])]}

    return ref.key("transformer", values, mutants=["sin_cos_swapped", "frequency_per_dimension"])


@answers("transformer.param_count")
def param_count(p: dict[str, Any], ref: Refs) -> Key:
    E, F = p["E"], p["F"]
    layer = torch.nn.TransformerEncoderLayer(E, p["heads"], F)
    count = sum(t.numel() for t in layer.parameters())
    return Key({"count": count}, mistakes={
        "norms_left_out": Mistake({"count": count - 4 * E},
                                  "the two layer norms' scales and shifts left out"),
        "one_linear": Mistake({"count": count - (E * F + E)},
                              "the feed-forward network counted as one linear layer"),
        "no_biases": Mistake({"count": count - (4 * E + F + E)},
                             "the projections' and linear layers' biases left out"),
    })
