"""Mutant: dropout_backward and the L2 penalty's gradient taken by central differences, not
worked out. Right at the small sizes; at a layer's usual size they need a pass per entry."""

# expect: did not finish within .*finite differences.*Work the gradient out

from collections.abc import Callable

import numpy as np

H = 1e-5


def _differences(f: Callable[[], float], v: np.ndarray) -> np.ndarray:
    """d f / d v, entry by entry: v nudged up and down in place."""
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
    """dx measured: each entry of an input nudged, dropout's output taken again."""
    x = np.zeros_like(dout, dtype=np.float64)

    def f() -> float:
        out = x * mask / (1.0 - p) if train else x
        return float(np.sum(out * dout))

    return _differences(f, x)


def xavier_uniform(fan_in: int, fan_out: int, seed: int) -> np.ndarray:
    """(fan_in, fan_out) matrix drawn from U(−a, a), a = √(6/(fan_in + fan_out)); one seed, one matrix."""
    a = np.sqrt(6.0 / (fan_in + fan_out))
    rng = np.random.default_rng(seed)
    return rng.uniform(-a, a, size=(fan_in, fan_out))  # (fan_in, fan_out)


def l2_penalty(w: np.ndarray, lam: float) -> tuple[float, np.ndarray]:
    """value = lam/2·‖w‖²; grad measured: each entry nudged, the value taken again."""
    v = np.array(w, dtype=np.float64)

    def f() -> float:
        return float(0.5 * lam * np.sum(v * v))

    return f(), _differences(f, v)


def weight_decay_step(w: np.ndarray, grad: np.ndarray, lr: float, lam: float) -> np.ndarray:
    """One SGD step with weight decay: (1 − lr·lam)·w − lr·grad. w, grad: same shape."""
    return (1.0 - lr * lam) * w - lr * grad
