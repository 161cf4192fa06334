"""Hidden tests for linear_regression: closed-form fits (ill-conditioned X too), MSE, GD and SGD."""

import numpy as np
import pytest

from grader.checks import CheckFailed, assert_close, expect_same, expect_worked_out

WB = ("w", "b")


def _data(
    rng: np.random.Generator, n: int, d: int, noise: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Features with their own offset and spread per column and y far from 0 (so a lost b shows)."""
    X = rng.normal(loc=rng.uniform(-4, 4, size=d), scale=rng.uniform(0.5, 3, size=d), size=(n, d))
    w = rng.uniform(0.5, 2.0, size=d) * rng.choice([-1.0, 1.0], size=d)
    y = X @ w + 7.5 + noise * rng.normal(size=n)
    return X, y


def _start(rng: np.random.Generator, d: int) -> tuple[np.ndarray, float]:
    """A non-zero starting point: a step from w = 0, b = 0 hides some mistakes."""
    return rng.normal(size=d), float(rng.normal())


def _batches(rng: np.random.Generator, n: int, size: int) -> list[np.ndarray]:
    """A shuffled split into batches of `size`; the last is shorter when size does not divide n."""
    order = rng.permutation(n)
    return [order[i : i + size] for i in range(0, n, size)]


# --- fit_univariate --------------------------------------------------------------------------


@pytest.mark.points(1)
def test_fit_univariate_random(student, reference, rng):
    x = rng.normal(loc=3.0, scale=2.0, size=30)
    y = -1.3 * x + 4.0 + rng.normal(size=30)
    expect_same(student, reference, "fit_univariate", x, y, outputs=("a", "b"))


@pytest.mark.points(1)
def test_fit_univariate_two_points(student, reference, rng):
    # n = 2: the line through both points; any n/(n − 1) slip doubles the slope.
    x = rng.uniform(-3, 3, size=2)
    y = rng.uniform(-3, 3, size=2)
    expect_same(student, reference, "fit_univariate", x, y, outputs=("a", "b"))


def _right(student_value, expected) -> bool:
    """Whether a fit the student returned matches the expected one (no message: evidence only)."""
    try:
        assert_close(student_value, expected, name="evidence")
    except CheckFailed:
        return False
    return True


@pytest.mark.points(2)
def test_fit_univariate_large_mean(student, reference, rng):
    # x ≈ 1e6 ± 1: nΣx² − (Σx)² cancels catastrophically; centring first does not.
    x = 1e6 + rng.normal(size=40)
    y = 0.8 * x - 8e5 + 0.1 * rng.normal(size=40)

    def cancellation() -> str | None:
        # The same points moved to x̄ ≈ 0: right there and wrong here is a numerical failure.
        if not _right(student.fit_univariate(x - 1e6, y), reference.fit_univariate(x - 1e6, y)):
            return None
        return (
            "your fit is right for the same points moved to x − 10⁶ but not here, where x ≈ 10⁶:"
            " with a mean this large, nΣx² − (Σx)² (or the matrix XᵀX) loses every digit to"
            " cancellation. Centre x first, a = Σ(x − x̄)(y − ȳ) / Σ(x − x̄)² and b = ȳ − a·x̄,"
            " or use np.linalg.lstsq"
        )

    expect_same(student, reference, "fit_univariate", x, y, outputs=("a", "b"),
                hint=cancellation)


# --- fit_linear ---------------------------------------------------------------------------------


@pytest.mark.points(2)
def test_fit_linear_random(student, reference, rng):
    X, y = _data(rng, 50, 3)
    expect_same(student, reference, "fit_linear", X, y, outputs=WB)


@pytest.mark.points(1)
def test_fit_linear_one_more_sample_than_features(student, reference, rng):
    # n = d + 1: the plane passes through every point (zero residual).
    X, y = _data(rng, 6, 5)
    expect_same(student, reference, "fit_linear", X, y, outputs=WB)


@pytest.mark.points(1)
def test_fit_linear_one_feature_matches_univariate(student, reference, rng):
    X, y = _data(rng, 25, 1)
    a, b = reference.fit_univariate(X[:, 0], y)
    assert_close(
        student.fit_linear(X, y),
        (np.array([a]), b),
        name="fit_linear(X, y) with one feature (should equal fit_univariate)",
        outputs=WB,
    )


@pytest.mark.points(3)
def test_fit_linear_ill_conditioned(student, reference, rng):
    # Columns 2 and 3 differ by 1e-7: cond(X) ≈ 1e7, so cond(XᵀX) ≈ 1e14. Least squares without
    # forming XᵀX (lstsq, QR) keeps about 9 digits of w; the normal equations keep about 2.
    X = rng.normal(size=(40, 4))
    X[:, 3] = X[:, 2] + 1e-7 * rng.normal(size=40)
    w = rng.uniform(0.5, 2.0, size=4) * rng.choice([-1.0, 1.0], size=4)
    y = X @ w + 1.5 + 1e-9 * rng.normal(size=40)

    def conditioning() -> str | None:
        # The same data with column 3 well apart from column 2: right there and wrong here is
        # the conditioning, not the formula.
        X2 = X.copy()
        X2[:, 3] = X[:, 2] + np.random.default_rng(3).normal(size=40)
        y2 = X2 @ w + 1.5
        if not _right(student.fit_linear(X2, y2), reference.fit_linear(X2, y2)):
            return None
        return (
            "your fit is right when the columns are well apart but not here, where columns 2"
            " and 3 differ by 1e-7 (cond(X) ≈ 1e7): forming XᵀX (normal equations, inv, pinv"
            " or solve on it) squares that to 1e14 and loses most digits. Solve the"
            " least-squares problem itself: np.linalg.lstsq on [X, 1] (or QR), never XᵀX"
        )

    expect_same(student, reference, "fit_linear", X, y, outputs=WB, hint=conditioning,
                label="fit_linear with two nearly collinear columns (cond(X) ≈ 1e7)")


# --- fit_ridge ----------------------------------------------------------------------------------


@pytest.mark.points(2)
def test_fit_ridge_random(student, reference, rng):
    X, y = _data(rng, 40, 4)
    expect_same(student, reference, "fit_ridge", X, y, 2.5, outputs=WB)


@pytest.mark.points(1)
def test_fit_ridge_zero_lambda_is_ols(student, reference, rng):
    X, y = _data(rng, 30, 3)
    expect_same(student, reference, "fit_ridge", X, y, 0.0, outputs=WB)


@pytest.mark.points(1)
def test_fit_ridge_huge_lambda(student, reference, rng):
    # w is shrunk to ~0 and b tends to the mean of y, not to 0: b must not be penalised.
    X, y = _data(rng, 20, 3)
    expect_same(student, reference, "fit_ridge", X, y, 1e6, outputs=WB)


@pytest.mark.points(1)
def test_fit_ridge_more_features_than_samples(student, reference, rng):
    X, y = _data(rng, 6, 9)
    expect_same(student, reference, "fit_ridge", X, y, 0.7, outputs=WB)


# --- predict and mse ----------------------------------------------------------------------------


@pytest.mark.points(1)
def test_predict_random(student, reference, rng):
    X, _ = _data(rng, 13, 4)
    w, b = _start(rng, 4)
    expect_same(student, reference, "predict", X, w, b)


@pytest.mark.points(1)
def test_predict_single_sample(student, reference, rng):
    X, _ = _data(rng, 1, 3)
    w, b = _start(rng, 3)
    expect_same(student, reference, "predict", X, w, b)


@pytest.mark.points(1)
def test_mse_random(student, reference, rng):
    y_true = rng.normal(size=17)
    y_pred = y_true + rng.normal(scale=0.7, size=17)
    expect_same(student, reference, "mse", y_true, y_pred)


@pytest.mark.points(1)
def test_mse_perfect_prediction(student, reference, rng):
    y = rng.normal(size=5)
    expect_same(student, reference, "mse", y, y.copy())


# --- gradient_step ------------------------------------------------------------------------------


@pytest.mark.points(2)
def test_gradient_step_random(student, reference, rng):
    X, y = _data(rng, 25, 3)
    w, b = _start(rng, 3)
    expect_worked_out(student, reference, "gradient_step", X, y, w, b, 0.01, outputs=WB)


@pytest.mark.points(1)
def test_gradient_step_single_sample(student, reference, rng):
    X, y = _data(rng, 1, 4)
    w, b = _start(rng, 4)
    expect_worked_out(student, reference, "gradient_step", X, y, w, b, 0.05, outputs=WB)


@pytest.mark.points(1)
def test_gradient_step_zero_lr_changes_nothing(student, reference, rng):
    X, y = _data(rng, 10, 2)
    w, b = _start(rng, 2)
    expect_worked_out(student, reference, "gradient_step", X, y, w, b, 0.0, outputs=WB)


# --- minibatch_sgd ------------------------------------------------------------------------------


@pytest.mark.points(2)
def test_minibatch_sgd_uneven_batches(student, reference, rng):
    # n = 50 in batches of 8: the last batch has 2 samples and must be used, divided by 2.
    X, y = _data(rng, 50, 3)
    w, b = _start(rng, 3)
    expect_worked_out(
        student, reference, "minibatch_sgd", X, y, w, b, 0.02, _batches(rng, 50, 8), outputs=WB
    )


@pytest.mark.points(2)
def test_minibatch_sgd_weight_decay(student, reference, rng):
    X, y = _data(rng, 30, 4)
    w, b = _start(rng, 4)
    expect_worked_out(
        student, reference, "minibatch_sgd",
        X,
        y,
        w,
        b,
        0.05,
        _batches(rng, 30, 7),
        weight_decay=0.3,
        outputs=WB,
    )


@pytest.mark.points(1)
def test_minibatch_sgd_batches_of_one(student, reference, rng):
    X, y = _data(rng, 7, 2)
    w, b = _start(rng, 2)
    expect_worked_out(
        student, reference, "minibatch_sgd",
        X,
        y,
        w,
        b,
        0.03,
        _batches(rng, 7, 1),
        weight_decay=0.1,
        outputs=WB,
    )


@pytest.mark.points(1)
def test_minibatch_sgd_one_full_batch(student, reference, rng):
    X, y = _data(rng, 12, 3)
    w, b = _start(rng, 3)
    expect_worked_out(
        student, reference, "minibatch_sgd", X, y, w, b, 0.02, [rng.permutation(12)], outputs=WB
    )
