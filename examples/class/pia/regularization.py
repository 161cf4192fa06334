"""Alternative: np.where dropout with a 0/1 float mask, Xavier from the legacy RandomState, loops."""

import numpy as np


def dropout_forward(
    x: np.ndarray, p: float, train: bool, u: np.ndarray
) -> tuple[np.ndarray, object]:
    mask = np.where(u < p, 0.0, 1.0)
    if train:
        return np.where(mask == 1.0, x / (1 - p), 0.0), mask
    return np.array(x, copy=True), mask


def dropout_backward(dout: np.ndarray, mask: object, p: float, train: bool) -> np.ndarray:
    if train:
        return np.where(mask == 1.0, dout / (1 - p), 0.0)
    return np.array(dout, copy=True)


def xavier_uniform(fan_in: int, fan_out: int, seed: int) -> np.ndarray:
    limit = np.sqrt(6 / (fan_in + fan_out))
    return np.random.RandomState(seed).uniform(low=-limit, high=limit, size=(fan_in, fan_out))


def l2_penalty(w: np.ndarray, lam: float) -> tuple[float, np.ndarray]:
    total = 0.0
    for value in w.flat:
        total += value * value
    return 0.5 * lam * total, lam * np.asarray(w, dtype=np.float64)


def weight_decay_step(w: np.ndarray, grad: np.ndarray, lr: float, lam: float) -> np.ndarray:
    decayed = w * (1 - lr * lam)
    return decayed - lr * grad
