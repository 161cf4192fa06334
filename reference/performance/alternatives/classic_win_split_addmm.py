"""Alternative written from the statement alone: the convolution as columns (unfold) and one
matrix product; the LSTM's classic win with the input projections hoisted into one addmm and each
step one addmm split into gates with torch.split; attention one block of queries at a time,
each against only the keys it may see."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

QUERIES = 128  # queries per block of attention_fast


def conv2d_fast(x, w, b, stride=1, pad=0):
    N, _, H, W = x.shape
    n_filters, _, KH, KW = w.shape
    out_h = (H + 2 * pad - KH) // stride + 1
    out_w = (W + 2 * pad - KW) // stride + 1
    columns = F.unfold(x, (KH, KW), padding=pad, stride=stride)  # (N, C·KH·KW, out_h·out_w)
    flat = torch.matmul(w.view(n_filters, -1), columns) + b.view(1, -1, 1)
    return flat.view(N, n_filters, out_h, out_w)


def lstm_sequence_fast(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    steps, batch, n_in = x.shape
    hidden = h0.shape[1]
    bias = b_ih + b_hh
    # Every step's input projection in one product: (T·B, 4H).
    x_proj = torch.addmm(bias, x.view(steps * batch, n_in), W_ih.t()).view(steps, batch, -1)
    W_hh_t = W_hh.t()
    h, c = h0, c0
    hs = []
    for t in range(steps):
        z = torch.addmm(x_proj[t], h, W_hh_t)
        zi, zf, zg, zo = torch.split(z, hidden, dim=1)
        c = torch.sigmoid(zf) * c + torch.sigmoid(zi) * torch.tanh(zg)
        h = torch.sigmoid(zo) * torch.tanh(c)
        hs.append(h)
    return torch.stack(hs, dim=0), (h, c)


def attention_fast(q, k, v, causal=False):
    n_q, n_k = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    pieces = []
    for first in range(0, n_q, QUERIES):
        last = min(first + QUERIES, n_q)
        visible = min(last, n_k) if causal else n_k  # keys after the block's last query: hidden
        s = torch.matmul(q[..., first:last, :], k[..., :visible, :].transpose(-1, -2)) * scale
        if causal:
            query_pos = torch.arange(first, last, device=q.device).view(-1, 1)
            key_pos = torch.arange(visible, device=q.device).view(1, -1)
            s = s.masked_fill(key_pos > query_pos, float("-inf"))
        pieces.append(torch.matmul(torch.softmax(s, dim=-1), v[..., :visible, :]))
    return torch.cat(pieces, dim=-2)
