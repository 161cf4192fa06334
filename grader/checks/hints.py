"""Hints for a wrong answer: what its values, shape or warnings suggest the student got wrong."""

from __future__ import annotations

import ast
import contextlib
import copy
import importlib.util
import inspect
import math
import sys
import textwrap
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from grader.checks.lazy_torch import torch  # imported at the first tensor: NumPy topics skip it

from grader.checks.describe import _fmt_shape, _to_numpy
from grader.checks.tolerances import Tol


# The largest whole factor (or its reciprocal) worth naming: past it, "off by 5333089" says only
# that two numbers differ, which the message already says.
_MAX_FACTOR = 1000
# The arbitrary factor stated for several values must be plausible as a slip in a formula.
_PLAUSIBLE = (1e-3, 1e3)


def _whole(x: float, rel: float) -> int | None:
    """x as a whole number from 2 to _MAX_FACTOR when it is one within rel, else None.

    A whole number is telling only while the window rel·k is far narrower than the gap between
    neighbours: for a large k every x is "near" some integer.
    """
    k = round(x)
    if 2 <= k <= _MAX_FACTOR and rel * k < 0.01 and abs(x - k) <= rel * k:
        return k
    return None


def _factor_text(c: float, sizes: Mapping[int, str], scalar: bool, rel: float = 1e-6) -> str | None:
    """Words for 'yours = c × expected', naming c when it is a size of the inputs.

    A factor is named only where it means something: a size of the inputs, a small whole number
    or its reciprocal, or (several values only) a plausible factor. Between two single numbers
    some factor always exists, so an arbitrary one is never named for a scalar.
    """

    def _near(x: float, target: float) -> bool:
        return abs(x - target) <= rel * abs(target)

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
    k = _whole(mag, rel)
    if k is not None:
        return f"off by a constant factor of {sign}{k} (yours = {sign}{k} × expected){tail}"
    k = _whole(1 / mag, rel)
    if k is not None:
        return f"off by a constant factor of {sign}1/{k} (yours = {sign}expected / {k}){tail}"
    if scalar or not _PLAUSIBLE[0] <= mag <= _PLAUSIBLE[1]:
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
    if c == 0 or not math.isfinite(c) or abs(c - 1) < 1e-3:
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
    if len(sa) == len(se) and any(a == 0 < e for a, e in zip(sa, se)):
        return [
            (
                "an axis of yours is empty (length 0): a slice that ends at or before its start "
                "takes nothing, and x[p:-p] with p = 0 is x[0:0]; write x[p:p + n] or "
                "x[p:len(x) - p], or check a range whose stop is below its start"
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


def size_names(places: list[tuple[str, int, tuple[int, ...]]]) -> dict[int, str]:
    """What each length of 2 or more is, from (what, axis, shape) of some arrays' axes: the words
    a hint uses to name a factor ('X.shape[0]').

    A length is named only where it is one dimension: the axes that have it are the same axis of
    arrays of the same shape (y_true.shape[0] and y_pred.shape[0]). Where two different axes have
    it (E.shape[1] is D, contexts.shape[1] is n), the hint cannot tell which one the factor is and
    lists them all rather than name one.
    """
    found: dict[int, list[tuple[str, tuple[int, tuple[int, ...]]]]] = {}
    for what, ax, shape in places:
        n = int(shape[ax])
        if n < 2:
            continue
        seen = found.setdefault(n, [])
        if all(key != (ax, shape) for _, key in seen):
            seen.append((what, (ax, shape)))
    return {n: seen[0][0] if len(seen) == 1 else
            f"the length of more than one axis ({', '.join(w for w, _ in seen)})"
            for n, seen in found.items()}


def _input_sizes(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[int, str]:
    """Axis lengths of the inputs by name ('X.shape[0]'), to name a factor such as a forgotten 1/n."""
    try:
        items = list(inspect.signature(fn).bind(*args, **kwargs).arguments.items())
    except (TypeError, ValueError):
        items = [(f"argument {i}", a) for i, a in enumerate(args)] + list(kwargs.items())
    places: list[tuple[str, int, tuple[int, ...]]] = []
    for pname, value in items:
        values = value.items() if isinstance(value, Mapping) else [(None, value)]
        for key, v in values:
            shape = getattr(v, "shape", None)
            if not isinstance(shape, (tuple, torch.Size)):
                continue
            label = pname if key is None else f'{pname}["{key}"]'
            dims = tuple(int(n) for n in shape)
            places += [(f"{label}.shape[{ax}]", ax, dims) for ax in range(len(dims))]
    return size_names(places)


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


# ------------------------------------------------------------------------- classic mistakes

# Mutants by file, loaded once per process (by the engine, where it prepared its grading
# children: ``prepare``): course code, as trusted as the reference.
_MUTANTS: dict[str, ModuleType | None] = {}


_MUTANT_IMPORTS = frozenset(sys.stdlib_module_names) | {"numpy", "torch", "scipy"}


def _imports_only_libraries(path: Path) -> bool:
    """A mutant that imports anything but the standard library, NumPy, torch or SciPy is not
    loaded: a module found by name could be a student's, and no student code runs here."""
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            tops = [(node.module or "").split(".")[0]] if node.level == 0 else [""]
        else:
            continue
        if any(t not in _MUTANT_IMPORTS for t in tops):
            return False
    return True


def _load_mutant(path: Path) -> ModuleType | None:
    key = str(path)
    if key not in _MUTANTS:
        module: ModuleType | None = None
        if not _imports_only_libraries(path):
            _MUTANTS[key] = None
            return None
        spec = importlib.util.spec_from_file_location(f"grader_mutant_{path.parent.parent.name}_"
                                                      f"{path.stem}", path)
        if spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except Exception:  # noqa: BLE001 - a mutant that cannot load names no mistake
                module = None
        _MUTANTS[key] = module
    return _MUTANTS[key]


def _source(obj: Any, module: ModuleType) -> str:
    """The source of a module's function or class. A class's is read from the module's file:
    inspect finds it through sys.modules, where a mutant or a reference loaded by path is not."""
    if not inspect.isclass(obj):
        return inspect.getsource(obj)
    tree = ast.parse(Path(str(module.__file__)).read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == obj.__name__:
            return ast.unparse(node)
    raise OSError(f"class {obj.__name__} not found in {module.__file__}")


def _key(module: ModuleType) -> tuple[str, str]:
    """A module, told apart from another course's module of the same name by its file."""
    return module.__name__, str(getattr(module, "__file__", None))


_BODIES: dict[tuple[tuple[str, str], str], str | None] = {}


def _body_of(module: ModuleType, name: str) -> str | None:
    """``_body`` of a module's ``name``, worked out once per module and name (the reference's
    are compared with every mutant's)."""
    key = (_key(module), name)
    if key not in _BODIES:
        _BODIES[key] = _body(getattr(module, name, None), module)
    return _BODIES[key]


def _body(fn: Any, module: ModuleType) -> str | None:
    """A function's or class's code without its docstring, comparable between two modules."""
    try:
        tree = ast.parse(textwrap.dedent(_source(fn, module)))
    except (OSError, TypeError, SyntaxError):
        return None
    node = tree.body[0]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body and \
            isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
        node.body = node.body[1:]
    return ast.dump(node)


def _names_used(code: Any) -> set[str]:
    """The global names a function's code reads, its nested functions and lambdas included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= _names_used(const)
    return names


def _reachable(module: ModuleType, name: str) -> set[str]:
    """`name` and the module-level functions and classes it uses, directly or through each
    other (a class through its methods: run_program builds the graph with the module's Tensor)."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        n = todo.pop()
        f = getattr(module, n, None)
        if n in seen or not (inspect.isfunction(f) or inspect.isclass(f)):
            continue
        if inspect.isclass(f) and f.__module__ != module.__name__:
            continue  # a class imported from a library is the same in both
        seen.add(n)
        codes = [f.__code__] if inspect.isfunction(f) else [
            m.__code__ for m in vars(f).values() if inspect.isfunction(m)]
        for code in codes:
            todo += [m for m in _names_used(code) if m not in seen]
    return seen


def _same_code(one: ModuleType, other: ModuleType, name: str) -> bool:
    """Whether two modules' ``name`` are functions, each defined in its module's file, that run
    the same bytecode on the same constants, names and defaults (wherever in the file they
    stand): then they compute the same, and their sources need not be parsed. False where that
    cannot be told so (a class, a wrapper, a closure, a function from elsewhere): their sources
    are compared."""
    def plain(f: Any, module: ModuleType) -> bool:
        return inspect.isfunction(f) and f.__closure__ is None and \
            not hasattr(f, "__wrapped__") and f.__code__.co_filename == module.__file__

    a: Any = getattr(one, name, None)
    b: Any = getattr(other, name, None)
    if a is b and a is not None:  # the same object, imported by both
        return True
    if not (plain(a, one) and plain(b, other)):
        return False
    return _code_key(a.__code__) == _code_key(b.__code__) and \
        _const_key(a.__defaults__) == _const_key(b.__defaults__) and \
        _const_key(tuple(sorted((a.__kwdefaults__ or {}).items()))) == \
        _const_key(tuple(sorted((b.__kwdefaults__ or {}).items())))


def _code_key(code: Any) -> tuple[Any, ...]:
    """What a code object runs, without where it stands (its lines and positions)."""
    return (code.co_code, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
            code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags,
            getattr(code, "co_exceptiontable", b""), _const_key(code.co_consts))


def _const_key(value: Any) -> Any:
    """A constant told apart by its type and exact text (1, 1.0 and True are different, as
    their code is), code objects by what they run."""
    if inspect.iscode(value):
        return ("code", _code_key(value))
    if isinstance(value, (tuple, list, frozenset)):
        return (type(value).__name__, tuple(_const_key(v) for v in value))
    return (type(value).__name__, repr(value))


_CHANGES: dict[tuple[tuple[str, str], tuple[str, str], str], bool] = {}


def _changes(mutant: ModuleType, reference: ModuleType, fn: str) -> bool:
    """Whether the mutant computes `fn` differently from the reference (its code or a helper's)."""
    key = (_key(mutant), _key(reference), fn)
    if key not in _CHANGES:
        names = _reachable(mutant, fn) | _reachable(reference, fn)
        _CHANGES[key] = any(not _same_code(mutant, reference, n)
                            and _body_of(mutant, n) != _body_of(reference, n) for n in names)
    return _CHANGES[key]


def prepare(reference: ModuleType) -> None:
    """Load a reference's mutants and work out which of its functions each one changes, now: an
    engine that forks grading children for many submissions (a batch, the service) calls it
    before the first grading of the topic, and every child then finds this done rather than
    doing it again at its first failed comparison of the topic (measured on bench_engine's two topics: 0.04-0.18 s of each child's
    time, 0.002-0.02 s once prepared)."""
    file = getattr(reference, "__file__", None)
    folder = Path(file).parent / "mutants" if file else None
    if folder is None or not folder.is_dir():
        return
    names = [n for n, v in vars(reference).items()
             if (inspect.isfunction(v) or inspect.isclass(v)) and v.__module__ == reference.__name__]
    for path in sorted(folder.glob("*.py")):
        mutant = _load_mutant(path)
        if mutant is None:
            continue
        for fn in names:
            if callable(getattr(mutant, fn, None)):
                _changes(mutant, reference, fn)


def mistake_of(path: Path) -> str:
    """What a mutant gets wrong: the first line of its docstring, without 'Mutant:'."""
    module = _load_mutant(path)
    doc = ((module.__doc__ if module else None) or path.stem.replace("_", " ")).strip()
    return doc.splitlines()[0].removeprefix("Mutant:").strip().rstrip(".")


# A classic mistake costs about what the reference does on the same inputs: each mutant may run
# MUTANT_TIMES as long as the reference did, and at least MUTANT_SECONDS, before the search gives
# it up. Finite differences at a test's large size take some 10⁴ times the reference's time.
MUTANT_SECONDS = 1.0
MUTANT_TIMES = 20


def mutant_seconds(reference_seconds: float) -> float:
    """How long one mutant may run where the reference took ``reference_seconds``."""
    return max(MUTANT_SECONDS, MUTANT_TIMES * reference_seconds)


def classic_mistakes(reference: Any, fn: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                     matches: Callable[[Any], bool],
                     differs: Callable[[Any], bool] | None = None,
                     seconds: float | None = None) -> list[str]:
    """The classic mistakes (the topic's mutants, reference/<topic>/mutants/) whose `fn` gives,
    on these inputs, what `matches` accepts: the student's own value.

    Only mutants that compute `fn` differently from the reference are run, and only those whose
    value on these very inputs `differs` accepts (differs from the reference's) are named: a
    mistake that changes nothing here (relu_grad at 0, on inputs that hold no 0) cannot be the
    student's, whatever else is wrong. Where the course has no mutants (an exported bundle),
    there are none to name.

    Each mutant runs for `seconds` at most (``grader.grading.bounds.at_most``): one whose mistake
    is its cost (finite differences at a test's large size) is given up, not run for minutes. A
    test that runs past its own limit meanwhile (the watchdog's ``TestOverran``) ends the search
    with what it has found: the failure it explains is already known.
    """
    from grader.grading import bounds

    file = getattr(reference, "__file__", None)
    if not isinstance(reference, ModuleType) or not file:
        return []
    folder = Path(file).parent / "mutants"
    found: list[str] = []
    for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
        mutant = _load_mutant(path)
        f = getattr(mutant, fn, None)
        if mutant is None or not callable(f) or not _changes(mutant, reference, fn):
            continue
        try:
            with bounds.at_most(seconds) if seconds is not None else contextlib.nullcontext(), \
                    np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = f(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        except bounds.OutOfTime:  # a mistake of cost, or one slower than the search can wait for
            continue
        except bounds.TestOverran:
            break
        except Exception:  # noqa: BLE001 - a mutant that fails on these inputs matches nothing
            continue
        if (differs is None or differs(value)) and matches(value):
            found.append(mistake_of(path))
    return found
