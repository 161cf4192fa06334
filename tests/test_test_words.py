"""A hidden test's copy withholds the strings the student's code sent, wherever they stand in
the message; the test's own words are not among them, even where the student's code sent the
same string (the keys the statement names, grads["W1"]): a failed check carries them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.checks import CheckFailed, assert_close, check_gradient
from grader.grading.engine import Options
from grader.results.visibility import student_view
from toy_grading import FIX, REFERENCE


def test_a_failed_check_carries_the_tests_own_words() -> None:
    with pytest.raises(CheckFailed) as err:
        assert_close({"W1": np.ones(2), "b1": np.ones(1)}, {"W1": np.zeros(2), "b1": np.ones(1)},
                     name="mlp_loss → grads")
    assert {"W1", "b1", "mlp_loss", "grads"} <= err.value.words
    with pytest.raises(CheckFailed) as err:
        check_gradient(np.zeros(3), lambda xs: [float(np.sum(x)) for x in xs], np.ones(2),
                       name="affine_backward → dW", wrt="W", expected=lambda x: 0.0)
    assert {"affine_backward", "dW", "W"} <= err.value.words, err.value.words



_DICT_TEST = '''

def test_grads(student, reference, rng):
    from grader.checks import assert_close

    x = rng.normal(size=3)
    assert_close(student.grads(x), {"W1": 2 * x, "b1": x[:1]}, name="grads(x)")
'''


def test_a_hidden_tests_copy_shows_the_tests_own_words_the_student_also_sent(
        tmp_path: Path) -> None:
    """grads["W1"]: the key is the test's (the expected dict's), and the student's code sent
    "W1" too, as the statement asks; the copy shows it, and withholds what only the student's
    code chose at run time (a key spelt from an input)."""
    import shutil

    from grader.course import Course
    from grader.grading.engine import Engine

    root = tmp_path / "course"
    shutil.copytree(FIX, root)
    hidden = root / "reference" / "toy" / "test_hidden.py"
    hidden.write_text(hidden.read_text() + _DICT_TEST)
    shown = {}
    with Engine(Course(root)) as engine:
        for name, returned in (("same", "{'W1': x, 'b1': x[:1]}"),
                               ("own", "{'W1': 2 * x, 'b1': x[:1], f'secret_{x.size}': x}")):
            sub = tmp_path / name
            sub.mkdir()
            (sub / "toy.py").write_text(REFERENCE + f"\n\ndef grads(x):\n    return {returned}\n")
            result = engine.grade(sub, tmp_path / f"out-{name}", Options(topics=("toy",)))
            graded = next(t for t in result.tests if t.name == "test_grads")
            assert graded.kind == "hidden" and graded.outcome == "failed", graded
            shown[name] = next(t for t in student_view(result).result.tests
                               if t.name == "test_grads").message
    assert shown["same"].startswith('grads(x)["W1"]: '), shown
    assert shown["own"] == "grads(x): unexpected key '(withheld)'", shown
