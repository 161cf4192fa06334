"""Checks the linear_regression reference against scipy, scikit-learn and torch autograd."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import mean_squared_error

ROOT = Path(__file__).resolve().parents[1]


def _load_reference():
    path = ROOT / "reference" / "linear_regression" / "solution.py"
    spec = importlib.util.spec_from_file_location("reference_linear_regression", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


def _data(rng: np.random.Generator, n: int = 37, d: int = 4) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(loc=3.0, scale=2.0, size=(n, d))
    y = X @ rng.normal(size=d) - 1.7 + rng.normal(size=n)
    return X, y


def test_fit_univariate_matches_scipy_linregress(rng):
    x = rng.normal(loc=50.0, size=25)
    y = 0.3 * x + 4.0 + rng.normal(size=25)
    a, b = ref.fit_univariate(x, y)
    fit = stats.linregress(x, y)
    assert isinstance(a, float) and isinstance(b, float)
    np.testing.assert_allclose([a, b], [fit.slope, fit.intercept], rtol=1e-10)


def test_fit_linear_matches_sklearn(rng):
    X, y = _data(rng)
    w, b = ref.fit_linear(X, y)
    model = LinearRegression().fit(X, y)
    assert w.shape == (4,) and isinstance(b, float)
    np.testing.assert_allclose(w, model.coef_, rtol=1e-10)
    np.testing.assert_allclose(b, model.intercept_, rtol=1e-10)


def test_fit_linear_recovers_exact_model_when_ill_conditioned(rng):
    # cond(X) ≈ 1e7: an exactly linear y must still give back the true coefficients.
    X = rng.normal(size=(40, 4))
    X[:, 3] = X[:, 2] + 1e-7 * rng.normal(size=40)
    w_true = np.array([1.0, -2.0, 0.5, 1.5])
    y = X @ w_true + 1.5
    w, b = ref.fit_linear(X, y)
    np.testing.assert_allclose(w, w_true, rtol=1e-7)
    np.testing.assert_allclose(b, 1.5, rtol=1e-12)


@pytest.mark.parametrize("lam", [0.0, 0.3, 25.0])
def test_fit_ridge_matches_sklearn(rng, lam):
    X, y = _data(rng)
    w, b = ref.fit_ridge(X, y, lam)
    # sklearn's Ridge minimises ‖y − Xw − b‖² + alpha‖w‖² with an unpenalised intercept.
    model = Ridge(alpha=lam, solver="svd").fit(X, y)
    np.testing.assert_allclose(w, model.coef_, rtol=1e-9)
    np.testing.assert_allclose(b, model.intercept_, rtol=1e-9)


def test_predict_and_mse_match_sklearn(rng):
    X, y = _data(rng)
    w, b = ref.fit_linear(X, y)
    model = LinearRegression().fit(X, y)
    np.testing.assert_allclose(ref.predict(X, w, b), model.predict(X), rtol=1e-10)
    got = ref.mse(y, ref.predict(X, w, b))
    assert isinstance(got, float)
    np.testing.assert_allclose(got, mean_squared_error(y, model.predict(X)), rtol=1e-10)


def test_gradient_step_matches_torch_autograd(rng):
    X, y = _data(rng, n=23, d=3)
    w0, b0, lr = rng.normal(size=3), 0.4, 0.05
    w_t = torch.tensor(w0, requires_grad=True)
    b_t = torch.tensor(b0, dtype=torch.float64, requires_grad=True)
    loss = torch.mean((torch.from_numpy(X) @ w_t + b_t - torch.from_numpy(y)) ** 2)
    loss.backward()
    w, b = ref.gradient_step(X, y, w0, b0, lr)
    np.testing.assert_allclose(w, w0 - lr * w_t.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b, b0 - lr * b_t.grad.item(), rtol=1e-12)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_minibatch_sgd_matches_torch_sgd(rng, weight_decay):
    n, d, lr = 29, 3, 0.07
    X, y = _data(rng, n=n, d=d)
    w0, b0 = rng.normal(size=d), -0.3
    order = rng.permutation(n)
    batches = [order[i : i + 8] for i in range(0, n, 8)]  # last batch has 5 samples
    w_t = torch.tensor(w0, requires_grad=True)
    b_t = torch.tensor(b0, dtype=torch.float64, requires_grad=True)
    # torch's coupled weight decay adds wd·w to the gradient: w ← (1 − lr·wd)·w − lr·g.
    opt = torch.optim.SGD(
        [{"params": [w_t], "weight_decay": weight_decay}, {"params": [b_t], "weight_decay": 0.0}],
        lr=lr,
    )
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for idx in batches:
        opt.zero_grad()
        loss = 0.5 * torch.mean((Xt[idx] @ w_t + b_t - yt[idx]) ** 2)
        loss.backward()
        opt.step()
    w_before = w0.copy()
    w, b = ref.minibatch_sgd(X, y, w0, b0, lr, batches, weight_decay=weight_decay)
    np.testing.assert_array_equal(w0, w_before)  # the caller's w is left alone
    np.testing.assert_allclose(w, w_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(b, b_t.item(), rtol=1e-12)
    assert isinstance(b, float)
