"""Mutant: __matmul__ multiplies elementwise (`*`) instead of taking the matrix product (`@`)."""

# expect: line \d+, in __matmul__

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, back to ``shape``."""
    while grad.ndim > len(shape):  # leading axes broadcasting added
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:  # an axis of length 1 that was stretched
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class Tensor:
    """A float64 NumPy array that remembers how it was computed.

    data: the values; grad: d(output)/d(this) accumulated by backward(), same shape as data.
    """

    def __init__(self, data: Any, _parents: tuple[Tensor, ...] = ()) -> None:
        self.data = np.array(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self._parents = _parents
        # Adds this tensor's share of the gradient into its parents' grad; set by the op.
        self._backward: Callable[[], None] = lambda: None

    @staticmethod
    def _lift(x: Any) -> Tensor:
        return x if isinstance(x, Tensor) else Tensor(x)

    # ------------------------------------------------------------------ elementwise, binary

    def __add__(self, other: Any) -> Tensor:
        other = self._lift(other)
        out = Tensor(self.data + other.data, (self, other))

        def backward() -> None:
            self.grad += _unbroadcast(out.grad, self.data.shape)
            other.grad += _unbroadcast(out.grad, other.data.shape)

        out._backward = backward
        return out

    def __mul__(self, other: Any) -> Tensor:
        other = self._lift(other)
        out = Tensor(self.data * other.data, (self, other))

        def backward() -> None:
            self.grad += _unbroadcast(other.data * out.grad, self.data.shape)
            other.grad += _unbroadcast(self.data * out.grad, other.data.shape)

        out._backward = backward
        return out

    def __pow__(self, p: float) -> Tensor:
        if isinstance(p, Tensor):
            return NotImplemented
        out = Tensor(self.data ** p, (self,))

        def backward() -> None:
            self.grad += p * self.data ** (p - 1) * out.grad

        out._backward = backward
        return out

    def __neg__(self) -> Tensor:
        return self * -1.0

    def __sub__(self, other: Any) -> Tensor:
        return self + (-self._lift(other))

    def __truediv__(self, other: Any) -> Tensor:
        return self * self._lift(other) ** -1.0

    def __radd__(self, other: Any) -> Tensor:
        return self + other

    def __rmul__(self, other: Any) -> Tensor:
        return self * other

    def __rsub__(self, other: Any) -> Tensor:
        return self._lift(other) - self

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._lift(other) / self

    # ---------------------------------------------------------------------- elementwise, unary

    def exp(self) -> Tensor:
        out = Tensor(np.exp(self.data), (self,))

        def backward() -> None:
            self.grad += out.data * out.grad

        out._backward = backward
        return out

    def log(self) -> Tensor:
        out = Tensor(np.log(self.data), (self,))

        def backward() -> None:
            self.grad += out.grad / self.data

        out._backward = backward
        return out

    def tanh(self) -> Tensor:
        out = Tensor(np.tanh(self.data), (self,))

        def backward() -> None:
            self.grad += (1.0 - out.data**2) * out.grad  # from the output: 1 − tanh²

        out._backward = backward
        return out

    def relu(self) -> Tensor:
        out = Tensor(np.maximum(self.data, 0.0), (self,))

        def backward() -> None:
            self.grad += (self.data > 0) * out.grad  # 0 at 0, as torch

        out._backward = backward
        return out

    # ----------------------------------------------------------------------- reductions, matmul

    def sum(self, axis: int | None = None) -> Tensor:
        out = Tensor(self.data.sum(axis=axis), (self,))

        def backward() -> None:
            g = out.grad if axis is None else np.expand_dims(out.grad, axis)  # back in place
            self.grad += np.broadcast_to(g, self.data.shape)

        out._backward = backward
        return out

    def __matmul__(self, other: Tensor) -> Tensor:
        out = Tensor(self.data * other.data, (self, other))

        def backward() -> None:
            self.grad += out.grad @ other.data.T  # (n, p) @ (p, m)
            other.grad += self.data.T @ out.grad  # (m, n) @ (n, p)

        out._backward = backward
        return out

    # --------------------------------------------------------------------------------- backward

    def backward(self) -> None:
        """Add d(sum of this tensor)/d(leaf) into every leaf's grad, walking the graph once in
        reverse topological order; gradients of intermediate results start from zero."""
        order: list[Tensor] = []  # post-order: every tensor after all its parents
        seen: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:  # an explicit stack: a chain of 10,000 ops would overflow Python's
            node, parents_done = stack.pop()
            if parents_done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node._parents if id(p) not in seen)
        for node in order:
            if node._parents:  # intermediate results: this call's gradient only
                node.grad = np.zeros_like(node.data)
        self.grad = self.grad + np.ones_like(self.data)
        for node in reversed(order):
            node._backward()

    def zero_grad(self) -> None:
        """Reset this tensor's gradient to zeros."""
        self.grad = np.zeros_like(self.data)


# ------------------------------------------------------------- provided: how the grader drives it

OPS: dict[str, Callable[..., Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
    "pow": operator.pow, "matmul": operator.matmul, "neg": operator.neg,
    "exp": lambda a: a.exp(), "log": lambda a: a.log(), "tanh": lambda a: a.tanh(),
    "relu": lambda a: a.relu(), "sum": lambda a, **kw: a.sum(**kw),
}


def run_program(program: Sequence[Sequence[Any]], inputs: Sequence[Any],
                backward_calls: int = 1, zero_grad: bool = False) -> tuple[np.ndarray, list]:
    """Build the program's graph on Tensors, call backward() on its last value, and return
    (last value's data, [grad of each input]).

    Provided: the tests call it. Slots 0 … len(inputs) − 1 hold Tensor(input); each instruction
    [op, *operands, {keyword arguments}?] appends op(*operands) as the next slot, where an int
    operand is a slot and a float is that Python number. backward() is called backward_calls
    times, with zero_grad() on every input before each call after the first when zero_grad.
    """
    leaves = [Tensor(x) for x in inputs]
    slots: list[Any] = list(leaves)
    for op, *args in program:
        kwargs = args.pop() if args and isinstance(args[-1], dict) else {}
        values = [slots[a] if isinstance(a, int) else a for a in args]
        slots.append(OPS[op](*values, **kwargs))
    out = slots[-1]
    for call in range(backward_calls):
        if zero_grad and call > 0:
            for leaf in leaves:
                leaf.zero_grad()
        out.backward()
    return out.data, [leaf.grad for leaf in leaves]
