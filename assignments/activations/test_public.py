"""Public sanity tests for activations: run them with `grader check activations`."""

import math

import numpy as np

from grader.checks import assert_close, assert_no_warnings

X = np.array([-2.0, 0.0, 1.5])


def test_forward_small(student):
    assert_close(student.sigmoid(X), 1 / (1 + np.exp(-X)), name="sigmoid")
    assert_close(student.tanh(X), np.array([math.tanh(-2.0), 0.0, math.tanh(1.5)]), name="tanh")
    assert_close(student.relu(X), np.array([0.0, 0.0, 1.5]), name="relu")
    assert_close(student.leaky_relu(X, slope=0.1), np.array([-0.2, 0.0, 1.5]), name="leaky_relu")


def test_gelu_is_exact(student):
    # x·Φ(x); the tanh approximation gives 0.841192 at x = 1, which is not close enough.
    assert_close(student.gelu(np.array([-2.0, 0.0, 1.0, 1.5])),
                 np.array([-0.04550026389635839, 0.0, 0.8413447460685429, 1.399789198096713]),
                 name="gelu")


def test_derivatives_small(student):
    s = 1 / (1 + np.exp(-X))
    assert_close(student.sigmoid_grad(X), s * (1 - s), name="sigmoid_grad")
    assert_close(student.tanh_grad(X), 1 - np.tanh(X) ** 2, name="tanh_grad")
    assert_close(student.gelu_grad(X), np.array([-0.08523180107819693, 0.5, 1.1274691922299795]),
                 name="gelu_grad")


def test_relu_derivative_at_zero(student):
    # The course's convention, as PyTorch: ReLU'(0) = 0.
    assert_close(student.relu_grad(X), np.array([0.0, 0.0, 1.0]), name="relu_grad",
                 hint="at x = 0 the course uses PyTorch's convention, relu_grad(0) = 0: "
                      "the gradient is 1 only where x > 0")


def test_leaky_relu_derivative_at_zero(student):
    # The course's convention, as PyTorch: leaky ReLU'(0) = slope.
    assert_close(student.leaky_relu_grad(X, slope=0.1), np.array([0.1, 0.1, 1.0]),
                 name="leaky_relu_grad",
                 hint="at x = 0 the course uses PyTorch's convention, leaky_relu_grad(0, slope) "
                      "= slope: the gradient is 1 only where x > 0")


def test_sigmoid_no_overflow(student):
    assert_close(student.sigmoid(np.array([-1e4, 1e4])), np.array([0.0, 1.0]), name="sigmoid")
    assert_no_warnings(student, name="sigmoid(x) with |x| up to 1e4")
