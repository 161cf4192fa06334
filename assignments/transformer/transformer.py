"""The Transformer encoder: sinusoidal positional encodings, the causal mask, layer normalisation
with a hand-written backward pass, the position-wise feed-forward network, and one encoder layer
with residual connections in post-norm and pre-norm form (PyTorch)."""

from __future__ import annotations

from typing import Any

import torch


def add_positional_encoding(x: torch.Tensor) -> torch.Tensor:
    """Add sinusoidal positional encodings (Vaswani et al., 2017) to word vectors x, for the
    positions p = 0 … L−1 of the second-last axis:

        PE[p, 2i]   = sin(p / 10000^(2i/d))
        PE[p, 2i+1] = cos(p / 10000^(2i/d))

    Even dimensions hold sines, odd ones cosines, a pair sharing one frequency; d may be odd
    (the last column is then a sine). x: (..., L, d) → x + PE, x's dtype and device.
    """
    # TODO: implement add_positional_encoding.
    raise NotImplementedError("add_positional_encoding: not implemented yet")


def causal_mask(L: int, device: Any = None) -> torch.Tensor:
    """The decoder's causal mask: (L, L) bool, True where query i may attend to key j (j ≤ i)."""
    # TODO: implement causal_mask.
    raise NotImplementedError("causal_mask: not implemented yet")


def layer_norm_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                       eps: float = 1e-5) -> tuple[torch.Tensor, Any]:
    """Layer normalisation over the last axis, as torch.nn.LayerNorm(D, eps):

        μ = mean(x), σ² = mean((x − μ)²)  (biased: divide by D),
        x̂ = (x − μ) / √(σ² + eps),  out = γ ⊙ x̂ + β

    x: (..., D), gamma, beta: (D,). Returns (out (..., D), cache): cache is yours, passed back
    untouched to layer_norm_backward.
    """
    # TODO: implement layer_norm_forward.
    raise NotImplementedError("layer_norm_forward: not implemented yet")


def layer_norm_backward(dout: torch.Tensor, cache: Any) -> tuple[torch.Tensor, torch.Tensor,
                                                                  torch.Tensor]:
    """Gradients of layer_norm_forward, written by hand (no autograd):

        dβ = Σ dout,  dγ = Σ dout ⊙ x̂   (summed over every axis but the last)
        dx̂ = dout ⊙ γ,  dx = (dx̂ − mean(dx̂) − x̂ ⊙ mean(dx̂ ⊙ x̂)) / √(σ² + eps)  (means over D)

    dout: (..., D). Returns (dx (..., D), dgamma (D,), dbeta (D,)).
    """
    # TODO: implement layer_norm_backward.
    raise NotImplementedError("layer_norm_backward: not implemented yet")


def feed_forward(x: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor,
                 b2: torch.Tensor, activation: str = "relu") -> torch.Tensor:
    """The position-wise feed-forward network, FFN(x) = act(x W1ᵀ + b1) W2ᵀ + b2, with act
    "relu" or "gelu" (the exact one, 0.5·z·(1 + erf(z/√2))); anything else: ValueError.

    x: (..., E), W1: (F, E), b1: (F,), W2: (E, F), b2: (E,) (nn.Linear's layout). → (..., E).
    """
    # TODO: implement feed_forward.
    raise NotImplementedError("feed_forward: not implemented yet")


def encoder_layer(x: torch.Tensor, params: dict[str, torch.Tensor], num_heads: int,
                  mask: torch.Tensor | None = None, norm_first: bool = False,
                  activation: str = "relu", eps: float = 1e-5) -> torch.Tensor:
    """One encoder layer, equal to torch.nn.TransformerEncoderLayer(E, num_heads, F, dropout=0,
    activation, layer_norm_eps=eps, batch_first=True, norm_first) loaded with params (its
    state_dict: "self_attn.in_proj_weight" (3E, E), "self_attn.in_proj_bias" (3E,),
    "self_attn.out_proj.weight" (E, E), "self_attn.out_proj.bias", "linear1.weight" (F, E),
    "linear1.bias", "linear2.weight" (E, F), "linear2.bias", "norm1.weight", "norm1.bias",
    "norm2.weight", "norm2.bias" (E,)):

        post-norm (norm_first=False):  x ← LN1(x + SA(x));   x ← LN2(x + FFN(x))
        pre-norm  (norm_first=True):   x ← x + SA(LN1(x));   x ← x + FFN(LN2(x))

    SA is multi-head self-attention (scale 1/√(E/num_heads)); mask: bool (L, L) or (B, L, L),
    True = may attend; a query with no allowed key gets a zero attention output.
    x: (B, L, E) → (B, L, E).
    """
    # TODO: implement encoder_layer.
    raise NotImplementedError("encoder_layer: not implemented yet")
