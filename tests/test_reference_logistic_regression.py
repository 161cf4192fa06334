"""Checks the logistic_regression reference against torch (functionals, autograd, SGD) and scipy."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    path = ROOT / "reference" / "logistic_regression" / "solution.py"
    spec = importlib.util.spec_from_file_location("logistic_regression_solution", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ref = _load()
T = torch.from_numpy


def _problem(seed: int, n: int, d: int, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (rng.random(n) < 0.4).astype(np.int64)
    w = scale * rng.normal(size=d)
    b = float(scale * rng.normal())
    return X, y, w, b


def test_sigmoid_matches_torch_over_the_whole_range() -> None:
    z = np.concatenate([np.linspace(-1e4, 1e4, 2001), np.linspace(-40, 40, 801), [0.0, -745.0, 745.0]])
    # Underflow to 0 is expected; overflow or NaN would be a bug.
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = ref.sigmoid(z)
    np.testing.assert_allclose(got, torch.sigmoid(T(z)).numpy(), rtol=1e-14, atol=1e-300)
    assert got.shape == z.shape and got.dtype == np.float64


@pytest.mark.parametrize("seed,n,d,scale", [(0, 40, 3, 1.0), (1, 1, 4, 1.0), (2, 25, 2, 300.0)])
def test_bce_loss_and_grad_match_torch(seed: int, n: int, d: int, scale: float) -> None:
    X, y, w, b = _problem(seed, n, d, scale)
    wt = T(w).requires_grad_()
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(T(X) @ wt + bt, T(y).double())
    loss.backward()
    assert np.isclose(ref.bce_loss(X, y, w, b), loss.item(), rtol=1e-12)
    dw, db = ref.bce_grad(X, y, w, b)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-10, atol=1e-15)
    assert np.isclose(db, bt.grad.item(), rtol=1e-10, atol=1e-15)
    assert type(db) is float


def test_bce_loss_is_exact_when_confidently_wrong() -> None:
    X = np.array([[1.0], [-1.0]])
    y = np.array([0, 1])
    # z = ±1000 with the wrong label: each sample loses ln(1 + e^1000) ≈ 1000.
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = ref.bce_loss(X, y, np.array([1000.0]), 0.0)
    assert loss == pytest.approx(1000.0, rel=1e-12)


@pytest.mark.parametrize("steps", [0, 1, 30])
def test_fit_logistic_matches_torch_sgd(steps: int) -> None:
    X, y, _, _ = _problem(3, 60, 4)
    lr = 0.7
    wt = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    bt = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([wt, bt], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(T(X) @ wt + bt, T(y).double()).backward()
        opt.step()
    w, b = ref.fit_logistic(X, y, lr, steps)
    np.testing.assert_allclose(w, wt.detach().numpy(), rtol=1e-10, atol=1e-14)
    assert b == pytest.approx(bt.item(), rel=1e-10, abs=1e-14)


def test_fit_logistic_converges_to_the_maximum_likelihood_fit() -> None:
    sklearn = pytest.importorskip("sklearn.linear_model")
    X, y, _, _ = _problem(4, 200, 3)
    w, b = ref.fit_logistic(X, y, 1.0, 3000)
    clf = sklearn.LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(w, clf.coef_[0], rtol=1e-5, atol=1e-7)
    assert b == pytest.approx(clf.intercept_[0], rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("shape,scale", [((5, 3), 1.0), ((1, 7), 10.0), ((4, 2), 1e3), ((3, 5), 1e4)])
def test_softmax_matches_torch(shape: tuple[int, int], scale: float) -> None:
    Z = scale * np.random.default_rng(5).normal(size=shape)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        got = ref.softmax(Z)
    np.testing.assert_allclose(got, F.softmax(T(Z), dim=1).numpy(), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("shape,scale", [((6, 4), 1.0), ((1, 3), 2.0), ((5, 2), 1e3), ((4, 6), 1e4)])
def test_softmax_cross_entropy_matches_torch(shape: tuple[int, int], scale: float) -> None:
    rng = np.random.default_rng(6)
    Z = scale * rng.normal(size=shape)
    y = rng.integers(0, shape[1], size=shape[0])
    Zt = T(Z).requires_grad_()
    loss = F.cross_entropy(Zt, T(y))
    loss.backward()
    got_loss, got_dZ = ref.softmax_cross_entropy(Z, y)
    assert got_loss == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(got_dZ, Zt.grad.numpy(), rtol=1e-10, atol=1e-15)
    assert type(got_loss) is float


def test_softmax_matches_scipy() -> None:
    special = pytest.importorskip("scipy.special")
    Z = np.random.default_rng(7).normal(size=(8, 5)) * 50
    np.testing.assert_allclose(ref.softmax(Z), special.softmax(Z, axis=1), rtol=1e-12, atol=1e-300)
