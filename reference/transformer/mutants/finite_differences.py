"""Mutant: layer_norm_backward takes every gradient by central differences of the forward pass,
none worked out. Right at the small sizes; at a layer's usual size it needs a forward pass per
entry of x."""

# expect: layer_norm_backward did not finish within .*finite differences.*Work the gradient out

from __future__ import annotations

import math
from typing import Any

import torch

ACTIVATIONS = ("relu", "gelu")
H = 1e-5


def add_positional_encoding(x: torch.Tensor) -> torch.Tensor:
    """x + PE, with PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d)).

    x: (..., L, d) → (..., L, d), x's dtype and device.
    """
    L, d = x.shape[-2], x.shape[-1]
    pos = torch.arange(L, dtype=torch.float64)[:, None]  # (L, 1)
    two_i = torch.arange(0, d, 2, dtype=torch.float64)  # (⌈d/2⌉,): 2i of each sin/cos pair
    angle = pos / 10000.0 ** (two_i / d)  # (L, ⌈d/2⌉), in float64 whatever x's dtype
    pe = torch.zeros(L, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)  # even dimensions
    pe[:, 1::2] = torch.cos(angle[:, : d // 2])  # odd dimensions (one fewer when d is odd)
    return x + pe.to(dtype=x.dtype, device=x.device)


def causal_mask(L: int, device: Any = None) -> torch.Tensor:
    """(L, L) bool, True where query i may attend to key j, i.e. j ≤ i."""
    return torch.ones(L, L, dtype=torch.bool, device=device).tril()


def layer_norm_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                       eps: float = 1e-5) -> tuple[torch.Tensor, Any]:
    """Normalise each vector over the last axis (biased variance), then scale and shift.

    x: (..., D), gamma, beta: (D,) → (out (..., D), cache).
    """
    mu = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = ((x - mu) ** 2).mean(dim=-1, keepdim=True)  # (..., 1), divided by D
    inv_std = 1.0 / torch.sqrt(var + eps)  # (..., 1)
    xhat = (x - mu) * inv_std  # (..., D)
    return xhat * gamma + beta, (x.clone(), gamma.clone(), beta.clone(), eps)


def _differences(f, v: torch.Tensor) -> torch.Tensor:
    """d f / d v, entry by entry: v nudged up and down in place."""
    g = torch.zeros_like(v)
    flat, gflat = v.view(-1), g.view(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + H
        up = f()
        flat[i] = old - H
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * H)
    return g


def layer_norm_backward(dout: torch.Tensor, cache: Any) -> tuple[torch.Tensor, torch.Tensor,
                                                                  torch.Tensor]:
    """Every gradient measured: each entry nudged, the forward pass run again."""
    x, gamma, beta, eps = cache

    def f() -> float:
        return float((layer_norm_forward(x, gamma, beta, eps)[0] * dout).sum())

    return _differences(f, x), _differences(f, gamma), _differences(f, beta)


def _activation(name: str):
    if name == "relu":
        return torch.relu
    if name == "gelu":
        return lambda z: 0.5 * z * (1.0 + torch.erf(z / math.sqrt(2.0)))  # exact, as torch's
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")


def feed_forward(x: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor,
                 b2: torch.Tensor, activation: str = "relu") -> torch.Tensor:
    """act(x W1ᵀ + b1) W2ᵀ + b2, position by position. x: (..., E), W1: (F, E), b1: (F,),
    W2: (E, F), b2: (E,) → (..., E)."""
    act = _activation(activation)
    return act(x @ W1.T + b1) @ W2.T + b2  # (..., F) → (..., E)


def _self_attention(x: torch.Tensor, p: dict[str, torch.Tensor], num_heads: int,
                    mask: torch.Tensor | None) -> torch.Tensor:
    B, L, E = x.shape
    hd = E // num_heads
    qkv = x @ p["self_attn.in_proj_weight"].T + p["self_attn.in_proj_bias"]  # (B, L, 3E)
    q, k, v = (t.reshape(B, L, num_heads, hd).transpose(1, 2)  # (B, h, L, hd)
               for t in qkv.split(E, dim=-1))
    scores = q @ k.transpose(-2, -1) / math.sqrt(hd)  # (B, h, L, L): the head's size, not E
    if mask is not None:
        allowed = mask if mask.dim() == 2 else mask[:, None]  # (L, L) or (B, 1, L, L)
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)  # a fully hidden row: 0
    heads = (weights @ v).transpose(1, 2).reshape(B, L, E)  # (B, L, E), heads side by side
    return heads @ p["self_attn.out_proj.weight"].T + p["self_attn.out_proj.bias"]


def encoder_layer(x: torch.Tensor, params: dict[str, torch.Tensor], num_heads: int,
                  mask: torch.Tensor | None = None, norm_first: bool = False,
                  activation: str = "relu", eps: float = 1e-5) -> torch.Tensor:
    """One Transformer encoder layer, equal to torch.nn.TransformerEncoderLayer(E, num_heads,
    dim_feedforward=F, dropout=0, activation, layer_norm_eps=eps, batch_first=True, norm_first)
    with the state_dict params. mask: bool (L, L) or (B, L, L), True = may attend.
    x: (B, L, E) → (B, L, E)."""

    def norm(h: torch.Tensor, i: int) -> torch.Tensor:
        return layer_norm_forward(h, params[f"norm{i}.weight"], params[f"norm{i}.bias"], eps)[0]

    def sa(h: torch.Tensor) -> torch.Tensor:
        return _self_attention(h, params, num_heads, mask)

    def ff(h: torch.Tensor) -> torch.Tensor:
        return feed_forward(h, params["linear1.weight"], params["linear1.bias"],
                            params["linear2.weight"], params["linear2.bias"], activation)

    if norm_first:  # pre-norm: the residual path carries x itself
        x = x + sa(norm(x, 1))
        return x + ff(norm(x, 2))
    x = norm(x + sa(x), 1)  # post-norm, as the original paper
    return norm(x + ff(x), 2)
