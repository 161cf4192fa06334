"""Hidden tests for logistic_regression: logits far from zero, uneven sizes, batches of one, several steps."""

import numpy as np
import pytest

from grader.checks import assert_no_warnings, expect_same
from grader.checks import check_gradient, expect_worked_out


def _problem(rng: np.random.Generator, n: int, d: int, scale: float = 1.0):
    """Features, unbalanced labels (about 35 % positive), weights and bias giving logits of size ~scale."""
    X = rng.normal(size=(n, d))  # (n, d)
    y = (rng.random(n) < 0.35).astype(np.int64)  # (n,)
    w = scale * rng.normal(size=d) / np.sqrt(d)  # (d,)
    return X, y, w, float(scale * rng.normal())


def _huge_logits(rng: np.random.Generator, scale: float, shape: tuple[int, int]) -> np.ndarray:
    """Logits of size ~scale where, whatever the seed, one entry (1.5·scale) overflows exp and the
    last row lies entirely below −745, where every e^z underflows to 0 without the max shift."""
    Z = rng.normal(scale=scale, size=shape)  # (n, k)
    Z[0, rng.integers(shape[1])] = 1.5 * scale
    Z[-1] = -scale - np.abs(rng.normal(scale=scale, size=shape[1]))
    return Z


# Logits across the whole range, including both sides of exp's overflow point (±709.8).
EXTREME = np.array([-1e4, -3000.0, -745.0, -710.0, -50.0, -1e-3, 0.0, 1e-3, 50.0, 710.0, 745.0, 1e4])


# --- sigmoid ------------------------------------------------------------------------------


@pytest.mark.points(1)
def test_sigmoid_values(student, reference, rng):
    expect_same(student, reference, "sigmoid", rng.normal(scale=4.0, size=(4, 7)))


@pytest.mark.points(2)
def test_sigmoid_extreme_logits(student, reference, rng):
    z = np.concatenate([EXTREME, rng.uniform(-1e4, 1e4, size=12)]).reshape(3, 8)
    expect_same(student, reference, "sigmoid", z)
    assert_no_warnings(student, name="sigmoid(z) with |z| up to 1e4")


# --- bce_loss -----------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("n,d", [(37, 4), (1, 3)])
def test_bce_loss_values(student, reference, rng, n, d):
    expect_same(student, reference, "bce_loss", *_problem(rng, n, d))


@pytest.mark.points(2)
def test_bce_loss_confidently_wrong(student, reference, rng):
    # Logits of about ±1000, each with the wrong label: every such sample costs about 1000.
    X = rng.normal(size=(8, 2))
    z_sign = np.sign(X @ np.array([1.0, 1.0]))
    y = (z_sign < 0).astype(np.int64)
    y[:2] = 1 - y[:2]  # two right, confident predictions: they cost about 0
    expect_same(student, reference, "bce_loss", X, y, np.array([900.0, 900.0]), 50.0)
    assert_no_warnings(student, name="bce_loss(X, y, w, b) with logits around ±1000")


# --- bce_grad -----------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.parametrize("n,d", [(29, 5), (1, 4)])
def test_bce_grad_values(student, reference, rng, n, d):
    expect_worked_out(student, reference, "bce_grad", *_problem(rng, n, d), outputs=("dw", "db"))


@pytest.mark.points(1)
def test_bce_grad_large_logits(student, reference, rng):
    expect_worked_out(student, reference, "bce_grad", *_problem(rng, 16, 3, scale=400.0),
                outputs=("dw", "db"))


@pytest.mark.points(1)
def test_bce_grad_matches_your_loss(student, reference, rng):
    X, y, w, b = _problem(rng, 20, 3)
    dw, _ = student.bce_grad(X, y, w, b)
    check_gradient(dw, lambda ws: student.batch("bce_loss", [(X, y, wi, b) for wi in ws]), w,
                   name="bce_grad(X, y, w, b) → dw", wrt="w",
                   expected=lambda v: reference.bce_loss(X, y, v, b))


# --- fit_logistic -------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.parametrize("lr,steps", [(0.5, 1), (0.8, 40)])
def test_fit_logistic_steps(student, reference, rng, lr, steps):
    X, y, _, _ = _problem(rng, 45, 3)
    expect_same(student, reference, "fit_logistic", X, y, lr, steps, outputs=("w", "b"))


@pytest.mark.points(1)
def test_fit_logistic_zero_steps(student, reference, rng):
    X, y, _, _ = _problem(rng, 10, 4)
    expect_same(student, reference, "fit_logistic", X, y, 0.1, 0, outputs=("w", "b"))


# --- softmax ------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("n,k", [(5, 3), (1, 6)])
def test_softmax_values(student, reference, rng, n, k):
    expect_same(student, reference, "softmax", rng.normal(scale=3.0, size=(n, k)))


@pytest.mark.points(2)
@pytest.mark.parametrize("scale", [1e3, 1e4])
def test_softmax_huge_logits(student, reference, rng, scale):
    Z = _huge_logits(rng, scale, (4, 5))
    expect_same(student, reference, "softmax", Z)
    assert_no_warnings(student, name=f"softmax(Z) with logits around {scale:g}")


# --- softmax_cross_entropy ----------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.parametrize("n,k", [(7, 4), (1, 3)])
def test_softmax_cross_entropy_values(student, reference, rng, n, k):
    Z = rng.normal(scale=2.0, size=(n, k))
    y = rng.integers(0, k, size=n)
    expect_worked_out(student, reference, "softmax_cross_entropy", Z, y, outputs=("loss", "dZ"))


@pytest.mark.points(2)
def test_softmax_cross_entropy_huge_logits(student, reference, rng):
    Z = _huge_logits(rng, 1e3, (6, 4))
    y = rng.integers(0, 4, size=6)
    expect_worked_out(student, reference, "softmax_cross_entropy", Z, y, outputs=("loss", "dZ"))
    assert_no_warnings(student, name="softmax_cross_entropy(Z, y) with logits around 1e3")


@pytest.mark.points(1)
def test_softmax_cross_entropy_gradient_matches_your_loss(student, reference, rng):
    Z = rng.normal(size=(3, 4))
    y = np.array([2, 0, 3])
    _, dZ = student.softmax_cross_entropy(Z, y)
    losses = lambda Zs: [out[0] for out in student.batch("softmax_cross_entropy", [(Zi, y) for Zi in Zs])]
    check_gradient(dZ, losses, Z, name="softmax_cross_entropy(Z, y) → dZ", wrt="Z",
                   expected=lambda v: reference.softmax_cross_entropy(v, y)[0])
