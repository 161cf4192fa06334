"""Alternative: the state is a small object of its own (it stays in the worker as an opaque value)."""

import math
from typing import Any

import numpy as np


class Slots:
    """Per-parameter optimizer memory."""

    def __init__(self, shape):
        self.first = np.zeros(shape)
        self.second = np.zeros(shape)
        self.count = 0


def _slots(state, w):
    # The first call receives {}; every later call receives the Slots returned before.
    return state if isinstance(state, Slots) else Slots(np.shape(w))


def sgd_momentum(
    w: np.ndarray, grad: np.ndarray, state: Any, lr: float, momentum: float = 0.9
) -> tuple[np.ndarray, Any]:
    s = _slots(state, w)
    s.first = momentum * s.first + grad
    return w - lr * s.first, s


def adagrad(
    w: np.ndarray, grad: np.ndarray, state: Any, lr: float, eps: float = 1e-10
) -> tuple[np.ndarray, Any]:
    s = _slots(state, w)
    s.second = s.second + grad**2
    return w - lr * grad / (np.sqrt(s.second) + eps), s


def rmsprop(
    w: np.ndarray, grad: np.ndarray, state: Any, lr: float, rho: float = 0.99, eps: float = 1e-8
) -> tuple[np.ndarray, Any]:
    s = _slots(state, w)
    s.second = rho * s.second + (1 - rho) * grad**2
    return w - lr * grad / (np.sqrt(s.second) + eps), s


def adam(
    w: np.ndarray,
    grad: np.ndarray,
    state: Any,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[np.ndarray, Any]:
    s = _slots(state, w)
    s.count += 1
    s.first = beta1 * s.first + (1 - beta1) * grad
    s.second = beta2 * s.second + (1 - beta2) * grad**2
    m_hat = s.first / (1 - math.pow(beta1, s.count))
    v_hat = s.second / (1 - math.pow(beta2, s.count))
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), s
