"""Answer keys of the rnn exam questions, from its reference, its mutants and torch.nn."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch

from grader.exam.keys import Key, Refs, answers


def _t(values: Any) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


@answers("rnn.lstm_step")
def lstm_step(p: dict[str, Any], ref: Refs) -> Key:
    x = _t([p["x"]])  # (1, 2)
    h, c = _t([[p["h"]]]), _t([[p["c"]]])  # (1, 1) each

    def step(m: ModuleType) -> dict[str, float]:
        h1, c1 = m.lstm_cell(x, h, c, _t(p["W_ih"]), _t(p["W_hh"]), _t(p["b_ih"]),
                             torch.zeros(4, dtype=torch.float64))
        return {"c": float(c1[0, 0]), "h": float(h1[0, 0])}

    return ref.key("rnn", step, mutants=["lstm_gate_order_ifog"])


@answers("rnn.gru_choice")
def gru_choice(p: dict[str, Any], ref: Refs) -> Key:
    x = _t([p["x"]])  # (1, 2)
    h = _t([[p["h"]]])  # (1, 1)
    return ref.key("rnn", lambda m: {"h": float(m.gru_cell(
        x, h, _t(p["W_ih"]), _t(p["W_hh"]), _t(p["b_ih"]), _t(p["b_hh"]))[0, 0])},
        mutants=["gru_lecture_convention", "gru_reset_before_matmul"])


def _count(module: torch.nn.Module) -> int:
    return sum(t.numel() for t in module.parameters())


@answers("rnn.param_count")
def param_count(p: dict[str, Any], ref: Refs) -> Key:
    I, H = p["I"], p["H"]
    # torch.nn's layers have exactly the weights the reference cells take (W_ih, W_hh, b_ih, b_hh).
    lstm, gru = _count(torch.nn.LSTM(I, H)), _count(torch.nn.GRU(I, H))
    return ref.key("rnn", lambda m: {"lstm": lstm, "gru": gru}, classic={
        "one_bias": ({"lstm": lstm - 4 * H, "gru": gru - 3 * H},
                     "one bias vector per gate instead of PyTorch's two (b_ih and b_hh)"),
        "gates_swapped": ({"lstm": 3 * H * (I + H) + 6 * H, "gru": 4 * H * (I + H) + 8 * H},
                          "three gates counted for the LSTM and four for the GRU"),
    })
