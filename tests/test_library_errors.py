"""What an error NumPy, torch or Python raised inside a student's function means, said in the
grader's words: in a hidden test, whose copy withholds the library's text, the hint is all that
says which of a dozen things went wrong at the line the student is shown; and a
NotImplementedError a library raised is an error in written code, not a stub left unwritten."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from grader.checks.describe import stub_raised
from grader.results import library_errors
from toy_grading import REFERENCE, grade_toy, scale_graded



def _raised(make: Callable[[], Any]) -> str:
    try:
        make()
    except Exception as exc:  # noqa: BLE001 - the library's own error is the point
        return str(exc)
    raise AssertionError("no error")


def _none(*_: Any) -> Any:
    return None


def _three() -> Any:
    return 3


def _iadd(x: Any, y: Any) -> Any:
    x += y
    return x


# (what the student wrote, a phrase of the hint it must get): the libraries' own errors, raised
# here, so that a release that rewords one shows up as a failing case.
LIBRARY_ERRORS: dict[str, tuple[Callable[[], Any], str]] = {
    "matmul of float32 and float64": (
        lambda: torch.ones(3, 4) @ torch.ones(4, 2, dtype=torch.float64), "different dtypes"),
    "bmm of float32 and float64": (
        lambda: torch.ones(2, 3, 4) @ torch.ones(2, 4, 2, dtype=torch.float64),
        "different dtypes"),
    "index_add_ of float64 into float32": (
        lambda: torch.zeros(3).index_add_(0, torch.tensor([0]),
                                          torch.ones(1, dtype=torch.float64)),
        "different dtypes"),
    "scatter_add_ of float64 into float32": (
        lambda: torch.zeros(3).scatter_add_(0, torch.tensor([0]),
                                            torch.ones(1, dtype=torch.float64)),
        "different dtypes"),
    "float64 assigned into float32 by index": (
        lambda: torch.zeros(3).__setitem__(torch.tensor([0]),
                                           torch.ones(1, dtype=torch.float64)),
        "different dtypes"),
    "a float added in place to a long tensor": (
        lambda: torch.zeros(3, dtype=torch.long).add_(torch.ones(3)), "integer array"),
    "a float added in place to an int array": (
        lambda: np.zeros(3, dtype=int).__iadd__(0.5), "integer array"),
    "torch matrices whose inner sizes differ": (
        lambda: torch.ones(3, 4) @ torch.ones(5, 2), "matrix product"),
    "batched torch matrices whose inner sizes differ": (
        lambda: torch.ones(2, 3, 4) @ torch.ones(2, 5, 2), "matrix product"),
    "NumPy matrices whose inner sizes differ": (
        lambda: np.ones((3, 4)) @ np.ones((5, 2)), "matrix product"),
    "np.dot of sizes that differ": (
        lambda: np.dot(np.ones((3, 4)), np.ones((5, 2))), "matrix product"),
    "torch.einsum of sizes that differ": (
        lambda: torch.einsum("ij,jk->ik", torch.ones(3, 4), torch.ones(5, 2)), "matrix product"),
    "a matrix product of a 0-d tensor": (
        lambda: torch.tensor(1.0) @ torch.ones(3), "matrix product"),
    "torch shapes that do not broadcast": (
        lambda: torch.ones(3, 4) + torch.ones(3), "broadcast"),
    "NumPy shapes that do not broadcast": (lambda: np.ones((3, 4)) + np.ones(3), "broadcast"),
    "expand to a size that does not fit": (
        lambda: torch.ones(3, 4).expand(2, 4), "broadcast"),
    "a NumPy += that would grow the array": (lambda: _iadd(np.zeros(3), np.ones((3, 3))),
                                              "did not fit where it was stored"),
    "a torch += that would grow the tensor": (lambda: _iadd(torch.zeros(3), torch.ones(3, 3)),
                                              "did not fit where it was stored"),
    "a row of another length stored in an array": (
        lambda: np.zeros((3, 3)).__setitem__(0, np.ones(4)), "did not fit where it was stored"),
    "values of another shape stored by index": (
        lambda: torch.zeros(3, 3).__setitem__(torch.tensor([0, 1, 2]), torch.ones(4)),
        "did not fit where it was stored"),
    "torch reshape to another size": (lambda: torch.ones(3, 4).reshape(5, 3), "reshape"),
    "NumPy reshape to another size": (lambda: np.ones(20).reshape(3, 4), "reshape"),
    "view after a transpose": (lambda: torch.ones(3, 4).t().view(12), "view() needs"),
    "torch.cat of pieces that differ": (
        lambda: torch.cat([torch.ones(3, 4), torch.ones(2, 3)], 1), "joined"),
    "torch.stack of pieces that differ": (
        lambda: torch.stack([torch.ones(3), torch.ones(4)]), "joined"),
    "np.concatenate of pieces that differ": (
        lambda: np.concatenate([np.ones((3, 4)), np.ones((2, 3))], axis=1), "joined"),
    "np.stack of pieces that differ": (
        lambda: np.stack([np.ones(3), np.ones(4)]), "joined"),
    "a torch dim the tensor lacks": (lambda: torch.ones(3, 4).sum(2), "axis (dim)"),
    "a NumPy axis the array lacks": (lambda: np.ones((3, 4)).sum(axis=2), "axis (dim)"),
    "a torch boolean mask of another shape as an index": (
        lambda: torch.ones(2, 3, 4)[torch.ones(2, 1, 4, dtype=torch.bool)], "boolean mask"),
    "a NumPy boolean mask of another shape as an index": (
        lambda: np.ones((3, 4))[np.ones(4, dtype=bool)], "boolean mask"),
    "a torch index past the end": (lambda: torch.ones(3)[torch.tensor([3])], "past the end"),
    "a NumPy index past the end": (lambda: np.ones(3)[3], "past the end"),
    "an index_select past the end": (
        lambda: torch.ones(3, 2).index_select(0, torch.tensor([5])), "past the end"),
    "index_add with ids of two axes": (
        lambda: torch.zeros(3, 2).index_add(0, torch.tensor([[0, 1]]), torch.ones(1, 2, 2)),
        "vector of ids"),
    "index_add with fewer ids than rows": (
        lambda: torch.zeros(3, 2).index_add(0, torch.tensor([0, 1]), torch.ones(3, 2)),
        "vector of ids"),
    "scatter_add with an index of fewer axes": (
        lambda: torch.zeros(3, 2).scatter_add(0, torch.tensor([0, 1]), torch.ones(2, 2)),
        "vector of ids"),
    "a float tensor as an index": (
        lambda: torch.ones(3)[torch.tensor([0.0, 1.0])], "was a float"),
    "a float array as an index": (lambda: np.ones(3)[np.array([0.0, 1.0])], "was a float"),
    "a float as an index": (lambda: np.ones(3)[1.0], "was a float"),
    "a float as a size": (lambda: np.zeros(3.0), "was a float"),  # type: ignore[call-overload]
    "a float as a torch size": (lambda: torch.zeros(3.0), "was a float"),  # type: ignore[call-overload]
    "a float as a range": (lambda: range(3.0), "was a float"),  # type: ignore[call-overload]
    "a float in a slice": (lambda: [1, 2][0:1.0], "was a float"),  # type: ignore[misc]
    "if on a tensor": (lambda: bool(torch.ones(3)), "truth value"),
    "if on an array": (lambda: bool(np.ones(3)), "truth value"),
    "float() of a tensor": (lambda: float(torch.ones(3)), "where one number is needed"),
    "math.exp of an array": (lambda: math.exp(np.ones(3)),  # type: ignore[arg-type]
                             "where one number is needed"),
    "an array as one element": (
        lambda: np.array([1.0, 2.0]).__setitem__(0, [1, 2]), "where one number is needed"),
    "mean of a long tensor": (lambda: torch.tensor([1, 2]).mean(), "integer array"),
    "softmax of a long tensor": (
        lambda: torch.softmax(torch.tensor([1, 2]), -1), "integer array"),
    "an integer to a negative power": (lambda: np.array([2]) ** -1, "integer array"),
    "a float tensor as a mask": (
        lambda: torch.zeros(3).masked_fill(torch.ones(3), 0.0), "boolean tensor"),
    "a float tensor as where's condition": (
        lambda: torch.where(torch.ones(3), torch.ones(3), torch.zeros(3)), "boolean tensor"),
    "an input changed in place": (
        lambda: torch.ones(3, requires_grad=True).mul_(2), "changed an input in place"),
    "a tensor through NumPy": (
        lambda: np.exp(torch.ones(3, requires_grad=True)), "went through NumPy"),
    "a NumPy array to a torch function": (
        lambda: torch.exp(np.ones(3)), "given a NumPy array"),  # type: ignore[arg-type]
    "a string array times a number": (
        lambda: np.array(["1", "2"]) * np.ones(2, dtype=bool), "cannot compute with"),
    "np.exp of an array holding None": (
        lambda: np.exp(np.array([None, 1.0])), "cannot compute with"),
    "a NumPy array times a tensor": (lambda: np.ones(2) @ torch.ones(2), "NumPy array and a torch"),
    "a helper's two outputs taken as three": (
        lambda: [a for a, b, c in [(1, 2)]], "takes several values apart"),
    "a matrix product with a 0-d operand": (
        lambda: np.array(None) @ np.ones(2), "matrix product"),
    "astype on a tensor": (lambda: torch.ones(2).astype(float), "NumPy name"),
    "a NumPy dtype for a tensor": (
        lambda: torch.zeros(2, dtype=np.float64), "NumPy name"),  # type: ignore[call-overload]
    "unsqueeze on an array": (lambda: np.ones(2).unsqueeze(0), "torch name"),
    "dim= for a NumPy sum": (lambda: np.ones((2, 2)).sum(dim=1), "torch name"),
    "keepdim= for a NumPy max": (lambda: np.ones((2, 2)).max(axis=1, keepdim=True), "torch name"),
    "the shape of a list": (lambda: [1, 2].shape, "list, tuple or number"),  # type: ignore[attr-defined]
    "a loop over a number": (lambda: [t for t in 3], "single number"),  # type: ignore[attr-defined]
    "an index into a number": (lambda: _three()[0], "single number"),
    "len of a number": (lambda: len(3.0), "single number"),  # type: ignore[arg-type]
    # past any address space, so that no machine can give it: an error everywhere
    "a NumPy array past memory": (lambda: np.zeros((10**8, 10**8)), "larger than the memory"),
    "a tensor past memory": (lambda: torch.empty((10**8, 10**8)), "larger than the memory"),
    "an inverse of a singular matrix": (
        lambda: np.linalg.inv(np.zeros((2, 2))), "singular"),
    "~ of an optional mask left out": (lambda: ~_none(), "None"),  # type: ignore[operator]
    "an array times None": (lambda: np.ones(2) * _none(), "None"),
    "a helper that returned nothing, indexed": (lambda: _none()[0], "None"),
    "a helper that returned nothing, unpacked": (lambda: [a for a, b in [_none()]], "None"),
    "None to a torch function": (lambda: torch.exp(_none()), "None"),
}


@pytest.mark.parametrize("name", LIBRARY_ERRORS)
def test_each_library_error_is_told_what_it_means(name: str) -> None:
    make, phrase = LIBRARY_ERRORS[name]
    said = library_errors.hint(_raised(make))
    assert phrase in said, (name, _raised(make), said)


def test_the_hint_is_a_fixed_text_that_carries_nothing_of_the_message() -> None:
    """A hidden test's copy shows the hint where it withholds the message: the hint is one of a
    few fixed texts, the same whatever sizes, dtypes or indices the message names."""
    texts = set()
    for make, _ in LIBRARY_ERRORS.values():
        message = _raised(make)
        said = library_errors.hint(message)
        texts.add(said)
        assert library_errors.hint(message + " 31337 secret") == said
        assert "31337" not in said and "secret" not in said
    assert len(texts) >= 15
    resized = _raised(lambda: np.ones(1234567).reshape(3, 4))
    assert "1234567" in resized and "1234567" not in library_errors.hint(resized)


@pytest.mark.parametrize("message", [
    "my own check failed", "division by zero", "", "unhashable type: 'numpy.ndarray'",
    "'Tensor' object has no attribute 'sofmax'", "'numpy.ndarray' object has no attribute 'sume'",
    "x must be positive, got -3", "\nmat1 and mat2 shapes cannot be multiplied (3x4 and 5x2)",
])
def test_other_messages_get_no_hint(message: str) -> None:
    """The student's own errors, Python's plain ones, and a library's words that do not begin
    the message's first line are told as they are."""
    assert library_errors.hint(message) == ""


