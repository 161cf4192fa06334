"""minibatch_sgd skips a last batch that is shorter than the others (like drop_last=True)."""

# expect: minibatch_sgd

from __future__ import annotations

import numpy as np


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
    """One full-batch gradient-descent step on L = mean((Xw + b − y)²).

    ∂L/∂w = (2/n)·Xᵀ(Xw + b − y),  ∂L/∂b = (2/n)·Σ(Xw + b − y).
    X: (n, d), y: (n,), w: (d,) → (w_new: (d,), b_new: float).
    """
    X = np.asarray(X, dtype=np.float64)  # (n, d)
    n = X.shape[0]
    r = X @ w + b - y  # (n,) residuals
    grad_w = 2.0 / n * (X.T @ r)  # (d,)
    grad_b = 2.0 * float(np.mean(r))
    return w - lr * grad_w, float(b - lr * grad_b)


def minibatch_sgd(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    b: float,
    lr: float,
    batches: list[np.ndarray],
    weight_decay: float = 0.0,
) -> tuple[np.ndarray, float]:
    """One pass of minibatch SGD over the given batches, in order.

    Per-sample loss ½(ŷ − y)²; for each batch B (an index array of size m):
        w ← (1 − lr·weight_decay)·w − (lr/|B|)·Σ_{i∈B} x_i(ŷ_i − y_i)
        b ← b − (lr/|B|)·Σ_{i∈B} (ŷ_i − y_i)
    with ŷ computed from w and b before the update.  X: (n, d), y: (n,), w: (d,).
    """
    X = np.asarray(X, dtype=np.float64)  # (n, d)
    y = np.asarray(y, dtype=np.float64)  # (n,)
    w = np.array(w, dtype=np.float64)  # (d,) a copy: the caller's array is not changed
    b = float(b)
    for idx in batches:
        if len(idx) < len(batches[0]):
            continue
        Xb, yb = X[idx], y[idx]  # (m, d), (m,)
        r = Xb @ w + b - yb  # (m,)
        grad_w = Xb.T @ r / len(idx)  # (d,)
        grad_b = float(np.mean(r))
        w = (1.0 - lr * weight_decay) * w - lr * grad_w
        b = b - lr * grad_b
    return w, b
