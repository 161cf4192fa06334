"""Reference solution of the backprop topic: affine and ReLU layers, and a two-layer MLP loss."""

from __future__ import annotations

from typing import Any

import numpy as np


def affine_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
    """out = x W + b for x (n, d), W (d, m), b (m,); returns (out (n, m), cache)."""
    out = x @ W + b  # (n, m)
    return out, (x, W)


def affine_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of an affine layer: dx (n, d), dW (d, m), db (m,) from dout (n, m)."""
    x, W = cache
    dx = dout @ W.T  # (n, d)
    dW = x.T @ dout  # (d, m)
    db = dout.sum(axis=0)  # (m,)
    return dx, dW, db


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """out = max(x, 0) elementwise; returns (out, cache)."""
    out = np.maximum(x, 0.0)
    return out, x


def relu_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """dx = dout where x > 0, else 0 (the derivative at 0 is taken as 0)."""
    x = cache
    return dout * (x > 0)


def mlp_loss(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """Mean softmax cross-entropy of affine → ReLU → affine, and its gradients."""
    n = X.shape[0]
    h_pre, cache1 = affine_forward(X, params["W1"], params["b1"])  # (n, H)
    h, cache_relu = relu_forward(h_pre)  # (n, H)
    scores, cache2 = affine_forward(h, params["W2"], params["b2"])  # (n, k)

    # Log-softmax with the row maximum subtracted, so logits of 1e3 neither overflow nor give NaN.
    shifted = scores - scores.max(axis=1, keepdims=True)  # (n, k)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (n, k)
    loss = -log_probs[np.arange(n), y].mean()

    dscores = np.exp(log_probs)  # (n, k) softmax
    dscores[np.arange(n), y] -= 1.0
    dscores /= n
    dh, dW2, db2 = affine_backward(dscores, cache2)
    dh_pre = relu_backward(dh, cache_relu)
    _, dW1, db1 = affine_backward(dh_pre, cache1)
    return float(loss), {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
