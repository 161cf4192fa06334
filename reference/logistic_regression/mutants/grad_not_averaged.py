"""Mutant: bce_grad sums over samples instead of averaging (forgets to divide by n)."""

# expect: bce_grad → dw: (.|\n)*forgets? to divide

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1/(1 + e^(−z)) elementwise, with no overflow for any |z|.

    z: any shape → same shape, float64.
    """
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))  # in (0, 1]: cannot overflow
    # σ(z) = 1/(1 + e^(−z)) for z ≥ 0 and e^z/(1 + e^z) for z < 0: both only ever see e^(−|z|).
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(z: np.ndarray) -> np.ndarray:
    # ln(1 + e^z) = max(z, 0) + ln(1 + e^(−|z|)): exact for large |z|, no overflow.
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def bce_loss(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    """Mean binary cross-entropy of σ(Xw + b) against y, computed from the logits.

    −[y ln σ(z) + (1 − y) ln(1 − σ(z))] = ln(1 + e^z) − y·z.
    X: (n, d), y: (n,) in {0, 1}, w: (d,) → float.
    """
    z = np.asarray(X, dtype=np.float64) @ w + b  # (n,)
    return float(np.mean(_softplus(z) - y * z))


def bce_grad(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> tuple[np.ndarray, float]:
    """Gradient of bce_loss: dw = Xᵀ(σ(z) − y)/n, db = mean(σ(z) − y).

    X: (n, d), y: (n,), w: (d,) → dw: (d,), db: float.
    """
    X = np.asarray(X, dtype=np.float64)
    r = sigmoid(X @ w + b) - y  # (n,)
    return X.T @ r, float(np.sum(r))


def fit_logistic(X: np.ndarray, y: np.ndarray, lr: float, steps: int) -> tuple[np.ndarray, float]:
    """`steps` full-batch gradient-descent steps on bce_loss from w = 0, b = 0.

    X: (n, d), y: (n,) → w: (d,), b: float.
    """
    X = np.asarray(X, dtype=np.float64)
    w = np.zeros(X.shape[1])  # (d,)
    b = 0.0
    for _ in range(steps):
        dw, db = bce_grad(X, y, w, b)  # both gradients at the same point
        w = w - lr * dw
        b = b - lr * db
    return w, float(b)


def softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for logits of any size.

    Z: (n, k) → (n, k), each row sums to 1.
    """
    Z = np.asarray(Z, dtype=np.float64)
    E = np.exp(Z - Z.max(axis=1, keepdims=True))  # (n, k), largest entry of each row is 1
    return E / E.sum(axis=1, keepdims=True)


def softmax_cross_entropy(Z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(Z) against integer labels, and its gradient.

    loss = mean_i [logsumexp(Z_i) − Z_i,y_i],  dZ = (softmax(Z) − onehot(y)) / n.
    Z: (n, k), y: (n,) int in [0, k) → loss: float, dZ: (n, k).
    """
    Z = np.asarray(Z, dtype=np.float64)
    n = Z.shape[0]
    rows = np.arange(n)
    S = Z - Z.max(axis=1, keepdims=True)  # (n, k), shifted logits ≤ 0
    lse = np.log(np.exp(S).sum(axis=1))  # (n,), log-sum-exp of the shifted rows
    loss = float(np.mean(lse - S[rows, y]))
    dZ = np.exp(S - lse[:, None])  # (n, k) = softmax(Z)
    dZ[rows, y] -= 1.0
    return loss, dZ / n
