"""A gradient the exercise asks to be worked out by hand, taken instead by finite differences (each
entry nudged, the forward pass run again), is right at the small sizes of the hidden tests; each
such gradient is also asked for at a size where that cannot finish in time, and the student reads
why. Where cost cannot tell the two apart, the gradient is held to the exact one to rounding
instead (``grader.checks.expect_worked_out``), which differences never reach. The topics' own
mutants (``reference/<topic>/mutants/finite_differences.py``) lose points with those messages in
``tests/test_topics.py``; here, the mechanisms and that no topic is left out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader.checks import beyond_differences
from grader.course import Course
from grader.grading.plugin import explain
from grader.grading.remote import WorkerTimeout
from grader.results.model import Outcome

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)

# Topics whose exercise is a gradient by hand, where cost cannot tell differences from the chain
# rule: the parameters are few (linear and logistic regression's d weights, each pass of the loss
# over n·d, so at any size a test can send differences cost only some d times as much, not beyond
# the time limit with a margin), or the derivative is elementwise (the activations', and each
# elementwise op's in the autograd engine's backward: differences of the whole array at once take
# two passes in all). Their gradients are held to rounding.
BY_PRECISION = {"linear_regression", "logistic_regression", "activations", "autograd"}


# NumPy topics (torch banned altogether, so no autograd to take away) whose exercise returns
# gradients worked out by hand all the same, each entry of which differences would pay a pass for.
# Not here: those of BY_PRECISION; conv's pooling is, its convolution not (element-by-element
# loops cost too near what differences do).
NUMPY_GRADIENTS = ["conv", "embeddings"]


def _hand_gradient_topics() -> list[str]:
    """Topics that take autograd away because the exercise is the gradient (their grading.toml's
    ``capabilities = ["autograd"]``), and ``NUMPY_GRADIENTS``."""
    return [t for t in COURSE.topics()
            if "autograd" in COURSE.config(t).banned_capabilities or t in NUMPY_GRADIENTS]


def test_a_timeout_inside_says_what_differences_cost() -> None:
    with pytest.raises(WorkerTimeout) as info:
        with beyond_differences("W", 262_144):
            raise WorkerTimeout("affine_backward did not finish within the time limit", 10.0)
    outcome, message, _ = explain(info.value, "affine_backward", 10.0)
    assert outcome == Outcome.TIMEOUT
    assert message.startswith("affine_backward did not finish within 10 s: here W has 262,144 "
                              "entries")
    assert "524,288 forward passes" in message and "Work the gradient out by hand" in message
    assert "Python loops over every element" in message  # slow honest code reads its cause too
    assert "infinite loop" not in message


def test_a_timeout_elsewhere_keeps_its_own_words() -> None:
    outcome, message, _ = explain(WorkerTimeout("scale did not finish", 2.0), "scale", 2.0)
    assert outcome == Outcome.TIMEOUT
    assert message == ("scale did not finish within 2 s: look for an infinite loop or a "
                       "computation far slower than it needs to be")


def test_only_a_timeout_is_explained_by_what_differences_cost() -> None:
    with pytest.raises(AssertionError) as failed:
        with beyond_differences("x", 10):
            raise AssertionError("dx: 3 of 10 values differ")
    assert not hasattr(failed.value, "hint")
    with pytest.raises(WorkerTimeout) as info:  # a hint set nearer the call stays
        with beyond_differences("x", 10):
            exc = WorkerTimeout("relu_backward did not finish", 1.0)
            exc.hint = "its own words"
            raise exc
    assert info.value.hint == "its own words"


@pytest.mark.parametrize("topic", _hand_gradient_topics())
def test_every_hand_gradient_topic_asks_for_its_gradient_beyond_differences(topic: str) -> None:
    hidden = COURSE.hidden_tests(topic)
    assert hidden is not None
    uses = re.findall(r"with beyond_differences\(", hidden.read_text())
    mutant = ROOT / "reference" / topic / "mutants" / "finite_differences.py"
    if topic in BY_PRECISION:
        assert not uses, f"{topic}: drop it from BY_PRECISION"
        return
    assert uses, (f"{topic}'s exercise is a gradient by hand: ask for it once at a size where "
                  "finite differences cannot finish (grader.checks.beyond_differences)")
    assert mutant.is_file(), f"{topic} needs a finite_differences mutant that loses those points"


@pytest.mark.parametrize("topic", sorted(BY_PRECISION))
def test_every_gradient_that_cost_cannot_judge_is_held_to_rounding(topic: str) -> None:
    hidden = COURSE.hidden_tests(topic)
    assert hidden is not None
    assert re.search(r"\b(expect|assert)_worked_out\(", hidden.read_text()), (
        f"{topic}: compare its gradients with grader.checks.expect_worked_out (or "
        "assert_worked_out), which holds them to rounding, where finite differences cannot follow")
    mutant = ROOT / "reference" / topic / "mutants" / "finite_differences.py"
    assert mutant.is_file(), f"{topic} needs a finite_differences mutant that loses those points"


def test_a_wrong_gradient_at_scale_is_explained_within_the_tests_limit(engine,
                                                                      tmp_path: Path) -> None:
    """Where a failing check at scale looks for the classic mistake among the topic's mutants
    (the L2 penalty's: its inputs are the test's own), the mutant of finite differences (minutes
    at this size) is given up after a second or so: the failure names the mistake, and the test
    ends within its limit, not at the watchdog's (the limit and half of it again)."""
    from grader.grading.engine import Options

    topic, test = "regularization", "test_l2_penalty_gradient_at_scale"
    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / f"{topic}.py").write_text(
        (ROOT / "reference" / topic / "mutants" / "l2_without_half.py").read_text())
    result = engine.grade(sub, tmp_path / "out", Options(topics=(topic,), seed=20261121))
    assert not result.error, result.error
    t = next(t for t in result.tests if t.name == test)
    assert t.outcome == "failed", (t.outcome, t.message)
    assert "classic mistake: l2_penalty returns lam·‖w‖² (no ½)" in t.message, t.message
    limit = COURSE.config(topic).timeout
    assert t.duration < limit, f"{test} took {t.duration:.1f} s of its {limit:g} s"
