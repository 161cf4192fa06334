"""Cross-checks the backprop reference against torch autograd on random inputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

_PATH = Path(__file__).resolve().parents[1] / "reference" / "backprop" / "solution.py"


def _load():
    spec = importlib.util.spec_from_file_location("backprop_reference", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load()


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("n,d,m", [(1, 3, 2), (7, 4, 5), (3, 6, 1)])
def test_affine_matches_torch_linear(n: int, d: int, m: int) -> None:
    rng = np.random.default_rng(n * 100 + d * 10 + m)
    x, W, b, dout = (rng.normal(size=s) for s in [(n, d), (d, m), (m,), (n, m)])
    out, cache = ref.affine_forward(x, W, b)
    dx, dW, db = ref.affine_backward(dout, cache)

    xt, Wt, bt = _t(x), _t(W), _t(b)
    out_t = F.linear(xt, Wt.T, bt)
    out_t.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dW, Wt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_relu_matches_torch_including_zero() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(-2, 3, size=(6, 5)).astype(np.float64)  # many exact zeros
    dout = rng.normal(size=x.shape)
    out, cache = ref.relu_forward(x)
    dx = ref.relu_backward(dout, cache)
    xt = _t(x)
    out_t = torch.relu(xt)
    out_t.backward(torch.from_numpy(dout))
    assert (x == 0).any()
    np.testing.assert_array_equal(out, out_t.detach().numpy())
    np.testing.assert_array_equal(dx, xt.grad.numpy())


@pytest.mark.parametrize("scale", [1.0, 300.0])
def test_mlp_loss_matches_torch_cross_entropy(scale: float) -> None:
    rng = np.random.default_rng(int(scale))
    n, d, h, k = 9, 5, 7, 4
    params = {
        "W1": rng.normal(size=(d, h)),
        "b1": rng.normal(size=h),
        "W2": scale * rng.normal(size=(h, k)),
        "b2": rng.normal(size=k),
    }
    X = rng.normal(size=(n, d))
    y = rng.integers(0, k, size=n)
    loss, grads = ref.mlp_loss(params, X, y)

    tp = {key: _t(v) for key, v in params.items()}
    scores = torch.relu(torch.from_numpy(X) @ tp["W1"] + tp["b1"]) @ tp["W2"] + tp["b2"]
    loss_t = F.cross_entropy(scores, torch.from_numpy(y))
    loss_t.backward()
    assert isinstance(loss, float) and np.isfinite(loss)
    np.testing.assert_allclose(loss, loss_t.item(), rtol=1e-12)
    assert set(grads) == {"W1", "b1", "W2", "b2"}
    for key in params:
        np.testing.assert_allclose(grads[key], tp[key].grad.numpy(), rtol=1e-10, atol=1e-12)
