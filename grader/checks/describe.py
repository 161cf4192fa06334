"""Values in the student's words: what kind a value is, and numbers, shapes and values as text."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from grader.checks.lazy_torch import torch  # imported at the first tensor: NumPy topics skip it


def _is_handle(value: Any) -> bool:
    try:
        from grader.isolation.wire import Handle
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
        return f"a {type(value).__name__} of {_values(len(value))}"
    if kind == "dict":
        keys = ", ".join(repr(k) for k in list(value)[:6]) + (", …" if len(value) > 6 else "")
        return f"a dict with keys {keys}" if value else "an empty dict"
    if kind == "text":
        return f"a {type(value).__name__} ({_short_text(repr(value), 40)})"
    if kind == "handle":
        return f"an object of type {value.type_name} (it cannot be sent back and compared)"
    return f"a {type(value).__name__}"


def _values(n: int) -> str:
    return "1 value" if n == 1 else f"{n} values"


def _describe_expected(expected: Any, names: Sequence[str] | None = None) -> str:
    """What was expected, in words; for scalars the kind only (the value appears later)."""
    kind = _kind(expected)
    if kind == "scalar":
        cls = _scalar_class(expected)
        return {"int": "an int", "bool": "a bool (True or False)"}.get(cls, f"a {cls}")
    if kind == "sequence":
        word = "tuple" if isinstance(expected, tuple) else "list"
        listed = f" ({', '.join(names)})" if names and len(names) == len(expected) else ""
        return f"a {word} of {_values(len(expected))}{listed}"
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


def _returned(value: Any) -> str:
    kind = _kind(value)
    if kind == "scalar" and not isinstance(value, np.ndarray):
        return _fmt(value)
    if kind in ("none", "text"):
        return _short_text(repr(value), 40)
    return _describe(value)


def stub_raised(source_line: str | None) -> bool:
    """Whether a NotImplementedError whose innermost frame of the student's is at
    ``source_line`` is a stub's own: raised by a ``raise`` statement there. A library raises it
    from inside a call the line makes (torch's ``"softmax_lastdim_kernel_impl" not implemented
    for 'Long'``, an ``autograd.Function`` without a ``backward``), and that is an error in
    written code, not a function left unwritten. An unknown line (no source) counts as a stub's."""
    return not source_line or source_line.lstrip().startswith("raise")


def not_implemented(called: str, innermost: str | None, message: str) -> str:
    """What a student reads when their code raised NotImplementedError: the function they left as
    a stub, which is not always the one the test called (run_program calls Tensor.sum).

    `innermost`: the name of the innermost of the student's frames, where the error was raised
    (None when unknown); `message`: the exception's own text, whose leading dotted name
    ("Tensor.sum: not implemented yet") is used when it names that same function.
    """
    said = message.strip().split(":", 1)[0].strip() if ":" in message else ""
    valid = bool(said) and all(part.isidentifier() for part in said.split("."))
    if innermost in (None, "<module>", "<lambda>"):
        stub = said if valid else called
    elif valid and said.rsplit(".", 1)[-1] == innermost.rsplit(".", 1)[-1]:
        stub = said
    else:
        stub = innermost
    if stub.rsplit(".", 1)[-1] == called.rsplit(".", 1)[-1]:
        return f"{called}: not implemented"
    return f"{stub}: not implemented ({called} calls it)"


def returned_unusable(fn: str, exc: BaseException) -> str:
    """What a student reads when the test itself, not their code, raised while it used what
    ``fn`` returned: read a key, an item or an attribute the value does not have."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - in the student's own check, a value of theirs in it
        text = "<the exception's message could not be read>"
    if isinstance(exc, KeyError) and len(exc.args) == 1 and type(exc.args[0]) is str:
        return (f"what {fn} returned has no key {exc.args[0]!r}, which the test reads: return "
                f"a dict with the keys the statement names")
    if "'NoneType' object" in text or "NoneType" in text.split(":", 1)[0]:
        return (f"what {fn} returned holds None where the test reads a value ({type(exc).__name__}"
                f": {text[:200]}): look for a missing return, or an output left None")
    for pattern, use in _USES:
        found = pattern.fullmatch(text.split("\n", 1)[0])
        if found:
            kind = _KINDS.get(found["kind"], f"a {found['kind']}")
            what = use.format(**{k: v for k, v in found.groupdict().items() if k != "kind"})
            return (f"what {fn} returned is {kind} (or holds one) where the test {what} "
                    f"({type(exc).__name__}: {text[:200]}): return what the statement gives, "
                    f"as many outputs as it names")
    return (f"what {fn} returned could not be checked: {type(exc).__name__}: {text[:300]}. "
            f"Check the return type and the number of outputs.")


# How a test used a value, told from Python's words for what the value lacked.
_USES = tuple((re.compile(pattern), use) for pattern, use in (
    (r"'(?P<kind>[\w.]+)' object has no attribute '(?P<attr>\w+)'", "reads its .{attr}"),
    (r"'(?P<kind>[\w.]+)' object is not subscriptable", "reads an item of it"),
    (r"(?P<kind>list|tuple|str) indices must be integers or slices, not [\w.]+",
     "reads it as an array or a dict"),
    (r"'(?P<kind>[\w.]+)' object is not iterable", "takes values out of it"),
    (r"cannot unpack non-iterable (?P<kind>[\w.]+) object", "takes values out of it"),
    (r"object of type '(?P<kind>[\w.]+)' has no len\(\)", "measures its length"),
))
_KINDS = {"float": "a number (float)", "int": "a number (int)", "numpy.float64": "a number",
          "numpy.ndarray": "a NumPy array", "Tensor": "a torch tensor", "list": "a list",
          "tuple": "a tuple", "dict": "a dict", "str": "a string"}
