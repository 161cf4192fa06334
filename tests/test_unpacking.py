"""A test that takes several outputs from one call of a function that returned no tuple: an
array unpacks into its rows without an error, and the test then blamed the first row for being
no array ("you returned a NumPy float64 scalar"). Said at the call instead, in grading and in
the check, from what the calling test does with the value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.checks import unpacking
from grader.grading.engine import Options

TOY = (Path(__file__).resolve().parent / "fixtures" / "course" / "reference" / "toy" /
       "solution.py").read_text()
CACHE = '    return 2 * x, {"x": x.copy()}'


def _graded(engine, tmp_path: Path, source: str):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "toy.py").write_text(source)
    result = engine.grade(sub, tmp_path / "out", Options(topics=("toy",)))
    return next(t for t in result.tests if t.name == "test_cache_roundtrip")


@pytest.mark.parametrize("returned, shown", [
    ("np.stack([2 * x, x])", "a NumPy array of shape (2, 5) and dtype float64"),  # unpacks quietly
    ("2 * x", "a NumPy array of shape (5,) and dtype float64"),  # too many values to unpack
    ('{"out": 2 * x, "x": x}', "a dict with keys 'out', 'x'"),  # unpacks into its keys
])
def test_grading_says_the_function_returned_no_tuple_of_the_outputs_the_test_takes(
        toy_engine, tmp_path: Path, returned: str, shown: str) -> None:
    assert CACHE in TOY
    t = _graded(toy_engine, tmp_path, TOY.replace(CACHE, f"    return {returned}"))
    assert t.outcome == "failed"
    assert t.message.startswith(f"make_cache returned {shown}, not a tuple of 2 outputs: the test "
                                "takes 2 outputs from what make_cache returns"), t.message
    assert "as a tuple (`return a, b`)" in t.message


@pytest.mark.parametrize("returned, count", [
    ("(2 * x,)", "1 output"), ('2 * x, {"x": x.copy()}, x', "3 outputs")])
def test_grading_says_the_function_returned_another_number_of_outputs(
        toy_engine, tmp_path: Path, returned: str, count: str) -> None:
    """Python's "not enough values to unpack" would stand in the test's own line: said at the
    call instead, in the grader's words."""
    t = _graded(toy_engine, tmp_path, TOY.replace(CACHE, f"    return {returned}"))
    assert t.outcome == "failed"
    assert t.message.startswith(f"make_cache returned {count}, not 2: the test takes 2 outputs "
                                "from what make_cache returns. Return all 2 outputs the "
                                "statement gives, in its order, as a tuple (`return a, b`)"), \
        t.message


def test_a_test_that_takes_the_outputs_apart_itself_says_the_same() -> None:
    """assert_outputs, for a test that checks the outputs before it uses them (the backward
    passes of backprop, batchnorm and conv), in the same words, with the statement's names."""
    from grader.checks import assert_outputs

    assert assert_outputs([1, 2, 3], ("dx", "dW", "db"), "affine_backward") == (1, 2, 3)
    with pytest.raises(AssertionError) as one:
        assert_outputs((np.zeros(2),), ("out", "cache"), "affine_forward")
    assert str(one.value).startswith("affine_forward returned 1 output, not 2 (out, cache): the "
                                     "test takes 2 outputs"), one.value
    with pytest.raises(AssertionError) as array:
        assert_outputs(np.zeros((3, 4)), ("dx", "dW", "db"), "affine_backward")
    assert str(array.value).startswith("affine_backward returned a NumPy array of shape (3, 4) "
                                       "and dtype float64, not a tuple of 3 outputs: the "
                                       "test takes 3 outputs"), array.value


def test_a_tuple_or_a_list_of_the_outputs_is_left_to_the_test(toy_engine, tmp_path: Path) -> None:
    t = _graded(toy_engine, tmp_path, TOY.replace(CACHE, '    return [2 * x, {"x": x.copy()}]'))
    assert t.outcome == "passed", t.message




# A proxy of its own module, as grading's and the check's are: the check skips their frames.
_PROXY: dict = {"__name__": "fake_proxy", "unpacking": unpacking}
exec("def call(value):\n    unpacking.check_outputs('f', value)\n    return value\n", _PROXY)


def test_a_value_kept_whole_or_unpacked_from_a_tuple_is_not_checked(monkeypatch) -> None:
    monkeypatch.setattr(unpacking, "_PROXY_MODULES", (*unpacking._PROXY_MODULES, "fake_proxy"))
    call = _PROXY["call"]
    kept = call(np.zeros((2, 3)))  # one output, kept whole
    a, b = call((1, 2))
    assert kept.shape == (2, 3) and (a, b) == (1, 2)
    from collections import namedtuple

    w, state = call(namedtuple("Step", "w state")(np.zeros(2), {}))  # a tuple all the same
    assert state == {}
    with pytest.raises(AssertionError, match="f returned a NumPy array of shape \\(2, 3\\)"):
        a, b = call(np.zeros((2, 3)))
    with pytest.raises(AssertionError, match="not a tuple of 3 outputs"):
        a, b, c = call("abc")
    with pytest.raises(AssertionError, match="f returned 2 outputs, not 3"):
        a, b, c = call((1, 2))
    with pytest.raises(ValueError, match="not enough values to unpack"):
        a, b, c = call([1, 2])  # a list may be data: Python says it
