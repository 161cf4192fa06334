"""One mistake, charged once, with a message that names it: real code graded by the hidden tests.

Each case is a classic mistake (a mutant, or a known piece of course or textbook code) graded on
several seeds: it must fail exactly the tests listed, whatever the seed, and the failure must
say what is wrong rather than what a generic hint guesses.
"""

from __future__ import annotations

import re
from pathlib import Path


from grader.course import Course
from grader.grading.engine import Options

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
SEEDS = (20261121, 7, 424242)


def _grade(engine, topic: str, source: str, tmp_path: Path, seed: int):
    sub = tmp_path / f"submission-{seed}"
    sub.mkdir()
    (sub / f"{topic}.py").write_text(source)
    result = engine.grade(sub, tmp_path / f"out-{seed}", Options(topics=(topic,), seed=seed))
    assert not result.error, result.error
    return result


def _failed(result) -> dict[str, str]:
    return {t.name: t.message for t in result.tests if t.outcome != "passed"}


def _mutant(topic: str, name: str) -> str:
    return (ROOT / "reference" / topic / "mutants" / f"{name}.py").read_text()


def _solution_with(topic: str, old: str, new: str) -> str:
    source = COURSE.solution(topic).read_text()
    assert old in source, f"{old!r} is not in the {topic} solution"
    return source.replace(old, new)


def _check(engine, tmp_path: Path, topic: str, source: str, fails: set[str],
           says: str, never: tuple[str, ...] = ()) -> None:
    for seed in SEEDS:
        failed = _failed(_grade(engine, topic, source, tmp_path, seed))
        assert set(failed) == fails, f"seed {seed}: failed {sorted(failed)}, expected {sorted(fails)}"
        text = "\n".join(failed.values())
        assert re.search(says, text, re.IGNORECASE), f"seed {seed}: no {says!r} in\n{text}"
        for phrase in never:
            assert phrase not in text, f"seed {seed}: {phrase!r} in\n{text}"


# ------------------------------------------------------------------------- conventions, once


def test_dropout_that_drops_ties_loses_only_the_tie_test(engine, tmp_path: Path) -> None:
    # d2l's dropout keeps u > p: right everywhere except at u == p.
    _check(engine, tmp_path, "regularization", _mutant("regularization", "dropout_strict_inequality"),
           {"test_dropout_forward_u_equal_to_p_is_kept"},
           says=r"u == p.*u >= p", never=("all zeros", "still missing"))


def test_relu_grad_of_one_at_zero_loses_only_the_test_at_zero(engine, tmp_path: Path) -> None:
    _check(engine, tmp_path, "activations", _mutant("activations", "relu_grad_one_at_zero"),
           {"test_relu_derivative_at_zero"}, says=r"relu_grad\(0\) = 0")


def test_leaky_grad_at_zero_loses_only_the_test_at_zero(engine, tmp_path: Path) -> None:
    _check(engine, tmp_path, "activations", _mutant("activations", "leaky_grad_one_at_zero"),
           {"test_leaky_relu_derivative_at_zero"}, says=r"leaky_relu_grad\(0, slope\) = slope")
