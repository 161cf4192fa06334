"""Cross-checks the rnn reference against torch's RNN/LSTM/GRU cells and packed nn modules."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

ROOT = Path(__file__).resolve().parents[1]


def _load_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "rnn_reference", ROOT / "reference/rnn/solution.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()

CELLS = {"rnn": (nn.RNNCell, nn.RNN), "lstm": (nn.LSTMCell, nn.LSTM), "gru": (nn.GRUCell, nn.GRU)}
TOL = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-12},
    torch.float32: {"rtol": 1e-5, "atol": 1e-6},
}


def _cell_params(module: nn.Module, suffix: str = "") -> dict[str, torch.Tensor]:
    torch_names = {"W_ih": "weight_ih", "W_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh"}
    return {ours: getattr(module, theirs + suffix).detach() for ours, theirs in torch_names.items()}


def _randomise(module: nn.Module) -> None:
    # Default init draws every gate block from one range; wider independent draws per gate
    # make a wrong gate layout visible.
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_cells_match_torch(cell: str, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    B, I, H = 3, 5, 4
    module = CELLS[cell][0](I, H).to(dtype)
    _randomise(module)
    x = torch.randn(B, I, dtype=dtype)
    h = torch.randn(B, H, dtype=dtype)
    p = _cell_params(module)
    with torch.no_grad():
        if cell == "lstm":
            c = torch.randn(B, H, dtype=dtype)
            h_exp, c_exp = module(x, (h, c))
            h_got, c_got = ref.lstm_cell(x, h, c, p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"])
            torch.testing.assert_close(c_got, c_exp, **TOL[dtype])
        else:
            h_exp = module(x, h)
            fn = ref.rnn_cell if cell == "rnn" else ref.gru_cell
            h_got = fn(x, h, p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"])
    torch.testing.assert_close(h_got, h_exp, **TOL[dtype])


def _torch_run(
    module: nn.Module, x: torch.Tensor, h0: torch.Tensor, lengths: torch.Tensor, cell: str
) -> tuple[torch.Tensor, torch.Tensor]:
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    state = (h0, torch.zeros_like(h0)) if cell == "lstm" else h0
    with torch.no_grad():
        out, h_n = module(packed, state)
    if cell == "lstm":
        h_n = h_n[0]
    padded, _ = pad_packed_sequence(out, total_length=x.shape[0])
    return padded, h_n


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_run_rnn_matches_packed_torch(cell: str, dtype: torch.dtype) -> None:
    torch.manual_seed(1)
    T, B, I, H = 7, 4, 3, 5
    module = CELLS[cell][1](I, H).to(dtype)
    _randomise(module)
    x = torch.randn(T, B, I, dtype=dtype)
    h0 = torch.randn(B, H, dtype=dtype)
    lengths = torch.tensor([7, 2, 5, 1])
    exp_out, exp_h = _torch_run(module, x, h0.unsqueeze(0), lengths, cell)
    got_out, got_h = ref.run_rnn(x, h0, _cell_params(module, "_l0"), cell, lengths)
    torch.testing.assert_close(got_out, exp_out, **TOL[dtype])
    torch.testing.assert_close(got_h, exp_h[0], **TOL[dtype])
    # Without lengths every sequence runs to T.
    full_out, full_h = _torch_run(module, x, h0.unsqueeze(0), torch.full((B,), T), cell)
    got_out, got_h = ref.run_rnn(x, h0, _cell_params(module, "_l0"), cell)
    torch.testing.assert_close(got_out, full_out, **TOL[dtype])
    torch.testing.assert_close(got_h, full_h[0], **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_bidirectional_matches_packed_torch(cell: str, dtype: torch.dtype) -> None:
    torch.manual_seed(2)
    T, B, I, H = 6, 3, 4, 2
    module = CELLS[cell][1](I, H, bidirectional=True).to(dtype)
    _randomise(module)
    x = torch.randn(T, B, I, dtype=dtype)
    h0 = torch.randn(2, B, H, dtype=dtype)
    for lengths in (torch.tensor([3, 6, 1]), torch.full((B,), T)):
        exp_out, exp_h = _torch_run(module, x, h0, lengths, cell)
        got_out, got_f, got_b = ref.bidirectional_rnn(
            x,
            h0[0],
            h0[1],
            _cell_params(module, "_l0"),
            _cell_params(module, "_l0_reverse"),
            cell,
            lengths,
        )
        torch.testing.assert_close(got_out, exp_out, **TOL[dtype])
        torch.testing.assert_close(got_f, exp_h[0], **TOL[dtype])
        torch.testing.assert_close(got_b, exp_h[1], **TOL[dtype])


def test_run_rnn_rejects_an_unknown_cell() -> None:
    x, h0 = torch.zeros(2, 1, 3), torch.zeros(1, 2)
    with pytest.raises(ValueError, match="cell"):
        ref.run_rnn(x, h0, {}, "transformer")
