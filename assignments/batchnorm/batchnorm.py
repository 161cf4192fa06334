"""Batch normalisation exercise: PyTorch BatchNorm1d forward (train and eval) and backward."""

from __future__ import annotations

from typing import Any

import numpy as np


def batchnorm_forward(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    train: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """Forward pass of batch normalisation over the batch axis, per feature.

    Train (train=True), with the batch statistics of each feature:
        μ = (1/N) Σ_i x_i          σ² = (1/N) Σ_i (x_i − μ)²        (biased)
        out = γ · (x − μ) / √(σ² + eps) + β
        running_mean ← (1 − momentum) · running_mean + momentum · μ
        running_var  ← (1 − momentum) · running_var  + momentum · σ² · N/(N − 1)   (unbiased)
    Eval (train=False), with the running statistics, which are returned unchanged:
        out = γ · (x − running_mean) / √(running_var + eps) + β

    Shapes:
        x: (N, D), N samples of D features (train needs N ≥ 2, else ValueError)
        gamma, beta, running_mean, running_var: (D,)
    Returns:
        out: (N, D)
        running_mean, running_var: (D,), the updated running statistics
        cache: whatever batchnorm_backward will need; the grader passes it back untouched
    """
    # TODO: normalise with batch statistics in train mode, running statistics in eval mode.
    raise NotImplementedError("batchnorm_forward: not implemented yet")


def batchnorm_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of batchnorm_forward in train mode.

    With x̂ = (x − μ) / √(σ² + eps), and μ, σ² functions of the whole batch:
        dβ = Σ_i dout_i          dγ = Σ_i dout_i · x̂_i
        dx = (γ / (N √(σ² + eps))) · (N · dout − Σ_i dout_i − x̂ · Σ_i dout_i · x̂_i)

    Shapes:
        dout: (N, D) upstream gradient
        cache: what batchnorm_forward returned with train=True
    Returns:
        dx: (N, D), dgamma: (D,), dbeta: (D,)
    """
    # TODO: backpropagate through the normalisation, including through μ and σ².
    raise NotImplementedError("batchnorm_backward: not implemented yet")
