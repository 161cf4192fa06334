"""Cross-checks the autograd reference against torch.autograd: every op, broadcasting, shared
subexpressions, random graphs, a deep chain under a low recursion limit, repeated backward calls."""

from __future__ import annotations

import ast
import importlib.util
import operator
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load(ROOT / "reference/autograd/solution.py", "autograd_reference")
TORCH = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
    "pow": operator.pow, "matmul": operator.matmul, "neg": operator.neg, "exp": torch.exp,
    "log": torch.log, "tanh": torch.tanh, "relu": torch.relu,
    "sum": lambda a, axis=None: a.sum() if axis is None else a.sum(dim=axis),
}


def _torch(program: list, inputs: list, backward_calls: int = 1) -> tuple:
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    slots: list[Any] = list(leaves)
    for op, *args in program:
        kw = args.pop() if args and isinstance(args[-1], dict) else {}
        slots.append(TORCH[op](*[slots[a] if isinstance(a, int) else a for a in args], **kw))
    for _ in range(backward_calls):
        slots[-1].backward(torch.ones_like(slots[-1]), retain_graph=True)
    return slots[-1].detach().numpy(), [
        (x.grad if x.grad is not None else torch.zeros_like(x)).numpy() for x in leaves]


def _same(program: list, inputs: list, **kw: Any) -> None:
    value, grads = ref.run_program(program, inputs, **kw)
    want_value, want_grads = _torch(program, inputs, kw.get("backward_calls", 1))
    np.testing.assert_allclose(value, want_value, rtol=1e-12, atol=1e-12)
    assert len(grads) == len(want_grads)
    for g, w in zip(grads, want_grads):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)),
                                   ((), (2, 3)), ((2, 3, 4), (3, 1))])
def test_binary_ops_with_broadcasting_match_torch(op: str, sa: tuple, sb: tuple) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=sa), rng.uniform(0.5, 2.0, size=sb)
    w = rng.normal(size=np.broadcast_shapes(sa, sb))
    _same([[op, 0, 1], ["mul", 3, 2], ["sum", 4]], [a, b, w])


@pytest.mark.parametrize("instr", [["add", 1.5, 0], ["sub", 2.0, 0], ["mul", -3.0, 0],
                                   ["div", 2.0, 0], ["sub", 0, 0.5], ["div", 0, 4.0],
                                   ["pow", 0, 2.0], ["pow", 0, -1.0], ["pow", 0, 0.5],
                                   ["neg", 0], ["exp", 0], ["log", 0], ["tanh", 0], ["relu", 0]])
def test_unary_ops_and_python_numbers_match_torch(instr: list) -> None:
    rng = np.random.default_rng(1)
    a = rng.uniform(0.2, 2.0, size=(2, 5)) * np.where(rng.random((2, 5)) < 0.5, 1, -1)
    if instr[0] in ("log", "pow") and instr[-1] != 2.0:
        a = np.abs(a)
    a[0, 0] = 0.0 if instr[0] == "relu" else a[0, 0]  # relu'(0) = 0, as torch
    _same([instr, ["mul", 2, 1], ["sum", 3]], [a, rng.normal(size=(2, 5))])


@pytest.mark.parametrize("axis,shape", [(None, (3, 4)), (0, (3, 4)), (1, (4, 4)), (-1, (2, 3)),
                                        (1, (2, 3, 4))])
def test_sum_over_an_axis_matches_torch(axis: int | None, shape: tuple) -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=shape)
    w = rng.normal(size=a.sum(axis=axis).shape)
    _same([["sum", 0, {} if axis is None else {"axis": axis}], ["mul", 2, 1], ["sum", 3]], [a, w])


def test_matmul_and_a_two_layer_network_match_torch() -> None:
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    params = [rng.normal(size=s) for s in [(3, 4), (4,), (4, 2), (2,)]]
    program = [["matmul", 0, 2], ["add", 6, 3], ["tanh", 7], ["matmul", 8, 4], ["add", 9, 5],
               ["sub", 10, 1], ["pow", 11, 2.0], ["sum", 12]]
    _same(program, [X, Y, *params])


def test_shared_subexpressions_accumulate() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    _same([["mul", 0, 1], ["mul", 2, 2], ["add", 3, 2], ["sum", 4]], [a, b])  # y thrice
    _same([["mul", 0, 0], ["mul", 2, 0], ["sum", 3]], [a, b])  # a·a·a, b unused
    _same([["tanh", 0], ["mul", 2, 1], ["exp", 3], ["add", 2, 4], ["mul", 5, 2], ["sum", 6]],
          [a, b])  # a diamond with sides of different lengths


def test_random_graphs_match_torch() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        inputs = [rng.normal(size=(3, 4)), rng.normal(size=(4,)), rng.normal(size=())]
        program: list = []
        n = len(inputs)
        for _ in range(40):
            a, b = (int(x) for x in rng.integers(0, n, size=2))
            op = str(rng.choice(["add", "sub", "mul", "tanh", "exp_tanh"]))
            if op == "exp_tanh":
                program += [["tanh", a], ["exp", n]]
                n += 2
            elif op == "tanh":
                program.append(["tanh", a])
                n += 1
            else:
                program += [[op, a, b], ["tanh", n]]
                n += 2
        program += [["sum", n - 1], ["sum", 0], ["add", n, n + 1], ["sum", 1], ["add", n + 2,
                                                                              n + 3]]
        _same(program, inputs)


def test_a_chain_deeper_than_the_recursion_limit() -> None:
    program: list = []
    last = 0
    for _ in range(3000):  # 12,000 operations under a recursion limit of 500
        base = len(program) + 1
        program += [["tanh", last], ["mul", 0.5, base], ["mul", last, 0.3], ["add", base + 1,
                                                                             base + 2]]
        last = base + 3
    program.append(["sum", last])
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(500)
    try:
        value, grads = ref.run_program(program, [np.array([0.3, -1.2, 2.0])])
    finally:
        sys.setrecursionlimit(limit)
    want_value, want_grads = _torch(program, [np.array([0.3, -1.2, 2.0])])
    np.testing.assert_allclose(value, want_value, rtol=1e-10)
    np.testing.assert_allclose(grads[0], want_grads[0], rtol=1e-8, atol=1e-14)


def test_repeated_backward_accumulates_in_leaves_only_and_zero_grad_resets() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=3), rng.normal(size=3)
    program = [["mul", 0, 1], ["tanh", 2], ["mul", 3, 3], ["add", 4, 2], ["sum", 5]]
    _same(program, [a, b], backward_calls=3)
    once = ref.run_program(program, [a, b])[1]
    again = ref.run_program(program, [a, b], backward_calls=3, zero_grad=True)[1]
    for g, h in zip(once, again):
        np.testing.assert_allclose(g, h, rtol=1e-14)


def _provided(path: Path) -> dict[str, str]:
    """The source of what the stub gives students ready-made: OPS and run_program."""

    def name(node: ast.stmt) -> str | None:
        if isinstance(node, ast.FunctionDef):
            return node.name
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            return ast.unparse(node.targets[0] if isinstance(node, ast.Assign) else node.target)
        return None

    tree = ast.parse(path.read_text())
    return {name(n) or "": ast.unparse(n) for n in tree.body if name(n) in ("OPS", "run_program")}


def test_the_stub_provides_the_same_run_program_as_the_reference() -> None:
    given = _provided(ROOT / "assignments/autograd/autograd.py")
    assert set(given) == {"OPS", "run_program"}
    assert given == _provided(ROOT / "reference/autograd/solution.py")
