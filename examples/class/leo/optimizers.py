"""Reference solution for optimizers: momentum, AdaGrad, RMSProp and Adam as functional updates."""

import numpy as np


def sgd_momentum(
    w: np.ndarray, grad: np.ndarray, state: dict, lr: float, momentum: float = 0.9
) -> tuple[np.ndarray, dict]:
    """v ← μ·v + g;  w ← w − lr·v  (v starts at 0, as torch.optim.SGD). w, grad: any shape."""
    v = momentum * state.get("v", np.zeros_like(w)) + grad  # (w.shape)
    return w - lr * v, {"v": v}


def adagrad(
    w: np.ndarray, grad: np.ndarray, state: dict, lr: float, eps: float = 1e-10
) -> tuple[np.ndarray, dict]:
    """G ← G + g²;  w ← w − lr·g/(√G + eps)  (G starts at 0). w, grad: any shape."""
    G = state.get("G", np.zeros_like(w)) + grad**2  # (w.shape)
    return w - lr * grad / (np.sqrt(G) + eps), {"G": G}


def rmsprop(
    w: np.ndarray,
    grad: np.ndarray,
    state: dict,
    lr: float,
    rho: float = 0.99,
    eps: float = 1e-8,
) -> tuple[np.ndarray, dict]:
    """s ← ρ·s + (1 − ρ)·g²;  w ← w − lr·g/(√s + eps)  (s starts at 0). w, grad: any shape."""
    s = rho * state.get("s", np.zeros_like(w)) + (1 - rho) * grad**2  # (w.shape)
    return w - lr * grad / (np.sqrt(s) + eps), {"s": s}


def adam(
    w: np.ndarray,
    grad: np.ndarray,
    state: dict,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[np.ndarray, dict]:
    """Adam with bias correction; the step counter t is 1 on the first call. w, grad: any shape.

    m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;  m̂ = m/(1 − β1ᵗ);  v̂ = v/(1 − β2ᵗ);
    w ← w − lr·m̂/(√v̂ + eps).
    """
    t = state.get("t", 0) + 1
    m = beta1 * state.get("m", np.zeros_like(w)) + (1 - beta1) * grad  # (w.shape)
    v = beta2 * state.get("v", np.zeros_like(w)) + (1 - beta2) * grad**2  # (w.shape)
    m_hat = m / (1 - beta1**t)  # (w.shape)
    v_hat = v / (1 - beta2**t)  # (w.shape)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), {"t": t, "m": m, "v": v}
