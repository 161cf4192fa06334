"""Hidden tests for model_selection: training-only statistics, exact KFold folds, cross-validated ridge."""

import numpy as np
import pytest

from grader.checks import assert_equal, expect_same

STD_OUT = ("X_train_s", "X_test_s")


def _features(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Features with different offsets and spreads per column, so axis and scale mistakes show."""
    return rng.normal(
        loc=rng.uniform(-5, 5, size=d), scale=rng.uniform(0.5, 4, size=d), size=(n, d)
    )


def _check_kfold(student, reference, n: int, k: int) -> None:
    """Compare the student's folds with the reference, fold by fold, train and validation part."""
    name = f"kfold_indices({n}, {k})"
    folds = student.kfold_indices(n, k)
    assert isinstance(folds, (list, tuple)), (
        f"{name} should return a list of (train_idx, val_idx) pairs, you returned"
        f" {type(folds).__name__}"
    )
    assert len(folds) == k, f"{name} should return {k} folds, you returned {len(folds)}"
    for i, (fold, (train, val)) in enumerate(zip(folds, reference.kfold_indices(n, k))):
        assert isinstance(fold, (list, tuple)) and len(fold) == 2, (
            f"{name} → fold {i} should be a pair (train_idx, val_idx)"
        )
        assert_equal(fold[1], val, name=f"{name} → fold {i} val_idx")
        assert_equal(fold[0], train, name=f"{name} → fold {i} train_idx")


# --- standardize -------------------------------------------------------------------------


@pytest.mark.points(2)
def test_standardize_uses_training_statistics(student, reference, rng):
    X_train = _features(rng, 17, 5)
    # The test set is shifted and rescaled: its own statistics differ from the training ones.
    X_test = 3.0 + 2.5 * _features(rng, 6, 5)
    expect_same(student, reference, "standardize", X_train, X_test, outputs=STD_OUT)


@pytest.mark.points(1)
def test_standardize_single_test_row(student, reference, rng):
    X_train = _features(rng, 9, 3)
    X_test = _features(rng, 1, 3)
    expect_same(student, reference, "standardize", X_train, X_test, outputs=STD_OUT)


@pytest.mark.points(1)
def test_standardize_population_std(student, reference, rng):
    # Few samples: dividing by n − 1 instead of n changes the std by √(4/3).
    X_train = _features(rng, 4, 2)
    X_test = _features(rng, 3, 2)
    expect_same(student, reference, "standardize", X_train, X_test, outputs=STD_OUT)


@pytest.mark.points(2)
def test_standardize_constant_feature(student, reference, rng):
    X_train = _features(rng, 8, 4)
    X_train[:, 1] = 3.0
    X_train[:, 3] = 0.0
    X_test = _features(rng, 5, 4)  # test values differ from the training constants
    expect_same(student, reference, "standardize", X_train, X_test, outputs=STD_OUT)


@pytest.mark.points(1)
def test_standardize_large_offset(student, reference, rng):
    # A spread of ~10 on top of an offset of 1e7: E[x²] − E[x]² loses about four digits here.
    X_train = 1e7 + 10.0 * rng.normal(size=(50, 3))
    X_test = 1e7 + 10.0 * rng.normal(size=(7, 3))
    expect_same(student, reference, "standardize", X_train, X_test, outputs=STD_OUT)


# --- kfold_indices -----------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.parametrize("n, k", [(10, 3), (11, 4), (23, 5)])
def test_kfold_uneven_folds(student, reference, n, k):
    # n % k != 0: the extra samples go to the first folds.
    _check_kfold(student, reference, n, k)


@pytest.mark.points(1)
def test_kfold_even_folds(student, reference):
    _check_kfold(student, reference, 12, 4)


@pytest.mark.points(1)
def test_kfold_leave_one_out(student, reference):
    _check_kfold(student, reference, 6, 6)


@pytest.mark.points(1)
def test_kfold_two_folds_odd(student, reference):
    _check_kfold(student, reference, 7, 2)


# --- cross_val_mse -----------------------------------------------------------------------


def _regression(rng: np.random.Generator, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Data with non-centred features and a large intercept, so a penalised intercept shows."""
    X = _features(rng, n, d)
    y = X @ rng.normal(size=d) + 8.0 + 0.5 * rng.normal(size=n)
    return X, y


@pytest.mark.points(2)
def test_cross_val_mse_uneven_folds(student, reference, rng):
    # 23 samples in 5 folds (5, 5, 5, 4, 4): fold MSEs averaged with equal weights.
    X, y = _regression(rng, 23, 3)
    expect_same(student, reference, "cross_val_mse", X, y, 5, 0.7)


@pytest.mark.points(2)
def test_cross_val_mse_strong_penalty(student, reference, rng):
    X, y = _regression(rng, 31, 4)  # folds of 11, 10, 10
    expect_same(student, reference, "cross_val_mse", X, y, 3, 25.0)


@pytest.mark.points(1)
def test_cross_val_mse_no_penalty(student, reference, rng):
    X, y = _regression(rng, 22, 2)  # folds of 6, 6, 5, 5
    expect_same(student, reference, "cross_val_mse", X, y, 4, 0.0)


@pytest.mark.points(1)
def test_cross_val_mse_leave_one_out(student, reference, rng):
    X, y = _regression(rng, 9, 2)
    expect_same(student, reference, "cross_val_mse", X, y, 9, 1.5)
