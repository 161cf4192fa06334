"""Correct alternative: SVD of the centred data for OLS and ridge, a stacked [w, b] in the steps."""

from __future__ import annotations

import numpy as np


def _centre(X, y):
    x_mean = np.mean(X, axis=0)  # (d,)
    y_mean = float(np.mean(y))
    return X - x_mean, y - y_mean, x_mean, y_mean


def fit_univariate(x, y):
    # Least squares on the centred x: the second coefficient is then ȳ.
    A = np.column_stack([x - x.mean(), np.ones_like(x)])  # (n, 2)
    a, c = np.linalg.lstsq(A, y, rcond=None)[0]
    return float(a), float(c - a * x.mean())


def _svd_ridge(X, y, lam):
    Xc, yc, x_mean, y_mean = _centre(X, y)
    U, s, Vt = np.linalg.svd(Xc, full_matrices=False)  # (n, d), (d,), (d, d)
    # Ridge shrinks each singular direction: w = V diag(s / (s² + lam)) Uᵀ ỹ.
    w = Vt.T @ ((s / (s**2 + lam)) * (U.T @ yc))  # (d,)
    return w, y_mean - float(x_mean @ w)


def fit_linear(X, y):
    return _svd_ridge(X, y, 0.0)


def fit_ridge(X, y, lam):
    return _svd_ridge(X, y, float(lam))


def predict(X, w, b):
    return np.matmul(X, w) + np.full(X.shape[0], b)


def mse(y_true, y_pred):
    return float(np.mean((y_pred - y_true) ** 2))


def gradient_step(X, y, w, b, lr):
    A = np.column_stack([X, np.ones(len(y))])  # (n, d + 1)
    theta = np.append(w, b)  # (d + 1,)
    grad = 2 * A.T @ (A @ theta - y) / len(y)  # (d + 1,)
    theta = theta - lr * grad
    return theta[:-1], float(theta[-1])


def minibatch_sgd(X, y, w, b, lr, batches, weight_decay=0.0):
    theta = np.append(w, b).astype(np.float64)  # (d + 1,) intercept last
    decay = np.full(theta.shape, 1 - lr * weight_decay)
    decay[-1] = 1.0  # the intercept is not decayed
    for idx in batches:
        A = np.column_stack([X[idx], np.ones(len(idx))])  # (m, d + 1)
        grad = A.T @ (A @ theta - y[idx]) / len(idx)  # (d + 1,)
        theta = decay * theta - lr * grad
    return theta[:-1], float(theta[-1])
