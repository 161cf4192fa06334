"""A module whose syntax a newer Python accepts than the one grading runs: told which versions,
and what to write instead, rather than only "has a syntax error"."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import pytest

from grader.grading import newer_syntax
from grader.grading.engine import Options

TOY = (Path(__file__).resolve().parent / "fixtures" / "course" / "reference" / "toy" /
       "solution.py").read_text()


def _as_311_writes_it(line: str, said: str) -> str:
    return (f'  File "/w/student/toy.py", line 7\n    {line}\n    ^^^\n'
            f"SyntaxError: {said}\n")


@pytest.mark.parametrize("line, said, told", [
    ('NOTE = f"eps {CFG["eps"]}"', "f-string: unmatched '['", "use the other kind of quotes"),
    ('x = f"{"a"}"', "f-string: expecting '}'", "use the other kind of quotes"),
    ('x = f"{"\\n".join(a)}"', "f-string expression part cannot include a backslash",
     "no backslash or comment"),
    ("type Vector = list[float]", "invalid syntax", "write the alias as an assignment"),
    ("type Pair[T] = tuple[T, T]", "invalid syntax", "write the alias as an assignment"),
    ("def first[T](xs: list[T]) -> T:", "expected '('", "leave out the [T] after the name"),
    ("class Box[T]:", "invalid syntax", "leave out the [T] after the name"),
])
def test_312_syntax_is_told_as_such_where_grading_runs_311(line: str, said: str, told: str) -> None:
    text = newer_syntax.hint(_as_311_writes_it(line, said), (3, 11))
    assert text.startswith("Python 3.12 and newer accept this line; grading runs Python 3.11, "
                           "which does not"), text
    assert told in text
    assert newer_syntax.hint(_as_311_writes_it(line, said), (3, 12)) == ""


def test_314_unparenthesised_except_is_told_up_to_313() -> None:
    tb = _as_311_writes_it("except ValueError, TypeError:",
                           "multiple exception types must be parenthesized")
    assert "Python 3.14 and newer accept this line; grading runs Python 3.13" in \
        newer_syntax.hint(tb, (3, 13))
    assert newer_syntax.hint(tb, (3, 14)) == ""


@pytest.mark.parametrize("line, said", [
    ("def f(x)", "expected ':'"),
    ('x = f"{}"', "f-string: empty expression not allowed"),
    ("typed = 3 +", "invalid syntax"),  # "type" inside a name
    ("x = [1, 2", "'[' was never closed"),
])
def test_other_syntax_errors_get_no_such_hint(line: str, said: str) -> None:
    assert newer_syntax.hint(_as_311_writes_it(line, said), (3, 11)) == ""


def test_the_hint_reads_what_this_python_writes(tmp_path: Path) -> None:
    """This Python's own traceback of such a line: where it refuses the line, the hint says
    so with this version; where it accepts it, there is nothing to tell."""
    source = 'D = {"k": 1}\nNOTE = f"{D["k"]}"\n'
    try:
        compile(source, str(tmp_path / "toy.py"), "exec")
    except SyntaxError as exc:
        tb = "".join(traceback.format_exception_only(type(exc), exc))
        assert sys.version_info < (3, 12)
        assert newer_syntax.hint(tb).startswith(
            f"Python 3.12 and newer accept this line; grading runs Python "
            f"{sys.version_info[0]}.{sys.version_info[1]}"), tb
    else:
        assert sys.version_info >= (3, 12)


def test_grading_tells_it_beside_pythons_words(toy_engine, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "toy.py").write_text(TOY + '\nD = {"k": 1}\nNOTE = f"{D["k"]}"\n')
    result = toy_engine.grade(sub, tmp_path / "out", Options(topics=("toy",)))
    t = next(t for t in result.tests if t.topic == "toy")
    if sys.version_info < (3, 12):
        assert t.message.startswith("toy.py has a syntax error\n  Hint: Python 3.12 and newer "
                                    "accept this line"), t.message
        assert "SyntaxError: f-string" in t.message
    else:
        assert result.topic("toy").score == result.topic("toy").max_score
