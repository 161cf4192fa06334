"""Exam questions on recurrent networks: one LSTM step, one GRU step, parameter counts."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Choice, Integer, Number


def _small(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.round(rng.uniform(-1, 1, size=shape), 1)


@question(
    "rnn.lstm_step",
    title="One step of an LSTM",
    parts=[Number("c", "the new cell state c′"), Number("h", "the new hidden state h′")],
    text="""
An LSTM cell with input size 2 and hidden size 1 follows `torch.nn.LSTMCell`: the rows of
its weights are the gates in the order i, f, g, o, and

i = σ(·), f = σ(·), g = tanh(·), o = σ(·), c′ = f·c + i·g, h′ = o·tanh(c′),

each gate's argument being W_ih x + W_hh h + b. Its weights (bias b_hh = 0) are

W_ih = {{ W_ih|matrix }}, W_hh = {{ W_hh|matrix }}, b_ih = {{ b_ih|vec }}.

With input x = {{ x|vec }}, hidden state h = {{ h }} and cell state c = {{ c }}, give c′ and h′.
""",
)
def lstm_step(rng: np.random.Generator) -> dict[str, Any]:
    return {"W_ih": _small(rng, (4, 2)), "W_hh": _small(rng, (4, 1)), "b_ih": _small(rng, (4,)),
            "x": np.round(rng.uniform(-2, 2, size=2), 1),
            "h": round(float(rng.uniform(-1, 1)), 1), "c": round(float(rng.uniform(-1, 1)), 1)}


@question(
    "rnn.gru_choice",
    title="One step of a GRU",
    parts=[Choice("h", "the new hidden state h′", min_options=3)],
    text="""
A GRU cell with input size 2 and hidden size 1 follows `torch.nn.GRUCell`: the rows of its
weights are r, z, n, and

r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
n = tanh(W_in x + b_in + r·(W_hn h + b_hn)), h′ = (1 − z)·n + z·h.

Its weights are

W_ih = {{ W_ih|matrix }}, W_hh = {{ W_hh|matrix }}, b_ih = {{ b_ih|vec }},
b_hh = {{ b_hh|vec }}.

With input x = {{ x|vec }} and hidden state h = {{ h }}, which is h′?
""",
)
def gru_choice(rng: np.random.Generator) -> dict[str, Any]:
    b_hh = _small(rng, (3,))
    b_hh[2] = float(rng.choice([-1, 1])) * round(float(rng.uniform(0.3, 1)), 1)
    return {"W_ih": _small(rng, (3, 2)), "W_hh": _small(rng, (3, 1)), "b_ih": _small(rng, (3,)),
            "b_hh": b_hh, "x": np.round(rng.uniform(-2, 2, size=2), 1),
            "h": round(float(rng.uniform(-1, 1)), 1)}


@question(
    "rnn.param_count",
    title="Parameters of recurrent layers",
    parts=[Integer("lstm", "parameters of the LSTM"), Integer("gru", "parameters of the GRU")],
    text="""
How many trainable parameters do `torch.nn.LSTM(input_size={{ I }}, hidden_size={{ H }})` and
`torch.nn.GRU(input_size={{ I }}, hidden_size={{ H }})` have (one layer each, with PyTorch's
two bias vectors b_ih and b_hh)?
""",
)
def param_count(rng: np.random.Generator) -> dict[str, Any]:
    return {"I": int(rng.integers(2, 129)), "H": int(rng.integers(2, 257))}
