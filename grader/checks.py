"""Comparison helpers for tests: a student's values against expected ones, with feedback to act on."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

__all__ = [
    "TOLERANCES",
    "CheckFailed",
    "Mismatch",
    "Tol",
    "assert_close",
    "assert_equal",
    "assert_finite",
    "assert_no_warnings",
    "assert_raises",
    "assert_shape",
    "expect_same",
    "find_mismatch",
    "tolerance_for",
    "tolerance_overrides",
]


class CheckFailed(AssertionError):
    """A check found the student's value wrong; `str(err)` is the message the student reads."""


@dataclass(frozen=True)
class Tol:
    """Elementwise tolerance: |actual - expected| <= atol + rtol * |expected| passes."""

    rtol: float
    atol: float

    def __post_init__(self) -> None:
        for field_name in ("rtol", "atol"):
            value = getattr(self, field_name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"Tol.{field_name} must be a finite number >= 0, got {value!r}")


TOLERANCES: dict[str, Tol] = {
    "float64": Tol(rtol=1e-6, atol=1e-9),
    "float32": Tol(rtol=1e-4, atol=1e-6),
    # float16 keeps about 3 significant digits (eps ≈ 1e-3); summing in another order moves the last.
    "float16": Tol(rtol=1e-2, atol=1e-3),
    # bfloat16 keeps 8 bits of mantissa (eps ≈ 8e-3), so even one rounding step is visible.
    "bfloat16": Tol(rtol=5e-2, atol=1e-2),
}

_EXACT = Tol(rtol=0.0, atol=0.0)
_OVERRIDES: ContextVar[Mapping[str, Tol]] = ContextVar(
    "grader_tolerance_overrides", default=MappingProxyType({})
)
# Complex values are compared with the tolerance of their real parts' precision.
_DTYPE_ALIASES = {"complex128": "float64", "complex64": "float32", "complex32": "float16"}
_MAX_HINTS = 2


def _dtype_name(dtype: str | np.dtype[Any] | torch.dtype | type) -> str:
    if isinstance(dtype, str):
        return dtype.removeprefix("torch.")
    if isinstance(dtype, torch.dtype):
        return str(dtype).removeprefix("torch.")
    return np.dtype(dtype).name


def tolerance_for(dtype: str | np.dtype[Any] | torch.dtype | type) -> Tol:
    """The tolerance in force for `dtype`: an active override, else TOLERANCES; exact for ints and bools."""
    name = _dtype_name(dtype)
    name = _DTYPE_ALIASES.get(name, name)
    overrides = _OVERRIDES.get()
    if name in overrides:
        return overrides[name]
    if name in TOLERANCES:
        return TOLERANCES[name]
    if name.startswith("float"):
        # float8 variants and other narrow floats: no tighter than the loosest entry.
        return TOLERANCES["bfloat16"]
    return _EXACT


@contextlib.contextmanager
def tolerance_overrides(mapping: Mapping[str, Tol | Mapping[str, Any]]) -> Iterator[None]:
    """Replace TOLERANCES entries inside the block, e.g. with a topic's grading.toml [tolerances].

    Values are `Tol`s or tables such as {"rtol": 1e-5, "reason": "..."}; a missing rtol/atol keeps
    the entry in force. Nested blocks stack; leaving a block restores what was there before.
    """
    merged = dict(_OVERRIDES.get())
    for key, value in mapping.items():
        name = _dtype_name(key)
        if name not in TOLERANCES:
            raise ValueError(
                f"unknown dtype {key!r} in tolerance overrides; known: {', '.join(TOLERANCES)}"
            )
        base = merged.get(name, TOLERANCES[name])
        if isinstance(value, Tol):
            tol = value
        elif isinstance(value, Mapping):
            unknown = set(value) - {"rtol", "atol", "reason"}
            if unknown:
                raise ValueError(f"unknown keys {sorted(unknown)} in tolerance override {key!r}")
            tol = Tol(
                rtol=float(value.get("rtol", base.rtol)), atol=float(value.get("atol", base.atol))
            )
        else:
            raise TypeError(f"tolerance override {key!r} must be a Tol or a table, got {value!r}")
        merged[name] = tol
    token = _OVERRIDES.set(merged)
    try:
        yield
    finally:
        _OVERRIDES.reset(token)


# ----------------------------------------------------------------------------------- kinds


def _is_handle(value: Any) -> bool:
    try:
        from grader.wire import Handle
    except ImportError:
        # Before the wire module exists, recognise a handle by its two attributes.
        return hasattr(value, "type_name") and hasattr(value, "id")
    return isinstance(value, Handle)


def _kind(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, torch.Tensor):
        return "tensor"
    if isinstance(value, np.ndarray):
        return "scalar" if value.ndim == 0 else "array"
    if isinstance(value, (str, bytes)):  # before np.generic: np.str_ is both
        return "text"
    if isinstance(value, (bool, int, float, complex, np.generic)):
        return "scalar"
    if isinstance(value, (tuple, list)):
        return "sequence"
    if isinstance(value, Mapping):
        return "dict"
    if _is_handle(value):
        return "handle"
    return "other"


def _scalar_class(value: Any) -> str:
    """'bool', 'int', 'float' or 'complex' for anything _kind calls a scalar."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, int):  # Python ints may exceed int64: no NumPy round trip
        return "int"
    kind = np.asarray(value).dtype.kind
    return {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}.get(kind, "other")


def _scalar_dtype(value: Any) -> str:
    if isinstance(value, (np.generic, np.ndarray)):
        return value.dtype.name
    return {bool: "bool", int: "int64", float: "float64", complex: "complex128"}.get(
        type(value), "float64"
    )


def _fmt(x: Any) -> str:
    """A number in a short, readable form."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (complex, np.complexfloating)):
        return f"{complex(x):.6g}"
    return _float_text(float(x), 6)


def _float_text(x: float, digits: int) -> str:
    text = f"{x:.{digits}g}"
    # "3.0", not "3": a float should not read like an int the student is told to return.
    return text + ".0" if text.lstrip("-").isdigit() else text


