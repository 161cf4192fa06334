"""Mutant: every gradient taken by central differences of the forward pass, none worked out.
Right at the small sizes; at a layer's usual size it needs a forward pass per entry."""

# expect: did not finish within .*finite differences.*Work the gradient out by hand

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

H = 1e-5


def _differences(f: Callable[[], float], v: np.ndarray) -> np.ndarray:
    """d f / d v, entry by entry: v nudged up and down in place."""
    g = np.zeros_like(v)
    for i in np.ndindex(v.shape):
        old = v[i]
        v[i] = old + H
        up = f()
        v[i] = old - H
        down = f()
        v[i] = old
        g[i] = (up - down) / (2 * H)
    return g


def affine_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
    return x @ W + b, (x, W, b)


def affine_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, W, b = (np.array(a, dtype=np.float64) for a in cache)

    def f() -> float:
        return float(np.sum((x @ W + b) * dout))

    return _differences(f, x), _differences(f, W), _differences(f, b)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    return np.maximum(x, 0.0), x


def relu_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    x = np.array(cache, dtype=np.float64)

    def f() -> float:
        return float(np.sum(np.maximum(x, 0.0) * dout))

    kink = x <= 0
    dx = _differences(f, x)
    dx[kink] = 0.0  # the convention at the kink, as the statement asks
    return dx


def _loss(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    scores = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(X.shape[0]), y].mean())


def mlp_loss(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray
             ) -> tuple[float, dict[str, np.ndarray]]:
    p = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    return _loss(p, X, y), {k: _differences(lambda: _loss(p, X, y), p[k])
                            for k in ("W1", "b1", "W2", "b2")}
