"""Alternative: the state is a plain tuple (t, m, v) rebuilt on every call; loops over entries."""

from typing import Any

import numpy as np


def _unpack(state, w):
    if not state:
        return 0, np.zeros_like(w), np.zeros_like(w)
    t, m, v = state
    return t, m, v


def sgd_momentum(
    w: np.ndarray, grad: np.ndarray, state: Any, lr: float, momentum: float = 0.9
) -> tuple[np.ndarray, Any]:
    _, v, _ = _unpack(state, w)
    v = np.array([momentum * a + g for a, g in zip(v.ravel(), grad.ravel())]).reshape(w.shape)
    return w - lr * v, (0, v, v)


def adagrad(
    w: np.ndarray, grad: np.ndarray, state: Any, lr: float, eps: float = 1e-10
) -> tuple[np.ndarray, Any]:
    t, _, G = _unpack(state, w)
    G = G + np.square(grad)
    return w - lr * grad / (G**0.5 + eps), (t + 1, G, G)


def rmsprop(
    w: np.ndarray, grad: np.ndarray, state: Any, lr: float, rho: float = 0.99, eps: float = 1e-8
) -> tuple[np.ndarray, Any]:
    t, _, s = _unpack(state, w)
    s = s + (1 - rho) * (np.square(grad) - s)  # the same average, written as a step towards g²
    return w - lr * grad / (np.sqrt(s) + eps), (t + 1, s, s)


def adam(
    w: np.ndarray,
    grad: np.ndarray,
    state: Any,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[np.ndarray, Any]:
    t, m, v = _unpack(state, w)
    t += 1
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    alpha = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    eps_hat = eps * np.sqrt(1 - beta2**t)
    # The paper's "efficient" form: identical to lr·m̂/(√v̂ + eps) with eps rescaled.
    return w - alpha * m / (np.sqrt(v) + eps_hat), (t, m, v)
