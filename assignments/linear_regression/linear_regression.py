"""Linear regression exercise: least squares, ridge, mean squared error and gradient descent."""

from __future__ import annotations

import numpy as np


def fit_univariate(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and intercept of y ≈ a·x + b, in closed form.

    a = Σ(xᵢ − x̄)(yᵢ − ȳ) / Σ(xᵢ − x̄)²,   b = ȳ − a·x̄

    x: (n,) not all equal, y: (n,) → (a, b) as Python floats.
    """
    # TODO: fit_univariate — closed-form slope and intercept.
    raise NotImplementedError("fit_univariate: not implemented yet")


def fit_linear(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Ordinary least squares with an intercept: minimise Σᵢ(yᵢ − xᵢ·w − b)².

    Closed form: the solution of the normal equations. Must stay accurate when X is
    ill-conditioned (nearly collinear columns) but has full column rank: do not form XᵀX.

    X: (n, d) with n > d, y: (n,) → (w: (d,), b: Python float).
    """
    # TODO: fit_linear — least squares with an intercept, accurate for ill-conditioned X.
    raise NotImplementedError("fit_linear: not implemented yet")


def fit_ridge(X: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    """Ridge regression: minimise Σᵢ(yᵢ − xᵢ·w − b)² + lam·‖w‖²; b is not penalised.

    w = (X̃ᵀX̃ + lam·I)⁻¹ X̃ᵀỹ with X̃, ỹ centred;  b = ȳ − x̄·w

    X: (n, d), y: (n,), lam ≥ 0 → (w: (d,), b: Python float).
    """
    # TODO: fit_ridge — ridge regression with an unpenalised intercept.
    raise NotImplementedError("fit_ridge: not implemented yet")


def predict(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """Predictions ŷ = Xw + b.

    X: (n, d), w: (d,), b: float → ŷ: (n,).
    """
    # TODO: predict — the linear model's predictions.
    raise NotImplementedError("predict: not implemented yet")


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean squared error (1/n)·Σᵢ(yᵢ − ŷᵢ)².

    y_true: (n,), y_pred: (n,) → Python float.
    """
    # TODO: mse — the mean (not the sum) of the squared errors.
    raise NotImplementedError("mse: not implemented yet")


def gradient_step(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, lr: float
) -> tuple[np.ndarray, float]:
    """One full-batch gradient-descent step on L(w, b) = (1/n)·Σᵢ(xᵢ·w + b − yᵢ)².

    ∂L/∂w = (2/n)·Xᵀ(Xw + b − y),   ∂L/∂b = (2/n)·Σᵢ(xᵢ·w + b − yᵢ)
    w ← w − lr·∂L/∂w,   b ← b − lr·∂L/∂b

    X: (n, d), y: (n,), w: (d,), b: float → (w_new: (d,), b_new: Python float).
    """
    # TODO: gradient_step — one gradient-descent step on the mean squared error.
    raise NotImplementedError("gradient_step: not implemented yet")


def minibatch_sgd(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    b: float,
    lr: float,
    batches: list[np.ndarray],
    weight_decay: float = 0.0,
) -> tuple[np.ndarray, float]:
    """One pass of minibatch SGD over `batches`, in the order given.

    Per-sample loss ½(ŷᵢ − yᵢ)². For each batch B (an int index array of size |B|), with
    ŷ computed from the current w and b:
        w ← (1 − lr·weight_decay)·w − (lr/|B|)·Σ_{i∈B} xᵢ(ŷᵢ − yᵢ)
        b ← b − (lr/|B|)·Σ_{i∈B} (ŷᵢ − yᵢ)          (no weight decay on b)

    X: (n, d), y: (n,), w: (d,), b: float, batches: list of (|B|,) int arrays
    → (w: (d,), b: Python float).
    """
    # TODO: minibatch_sgd — one epoch of minibatch SGD with weight decay on w only.
    raise NotImplementedError("minibatch_sgd: not implemented yet")
