"""Alternative: boolean-mask assignment, per-row loops, sample-by-sample gradient sums."""

from __future__ import annotations

import math

import numpy as np


def sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def bce_loss(X, y, w, b):
    total = 0.0
    for x, t in zip(X, y):
        z = float(x @ w + b)
        # −ln σ(z) = ln(1 + e^(−z)) and −ln(1 − σ(z)) = ln(1 + e^z), via logaddexp.
        total += np.logaddexp(0.0, -z) if t == 1 else np.logaddexp(0.0, z)
    return total / len(y)


def bce_grad(X, y, w, b):
    dw = np.zeros_like(w, dtype=np.float64)
    db = 0.0
    for x, t in zip(X, y):
        r = sigmoid(np.array(x @ w + b)) - t
        dw += r * x
        db += float(r)
    return dw / len(y), db / len(y)


def fit_logistic(X, y, lr, steps):
    w = np.zeros(X.shape[1])
    b = 0.0
    for _ in range(steps):
        dw, db = bce_grad(X, y, w, b)
        w -= lr * dw
        b -= lr * db
    return w, b


def softmax(Z):
    out = np.empty(Z.shape)
    for i, row in enumerate(Z):
        e = np.exp(row - row.max())
        out[i] = e / e.sum()
    return out


def softmax_cross_entropy(Z, y):
    n = Z.shape[0]
    P = softmax(Z)
    loss = 0.0
    for i in range(n):
        m = Z[i].max()
        loss += m + math.log(np.exp(Z[i] - m).sum()) - Z[i, y[i]]
        P[i, y[i]] -= 1.0
    return loss / n, P / n
