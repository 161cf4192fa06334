"""Public sanity tests for conv: small inputs whose answers you can check by hand."""

import numpy as np

from grader.checks import assert_close, assert_equal, assert_raises


def test_conv_output_size_small(student):
    assert_equal(student.conv_output_size(5, 3), 3, name="conv_output_size(5, 3)")
    assert_equal(student.conv_output_size(8, 3, 2), 3, name="conv_output_size(8, 3, stride=2)")
    assert_equal(
        student.conv_output_size(7, 3, 2, 1), 4, name="conv_output_size(7, 3, stride=2, padding=1)"
    )
    assert_equal(
        student.conv_output_size(10, 3, 1, 0, 2), 6, name="conv_output_size(10, 3, dilation=2)"
    )
    assert_raises(
        "ValueError",
        student.conv_output_size,
        2,
        5,
        name="conv_output_size(2, 5) (the window does not fit)",
    )


def test_conv2d_forward_is_a_cross_correlation(student):
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.array([[[[1.0, 2.0], [0.0, 0.0]]]])  # not symmetric: flipping it changes the result
    out, _ = student.call("conv2d_forward", x, w, np.array([0.5]), keep=(1,))
    assert_close(
        out, np.array([[[[2.5, 5.5], [11.5, 14.5]]]]), name="conv2d_forward(x, w, b) → out"
    )


def test_conv2d_backward_small(student):
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.array([[[[1.0, 2.0], [0.0, 0.0]]]])
    _, cache = student.call("conv2d_forward", x, w, np.array([0.5]), 1, 0, keep=(1,))
    dx, dw, db = student.conv2d_backward(np.ones((1, 1, 2, 2)), cache)
    assert_close(
        dx,
        np.array([[[[1.0, 3.0, 2.0], [1.0, 3.0, 2.0], [0.0, 0.0, 0.0]]]]),
        name="conv2d_backward(dout, cache) → dx",
    )
    assert_close(
        dw, np.array([[[[8.0, 12.0], [20.0, 24.0]]]]), name="conv2d_backward(dout, cache) → dw"
    )
    assert_close(db, np.array([4.0]), name="conv2d_backward(dout, cache) → db")


def test_max_pool_tie_goes_to_first_maximum(student):
    x = np.array([[[[1.0, 3.0], [3.0, 2.0]]]])
    out, cache = student.call("max_pool_forward", x, 2, 2, keep=(1,))
    assert_close(out, np.array([[[[3.0]]]]), name="max_pool_forward(x, 2, 2) → out")
    dx = student.max_pool_backward(np.array([[[[7.0]]]]), cache)
    assert_close(
        dx,
        np.array([[[[0.0, 7.0], [0.0, 0.0]]]]),
        name="max_pool_backward(dout, cache) → dx with a tied maximum",
    )


def test_avg_pool_small(student):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, cache = student.call("avg_pool_forward", x, 2, 2, keep=(1,))
    assert_close(
        out, np.array([[[[2.5, 4.5], [10.5, 12.5]]]]), name="avg_pool_forward(x, 2, 2) → out"
    )
    dx = student.avg_pool_backward(np.ones((1, 1, 2, 2)), cache)
    assert_close(dx, np.full((1, 1, 4, 4), 0.25), name="avg_pool_backward(dout, cache) → dx")
