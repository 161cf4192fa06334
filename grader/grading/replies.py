"""Checks on a student's reply before the trusted side computes anything with it.

A reply is whatever the student's function returned, decoded from the wire. Hidden tests do
arithmetic with replies (``reply * dout``); a reply of the wrong shape broadcasts, and a reply far
larger than anything the call was sent makes that arithmetic allocate gigabytes in the trusted
process. Two checks stop that before any test code sees the reply:

- **size**: a reply may hold at most ``SLACK`` times as many elements as the largest input of the
  call, plus ``FLOOR`` (so that small inputs may still give matrices, folds, weight tables). The
  frame's length is compared with this bound before its bytes are read, so an oversized reply
  never reaches this process's memory. A test whose function legitimately returns more passes
  ``max_elements=`` to the call.
- **like**: with ``like=`` (an example of what is expected: the reference's result, or an input
  of the same shape), the reply must have the same structure, shape and dtype.

Both raise :class:`ReplyRejected`, an ``AssertionError``, so the test fails with its message.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.isolation import wire

# A reply may hold this many times the elements of the call's largest input ...
SLACK = 4
# ... plus this many, so small inputs may return small tables of any shape (64 K elements:
# at most 512 KB of float64).
FLOOR = 1 << 16
# Bytes a reply's frame may spend beyond its elements: the JSON header of tagged values.
HEADER_BYTES = 1 << 20
MAX_ITEMSIZE = 16  # complex128, the widest dtype the wire allows
MAX_DEPTH = 64


class ReplyRejected(AssertionError):
    """The student's reply was not what the test can check (too large, wrong shape or dtype)."""


def elements(value: Any, depth: int = 0) -> int:
    """How many elements ``value`` holds: arrays and tensors count their size, a number one,
    strings and bytes their length, containers the sum of their items."""
    if depth > MAX_DEPTH:
        return 0
    if isinstance(value, np.ndarray):
        return int(value.size)
    if _is_tensor(value):
        return int(value.numel())
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    if isinstance(value, dict):
        return sum(elements(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(elements(v, depth + 1) for v in value)
    return 1


def largest_input(value: Any, depth: int = 0) -> int:
    """The elements of the largest array, tensor, string or list of numbers in ``value``."""
    if depth > MAX_DEPTH:
        return 0
    if isinstance(value, dict):
        return max((largest_input(v, depth + 1) for v in value.values()), default=0)
    if isinstance(value, (list, tuple)) and any(isinstance(v, (list, tuple, dict, np.ndarray))
                                                or _is_tensor(v) for v in value):
        return max((largest_input(v, depth + 1) for v in value), default=0)
    return elements(value, depth)


def call_budget(args: Any, kwargs: Any, max_elements: int | None = None,
                like: Any = None) -> int:
    """The most elements one call's reply may hold."""
    if max_elements is not None:
        return int(max_elements)
    if like is not None:
        return elements(like) + FLOOR
    return SLACK * max(largest_input(args), largest_input(kwargs)) + FLOOR


def byte_budget(n_elements: int) -> int:
    """The largest reply frame that can hold ``n_elements`` elements."""
    return n_elements * MAX_ITEMSIZE + HEADER_BYTES


def too_large(fn: str, got_bytes: int, budget: int) -> ReplyRejected:
    return ReplyRejected(
        f"{fn} returned {_mb(got_bytes)} of data, far more than its inputs call for (at most "
        f"about {budget:,} values here): check the shape of what {fn} returns")


def check_size(fn: str, reply: Any, budget: int) -> None:
    """Fail when ``reply`` holds more than ``budget`` elements (e.g. a handle's contents fetched)."""
    n = elements(reply)
    if n > budget:
        raise ReplyRejected(f"{fn} returned {n:,} values, far more than its inputs call for (at "
                            f"most {budget:,} here): check the shape of what {fn} returns")


def check_like(fn: str, reply: Any, like: Any, where: str = "") -> None:
    """Fail unless ``reply`` has the structure, shape and dtype of ``like``."""
    label = f"{fn}{where}"
    if isinstance(like, np.ndarray) or _is_tensor(like):
        kind = "a tensor" if _is_tensor(like) else "an array"
        if _is_tensor(like) != _is_tensor(reply) or not (
                isinstance(reply, np.ndarray) or _is_tensor(reply)):
            raise ReplyRejected(f"{label}: you returned {_describe(reply)}; expected {kind} of "
                                f"shape {_shape(like)} and dtype {_dtype(like)}")
        if tuple(reply.shape) != tuple(like.shape):
            raise ReplyRejected(f"{label}: your output has shape {_shape(reply)}, expected "
                                f"{_shape(like)}")
        if _dtype(reply) != _dtype(like):
            raise ReplyRejected(f"{label}: your output has dtype {_dtype(reply)}, expected "
                                f"{_dtype(like)}")
        return
    if isinstance(like, (list, tuple)):
        if not isinstance(reply, (list, tuple)) or len(reply) != len(like):
            raise ReplyRejected(f"{label}: you returned {_describe(reply)}; expected "
                                f"{len(like)} outputs")
        for i, (r, e) in enumerate(zip(reply, like)):
            check_like(fn, r, e, f"{where} → output [{i}]")
        return
    if isinstance(like, (int, float)) and not isinstance(like, bool):
        ok = isinstance(reply, (int, float, np.number)) and not isinstance(reply, bool) or (
            (isinstance(reply, np.ndarray) or _is_tensor(reply)) and elements(reply) == 1)
        if not ok:
            raise ReplyRejected(f"{label}: you returned {_describe(reply)}; expected a single "
                                "number")


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "numel")


def _shape(x: Any) -> str:
    return "(" + ", ".join(str(int(s)) for s in x.shape) + ("," if len(x.shape) == 1 else "") + ")"


def _dtype(x: Any) -> str:
    return str(x.dtype).removeprefix("torch.")


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray) or _is_tensor(x):
        kind = "a tensor" if _is_tensor(x) else "an array"
        return f"{kind} of shape {_shape(x)} and dtype {_dtype(x)}"
    if isinstance(x, (list, tuple)):
        return f"a {type(x).__name__} of {len(x)} items"
    return f"a value of type {wire.type_name(x)}"


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e5 else f"{n:,} bytes"


__all__ = ["ReplyRejected", "SLACK", "FLOOR", "elements", "largest_input", "call_budget",
           "byte_budget", "too_large", "check_size", "check_like"]
