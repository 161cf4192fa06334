"""Public sanity tests for optimizers: two steps from state {}, answers worked out by hand."""

import numpy as np

from grader.checks import assert_close
from grader.checks.steps import adam_factors, assert_step_close


def test_sgd_momentum_two_steps(student):
    # v1 = g1 = (0.5, 1), w1 = w0 − 0.1·v1; v2 = 0.9·v1 + g2 = (1.45, −0.1), w2 = w1 − 0.1·v2.
    w, state = student.sgd_momentum(np.array([1.0, -2.0]), np.array([0.5, 1.0]), {}, 0.1)
    assert_close(w, np.array([0.95, -2.1]), name="sgd_momentum(lr=0.1) → w after step 1")
    w, state = student.sgd_momentum(w, np.array([1.0, -1.0]), state, 0.1)
    assert_close(w, np.array([0.805, -2.09]), name="sgd_momentum(lr=0.1) → w after step 2")


def test_adagrad_two_steps(student):
    # G = 4, then 5: w = 1 − 0.1·2/2, then 0.9 − 0.1·1/√5. The second entry never gets a
    # gradient: 0/(0 + eps) = 0, so it must stay exactly where it is (not NaN).
    w, state = student.adagrad(np.array([1.0, 0.0]), np.array([2.0, 0.0]), {}, 0.1)
    assert_close(w, np.array([0.9, 0.0]), name="adagrad(lr=0.1) → w after step 1")
    w, state = student.adagrad(w, np.array([1.0, 0.0]), state, 0.1)
    assert_close(w, np.array([0.8552786404500042, 0.0]), name="adagrad(lr=0.1) → w after step 2")


def test_rmsprop_two_steps(student):
    # s = 0.01·4 = 0.04, w = 1 − 0.01·2/0.2; then s = 0.99·0.04 + 0.01·1 = 0.0496.
    w, state = student.rmsprop(np.array([1.0]), np.array([2.0]), {}, 0.01)
    assert_close(w, np.array([0.9]), name="rmsprop(lr=0.01) → w after step 1")
    w, state = student.rmsprop(w, np.array([1.0]), state, 0.01)
    assert_close(w, np.array([0.8550986744933063]), name="rmsprop(lr=0.01) → w after step 2")


def test_adam_two_steps(student):
    # Step 1 with bias correction: m̂ = g, v̂ = g², so every entry moves by lr·sign(g).
    w0 = np.array([1.0, -1.0])
    w, state = student.adam(w0, np.array([0.5, -3.0]), {}, 0.1)
    name = "adam(lr=0.1) → w after step 1"
    assert_step_close(w, np.array([0.9, -0.9]), w0, name=name, step=1, known=adam_factors(1))
    # Step 2, entry 1: m̂ = −0.17/0.19, v̂ = 0.009991/0.001999.
    w, state = student.adam(w, np.array([0.5, 1.0]), state, 0.1)
    assert_close(w, np.array([0.8, -0.8599781428045573]), name="adam(lr=0.1) → w after step 2")
