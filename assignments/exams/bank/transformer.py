"""Exam questions on the Transformer: sinusoidal positional encodings, parameters of an encoder
layer."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array, Integer


@question(
    "transformer.positional_encoding",
    title="Sinusoidal positional encodings",
    parts=[Array("values", "the three entries, in the order asked", shape=(3,))],
    text="""
The Transformer adds to the word vector at position p (counted from 0) the encoding

PE[p, 2i] = sin(p / 10000^(2i/d)),  PE[p, 2i+1] = cos(p / 10000^(2i/d)),

with d = {{ d }} the model's size and dimensions counted from 0 (angles in radians).

Give PE[{{ p[0] }}, {{ j[0] }}], PE[{{ p[1] }}, {{ j[1] }}] and PE[{{ p[2] }}, {{ j[2] }}].
""",
)
def positional_encoding(rng: np.random.Generator) -> dict[str, Any]:
    d = int(rng.choice([8, 16, 32, 64]))
    p = rng.integers(1, 40, size=3)
    # An even dimension, an odd one and a second even or odd one, none of them 0 or 1.
    j = [2 * int(rng.integers(1, d // 2)), 2 * int(rng.integers(1, d // 2)) + 1,
         int(rng.integers(2, d))]
    return {"d": d, "p": p, "j": j}


@question(
    "transformer.param_count",
    title="Parameters of an encoder layer",
    parts=[Integer("count", "the number of parameters")],
    text="""
`torch.nn.TransformerEncoderLayer(d_model={{ E }}, nhead={{ heads }}, dim_feedforward={{ F }})`
holds a multi-head self-attention (query, key and value projections of E × E with biases, and an
E × E output projection with a bias), a feed-forward network of two linear layers
(E → {{ F }} → E, with biases) and two layer norms (a scale and a shift each).

How many trainable parameters does it have?
""",
)
def param_count(rng: np.random.Generator) -> dict[str, Any]:
    E = 8 * int(rng.integers(2, 65))  # 16 … 512
    heads = int(rng.choice([h for h in (2, 4, 8) if E % h == 0]))
    return {"E": E, "heads": heads, "F": int(rng.choice([2, 4])) * E}
