"""Answer keys of the gnn exam questions, from its reference and mutants."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch

from grader.exam.keys import Key, Refs, answers


@answers("gnn.message_passing")
def message_passing(p: dict[str, Any], ref: Refs) -> Key:
    x = torch.tensor(p["x"], dtype=torch.float64)[:, None]  # (4, 1)
    edges = torch.tensor([p["src"], p["dst"]], dtype=torch.long)  # (2, E)
    W = torch.tensor([[p["w"]]], dtype=torch.float64)  # (1, 1)

    def outputs(m: ModuleType) -> dict[str, Any]:
        return {a: m.message_passing(x, edges, W, a)[:, 0] for a in ("sum", "mean")}

    return ref.key("gnn", outputs, mutants=["messages_to_source", "mean_by_out_degree",
                                            "duplicates_collapsed"])
