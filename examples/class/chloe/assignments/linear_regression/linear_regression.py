"""Correct alternative: QR of [X, 1], ridge by a centred solve, Python loops in SGD."""

from __future__ import annotations

import numpy as np


def fit_univariate(x, y):
    # np.cov divides both the covariance and the variance by n − 1: the factors cancel.
    c = np.cov(x, y)  # (2, 2)
    a = c[0, 1] / c[0, 0]
    return float(a), float(np.mean(y) - a * np.mean(x))


def fit_linear(X, y):
    A = np.column_stack([X, np.ones(X.shape[0])])  # (n, d + 1)
    Q, R = np.linalg.qr(A)  # (n, d + 1), (d + 1, d + 1)
    theta = np.linalg.solve(R, Q.T @ y)  # (d + 1,) R is upper triangular
    return theta[:-1], float(theta[-1])


def fit_ridge(X, y, lam):
    x_mean, y_mean = X.mean(axis=0), y.mean()
    Xc = X - x_mean  # (n, d)
    w = np.linalg.solve(Xc.T @ Xc + lam * np.eye(X.shape[1]), Xc.T @ (y - y_mean))  # (d,)
    return w, float(y_mean - x_mean @ w)


def predict(X, w, b):
    return X.dot(w) + b


def mse(y_true, y_pred):
    return float(np.square(np.subtract(y_true, y_pred)).sum() / len(y_true))


def gradient_step(X, y, w, b, lr):
    n = len(y)
    residual = np.einsum("nd,d->n", X, w) + b - y  # (n,)
    dw = np.einsum("nd,n->d", X, residual) * (2 / n)  # (d,)
    db = residual.sum() * (2 / n)
    return w - lr * dw, float(b - lr * db)


def minibatch_sgd(X, y, w, b, lr, batches, weight_decay=0.0):
    w = w.copy()
    for batch in batches:
        dw = np.zeros_like(w)
        db = 0.0
        for i in batch:
            err = X[i] @ w + b - y[i]
            dw += X[i] * err
            db += err
        w = w * (1 - lr * weight_decay) - lr * dw / len(batch)
        b = b - lr * db / len(batch)
    return w, float(b)
