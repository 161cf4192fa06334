"""Exam questions on graph networks: sum and mean message passing on a small graph."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array


@question(
    "gnn.message_passing",
    title="Message passing",
    parts=[Array("sum", "sum aggregation (4 values)", shape=(4,)),
           Array("mean", "mean aggregation (4 values)", shape=(4,))],
    text="""
A graph has 4 nodes, numbered 0 to 3, and the directed edges (source → destination)

{{ edges_text }}

(an edge listed twice sends two messages). Each node has one feature,
x = {{ x|vec }} for nodes 0 to 3, and the layer's weight is W = {{ w }}. Node i receives
the message xⱼ·W along every edge j → i, and its output aggregates the messages it receives;
a node that receives none outputs 0.

Give the outputs of the four nodes with sum aggregation and with mean aggregation.
""",
)
def message_passing(rng: np.random.Generator) -> dict[str, Any]:
    while True:
        src = rng.integers(0, 4, size=5)
        dst = rng.integers(0, 4, size=5)
        ok = src != dst
        if ok.all() and len(set(zip(src.tolist(), dst.tolist()))) == 4 \
                and len(set(dst.tolist())) == 3:
            break  # one duplicate edge, one node receiving nothing
    x = rng.integers(-3, 4, size=4)
    edges = ", ".join(f"{s} → {d}" for s, d in zip(src.tolist(), dst.tolist()))
    return {"src": src, "dst": dst, "x": x, "w": float(rng.choice([2, -1, 0.5, 1.5])),
            "edges_text": edges}
