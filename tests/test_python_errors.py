"""Python's own words about names and types in a hidden test: shown with the names that Python,
NumPy and torch define, each other name withheld; the library's messages that quote values stay
withheld as before."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from grader.results import library_errors, python_errors
from grader.results.python_errors import WITHHELD, shown
from toy_grading import REFERENCE, scale_graded


class Made:
    """A class the student's code defines: its name is the student's."""


def _raised(make: Callable[[], Any]) -> BaseException:
    try:
        make()
    except Exception as exc:  # noqa: BLE001 - Python's own error is the point
        return exc
    raise AssertionError("no error")


def _unbound() -> None:
    print(h)  # noqa: F821 - the error is the point
    h = 1  # noqa: F841


def _free() -> None:
    def inner() -> Any:
        return k  # noqa: F821
    inner()
    k = 1  # noqa: F841


def _sets_attribute() -> None:
    (1.0).real = 2.0  # type: ignore[misc]


class WithProperty:
    @property
    def p(self) -> int:
        return 1


def _sets_property() -> None:
    WithProperty().p = 2  # type: ignore[misc]


def _sets_read_only() -> None:
    (1).__doc__ = "x"  # type: ignore[misc]


def _tuple_store() -> None:
    pair: Any = (1, 2)
    pair[0] = 1


def _unpacks_made() -> None:
    a, b = Made()  # type: ignore[misc]


def _unpacks_float() -> None:
    a, b = 0.5  # type: ignore[misc]


def _warned(make: Callable[[], Any]) -> None:
    """``make`` with NumPy's warnings raised, as a test that refuses them sees them."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make()


def _recurses() -> None:
    _recurses()


def _pops() -> None:
    [].pop()


def _changes_dict() -> None:
    d = {1: 1}
    for key in d:
        d[key + 1] = 1


def _list_store() -> None:
    x: list[int] = []
    x[0] = 1


NOTHING: Any = None
THREE: Any = 3
NESTED: Any = [[1, 2]]

