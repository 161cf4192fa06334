"""Alternative: one matmul for all input projections, masks as float multipliers, einsum."""

from __future__ import annotations

import torch


def _sig(z):
    return 1 / (1 + torch.exp(-z))


def rnn_cell(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(
        torch.einsum("bi,hi->bh", x, W_ih) + torch.einsum("bk,hk->bh", h, W_hh) + (b_ih + b_hh)
    )


def _lstm_from_proj(gx, h, c, W_hh, b_hh):
    gates = gx + torch.addmm(b_hh, h, W_hh.t())  # (B, 4H)
    H = h.shape[1]
    i = _sig(gates[:, :H])
    f = _sig(gates[:, H : 2 * H])
    g = torch.tanh(gates[:, 2 * H : 3 * H])
    o = _sig(gates[:, 3 * H :])
    c = torch.addcmul(f * c, i, g)
    return o * torch.tanh(c), c


def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return _lstm_from_proj(torch.addmm(b_ih, x, W_ih.t()), h, c, W_hh, b_hh)


def _gru_from_proj(gx, h, W_hh, b_hh):
    H = h.shape[1]
    gh = torch.addmm(b_hh, h, W_hh.t())  # (B, 3H)
    rz = _sig(gx[:, : 2 * H] + gh[:, : 2 * H])
    r, z = rz[:, :H], rz[:, H:]
    n = torch.tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])
    return n + z * (h - n)


def gru_cell(x, h, W_ih, W_hh, b_ih, b_hh):
    return _gru_from_proj(torch.addmm(b_ih, x, W_ih.t()), h, W_hh, b_hh)


def _alive(lengths, T, B, device, dtype):
    if lengths is None:
        return torch.ones(T, B, 1, device=device, dtype=dtype)
    lengths = torch.as_tensor(lengths, device=device)
    steps = torch.arange(T, device=device)[:, None]
    return (steps < lengths[None, :]).to(dtype)[..., None]  # (T, B, 1)


def run_rnn(x, h0, params, cell, lengths=None):
    T, B, _ = x.shape
    W_ih, W_hh, b_ih, b_hh = params["W_ih"], params["W_hh"], params["b_ih"], params["b_hh"]
    proj = torch.matmul(x, W_ih.t()) + b_ih  # (T, B, kH), all time steps at once
    alive = _alive(lengths, T, B, x.device, x.dtype)
    h, c = h0, torch.zeros_like(h0)
    outs = []
    for t in range(T):
        if cell == "rnn":
            h_new = torch.tanh(proj[t] + h @ W_hh.t() + b_hh)
            c_new = c
        elif cell == "lstm":
            h_new, c_new = _lstm_from_proj(proj[t], h, c, W_hh, b_hh)
        elif cell == "gru":
            h_new, c_new = _gru_from_proj(proj[t], h, W_hh, b_hh), c
        else:
            raise ValueError("cell must be one of 'rnn', 'lstm', 'gru'")
        a = alive[t]
        h = a * h_new + (1 - a) * h
        c = a * c_new + (1 - a) * c
        outs.append(a * h_new)
    return torch.stack(outs), h


def bidirectional_rnn(x, h0_fwd, h0_bwd, params_fwd, params_bwd, cell, lengths=None):
    T, B, _ = x.shape
    L = torch.full((B,), T) if lengths is None else torch.as_tensor(lengths).cpu()
    # Permutation reversing each sequence's valid prefix; padding positions map to themselves.
    perm = torch.arange(T).repeat(B, 1)  # (B, T)
    for b in range(B):
        n = int(L[b])
        perm[b, :n] = torch.arange(n - 1, -1, -1)
    perm = perm.t().to(x.device)  # (T, B)
    batch = torch.arange(B, device=x.device)
    x_rev = x[perm, batch]  # (T, B, I)
    out_f, h_f = run_rnn(x, h0_fwd, params_fwd, cell, lengths)
    out_b, h_b = run_rnn(x_rev, h0_bwd, params_bwd, cell, lengths)
    return torch.cat([out_f, out_b[perm, batch]], dim=2), h_f, h_b
