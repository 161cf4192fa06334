"""Hidden tests of the rnn topic: cells, padded runs and both directions against the reference."""

from __future__ import annotations

import pytest
import torch

from grader.checks import assert_raises, expect_same

DTYPES = [pytest.param(torch.float64, id="float64"), pytest.param(torch.float32, id="float32")]
CELLS = ["rnn", "lstm", "gru"]
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(g: torch.Generator, *shape: int, dtype: torch.dtype, std: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64).mul_(std).to(dtype)


def _params(g: torch.Generator, cell: str, I: int, H: int, dtype: torch.dtype) -> dict:
    # Every gate block gets its own random weights and biases: identical blocks would hide a
    # swapped gate order, zero biases a misplaced bias.
    k = GATES[cell] * H
    return {
        "W_ih": _randn(g, k, I, dtype=dtype, std=0.7),
        "W_hh": _randn(g, k, H, dtype=dtype, std=0.7),
        "b_ih": _randn(g, k, dtype=dtype, std=0.5),
        "b_hh": _randn(g, k, dtype=dtype, std=0.5),
    }


def _weights(p: dict) -> tuple:
    return p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"]


# ---------------------------------------------------------------------------------------- cells

@pytest.mark.points(1)
@pytest.mark.parametrize("dtype", DTYPES)
def test_rnn_cell(student, reference, seed, dtype):
    g = _gen(seed)
    x, h = _randn(g, 3, 5, dtype=dtype), _randn(g, 3, 4, dtype=dtype)
    expect_same(student, reference, "rnn_cell", x, h, *_weights(_params(g, "rnn", 5, 4, dtype)))


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_cell(student, reference, seed, dtype):
    g = _gen(seed)
    x, h, c = (_randn(g, 4, 3, dtype=dtype), _randn(g, 4, 5, dtype=dtype),
               _randn(g, 4, 5, dtype=dtype))
    expect_same(student, reference, "lstm_cell", x, h, c,
                *_weights(_params(g, "lstm", 3, 5, dtype)), outputs=("h'", "c'"))


@pytest.mark.points(1)
def test_lstm_cell_batch_one_more_inputs_than_units(student, reference, seed):
    g = _gen(seed)
    x, h, c = (_randn(g, 1, 7, dtype=torch.float64), _randn(g, 1, 2, dtype=torch.float64),
               _randn(g, 1, 2, dtype=torch.float64, std=3.0))
    expect_same(student, reference, "lstm_cell", x, h, c,
                *_weights(_params(g, "lstm", 7, 2, torch.float64)), outputs=("h'", "c'"))


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gru_cell(student, reference, seed, dtype):
    g = _gen(seed)
    x, h = _randn(g, 4, 3, dtype=dtype), _randn(g, 4, 5, dtype=dtype)
    expect_same(student, reference, "gru_cell", x, h, *_weights(_params(g, "gru", 3, 5, dtype)))


@pytest.mark.points(1)
def test_gru_cell_batch_one(student, reference, seed):
    g = _gen(seed)
    x, h = _randn(g, 1, 2, dtype=torch.float64), _randn(g, 1, 6, dtype=torch.float64)
    expect_same(student, reference, "gru_cell", x, h,
                *_weights(_params(g, "gru", 2, 6, torch.float64)))


# ------------------------------------------------------------------------------------- sequences

def _sequence(g: torch.Generator, T: int, B: int, I: int, H: int, dtype: torch.dtype):
    return _randn(g, T, B, I, dtype=dtype), _randn(g, B, H, dtype=dtype, std=0.5)


# Unequal lengths in no particular order: full length, length 1, and two in between.
LENGTHS = torch.tensor([4, 7, 1, 5])


