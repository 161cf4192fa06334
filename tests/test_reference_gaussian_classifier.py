"""Checks the gaussian_classifier reference against scikit-learn's LDA and a direct Bayes-rule computation."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")
from scipy.stats import multivariate_normal
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    path = ROOT / "reference" / "gaussian_classifier" / "solution.py"
    spec = importlib.util.spec_from_file_location("gaussian_classifier_solution", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ref = _load()


def _data(seed: int, n1: int, n0: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d))
    X1 = rng.normal(size=(n1, d)) @ A + rng.normal(size=d)
    X0 = rng.normal(size=(n0, d)) @ A + rng.normal(size=d)
    X = np.vstack([X1, X0])
    y = np.r_[np.ones(n1, dtype=np.int64), np.zeros(n0, dtype=np.int64)]
    order = rng.permutation(n1 + n0)
    return X[order], y[order]


CASES = [(0, 40, 9, 3), (1, 7, 55, 2), (2, 30, 30, 5), (3, 12, 80, 1)]


@pytest.mark.parametrize("seed,n1,n0,d", CASES)
def test_fit_matches_sklearn_lda(seed: int, n1: int, n0: int, d: int) -> None:
    X, y = _data(seed, n1, n0, d)
    lda = LinearDiscriminantAnalysis(solver="lsqr", store_covariance=True).fit(X, y)
    mu1, mu0, sigma, got_n1, got_n0 = ref.fit_gaussian(X, y)
    # sklearn weights each class's MLE covariance by its empirical prior nk/n: the same Σ.
    np.testing.assert_allclose(sigma, lda.covariance_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mu0, lda.means_[0], rtol=1e-12)
    np.testing.assert_allclose(mu1, lda.means_[1], rtol=1e-12)
    assert (got_n1, got_n0) == (n1, n0)
    assert type(got_n1) is int and type(got_n0) is int


@pytest.mark.parametrize("seed,n1,n0,d", CASES)
def test_posterior_matches_sklearn_lda(seed: int, n1: int, n0: int, d: int) -> None:
    X, y = _data(seed, n1, n0, d)
    X_test, _ = _data(seed + 100, 25, 25, d)
    lda = LinearDiscriminantAnalysis(solver="lsqr").fit(X, y)
    w, b = ref.linear_form(*ref.fit_gaussian(X, y))
    np.testing.assert_allclose(w, lda.coef_[0], rtol=1e-9)
    np.testing.assert_allclose(b, lda.intercept_[0], rtol=1e-9)
    np.testing.assert_allclose(ref.posterior(X_test, w, b), lda.predict_proba(X_test)[:, 1],
                               rtol=1e-9, atol=1e-15)
    np.testing.assert_array_equal(ref.predict(X_test, w, b), lda.predict(X_test))


def test_posterior_is_bayes_rule_with_gaussian_densities() -> None:
    X, y = _data(7, 20, 45, 3)
    mu1, mu0, sigma, n1, n0 = ref.fit_gaussian(X, y)
    X_test, _ = _data(8, 10, 10, 3)
    # Joint log densities: the densities themselves underflow far from the means.
    l1 = np.log(n1) + multivariate_normal(mu1, sigma).logpdf(X_test)
    l0 = np.log(n0) + multivariate_normal(mu0, sigma).logpdf(X_test)
    w, b = ref.linear_form(mu1, mu0, sigma, n1, n0)
    np.testing.assert_allclose(ref.posterior(X_test, w, b), np.exp(l1 - np.logaddexp(l1, l0)),
                               rtol=1e-9, atol=1e-300)


def test_posterior_is_stable_for_huge_logits() -> None:
    X = np.array([[-1e4], [-800.0], [-30.0], [0.0], [30.0], [800.0], [1e4]])
    # Underflow to 0 is expected; overflow or NaN would be a bug.
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = ref.posterior(X, np.array([1.0]), 0.0)
    np.testing.assert_allclose(p, [0.0, 0.0, 1 / (1 + np.exp(30.0)), 0.5, 1 / (1 + np.exp(-30.0)), 1, 1],
                               rtol=1e-12, atol=0)
    np.testing.assert_array_equal(ref.predict(X, np.array([1.0]), 0.0), [0, 0, 0, 1, 1, 1, 1])


def test_single_sample_class_has_zero_scatter() -> None:
    X = np.array([[1.0, 2.0], [0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    y = np.array([1, 0, 0, 0, 0])
    mu1, mu0, sigma, n1, n0 = ref.fit_gaussian(X, y)
    np.testing.assert_allclose(mu1, [1.0, 2.0])
    np.testing.assert_allclose(mu0, [1.0, 1.0])
    # Class 0 has per-axis variance 1 and no correlation; class 1 contributes nothing.
    np.testing.assert_allclose(sigma, 4 / 5 * np.eye(2))
    assert (n1, n0) == (1, 4)
