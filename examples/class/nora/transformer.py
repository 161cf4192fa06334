"""Alternative: the heads in a Python loop over column slices, the encoding built column by
column, the norm from sums of x and x², a tuple cache, and F.linear for the projections."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def add_positional_encoding(x):
    L, d = x.shape[-2:]
    pos = torch.arange(L, dtype=torch.float64)
    cols = []
    for j in range(d):
        freq = 1.0 / 10000.0 ** ((j - j % 2) / d)
        cols.append(torch.sin(pos * freq) if j % 2 == 0 else torch.cos(pos * freq))
    pe = torch.stack(cols, dim=1) if d else torch.zeros(L, 0, dtype=torch.float64)
    return x + pe.to(dtype=x.dtype, device=x.device)


def causal_mask(L, device=None):
    return ~torch.ones(L, L, dtype=torch.bool, device=device).triu(diagonal=1)


def layer_norm_forward(x, gamma, beta, eps=1e-5):
    D = x.shape[-1]
    s1 = x.sum(-1, keepdim=True)
    mu = s1 / D
    var = ((x - mu) * (x - mu)).sum(-1, keepdim=True) / D
    std = torch.sqrt(var + eps)
    xhat = (x - mu) / std
    return xhat * gamma + beta, (x, mu, std, gamma)


def layer_norm_backward(dout, cache):
    x, mu, std, gamma = cache
    D = x.shape[-1]
    xmu = x - mu
    dxhat = dout * gamma
    dvar = (dxhat * xmu).sum(-1, keepdim=True) * -0.5 * std**-3
    dmu = -(dxhat / std).sum(-1, keepdim=True) - 2.0 * dvar * xmu.mean(-1, keepdim=True)
    dx = dxhat / std + dvar * 2.0 * xmu / D + dmu / D
    xhat = xmu / std
    dims = list(range(x.dim() - 1))
    return dx, (dout * xhat).sum(dim=dims), dout.sum(dim=dims)


def feed_forward(x, W1, b1, W2, b2, activation="relu"):
    h = F.linear(x, W1, b1)
    if activation == "relu":
        h = h.clamp(min=0)
    elif activation == "gelu":
        h = h * 0.5 * (1.0 + torch.special.erf(h / math.sqrt(2.0)))
    else:
        raise ValueError(f"unknown activation {activation}")
    return F.linear(h, W2, b2)


def _attention(x, p, num_heads, mask):
    B, L, E = x.shape
    hd = E // num_heads
    qkv = F.linear(x, p["self_attn.in_proj_weight"], p["self_attn.in_proj_bias"])
    outs = []
    for h in range(num_heads):
        q = qkv[..., h * hd:(h + 1) * hd]
        k = qkv[..., E + h * hd:E + (h + 1) * hd]
        v = qkv[..., 2 * E + h * hd:2 * E + (h + 1) * hd]
        s = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(hd)  # (B, L, L)
        if mask is not None:
            s = torch.where(mask, s, torch.full_like(s, float("-inf")))
        w = torch.softmax(s, dim=-1)
        w = torch.where(torch.isnan(w), torch.zeros_like(w), w)
        outs.append(torch.matmul(w, v))
    return F.linear(torch.cat(outs, dim=-1), p["self_attn.out_proj.weight"],
                    p["self_attn.out_proj.bias"])


def encoder_layer(x, params, num_heads, mask=None, norm_first=False, activation="relu",
                  eps=1e-5):
    p = params

    def ln(h, i):
        return layer_norm_forward(h, p[f"norm{i}.weight"], p[f"norm{i}.bias"], eps)[0]

    def ffn(h):
        return feed_forward(h, p["linear1.weight"], p["linear1.bias"], p["linear2.weight"],
                            p["linear2.bias"], activation)

    if norm_first:
        x = x + _attention(ln(x, 1), p, num_heads, mask)
        x = x + ffn(ln(x, 2))
    else:
        x = ln(x + _attention(x, p, num_heads, mask), 1)
        x = ln(x + ffn(x), 2)
    return x
