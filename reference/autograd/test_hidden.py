"""Hidden tests of the autograd topic: every op, broadcasting, shared subexpressions, random
expressions, a chain of 10,000 operations and repeated backward calls, each against torch.autograd.

The student's Tensor objects never leave the worker: each test sends a program (data) to the
provided run_program, which builds the graph with the student's Tensor and calls backward(), and
compares the value and the inputs' gradients with the same program run by torch in float64.
"""

from __future__ import annotations

import operator
import re
from typing import Any

import numpy as np
import pytest
import torch

from grader.checks import CheckFailed, Mistakes, assert_close, assert_worked_out
from grader.grading.remote import StudentError

TORCH_OPS = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
    "pow": operator.pow, "matmul": operator.matmul, "neg": operator.neg, "exp": torch.exp,
    "log": torch.log, "tanh": torch.tanh, "relu": torch.relu,
    "sum": lambda a, axis=None: a.sum() if axis is None else a.sum(dim=axis),
}


def _torch_program(program: list, inputs: list, backward_calls: int = 1,
                   zero_grad: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
    """What run_program must return, from torch.autograd in float64: the oracle."""
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    slots: list[Any] = list(leaves)
    for op, *args in program:
        kwargs = args.pop() if args and isinstance(args[-1], dict) else {}
        slots.append(TORCH_OPS[op](*[slots[a] if isinstance(a, int) else a for a in args],
                                   **kwargs))
    out = slots[-1]
    for call in range(backward_calls):
        if zero_grad and call > 0:
            for leaf in leaves:
                leaf.grad = None
        # sum(out) weights every element by one, as a gradient of ones would; a gradient passed
        # to backward() makes torch import its symbolic shapes (and sympy) in every grading.
        out.sum().backward(retain_graph=True)
    grads = [leaf.grad if leaf.grad is not None else torch.zeros_like(leaf) for leaf in leaves]
    return out.detach().numpy(), [g.numpy() for g in grads]


# NumPy's words when a gradient of a broadcast shape is added into a smaller operand's grad.
BROADCAST_ERRORS = ("non-broadcastable output operand", "could not be broadcast together")


# A graph this many operations deep is deeper than a recursive walk can go in Python; on a
# smaller one, a RecursionError is a recursion without end, which the generic message names.
DEEP = 500


def _called_by_run_program(traceback: str) -> str | None:
    """The student's function that run_program called when their code raised (``backward``,
    ``__add__``), from their traceback; None where the traceback's start was cut."""
    match = re.search(r'in run_program\n(?:    .*\n)*  File "[^"]*", line \d+, in (\S+)\n',
                      traceback)
    return match[1] if match else None


def _run(student, program: list, inputs: list, what: str = "", **kw: Any) -> tuple:
    """The student's (value, grads) from run_program; a RecursionError in backward on a deep
    graph, or NumPy refusing to add a broadcast gradient into a smaller grad in backward, is
    told for what it is (the same errors in the forward operations are the student's own, told
    as raised)."""
    try:
        got = student.run_program(program, inputs, **kw)
    except StudentError as err:
        entered = _called_by_run_program(err.traceback)
        if err.type_name == "RecursionError" and entered in ("backward", None) and \
                len(program) >= DEEP:
            raise CheckFailed(
                f"Tensor.backward raised RecursionError on a graph {len(program):,} operations "
                "deep: a recursive walk (building the topological order by recursion) cannot go "
                "that deep in Python. Build the order with a loop and an explicit stack."
            ) from None
        if err.type_name == "ValueError" and entered in ("backward", None) and \
                any(e in err.message for e in BROADCAST_ERRORS):
            where = f"\nin your code:\n{err.traceback.rstrip()}" if err.traceback.strip() else ""
            raise CheckFailed(
                f"{what or 'run_program'}: your backward raised ValueError: {err.message}\n"
                "  Hint: an operand that was broadcast (a (4,) vector added to a (3, 4) matrix, "
                "a scalar times an array) receives a gradient of the result's shape: sum it over "
                "the axes broadcasting added or stretched, back to the operand's own shape, "
                "before adding it into the operand's grad" + where
            ) from None
        raise
    assert isinstance(got, (tuple, list)) and len(got) == 2, \
        "run_program should return (value, grads): do not change the provided run_program"
    return tuple(got)


def _check(student, reference, program: list, inputs: list, what: str, names: str = "abcdefgh",
           worked_out: bool = False, **kw: Any) -> None:
    """One program: the value and every input's gradient against torch.autograd; ``worked_out``:
    the gradients to rounding too (a single operation's derivative, which an op's backward may
    not measure by differences of its forward)."""
    value, grads = _run(student, program, inputs, what, **kw)
    expected_value, expected_grads = _torch_program(program, inputs, **kw)
    # The mutants run their own Tensor through the same program: a match names the mistake.
    mistakes = Mistakes(reference, "run_program", (value, grads), (program, inputs), kw)
    assert_close(value, expected_value, name=f"{what} → value", mistakes=mistakes)
    assert isinstance(grads, (list, tuple)) and len(grads) == len(inputs), \
        f"{what}: run_program should return one gradient per input"
    for name, g, e in zip(names, grads, expected_grads):
        assert_close(g, e, name=f"{what} → grad of {name}", mistakes=mistakes)
        if worked_out:
            assert_worked_out(g, e, name=f"{what} → grad of {name}", mistakes=mistakes)


def _away_from_zero(rng: np.random.Generator, *shape: int) -> np.ndarray:
    x = rng.normal(size=shape)
    return np.where(np.abs(x) < 0.1, np.sign(x + 1e-12) * (0.1 + np.abs(x)), x)


# ------------------------------------------------------------------------------------- each op

BINARY = {"__add__": "add", "__sub__": "sub", "__mul__": "mul", "__truediv__": "div"}


@pytest.mark.points(1)
@pytest.mark.parametrize("op", list(BINARY))
def test_binary_op(student, reference, rng, op):
    # Weighting the result by w makes every element's gradient different.
    a, b, w = rng.normal(size=(3, 4)), _away_from_zero(rng, 3, 4), rng.normal(size=(3, 4))
    program = [[BINARY[op], 0, 1], ["mul", 3, 2], ["sum", 4]]
    _check(student, reference, program, [a, b, w], f"Tensor.{op}: sum({op}(a, b) · w)", names="abw",
           worked_out=True)


NUMBER = {
    "radd": (["add", 1.5, 0], "1.5 + a"),
    "rsub": (["sub", 2.0, 0], "2.0 − a"),
    "rmul": (["mul", -3.0, 0], "−3.0 · a"),
    "rtruediv": (["div", 2.0, 0], "2.0 / a"),
    "sub_number": (["sub", 0, 0.5], "a − 0.5"),
    "div_number": (["div", 0, 4.0], "a / 4.0"),
}


@pytest.mark.points(1)
@pytest.mark.parametrize("case", list(NUMBER))
def test_op_with_a_python_number(student, reference, rng, case):
    instr, text = NUMBER[case]
    a, w = _away_from_zero(rng, 4), rng.normal(size=4)
    _check(student, reference,
           [instr, ["mul", 2, 1], ["sum", 3]], [a, w], f"Tensor: sum(({text}) · w)",
           names="aw", worked_out=True)


UNARY = {
    "neg": ([["neg", 0]], "__neg__", "−a"),
    "exp": ([["exp", 0]], "exp", "exp(a)"),
    "log": ([["mul", 0, 0], ["add", 2, 0.5], ["log", 3]], "log", "log(a² + 0.5)"),
    "tanh": ([["tanh", 0]], "tanh", "tanh(a)"),
    "relu": ([["relu", 0]], "relu", "relu(a)"),
    "pow_2": ([["pow", 0, 2.0]], "__pow__", "a ** 2.0"),
    "pow_half": ([["mul", 0, 0], ["add", 2, 1.0], ["pow", 3, 0.5]], "__pow__", "(a² + 1) ** 0.5"),
    "pow_minus_1": ([["pow", 0, -1.0]], "__pow__", "a ** −1.0"),
}


@pytest.mark.points(1)
@pytest.mark.parametrize("op", list(UNARY))
def test_unary_op(student, reference, rng, op):
    body, method, text = UNARY[op]
    a, w = _away_from_zero(rng, 2, 5), rng.normal(size=(2, 5))
    if op == "relu":
        a[0, :2] = 0.0  # relu's derivative at 0 is 0, as torch's
    last = 1 + len(body)
    program = [*body, ["mul", last, 1], ["sum", last + 1]]
    _check(student, reference, program, [a, w], f"Tensor.{method}: sum({text} · w)", names="aw",
           worked_out=True)


@pytest.mark.points(1)
@pytest.mark.parametrize("axis,shape", [(None, (3, 4)), (0, (3, 4)), (1, (4, 4)), (-1, (2, 3))],
                         ids=["all", "axis0", "axis1_square", "axis_minus1"])
def test_sum(student, reference, rng, axis, shape):
    # Weights on the sum's result make the gradient that comes back to it differ per position:
    # sent back along the wrong axis, it lands on the wrong elements.
    a = rng.normal(size=shape)
    kept = () if axis is None else tuple(np.delete(np.array(shape), axis))
    w = rng.normal(size=kept)
    kw = {} if axis is None else {"axis": axis}
    program = [["sum", 0, kw], ["mul", 2, 1], ["sum", 3]]
    _check(student, reference,
           program, [a, w], f"Tensor.sum(axis={axis}) on a {shape} input, weighted",
           names="aw")


@pytest.mark.points(1)
@pytest.mark.parametrize("n,m,p", [(3, 4, 2), (3, 3, 3)], ids=["rectangular", "square"])
def test_matmul(student, reference, rng, n, m, p):
    A, B, W = rng.normal(size=(n, m)), rng.normal(size=(m, p)), rng.normal(size=(n, p))
    program = [["matmul", 0, 1], ["mul", 3, 2], ["sum", 4]]
    _check(student, reference,
           program, [A, B, W], f"Tensor.__matmul__: sum((A @ B) · W), A {n}×{m}, "
           f"B {m}×{p}", names="ABW")


# -------------------------------------------------------------------------------- broadcasting

BROADCAST = {
    "row_vector": ((3, 4), (4,), "add"),
    "column_times_row": ((3, 1), (1, 4), "mul"),
    "scalar": ((), (3, 4), "mul"),
    "leading_axis": ((2, 3, 4), (3, 1), "div"),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("case", list(BROADCAST))
def test_broadcasting(student, reference, rng, case):
    sa, sb, op = BROADCAST[case]
    a, b = rng.normal(size=sa), _away_from_zero(rng, *sb)
    w = rng.normal(size=np.broadcast_shapes(sa, sb))
    program = [[op, 0, 1], ["mul", 3, 2], ["sum", 4]]
    symbol = {"add": "+", "mul": "*", "div": "/"}[op]
    _check(student, reference, program, [a, b, w], f"a {symbol} b broadcasting {sa} with {sb} (the "
           "gradient of a broadcast operand is summed back to its shape)", names="abw")


# ----------------------------------------------------------------------- shared subexpressions

SHARED = {
    # y = a·b used three times: z = y·y + y
    "used_three_times": ([["mul", 0, 1], ["mul", 2, 2], ["add", 3, 2], ["sum", 4]],
                         "y = a·b; sum(y·y + y), y used three times"),
    # the same tensor as both operands
    "both_operands": ([["mul", 0, 0], ["mul", 2, 0], ["sum", 3]], "sum(a·a·a)"),
    # a diamond whose sides have different lengths: y first reaches the sum directly
    "diamond": ([["tanh", 0], ["mul", 2, 1], ["exp", 3], ["add", 2, 4], ["mul", 5, 2],
                 ["sum", 6]], "y = tanh(a); s = y + exp(y·b); sum(s·y)"),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("case", list(SHARED))
def test_shared_subexpression(student, reference, rng, case):
    program, text = SHARED[case]
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    _check(student, reference, program, [a, b], f"a result used twice: {text}", names="ab")


# -------------------------------------------------------------------------- random expressions


SHAPES: list[tuple[int, ...]] = [(3, 4), (4,), (3, 1), ()]


def _random_program(steps: int) -> list:
    """A random expression on inputs of shapes (3, 4), (4,), (3, 1) and (): every step reads
    earlier results at random (so many are used more than once), values stay in range.

    Its shape is drawn from a generator of its own, fixed per size: the same expressions at
    every seed (only the inputs change), so a given mistake costs the same points at any seed.
    """
    pick_rng = np.random.default_rng(1000 + steps)
    shapes = list(SHAPES)
    program: list = []

    def emit(instr: list, shape: tuple[int, ...]) -> int:
        program.append(instr)
        shapes.append(shape)
        return len(shapes) - 1

    def pick() -> int:
        return int(pick_rng.integers(0, len(shapes)))

    for _ in range(steps):
        a, b = pick(), pick()
        both = np.broadcast_shapes(shapes[a], shapes[b])
        # No relu here: where it is 0, a path's missing gradient would go unseen at some seeds.
        kind = pick_rng.choice(["add", "sub", "mul", "tanh", "exp", "log", "div", "rdiv", "rsub",
                                "pow", "scale", "neg"])
        if kind in ("add", "sub", "mul"):
            k = emit([str(kind), a, b], both)
            if kind == "mul":
                emit(["tanh", k], both)  # products of products would grow without bound
        elif kind in ("tanh", "neg"):
            emit([str(kind), a], shapes[a])
        elif kind == "exp":
            emit(["exp", emit(["tanh", a], shapes[a])], shapes[a])
        elif kind == "log":  # log(a² + 1)
            emit(["log", emit(["add", emit(["mul", a, a], shapes[a]), 1.0], shapes[a])], shapes[a])
        elif kind == "div":  # a / (b² + 1)
            emit(["div", a, emit(["add", 1.0, emit(["mul", b, b], shapes[b])], shapes[b])], both)
        elif kind == "rdiv":  # 1 / (a² + 0.5)
            emit(["div", 1.0, emit(["add", emit(["pow", a, 2.0], shapes[a]), 0.5], shapes[a])],
                 shapes[a])
        elif kind == "rsub":
            emit(["sub", 2.0, a], shapes[a])
        elif kind == "pow":  # (a² + 0.5) ** 1.5
            emit(["pow", emit(["add", emit(["mul", a, a], shapes[a]), 0.5], shapes[a]), 1.5],
                 shapes[a])
        else:
            emit(["mul", 0.5, a], shapes[a])
    # The output adds up the last results and every input, so every input gets a gradient.
    total = emit(["sum", len(shapes) - 1], ())
    for k in [0, 1, 2, 3, len(shapes) - 3, len(shapes) - 5]:
        total = emit(["add", total, emit(["sum", emit(["tanh", k], shapes[k])], ())], ())
    return program


@pytest.mark.points(2)
@pytest.mark.parametrize("steps", [12, 30, 60])
def test_random_expression(student, reference, rng, steps):
    program = _random_program(steps)
    inputs = [rng.normal(size=s) for s in SHAPES]
    _check(student, reference, program, inputs, f"a random expression of {len(program)} operations "
           "(inputs a (3, 4), b (4,), c (3, 1), d ())", names="abcd")


@pytest.mark.points(2)
def test_two_layer_network(student, reference, rng):
    # sum((tanh(X W1 + b1) W2 + b2 − Y)²) / n: matmul, broadcasting and the ops together.
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    W1, b1, W2, b2 = (rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 2)),
                      rng.normal(size=2))
    program = [["matmul", 0, 2], ["add", 6, 3], ["tanh", 7], ["matmul", 8, 4], ["add", 9, 5],
               ["sub", 10, 1], ["pow", 11, 2.0], ["sum", 12], ["div", 13, 5.0]]
    _check(student, reference, program, [X, Y, W1, b1, W2, b2],
           "a two-layer network's squared error", names=["X", "Y", "W1", "b1", "W2", "b2"])


# -------------------------------------------------------------------------------- deep graphs


@pytest.mark.points(3)
def test_chain_of_ten_thousand_operations(student, reference, rng):
    # x ← 0.5·tanh(x) + 0.3·x, 2,500 times: 10,000 operations, each result used twice.
    program: list = []
    last = 0
    for _ in range(2500):
        base = len(program) + 1
        program += [["tanh", last], ["mul", 0.5, base], ["mul", last, 0.3], ["add", base + 1,
                                                                             base + 2]]
        last = base + 3
    program.append(["sum", last])
    _check(student, reference, program, [rng.normal(size=3)], "a chain of 10,000 operations")


# ----------------------------------------------------------------- repeated backward, zero_grad

REUSED = [["mul", 0, 1], ["tanh", 2], ["mul", 3, 3], ["add", 4, 2], ["sum", 5]]


@pytest.mark.points(2)
def test_backward_twice_accumulates_in_the_inputs(student, reference, rng):
    a, b = rng.normal(size=3), rng.normal(size=3)
    _check(student, reference,
           REUSED, [a, b], "two backward() calls without zero_grad (the inputs' grads "
           "add up, as torch's; intermediate results start from zero on each call)",
           names="ab", backward_calls=2)


@pytest.mark.points(1)
def test_zero_grad_between_calls(student, reference, rng):
    a, b = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    _check(student, reference,
           REUSED, [a, b], "three backward() calls with zero_grad() on the inputs "
           "before each", names="ab", backward_calls=3, zero_grad=True)


@pytest.mark.points(1)
def test_an_input_not_used_keeps_a_zero_gradient(student, reference, rng):
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(4,))
    _check(student, reference,
           [["exp", 0], ["sum", 2]], [a, b], "sum(exp(a)) with b not used", names="ab")
