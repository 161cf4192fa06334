"""What a student reads when the call itself failed, before any line of their function ran: a
function missing from their module, parameters that are not the statement's, a wrapper (a
decorator) that refuses the arguments. A hidden test's copy withholds the student's words but
still says what went wrong, in the grader's own words, and never garbles them."""

from __future__ import annotations

from pathlib import Path

from grader.results.visibility import WITHHELD_TEXT
from toy_grading import REFERENCE, SCALE, failed_hidden, grade_toy


def test_a_missing_function_is_named_with_the_statements_parameters_even_in_a_hidden_test(
        toy_engine, tmp_path: Path) -> None:
    graded, shown = failed_hidden(grade_toy(toy_engine, tmp_path, REFERENCE.replace(SCALE, "")))
    said = ("there is no function scale at the top level of the module you handed in: define "
            "scale(x, c), as the statement gives it")
    assert graded.message == said and shown.message == said, shown.message
    assert "student_exception" not in graded.flags


def test_a_value_in_place_of_the_function_is_told_as_missing_too(
        toy_engine, tmp_path: Path) -> None:
    graded, _ = failed_hidden(grade_toy(toy_engine, tmp_path, REFERENCE.replace(SCALE, "scale = 3.0\n")))
    assert graded.message.startswith("there is no function scale at the top level"), graded


def test_parameters_that_are_not_the_statements_are_told_so(toy_engine, tmp_path: Path) -> None:
    result = grade_toy(toy_engine, tmp_path, REFERENCE.replace(
        "def scale(x, c):", "def scale(x, c, verbose):"))
    graded, shown = failed_hidden(result)
    assert graded.message.startswith(
        "scale raised TypeError: scale() missing 1 required positional argument: 'verbose'\n"
        "  Hint: the call did not fit scale's parameters, so none of its lines ran: keep the "
        "parameters the statement gives it, scale(x, c)"), graded.message
    # The student's words are withheld in a hidden test, and the grader's are whole.
    assert shown.message.startswith("scale raised TypeError (the message of the exception is "
                                    "not shown"), shown.message
    assert "no line of your module had run, so the call itself raised it; check that scale " \
        "takes the parameters the statement gives it" in shown.message, shown.message
    assert "verbose" not in shown.message and WITHHELD_TEXT not in shown.message


def test_a_decorator_that_refuses_the_arguments_gets_no_parameters_hint(
        toy_engine, tmp_path: Path) -> None:
    """functools.lru_cache cannot hash an array: the call raised before the function ran, but
    the parameters are right; Python's words say what happened."""
    result = grade_toy(toy_engine, tmp_path, "import functools\n" + REFERENCE.replace(
        "def scale(x, c):", "@functools.lru_cache\ndef scale(x, c):"))
    graded, shown = failed_hidden(result)
    assert graded.message == "scale raised TypeError: unhashable type: 'numpy.ndarray'", graded
    # Python's words show (a NumPy type's name is public), with where the call raised it.
    assert shown.message.startswith("scale raised TypeError: unhashable type: 'numpy.ndarray' "
                                    "(no line of your module had run"), shown.message
    assert "such as a decorator" in shown.message


def test_a_message_that_begins_with_the_functions_name_leaves_it_named(
        toy_engine, tmp_path: Path) -> None:
    """Withholding the student's words no longer cuts the grader's: the function's name (the
    test's own) and the places stay, where the message quoted the name first."""
    result = grade_toy(toy_engine, tmp_path, REFERENCE.replace(
        "    return c * x  # (n,)", "    raise ValueError(f'scale got {x}')"))
    _, shown = failed_hidden(result)
    assert shown.message.startswith("scale raised ValueError (the message of the exception your "
                                    "code raised is not shown"), shown.message
    assert "toy.py, line" in shown.message and WITHHELD_TEXT not in shown.message
