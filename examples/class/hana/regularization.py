"""Reference solution for regularization: inverted dropout, Xavier uniform init, L2 and weight decay."""

import numpy as np


def dropout_forward(
    x: np.ndarray, p: float, train: bool, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Inverted dropout with drop probability p. x, u: same shape (any); u uniform in [0, 1).

    train: keep = (u >= p), out = x·keep/(1 − p), mask = keep (boolean, x's shape).
    eval:  out = x, mask = None.
    """
    if not train:
        return x.copy(), None
    keep = u >= p  # (x.shape) bool
    return x * keep / (1.0 - p), keep


def dropout_backward(
    dout: np.ndarray, mask: np.ndarray | None, p: float, train: bool
) -> np.ndarray:
    """Gradient of dropout_forward: dx = dout·keep/(1 − p) in train, dout in eval. dout: x's shape."""
    if not train:
        return dout.copy()
    return dout * mask / (1.0 - p)


def xavier_uniform(fan_in: int, fan_out: int, seed: int) -> np.ndarray:
    """(fan_in, fan_out) matrix drawn from U(−a, a), a = √(6/(fan_in + fan_out)); one seed, one matrix."""
    a = np.sqrt(6.0 / (fan_in + fan_out))
    rng = np.random.default_rng(seed)
    return rng.uniform(-a, a, size=(fan_in, fan_out))  # (fan_in, fan_out)


def l2_penalty(w: np.ndarray, lam: float) -> tuple[float, np.ndarray]:
    """value = lam/2·‖w‖² (sum of squares of every entry), grad = lam·w. w: any shape."""
    return float(0.5 * lam * np.sum(w * w)), lam * w


def weight_decay_step(w: np.ndarray, grad: np.ndarray, lr: float, lam: float) -> np.ndarray:
    """One SGD step with weight decay: (1 − lr·lam)·w − lr·grad. w, grad: same shape."""
    return (1.0 - lr * lam) * w - lr * grad
