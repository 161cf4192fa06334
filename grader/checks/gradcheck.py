"""Gradient checks: central differences of the student's own forward pass against their gradient."""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from grader.checks.lazy_torch import torch  # imported at the first tensor: NumPy topics skip it

# The student-facing wording is shared with the value checks, so both read alike.
from grader.checks.compare import (CheckFailed, Hint, Mistakes, _nonfinite_failure, find_mismatch,
                                   with_test_words)
from grader.checks.describe import _describe, _fmt_pair, _fmt_shape, _kind, _to_numpy
from grader.checks.hints import _shape_hints, _value_hints, size_names
from grader.checks.tolerances import Tol

__all__ = ["assert_worked_out", "beyond_differences", "check_gradient", "dot_with_output",
           "expect_worked_out", "numeric_gradient"]

# How close a float64 derivative worked out by hand comes to the reference's, relative to the
# size of the values compared: a formula, whichever of the equivalent ones, is exact to a few
# units of rounding (1e-16 of that size; the course's alternatives within 1e-15), while one taken
# numerically is not: central differences of the forward pass are off by 1e-11 or more of it,
# whatever the step, and so are scipy.differentiate's (measured on each topic's inputs).
WORKED_OUT = Tol(rtol=1e-12, atol=1e-14)

# The perturbed copies of one call of f_batch travel to the worker together; past this size a
# large x is split over several calls rather than sent as one huge message.
_BATCH_BYTES = 32 * 2**20

FBatch = Callable[[list[Any]], Sequence[Any]]