@pytest.mark.points(1)
@pytest.mark.parametrize("cell", CELLS)
def test_run_rnn_full_length(student, reference, seed, cell):
    g = _gen(seed)
    x, h0 = _sequence(g, 6, 3, 4, 5, torch.float64)
    expect_same(student, reference, "run_rnn", x, h0, _params(g, cell, 4, 5, torch.float64), cell,
                outputs=("outputs", "h_T"))


@pytest.mark.points(2)
@pytest.mark.parametrize("cell", CELLS)
def test_run_rnn_unequal_lengths(student, reference, seed, cell):
    g = _gen(seed)
    x, h0 = _sequence(g, 7, 4, 3, 5, torch.float64)
    expect_same(student, reference, "run_rnn", x, h0, _params(g, cell, 3, 5, torch.float64), cell,
                lengths=LENGTHS, outputs=("outputs", "h_T"))


@pytest.mark.points(1)
@pytest.mark.parametrize("cell", CELLS)
def test_run_rnn_float32_with_lengths(student, reference, seed, cell):
    g = _gen(seed)
    x, h0 = _sequence(g, 7, 4, 3, 5, torch.float32)
    expect_same(student, reference, "run_rnn", x, h0, _params(g, cell, 3, 5, torch.float32), cell,
                lengths=LENGTHS, outputs=("outputs", "h_T"))


@pytest.mark.points(1)
def test_run_rnn_batch_one_single_step(student, reference, seed):
    g = _gen(seed)
    x, h0 = _sequence(g, 1, 1, 3, 2, torch.float64)
    expect_same(student, reference, "run_rnn", x, h0, _params(g, "lstm", 3, 2, torch.float64),
                "lstm", lengths=torch.tensor([1]), outputs=("outputs", "h_T"))


@pytest.mark.points(1)
def test_run_rnn_rejects_unknown_cell(student, seed):
    g = _gen(seed)
    x, h0 = _sequence(g, 2, 1, 3, 2, torch.float64)
    assert_raises("ValueError", student.run_rnn, x, h0, _params(g, "rnn", 3, 2, torch.float64),
                  "elman", name="run_rnn(..., cell='elman')")


@pytest.mark.points(1)
@pytest.mark.parametrize("cell", CELLS)
def test_bidirectional_rnn_full_length(student, reference, seed, cell):
    g = _gen(seed)
    x, h0_f = _sequence(g, 5, 3, 4, 3, torch.float64)
    h0_b = _randn(g, 3, 3, dtype=torch.float64, std=0.5)
    expect_same(student, reference, "bidirectional_rnn", x, h0_f, h0_b,
                _params(g, cell, 4, 3, torch.float64), _params(g, cell, 4, 3, torch.float64), cell,
                outputs=("outputs", "h_fwd", "h_bwd"))


@pytest.mark.points(2)
@pytest.mark.parametrize("cell", CELLS)
def test_bidirectional_rnn_unequal_lengths(student, reference, seed, cell):
    g = _gen(seed)
    x, h0_f = _sequence(g, 7, 4, 3, 4, torch.float64)
    h0_b = _randn(g, 4, 4, dtype=torch.float64, std=0.5)
    expect_same(student, reference, "bidirectional_rnn", x, h0_f, h0_b,
                _params(g, cell, 3, 4, torch.float64), _params(g, cell, 3, 4, torch.float64), cell,
                lengths=LENGTHS, outputs=("outputs", "h_fwd", "h_bwd"))


@pytest.mark.points(1)
def test_bidirectional_rnn_float32_with_lengths(student, reference, seed):
    g = _gen(seed)
    x, h0_f = _sequence(g, 7, 4, 2, 3, torch.float32)
    h0_b = _randn(g, 4, 3, dtype=torch.float32, std=0.5)
    expect_same(student, reference, "bidirectional_rnn", x, h0_f, h0_b,
                _params(g, "gru", 2, 3, torch.float32), _params(g, "gru", 2, 3, torch.float32),
                "gru", lengths=LENGTHS, outputs=("outputs", "h_fwd", "h_bwd"))
