"""Exam questions on attention: masked scaled dot-product weights, parameters of multi-head attention."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array, Integer


@question(
    "attention.masked_weights",
    title="Masked attention weights",
    parts=[Array("weights", "the attention weights, 2 × 3", shape=(2, 3)),
           Array("out", "the output, 2 × 2", shape=(2, 2))],
    text="""
Scaled dot-product attention, softmax(q kᵀ/√d) v with d = 2, has two queries and three keys
(one per row):

q = {{ q|matrix }}, k = {{ k|matrix }}, v = {{ v|matrix }}.

The mask allows query i to attend to key j where it holds 1 (and hides the key where it
holds 0):

{{ mask|table(["query 1", "query 2"], ["key 1", "key 2", "key 3"]) }}

Give the attention weights (one row per query) and the output.
""",
)
def masked_weights(rng: np.random.Generator) -> dict[str, Any]:
    while True:
        mask = rng.random((2, 3)) < 0.6
        # Each query sees at least one key, and at least one key is hidden.
        if mask.any(axis=1).all() and not mask.all():
            break
    return {"q": np.round(rng.uniform(-2, 2, size=(2, 2)), 1),
            "k": np.round(rng.uniform(-2, 2, size=(3, 2)), 1),
            "v": np.round(rng.uniform(-2, 2, size=(3, 2)), 1), "mask": mask.astype(np.int64)}


@question(
    "attention.mha_params",
    title="Parameters of multi-head attention",
    parts=[Integer("head_dim", "the size of each head"),
           Integer("count", "the number of parameters")],
    text="""
`torch.nn.MultiheadAttention(embed_dim={{ E }}, num_heads={{ heads }})` projects queries, keys
and values with E × E weight matrices and biases and splits the result into heads, then
applies an output projection (an E × E matrix and a bias).

What is the size of each head, and how many trainable parameters does the layer have?
""",
)
def mha_params(rng: np.random.Generator) -> dict[str, Any]:
    E = 8 * int(rng.integers(2, 129))  # 16 … 1024
    heads = int(rng.choice([h for h in (2, 3, 4, 6, 8, 12, 16) if E % h == 0 and E // h >= 4]))
    return {"E": E, "heads": heads}
