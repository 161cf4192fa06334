"""Optimizers: momentum, AdaGrad, RMSProp and Adam as functional updates with a state you own."""

import numpy as np


def sgd_momentum(
    w: np.ndarray, grad: np.ndarray, state: dict, lr: float, momentum: float = 0.9
) -> tuple[np.ndarray, dict]:
    """One step of SGD with momentum (as torch.optim.SGD).

    v ← μ·v + g          (v starts at 0: on the first call v = g)
    w ← w − lr·v

    state is {} on the first call, then whatever you returned last time. lr may change from
    one call to the next, so keep lr out of v.

    w: any shape, grad: same shape as w -> (new w: same shape, new state)
    """
    # TODO: update the velocity and take the step.
    raise NotImplementedError("sgd_momentum: not implemented yet")


def adagrad(
    w: np.ndarray, grad: np.ndarray, state: dict, lr: float, eps: float = 1e-10
) -> tuple[np.ndarray, dict]:
    """One step of AdaGrad (as torch.optim.Adagrad).

    G ← G + g²                       (elementwise; G starts at 0)
    w ← w − lr·g / (√G + eps)

    w: any shape, grad: same shape as w -> (new w: same shape, new state)
    """
    # TODO: accumulate the squared gradient and take the step.
    raise NotImplementedError("adagrad: not implemented yet")


def rmsprop(
    w: np.ndarray,
    grad: np.ndarray,
    state: dict,
    lr: float,
    rho: float = 0.99,
    eps: float = 1e-8,
) -> tuple[np.ndarray, dict]:
    """One step of RMSProp (as torch.optim.RMSprop with alpha = rho).

    s ← ρ·s + (1 − ρ)·g²             (elementwise; s starts at 0)
    w ← w − lr·g / (√s + eps)

    w: any shape, grad: same shape as w -> (new w: same shape, new state)
    """
    # TODO: update the running average of g² and take the step.
    raise NotImplementedError("rmsprop: not implemented yet")


def adam(
    w: np.ndarray,
    grad: np.ndarray,
    state: dict,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[np.ndarray, dict]:
    """One step of Adam with bias correction (as torch.optim.Adam).

    t ← t + 1                        (t = 1 on the first call)
    m ← β1·m + (1 − β1)·g            (m, v start at 0)
    v ← β2·v + (1 − β2)·g²
    m̂ = m / (1 − β1ᵗ),   v̂ = v / (1 − β2ᵗ)
    w ← w − lr·m̂ / (√v̂ + eps)

    w: any shape, grad: same shape as w -> (new w: same shape, new state)
    """
    # TODO: update t, m and v, correct their bias and take the step.
    raise NotImplementedError("adam: not implemented yet")
