"""Public sanity tests for regularization: small examples with answers worked out by hand."""

import numpy as np

from grader.checks import assert_close, assert_equal, assert_shape

X = np.array([[1.0, 2.0], [3.0, 4.0]])
# With p = 0.3: keep (u >= p) the entries 0.35 and 0.5. An entry with u exactly p is kept too;
# that rule has a hidden test of its own.
U = np.array([[0.1, 0.35], [0.5, 0.2]])


def test_dropout_forward_train_and_eval(student):
    out, _ = student.dropout_forward(X, 0.3, True, U)
    assert_close(
        out,
        np.array([[0.0, 2.0 / 0.7], [3.0 / 0.7, 0.0]]),
        name="dropout_forward(x, p=0.3, train=True, u) → out",
    )
    out, _ = student.dropout_forward(X, 0.3, False, U)
    assert_close(out, X, name="dropout_forward(x, p=0.3, train=False, u) → out")


def test_dropout_backward_train(student):
    _, mask = student.call("dropout_forward", X, 0.3, True, U, keep=(1,))
    dx = student.dropout_backward(np.ones((2, 2)), mask, 0.3, True)
    assert_close(
        dx,
        np.array([[0.0, 1.0 / 0.7], [1.0 / 0.7, 0.0]]),
        name="dropout_backward(dout, mask, p=0.3, train=True) → dx",
    )


def test_xavier_uniform_small(student):
    W = student.xavier_uniform(3, 5, 0)
    assert_shape(W, (3, 5), name="xavier_uniform(3, 5, seed=0)")
    a = np.sqrt(6.0 / 8.0)
    assert np.all(np.abs(W) <= a), (
        f"xavier_uniform(3, 5, seed=0): every entry must lie in [−a, a], a = √(6/8) = {a:.4g}"
    )
    assert_equal(
        student.xavier_uniform(3, 5, 0),
        W,
        name="xavier_uniform(3, 5, seed=0) called twice with the same seed",
    )


def test_l2_penalty_small(student):
    # ‖w‖² = 1 + 4 + 9 + 1 = 15; value = 0.5/2·15, grad = 0.5·w.
    w = np.array([[1.0, 2.0], [3.0, -1.0]])
    value, grad = student.l2_penalty(w, 0.5)
    assert_close(value, 3.75, name="l2_penalty → value")
    assert_close(grad, 0.5 * w, name="l2_penalty → grad")


def test_weight_decay_step_small(student):
    # (1 − 0.1·0.2)·w − 0.1·grad = 0.98·w − 0.05
    got = student.weight_decay_step(np.array([1.0, -2.0]), np.array([0.5, 0.5]), 0.1, 0.2)
    assert_close(got, np.array([0.93, -2.01]), name="weight_decay_step")