# Each raised by this Python, so a release that rewords one of them fails here: (what raises it,
# its message as a hidden test's copy shows it).
RAISED: list[tuple[Callable[[], Any], str]] = [
    (lambda: np.zeros(2).exp(), "'numpy.ndarray' object has no attribute 'exp'"),
    (lambda: (1.5).data, "'float' object has no attribute 'data'"),
    (lambda: Made().grad, f"'{WITHHELD}' object has no attribute 'grad'"),
    (lambda: Made().h_prev_7, f"'{WITHHELD}' object has no attribute '{WITHHELD}'"),
    (lambda: np.softmax, "module 'numpy' has no attribute 'softmax'"),
    (lambda: torch.Tensor.astype, "type object 'Tensor' has no attribute 'astype'"),
    (_sets_attribute, "attribute 'real' of 'float' objects is not writable"),
    (_sets_property, f"property '{WITHHELD}' of '{WITHHELD}' object has no setter"),
    (_sets_read_only, "'int' object attribute '__doc__' is read-only"),
    (lambda: [1] * 2.0, "can't multiply sequence by non-int of type 'float'"),  # type: ignore
    (lambda: eval("undefined_helper_x"), f"name '{WITHHELD}' is not defined"),  # noqa: S307
    (lambda: eval("np", {}), "name 'np' is not defined"),  # noqa: S307
    (_unbound, f"cannot access local variable '{WITHHELD}' where it is not associated with a "
               "value"),
    (_free, f"cannot access free variable '{WITHHELD}' where it is not associated with a value "
            "in enclosing scope"),
    (lambda: NOTHING(), "'NoneType' object is not callable"),
    (lambda: THREE[0], "'int' object is not subscriptable"),
    (lambda: iter(Made()), f"'{WITHHELD}' object is not iterable"),
    (lambda: next([1]), "'list' object is not an iterator"),  # type: ignore[call-overload]
    (_tuple_store, "'tuple' object does not support item assignment"),
    (_unpacks_made, f"cannot unpack non-iterable {WITHHELD} object"),
    (_unpacks_float, "cannot unpack non-iterable float object"),
    (lambda: range(2.5), "'float' object cannot be interpreted as an integer"),  # type: ignore
    (lambda: len(4), "object of type 'int' has no len()"),  # type: ignore[arg-type]
    (lambda: {[1]: 2}, "unhashable type: 'list'"),
    (lambda: NESTED[0, 1], "list indices must be integers or slices, not tuple"),
    (lambda: 1.0 + Made(), f"unsupported operand type(s) for +: 'float' and '{WITHHELD}'"),
    (lambda: 2 ** Made(), f"unsupported operand type(s) for ** or pow(): 'int' and '{WITHHELD}'"),
    (lambda: -Made(), f"bad operand type for unary -: '{WITHHELD}'"),
    (lambda: Made() < 1, f"'<' not supported between instances of '{WITHHELD}' and 'int'"),
    (lambda: [1] + (2,), 'can only concatenate list (not "tuple") to list'),  # type: ignore
    (lambda: tuple(Made()), f"'{WITHHELD}' object is not iterable"),
    (lambda: float([1]), "float() argument must be a string or a real number, not 'list'"),
    (lambda: [1][3], "list index out of range"),
    (lambda: (1,)[3], "tuple index out of range"),
    (_list_store, "list assignment index out of range"),
    (_pops, "pop from empty list"),
    (lambda: 1.0 / 0.0, "float division by zero"),
    (lambda: 1 // 0, "integer division or modulo by zero"),
    (lambda: math.log(-1.0), "math domain error"),
    (lambda: math.exp(1e4), "math range error"),
    (_changes_dict, "dictionary changed size during iteration"),
    (_recurses, "maximum recursion depth exceeded"),
    (lambda: _warned(lambda: np.exp(np.array([1e4]))), "overflow encountered in exp"),
    (lambda: _warned(lambda: np.log(np.zeros(1))), "divide by zero encountered in log"),
    (lambda: _warned(lambda: np.zeros(1) / np.zeros(1)), "invalid value encountered in divide"),
    (lambda: _warned(lambda: np.float64(1e308) * 10), "overflow encountered in scalar multiply"),
    (lambda: _warned(lambda: np.mean(np.array([]))), "Mean of empty slice"),
    (lambda: _warned(lambda: np.var(np.ones(1), ddof=1)), "Degrees of freedom <= 0 for slice"),
]


@pytest.mark.parametrize(("make", "expected"), RAISED, ids=[e for _, e in RAISED])
def test_pythons_words_show_with_only_public_names(make: Callable[[], Any], expected: str
                                                   ) -> None:
    exc = _raised(make)
    assert shown(type(exc).__name__, str(exc)) == expected


def test_every_form_is_one_python_raises() -> None:
    """No form is kept that this Python never writes (an older release's words)."""
    messages = [(type(e).__name__, str(e)) for e in (_raised(m) for m, _ in RAISED)]
    for kind, pattern in python_errors._COMPILED:  # noqa: SLF001 - the table is the point
        assert any(k == kind and pattern.fullmatch(m) for k, m in messages), pattern.pattern


@pytest.mark.parametrize(("type_name", "message"), [
    ("ValueError", "cannot reshape array of size 7 into shape (8,)"),  # quotes sizes
    ("KeyError", "'W1'"),
    ("AttributeError", "'Made' object has no attribute 'a b'"),  # not a name
    ("AttributeError", "'0.25' object has no attribute 'grad'"),
    ("RuntimeError", "the hidden value is 0.25"),
    ("MyError", "'float' object has no attribute 'data'"),  # another type: the student's words
    ("AttributeError", "'float' object has no attribute 'data'\nand 0.25 on the next line"),
])
def test_other_words_are_not_shown(type_name: str, message: str) -> None:
    said = shown(type_name, message)
    assert said == "" or ("0.25" not in said and "a b" not in said and "Made" not in said), said


def test_a_name_made_at_run_time_is_withheld() -> None:
    """An attribute named after a value (getattr(x, f"v{n}")) is no name Python defines."""
    for value in (0, 17, 255):
        assert shown("AttributeError", f"'float' object has no attribute 'v{value}'") == \
            f"'float' object has no attribute '{WITHHELD}'"
    assert python_errors.public("numpy.ndarray") and python_errors.public("Tensor")
    assert not python_errors.public("numpy.v17") and not python_errors.public("")



def test_a_hidden_tests_copy_shows_pythons_words_about_names(toy_engine, tmp_path: Path) -> None:
    graded, shown_test = scale_graded(toy_engine, tmp_path, (
        "def scale(x, c):\n"
        "    return c * x.exp()\n"))
    assert "scale raised AttributeError: 'numpy.ndarray' object has no attribute 'exp'" \
        in graded.message
    assert shown_test.message.startswith(
        "scale raised AttributeError: 'numpy.ndarray' object has no attribute 'exp'\n"), \
        shown_test.message
    assert "not shown" not in shown_test.message
    body = REFERENCE.splitlines().index("def scale(x, c):") + 2
    assert shown_test.message.endswith(f"in your code:\n  toy.py, line {body}")


def test_a_name_spelt_from_a_hidden_input_stays_withheld(toy_engine, tmp_path: Path) -> None:
    graded, shown_test = scale_graded(toy_engine, tmp_path, (
        "def scale(x, c):\n"
        "    return getattr(x, 'v%d' % int(abs(x).sum() * 1000))\n"))
    assert "object has no attribute 'v" in graded.message
    assert shown_test.message.startswith(
        "scale raised AttributeError: 'numpy.ndarray' object has no attribute '(withheld)'\n"), \
        shown_test.message
    # The student's own exception in Python's words, with a value in place of a name.
    graded, shown_test = scale_graded(toy_engine, tmp_path / "own", (
        "def scale(x, c):\n"
        "    raise AttributeError(f\"'{x[0]}' object has no attribute 'data'\")\n"))
    assert "not shown for hidden tests" in shown_test.message, shown_test.message
    assert "object has no attribute" not in shown_test.message


def test_an_operator_a_class_lacks_is_hinted() -> None:
    for make in (lambda: 1.0 + Made(), lambda: 2 * Made(), lambda: -Made(), lambda: [1] * 2.0):
        assert library_errors.hint(str(_raised(make))) == library_errors._OPERATOR  # noqa: SLF001
    for make in (lambda: NESTED[0, 1], lambda: [1, 2, 3][np.array([0, 1])],
                 lambda: range(np.array([3, 4]))):
        assert library_errors.hint(str(_raised(make))) == \
            library_errors._LIST_AS_ARRAY  # noqa: SLF001
    # None and a NumPy array meeting a tensor keep their own hints.
    assert library_errors.hint(str(_raised(lambda: None + 1.0))) != \
        library_errors._OPERATOR  # noqa: SLF001


def test_pythons_words_among_the_workers_texts_show_in_the_graders_message() -> None:
    """A test that expected ValueError quotes what the student's code raised instead: Python's
    words show as they would in the exception's own line, other texts stay withheld."""
    from grader.results.visibility import withhold_text

    said = "f should raise ValueError, but raised ZeroDivisionError instead: division by zero"
    assert withhold_text(said, ["division by zero"]) == said
    said = "f should raise ValueError, but raised AttributeError instead: 'Made' object has no " \
           "attribute 'v17'"
    assert withhold_text(said, ["'Made' object has no attribute 'v17'", "Made"]) == (
        "f should raise ValueError, but raised AttributeError instead: '(withheld)' object has "
        "no attribute '(withheld)'")
    assert withhold_text("raised ValueError instead: batch of 0.25", ["batch of 0.25"]) == \
        "raised ValueError instead: (withheld)"
