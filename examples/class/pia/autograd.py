"""Alternative: every op has its own backward written out; the order is creation order, found by
collecting the graph with a stack and sorting by a global counter; intermediate gradients live in
a dict for the duration of one backward() call."""

from __future__ import annotations

import itertools
import operator

import numpy as np

_counter = itertools.count()


def _reduce_to(g, shape):
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1)
    return np.sum(g, axis=axes).reshape(shape) if axes else g


class Tensor:
    def __init__(self, data, _parents=()):
        self.data = np.array(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self._parents = _parents
        self._backward = lambda: None
        self._n = next(_counter)
        self._vjp = None  # g -> gradients of the parents, in order

    @staticmethod
    def _t(x):
        return x if isinstance(x, Tensor) else Tensor(x)

    def _make(self, value, parents, vjp):
        out = Tensor(value, parents)
        out._vjp = vjp
        return out

    def __add__(self, o):
        o = self._t(o)
        return self._make(self.data + o.data, (self, o),
                          lambda g: (_reduce_to(g, self.data.shape), _reduce_to(g, o.data.shape)))

    def __sub__(self, o):
        o = self._t(o)
        return self._make(self.data - o.data, (self, o),
                          lambda g: (_reduce_to(g, self.data.shape), _reduce_to(-g, o.data.shape)))

    def __mul__(self, o):
        o = self._t(o)
        return self._make(self.data * o.data, (self, o),
                          lambda g: (_reduce_to(g * o.data, self.data.shape),
                                     _reduce_to(g * self.data, o.data.shape)))

    def __truediv__(self, o):
        o = self._t(o)
        return self._make(self.data / o.data, (self, o),
                          lambda g: (_reduce_to(g / o.data, self.data.shape),
                                     _reduce_to(-g * self.data / o.data**2, o.data.shape)))

    def __pow__(self, p):
        return self._make(self.data**p, (self,), lambda g: (g * p * self.data ** (p - 1),))

    def __neg__(self):
        return self._make(-self.data, (self,), lambda g: (-g,))

    def __radd__(self, o):
        return self._t(o) + self

    def __rsub__(self, o):
        return self._t(o) - self

    def __rmul__(self, o):
        return self._t(o) * self

    def __rtruediv__(self, o):
        return self._t(o) / self

    def exp(self):
        e = np.exp(self.data)
        return self._make(e, (self,), lambda g: (g * e,))

    def log(self):
        return self._make(np.log(self.data), (self,), lambda g: (g / self.data,))

    def tanh(self):
        t = np.tanh(self.data)
        return self._make(t, (self,), lambda g: (g * (1 - t * t),))

    def relu(self):
        return self._make(np.where(self.data > 0, self.data, 0.0), (self,),
                          lambda g: (np.where(self.data > 0, g, 0.0),))

    def sum(self, axis=None):
        shape = self.data.shape
        if axis is None:
            return self._make(self.data.sum(), (self,), lambda g: (np.full(shape, float(g)),))
        ax = axis % len(shape)
        return self._make(self.data.sum(axis=ax), (self,),
                          lambda g: (np.repeat(np.expand_dims(g, ax), shape[ax], axis=ax),))

    def __matmul__(self, o):
        return self._make(self.data @ o.data, (self, o),
                          lambda g: (g @ o.data.T, self.data.T @ g))

    def backward(self):
        nodes, seen, stack = [], {id(self)}, [self]
        while stack:
            n = stack.pop()
            nodes.append(n)
            for p in n._parents:
                if id(p) not in seen:
                    seen.add(id(p))
                    stack.append(p)
        # A tensor is created after its parents: newest first is a reverse topological order.
        nodes.sort(key=lambda n: n._n, reverse=True)
        grads = {id(self): np.ones_like(self.data)}
        for n in nodes:
            g = grads.pop(id(n), None)
            if g is None:
                continue
            if not n._parents:
                n.grad = n.grad + g
                continue
            n.grad = g
            for p, gp in zip(n._parents, n._vjp(g)):
                grads[id(p)] = grads[id(p)] + gp if id(p) in grads else gp

    def zero_grad(self):
        self.grad = np.zeros(self.data.shape)


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
