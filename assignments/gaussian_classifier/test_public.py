"""Public sanity tests for gaussian_classifier: run them with `grader check gaussian_classifier`."""

import math

import numpy as np

from grader.checks import assert_close, assert_equal, assert_no_warnings

# Class 1: (1, 3), (3, 5) — mean (2, 4), scatter [[2, 2], [2, 2]].
# Class 0: the corners of the square [0, 2]² — mean (1, 1), scatter [[4, 0], [0, 4]].
X = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 3.0], [0.0, 2.0], [2.0, 2.0], [3.0, 5.0]])
y = np.array([0, 0, 1, 0, 0, 1])
SIGMA = np.array([[1.0, 1.0 / 3.0], [1.0 / 3.0, 1.0]])  # (scatter1 + scatter0) / 6


def test_fit_gaussian_small(student):
    mu1, mu0, sigma, n1, n0 = student.fit_gaussian(X, y)
    assert_close(mu1, np.array([2.0, 4.0]), name="fit_gaussian → mu1")
    assert_close(mu0, np.array([1.0, 1.0]), name="fit_gaussian → mu0")
    assert_close(sigma, SIGMA, name="fit_gaussian → sigma")
    assert_equal(n1, 2, name="fit_gaussian → n1")
    assert_equal(n0, 4, name="fit_gaussian → n0")


def test_linear_form_small(student):
    # w = Σ⁻¹(μ1 − μ0) = Σ⁻¹(1, 3) = (0, 3); b = −½(μ1 + μ0)·w + ln(2/4) = −7.5 − ln 2.
    w, b = student.linear_form(np.array([2.0, 4.0]), np.array([1.0, 1.0]), SIGMA, 2, 4)
    assert_close(w, np.array([0.0, 3.0]), name="linear_form → w")
    assert_close(b, -7.5 - math.log(2.0), name="linear_form → b")


def _clipped(p) -> str | None:
    """A hint where the posterior stops short of 1 or 0 at logits ±1000, as a clipped one does."""
    if not (isinstance(p, np.ndarray) and p.shape == (4,) and p.dtype.kind == "f"):
        return None
    if 0.0 < p[3] < 1e-3 or 1 - 1e-3 < p[2] < 1.0:
        return ("σ(−1000) is 0.0 and σ(1000) is 1.0 in float64: do not clip the posterior "
                "(e.g. to [1e-8, 1 − 1e-8]); compute it from e^(−|z|) for each sign")
    return None


def test_posterior_stable(student):
    # Logits 0, ln 3, 1000 and −1000: posteriors 1/2, 3/4, 1 and 0, without overflow warnings.
    Xs = np.array([[0.0], [math.log(3.0)], [1000.0], [-1000.0]])
    p = student.posterior(Xs, np.array([1.0]), 0.0)
    assert_close(p, np.array([0.5, 0.75, 1.0, 0.0]), name="posterior", hint=lambda: _clipped(p))
    assert_no_warnings(student, name="posterior(X, w, b) with logits up to ±1000")


def test_predict_boundary(student):
    # Logits 0, 1 and −1: a posterior of exactly 0.5 is labelled 1.
    Xs = np.array([[1.0, 1.0], [2.0, 1.0], [0.0, 1.0]])
    labels = student.predict(Xs, np.array([1.0, -1.0]), 0.0)
    assert_equal(labels, np.array([1, 1, 0], dtype=np.int64), name="predict")
