"""Reverse-mode automatic differentiation: a NumPy tensor that records its graph, and backward()."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class Tensor:
    """A float64 NumPy array that remembers how it was computed.

    data: the values (any shape, () for a scalar); grad: the gradient that backward() adds up,
    same shape as data, zeros at the start. A Tensor you create yourself is a leaf; every
    operation below returns a new Tensor whose parents are its operands.
    """

    def __init__(self, data: Any, _parents: tuple[Tensor, ...] = ()) -> None:
        # Given: keep these four attributes (you may add your own).
        self.data = np.array(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self._parents = _parents
        # Adds this tensor's share of the gradient into its parents' grad; set by each op.
        self._backward: Callable[[], None] = lambda: None

    # ------------------------------------------------------------------ elementwise, binary

    def __add__(self, other: Any) -> Tensor:
        """out = self + other, with NumPy broadcasting; other is a Tensor or a Python number.

        ∂out/∂self = 1, ∂out/∂other = 1; a gradient into an operand that was broadcast is
        summed back to that operand's shape.
        """
        # TODO: implement Tensor.__add__.
        raise NotImplementedError("Tensor.__add__: not implemented yet")

    def __mul__(self, other: Any) -> Tensor:
        """out = self · other (elementwise, broadcasting): ∂out/∂self = other, ∂out/∂other = self."""
        # TODO: implement Tensor.__mul__.
        raise NotImplementedError("Tensor.__mul__: not implemented yet")

    def __pow__(self, p: float) -> Tensor:
        """out = self ** p for a Python number p: ∂out/∂self = p · self^(p − 1)."""
        # TODO: implement Tensor.__pow__.
        raise NotImplementedError("Tensor.__pow__: not implemented yet")

    def __neg__(self) -> Tensor:
        """out = −self."""
        # TODO: implement Tensor.__neg__.
        raise NotImplementedError("Tensor.__neg__: not implemented yet")

    def __sub__(self, other: Any) -> Tensor:
        """out = self − other (broadcasting)."""
        # TODO: implement Tensor.__sub__.
        raise NotImplementedError("Tensor.__sub__: not implemented yet")

    def __truediv__(self, other: Any) -> Tensor:
        """out = self / other (broadcasting): ∂out/∂self = 1/other, ∂out/∂other = −self/other²."""
        # TODO: implement Tensor.__truediv__.
        raise NotImplementedError("Tensor.__truediv__: not implemented yet")

    def __radd__(self, other: Any) -> Tensor:
        """out = other + self, for a Python number other (2.0 + t)."""
        # TODO: implement Tensor.__radd__.
        raise NotImplementedError("Tensor.__radd__: not implemented yet")

    def __rmul__(self, other: Any) -> Tensor:
        """out = other · self, for a Python number other."""
        # TODO: implement Tensor.__rmul__.
        raise NotImplementedError("Tensor.__rmul__: not implemented yet")

    def __rsub__(self, other: Any) -> Tensor:
        """out = other − self, for a Python number other."""
        # TODO: implement Tensor.__rsub__.
        raise NotImplementedError("Tensor.__rsub__: not implemented yet")

    def __rtruediv__(self, other: Any) -> Tensor:
        """out = other / self, for a Python number other: ∂out/∂self = −other/self²."""
        # TODO: implement Tensor.__rtruediv__.
        raise NotImplementedError("Tensor.__rtruediv__: not implemented yet")

    # ---------------------------------------------------------------------- elementwise, unary

    def exp(self) -> Tensor:
        """out = eˢᵉˡᶠ: ∂out/∂self = out."""
        # TODO: implement Tensor.exp.
        raise NotImplementedError("Tensor.exp: not implemented yet")

    def log(self) -> Tensor:
        """out = ln self (self > 0): ∂out/∂self = 1/self."""
        # TODO: implement Tensor.log.
        raise NotImplementedError("Tensor.log: not implemented yet")

    def tanh(self) -> Tensor:
        """out = tanh self: ∂out/∂self = 1 − out²."""
        # TODO: implement Tensor.tanh.
        raise NotImplementedError("Tensor.tanh: not implemented yet")

    def relu(self) -> Tensor:
        """out = max(self, 0): ∂out/∂self = 1 where self > 0, else 0 (0 at 0, as torch)."""
        # TODO: implement Tensor.relu.
        raise NotImplementedError("Tensor.relu: not implemented yet")

    # ----------------------------------------------------------------------- reductions, matmul

    def sum(self, axis: int | None = None) -> Tensor:
        """out = Σ self over every axis (axis=None, out has shape ()) or over one axis (that axis
        removed, as numpy's sum): each element's gradient is out's gradient at its position."""
        # TODO: implement Tensor.sum.
        raise NotImplementedError("Tensor.sum: not implemented yet")

    def __matmul__(self, other: Tensor) -> Tensor:
        """out = self @ other for 2-D tensors, self: (n, m), other: (m, p) → (n, p).

        ∂L/∂self = ∂L/∂out @ otherᵀ (n, m), ∂L/∂other = selfᵀ @ ∂L/∂out (m, p).
        """
        # TODO: implement Tensor.__matmul__.
        raise NotImplementedError("Tensor.__matmul__: not implemented yet")

    # --------------------------------------------------------------------------------- backward

    def backward(self) -> None:
        """Add ∂(sum of self)/∂leaf into every leaf's grad (the seed is ones of self's shape).

        Visit each tensor of the graph once, in reverse topological order (a tensor only after
        every tensor that used it), so a tensor used twice gets both contributions before it
        passes its gradient on. No recursion: a chain of 10,000 operations must work.
        Leaves accumulate over calls, as in torch; intermediate results start from zero each call.
        """
        # TODO: implement Tensor.backward.
        raise NotImplementedError("Tensor.backward: not implemented yet")

    def zero_grad(self) -> None:
        """Reset this tensor's grad to zeros of its shape."""
        # TODO: implement Tensor.zero_grad.
        raise NotImplementedError("Tensor.zero_grad: not implemented yet")


# ------------------------------------------------------------- provided: how the grader drives it
# Do not change what follows: the tests call run_program with programs of their own.

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
