"""Comparison helpers for tests: a student's values against expected ones, with feedback to act on."""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import math
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from grader.checks import charges
from grader.checks.lazy_torch import torch  # imported at the first tensor: NumPy topics skip it

from grader.checks.describe import (
    _describe,
    _describe_expected,
    _fmt,
    _fmt_index,
    _fmt_pair,
    _fmt_shape,
    _inputs_line,
    _kind,
    _returned,
    _scalar_class,
    _scalar_dtype,
    _short_text,
    _to_numpy,
)
from grader.checks.hints import (
    _equals_transposed,
    classic_mistakes,
    mutant_seconds,
    _factor_hint,
    _input_sizes,
    _shape_hints,
    size_names,
    _value_hints,
    _warning_hint,
)

# Re-exported (see __all__): tests and the plugin import the tolerance API from here.
from grader.checks.tolerances import (
    _EXACT,
    TOLERANCES,
    Tol,
    _dtype_name,
    tolerance_for,
    tolerance_overrides,
)
from grader.checks.topic_hints import topic_hint

if TYPE_CHECKING:
    from grader.grading.remote import StudentError

__all__ = [
    "TOLERANCES",
    "CheckFailed",
    "Mismatch",
    "Mistakes",
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
    """A check found the student's value wrong; `str(err)` is the message the student reads.
    `words`: the test's own words in it (what it names its values, the expected dict's keys,
    ``grads["W1"]``), which a hidden test's copy shows even where the student's code sent the
    same string (``grader.results.visibility.withhold_text``): the test chose them, not the
    student's code."""

    def __init__(self, message: str = "", *, words: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.words: frozenset[str] = frozenset(words)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHECK_WORDS = ("name", "wrt", "label", "outputs", "fn")  # a check's parameters the test words


def grader_words(*texts: str, expected: Any = None) -> frozenset[str]:
    """The words of ``texts`` (a check's name, its outputs' names), and the string keys of the
    dicts in ``expected`` (at most a few levels down): the test's own words."""
    words = {w for text in texts if isinstance(text, str) for w in _IDENTIFIER.findall(text)}
    todo, seen = [(expected, 0)], 0
    while todo and seen < 1000:
        value, depth = todo.pop()
        seen += 1
        if isinstance(value, Mapping) and depth < 4:
            words.update(k for k in value if isinstance(k, str))
            todo.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, (list, tuple)) and depth < 4 and len(value) <= 100:
            todo.extend((v, depth + 1) for v in value)
    return frozenset(words)


def with_test_words(check: Callable[..., Any]) -> Callable[..., Any]:
    """``check`` (a check of the test-author API) with the test's own words added to the
    CheckFailed it raises: the words of its ``name``, ``wrt``, ``label``, ``outputs`` and
    ``fn``, and the keys of its ``expected``."""
    signature = inspect.signature(check)

    @functools.wraps(check)
    def checked(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        try:
            return check(*args, **kwargs)
        except CheckFailed as err:
            bound = signature.bind_partial(*args, **kwargs).arguments
            texts = [t for key in _CHECK_WORDS for t in
                     ([bound[key]] if isinstance(bound.get(key), str) else
                      list(bound.get(key) or ()) if key == "outputs" else [])]
            err.words = err.words | grader_words(*texts, expected=bound.get("expected"))
            raise
    return checked


_MAX_HINTS = 2
_MAX_ALSO = 3


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
    # What the values look like (a factor, an offset, an axis): guesses, shown only where no
    # specific hint (the test's own, a classic mistake matched) says what went wrong.
    guesses: list[str] = field(default_factory=list)
    specific: list[str] = field(default_factory=list)
    also: list[str] = field(default_factory=list)  # the other outputs that are wrong, one line each


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
    # The value is one list, whose entries are items (greedy_decode's tokens), not a tuple of
    # the function's outputs.
    items: bool = False


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
        text = ("item " if ctx.items else "output ") + "".join(_segment(p) for p in path)
    return f"{ctx.name} → {text}"


def _output_label(ctx: _Ctx, path: tuple[int | _Key, ...], i: int) -> str:
    if not path and ctx.outputs and i < len(ctx.outputs):
        return ctx.outputs[i]
    return f"output [{i}]" if not path and not ctx.items else f"item [{i}]"


def _message(ctx: _Ctx, failure: _Failure) -> str:
    lines = [f"{_where(ctx, failure.path)}: {failure.problem}"]
    lines += ["  " + d for d in failure.details]
    lines += ["  Also wrong: " + a for a in failure.also]
    hints = failure.specific + failure.hints + ([] if failure.specific else failure.guesses)
    lines += ["  Hint: " + h for h in hints[:_MAX_HINTS]]
    lines += ["  " + f for f in ctx.footer]
    return "\n".join(lines)


# A hint a test gives for its own subject: text, or a function asked only when the check fails.
Hint = str | Callable[[], "str | None"] | None


def student_error(exc: BaseException) -> StudentError | None:
    """``exc`` as an exception raised by the student's code, or None where it is not one. In
    grading that is a ``StudentError`` (the worker's report); in the student's own check, where
    their code runs in this process, what their function raised (``grader.student.local``, never
    imported in grading)."""
    from grader.grading.remote import StudentError

    if isinstance(exc, StudentError):
        return exc
    local = sys.modules.get("grader.student.local")
    return None if local is None else local.raised(exc)


def _lead_hint(failure: _Failure, hint: Hint) -> None:
    try:
        text = hint() if callable(hint) else hint
    except CheckFailed:
        text = None
    except Exception as exc:
        if student_error(exc) is None:
            raise
        # The student's code failed while the hint looked for evidence: no evidence, no hint;
        # the failure already found is what the student reads.
        text = None
    if text:
        failure.specific.insert(0, text)


def _fail(ctx: _Ctx, failure: _Failure, expected: Any = None) -> None:
    __tracebackhide__ = True
    raise CheckFailed(_message(ctx, failure), words=grader_words(
        ctx.name, *ctx.footer, *(ctx.outputs or ()), expected=expected))


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
            early = _Failure(
                path,
                f"you returned {_describe(actual)}; expected a {ed} value",
                hints=["compute in float64 and return a Python float, e.g. float(x)"],
            )
            if not _charged_before(early, actual, expected, path, ctx, (str(ad), str(ed))):
                return early
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
            nonfinite = _nonfinite_failure(a_arr, e_arr, path, ctx.name)
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
            failure.guesses.append(factor)
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


def _charged_before(failure: _Failure, actual: Any, expected: Any,
                    path: tuple[int | _Key, ...], ctx: _Ctx, dtypes: tuple[str, str]) -> bool:
    """Whether this wrong dtype, with right values, was charged already in this grading: once
    per function, output and pair of dtypes (docs/charging.md). Then the check goes on to the
    values, and the test notes the dtype without charging it again."""
    loose = dataclasses.replace(ctx, check_dtype=False, exact=False, hints=False,
                                rtol=0.0 if ctx.exact else ctx.rtol,
                                atol=0.0 if ctx.exact else ctx.atol)
    if _compare(actual, expected, path, loose) is not None:
        return False  # the values are wrong too: the failure says the dtype first, as ever
    where = _where(ctx, path)
    # "confusion_matrix(y_true, y_pred, num_classes=3)" and "confusion_matrix" are one function.
    function = re.sub(r"[^\w.].*", "", ctx.name, flags=re.S)
    output = ctx.name.rpartition("→")[2].strip() if "→" in ctx.name else ""
    defect = ("dtype", function, output, tuple(path), *dtypes)
    test = charges.charge(defect)
    if test is None:
        return False
    charges.note(f"{where}: {failure.problem} (charged once, in {test})")
    return True


def _nonfinite_failure(
    a: np.ndarray, e: np.ndarray, path: tuple[int | _Key, ...], name: str = ""
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
        hint = topic_hint(name, "nan" if word == "NaN" else "inf") or hint
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
        if early and not _charged_before(early, actual, expected, path, ctx,
                                         (str(actual.dtype), str(expected.dtype))):
            return early
    a, e = _to_numpy(actual), _to_numpy(expected)
    if a.dtype.kind in "fc":
        early = _nonfinite_failure(a, e, path, ctx.name)
        if early:
            return early
    tol, source = _tolerance(ctx, _dtype_name(actual.dtype), _dtype_name(expected.dtype))
    m = find_mismatch(a, e, tol)
    if m is None:
        return None
    problem, details = _mismatch_lines(m, False, _tol_text(tol, source, ctx.exact))
    failure = _Failure(path, problem, details)
    if ctx.hints:
        output = size_names([(f"the size of axis {ax} of the output", ax, tuple(e.shape))
                             for ax in range(e.ndim)])
        sizes = {**output, **ctx.sizes}  # the inputs' names first: the output's axes come from them
        failure.guesses = _value_hints(a, e, tol, sizes)
    return failure


def _compare_sequence(
    actual: Any, expected: Sequence[Any], path: tuple[int | _Key, ...], ctx: _Ctx
) -> _Failure | None:
    word = "outputs" if not path and not ctx.items else "values"
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
        return _length_failure(actual, expected, path, ctx, word)
    for i, (item, want) in enumerate(zip(actual, expected)):
        item_failure = _compare(item, want, path + (i,), ctx)
        if item_failure is None:
            continue
        if ctx.hints:
            order = _order_hint(actual, expected, i, path, ctx)
            if order:
                item_failure.hints.insert(0, order)
            if held := tensors_for_ints(actual, expected):  # says why, beside "return an int"
                item_failure.hints = [h for h in item_failure.hints
                                      if not h.startswith("return a Python int")] + [held]
        # Every wrong output is named, not only the first: a lost intercept shows in w and in b.
        for j in range(i + 1, len(expected)):
            other = _compare(actual[j], expected[j], path + (j,), quiet)
            if other is not None and len(item_failure.also) < _MAX_ALSO:
                item_failure.also.append(f"{_where(ctx, other.path)}: {other.problem}")
        return item_failure
    return None


def _length_failure(actual: Sequence[Any], expected: Sequence[Any],
                    path: tuple[int | _Key, ...], ctx: _Ctx, word: str) -> _Failure:
    """A sequence of another length than expected, with which of its entries are expected ones."""
    names = ctx.outputs if not path else None
    listed = f" ({', '.join(names)})" if names and len(names) == len(expected) else ""
    failure = _Failure(
        path,
        f"you returned {len(actual)} {word[:-1] if len(actual) == 1 else word}, "
        f"expected {len(expected)}{listed}",
    )
    if ctx.hints and len(actual) <= 8 and len(expected) <= 8:
        quiet = dataclasses.replace(ctx, hints=False)
        matched = []
        for j, item in enumerate(actual):
            for i, want in enumerate(expected):
                if _compare(item, want, path + (i,), quiet) is None:
                    mine = "output" if word == "outputs" else "item"
                    matched.append(
                        f"your {mine} [{j}] matches the expected {_output_label(ctx, path, i)}"
                    )
                    break
        if matched:
            failure.hints.append("; ".join(matched))
    if ctx.hints and (held := tensors_for_ints(actual, expected)):
        failure.hints.append(held)
    return failure


def tensors_for_ints(actual: Sequence[Any], expected: Sequence[Any]) -> str | None:
    """The hint where a list of ids (ints) was expected and the student's holds tensors, or
    None: a 0-d tensor prints as its number but is no int to the code that used it (a dict key,
    ``==`` in a condition). For a test that compares such a list in another form (as text)."""
    if not expected or not all(type(e) is int for e in expected) or \
            not any(_kind(a) == "tensor" for a in actual):
        return None
    return ("your list holds torch tensors where Python ints are expected: take int(t) (or "
            "t.item()) of each; a tensor is no int as a dict key or a set's member, and "
            "t == id gives a tensor, not True or False")


def _order_hint(actual: Any, expected: Sequence[Any], i: int, path: tuple[int | _Key, ...],
                ctx: _Ctx) -> str | None:
    """Whether the student's wrong output [i] is another expected output: swapped or misplaced."""
    quiet = dataclasses.replace(ctx, hints=False)
    for j in range(len(expected)):
        if j != i and _compare(actual[i], expected[j], path + (j,), quiet) is None:
            mine, theirs = _output_label(ctx, path, i), _output_label(ctx, path, j)
            if _compare(actual[j], expected[i], path + (i,), quiet) is None:
                return f"your {mine} and {theirs} are swapped: return them in the expected order"
            return f"your {mine} is the expected {theirs}: check the order of your outputs"
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


# ---------------------------------------------------------------------------- classic mistakes


@dataclass(frozen=True)
class Mistakes:
    """Where a failing check looks for the classic mistake the student made.

    Each of the topic's mutants (reference/<topic>/mutants/) whose `fn` differs from the
    reference's runs on `args` and `kwargs`, the trusted side's inputs (the reference's own step
    function where the student's is a handle in the worker, say); one whose result equals
    `actual`, the student's whole result, and differs from the reference's result on the same
    inputs, is named in the hint. A check of one part of a result (the tokens of a beam, one
    gradient) passes the student's whole result, so that a mistake is named only when
    everything the student returned is what it gives; `select` picks one output of the result
    instead (an index, or a key of a dict), where the rest cannot be compared (a cache kept in
    the worker) or is not what the check is about: `actual` is then that output alone.
    """

    reference: Any
    fn: str
    actual: Any
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    select: Any = None


def _output(value: Any, select: Any) -> tuple[bool, Any]:
    """(found, value[select]): one output of a tuple, list or dict result."""
    if select is None:
        return True, value
    if isinstance(value, (tuple, list)) and isinstance(select, int) and 0 <= select < len(value):
        return True, value[select]
    if isinstance(value, Mapping) and select in value:
        return True, value[select]
    return False, None


def _flat(value: Any) -> Any:
    """`value` with every array and tensor made one-dimensional: shapes left out of a comparison."""
    kind = _kind(value)
    if kind == "sequence":
        return tuple(_flat(v) for v in value) if isinstance(value, tuple) else \
            [_flat(v) for v in value]
    if kind == "dict":
        return {k: _flat(v) for k, v in value.items()}
    if kind in ("array", "tensor"):
        return value.reshape(-1)
    return value


def only_dtype_or_shape(actual: Any, expected: Any, ctx: _Ctx) -> bool:
    """Whether the student's values are right and only their dtype or their shape is wrong
    (the same values in the same order): such a failure says so, and names no mistake about
    values, whether a classic one or the one a test's hint is about."""
    loose = dataclasses.replace(ctx, check_dtype=False, exact=False, hints=False)
    try:
        return _compare(_flat(actual), _flat(expected), (), loose) is None
    except (TypeError, ValueError, AttributeError):  # a kind that cannot be compared
        return False


def _name_mistake(failure: _Failure, mistakes: Mistakes | None, ctx: _Ctx) -> None:
    """Put the classic mistake the student's result matches, if any, first among the hints: a
    mutant whose value differs from the reference's on the same inputs and equals the
    student's (the selected output only, where `select` picks one)."""
    if mistakes is None:
        return
    # Matched with the tolerance of the dtype, never bit for bit: a mutant sums in its own order.
    rules = _Ctx(name=ctx.name, rtol=ctx.rtol, atol=ctx.atol, check_dtype=False, hints=False)
    started = time.perf_counter()
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_fn = getattr(mistakes.reference, mistakes.fn)
            right = ref_fn(*copy.deepcopy(tuple(mistakes.args)),
                           **copy.deepcopy(dict(mistakes.kwargs)))
    except Exception:  # noqa: BLE001 - without the reference's value no mutant can be judged
        return
    seconds = mutant_seconds(time.perf_counter() - started)
    found_right, right = _output(right, mistakes.select)
    if not found_right:
        return

    def matches(value: Any) -> bool:
        found, value = _output(value, mistakes.select)
        return found and _matches(mistakes.actual, value, rules)

    def differs(value: Any) -> bool:
        found, value = _output(value, mistakes.select)
        return found and not _matches(value, right, rules)

    found = classic_mistakes(mistakes.reference, mistakes.fn, tuple(mistakes.args),
                             dict(mistakes.kwargs), matches, differs, seconds)
    if found:
        failure.specific.insert(0, f"your result matches a classic mistake: {found[0]}")


def _explain(failure: _Failure, actual: Any, expected: Any, ctx: _Ctx, hint: Hint,
             mistakes: Mistakes | None) -> None:
    """The hints of a failed check: the test's own and the classic mistake matched, unless only
    the dtype or the shape is wrong, which the failure's own words say."""
    if only_dtype_or_shape(actual, expected, ctx):
        return
    _lead_hint(failure, hint)
    _name_mistake(failure, mistakes, ctx)


# ------------------------------------------------------------------------------ public API


@with_test_words
def assert_close(
    actual: Any,
    expected: Any,
    *,
    name: str,
    rtol: float | None = None,
    atol: float | None = None,
    check_dtype: bool = True,
    outputs: Sequence[str] | None = None,
    hint: Hint = None,
    mistakes: Mistakes | None = None,
) -> None:
    """Fail with a student-facing message unless `actual` matches `expected` within tolerance.

    Both may be scalars, NumPy arrays, torch tensors, or tuples/lists/dicts of them. Tolerances come
    from the expected dtype's TOLERANCES entry (or an active override); rtol/atol replace them.
    `outputs` names the elements of a tuple for the messages, as in expect_same.
    `hint`, what the test is about, comes first among the hints when it fails; a callable is
    asked only then (it may look for evidence, e.g. call the student again) and may give None.
    `mistakes`: where to look for the classic mistake the student made (see Mistakes); one
    found is named first, and the guesses from the values' pattern are left out.
    """
    __tracebackhide__ = True
    ctx = _Ctx(name=name, rtol=rtol, atol=atol, check_dtype=check_dtype,
               outputs=tuple(outputs) if outputs is not None else None,
               items=isinstance(expected, list) and outputs is None)
    failure = _compare(actual, expected, (), ctx)
    if failure:
        _explain(failure, actual, expected, ctx, hint, mistakes)
        _fail(ctx, failure, expected)


@with_test_words
def assert_equal(actual: Any, expected: Any, *, name: str, hint: Hint = None,
                 mistakes: Mistakes | None = None) -> None:
    """Like assert_close, but values must be exactly equal (ints, labels, indices); a bool is no int.
    `hint` and `mistakes` as in assert_close."""
    __tracebackhide__ = True
    ctx = _Ctx(name=name, exact=True, items=isinstance(expected, list))
    failure = _compare(actual, expected, (), ctx)
    if failure:
        _explain(failure, actual, expected, ctx, hint, mistakes)
        _fail(ctx, failure, expected)


@with_test_words
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
    hint: Hint = None,
    label: str | None = None,
    **kwargs: Any,
) -> Any:
    """Call `fn` on the reference (with deep copies of the inputs) and on the student; compare; return
    the student's value. `outputs` names the elements of a tuple result for the messages; `hint`,
    what this test is about, comes first among the hints when it fails (see assert_close);
    `label` names the call in the messages in place of `fn` ("fit_linear with collinear columns").
    Where the student's value is what one of the topic's mutants gives, the hint names that
    classic mistake."""
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
        name=label or fn,
        rtol=rtol,
        atol=atol,
        check_dtype=check_dtype,
        exact=exact,
        outputs=outputs,
        items=isinstance(expected, list) and outputs is None,
        sizes=_input_sizes(ref_fn, args, kwargs),
        footer=(_inputs_line(fn, ref_fn, args, kwargs),),
    )
    failure = _compare(actual, expected, (), ctx)
    if failure:
        # A result of several outputs is matched output by output: the first wrong one.
        head = failure.path[0] if failure.path else None
        select = head.key if isinstance(head, _Key) else head
        found, part = _output(actual, select)
        mistakes = Mistakes(reference, fn, part, args, kwargs, select=select if found else None)
        _explain(failure, actual, expected, ctx, hint, mistakes if found else None)
        _fail(ctx, failure, expected)
    return actual


def _matches(actual: Any, value: Any, ctx: _Ctx) -> bool:
    """Whether the student's value equals `value` (a classic mistake's) under the test's rules."""
    try:
        return _compare(actual, value, (), dataclasses.replace(ctx, hints=False)) is None
    except TypeError:  # a value of a kind that cannot be compared matches nothing
        return False


@with_test_words
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
    hint = topic_hint(name, message) or _warning_hint(category, message)
    lines = [f"{name} raised {category}: {message} — {hint}"]
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


@with_test_words
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
    names = _exception_names(exc_types)
    wanted = " or ".join(names)
    try:
        result = func(*args, **kwargs)
    except Exception as exc:
        err = student_error(exc)
        if err is None:
            raise
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


def _nonfinite_walk(value: Any, path: tuple[int | _Key, ...], name: str = "") -> _Failure | None:
    kind = _kind(value)
    if kind == "sequence":
        for i, item in enumerate(value):
            failure = _nonfinite_walk(item, path + (i,), name)
            if failure:
                return failure
        return None
    if kind == "dict":
        for key, item in value.items():
            failure = _nonfinite_walk(item, path + (_Key(key),), name)
            if failure:
                return failure
        return None
    if kind in ("handle", "none"):
        return _Failure(path, f"you returned {_describe(value)}; expected numbers")
    if kind in ("scalar", "array", "tensor"):
        arr = _to_numpy(value)
        if arr.dtype.kind in "fc":
            return _nonfinite_failure(arr, np.zeros(arr.shape), path, name)
    return None


@with_test_words
def assert_finite(value: Any, *, name: str) -> None:
    """Fail if any number in `value` (scalars, arrays, tensors, nested) is NaN or infinite."""
    __tracebackhide__ = True
    ctx = _Ctx(name=name)
    failure = _nonfinite_walk(value, (), name)
    if failure:
        _fail(ctx, failure)


@with_test_words
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