def test_a_stub_raises_and_a_library_is_called() -> None:
    assert stub_raised("raise NotImplementedError")
    assert stub_raised("    raise NotImplementedError('write softmax')  # TODO")
    assert stub_raised(None) and stub_raised("")
    assert not stub_raised("weights = torch.softmax(scores.long(), dim=-1)")
    assert not stub_raised("return tz.utcoffset(None)")



def test_a_hidden_tests_copy_withholds_the_librarys_words_and_says_what_they_mean(
        toy_engine, tmp_path: Path) -> None:
    graded, shown = scale_graded(toy_engine, tmp_path, (
        "def scale(x, c):\n"
        "    return c * x.reshape(x.size + 1)\n"))
    assert "scale raised ValueError: cannot reshape array of size" in graded.message, graded
    assert "  Hint: a reshape asked for another number of elements than the array holds" \
        in graded.message
    # The size, a hidden input's, is withheld; the hint and the line are shown.
    assert "cannot reshape" not in shown.message and "of size" not in shown.message, shown.message
    assert shown.message.startswith("scale raised ValueError (the message of the exception your "
                                    "code raised is not shown for hidden tests"), shown.message
    assert "\n  Hint: a reshape asked for another number of elements than the array holds" \
        in shown.message, shown.message
    body = REFERENCE.splitlines().index("def scale(x, c):") + 2  # the line that raised
    assert shown.message.endswith(f"in your code:\n  toy.py, line {body}"), shown.message
    hint = library_errors.hint("cannot reshape array of size 7 into shape (8,)")
    assert shown.message.count("Hint:") == 1 and f"  Hint: {hint}\n" in shown.message


