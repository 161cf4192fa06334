"""Alternative: the mask carries the 1/(1 − p) scale; Xavier from rng.random; L2 with np.vdot."""

import numpy as np


def dropout_forward(
    x: np.ndarray, p: float, train: bool, u: np.ndarray
) -> tuple[np.ndarray, object]:
    if not train:
        return x, "eval"
    scale = (u >= p).astype(np.float64) / (1.0 - p)
    return x * scale, scale


def dropout_backward(dout: np.ndarray, mask: object, p: float, train: bool) -> np.ndarray:
    return dout * mask if train else dout


def xavier_uniform(fan_in: int, fan_out: int, seed: int) -> np.ndarray:
    a = (6.0 / (fan_in + fan_out)) ** 0.5
    return a * (2.0 * np.random.default_rng(seed).random((fan_in, fan_out)) - 1.0)


def l2_penalty(w: np.ndarray, lam: float) -> tuple[float, np.ndarray]:
    flat = w.ravel()
    return lam / 2 * float(np.vdot(flat, flat)), lam * w


def weight_decay_step(w: np.ndarray, grad: np.ndarray, lr: float, lam: float) -> np.ndarray:
    return w - lr * (grad + lam * w)
