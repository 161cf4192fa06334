"""Alternative: scipy.special's expit, log_expit and logsumexp; one-hot matrix from np.eye."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit, logsumexp


def sigmoid(z):
    return expit(np.asarray(z, dtype=np.float64))


def bce_loss(X, y, w, b):
    z = X @ w + b
    # ln σ(z) and ln(1 − σ(z)) = ln σ(−z), each exact in the tails.
    return float(-np.mean(y * log_expit(z) + (1 - y) * log_expit(-z)))


def bce_grad(X, y, w, b):
    r = expit(X @ w + b) - y
    return r @ X / len(y), float(r.mean())


def fit_logistic(X, y, lr, steps):
    w, b = np.zeros(X.shape[1]), 0.0
    step = 0
    while step < steps:
        dw, db = bce_grad(X, y, w, b)
        w, b = w - lr * dw, b - lr * db
        step += 1
    return w, b


def softmax(Z):
    return np.exp(Z - logsumexp(Z, axis=1, keepdims=True))


def softmax_cross_entropy(Z, y):
    n, k = Z.shape
    onehot = np.eye(k)[y]
    log_p = Z - logsumexp(Z, axis=1, keepdims=True)
    loss = -np.sum(onehot * log_p) / n
    return float(loss), (np.exp(log_p) - onehot) / n
