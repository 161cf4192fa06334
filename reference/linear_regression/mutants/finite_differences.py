"""Mutant: gradient_step and minibatch_sgd step along gradients taken numerically, by central
differences of the loss, none worked out. Right to about 1e-10 at the tests' sizes, and fast there."""

# expect: taken numerically .*Work the derivative out by hand

from __future__ import annotations

import numpy as np


_H = 1e-6


def _central(f, v: np.ndarray) -> np.ndarray:
    """d f / d v by central differences, entry by entry."""
    g = np.zeros_like(v, dtype=np.float64)
    for i in np.ndindex(v.shape):
        up, down = v.copy(), v.copy()
        up[i] += _H
        down[i] -= _H
        g[i] = (f(up) - f(down)) / (2 * _H)
    return g


def fit_univariate(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and intercept of y ≈ a·x + b.

    a = Σ(x − x̄)(y − ȳ) / Σ(x − x̄)²,  b = ȳ − a·x̄.  x, y: (n,).
    """
    x = np.asarray(x, dtype=np.float64)  # (n,)
    y = np.asarray(y, dtype=np.float64)  # (n,)
    # Centring first avoids the cancellation of Σx² − n·x̄² when x has a large mean.
    xc = x - x.mean()  # (n,)
    yc = y - y.mean()  # (n,)
    a = float(xc @ yc / (xc @ xc))
    b = float(y.mean() - a * x.mean())
    return a, b


def fit_linear(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Ordinary least squares with an intercept: minimise Σ(y − Xw − b)².

    X: (n, d), y: (n,) → w: (d,), b: float.
    """
    return fit_ridge(X, y, 0.0)


def fit_ridge(X: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    """Ridge regression: minimise Σ(y − Xw − b)² + lam·‖w‖², the intercept b not penalised.

    X: (n, d), y: (n,), lam ≥ 0 → w: (d,), b: float.
    """
    X = np.asarray(X, dtype=np.float64)  # (n, d)
    y = np.asarray(y, dtype=np.float64)  # (n,)
    d = X.shape[1]
    # The optimal b is ȳ − x̄·w for any w, so centring removes b from the problem and leaves
    # the penalty on w alone.
    x_mean = X.mean(axis=0)  # (d,)
    y_mean = y.mean()
    Xc = X - x_mean  # (n, d)
    yc = y - y_mean  # (n,)
    # ‖yc − Xc w‖² + lam‖w‖² is the plain least-squares problem on [Xc; √lam·I] w ≈ [yc; 0].
    # lstsq (SVD) never forms XᵀX, whose condition number is the square of X's.
    A = np.vstack([Xc, np.sqrt(lam) * np.eye(d)])  # (n + d, d)
    rhs = np.concatenate([yc, np.zeros(d)])  # (n + d,)
    w = np.linalg.lstsq(A, rhs, rcond=None)[0]  # (d,)
    b = float(y_mean - x_mean @ w)
    return w, b


def predict(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """Predictions ŷ = Xw + b.  X: (n, d), w: (d,) → (n,)."""
    return np.asarray(X, dtype=np.float64) @ w + b  # (n,)


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean squared error (1/n)·Σ(y_true − y_pred)².  y_true, y_pred: (n,)."""
    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)  # (n,)
    return float(np.mean(diff**2))


def gradient_step(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, lr: float
) -> tuple[np.ndarray, float]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.array(w, dtype=np.float64)

    def loss(v: np.ndarray) -> float:  # v = (w, b)
        return float(np.mean((X @ v[:-1] + v[-1] - y) ** 2))

    grad = _central(loss, np.append(w, float(b)))
    return w - lr * grad[:-1], float(b - lr * grad[-1])


def minibatch_sgd(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    b: float,
    lr: float,
    batches: list[np.ndarray],
    weight_decay: float = 0.0,
) -> tuple[np.ndarray, float]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.array(w, dtype=np.float64)
    b = float(b)
    for idx in batches:
        Xb, yb = X[idx], y[idx]

        def loss(v: np.ndarray) -> float:  # the per-sample ½(ŷ − y)², averaged over the batch
            return float(np.mean(0.5 * (Xb @ v[:-1] + v[-1] - yb) ** 2))

        grad = _central(loss, np.append(w, b))
        w = (1.0 - lr * weight_decay) * w - lr * grad[:-1]
        b = b - lr * float(grad[-1])
    return w, b
