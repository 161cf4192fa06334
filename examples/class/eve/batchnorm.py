"""Reference solution of the batchnorm topic: BatchNorm1d forward (train/eval) and backward."""

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
    """Normalise x (N, D) per feature; return (out, running_mean, running_var, cache)."""
    if train:
        N = x.shape[0]
        if N < 2:
            # The unbiased variance of one sample is 0/0; torch.nn.BatchNorm1d refuses too.
            raise ValueError("batchnorm_forward: training needs at least 2 samples per feature")
        mean = x.mean(axis=0)  # (D,)
        centred = x - mean  # (N, D)
        var = (centred**2).mean(axis=0)  # (D,) biased: this is what normalises the batch
        inv_std = 1.0 / np.sqrt(var + eps)  # (D,)
        x_hat = centred * inv_std  # (N, D)
        new_mean = (1.0 - momentum) * running_mean + momentum * mean
        # The running variance tracks the unbiased estimate, as torch.nn.BatchNorm1d does.
        new_var = (1.0 - momentum) * running_var + momentum * var * (N / (N - 1))
    else:
        inv_std = 1.0 / np.sqrt(running_var + eps)  # (D,)
        x_hat = (x - running_mean) * inv_std  # (N, D)
        new_mean, new_var = running_mean.copy(), running_var.copy()
    out = gamma * x_hat + beta  # (N, D)
    return out, new_mean, new_var, (x_hat, inv_std, gamma, bool(train))


def batchnorm_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients dx (N, D), dgamma (D,), dbeta (D,) of batchnorm_forward from dout (N, D)."""
    x_hat, inv_std, gamma, train = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)  # (D,)
    dgamma = (dout * x_hat).sum(axis=0)  # (D,)
    dx_hat = dout * gamma  # (N, D)
    if not train:  # fixed statistics: the normalisation is an affine map of x
        return dx_hat * inv_std, dgamma, dbeta
    # The batch mean and variance depend on every x; this is their combined contribution.
    dx = (inv_std / N) * (
        N * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0)
    )  # (N, D)
    return dx, dgamma, dbeta
