"""Backpropagation exercise: affine and ReLU layers with caches, and a two-layer MLP loss."""

from __future__ import annotations

from typing import Any

import numpy as np


def affine_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
    """Forward pass of an affine (fully connected) layer.

        out = x W + b

    Shapes:
        x: (n, d) inputs, one sample per row
        W: (d, m) weights
        b: (m,) bias, added to every row
    Returns:
        out: (n, m)
        cache: whatever affine_backward will need; the grader passes it back untouched
    """
    # TODO: compute out = x W + b and choose what to keep in the cache.
    raise NotImplementedError("affine_forward: not implemented yet")


def affine_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of an affine layer.

        dx = dout Wᵀ,   dW = xᵀ dout,   db = Σ_rows dout

    Shapes:
        dout: (n, m) upstream gradient ∂L/∂out
        cache: what affine_forward returned
    Returns:
        dx: (n, d), dW: (d, m), db: (m,)
    """
    # TODO: compute the gradients of the loss with respect to x, W and b.
    raise NotImplementedError("affine_backward: not implemented yet")


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """Forward pass of a ReLU, elementwise.

        out = max(x, 0)

    Shapes:
        x: any shape
    Returns:
        out: same shape as x
        cache: whatever relu_backward will need; the grader passes it back untouched
    """
    # TODO: compute out = max(x, 0) and choose what to keep in the cache.
    raise NotImplementedError("relu_forward: not implemented yet")


def relu_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Backward pass of a ReLU, elementwise.

        dx = dout · 1[x > 0]        (the derivative at x = 0 is taken as 0)

    Shapes:
        dout: same shape as x, upstream gradient ∂L/∂out
        cache: what relu_forward returned
    Returns:
        dx: same shape as x
    """
    # TODO: let the gradient through where the input was positive.
    raise NotImplementedError("relu_backward: not implemented yet")


def mlp_loss(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """Loss and gradients of a two-layer network: affine → ReLU → affine → softmax cross-entropy.

        s = relu(X W1 + b1) W2 + b2
        L = −(1/n) Σ_i log softmax(s_i)[y_i]

    Shapes:
        params: {"W1": (d, H), "b1": (H,), "W2": (H, k), "b2": (k,)}
        X: (n, d) inputs
        y: (n,) integer labels in 0 .. k−1
    Returns:
        loss: float, the mean cross-entropy (finite even for scores around 1e3: compute the
            log-softmax as s − max − log Σ exp(s − max), never the log of the softmax)
        grads: {"W1", "b1", "W2", "b2"}, each ∂L/∂param with the shape of the parameter
    """
    # TODO: run the forward pass with your layers, then backpropagate through them.
    raise NotImplementedError("mlp_loss: not implemented yet")
