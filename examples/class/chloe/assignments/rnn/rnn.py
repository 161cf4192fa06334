"""Alternative: F.linear per gate block, and every sequence run on its own up to its length."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rnn_cell(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(F.linear(x, W_ih, b_ih) + F.linear(h, W_hh, b_hh))  # (B, H)


def _block(W: torch.Tensor, b: torch.Tensor, k: int, H: int) -> tuple[torch.Tensor, torch.Tensor]:
    return W[k * H : (k + 1) * H], b[k * H : (k + 1) * H]


def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    H = h.shape[1]

    def gate(k: int) -> torch.Tensor:
        return F.linear(x, *_block(W_ih, b_ih, k, H)) + F.linear(h, *_block(W_hh, b_hh, k, H))

    i, f, g, o = (
        torch.sigmoid(gate(0)),
        torch.sigmoid(gate(1)),
        torch.tanh(gate(2)),
        torch.sigmoid(gate(3)),
    )
    c_next = f * c + i * g
    return o * torch.tanh(c_next), c_next


def gru_cell(x, h, W_ih, W_hh, b_ih, b_hh):
    H = h.shape[1]
    r = torch.sigmoid(
        F.linear(x, *_block(W_ih, b_ih, 0, H)) + F.linear(h, *_block(W_hh, b_hh, 0, H))
    )
    z = torch.sigmoid(
        F.linear(x, *_block(W_ih, b_ih, 1, H)) + F.linear(h, *_block(W_hh, b_hh, 1, H))
    )
    n = torch.tanh(
        F.linear(x, *_block(W_ih, b_ih, 2, H)) + r * F.linear(h, *_block(W_hh, b_hh, 2, H))
    )
    # The lecture's form with z_lecture = 1 − z.
    z_lecture = 1 - z
    return (1 - z_lecture) * h + z_lecture * n


def _run_one(x, h, p, cell):
    """x: (L, 1, I), h: (1, H) → outputs (L, 1, H), last h."""
    c = torch.zeros_like(h)
    outs = []
    for t in range(x.shape[0]):
        if cell == "rnn":
            h = rnn_cell(x[t], h, p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"])
        elif cell == "gru":
            h = gru_cell(x[t], h, p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"])
        else:
            h, c = lstm_cell(x[t], h, c, p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"])
        outs.append(h)
    return torch.stack(outs), h


def _lengths(lengths, T, B):
    if lengths is None:
        return [T] * B
    return [int(v) for v in lengths]


def run_rnn(x, h0, params, cell, lengths=None):
    if cell not in {"rnn", "lstm", "gru"}:
        raise ValueError(f"unknown cell {cell}")
    T, B = x.shape[:2]
    H = h0.shape[1]
    outputs = x.new_zeros(T, B, H)
    h_T = []
    for b, L in enumerate(_lengths(lengths, T, B)):
        out, h = _run_one(x[:L, b : b + 1], h0[b : b + 1], params, cell)
        outputs[:L, b : b + 1] = out
        h_T.append(h)
    return outputs, torch.cat(h_T)


def bidirectional_rnn(x, h0_fwd, h0_bwd, params_fwd, params_bwd, cell, lengths=None):
    T, B = x.shape[:2]
    H = h0_fwd.shape[1]
    out_f, h_f = run_rnn(x, h0_fwd, params_fwd, cell, lengths)
    out_b = x.new_zeros(T, B, H)
    h_b = []
    for b, L in enumerate(_lengths(lengths, T, B)):
        out, h = _run_one(x[:L, b : b + 1].flip(0), h0_bwd[b : b + 1], params_bwd, cell)
        out_b[:L, b : b + 1] = out.flip(0)
        h_b.append(h)
    return torch.cat([out_f, out_b], dim=-1), h_f, torch.cat(h_b)
