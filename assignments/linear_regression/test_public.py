"""Public sanity tests for linear_regression: small examples with answers worked out by hand."""

import numpy as np

from grader.checks import assert_close


def test_fit_univariate_small(student):
    # x̄ = 2.5, ȳ = 4: a = Σ(x − x̄)(y − ȳ) / Σ(x − x̄)² = 7 / 5, b = 4 − 1.4·2.5.
    x = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([2.0, 3.0, 5.0, 6.0])
    assert_close(student.fit_univariate(x, y), (1.4, 0.5), name="fit_univariate(x, y)",
                 outputs=("a", "b"))


def test_fit_linear_exact_plane(student):
    # y = 1 + 2·x₁ − 3·x₂ exactly, so the fit recovers w = (2, −3), b = 1.
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    y = 1.0 + 2.0 * X[:, 0] - 3.0 * X[:, 1]
    assert_close(student.fit_linear(X, y), (np.array([2.0, -3.0]), 1.0), name="fit_linear(X, y)",
                 outputs=("w", "b"))


def test_fit_ridge_one_feature(student):
    # Centred: Σx̃² = 5, Σx̃ỹ = 10, so w = 10 / (5 + lam) = 1 and b = ȳ − w·x̄ = 4 − 1.5.
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([1.0, 3.0, 5.0, 7.0])
    assert_close(
        student.fit_ridge(X, y, 5.0), (np.array([1.0]), 2.5), name="fit_ridge(X, y, lam=5)",
        outputs=("w", "b"),
    )


def test_predict_and_mse(student):
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert_close(
        student.predict(X, np.array([1.0, -1.0]), 0.5),
        np.array([-0.5, -0.5]),
        name="predict(X, w, b)",
    )
    # (0² + 2² + 3²) / 3: the mean, not the sum.
    assert_close(
        student.mse(np.array([1.0, 2.0, 3.0]), np.array([1.0, 4.0, 0.0])),
        13.0 / 3.0,
        name="mse(y_true, y_pred)",
    )


def test_gradient_step_small(student):
    # Residuals (−1, −2): ∂L/∂w = (2/2)·(1·−1 + 2·−2) = −5, ∂L/∂b = (2/2)·(−3) = −3.
    X = np.array([[1.0], [2.0]])
    y = np.array([1.0, 2.0])
    assert_close(
        student.gradient_step(X, y, np.array([0.0]), 0.0, 0.1),
        (np.array([0.5]), 0.3),
        name="gradient_step(X, y, w, b, lr=0.1)",
        outputs=("w", "b"),
    )


def test_minibatch_sgd_two_batches(student):
    # Batch [0, 1]: w = 0.95·0 − 0.5·(−2.5) = 1.25, b = 0.75.
    # Batch [2] (size 1): residual 1.5, w = 0.95·1.25 − 0.5·4.5 = −1.0625, b = 0.75 − 0.75 = 0.
    X = np.array([[1.0], [2.0], [3.0]])
    y = np.array([1.0, 2.0, 3.0])
    batches = [np.array([0, 1]), np.array([2])]
    got = student.minibatch_sgd(X, y, np.array([0.0]), 0.0, 0.5, batches, weight_decay=0.1)
    assert_close(
        got,
        (np.array([-1.0625]), 0.0),
        name="minibatch_sgd(..., lr=0.5, weight_decay=0.1)",
        outputs=("w", "b"),
    )
