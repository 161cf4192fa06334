"""Mutant: sigmoid_grad, tanh_grad and gelu_grad taken numerically, by central differences of the
forward functions, none worked out. Right to about 1e-10 on any input, in two passes over the array."""

# expect: taken numerically .*Work the derivative out by hand

from __future__ import annotations

import math

import numpy as np

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# math.erfc is exact to the last bits; NumPy has no erf, and SciPy is not a runtime dependency.
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _phi_cdf(x: np.ndarray) -> np.ndarray:
    # Φ(x) = ½(1 + erf(x/√2)) = ½·erfc(−x/√2); erfc keeps full relative accuracy for x ≪ 0.
    return 0.5 * _erfc(-x / _SQRT2)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1/(1 + e^(−x)), without overflow.  x: any shape → same shape."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))  # in (0, 1]: cannot overflow
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh(x) = (e^x − e^(−x))/(e^x + e^(−x)).  x: any shape → same shape."""
    return np.tanh(np.asarray(x, dtype=np.float64))


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0).  x: any shape → same shape."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, 0.0)


def leaky_relu(x: np.ndarray, slope: float = 0.01) -> np.ndarray:
    """x for x > 0, slope·x otherwise.  x: any shape → same shape."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, slope * x)


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU: x·Φ(x), Φ the standard normal CDF (erf form).  x: any shape → same shape."""
    x = np.asarray(x, dtype=np.float64)
    return x * _phi_cdf(x)


_H = 1e-6


def _central(f, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return (f(x + _H) - f(x - _H)) / (2 * _H)


def sigmoid_grad(x: np.ndarray) -> np.ndarray:
    return _central(sigmoid, x)


def tanh_grad(x: np.ndarray) -> np.ndarray:
    return _central(tanh, x)


def relu_grad(x: np.ndarray) -> np.ndarray:
    """1 for x > 0, else 0 (0 at x = 0).  x: any shape → same shape, float64."""
    x = np.asarray(x, dtype=np.float64)
    return (x > 0).astype(np.float64)


def leaky_relu_grad(x: np.ndarray, slope: float = 0.01) -> np.ndarray:
    """1 for x > 0, else slope (slope at x = 0).  x: any shape → same shape."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, 1.0, float(slope))


def gelu_grad(x: np.ndarray) -> np.ndarray:
    return _central(gelu, x)
