"""Recurrent networks: RNN, LSTM and GRU cells in PyTorch's layout, padded (bi)directional runs."""

from __future__ import annotations

import torch


def rnn_cell(
    x: torch.Tensor,
    h: torch.Tensor,
    W_ih: torch.Tensor,
    W_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
) -> torch.Tensor:
    """One step of an Elman RNN (as torch.nn.RNNCell with tanh).

    h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)

    x: (B, I), h: (B, H), W_ih: (H, I), W_hh: (H, H), b_ih: (H,), b_hh: (H,)
    Returns h': (B, H), same dtype and device as x.
    """
    # TODO: implement rnn_cell.
    raise NotImplementedError("rnn_cell: not implemented yet")


def lstm_cell(
    x: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    W_ih: torch.Tensor,
    W_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of an LSTM (as torch.nn.LSTMCell).

    [i, f, g, o] = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh      (gate blocks of H rows, in this order)
    c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g)
    h' = σ(o) ⊙ tanh(c')

    x: (B, I), h: (B, H), c: (B, H), W_ih: (4H, I), W_hh: (4H, H), b_ih: (4H,), b_hh: (4H,)
    Returns (h', c'): (B, H) each.
    """
    # TODO: implement lstm_cell.
    raise NotImplementedError("lstm_cell: not implemented yet")


def gru_cell(
    x: torch.Tensor,
    h: torch.Tensor,
    W_ih: torch.Tensor,
    W_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
) -> torch.Tensor:
    """One step of a GRU (as torch.nn.GRUCell); gate blocks r, z, n in this order.

    r  = σ(W_ir x + b_ir + W_hr h + b_hr)
    z  = σ(W_iz x + b_iz + W_hz h + b_hz)
    n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    h' = (1 − z) ⊙ n + z ⊙ h

    x: (B, I), h: (B, H), W_ih: (3H, I), W_hh: (3H, H), b_ih: (3H,), b_hh: (3H,)
    Returns h': (B, H).
    """
    # TODO: implement gru_cell.
    raise NotImplementedError("gru_cell: not implemented yet")


def run_rnn(
    x: torch.Tensor,
    h0: torch.Tensor,
    params: dict[str, torch.Tensor],
    cell: str,
    lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a cell over a batch of (padded) sequences, time-major.

    params holds the cell's weights: "W_ih", "W_hh", "b_ih", "b_hh"; cell is "rnn", "lstm" or
    "gru" (anything else: ValueError). For the LSTM, c0 = 0. With lengths, sequence b stops
    updating after lengths[b] steps: outputs[t, b] = 0 for t ≥ lengths[b], and h_T[b] is its
    state after step lengths[b] − 1.

    x: (T, B, I), h0: (B, H), lengths: (B,) int64 with 1 ≤ lengths[b] ≤ T, or None (all T)
    Returns (outputs: (T, B, H), h_T: (B, H)).
    """
    # TODO: implement run_rnn.
    raise NotImplementedError("run_rnn: not implemented yet")


def bidirectional_rnn(
    x: torch.Tensor,
    h0_fwd: torch.Tensor,
    h0_bwd: torch.Tensor,
    params_fwd: dict[str, torch.Tensor],
    params_bwd: dict[str, torch.Tensor],
    cell: str,
    lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run a forward cell and a backward cell; the backward one reads each sequence reversed
    within its own length (x[L−1], …, x[0] for a sequence of length L; padding is never read).

    outputs[t, b] = [forward output at t | backward output at t], both 0 for t ≥ lengths[b].
    h_fwd is the forward state at the last valid step; h_bwd the backward state after time 0.

    x: (T, B, I), h0_fwd: (B, H), h0_bwd: (B, H), lengths: (B,) int64 or None
    Returns (outputs: (T, B, 2H), h_fwd: (B, H), h_bwd: (B, H)).
    """
    # TODO: implement bidirectional_rnn.
    raise NotImplementedError("bidirectional_rnn: not implemented yet")
