"""Alternative: object cache, statistics from sums of squares around a shift, einsum backward."""

from __future__ import annotations

import numpy as np


class _State:
    __slots__ = ("n", "scale", "x_hat")

    def __init__(self, x_hat: np.ndarray, scale: np.ndarray, n: int) -> None:
        self.x_hat, self.scale, self.n = x_hat, scale, n


def batchnorm_forward(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
    """BatchNorm1d forward with the statistics from a two-pass sum."""
    n = x.shape[0]
    if train:
        if n < 2:
            raise ValueError("batchnorm needs at least two samples in training mode")
        mean = np.einsum("nd->d", x) / n
        ss = np.einsum("nd,nd->d", x - mean, x - mean)  # sum of squared deviations
        var_b, var_u = ss / n, ss / (n - 1)
        rstd = 1.0 / np.sqrt(var_b + eps)
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var_u
        x_hat = (x - mean) * rstd
    else:
        rstd = 1.0 / np.sqrt(running_var + eps)
        x_hat = (x - running_mean) * rstd
    return x_hat * gamma + beta, running_mean, running_var, _State(x_hat, gamma * rstd, n)


def batchnorm_backward(dout, cache):
    """dx = (γ·rstd) · (dout − mean(dout) − x̂·mean(dout·x̂))."""
    dbeta = np.einsum("nd->d", dout)
    dgamma = np.einsum("nd,nd->d", dout, cache.x_hat)
    dx = cache.scale * (dout - dbeta / cache.n - cache.x_hat * dgamma / cache.n)
    return dx, dgamma, dbeta
