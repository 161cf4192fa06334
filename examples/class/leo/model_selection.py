"""Reference solution for model_selection: standardisation, k-fold indices, cross-validated ridge."""

import numpy as np


def standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise both sets with the training mean and population std (ddof=0).

    X_train: (n, d), X_test: (m, d) -> X_train_s: (n, d), X_test_s: (m, d).
    A feature whose training values are all equal is only centred (its std is treated as 1).
    """
    mean = X_train.mean(axis=0)  # (d,)
    centred = X_train - mean  # (n, d)
    # Two-pass variance from centred values: E[x²] − E[x]² cancels catastrophically when a
    # feature's offset is large compared with its spread.
    std = np.sqrt(np.mean(centred**2, axis=0))  # (d,)
    # ptp catches constant columns whose mean is inexact (e.g. 0.1 repeated), where the
    # computed std is a tiny rounding residue instead of 0.
    constant = (np.ptp(X_train, axis=0) == 0) | (std == 0)  # (d,)
    scale = np.where(constant, 1.0, std)  # (d,)
    return centred / scale, (X_test - mean) / scale


def kfold_indices(n: int, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Contiguous, unshuffled k-fold split of range(n), as scikit-learn's KFold(k).

    Returns k pairs (train_idx, val_idx) of int arrays, train_idx ascending. Fold i validates on
    a contiguous block; the first n % k folds hold n // k + 1 samples, the others n // k.
    """
    sizes = np.full(k, n // k)  # (k,)
    sizes[: n % k] += 1
    idx = np.arange(n)  # (n,)
    folds = []
    start = 0
    for size in sizes:
        stop = start + int(size)
        val = idx[start:stop]  # (size,)
        train = np.concatenate([idx[:start], idx[stop:]])  # (n - size,)
        folds.append((train, val))
        start = stop
    return folds


def _fit_ridge(X: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    """Minimise Σ(y − Xw − b)² + lam·‖w‖² with b unpenalised. X: (n, d), y: (n,)."""
    x_mean = X.mean(axis=0)  # (d,)
    y_mean = y.mean()
    Xc = X - x_mean  # (n, d)
    yc = y - y_mean  # (n,)
    d = X.shape[1]
    # Centring removes b from the problem; the penalty becomes √lam·I rows appended to Xc,
    # solved by least squares (SVD) rather than the normal equations, which square the
    # condition number.
    A = np.vstack([Xc, np.sqrt(lam) * np.eye(d)])  # (n + d, d)
    rhs = np.concatenate([yc, np.zeros(d)])  # (n + d,)
    w = np.linalg.lstsq(A, rhs, rcond=None)[0]  # (d,)
    b = float(y_mean - x_mean @ w)
    return w, b


def cross_val_mse(X: np.ndarray, y: np.ndarray, k: int, lam: float) -> float:
    """Mean over the k folds of kfold_indices(n, k) of the validation MSE of a ridge fit.

    X: (n, d), y: (n,). Each fold fits ridge (intercept unpenalised) on its training part and
    takes the mean squared error on its validation part; the k fold MSEs are averaged with
    equal weights.
    """
    fold_mse = []
    for train, val in kfold_indices(len(y), k):
        w, b = _fit_ridge(X[train], y[train], lam)
        residual = X[val] @ w + b - y[val]  # (size,)
        fold_mse.append(np.mean(residual**2))
    return float(np.mean(fold_mse))
