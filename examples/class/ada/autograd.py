"""Alternative: Kahn's algorithm — count how many tensors of the graph use each tensor, and let a
tensor pass its gradient on only once every user has passed its share; scalar constants are kept
as numbers rather than lifted into tensors."""

from __future__ import annotations

import operator
from collections import deque

import numpy as np


def _sum_to(g, shape):
    while g.ndim > len(shape):
        g = g.sum(0)
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1),
                 keepdims=True) if g.ndim else g


class Tensor:
    def __init__(self, data, _parents=()):
        self.data = np.array(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self._parents = _parents
        self._backward = lambda: None

    def _op(self, value, parents, backward):
        out = Tensor(value, tuple(parents))

        def run():
            backward(out.grad)

        out._backward = run
        return out

    def _binary(self, other, f, dself, dother):
        if not isinstance(other, Tensor):  # a Python number: no gradient to send it
            return self._op(f(self.data, other), [self],
                            lambda g: self._add(_sum_to(g * dself(self.data, other),
                                                        self.data.shape)))
        return self._op(f(self.data, other.data), [self, other], lambda g: (
            self._add(_sum_to(g * dself(self.data, other.data), self.data.shape)),
            other._add(_sum_to(g * dother(self.data, other.data), other.data.shape))))

    def _add(self, g):
        self.grad = self.grad + g

    def __add__(self, o):
        return self._binary(o, np.add, lambda a, b: 1.0, lambda a, b: 1.0)

    def __sub__(self, o):
        return self._binary(o, np.subtract, lambda a, b: 1.0, lambda a, b: -1.0)

    def __mul__(self, o):
        return self._binary(o, np.multiply, lambda a, b: b, lambda a, b: a)

    def __truediv__(self, o):
        return self._binary(o, np.divide, lambda a, b: 1.0 / b, lambda a, b: -a / (b * b))

    def __radd__(self, o):
        return self + o

    def __rmul__(self, o):
        return self * o

    def __rsub__(self, o):
        return self._binary(o, lambda a, c: c - a, lambda a, c: -1.0, None)

    def __rtruediv__(self, o):
        return self._binary(o, lambda a, c: c / a, lambda a, c: -c / (a * a), None)

    def __neg__(self):
        return self * -1.0

    def __pow__(self, p):
        return self._binary(p, np.power, lambda a, q: q * np.power(a, q - 1), None)

    def _unary(self, value, local):
        return self._op(value, [self], lambda g: self._add(g * local))

    def exp(self):
        e = np.exp(self.data)
        return self._unary(e, e)

    def log(self):
        return self._unary(np.log(self.data), 1.0 / self.data)

    def tanh(self):
        t = np.tanh(self.data)
        return self._unary(t, 1.0 - t * t)

    def relu(self):
        return self._unary(self.data * (self.data > 0), (self.data > 0).astype(np.float64))

    def sum(self, axis=None):
        value = self.data.sum(axis=axis)
        if axis is None:
            return self._op(value, [self], lambda g: self._add(g * np.ones_like(self.data)))
        return self._op(value, [self], lambda g: self._add(
            np.ones_like(self.data) * np.expand_dims(g, axis)))

    def __matmul__(self, o):
        return self._op(self.data @ o.data, [self, o], lambda g: (
            self._add(np.einsum("np,mp->nm", g, o.data)),
            o._add(np.einsum("nm,np->mp", self.data, g))))

    def backward(self):
        users, seen, stack = {}, {id(self)}, [self]  # users[id]: tensors of the graph using it
        while stack:
            n = stack.pop()
            for p in n._parents:
                users[id(p)] = users.get(id(p), 0) + 1
                if id(p) not in seen:
                    seen.add(id(p))
                    stack.append(p)
        ready = deque([self])
        for_later = []
        while ready:
            n = ready.popleft()
            for_later.append(n)
            for p in set(map(id, n._parents)):
                users[p] -= sum(1 for q in n._parents if id(q) == p)
            for p in n._parents:
                if users[id(p)] == 0 and p._parents:
                    users[id(p)] = -1  # queued once
                    ready.append(p)
        for n in for_later[1:]:
            n.grad = np.zeros_like(n.data)
        if self._parents:
            self.grad = np.ones_like(self.data)
        else:
            self.grad = self.grad + 1.0
        for n in for_later:
            n._backward()

    def zero_grad(self):
        self.grad = 0.0 * self.data


OPS = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
    "pow": operator.pow, "matmul": operator.matmul, "neg": operator.neg,
    "exp": lambda a: a.exp(), "log": lambda a: a.log(), "tanh": lambda a: a.tanh(),
    "relu": lambda a: a.relu(), "sum": lambda a, **kw: a.sum(**kw),
}


def run_program(program, inputs, backward_calls=1, zero_grad=False):
    leaves = [Tensor(x) for x in inputs]
    slots = list(leaves)
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
