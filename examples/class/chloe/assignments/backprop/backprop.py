"""Alternative: dict caches, per-sample loops for the loss, logsumexp written by hand."""

from __future__ import annotations

import math

import numpy as np


def affine_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, dict]:
    """out = x W + b."""
    out = np.dot(x, W)
    out += b
    return out, {"x": x, "W": W}


def affine_backward(dout: np.ndarray, cache: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dx, dW, db of an affine layer."""
    x, W = cache["x"], cache["W"]
    dx = np.dot(dout, W.T)
    dW = np.zeros_like(W)
    for i in range(x.shape[0]):  # sum of per-sample outer products
        dW += np.outer(x[i], dout[i])
    db = np.add.reduce(dout, axis=0)
    return dx, dW, db


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, dict]:
    """out = max(x, 0)."""
    out = x.copy()
    out[out < 0] = 0.0
    return out, {"x": x}


def relu_backward(dout: np.ndarray, cache: dict) -> np.ndarray:
    """dx = dout where the input was positive."""
    dx = dout.copy()
    dx[cache["x"] <= 0] = 0.0
    return dx


def mlp_loss(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """Mean softmax cross-entropy of a two-layer net and its gradients."""
    n = X.shape[0]
    a1, c1 = affine_forward(X, params["W1"], params["b1"])
    h, cr = relu_forward(a1)
    s, c2 = affine_forward(h, params["W2"], params["b2"])
    total = 0.0
    ds = np.empty_like(s)
    for i in range(n):
        row = s[i]
        m = row.max()
        lse = m + math.log(np.exp(row - m).sum())
        total += lse - row[y[i]]
        ds[i] = np.exp(row - lse)
        ds[i, y[i]] -= 1.0
    ds /= n
    dh, dW2, db2 = affine_backward(ds, c2)
    _, dW1, db1 = affine_backward(relu_backward(dh, cr), c1)
    return total / n, {"b2": db2, "W2": dW2, "b1": db1, "W1": dW1}
