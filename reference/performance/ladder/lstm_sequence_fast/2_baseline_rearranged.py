"""Rung 2, the baseline rearranged without a real improvement: helpers renamed and split, a
comprehension for the gates, the same operations per step."""

from __future__ import annotations

import torch


def _affine(v, weight, bias):
    return v @ weight.T + bias


def _gates(x_t, h, W_ih, W_hh, b_ih, b_hh):
    pre = _affine(x_t, W_ih, b_ih) + _affine(h, W_hh, b_hh)
    size = h.shape[1]
    return [pre[:, k * size : (k + 1) * size] for k in range(4)]


def _advance(state, x_t, weights):
    h, c = state
    i, f, g, o = _gates(x_t, h, *weights)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def lstm_sequence_fast(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    weights = (W_ih, W_hh, b_ih, b_hh)
    state = (h0, c0)
    hs = []
    for x_t in x:
        state = _advance(state, x_t, weights)
        hs.append(state[0])
    return torch.stack(hs), state