def _float64(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().to(torch.float64).numpy().copy()
    return np.array(x, dtype=np.float64)


def _like(x: Any, values: np.ndarray) -> Any:
    """`values` in the form of `x`: a tensor on x's device, an array, or a float for a scalar x."""
    if isinstance(x, torch.Tensor):
        return torch.from_numpy(values).to(x.device)
    if isinstance(x, np.ndarray):
        return values
    return float(values)


def _as_float(value: Any) -> float:
    kind = _kind(value)
    size = math.prod(value.shape) if kind in ("array", "tensor") else 1
    if kind in ("scalar", "array", "tensor") and size == 1:
        number = _to_numpy(value).reshape(()).item()
        if not isinstance(number, complex):
            return float(number)
    raise CheckFailed(
        f"your forward pass returned {_describe(value)} where a single number was expected"
    )


def numeric_gradient(f_batch: FBatch, x: Any, *, h: float = 1e-6) -> np.ndarray:
    """Central differences of f at x in float64; an array of x's shape.

    `f_batch` receives a list of copies of x in float64 (NumPy arrays, tensors on x's device when x
    is a tensor, floats when x is a scalar): copy 2i has flat element i moved up by h, copy 2i + 1
    moved down by h. It returns one number per copy, so a remote forward pass runs as one batch.
    """
    if not h > 0:
        raise ValueError(f"numeric_gradient: h must be > 0, got {h!r}")
    base = _float64(x)
    flat = base.reshape(-1)
    grad = np.empty(flat.size)
    per_call = max(1, _BATCH_BYTES // max(1, 2 * base.nbytes))
    for start in range(0, flat.size, per_call):
        stop = min(flat.size, start + per_call)
        copies: list[Any] = []
        steps = np.empty(stop - start)
        for i in range(start, stop):
            plus, minus = flat.copy(), flat.copy()
            plus[i] += h
            minus[i] -= h
            # The step float64 can represent around x[i], which is not exactly 2h.
            steps[i - start] = plus[i] - minus[i]
            copies += [_like(x, plus.reshape(base.shape)), _like(x, minus.reshape(base.shape))]
        values = list(f_batch(copies))
        if len(values) != len(copies):
            raise ValueError(
                f"numeric_gradient: f_batch returned {len(values)} values for {len(copies)} inputs"
            )
        numbers = np.array([_as_float(v) for v in values])
        with np.errstate(invalid="ignore"):  # inf - inf: reported as a non-finite difference
            grad[start:stop] = (numbers[0::2] - numbers[1::2]) / steps
    return grad.reshape(base.shape)


def _forward_error(f_batch: FBatch, x: Any, expected: Callable[[Any], Any], *,
                   rtol: float, atol: float) -> str | None:
    """None when the student's forward expression at x agrees with the reference's; else
    what it gives, for the message."""
    got = _as_float(list(f_batch([_like(x, _float64(x))]))[0])
    want = _as_float(expected(x))
    if math.isfinite(got) and abs(got - want) <= atol + rtol * abs(want):
        return None
    return f"it gives {got:.6g} where {want:.6g} is expected"


def _numeric_of_reference(expected: Callable[[Any], Any], x: Any, h: float) -> np.ndarray:
    return numeric_gradient(lambda values: [expected(v) for v in values], x, h=h)


def dot_with_output(fn: Callable[..., Any], make_args: Callable[[Any], tuple[Any, ...]],
                    dout: Any, select: int | None = 0) -> Callable[[Any], float]:
    """v ↦ sum(fn(*make_args(v))[select] · dout) in float64: the ``expected`` of a gradient
    check, made from the reference's forward function (``select=None``: fn returns the output
    itself rather than a tuple holding it)."""

    def value(v: Any) -> float:
        out = fn(*make_args(v))
        out = out if select is None else out[select]
        return float(np.sum(_float64(out) * _float64(dout)))

    return value


@contextlib.contextmanager
def beyond_differences(name: str, entries: int) -> Iterator[None]:
    """Around a call of the student's gradient at a size where one taken by finite differences
    cannot finish within the test's time limit: ``entries`` entries of ``name``, each nudged up
    and down with the forward pass run again (two passes each, every pass over all of them).
    Worked out by hand with array operations, the same gradient takes milliseconds, and loops over
    every element seconds, so running out of time there says it was measured (or looped over
    element by element), and the student reads both rather than "an infinite loop". Whatever the
    code, it is judged by what it costs at this size."""
    from grader.grading.remote import WorkerTimeout

    try:
        yield
    except WorkerTimeout as exc:
        if not exc.hint:
            exc.hint = (
                f"here {name} has {entries:,} entries. Worked out by hand with array operations "
                "(the chain rule), this gradient takes milliseconds at this size; taken by finite "
                "differences, nudging each entry and running the forward pass again, it takes "
                f"{2 * entries:,} forward passes, and Python loops over every element of the "
                "arrays take seconds. Work the gradient out by hand, with array operations")
        raise


@with_test_words
def expect_worked_out(student: Any, reference: Any, fn: str, *args: Any,
                      outputs: Sequence[str] | None = None, hint: Hint = None,
                      **kwargs: Any) -> Any:
    """``expect_same`` for a function whose result is a derivative that the exercise asks to be
    worked out by hand (an activation's derivative, a loss's gradient, a step along it), then
    ``assert_worked_out`` on its result. ``hint`` as in expect_same, for the first comparison.
    Returns the student's value."""
    __tracebackhide__ = True
    from grader.checks.compare import Mistakes, expect_same

    actual = expect_same(student, reference, fn, *args, outputs=outputs, hint=hint, **kwargs)
    expected = getattr(reference, fn)(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    assert_worked_out(actual, expected, name=fn, outputs=outputs,
                      mistakes=Mistakes(reference, fn, actual, args, kwargs))
    return actual


@with_test_words
def assert_worked_out(actual: Any, expected: Any, *, name: str,
                      outputs: Sequence[str] | None = None,
                      mistakes: Mistakes | None = None) -> None:
    """After a comparison within the dtype's tolerance has passed: a float64 derivative that the
    exercise asks to be worked out by hand, held to ``expected`` to rounding (``WORKED_OUT``,
    scaled to the largest value compared). Off by some 1e-11 to 1e-6 where the values are not
    tiny, it is a derivative taken numerically, and the student reads so; off only where they
    are tiny, a formula wrong there (a term missing that only matters there), named like any
    classic mistake where ``mistakes`` finds it. Results of another dtype are left alone: they
    cannot be that exact, and their dtype is charged where it is met first."""
    __tracebackhide__ = True
    from grader.checks.compare import assert_close

    parts = expected if isinstance(expected, (tuple, list)) else (expected,)
    arrays = [np.asarray(v) for v in parts if isinstance(v, (np.ndarray, float, np.floating))]
    if not arrays or any(a.dtype != np.float64 for a in arrays) or not _all_float64(actual):
        return
    finite = [np.abs(a[np.isfinite(a)]) for a in arrays]
    scale = max([1.0, *(float(f.max()) for f in finite if f.size)])
    what = name.split(" → ")[0]

    def why() -> str:
        off = _relative_error_where_sizeable(actual, expected, scale)
        if off >= WORKED_OUT.rtol:
            return (f"{what} agrees with the exact result only to {off:.0e} of its values: a "
                    "derivative worked out as a formula is exact to rounding (some 1e-16 of "
                    "them), while one taken numerically (the forward pass run again at nudged "
                    "inputs: finite differences, scipy.differentiate) is off by 1e-11 to 1e-6. "
                    "Work the derivative out by hand")
        return (f"{what} is right where its values are sizeable, but not where the exact ones "
                "are tiny (a millionth of the largest or less), which a formula exact to "
                "rounding gets right too: look for a term that is small there, missing or wrong")

    assert_close(actual, expected, name=name, outputs=outputs, rtol=WORKED_OUT.rtol,
                 atol=WORKED_OUT.atol * scale, check_dtype=False, hint=why, mistakes=mistakes)


def _all_float64(value: Any) -> bool:
    """Whether every number of a reply (an array, a float, a tuple or list of them) is float64."""
    if isinstance(value, (tuple, list)):
        return all(_all_float64(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.dtype == np.float64
    return isinstance(value, (float, np.float64))


def _relative_error_where_sizeable(actual: Any, expected: Any, scale: float) -> float:
    """The largest relative difference between two results of the same form (arrays, floats,
    tuples of them) over the entries of ``expected`` of at least a millionth of ``scale``, where
    a measured derivative's error shows (0 where there are none, or they cannot be compared)."""
    pairs = list(zip(actual, expected)) if isinstance(expected, (tuple, list)) and \
        isinstance(actual, (tuple, list)) else [(actual, expected)]
    worst = 0.0
    with np.errstate(all="ignore"):
        for a, e in pairs:
            try:
                a64, e64 = np.asarray(a, dtype=np.float64), np.asarray(e, dtype=np.float64)
                rel = np.abs(a64 - e64) / np.abs(e64)
            except (TypeError, ValueError):
                continue
            sizeable = np.isfinite(rel) & (np.abs(e64) >= 1e-6 * scale)
            if sizeable.any():
                worst = max(worst, float(rel[sizeable].max()))
    return worst


def _index_text(index: Sequence[int]) -> str:
    if len(index) == 1:
        return str(index[0])
    return "(" + ", ".join(str(int(i)) for i in index) + ")"


@with_test_words
def check_gradient(
    analytic: Any,
    f_batch: FBatch,
    x: Any,
    *,
    name: str,
    wrt: str,
    expected: Callable[[Any], Any],
    h: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> np.ndarray:
    """Fail unless `analytic` matches the central differences of f_batch at x; return those.

    `name` is how the student reads the gradient ("affine_backward → dW"), `wrt` the input it
    is taken with respect to ("W"). Shape and NaN/Inf of `analytic` are checked before f_batch runs.
    `expected(x)` is the reference's value of the same expression f_batch computes with the
    student's forward pass: the two must agree at x first, because central differences of a
    wrong forward pass prove nothing (a forward and a backward that both return zeros agree) —
    unless the central differences of both agree, where the gradient in x does not depend on
    what is wrong.
    """
    __tracebackhide__ = True
    shape = (
        tuple(int(s) for s in np.shape(x)) if not isinstance(x, torch.Tensor) else tuple(x.shape)
    )
    kind = _kind(analytic)
    if kind not in ("array", "tensor", "scalar") or (kind == "scalar" and shape):
        raise CheckFailed(
            f"{name}: you returned {_describe(analytic)}; expected the gradient with respect to "
            f"{wrt}, an array of shape {_fmt_shape(shape)}"
        )
    got = tuple(int(s) for s in np.shape(analytic)) if kind != "tensor" else tuple(analytic.shape)
    if got != shape:
        hints = _shape_hints(got, shape)
        raise CheckFailed(
            f"{name}: your gradient has shape {_fmt_shape(got)}, expected {_fmt_shape(shape)} "
            f"(the shape of {wrt})" + "".join(f"\n  Hint: {h_}" for h_ in hints[:2])
        )
    a = _to_numpy(analytic).astype(np.float64)
    bad = _nonfinite_failure(a, np.zeros(shape), ())
    if bad:
        problem = bad.problem.replace("your output", "your gradient")
        raise CheckFailed(f"{name}: {problem}" + "".join(f"\n  Hint: {t}" for t in bad.hints))
    try:
        wrong = _forward_error(f_batch, x, expected, rtol=rtol, atol=atol)
        numeric = numeric_gradient(f_batch, x, h=h)
    except CheckFailed as err:
        raise CheckFailed(f"{name}: cannot check your gradient: {err}") from None
    # A wrong forward pass gates the check only where the gradient depends on what is wrong:
    # where your forward pass changes with x as the right one does (beta's gradient is the same
    # whatever the variance), its central differences are the right ones (docs/charging.md).
    if wrong is not None and (not np.isfinite(numeric).all() or not np.allclose(
            numeric, _numeric_of_reference(expected, x, h), rtol=rtol, atol=atol)):
        raise CheckFailed(
            f"{name}: cannot check your gradient: your forward pass is wrong at this input "
            f"({wrong}) in a way that changes its gradient in {wrt}, and a gradient is checked "
            "against changes of your own forward pass, so this check counts only once the "
            "forward pass is right: fix it first")
    if not np.isfinite(numeric).all():
        where = np.argwhere(~np.isfinite(numeric))[0] if numeric.ndim else ()
        moved = f"{wrt}[{', '.join(str(int(i)) for i in where)}]" if len(where) else wrt
        raise CheckFailed(
            f"{name}: cannot check your gradient: your forward pass is not finite when {moved} "
            f"moves by ±{h:g}"
        )
    tol = Tol(rtol=rtol, atol=atol)
    m = find_mismatch(a, numeric, tol)
    if m is None:
        return numeric
    # Right at x but too coarse to difference (a float32 forward pass, say): a gradient that is
    # the right one is not charged here; the forward pass's own tests charge its defect.
    if wrong is None and find_mismatch(a, _numeric_of_reference(expected, x, h), tol) is None:
        return numeric
    e, g = _fmt_pair(m.expected_at, m.actual_at)
    at = f"at index {_index_text(m.first_index)} " if m.first_index else ""
    lines = [
        (
            f"{name}: {at}expected {e} (central difference of your forward pass in {wrt}), "
            f"got {g}; {m.count} of {m.total} entries differ"
        ),
        (
            f"  largest absolute error {m.max_abs:.3g}, largest relative error {m.max_rel:.3g} "
            f"(tolerance rtol={rtol:g}, atol={atol:g})"
        ),
    ]
    sizes = size_names([(f"the size of axis {ax} of {wrt}", ax, shape) for ax in range(len(shape))])
    lines += [f"  Hint: {t}" for t in _value_hints(a, numeric, tol, sizes)[:2]]
    raise CheckFailed("\n".join(lines))