def test_a_student_exception_is_not_given_a_librarys_hint(toy_engine, tmp_path: Path) -> None:
    graded, shown = scale_graded(toy_engine, tmp_path, (
        "def scale(x, c):\n"
        "    raise ValueError(f'scale of {x.size} values is not done yet')\n"))
    assert "Hint" not in graded.message and "Hint" not in shown.message, shown.message


def test_a_not_implemented_error_a_library_raised_is_no_stub(toy_engine, tmp_path: Path) -> None:
    """datetime.tzinfo's utcoffset raises NotImplementedError, as torch does for an operation
    a dtype lacks: the student wrote the function, which has an error, and is not told that it
    is not implemented."""
    graded, shown = scale_graded(toy_engine, tmp_path, (
        "import datetime\n"
        "def scale(x, c):\n"
        "    datetime.tzinfo().utcoffset(None)\n"
        "    return c * x\n"))
    assert graded.message.startswith("scale raised NotImplementedError: a tzinfo subclass must "
                                      "implement utcoffset()"), graded.message
    assert "not_implemented" not in graded.flags and "student_exception" in graded.flags
    graded, _ = scale_graded(toy_engine, tmp_path / "stub", (
        "def scale(x, c):\n"
        "    raise NotImplementedError\n"))
    assert graded.message == "scale: not implemented" and "not_implemented" in graded.flags


