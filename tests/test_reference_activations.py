"""Checks the activations reference against torch (forward functionals and autograd) and scipy."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    path = ROOT / "reference" / "activations" / "solution.py"
    spec = importlib.util.spec_from_file_location("activations_solution", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ref = _load()

TORCH: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda t: F.leaky_relu(t, 0.01),
    "gelu": lambda t: F.gelu(t, approximate="none"),
}


def _inputs() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=300) * 3, np.linspace(-12, 12, 241), [0.0, -0.0, 1e-300, -1e-300, 5e-324]])
    return x.reshape(2, -1)  # 2-D, to check that shapes are kept


@pytest.mark.parametrize("name", sorted(TORCH))
def test_forward_and_derivative_match_torch(name: str) -> None:
    x = _inputs()
    xt = torch.from_numpy(x).requires_grad_()
    y = TORCH[name](xt)
    # The gradient of sum(f(x)) is f'(x) elementwise; torch uses f'(0) = 0 for ReLU, slope for leaky ReLU.
    y.sum().backward()
    got = getattr(ref, name)(x)
    assert got.shape == x.shape and got.dtype == np.float64
    # atol: torch forms 1 + erf(·) and 1 − tanh², which lose relative accuracy in the tails
    # (absolute errors of a few 1e-16); the tail itself is checked against scipy below.
    np.testing.assert_allclose(got, y.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(getattr(ref, name + "_grad")(x), xt.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("slope", [0.0, 0.2, 1.5])
def test_leaky_relu_slope_matches_torch(slope: float) -> None:
    x = _inputs()
    xt = torch.from_numpy(x).requires_grad_()
    F.leaky_relu(xt, slope).sum().backward()
    np.testing.assert_allclose(ref.leaky_relu(x, slope), F.leaky_relu(torch.from_numpy(x), slope).numpy())
    np.testing.assert_allclose(ref.leaky_relu_grad(x, slope), xt.grad.numpy())


def test_derivatives_at_zero_follow_the_course_convention() -> None:
    z = np.zeros(3)
    np.testing.assert_array_equal(ref.relu_grad(z), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(ref.leaky_relu_grad(z, 0.3), [0.3, 0.3, 0.3])
    np.testing.assert_array_equal(ref.sigmoid_grad(z), [0.25] * 3)
    np.testing.assert_array_equal(ref.tanh_grad(z), [1.0] * 3)
    np.testing.assert_array_equal(ref.gelu_grad(z), [0.5] * 3)


def test_gelu_matches_scipy_in_the_far_tail() -> None:
    special = pytest.importorskip("scipy.special")
    x = np.linspace(-37.0, -5.0, 65)
    # x·Φ(x) with Φ from log_ndtr: relative accuracy where 1 + erf(x/√2) cancels.
    np.testing.assert_allclose(ref.gelu(x), x * np.exp(special.log_ndtr(x)), rtol=1e-12)


def test_no_warnings_for_huge_inputs() -> None:
    x = np.array([-1e4, -800.0, -40.0, 0.0, 40.0, 800.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for name in TORCH:
            assert np.all(np.isfinite(getattr(ref, name)(x))), name
            assert np.all(np.isfinite(getattr(ref, name + "_grad")(x))), name
