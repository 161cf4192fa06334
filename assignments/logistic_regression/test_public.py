"""Public sanity tests for logistic_regression: run them with `grader check logistic_regression`."""

import math

import numpy as np

from grader.checks import assert_close, assert_no_warnings


def test_sigmoid_small_and_huge(student):
    s = student.sigmoid(np.array([-1000.0, -1.0, 0.0, 2.0, 1000.0]))
    expected = np.array([0.0, 1 / (1 + math.e), 0.5, 1 / (1 + math.exp(-2.0)), 1.0])
    assert_close(s, expected, name="sigmoid")
    assert_no_warnings(student, name="sigmoid(z) with |z| up to 1000")


def test_bce_loss_and_grad_small(student):
    # Logits 0, 0.5 and −1 with labels 0, 1, 1.
    X, y, w, b = np.array([[1.0], [2.0], [-1.0]]), np.array([0, 1, 1]), np.array([0.5]), -0.5
    loss = student.bce_loss(X, y, w, b)
    assert_close(loss, 0.8268286174194248, name="bce_loss")
    dw, db = student.bce_grad(X, y, w, b)
    assert_close(dw, np.array([0.15865907911806354]), name="bce_grad → dw")
    assert_close(db, -0.20286641580938344, name="bce_grad → db")


def test_bce_loss_confidently_wrong(student):
    # Logits +1000 (label 1: costs 0) and −1000 (label 1: costs 1000); the mean is 500.
    loss = student.bce_loss(np.array([[1.0], [-1.0]]), np.array([1, 1]), np.array([1000.0]), 0.0)
    assert_close(loss, 500.0, name="bce_loss")


def test_fit_logistic_one_step(student):
    # At w = 0, b = 0 every σ is ½: dw = ((½ − 1)·1 + (½ − 0)·(−1))/2 = −½ and db = 0.
    w, b = student.fit_logistic(np.array([[1.0], [-1.0]]), np.array([1, 0]), 1.0, 1)
    assert_close(w, np.array([0.5]), name="fit_logistic → w")
    assert_close(b, 0.0, name="fit_logistic → b")


def test_softmax_small_and_huge(student):
    P = student.softmax(np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, 1000.0]]))
    e = np.exp([-2.0, -1.0, 0.0])
    assert_close(P, np.array([e / e.sum(), [1 / 3, 1 / 3, 1 / 3]]), name="softmax")
    assert_no_warnings(student, name="softmax(Z) with logits around 1000")


def test_softmax_cross_entropy_small(student):
    # Row 0: softmax (¼, ¼, ½), label 2, loss ln 2; row 1: (⅗, ⅕, ⅕), label 1, loss ln 5.
    Z = np.array([[0.0, 0.0, math.log(2.0)], [math.log(3.0), 0.0, 0.0]])
    loss, dZ = student.softmax_cross_entropy(Z, np.array([2, 1]))
    assert_close(loss, math.log(10.0) / 2, name="softmax_cross_entropy → loss")
    assert_close(dZ, np.array([[0.125, 0.125, -0.25], [0.3, -0.4, 0.1]]),
                 name="softmax_cross_entropy → dZ")