def test_the_name_of_an_exception_numpy_raises_is_not_withheld(toy_engine, tmp_path: Path) -> None:
    """AxisError, UFuncTypeError, LinAlgError: the libraries' names, not the student's to
    choose, so a hidden test's copy shows them with the hint."""
    graded, shown = scale_graded(toy_engine, tmp_path, (
        "def scale(x, c):\n"
        "    return c * x.sum(axis=x.ndim + 1)\n"))
    assert graded.message.startswith("scale raised AxisError: axis "), graded.message
    assert shown.message.startswith("scale raised AxisError (the message"), shown.message
    assert "\n  Hint: an axis (dim) was named that the array does not have" in shown.message


def test_a_library_error_while_the_module_is_imported_is_told_too(
        toy_engine, tmp_path: Path) -> None:
    result = grade_toy(toy_engine, tmp_path, REFERENCE + "\nSCALES = np.zeros((2.5, 2))\n")
    graded = next(t for t in result.tests if t.name == "test_scale")
    assert "toy.py raised TypeError while being imported: " in graded.message, graded.message
    assert "\n  Hint: an index or a size was a float" in graded.message, graded.message



def test_a_key_error_is_told_by_its_type(toy_engine, tmp_path: Path) -> None:
    """A KeyError's text is only the key, which a hidden test's copy withholds: its type says
    what happened (optimizers' state starts as {})."""
    assert "a dict was read at a key it does not hold" in library_errors.hint("'v'", "KeyError")
    assert library_errors.hint("'v'") == "" and library_errors.hint("'v'", "ValueError") == ""
    graded, shown = scale_graded(toy_engine, tmp_path, (
        "def scale(x, c, state={}):\n"
        "    return state['c'] * x\n"))
    # The key is the module's own word ('c'), so it shows; the hint says what it means.
    assert shown.message.startswith("scale raised KeyError: 'c'\n"), shown.message
    assert "\n  Hint: a dict was read at a key it does not hold: one your code reads before " \
        "anything was stored there (a state that starts as {} on the first call)" in shown.message
    graded, shown = scale_graded(toy_engine, tmp_path / "built", (
        "def scale(x, c, state={}):\n"
        "    return state[f'v{x.size}'] * x\n"))
    assert shown.message.startswith("scale raised KeyError (the message"), shown.message
    assert "\n  Hint: a dict was read at a key it does not hold" in shown.message
