"""Mutant: batchnorm_backward takes every gradient by central differences of the forward pass,
none worked out. Right at the small sizes; at a layer's usual size it needs a forward pass per
entry of x."""

# expect: batchnorm_backward did not finish within .*finite differences.*Work the gradient out

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

H = 1e-5


def _normalise(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray,
               var: np.ndarray, eps: float) -> np.ndarray:
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                      running_mean: np.ndarray, running_var: np.ndarray, train: bool,
                      momentum: float = 0.1, eps: float = 1e-5
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    if train:
        N = x.shape[0]
        if N < 2:
            raise ValueError("batchnorm_forward: training needs at least 2 samples per feature")
        mean, var = x.mean(axis=0), x.var(axis=0)
        out = _normalise(x, gamma, beta, mean, var, eps)
        new_mean = (1.0 - momentum) * running_mean + momentum * mean
        new_var = (1.0 - momentum) * running_var + momentum * var * (N / (N - 1))
    else:
        out = _normalise(x, gamma, beta, running_mean, running_var, eps)
        new_mean, new_var = running_mean.copy(), running_var.copy()
    cache = (x.copy(), gamma.copy(), beta.copy(), running_mean.copy(), running_var.copy(),
             bool(train), eps)
    return out, new_mean, new_var, cache


def _differences(f: Callable[[], float], v: np.ndarray) -> np.ndarray:
    g = np.zeros_like(v)
    for i in np.ndindex(v.shape):
        old = v[i]
        v[i] = old + H
        up = f()
        v[i] = old - H
        down = f()
        v[i] = old
        g[i] = (up - down) / (2 * H)
    return g


def batchnorm_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, gamma, beta, rm, rv, train, eps = cache

    def f() -> float:
        if train:
            out = _normalise(x, gamma, beta, x.mean(axis=0), x.var(axis=0), eps)
        else:
            out = _normalise(x, gamma, beta, rm, rv, eps)
        return float(np.sum(out * dout))

    return _differences(f, x), _differences(f, gamma), _differences(f, beta)
