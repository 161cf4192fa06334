"""Alternative: einsum for every projection and the attention, torch.var_mean for the norm, the
backward written with sums over D rather than means, the encoding in float32 where asked."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def add_positional_encoding(x):
    L, d = x.shape[-2:]
    dt = x.dtype  # computed in x's own precision
    inv_freq = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=torch.float64) / d)
    angle = torch.outer(torch.arange(L, dtype=torch.float64), inv_freq).to(dt)  # (L, ⌈d/2⌉)
    pe = torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1).reshape(L, -1)[:, :d]
    return x + pe.to(x.device)


def causal_mask(L, device=None):
    i = torch.arange(L, device=device)
    return i[None, :] <= i[:, None]


def layer_norm_forward(x, gamma, beta, eps=1e-5):
    var, mu = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
    rstd = torch.rsqrt(var + eps)
    xhat = (x - mu) * rstd
    return gamma * xhat + beta, {"xhat": xhat, "rstd": rstd, "gamma": gamma}


def layer_norm_backward(dout, cache):
    xhat, rstd, gamma = cache["xhat"], cache["rstd"], cache["gamma"]
    D = xhat.shape[-1]
    flat_dout = dout.reshape(-1, D)
    dgamma = torch.einsum("nd,nd->d", flat_dout, xhat.reshape(-1, D))
    dbeta = flat_dout.sum(0)
    g = dout * gamma
    dx = (rstd / D) * (D * g - g.sum(-1, keepdim=True)
                       - xhat * (g * xhat).sum(-1, keepdim=True))
    return dx, dgamma, dbeta


def feed_forward(x, W1, b1, W2, b2, activation="relu"):
    if activation not in ("relu", "gelu"):
        raise ValueError(activation)
    h = torch.einsum("...e,fe->...f", x, W1) + b1
    h = F.relu(h) if activation == "relu" else F.gelu(h)
    return torch.einsum("...f,ef->...e", h, W2) + b2


def encoder_layer(x, params, num_heads, mask=None, norm_first=False, activation="relu",
                  eps=1e-5):
    p = params
    B, L, E = x.shape
    hd = E // num_heads
    Wq, Wk, Wv = p["self_attn.in_proj_weight"].chunk(3)
    bq, bk, bv = p["self_attn.in_proj_bias"].chunk(3)

    def attention(h):
        q = torch.einsum("ble,fe->blf", h, Wq).add(bq).view(B, L, num_heads, hd)
        k = torch.einsum("ble,fe->blf", h, Wk).add(bk).view(B, L, num_heads, hd)
        v = torch.einsum("ble,fe->blf", h, Wv).add(bv).view(B, L, num_heads, hd)
        s = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(hd)
        if mask is not None:
            m = mask.expand(B, L, L)[:, None]
            s = s.masked_fill(~m, float("-inf"))
        top = s.amax(-1, keepdim=True)
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        e = torch.exp(s - top)
        z = e.sum(-1, keepdim=True)
        w = torch.where(z > 0, e / torch.where(z > 0, z, torch.ones_like(z)), torch.zeros_like(e))
        o = torch.einsum("bhqk,bkhd->bqhd", w, v).reshape(B, L, E)
        return torch.einsum("ble,fe->blf", o, p["self_attn.out_proj.weight"]) \
            + p["self_attn.out_proj.bias"]

    def ln(h, i):
        return layer_norm_forward(h, p[f"norm{i}.weight"], p[f"norm{i}.bias"], eps)[0]

    def ffn(h):
        return feed_forward(h, p["linear1.weight"], p["linear1.bias"], p["linear2.weight"],
                            p["linear2.bias"], activation)

    if norm_first:
        h = x + attention(ln(x, 1))
        return h + ffn(ln(h, 2))
    h = ln(x + attention(x), 1)
    return ln(h + ffn(h), 2)