def _fmt_pair(expected: Any, actual: Any) -> tuple[str, str]:
    """Both numbers with just enough digits to show how they differ."""
    if isinstance(expected, (int, np.integer, bool, np.bool_)) and isinstance(
        actual, (int, np.integer, bool, np.bool_)
    ):
        return _fmt(expected), _fmt(actual)
    try:
        e, a = float(expected), float(actual)
    except (TypeError, ValueError):
        return str(expected), str(actual)
    for digits in range(6, 18):
        if _float_text(e, digits) != _float_text(a, digits):
            # One digit past the first difference, so rounding does not hide how far apart they are.
            digits = min(digits + 1, 17) if digits > 6 else digits
            return _float_text(e, digits), _float_text(a, digits)
    return _float_text(e, 17), _float_text(a, 17)


def _fmt_shape(shape: Sequence[int]) -> str:
    return str(tuple(int(s) for s in shape))


def _fmt_index(index: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def _short_text(text: str, limit: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(value: Any) -> str:
    """What the student returned, in words."""
    kind = _kind(value)
    if kind == "none":
        return "None"
    if kind == "scalar":
        if isinstance(value, np.ndarray):
            return f"a 0-d NumPy array ({_fmt(value.item())}, {value.dtype})"
        if isinstance(value, np.generic):
            return f"a NumPy {value.dtype} scalar ({_fmt(value.item())})"
        cls = type(value).__name__
        return f"{'an' if cls == 'int' else 'a'} {cls} ({_fmt(value)})"
    if kind == "array":
        return f"a NumPy array of shape {_fmt_shape(value.shape)} and dtype {value.dtype}"
    if kind == "tensor":
        return (
            f"a torch tensor of shape {_fmt_shape(value.shape)}, dtype {value.dtype}, "
            f"on {value.device}"
        )
    if kind == "sequence":
        return f"a {type(value).__name__} of {len(value)} values"
    if kind == "dict":
        keys = ", ".join(repr(k) for k in list(value)[:6]) + (", …" if len(value) > 6 else "")
        return f"a dict with keys {keys}" if value else "an empty dict"
    if kind == "text":
        return f"a {type(value).__name__} ({_short_text(repr(value), 40)})"
    if kind == "handle":
        return f"an object of type {value.type_name} (it cannot be sent back and compared)"
    return f"a {type(value).__name__}"


def _describe_expected(expected: Any, names: Sequence[str] | None = None) -> str:
    """What was expected, in words; for scalars the kind only (the value appears later)."""
    kind = _kind(expected)
    if kind == "scalar":
        cls = _scalar_class(expected)
        return {"int": "an int", "bool": "a bool (True or False)"}.get(cls, f"a {cls}")
    if kind == "sequence":
        word = "tuple" if isinstance(expected, tuple) else "list"
        listed = f" ({', '.join(names)})" if names and len(names) == len(expected) else ""
        return f"a {word} of {len(expected)} values{listed}"
    return _describe(expected)


def _to_numpy(value: Any) -> np.ndarray:
    """A CPU NumPy copy: floats as float64, complex as complex128, ints and bools as they are."""
    if isinstance(value, torch.Tensor):
        t = value.detach().resolve_conj().resolve_neg().cpu()
        if t.is_complex():
            return t.to(torch.complex128).numpy()
        if t.is_floating_point():
            return t.to(torch.float64).numpy()
        return t.numpy()
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return arr.astype(np.float64)
    if arr.dtype.kind == "c":
        return arr.astype(np.complex128)
    return arr


# -------------------------------------------------------------------------------- failures


@dataclass(frozen=True)
class _Key:
    """A dict key in a path, told apart from a sequence index."""

    key: Any


@dataclass
class _Failure:
    path: tuple[int | _Key, ...]
    problem: str
    details: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Ctx:
    name: str
    rtol: float | None = None
    atol: float | None = None
    check_dtype: bool = True
    exact: bool = False
    outputs: tuple[str, ...] | None = None
    sizes: Mapping[int, str] = field(default_factory=dict)
    hints: bool = True
    footer: tuple[str, ...] = ()


def _segment(p: int | _Key) -> str:
    if isinstance(p, _Key):
        return f'["{p.key}"]' if isinstance(p.key, str) else f"[{p.key!r}]"
    return f"[{p}]"


def _where(ctx: _Ctx, path: tuple[int | _Key, ...]) -> str:
    """How the student reads a place in their output: 'fit_linear → b', 'mlp_loss → grads["W1"]'."""
    if not path:
        return ctx.name
    head, rest = path[0], path[1:]
    if isinstance(head, int) and ctx.outputs and head < len(ctx.outputs):
        text = ctx.outputs[head] + "".join(_segment(p) for p in rest)
    elif isinstance(head, _Key):
        return ctx.name + "".join(_segment(p) for p in path)
    else:
        text = "output " + "".join(_segment(p) for p in path)
    return f"{ctx.name} → {text}"


def _output_label(ctx: _Ctx, path: tuple[int | _Key, ...], i: int) -> str:
    if not path and ctx.outputs and i < len(ctx.outputs):
        return ctx.outputs[i]
    return f"output [{i}]" if not path else f"item [{i}]"


def _message(ctx: _Ctx, failure: _Failure) -> str:
    lines = [f"{_where(ctx, failure.path)}: {failure.problem}"]
    lines += ["  " + d for d in failure.details]
    lines += ["  Hint: " + h for h in failure.hints[:_MAX_HINTS]]
    lines += ["  " + f for f in ctx.footer]
    return "\n".join(lines)


def _fail(ctx: _Ctx, failure: _Failure) -> None:
    __tracebackhide__ = True
    raise CheckFailed(_message(ctx, failure))


# ---------------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Mismatch:
    """Where and by how much two arrays of the same shape differ beyond a tolerance."""

    count: int
    total: int
    first_index: tuple[int, ...]
    expected_at: Any
    actual_at: Any
    max_abs: float
    max_abs_index: tuple[int, ...]
    max_rel: float
    max_rel_index: tuple[int, ...]


def find_mismatch(actual: np.ndarray, expected: np.ndarray, tol: Tol) -> Mismatch | None:
    """Elements with |a - e| > atol + rtol·|e| (NaN equals NaN only); None when every element passes."""
    a, e = np.asarray(actual), np.asarray(expected)
    if a.dtype.kind not in "biufc" or e.dtype.kind not in "biufc":
        return _text_mismatch(a, e)
    both_int = a.dtype.kind in "biu" and e.dtype.kind in "biu"
    if both_int and tol.rtol == 0 and tol.atol == 0:
        # Compared as integers: a float64 round trip would blur values beyond 2**53.
        bad = a != e
    else:
        if a.dtype.kind in "biu":
            a = a.astype(np.float64)
        if e.dtype.kind in "biu":
            e = e.astype(np.float64)
        bad = ~np.isclose(a, e, rtol=tol.rtol, atol=tol.atol, equal_nan=True)
    if not bad.any():
        return None
    with np.errstate(all="ignore"):
        if both_int:
            diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
        else:
            diff = np.abs(a - e).astype(np.float64)
            diff = np.where((a == e) | (np.isnan(a) & np.isnan(e)), 0.0, diff)
            diff = np.where(np.isnan(diff), np.inf, diff)
        scale = np.abs(e).astype(np.float64)
        rel = np.where(
            scale > 0, diff / np.where(scale > 0, scale, 1.0), np.where(diff > 0, np.inf, 0.0)
        )
    first = tuple(int(i) for i in np.argwhere(bad)[0]) if a.ndim else ()
    i_abs = np.unravel_index(int(np.argmax(diff)), diff.shape) if a.ndim else ()
    i_rel = np.unravel_index(int(np.argmax(rel)), rel.shape) if a.ndim else ()
    return Mismatch(
        count=int(bad.sum()),
        total=int(bad.size),
        first_index=first,
        expected_at=e[first].item(),
        actual_at=a[first].item(),
        max_abs=float(diff.max()),
        max_abs_index=tuple(int(i) for i in i_abs),
        max_rel=float(rel.max()),
        max_rel_index=tuple(int(i) for i in i_rel),
    )


def _text_mismatch(a: np.ndarray, e: np.ndarray) -> Mismatch | None:
    """Arrays of strings (or anything without arithmetic) match element by element or not at all."""
    bad = np.asarray(a != e, dtype=bool)
    if not bad.any():
        return None
    first = tuple(int(i) for i in np.argwhere(bad)[0]) if a.ndim else ()
    return Mismatch(
        count=int(bad.sum()),
        total=int(bad.size),
        first_index=first,
        expected_at=e[first].item(),
        actual_at=a[first].item(),
        max_abs=math.inf,
        max_abs_index=first,
        max_rel=math.inf,
        max_rel_index=first,
    )


def _tol_text(tol: Tol, dtype_name: str | None, exact: bool) -> str:
    if exact or (tol.rtol == 0 and tol.atol == 0):
        return "compared exactly"
    source = f" for {dtype_name}" if dtype_name else ""
    return f"tolerance{source}: rtol={tol.rtol:g}, atol={tol.atol:g}"


def _mismatch_lines(m: Mismatch, scalar: bool, tol_text: str) -> tuple[str, list[str]]:
    if not all(isinstance(v, (int, float, complex)) for v in (m.expected_at, m.actual_at)):
        shown = f"expected {_short_text(repr(m.expected_at))}, got {_short_text(repr(m.actual_at))}"
        if scalar:
            return shown, []
        return f"{m.count} of {m.total} values differ", [
            f"first at {_fmt_index(m.first_index)}: {shown}"
        ]
    e, a = _fmt_pair(m.expected_at, m.actual_at)
    integers = isinstance(m.expected_at, int) and isinstance(m.actual_at, int)
    if integers and scalar:
        return f"expected {e}, got {a}", []
    if integers:
        # Relative errors of labels or counts mean nothing: where and how far is enough.
        return f"{m.count} of {m.total} values differ", [
            f"first at {_fmt_index(m.first_index)}: expected {e}, got {a}",
            f"largest difference {_fmt(int(m.max_abs))} at {_fmt_index(m.max_abs_index)}",
        ]
    if scalar:
        problem = f"expected {e}, got {a}"
        details = [f"absolute error {m.max_abs:.3g}, relative error {m.max_rel:.3g} ({tol_text})"]
        return problem, details
    problem = f"{m.count} of {m.total} values differ ({tol_text})"
    details = [
        f"first at {_fmt_index(m.first_index)}: expected {e}, got {a}",
        (
            f"largest absolute error {m.max_abs:.3g} at {_fmt_index(m.max_abs_index)}, "
            f"largest relative error {m.max_rel:.3g} at {_fmt_index(m.max_rel_index)}"
        ),
    ]
    return problem, details


# ----------------------------------------------------------------------------------- hints


def _factor_text(c: float, sizes: Mapping[int, str], scalar: bool, rel: float = 1e-6) -> str | None:
    """Words for 'yours = c × expected', naming c when it is a size of the inputs."""

    def _near(x: float, target: float) -> bool:
        return abs(x - target) <= rel * max(1.0, abs(target))

    if _near(c, -1.0):
        return "wrong sign: your values are the negatives of the expected ones"
    sign = "" if c > 0 else "-"
    mag = abs(c)
    tail = "" if c > 0 else "; the sign is wrong as well"
    for n, where in sizes.items():
        if n < 3:
            continue  # a factor of 2 is more often a ½ in a formula than a length-2 axis
        if _near(mag, n):
            return (
                f"off by a factor of {sign}{n} (yours = {sign}{n} × expected); {n} is {where}: "
                f"did you forget to divide by it?{tail}"
            )
        if _near(mag, 1 / n):
            return (
                f"off by a factor of {sign}1/{n} (yours = {sign}expected / {n}); {n} is {where}: "
                f"did you divide by it where you should not, or twice?{tail}"
            )
        if _near(mag, n / (n - 1)):
            return (
                f"yours = {sign}expected × n/(n − 1) with n = {n} ({where}): "
                f"did you divide by n − 1 instead of n?{tail}"
            )
        if _near(mag, (n - 1) / n):
            return (
                f"yours = {sign}expected × (n − 1)/n with n = {n} ({where}): "
                f"did you divide by n instead of n − 1?{tail}"
            )
        # A standard deviation with the other ddof differs by the square root of those ratios.
        if _near(mag, math.sqrt((n - 1) / n)):
            return (
                f"yours = {sign}expected × √((n − 1)/n) with n = {n} ({where}): did you use "
                f"the n − 1 (ddof=1) standard deviation instead of the n one?{tail}"
            )
        if _near(mag, math.sqrt(n / (n - 1))):
            return (
                f"yours = {sign}expected × √(n/(n − 1)) with n = {n} ({where}): did you use "
                f"the n (ddof=0) standard deviation instead of the n − 1 one?{tail}"
            )
        if math.isqrt(n) ** 2 != n and _near(mag, math.sqrt(n)):
            return f"off by a factor of {sign}√{n} (yours = {sign}√{n} × expected); {n} is {where}{tail}"
        if math.isqrt(n) ** 2 != n and _near(mag, 1 / math.sqrt(n)):
            return f"off by a factor of {sign}1/√{n} (yours = {sign}expected / √{n}); {n} is {where}{tail}"
    k = round(mag)
    if k >= 2 and _near(mag, k):
        return f"off by a constant factor of {sign}{k} (yours = {sign}{k} × expected){tail}"
    k = round(1 / mag)
    if k >= 2 and _near(1 / mag, k):
        return f"off by a constant factor of {sign}1/{k} (yours = {sign}expected / {k}){tail}"
    if scalar:
        return None  # any two numbers differ by some factor: only name the telling ones
    return f"off by a constant factor of {c:.4g} (yours ≈ {c:.4g} × expected)"


def _factor_hint(a: np.ndarray, e: np.ndarray, tol: Tol, sizes: Mapping[int, str]) -> str | None:
    if a.dtype.kind == "c" or e.dtype.kind == "c" or e.dtype.kind == "b":
        return None
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    if not (np.isfinite(a64).all() and np.isfinite(e64).all()):
        return None
    ee = float(np.dot(e64.ravel(), e64.ravel()))
    if ee == 0:
        return None
    c = float(np.dot(e64.ravel(), a64.ravel())) / ee
    if c == 0 or abs(c - 1) < 1e-3:
        return None
    rtol = max(tol.rtol, 1e-9)
    if not np.allclose(a64, c * e64, rtol=rtol, atol=tol.atol * max(1.0, abs(c))):
        return None
    # c is fitted from values that carry the tolerance's error: match names just as loosely.
    return _factor_text(c, sizes, scalar=a.size == 1, rel=max(1e-6, 10 * tol.rtol))


def _transpose_hint(a: np.ndarray, e: np.ndarray, tol: Tol) -> str | None:
    if e.ndim < 2 or e.shape[-1] != e.shape[-2] or e.shape[-1] < 2:
        return None
    et = np.swapaxes(e, -1, -2)
    rtol = max(tol.rtol, 1e-9)
    if np.allclose(e, et, rtol=rtol, atol=tol.atol, equal_nan=True):
        return None  # symmetric: a transpose cannot be told apart
    if np.allclose(a, et, rtol=rtol, atol=tol.atol, equal_nan=True):
        return "your result equals the expected one transposed (last two axes swapped)"
    return None


def _sums_to(x: np.ndarray, axis: int, target: float) -> bool:
    # Summing n values gathers n roundings: the allowance grows with the axis length.
    slack = 1e-6 * x.shape[axis] * max(1.0, float(np.abs(x).max()))
    return bool(np.allclose(x.sum(axis=axis), target, rtol=0, atol=slack))


def _axis_hint(a: np.ndarray, e: np.ndarray) -> str | None:
    """A normalisation or centring done along the wrong axis: rows vs columns."""
    if e.ndim < 2 or a.dtype.kind not in "fiu" or e.dtype.kind not in "fiu":
        return None
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    if not (np.isfinite(a64).all() and np.isfinite(e64).all()):
        return None
    lines = {0: "columns", 1: "rows"} if e.ndim == 2 else {}
    for target, what in ((1.0, "sum to 1"), (0.0, "sum to 0")):
        e_axes = [ax for ax in range(e.ndim) if e.shape[ax] > 1 and _sums_to(e64, ax, target)]
        if not e_axes or any(_sums_to(a64, ax, target) for ax in e_axes):
            continue
        want = e_axes[-1]
        a_axes = [ax for ax in range(a.ndim) if a.shape[ax] > 1 and _sums_to(a64, ax, target)]
        if a_axes and lines:
            return (
                f"your {lines[want]} don't {what} but your {lines[a_axes[-1]]} do: "
                f"you worked along the wrong axis (use axis={want})"
            )
        if a_axes:
            return (
                f"your values don't {what} along axis {want} but do along axis {a_axes[-1]}: "
                "you worked along the wrong axis"
            )
        if target == 1.0 and abs(float(a64.sum()) - 1.0) < 1e-6 * a64.size:
            return (
                f"your values {what} over the whole array; the expected ones do along axis "
                f"{want}: normalise along axis={want} only"
            )
    return None


def _offset_hint(a: np.ndarray, e: np.ndarray, tol: Tol) -> str | None:
    if a.size < 2 or a.dtype.kind not in "fiu" or e.dtype.kind not in "fiu":
        return None
    with np.errstate(all="ignore"):
        d = a.astype(np.float64) - e.astype(np.float64)
    if not np.isfinite(d).all():
        return None
    d0 = float(np.median(d))
    scale = float(np.abs(e).max()) if e.size else 0.0
    if abs(d0) <= tol.atol + max(tol.rtol, 1e-9) * scale:
        return None
    rtol = max(tol.rtol, 1e-9)
    if np.allclose(a - d0, e, rtol=rtol, atol=tol.atol + rtol * abs(d0)):
        return f"all your values are off by the same amount ({d0:+.6g}): a missing or extra constant term?"
    return None


def _labels_hint(a: np.ndarray, e: np.ndarray) -> str | None:
    if e.dtype.kind not in "biu" or a.dtype.kind not in "biu":
        return None
    if np.isin(e, (0, 1)).all() and np.array_equal(a.astype(np.int64), 1 - e.astype(np.int64)):
        return "your 0s and 1s are swapped everywhere: check which class counts as 1"
    return None


def _value_hints(a: np.ndarray, e: np.ndarray, tol: Tol, sizes: Mapping[int, str]) -> list[str]:
    """Hints for same-shape values that differ, most telling first."""
    hints: list[str] = []
    if a.dtype.kind not in "biufc" or e.dtype.kind not in "biufc":
        return hints
    if a.size > 1 and a.dtype.kind in "fiu" and not a.any() and e.any():
        hints.append("your output is all zeros: is part of the computation still missing?")
    for hint in (
        _labels_hint(a, e),
        _transpose_hint(a, e, tol),
        _factor_hint(a, e, tol, sizes),
        _axis_hint(a, e),
        _offset_hint(a, e, tol),
    ):
        if hint:
            hints.append(hint)
    return hints


def _shape_hints(sa: tuple[int, ...], se: tuple[int, ...], transposed: bool = False) -> list[str]:
    """Hints for a shape mismatch; `transposed`: the values equal the expected ones transposed."""
    if len(sa) == len(se) >= 2 and sa[:-2] == se[:-2] and sa[-2:] == se[-2:][::-1]:
        if transposed:
            return [
                (
                    "your result equals the expected one transposed: check the order of your "
                    "matrix products, or return its transpose"
                )
            ]
        return ["your last two axes are swapped relative to the expected shape"]
    if sa == se + (1,) or sa == (1,) + se:
        return ["you have an extra axis of size 1: flatten or squeeze it away"]
    if se == sa + (1,) or se == (1,) + sa:
        return ["you are missing an axis of size 1: keep it (e.g. keepdims=True or x[:, None])"]
    if len(se) == 1 and sa == (se[0], se[0]):
        return [
            (
                f"a ({se[0]},) array combined with a ({se[0]}, 1) one broadcasts to "
                f"{_fmt_shape(sa)}: check the shapes of your intermediate arrays"
            )
        ]
    if math.prod(sa) == math.prod(se):
        return [
            (
                "same number of elements in a different arrangement: check your reshape or the "
                "order of your axes"
            )
        ]
    return []


def _equals_transposed(actual: Any, expected: Any, tol: Tol) -> bool:
    if actual.ndim < 2 or tuple(actual.shape) != tuple(expected.shape[:-2]) + tuple(
        expected.shape[-2:][::-1]
    ):
        return False
    a, e = _to_numpy(actual), _to_numpy(expected)
    return bool(
        np.allclose(
            a, np.swapaxes(e, -1, -2), rtol=max(tol.rtol, 1e-9), atol=tol.atol, equal_nan=True
        )
    )


# ------------------------------------------------------------------------------ comparison


def _tolerance(ctx: _Ctx, actual_dtype: str, expected_dtype: str) -> tuple[Tol, str | None]:
    """The tolerance for this pair and the dtype it came from (None when given explicitly)."""
    if ctx.exact:
        return _EXACT, None
    # With check_dtype=False a lower-precision answer is compared at its own precision.
    base, source = max(
        ((tolerance_for(d), d) for d in (expected_dtype, actual_dtype)),
        key=lambda pair: (pair[0].rtol, pair[0].atol),
    )
    if ctx.rtol is None and ctx.atol is None:
        return base, source
    rtol = base.rtol if ctx.rtol is None else ctx.rtol
    atol = base.atol if ctx.atol is None else ctx.atol
    return Tol(rtol=rtol, atol=atol), None


def _compare(
    actual: Any, expected: Any, path: tuple[int | _Key, ...], ctx: _Ctx
) -> _Failure | None:
    ek, ak = _kind(expected), _kind(actual)
    if ek == "sequence":
        return _compare_sequence(actual, expected, path, ctx)
    if ek == "dict":
        return _compare_dict(actual, expected, path, ctx)
    if ek == "other":
        raise TypeError(
            f"{ctx.name}: cannot compare with an expected value of type {type(expected).__name__}"
        )
    if ak != ek:
        return _kind_failure(actual, expected, path, ctx)
    if ek == "none":
        return None
    if ek == "text":
        if actual == expected:
            return None
        return _Failure(
            path, f"expected {_short_text(repr(expected))}, got {_short_text(repr(actual))}"
        )
    if ek == "handle":
        if actual.type_name == expected.type_name:
            return None
        return _Failure(
            path,
            f"you returned an object of type {actual.type_name}, "
            f"expected one of type {expected.type_name}",
        )
    if ek == "scalar":
        return _compare_scalar(actual, expected, path, ctx)
    return _compare_arrays(actual, expected, path, ctx)


def _kind_failure(actual: Any, expected: Any, path: tuple[int | _Key, ...], ctx: _Ctx) -> _Failure:
    ek, ak = _kind(expected), _kind(actual)
    names = ctx.outputs if not path else None
    failure = _Failure(
        path, f"you returned {_describe(actual)}; expected {_describe_expected(expected, names)}"
    )
    hints = failure.hints
    if ak == "none":
        hints.append("did you forget a return statement?")
    elif ek == "scalar" and ak in ("array", "tensor"):
        cls = _scalar_class(expected)
        conv = {"int": "int(x)", "bool": "bool(x)"}.get(cls, "float(x)")
        if math.prod(actual.shape) == 1:
            if ak == "tensor":
                hints.append(f"return a Python {cls}, e.g. x.item()")
            else:
                hints.append(f"return a {cls}, e.g. {conv}")
        else:
            hints.append(
                f"return a single number; your result still has shape {_fmt_shape(actual.shape)}"
            )
    elif ek == "array" and ak == "tensor":
        hints.append(
            "this exercise works with NumPy arrays: return a NumPy array, not a torch tensor"
        )
    elif ek == "tensor" and ak in ("array", "scalar"):
        hints.append(
            "this exercise works with torch tensors: return a tensor with the input's dtype "
            "and device"
        )
    elif ek in ("array", "tensor") and ak == "sequence":
        hints.append("return an array, not a Python sequence (np.asarray / torch.stack)")
    elif ek in ("array", "tensor") and ak == "scalar":
        hints.append(f"return an array of shape {_fmt_shape(expected.shape)}, not a single number")
    if ak == "sequence" and ek != "sequence":
        quiet = dataclasses.replace(ctx, hints=False)
        for j, item in enumerate(actual):
            if _compare(item, expected, path, quiet) is None:
                where = f"output [{j}]" if not path else f"item [{j}]"
                hints.insert(0, f"your {where} is the expected value: return it alone")
                break
    return failure


def _compare_scalar(
    actual: Any, expected: Any, path: tuple[int | _Key, ...], ctx: _Ctx
) -> _Failure | None:
    ec, ac = _scalar_class(expected), _scalar_class(actual)
    strict = ctx.check_dtype or ctx.exact
    if (
        strict
        and ec != ac
        and not (ec == "float" and ac == "int")
        and not (ec == "complex" and ac != "bool")
    ):
        hint = {
            "int": "return an int, e.g. int(x)"
            if ac == "float"
            else "return an int, e.g. int(x), not a bool",
            "bool": "return True or False",
            "float": "return a float, e.g. float(x)",
        }.get(ec, "")
        return _Failure(
            path,
            f"you returned {_describe(actual)}; expected {_describe_expected(expected)}",
            hints=[hint] if hint else [],
        )
    if strict and ec == ac == "float":
        ed, ad = _scalar_dtype(expected), _scalar_dtype(actual)
        if ed != ad:
            return _Failure(
                path,
                f"you returned {_describe(actual)}; expected a {ed} value",
                hints=["compute in float64 and return a Python float, e.g. float(x)"],
            )
    if (
        ec in ("int", "bool")
        and ac in ("int", "bool")
        and (ctx.exact or (ctx.rtol is None and ctx.atol is None))
    ):
        if int(actual) == int(expected):
            return None
        e, a = _fmt_pair(expected, actual)
        failure = _Failure(path, f"expected {e}, got {a}")
    else:
        tol, source = _tolerance(ctx, _scalar_dtype(actual), _scalar_dtype(expected))
        a_arr, e_arr = _to_numpy(actual), _to_numpy(expected)
        if a_arr.dtype.kind == "f" and e_arr.dtype.kind in "fiub":
            nonfinite = _nonfinite_failure(a_arr, e_arr, path)
            if nonfinite:
                return nonfinite
        m = find_mismatch(a_arr, e_arr, tol)
        if m is None:
            return None
        problem, details = _mismatch_lines(m, True, _tol_text(tol, source, ctx.exact))
        failure = _Failure(path, problem, details)
    if ctx.hints:
        a_arr, e_arr = np.asarray(_to_numpy(actual)), np.asarray(_to_numpy(expected))
        factor = _factor_hint(a_arr.reshape(1), e_arr.reshape(1), _EXACT, ctx.sizes)
        if factor:
            failure.hints.append(factor)
    return failure


def _dtype_failure(
    actual: Any, expected: Any, path: tuple[int | _Key, ...], ctx: _Ctx
) -> _Failure | None:
    ad, ed = actual.dtype, expected.dtype
    if isinstance(expected, torch.Tensor):
        if ad == ed:
            return None
        failure = _Failure(path, f"your tensor has dtype {ad}, expected {ed}")
        failure.hints.append(
            "a torch exercise returns the dtype of its inputs: create new tensors with "
            "dtype=x.dtype (or torch.zeros_like / x.new_zeros)"
        )
        return failure
    ek, ak = ed.kind, ad.kind
    if ad == ed or (ek in "iu" and ak in "iu") or (ek == ak and ek in "US"):
        return None  # integer widths and string lengths are interchangeable: values matter
    failure = _Failure(path, f"your array has dtype {ad}, expected {ed}")
    if ek == "f" and ak == "f":
        failure.hints.append(f"keep the computation in {ed}: something converted it to {ad}")
    elif ek == "f" and ak in "biu":
        failure.hints.append(
            "your array holds integers: build it from floats (e.g. np.zeros(shape) "
            "rather than np.zeros_like of an integer array, or .astype(float))"
        )
    elif ek in "iu" and ak == "b":
        failure.hints.append("return integers (0/1), not booleans: e.g. .astype(int)")
    elif ek in "iu":
        failure.hints.append("return integers, e.g. .astype(int)")
    elif ek == "b":
        failure.hints.append("return a boolean array, e.g. the result of a comparison")
    return failure


def _nonfinite_failure(
    a: np.ndarray, e: np.ndarray, path: tuple[int | _Key, ...]
) -> _Failure | None:
    """NaN or ±inf in the student's value where the expected value has none."""
    e_nan = np.isnan(e) if e.dtype.kind in "fc" else np.zeros(e.shape, dtype=bool)
    nan = np.isnan(a) & ~e_nan
    with np.errstate(invalid="ignore"):
        inf = np.isinf(a) & (a != e)
    for mask, word, hint in (
        (
            nan,
            "NaN",
            (
                "NaN comes from 0/0, inf − inf, 0·inf or the log/sqrt of a negative number, "
                "often after an overflow in exp: compute it in a stable way"
            ),
        ),
        (
            inf,
            "infinite",
            "an infinity comes from an overflow (e.g. exp of a large number) or a division by zero",
        ),
    ):
        if not mask.any():
            continue
        if a.ndim == 0:
            problem = f"you returned {_fmt(a.item())}"
        else:
            count = int(mask.sum())
            problem = (
                f"your output has {count} {word} value{'s' * (count > 1)}, "
                f"first at {_fmt_index(np.argwhere(mask)[0])}"
            )
        return _Failure(path, problem, hints=[hint])
    return None


def _compare_arrays(
    actual: Any, expected: Any, path: tuple[int | _Key, ...], ctx: _Ctx
) -> _Failure | None:
    """Same kind (both arrays or both tensors): shape, device, dtype, NaN/Inf, then values."""
    sa, se = tuple(actual.shape), tuple(expected.shape)
    if sa != se:
        failure = _Failure(
            path, f"your output has shape {_fmt_shape(sa)}, expected {_fmt_shape(se)}"
        )
        if ctx.hints:
            transposed = _equals_transposed(actual, expected, tolerance_for(expected.dtype))
            failure.hints = _shape_hints(sa, se, transposed)
        return failure
    if isinstance(expected, torch.Tensor) and str(actual.device) != str(expected.device):
        return _Failure(
            path,
            f"your tensor is on {actual.device}, expected {expected.device}",
            hints=["create new tensors on the input's device, e.g. device=x.device"],
        )
    if ctx.check_dtype or ctx.exact:
        early = _dtype_failure(actual, expected, path, ctx)
        if early:
            return early
    a, e = _to_numpy(actual), _to_numpy(expected)
    if a.dtype.kind in "fc":
        early = _nonfinite_failure(a, e, path)
        if early:
            return early
    tol, source = _tolerance(ctx, _dtype_name(actual.dtype), _dtype_name(expected.dtype))
    m = find_mismatch(a, e, tol)
    if m is None:
        return None
    problem, details = _mismatch_lines(m, False, _tol_text(tol, source, ctx.exact))
    failure = _Failure(path, problem, details)
    if ctx.hints:
        sizes = dict(ctx.sizes)
        for ax, n in enumerate(e.shape):
            sizes.setdefault(int(n), f"the size of axis {ax} of the output")
        failure.hints = _value_hints(a, e, tol, sizes)
    return failure


def _compare_sequence(
    actual: Any, expected: Sequence[Any], path: tuple[int | _Key, ...], ctx: _Ctx
) -> _Failure | None:
    names = ctx.outputs if not path else None
    word = "outputs" if not path else "values"
    if _kind(actual) != "sequence":
        failure = _kind_failure(actual, expected, path, ctx)
        quiet = dataclasses.replace(ctx, hints=False)
        for i, item in enumerate(expected):
            if _compare(actual, item, path + (i,), quiet) is None:
                failure.hints.insert(
                    0,
                    f"it is the expected {_output_label(ctx, path, i)}: return all "
                    f"{len(expected)} {word} as a tuple",
                )
                break
        return failure
    quiet = dataclasses.replace(ctx, hints=False)
    if len(actual) != len(expected):
        listed = f" ({', '.join(names)})" if names and len(names) == len(expected) else ""
        failure = _Failure(
            path,
            f"you returned {len(actual)} {word[:-1] if len(actual) == 1 else word}, "
            f"expected {len(expected)}{listed}",
        )
        if ctx.hints and len(actual) <= 8 and len(expected) <= 8:
            matched = []
            for j, item in enumerate(actual):
                for i, want in enumerate(expected):
                    if _compare(item, want, path + (i,), quiet) is None:
                        mine = "output" if not path else "item"
                        matched.append(
                            f"your {mine} [{j}] matches the expected {_output_label(ctx, path, i)}"
                        )
                        break
            if matched:
                failure.hints.append("; ".join(matched))
        return failure
    for i, (item, want) in enumerate(zip(actual, expected)):
        item_failure = _compare(item, want, path + (i,), ctx)
        if item_failure is None:
            continue
        if ctx.hints:
            for j in range(len(expected)):
                if j != i and _compare(item, expected[j], path + (j,), quiet) is None:
                    mine, theirs = _output_label(ctx, path, i), _output_label(ctx, path, j)
                    if _compare(actual[j], want, path + (i,), quiet) is None:
                        item_failure.hints.insert(
                            0,
                            f"your {mine} and {theirs} are swapped: return them in "
                            "the expected order",
                        )
                    else:
                        item_failure.hints.insert(
                            0,
                            f"your {mine} is the expected {theirs}: check the order "
                            "of your outputs",
                        )
                    break
        return item_failure
    return None


def _compare_dict(
    actual: Any, expected: Mapping[Any, Any], path: tuple[int | _Key, ...], ctx: _Ctx
) -> _Failure | None:
    if _kind(actual) != "dict":
        return _kind_failure(actual, expected, path, ctx)
    missing = [k for k in expected if k not in actual]
    extra = [k for k in actual if k not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(
                "missing key" + "s" * (len(missing) > 1) + " " + ", ".join(map(repr, missing))
            )
        if extra:
            parts.append(
                "unexpected key" + "s" * (len(extra) > 1) + " " + ", ".join(map(repr, extra))
            )
        failure = _Failure(path, "; ".join(parts))
        folded = {str(k).lower() for k in missing}
        if any(str(k).lower() in folded for k in extra):
            failure.hints.append(
                "keys are case-sensitive: use exactly " + ", ".join(map(repr, expected))
            )
        return failure
    for key, want in expected.items():
        value_failure = _compare(actual[key], want, path + (_Key(key),), ctx)
        if value_failure:
            return value_failure
    return None


# ------------------------------------------------------------------------------ public API


def assert_close(
    actual: Any,
    expected: Any,
    *,
    name: str,
    rtol: float | None = None,
    atol: float | None = None,
    check_dtype: bool = True,
) -> None:
    """Fail with a student-facing message unless `actual` matches `expected` within tolerance.

    Both may be scalars, NumPy arrays, torch tensors, or tuples/lists/dicts of them. Tolerances come
    from the expected dtype's TOLERANCES entry (or an active override); rtol/atol replace them.
    """
    __tracebackhide__ = True
    ctx = _Ctx(name=name, rtol=rtol, atol=atol, check_dtype=check_dtype)
    failure = _compare(actual, expected, (), ctx)
    if failure:
        _fail(ctx, failure)


def assert_equal(actual: Any, expected: Any, *, name: str) -> None:
    """Like assert_close, but values must be exactly equal (ints, labels, indices); a bool is no int."""
    __tracebackhide__ = True
    ctx = _Ctx(name=name, exact=True)
    failure = _compare(actual, expected, (), ctx)
    if failure:
        _fail(ctx, failure)


def _input_sizes(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[int, str]:
    """Axis lengths of the inputs by name ('X.shape[0]'), to name a factor such as a forgotten 1/n."""
    try:
        items = list(inspect.signature(fn).bind(*args, **kwargs).arguments.items())
    except (TypeError, ValueError):
        items = [(f"argument {i}", a) for i, a in enumerate(args)] + list(kwargs.items())
    sizes: dict[int, str] = {}
    for pname, value in items:
        values = value.items() if isinstance(value, Mapping) else [(None, value)]
        for key, v in values:
            shape = getattr(v, "shape", None)
            if not isinstance(shape, (tuple, torch.Size)):
                continue
            label = pname if key is None else f'{pname}["{key}"]'
            for ax, n in enumerate(shape):
                if int(n) >= 2:
                    sizes.setdefault(int(n), f"{label}.shape[{ax}]")
    return sizes


def _inputs_line(
    fn_name: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str:
    def show(v: Any) -> str:
        kind = _kind(v)
        if kind in ("array", "tensor"):
            return f"{_fmt_shape(v.shape)} {str(v.dtype).removeprefix('torch.')}"
        if kind == "scalar":
            return _fmt(v.item() if isinstance(v, (np.ndarray, np.generic)) else v)
        if kind == "handle":
            return f"<{v.type_name}>"
        if kind == "dict":
            return "{" + ", ".join(str(k) for k in v) + "}"
        if kind == "sequence":
            return f"{type(v).__name__} of {len(v)}"
        return _short_text(repr(v), 20) if kind in ("text", "none") else type(v).__name__

    try:
        bound = inspect.signature(fn).bind(*args, **kwargs).arguments
        parts = [f"{k}={show(v)}" for k, v in bound.items()]
    except (TypeError, ValueError):
        parts = [show(a) for a in args] + [f"{k}={show(v)}" for k, v in kwargs.items()]
    return _short_text(f"inputs: {fn_name}({', '.join(parts)})", 160)


def expect_same(
    student: Any,
    reference: Any,
    fn: str,
    *args: Any,
    outputs: Sequence[str] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    check_dtype: bool = True,
    exact: bool = False,
    **kwargs: Any,
) -> Any:
    """Call `fn` on the reference (with deep copies of the inputs) and on the student; compare; return
    the student's value. `outputs` names the elements of a tuple result for the messages."""
    __tracebackhide__ = True
    if exact and (rtol is not None or atol is not None):
        raise ValueError("expect_same: exact=True compares exactly; do not pass rtol/atol with it")
    ref_fn = getattr(reference, fn)
    # Deep copies: a reference that modifies its inputs in place must not change the student's.
    expected = ref_fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    actual = getattr(student, fn)(*args, **kwargs)
    if outputs is not None:
        outputs = tuple(outputs)
        if not (isinstance(expected, (tuple, list)) and len(expected) == len(outputs)):
            raise ValueError(
                f"expect_same({fn!r}): outputs={outputs} does not match the reference's "
                f"result ({_describe(expected)})"
            )
    ctx = _Ctx(
        name=fn,
        rtol=rtol,
        atol=atol,
        check_dtype=check_dtype,
        exact=exact,
        outputs=outputs,
        sizes=_input_sizes(ref_fn, args, kwargs),
        footer=(_inputs_line(fn, ref_fn, args, kwargs),),
    )
    failure = _compare(actual, expected, (), ctx)
    if failure:
        _fail(ctx, failure)
    return actual


_WARNING_HINTS = (
    (
        "overflow encountered in exp",
        "compute it in a way that never exponentiates a large positive number",
    ),
    ("overflow", "a value grew past the largest float: rescale or rearrange the computation"),
    (
        "invalid value",
        (
            "an operation produced NaN (0/0, inf − inf, 0·inf or the log/sqrt of a negative "
            "number): rearrange it so that case cannot happen"
        ),
    ),
    ("divide by zero", "you divided by zero or took log(0): handle that case explicitly"),
    ("underflow", "a value underflowed to 0: work with logarithms or rearrange the computation"),
)


def _warning_hint(category: str, message: str) -> str:
    for needle, hint in _WARNING_HINTS:
        if needle in message.lower():
            return hint
    if category in ("DeprecationWarning", "FutureWarning", "PendingDeprecationWarning"):
        return "you use a deprecated feature: switch to the replacement the warning names"
    return "find the line that triggers it and change the computation so it does not"


def assert_no_warnings(student: Any, *, name: str) -> None:
    """Fail if the student's last call raised any warning, with a hint per kind of warning."""
    __tracebackhide__ = True
    seen: list[tuple[str, str]] = []
    for category, message in student.last_warnings:
        item = (str(category), _short_text(str(message), 120))
        if item not in seen:
            seen.append(item)
    if not seen:
        return
    category, message = seen[0]
    lines = [f"{name} raised {category}: {message} — {_warning_hint(category, message)}"]
    lines += [f"  also {c}: {m}" for c, m in seen[1:4]]
    if len(seen) > 4:
        lines.append(f"  and {len(seen) - 4} more")
    raise CheckFailed("\n".join(lines))


def _exception_names(exc_types: Any) -> tuple[str, ...]:
    items = exc_types if isinstance(exc_types, tuple) else (exc_types,)
    names = []
    for item in items:
        text = item.__name__ if isinstance(item, type) else str(item)
        names.append(text.rsplit(".", 1)[-1])
    return tuple(names)


def _returned(value: Any) -> str:
    kind = _kind(value)
    if kind == "scalar" and not isinstance(value, np.ndarray):
        return _fmt(value)
    if kind in ("none", "text"):
        return _short_text(repr(value), 40)
    return _describe(value)


def assert_raises(
    exc_types: str | type[BaseException] | tuple[str | type[BaseException], ...],
    func: Callable[..., Any],
    *args: Any,
    name: str,
    **kwargs: Any,
) -> Any:
    """Call `func`; pass when the student's code raised one of `exc_types` (or a subclass) and return
    that error; otherwise fail, saying what happened instead."""
    __tracebackhide__ = True
    from grader.remote import StudentError

    names = _exception_names(exc_types)
    wanted = " or ".join(names)
    try:
        result = func(*args, **kwargs)
    except StudentError as err:
        mro = tuple(
            str(n).rsplit(".", 1)[-1] for n in (getattr(err, "mro", None) or (err.type_name,))
        )
        if any(n in mro for n in names):
            return err
        if "NotImplementedError" in mro:
            raise  # reported as "not implemented" by the plugin
        detail = f": {_short_text(err.message, 120)}" if err.message else ""
        raise CheckFailed(
            f"{name} should raise {wanted}, but raised {err.type_name} instead{detail}"
        ) from None
    raise CheckFailed(f"{name} should raise {wanted}, but returned {_returned(result)}")


def _nonfinite_walk(value: Any, path: tuple[int | _Key, ...]) -> _Failure | None:
    kind = _kind(value)
    if kind == "sequence":
        for i, item in enumerate(value):
            failure = _nonfinite_walk(item, path + (i,))
            if failure:
                return failure
        return None
    if kind == "dict":
        for key, item in value.items():
            failure = _nonfinite_walk(item, path + (_Key(key),))
            if failure:
                return failure
        return None
    if kind in ("handle", "none"):
        return _Failure(path, f"you returned {_describe(value)}; expected numbers")
    if kind in ("scalar", "array", "tensor"):
        arr = _to_numpy(value)
        if arr.dtype.kind in "fc":
            return _nonfinite_failure(arr, np.zeros(arr.shape), path)
    return None


def assert_finite(value: Any, *, name: str) -> None:
    """Fail if any number in `value` (scalars, arrays, tensors, nested) is NaN or infinite."""
    __tracebackhide__ = True
    ctx = _Ctx(name=name)
    failure = _nonfinite_walk(value, ())
    if failure:
        _fail(ctx, failure)


def assert_shape(value: Any, shape: Sequence[int | None], *, name: str) -> None:
    """Fail unless `value` is an array or tensor of `shape`; None in `shape` matches any length."""
    __tracebackhide__ = True
    ctx = _Ctx(name=name)
    want = tuple(shape)
    shown = (
        "("
        + ", ".join("any" if s is None else str(s) for s in want)
        + ("," * (len(want) == 1))
        + ")"
    )
    kind = _kind(value)
    if kind == "scalar" and not want:
        return
    if kind not in ("array", "tensor"):
        _fail(
            ctx,
            _Failure((), f"you returned {_describe(value)}; expected an array of shape {shown}"),
        )
    got = tuple(int(s) for s in value.shape)
    if len(got) == len(want) and all(w is None or w == g for w, g in zip(want, got)):
        return
    hints = [] if None in want else _shape_hints(got, tuple(int(w) for w in want if w is not None))
    _fail(
        ctx, _Failure((), f"your output has shape {_fmt_shape(got)}, expected {shown}", hints=hints)
    )
