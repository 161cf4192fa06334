"""Exercise logistic_regression: stable sigmoid and softmax, cross-entropy losses, their gradients, and a fit."""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function, elementwise.

        σ(z) = 1 / (1 + e^(−z))

    Must raise no overflow warning and return finite values for |z| up to 1e4.

    Shapes:
        z: any shape → same shape, float64 in [0, 1]
    """
    # TODO: compute σ(z) without ever exponentiating a large positive number.
    raise NotImplementedError("sigmoid: not implemented yet")


def bce_loss(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    """Mean binary cross-entropy of the predictions σ(Xw + b), computed from the logits.

        z_i = x_i·w + b
        L = (1/n) Σ_i −[y_i ln σ(z_i) + (1 − y_i) ln(1 − σ(z_i))]
          = (1/n) Σ_i [ln(1 + e^(z_i)) − y_i z_i]

    Must be finite (and exact) even when a prediction is confidently wrong (|z| around 1e3).

    Shapes:
        X: (n, d), y: (n,) int in {0, 1}, w: (d,), b: float
        returns float
    """
    # TODO: compute the logits and the mean loss with a stable ln(1 + e^z).
    raise NotImplementedError("bce_loss: not implemented yet")


def bce_grad(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> tuple[np.ndarray, float]:
    """Gradient of bce_loss with respect to w and b.

        dw = (1/n) Σ_i (σ(z_i) − y_i) x_i = Xᵀ(σ(Xw + b) − y) / n
        db = (1/n) Σ_i (σ(z_i) − y_i)

    Shapes:
        X: (n, d), y: (n,), w: (d,), b: float
        returns dw: (d,), db: float
    """
    # TODO: compute the residuals σ(z) − y and average them against X and 1.
    raise NotImplementedError("bce_grad: not implemented yet")


def fit_logistic(X: np.ndarray, y: np.ndarray, lr: float, steps: int) -> tuple[np.ndarray, float]:
    """Full-batch gradient descent on bce_loss, starting from w = 0, b = 0.

        repeat `steps` times:
            dw, db = bce_grad(X, y, w, b)
            w ← w − lr·dw,   b ← b − lr·db

    Shapes:
        X: (n, d), y: (n,), lr: float, steps: int ≥ 0
        returns w: (d,), b: float
    """
    # TODO: run exactly `steps` simultaneous updates of w and b.
    raise NotImplementedError("fit_logistic: not implemented yet")


def softmax(Z: np.ndarray) -> np.ndarray:
    """Softmax of every row.

        softmax(Z)_ij = e^(Z_ij) / Σ_l e^(Z_il)

    Must be finite and warning-free for logits up to 1e4 in size.

    Shapes:
        Z: (n, k) → (n, k), every row sums to 1
    """
    # TODO: subtract each row's maximum before exponentiating, then normalise each row.
    raise NotImplementedError("softmax: not implemented yet")


def softmax_cross_entropy(Z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(Z) against integer labels, and its gradient.

        loss = (1/n) Σ_i [ln Σ_l e^(Z_il) − Z_i,y_i]
        dZ   = (softmax(Z) − onehot(y)) / n

    Must be finite for logits up to 1e4 in size.

    Shapes:
        Z: (n, k), y: (n,) int in [0, k)
        returns loss: float, dZ: (n, k)
    """
    # TODO: compute a stable log-sum-exp per row, the mean loss and the gradient.
    raise NotImplementedError("softmax_cross_entropy: not implemented yet")
