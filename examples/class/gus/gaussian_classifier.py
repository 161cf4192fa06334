"""Reference solution for gaussian_classifier: two Gaussian classes with a shared covariance, fitted by MLE."""

from __future__ import annotations

import numpy as np


def fit_gaussian(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Class means, shared MLE covariance Σ = (n1·Σ1 + n0·Σ0)/(n1 + n0) and class counts.

    X: (n, d), y: (n,) in {0, 1} → mu1: (d,), mu0: (d,), sigma: (d, d), n1: int, n0: int.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    X1 = X[y == 1]  # (n1, d)
    X0 = X[y == 0]  # (n0, d)
    n1, n0 = X1.shape[0], X0.shape[0]
    mu1 = X1.mean(axis=0)  # (d,)
    mu0 = X0.mean(axis=0)  # (d,)
    D1 = X1 - mu1  # (n1, d)
    D0 = X0 - mu0  # (n0, d)
    # nk·Σk is class k's scatter matrix, so the weighted average of the MLEs needs one division.
    sigma = (D1.T @ D1 + D0.T @ D0) / (n1 + n0)  # (d, d)
    return mu1, mu0, sigma, int(n1), int(n0)


def linear_form(
    mu1: np.ndarray, mu0: np.ndarray, sigma: np.ndarray, n1: int, n0: int
) -> tuple[np.ndarray, float]:
    """w = Σ⁻¹(μ1 − μ0), b = −½ μ1ᵀΣ⁻¹μ1 + ½ μ0ᵀΣ⁻¹μ0 + ln(n1/n0).

    mu1, mu0: (d,), sigma: (d, d) → w: (d,), b: float.
    """
    mu1 = np.asarray(mu1, dtype=np.float64)
    mu0 = np.asarray(mu0, dtype=np.float64)
    w = np.linalg.solve(sigma, mu1 - mu0)  # (d,)
    # Σ is symmetric, so −½μ1ᵀΣ⁻¹μ1 + ½μ0ᵀΣ⁻¹μ0 = −½(μ1 + μ0)·w: one product instead of
    # the difference of two large quadratic forms.
    b = -0.5 * float((mu1 + mu0) @ w) + float(np.log(n1) - np.log(n0))
    return w, b


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))  # in (0, 1]: cannot overflow
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def posterior(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """P(C1 | x) = σ(w·x + b) for every row of X, without overflow.

    X: (n, d), w: (d,) → (n,).
    """
    z = np.asarray(X, dtype=np.float64) @ w + b  # (n,)
    return _sigmoid(z)


def predict(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """1 where P(C1 | x) ≥ 0.5 (that is, w·x + b ≥ 0), else 0.

    X: (n, d), w: (d,) → (n,) int64.
    """
    z = np.asarray(X, dtype=np.float64) @ w + b  # (n,)
    return (z >= 0).astype(np.int64)
