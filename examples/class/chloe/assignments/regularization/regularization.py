"""Regularization: inverted dropout, Xavier uniform initialisation, L2 penalty and weight decay."""

import numpy as np


def dropout_forward(
    x: np.ndarray, p: float, train: bool, u: np.ndarray
) -> tuple[np.ndarray, object]:
    """Inverted dropout: drop each entry with probability p, rescale the rest by 1/(1 − p).

    train:  keep = (u >= p)                 (an entry with u exactly p is kept)
            out  = x · keep / (1 − p)
    eval:   out  = x                        (u is ignored)

    mask is yours: whatever you return is passed back unchanged to dropout_backward.

    x: any shape, p: float in [0, 1), train: bool, u: uniform [0, 1) array of x's shape
    -> (out: x's shape, mask)
    """
    # TODO: build the keep mask from u and apply inverted dropout in training mode.
    raise NotImplementedError("dropout_forward: not implemented yet")


def dropout_backward(dout: np.ndarray, mask: object, p: float, train: bool) -> np.ndarray:
    """Gradient of dropout_forward with respect to x.

    train:  dx = dout · keep / (1 − p)
    eval:   dx = dout

    dout: x's shape, mask: what your dropout_forward returned -> dx: x's shape
    """
    # TODO: route the gradient through the kept entries.
    raise NotImplementedError("dropout_backward: not implemented yet")


def xavier_uniform(fan_in: int, fan_out: int, seed: int) -> np.ndarray:
    """Xavier (Glorot) uniform initialisation.

    W_ij ~ U(−a, a),   a = √(6 / (fan_in + fan_out))     so Var(W_ij) = 2 / (fan_in + fan_out)

    Draw from a generator seeded with seed: the same seed gives the same matrix.

    fan_in: int, fan_out: int, seed: int -> W: (fan_in, fan_out)
    """
    # TODO: draw the matrix from a seeded generator.
    raise NotImplementedError("xavier_uniform: not implemented yet")


def l2_penalty(w: np.ndarray, lam: float) -> tuple[float, np.ndarray]:
    """L2 penalty and its gradient.

    value = lam/2 · ‖w‖²  (sum of the squares of every entry of w)
    grad  = ∂value/∂w

    w: any shape, lam: float -> (value: float, grad: w's shape)
    """
    # TODO: compute the penalty and its gradient.
    raise NotImplementedError("l2_penalty: not implemented yet")


def weight_decay_step(w: np.ndarray, grad: np.ndarray, lr: float, lam: float) -> np.ndarray:
    """One gradient step with weight decay.

    w ← (1 − lr·lam) · w − lr · grad

    w: any shape, grad: w's shape, lr: float, lam: float -> new w: w's shape
    """
    # TODO: shrink w and take the gradient step.
    raise NotImplementedError("weight_decay_step: not implemented yet")
