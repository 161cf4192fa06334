"""Public sanity tests for the autograd topic: small expressions with gradients worked by hand.

Each test hands run_program (given in autograd.py) a program and checks the value and the inputs'
gradients; see the statement for the program format.
"""

import numpy as np

from grader.checks import assert_close


def a(values) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def test_product_and_sum_of_scalars(student):
    # f = x·y + x at x = 2, y = −3: f = −4, ∂f/∂x = y + 1 = −2, ∂f/∂y = x = 2 (x is used twice)
    value, grads = student.run_program([["mul", 0, 1], ["add", 2, 0]], [a(2.0), a(-3.0)])
    assert_close(value, a(-4.0), name="f = x·y + x → value")
    assert_close(grads[0], a(-2.0), name="f = x·y + x → grad of x")
    assert_close(grads[1], a(2.0), name="f = x·y + x → grad of y")


def test_tanh_and_python_numbers(student):
    # f = 1.0 − tanh(x) ** 2.0 at x = 0.5: ∂f/∂x = −2 tanh(x)(1 − tanh(x)²)
    value, grads = student.run_program([["tanh", 0], ["pow", 1, 2.0], ["sub", 1.0, 2]], [a(0.5)])
    t = np.tanh(0.5)
    assert_close(value, a(1 - t**2), name="f = 1.0 − tanh(x) ** 2.0 → value")
    assert_close(grads[0], a(-2 * t * (1 - t**2)), name="f = 1.0 − tanh(x) ** 2.0 → grad of x")


def test_broadcast_row_vector_gets_summed_gradient(student):
    # f = sum(X + b) with X (2, 3) and b (3,): every element of b is added to 2 rows.
    X, b = a([[1, 2, 3], [4, 5, 6]]), a([0.5, -1.0, 2.0])
    value, grads = student.run_program([["add", 0, 1], ["sum", 2]], [X, b])
    assert_close(value, a(24.0), name="f = sum(X + b) → value")
    assert_close(grads[0], np.ones((2, 3)), name="f = sum(X + b) → grad of X")
    assert_close(grads[1], a([2.0, 2.0, 2.0]), name="f = sum(X + b) → grad of b")


def test_matmul_and_sum_over_an_axis(student):
    # f = sum(sum(A @ B, axis=1) · w): A @ B = [[−1, 2, 2], [−1, 4, 6]], row sums (3, 9).
    A, B, w = a([[1, 2], [3, 4]]), a([[1, 0, 2], [-1, 1, 0]]), a([1.0, -2.0])
    program = [["matmul", 0, 1], ["sum", 3, {"axis": 1}], ["mul", 4, 2], ["sum", 5]]
    value, grads = student.run_program(program, [A, B, w])
    assert_close(value, a(-15.0), name="f = sum(sum(A @ B, axis=1) · w) → value")
    assert_close(grads[0], a([[3, 0], [-6, 0]]), name="f = sum(sum(A @ B, axis=1) · w) → grad of A")
    assert_close(grads[1], a([[-5, -5, -5], [-6, -6, -6]]),
                 name="f = sum(sum(A @ B, axis=1) · w) → grad of B")
    assert_close(grads[2], a([3.0, 9.0]), name="f = sum(sum(A @ B, axis=1) · w) → grad of w")


def test_backward_twice_adds_up(student):
    # f = 3·x: two backward() calls leave x.grad = 6, as in torch; zero_grad() in between: 3.
    _, grads = student.run_program([["mul", 3.0, 0]], [a(1.0)], backward_calls=2)
    assert_close(grads[0], a(6.0), name="f = 3.0·x, backward() twice → grad of x")
    _, grads = student.run_program([["mul", 3.0, 0]], [a(1.0)], backward_calls=2, zero_grad=True)
    assert_close(grads[0], a(3.0), name="f = 3.0·x, backward(), zero_grad(), backward() → grad of x")
