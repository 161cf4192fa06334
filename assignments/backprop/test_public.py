"""Public sanity tests for backprop: small inputs whose answers you can check by hand."""

import math

import numpy as np

from grader.checks import assert_close

X = np.array([[1.0, 2.0], [3.0, -1.0]])  # (n=2, d=2)
W = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])  # (d=2, m=3)
B = np.array([0.5, 0.0, -0.5])  # (m=3,)


def test_affine_forward_small(student):
    out, _ = student.call("affine_forward", X, W, B, keep=(1,))
    assert_close(
        out, np.array([[5.5, 2.0, -1.5], [1.5, -1.0, -3.5]]), name="affine_forward(x, W, b) → out"
    )


def test_affine_backward_small(student):
    _, cache = student.call("affine_forward", X, W, B, keep=(1,))
    dout = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]])
    dx, dW, db = student.affine_backward(dout, cache)
    assert_close(dx, np.array([[-1.0, 2.0], [1.0, 1.0]]), name="affine_backward(dout, cache) → dx")
    assert_close(
        dW, np.array([[1.0, 3.0, -1.0], [2.0, -1.0, 5.0]]), name="affine_backward(dout, cache) → dW"
    )
    assert_close(db, np.array([1.0, 1.0, 1.0]), name="affine_backward(dout, cache) → db")


def test_relu_zero_gets_no_gradient(student):
    x = np.array([-1.0, 0.0, 2.0])
    out, cache = student.call("relu_forward", x, keep=(1,))
    assert_close(out, np.array([0.0, 0.0, 2.0]), name="relu_forward(x) → out")
    dx = student.relu_backward(np.array([5.0, 6.0, 7.0]), cache)
    assert_close(dx, np.array([0.0, 0.0, 7.0]), name="relu_backward(dout, cache) → dx")


def test_mlp_loss_with_zero_weights(student):
    # All scores are 0: every class has probability 1/3, so the loss is ln 3.
    params = {"W1": np.zeros((2, 4)), "b1": np.zeros(4), "W2": np.zeros((4, 3)), "b2": np.zeros(3)}
    loss, grads = student.mlp_loss(params, X, np.array([0, 2]))
    assert_close(loss, math.log(3.0), name="mlp_loss(params, X, y) → loss")
    assert_close(
        grads,
        {
            "W1": np.zeros((2, 4)),
            "b1": np.zeros(4),
            "W2": np.zeros((4, 3)),
            "b2": np.array([-1 / 6, 1 / 3, -1 / 6]),
        },
        name="mlp_loss(params, X, y) → grads",
    )
