"""What a student reads of a RecursionError: the function, or the cycle of functions, that led
back into itself and the line that did, from tracebacks Python itself wrote."""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from grader.results import recursion


def _traceback_of(source: str, call: str, tmp_path: Path, keep: int = 4000) -> str:
    """The traceback, as the worker keeps it (its last ``keep`` characters), of ``call`` in a
    module made of ``source``."""
    path = tmp_path / "student.py"
    path.write_text(source)
    namespace: dict = {}
    exec(compile(source, str(path), "exec"), namespace)
    try:
        eval(call, namespace)
    except RecursionError as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        return "".join(traceback.format_list(frames))[-keep:]
    raise AssertionError(f"{call} raised no RecursionError")


SELF = """
def count(node):
    return 1 + count(node)
"""
OPERATOR = """
class Tensor:
    def __rsub__(self, other):
        return other - self
"""
EACH_OTHER = """
def even(n):
    return n == 0 or odd(n - 1)


def odd(n):
    return n != 0 and even(n - 1)
"""


def test_a_function_that_calls_itself_is_named_with_its_line(tmp_path: Path) -> None:
    text = recursion.hint(_traceback_of(SELF, "count(None)", tmp_path))
    assert text.startswith("count calls itself over and over: line 3 (`return 1 + count(node)`) "
                           "leads back into count, until Python stops"), text
    assert "write that walk as a loop" in text


def test_an_operator_that_leads_back_into_itself_is_said_to_be_one(tmp_path: Path) -> None:
    text = recursion.hint(_traceback_of(OPERATOR, "2.0 - Tensor()", tmp_path))
    assert text.startswith("__rsub__ calls itself over and over: line 4 (`return other - self`) "
                           "leads back into __rsub__ (__rsub__ is what Python calls for an "
                           "operator"), text


@pytest.mark.parametrize("keep", [4000, 1500])
def test_functions_that_call_each_other_are_named_in_their_order(tmp_path: Path,
                                                                keep: int) -> None:
    """Python writes such a cycle out in full; the worker keeps the traceback's end only."""
    tb = _traceback_of(EACH_OTHER, "even(10**6)", tmp_path, keep)
    assert "Previous line repeated" not in tb
    text = recursion.hint(tb)
    assert re.match(r"(even and odd|odd and even) call each other over and over "
                    r"\((even → odd → even|odd → even → odd)\): line \d of (even|odd) \(`", text), \
        text


@pytest.mark.parametrize("tb", [
    "",
    '  File "student.py", line 3, in f\n    g()\n  File "student.py", line 9, in g\n    h()\n',
    'e.py", line 3, in f\n    g()\n',  # a frame cut by the worker's limit
])
def test_a_traceback_without_a_cycle_gets_no_hint(tb: str) -> None:
    assert recursion.hint(tb) == ""


@pytest.mark.parametrize(("places", "said"), [
    (["toy.py, line 2", "toy.py, line 9", "toy.py, line 9", "toy.py, line 9"],
     "your traceback ends in the same line over and over (toy.py, line 9)"),
    (["toy.py, line 2"] + ["toy.py, line 5", "toy.py, line 8"] * 3,
     "your traceback ends in the same 2 lines over and over (toy.py, line 5 → toy.py, line 8)"),
    (["toy.py, line 2", "toy.py, line 9"], ""),
])
def test_a_hidden_tests_hint_says_only_where(places: list[str], said: str) -> None:
    text = recursion.hint_by_place(places)
    assert text.startswith(said) if said else text == ""


def test_a_cycle_is_the_shortest_run_the_end_repeats_three_times() -> None:
    cycle: Callable = recursion.cycle
    assert cycle([1, 2, 2, 2]) == [2]
    assert cycle([1, 2, 3, 2, 3, 2, 3]) == [2, 3]
    assert cycle([2, 3, 2, 3]) == []
    assert cycle([1, 2, 2, 2, 5]) == [2]  # the call that met the limit is another line
    assert cycle([2, 2, 2, *range(3, 3 + recursion.LONGEST + 1)]) == []
    assert cycle([]) == []
