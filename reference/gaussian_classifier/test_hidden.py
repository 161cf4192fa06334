"""Hidden tests for gaussian_classifier: uneven interleaved classes, posteriors (not only labels), huge logits."""

import numpy as np
import pytest

from grader.checks import assert_close, assert_equal, assert_no_warnings, expect_same

FIT_OUTPUTS = ("mu1", "mu0", "sigma", "n1", "n0")


def _data(rng: np.random.Generator, n1: int, n0: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Two correlated Gaussian clouds with different means, classes interleaved (y is not sorted)."""
    A = np.eye(d) + 0.5 * rng.normal(size=(d, d))  # (d, d), shared shape of both clouds
    X1 = rng.normal(size=(n1, d)) @ A + rng.normal(2.0, 1.0, size=d)  # (n1, d)
    X0 = rng.normal(size=(n0, d)) @ A + rng.normal(-1.0, 1.0, size=d)  # (n0, d)
    X = np.vstack([X1, X0])
    y = np.r_[np.ones(n1, dtype=np.int64), np.zeros(n0, dtype=np.int64)]
    order = rng.permutation(n1 + n0)
    return X[order], y[order]


def _params(rng: np.random.Generator, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class means and a well-conditioned, non-diagonal SPD covariance."""
    A = rng.normal(size=(d, d))
    sigma = A @ A.T / d + 0.5 * np.eye(d)  # (d, d)
    return rng.normal(1.0, 1.0, size=d), rng.normal(-1.0, 1.0, size=d), sigma


# --- fit_gaussian -------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.parametrize("n1,n0,d", [(9, 41, 3), (57, 6, 2), (4, 23, 5)])
def test_fit_gaussian_uneven_classes(student, reference, rng, n1, n0, d):
    X, y = _data(rng, n1, n0, d)
    expect_same(student, reference, "fit_gaussian", X, y, outputs=FIT_OUTPUTS)


@pytest.mark.points(1)
def test_fit_gaussian_one_feature(student, reference, rng):
    X, y = _data(rng, 15, 35, 1)
    expect_same(student, reference, "fit_gaussian", X, y, outputs=FIT_OUTPUTS)


@pytest.mark.points(1)
def test_fit_gaussian_single_sample_class(student, reference, rng):
    # A class of one sample has a zero MLE covariance; dividing by nk − 1 gives 0/0 here.
    X, y = _data(rng, 1, 20, 2)
    expect_same(student, reference, "fit_gaussian", X, y, outputs=FIT_OUTPUTS)


# --- linear_form --------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.parametrize("n1,n0,d", [(13, 48, 4), (70, 9, 2)])
def test_linear_form_unequal_priors(student, reference, rng, n1, n0, d):
    mu1, mu0, sigma = _params(rng, d)
    expect_same(student, reference, "linear_form", mu1, mu0, sigma, n1, n0, outputs=("w", "b"))


@pytest.mark.points(1)
def test_linear_form_equal_priors(student, reference, rng):
    mu1, mu0, sigma = _params(rng, 3)
    expect_same(student, reference, "linear_form", mu1, mu0, sigma, 25, 25, outputs=("w", "b"))


@pytest.mark.points(1)
def test_linear_form_one_feature(student, reference, rng):
    mu1, mu0, sigma = _params(rng, 1)
    expect_same(student, reference, "linear_form", mu1, mu0, sigma, 5, 31, outputs=("w", "b"))


# --- posterior ----------------------------------------------------------------------------


@pytest.mark.points(1)
def test_posterior_values(student, reference, rng):
    X = rng.normal(size=(30, 4))
    w = rng.normal(size=4)
    expect_same(student, reference, "posterior", X, w, float(rng.normal()))


def _clipped(p: np.ndarray, expected: np.ndarray) -> str | None:
    """Words for a posterior that stops short of 0 or 1 (clipped), or None where it does not."""
    if not isinstance(p, np.ndarray) or p.shape != expected.shape or p.dtype.kind != "f":
        return None
    for far, stop in ((expected < 1e-4, p.min()), (expected > 1 - 1e-4, p.max())):
        shown = p[far]
        if shown.size >= 2 and np.all(shown == stop) and 0.0 < stop < 1.0:
            return (
                f"your posterior stops at {stop:.6g} where σ(z) is much closer to"
                f" {0 if stop < 0.5 else 1} (σ(−50) ≈ 2e-22): it looks clipped (e.g."
                " np.clip(p, eps, 1 − eps)). Return σ(z) itself, computed from e^(−|z|) for"
                " each sign; only a loss needs protecting from log(0), and that is not this"
                " function's job"
            )
    return None


@pytest.mark.points(2)
def test_posterior_huge_logits(student, reference, rng):
    # Logits from about ±50 to ±5000 in both signs: e^(−z) overflows for the negative ones.
    # This test (and the public one) grades saturation; the pipeline tests stay clear of it.
    X = np.outer(np.tile([-1.0, 1.0], 12) * np.logspace(1.7, 3.7, 24), [1.0, 0.0])
    X[:, 1] = rng.normal(size=24)
    w = np.array([1.0, 0.5])
    expect_same(student, reference, "posterior", X, w, 0.3,
                hint=lambda: _clipped(student.posterior(X, w, 0.3), reference.posterior(X, w, 0.3)))
    assert_no_warnings(student, name="posterior(X, w, b) with logits up to ±5000")


# --- predict ------------------------------------------------------------------------------


@pytest.mark.points(1)
def test_predict_labels(student, reference, rng):
    X = rng.normal(size=(40, 3))
    w = rng.normal(size=3)
    expect_same(student, reference, "predict", X, w, -0.2, exact=True)


@pytest.mark.points(1)
def test_predict_on_the_boundary(student, reference, rng):
    # Rows with x0 = x1 have w·x + b = 0 exactly: posterior 0.5, which is labelled 1.
    X = rng.normal(size=(12, 2))
    X[::3, 1] = X[::3, 0]
    expect_same(student, reference, "predict", X, np.array([1.0, -1.0]), 0.0, exact=True)


# --- the whole pipeline -------------------------------------------------------------------


# Logits of the test points under the reference's fit: clear of saturation (σ(±4) = 0.018 and
# 0.982) and of the boundary, so that what the earlier tests grade there (clipping, overflow, the
# label at exactly 0.5) cannot fail a pipeline test, whatever the seed.
PIPELINE_LOGITS = np.array([-4.0, -2.5, -1.0, -0.5, 0.5, 1.0, 2.5, 4.0])


@pytest.mark.points(2)
@pytest.mark.parametrize("n1,n0,d", [(11, 47, 3), (38, 7, 2)])
def test_pipeline_posteriors(student, reference, rng, n1, n0, d):
    # What the earlier tests do not check: your functions chained on your own outputs.
    X, y = _data(rng, n1, n0, d)
    w, b = reference.linear_form(*reference.fit_gaussian(X, y))
    # Points of the data moved along w until w·x + b is each of PIPELINE_LOGITS.
    base = X[rng.choice(len(X), size=PIPELINE_LOGITS.size)]  # (8, d)
    X_test = base + np.outer(PIPELINE_LOGITS - (base @ w + b), w / (w @ w))  # (8, d)
    mine = student.linear_form(*student.fit_gaussian(X, y))
    got = student.posterior(X_test, *mine)
    assert_close(got, reference.posterior(X_test, w, b),
                 name="posterior(X_test, *linear_form(*fit_gaussian(X, y))) at logits from −4 to 4")
    assert_equal(student.predict(X_test, *mine), reference.predict(X_test, w, b),
                 name="predict(X_test, *linear_form(*fit_gaussian(X, y)))")
