"""Alternative: caches are objects of a private class; einsum products; scipy log-softmax."""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax


class _AffineCache:
    def __init__(self, x: np.ndarray, W: np.ndarray) -> None:
        self.x, self.W = x, W


class _ReluCache:
    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask


def affine_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, _AffineCache]:
    """out = x W + b."""
    out = np.einsum("nd,dm->nm", x, W) + b[None, :]  # (n, m)
    return out, _AffineCache(x=x.copy(), W=W.copy())


def affine_backward(
    dout: np.ndarray, cache: _AffineCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dx, dW, db of an affine layer."""
    dx = np.einsum("nm,dm->nd", dout, cache.W)  # (n, d)
    dW = np.einsum("nd,nm->dm", cache.x, dout)  # (d, m)
    db = np.einsum("nm->m", dout)  # (m,)
    return dx, dW, db


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, _ReluCache]:
    """out = max(x, 0)."""
    mask = x > 0
    return np.where(mask, x, 0.0), _ReluCache(mask=mask)


def relu_backward(dout: np.ndarray, cache: _ReluCache) -> np.ndarray:
    """dx = dout where the input was positive."""
    return np.where(cache.mask, dout, 0.0)


def mlp_loss(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """Mean softmax cross-entropy of a two-layer net and its gradients."""
    n = X.shape[0]
    a1, c1 = affine_forward(X, params["W1"], params["b1"])
    h, cr = relu_forward(a1)
    s, c2 = affine_forward(h, params["W2"], params["b2"])
    logp = log_softmax(s, axis=1)  # (n, k)
    onehot = np.eye(s.shape[1])[y]  # (n, k)
    loss = -(logp * onehot).sum() / n
    ds = (np.exp(logp) - onehot) / n
    dh, dW2, db2 = affine_backward(ds, c2)
    _, dW1, db1 = affine_backward(relu_backward(dh, cr), c1)
    return float(loss), {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
