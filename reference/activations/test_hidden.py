"""Hidden tests for activations: every function on several shapes with exact zeros, other slopes, huge inputs."""

import numpy as np
import pytest

from grader.checks import assert_no_warnings, assert_shape, expect_same
from grader.checks import check_gradient, dot_with_output, expect_worked_out

FUNCTIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "gelu"]


def _x(rng: np.random.Generator, shape: tuple[int, ...], zeros: bool = True) -> np.ndarray:
    """Values spread over [-6, 6] with exact zeros and a few values just either side of zero.

    zeros=False leaves the exact zeros out: a derivative's value at 0 is a convention, graded
    once in test_derivative_at_zero rather than in every derivative test.
    """
    x = rng.normal(scale=2.5, size=shape).ravel()
    x[::7] = 0.0 if zeros else 1e-9 * rng.choice([-1.0, 1.0], size=x[::7].size)
    x[1::11] = 1e-9 * rng.choice([-1.0, 1.0], size=x[1::11].size)
    return x.reshape(shape)


def _away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # Central differences need |x| > h away from the kink of ReLU and leaky ReLU.
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 3.0, size=shape)


def _shaped(value, x: np.ndarray, name: str) -> np.ndarray:
    """The student's reply as float64 values, after checking it has x's shape."""
    assert_shape(value, x.shape, name=name)
    return np.asarray(value, dtype=np.float64)


# --- forward ------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", FUNCTIONS)
@pytest.mark.parametrize("shape", [(3, 5, 4), (17,)])
def test_forward(student, reference, rng, fn, shape):
    expect_same(student, reference, fn, _x(rng, shape))


@pytest.mark.points(1)
@pytest.mark.parametrize("slope", [0.2, 0.0])
def test_leaky_relu_slope(student, reference, rng, slope):
    expect_same(student, reference, "leaky_relu", _x(rng, (6, 5)), slope=slope)


@pytest.mark.points(2)
def test_sigmoid_huge_inputs(student, reference, rng):
    x = np.array([[-1e4, -3000.0, -745.0, -710.0, -40.0, 0.0],
                  [40.0, 710.0, 745.0, 3000.0, 1e4, float(rng.uniform(-1e4, 1e4))]])
    expect_same(student, reference, "sigmoid", x)
    assert_no_warnings(student, name="sigmoid(x) with |x| up to 1e4")


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", ["tanh", "gelu"])
def test_large_inputs(student, reference, fn):
    expect_same(student, reference, fn, np.array([-1e4, -745.0, -40.0, -8.0, 8.0, 40.0, 745.0, 1e4]))


# --- derivatives --------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", FUNCTIONS)
@pytest.mark.parametrize("shape", [(4, 6), (1, 9, 2)])
def test_derivative(student, reference, rng, fn, shape):
    expect_worked_out(student, reference, fn + "_grad", _x(rng, shape, zeros=False))


@pytest.mark.points(1)
@pytest.mark.parametrize("slope", [0.2, 0.05])
def test_leaky_relu_grad_slope(student, reference, rng, slope):
    expect_worked_out(student, reference, "leaky_relu_grad", _x(rng, (5, 6), zeros=False), slope=slope)


_AT_ZERO = {
    "relu": "at x = 0 the course uses PyTorch's convention, relu_grad(0) = 0: the gradient is 1"
            " only where x > 0",
    "leaky_relu": "at x = 0 the course uses PyTorch's convention, leaky_relu_grad(0, slope) ="
                  " slope: the gradient is 1 only where x > 0",
}


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", ["relu", "leaky_relu", "sigmoid", "tanh", "gelu"])
def test_derivative_at_zero(student, reference, fn):
    # ReLU'(0) = 0 and leaky ReLU'(0) = slope, as PyTorch; the others are smooth at 0. The
    # conventions are graded here only (the other derivative tests avoid exact zeros). One
    # function per test, so that a missing or wrong one costs only its own point.
    zeros = np.zeros((2, 3))
    options = {"slope": 0.3} if fn == "leaky_relu" else {}
    expect_worked_out(student, reference, f"{fn}_grad", zeros, hint=_AT_ZERO.get(fn), **options)


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", ["sigmoid", "tanh", "gelu"])
def test_derivative_large_inputs(student, reference, fn):
    expect_worked_out(student, reference, fn + "_grad", np.array([-1e4, -745.0, -40.0, -8.0, 8.0, 40.0, 745.0, 1e4]))


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_derivative_matches_your_forward(student, reference, rng, fn):
    # f'(x)·dout is the gradient of sum(f(x)·dout): checked by central differences of your f.
    x = _away_from_zero(rng, (3, 4))
    dout = rng.normal(size=(3, 4))
    # At most x.size values come back, and their shape is checked before they are multiplied,
    # so a reply of another shape cannot broadcast into a huge array here. Their dtype is not
    # this test's subject: a gradient check compares values (docs/charging.md).
    analytic = _shaped(student.call(fn + "_grad", x, max_elements=x.size), x, f"{fn}_grad") * dout
    check_gradient(analytic,
                   lambda xs: [float(np.sum(o * dout))
                               for o in student.batch(fn, [(xi,) for xi in xs],
                                                      max_elements=x.size)],
                   x, name=f"{fn}_grad(x)", wrt="x",
                   expected=dot_with_output(getattr(reference, fn), lambda v: (v,), dout,
                                            select=None))
