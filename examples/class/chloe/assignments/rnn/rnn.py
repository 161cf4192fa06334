"""Mutant: LSTM gates read in the CS231n order i, f, o, g instead of i, f, g, o."""

# expect: lstm_cell

from __future__ import annotations

import torch

Params = dict[str, torch.Tensor]


def rnn_cell(
    x: torch.Tensor,
    h: torch.Tensor,
    W_ih: torch.Tensor,
    W_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
) -> torch.Tensor:
    """Elman cell: h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh).

    x: (B, I), h: (B, H), W_ih: (H, I), W_hh: (H, H), b_ih, b_hh: (H,) → h': (B, H).
    """
    return torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)  # (B, H)


def lstm_cell(
    x: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    W_ih: torch.Tensor,
    W_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """LSTM cell with gate rows in the order i, f, g, o (torch.nn.LSTMCell).

    x: (B, I), h, c: (B, H), W_ih: (4H, I), W_hh: (4H, H), b_ih, b_hh: (4H,)
    → (h', c'): (B, H) each.
    """
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh  # (B, 4H)
    i, f, o, g = gates.chunk(4, dim=1)  # (B, H) each
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # (B, H)
    h_next = torch.sigmoid(o) * torch.tanh(c_next)  # (B, H)
    return h_next, c_next


def gru_cell(
    x: torch.Tensor,
    h: torch.Tensor,
    W_ih: torch.Tensor,
    W_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
) -> torch.Tensor:
    """GRU cell with gate rows r, z, n (torch.nn.GRUCell).

    r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h.
    x: (B, I), h: (B, H), W_ih: (3H, I), W_hh: (3H, H), b_ih, b_hh: (3H,) → h': (B, H).
    """
    gi = x @ W_ih.T + b_ih  # (B, 3H)
    gh = h @ W_hh.T + b_hh  # (B, 3H)
    i_r, i_z, i_n = gi.chunk(3, dim=1)  # (B, H) each
    h_r, h_z, h_n = gh.chunk(3, dim=1)  # (B, H) each
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    # The reset gate scales the recurrent term after its matmul and bias, as cuDNN and torch do.
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h  # (B, H)


def _step(
    cell: str, x_t: torch.Tensor, state: tuple[torch.Tensor, ...], p: Params
) -> tuple[torch.Tensor, ...]:
    """One time step of the named cell; the state is (h,) or (h, c) for the LSTM."""
    if cell == "rnn":
        return (rnn_cell(x_t, state[0], p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"]),)
    if cell == "gru":
        return (gru_cell(x_t, state[0], p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"]),)
    return lstm_cell(x_t, state[0], state[1], p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"])


def run_rnn(
    x: torch.Tensor,
    h0: torch.Tensor,
    params: Params,
    cell: str,
    lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a cell over a (padded) batch of sequences.

    x: (T, B, I), h0: (B, H), lengths: (B,) ints in 1..T or None → outputs: (T, B, H), h_T: (B, H).
    A sequence stops updating after its length: its outputs past the end are 0 and h_T is its
    state at its last valid step. The LSTM's c0 is zero.
    """
    if cell not in ("rnn", "lstm", "gru"):
        raise ValueError(f"run_rnn: cell must be 'rnn', 'lstm' or 'gru', got {cell!r}")
    T, B = x.shape[0], x.shape[1]
    state: tuple[torch.Tensor, ...] = (h0,) if cell != "lstm" else (h0, torch.zeros_like(h0))
    if lengths is None:
        lengths_t = torch.full((B,), T, dtype=torch.long, device=x.device)
    else:
        lengths_t = torch.as_tensor(lengths, dtype=torch.long, device=x.device)  # (B,)
    outputs = []
    for t in range(T):
        new = _step(cell, x[t], state, params)
        alive = (t < lengths_t).unsqueeze(1)  # (B, 1)
        # Finished sequences keep their last state, so h_T is read off after the loop.
        state = tuple(torch.where(alive, n, s) for n, s in zip(new, state))
        outputs.append(torch.where(alive, new[0], torch.zeros_like(new[0])))  # (B, H)
    return torch.stack(outputs), state[0]  # (T, B, H), (B, H)


def _reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse x: (T, B, ...) along time inside each sequence's length; padding stays in place."""
    T = x.shape[0]
    t = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
    idx = torch.where(t < lengths, lengths - 1 - t, t)  # (T, B), an involution
    idx = idx.reshape(idx.shape + (1,) * (x.dim() - 2)).expand_as(x)
    return x.gather(0, idx)


def bidirectional_rnn(
    x: torch.Tensor,
    h0_fwd: torch.Tensor,
    h0_bwd: torch.Tensor,
    params_fwd: Params,
    params_bwd: Params,
    cell: str,
    lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run one cell forwards and another over each sequence reversed within its own length.

    x: (T, B, I), h0_fwd, h0_bwd: (B, H) → outputs: (T, B, 2H) = [forward | backward] at each
    time, h_fwd: (B, H) (state at the last valid step), h_bwd: (B, H) (state after reading back
    to time 0).
    """
    T, B = x.shape[0], x.shape[1]
    if lengths is None:
        lengths_t = torch.full((B,), T, dtype=torch.long, device=x.device)
    else:
        lengths_t = torch.as_tensor(lengths, dtype=torch.long, device=x.device)  # (B,)
    out_f, h_f = run_rnn(x, h0_fwd, params_fwd, cell, lengths_t)  # (T, B, H), (B, H)
    x_rev = _reverse_within_lengths(x, lengths_t)  # (T, B, I)
    out_b_rev, h_b = run_rnn(x_rev, h0_bwd, params_bwd, cell, lengths_t)  # (T, B, H)
    out_b = _reverse_within_lengths(out_b_rev, lengths_t)  # back to input time order
    return torch.cat([out_f, out_b], dim=2), h_f, h_b  # (T, B, 2H), (B, H), (B, H)
