"""Exercise activations: five activation functions and their derivatives, elementwise in NumPy."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic sigmoid, elementwise.

        σ(x) = 1 / (1 + e^(−x))

    Must raise no overflow warning for |x| up to 1e4.

    Shapes:
        x: any shape → same shape, float64
    """
    # TODO: compute σ(x) without exponentiating a large positive number.
    raise NotImplementedError("sigmoid: not implemented yet")


def tanh(x: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent, elementwise.

        tanh(x) = (e^x − e^(−x)) / (e^x + e^(−x))

    Shapes:
        x: any shape → same shape, float64
    """
    # TODO: compute tanh(x).
    raise NotImplementedError("tanh: not implemented yet")


def relu(x: np.ndarray) -> np.ndarray:
    """Rectified linear unit, elementwise.

        relu(x) = max(x, 0)

    Shapes:
        x: any shape → same shape, float64
    """
    # TODO: compute max(x, 0).
    raise NotImplementedError("relu: not implemented yet")


def leaky_relu(x: np.ndarray, slope: float = 0.01) -> np.ndarray:
    """Leaky ReLU, elementwise.

        leaky_relu(x) = x if x > 0, slope·x otherwise

    Shapes:
        x: any shape → same shape, float64
    """
    # TODO: keep positive inputs, scale the others by slope.
    raise NotImplementedError("leaky_relu: not implemented yet")


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU (erf form), elementwise.

        gelu(x) = x·Φ(x),   Φ(x) = ½ (1 + erf(x / √2))   (standard normal CDF)

    Not the tanh approximation.

    Shapes:
        x: any shape → same shape, float64
    """
    # TODO: compute x·Φ(x) with an exact erf (math.erf or scipy.special.erf).
    raise NotImplementedError("gelu: not implemented yet")


def sigmoid_grad(x: np.ndarray) -> np.ndarray:
    """Derivative of sigmoid with respect to its input, elementwise.

        σ'(x) = σ(x) (1 − σ(x))

    Shapes:
        x: any shape → same shape, float64
    """
    # TODO: compute σ'(x) at the input x.
    raise NotImplementedError("sigmoid_grad: not implemented yet")


def tanh_grad(x: np.ndarray) -> np.ndarray:
    """Derivative of tanh with respect to its input, elementwise.

        tanh'(x) = 1 − tanh²(x)

    Shapes:
        x: any shape → same shape, float64
    """
    # TODO: compute tanh'(x) at the input x.
    raise NotImplementedError("tanh_grad: not implemented yet")


def relu_grad(x: np.ndarray) -> np.ndarray:
    """Derivative of relu with respect to its input, elementwise.

        relu'(x) = 1 if x > 0, 0 otherwise   (0 at x = 0)

    Shapes:
        x: any shape → same shape, float64
    """
    # TODO: return 1.0 where x > 0 and 0.0 elsewhere, as float64.
    raise NotImplementedError("relu_grad: not implemented yet")


def leaky_relu_grad(x: np.ndarray, slope: float = 0.01) -> np.ndarray:
    """Derivative of leaky_relu with respect to its input, elementwise.

        leaky_relu'(x) = 1 if x > 0, slope otherwise   (slope at x = 0)

    Shapes:
        x: any shape → same shape, float64
    """
    # TODO: return 1.0 where x > 0 and slope elsewhere, as float64.
    raise NotImplementedError("leaky_relu_grad: not implemented yet")


def gelu_grad(x: np.ndarray) -> np.ndarray:
    """Derivative of the exact GELU with respect to its input, elementwise.

        gelu'(x) = Φ(x) + x·φ(x),   φ(x) = e^(−x²/2) / √(2π)

    Shapes:
        x: any shape → same shape, float64
    """
    # TODO: apply the product rule to x·Φ(x).
    raise NotImplementedError("gelu_grad: not implemented yet")
