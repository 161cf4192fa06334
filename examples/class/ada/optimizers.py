"""Alternative: dict state with other key names, updated in place; Adam with the folded step size."""

from typing import Any

import numpy as np


def sgd_momentum(
    w: np.ndarray, grad: np.ndarray, state: Any, lr: float, momentum: float = 0.9
) -> tuple[np.ndarray, Any]:
    if "velocity" not in state:
        state["velocity"] = np.zeros_like(w)
    buf = state["velocity"]
    buf *= momentum
    buf += grad
    w = w.copy()
    w -= lr * buf
    return w, state


def adagrad(
    w: np.ndarray, grad: np.ndarray, state: Any, lr: float, eps: float = 1e-10
) -> tuple[np.ndarray, Any]:
    acc = state.setdefault("sum_sq", np.zeros_like(w))
    acc += grad * grad
    return w - lr * grad / (np.sqrt(acc) + eps), state


def rmsprop(
    w: np.ndarray, grad: np.ndarray, state: Any, lr: float, rho: float = 0.99, eps: float = 1e-8
) -> tuple[np.ndarray, Any]:
    avg = state.setdefault("square_avg", np.zeros_like(w))
    avg *= rho
    avg += (1.0 - rho) * np.square(grad)
    return w - lr * grad / (np.sqrt(avg) + eps), state


def adam(
    w: np.ndarray,
    grad: np.ndarray,
    state: Any,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[np.ndarray, Any]:
    # As torch.optim.Adam writes it: the bias corrections folded into the step size and denominator.
    state["step"] = state.get("step", 0.0) + 1.0
    step = state["step"]
    exp_avg = state.setdefault("exp_avg", np.zeros_like(w))
    exp_avg_sq = state.setdefault("exp_avg_sq", np.zeros_like(w))
    exp_avg *= beta1
    exp_avg += (1 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    step_size = lr / (1 - beta1**step)
    denom = np.sqrt(exp_avg_sq) / np.sqrt(1 - beta2**step) + eps
    return w - step_size * exp_avg / denom, state
