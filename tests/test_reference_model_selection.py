"""The model_selection reference agrees with scikit-learn (StandardScaler, KFold, Ridge cross-validation)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_score
from sklearn.preprocessing import StandardScaler

_PATH = Path(__file__).resolve().parents[1] / "reference" / "model_selection" / "solution.py"
_spec = importlib.util.spec_from_file_location("model_selection_solution", _PATH)
solution = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(solution)


@pytest.mark.parametrize("seed", range(5))
def test_standardize_matches_standard_scaler(seed):
    rng = np.random.default_rng(seed)
    X_train = rng.normal(loc=rng.uniform(-5, 5, 6), scale=rng.uniform(0.1, 4, 6), size=(13, 6))
    X_train[:, 2] = -1.5  # constant: StandardScaler also leaves it centred (scale 1)
    X_test = rng.normal(size=(4, 6)) * 3 + 1
    scaler = StandardScaler().fit(X_train)
    train_s, test_s = solution.standardize(X_train, X_test)
    np.testing.assert_allclose(train_s, scaler.transform(X_train), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(test_s, scaler.transform(X_test), rtol=1e-12, atol=1e-12)


def test_standardize_large_offset_is_exact():
    # Exact statistics of small integers shifted by 1e7 are known in closed form.
    X_train = 1e7 + np.array([[-1.0], [0.0], [1.0]])
    train_s, test_s = solution.standardize(X_train, np.array([[1e7 + 2.0]]))
    r = np.sqrt(1.5)
    np.testing.assert_allclose(train_s[:, 0], [-r, 0.0, r], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(test_s[0, 0], 2 * r, rtol=1e-12)


def test_standardize_inexact_constant_is_only_centred():
    X_train = np.full((7, 1), 0.1)
    train_s, test_s = solution.standardize(X_train, np.array([[0.3]]))
    np.testing.assert_allclose(train_s, 0.0, atol=1e-15)
    np.testing.assert_allclose(test_s, 0.2, rtol=1e-12)


@pytest.mark.parametrize(
    "n, k", [(2, 2), (5, 2), (10, 3), (11, 4), (12, 4), (23, 5), (6, 6), (100, 7)]
)
def test_kfold_matches_sklearn(n, k):
    ours = solution.kfold_indices(n, k)
    theirs = list(KFold(n_splits=k).split(np.zeros((n, 1))))
    assert len(ours) == len(theirs) == k
    for (tr, va), (tr_sk, va_sk) in zip(ours, theirs):
        np.testing.assert_array_equal(tr, tr_sk)
        np.testing.assert_array_equal(va, va_sk)
        assert tr.dtype.kind == "i" and va.dtype.kind == "i"


@pytest.mark.parametrize(
    "seed, n, d, k, lam",
    [(0, 23, 3, 5, 0.7), (1, 30, 4, 3, 25.0), (2, 20, 2, 4, 0.0), (3, 9, 2, 9, 1.5)],
)
def test_cross_val_mse_matches_sklearn_ridge(seed, n, d, k, lam):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=2.0, scale=3.0, size=(n, d))
    y = X @ rng.normal(size=d) + 8.0 + 0.5 * rng.normal(size=n)
    scores = cross_val_score(
        Ridge(alpha=lam, solver="svd"), X, y, cv=KFold(k), scoring="neg_mean_squared_error"
    )
    assert solution.cross_val_mse(X, y, k, lam) == pytest.approx(-scores.mean(), rel=1e-10)
