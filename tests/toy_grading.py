"""The toy course's module graded with one function replaced, and one of its hidden tests as
graded and as the student's copy shows it: the tests of messages use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.grading.engine import Options
from grader.results.model import SubmissionResult, TestResult
from grader.results.visibility import student_view

FIX = Path(__file__).resolve().parent / "fixtures" / "course"
REFERENCE = (FIX / "reference" / "toy" / "solution.py").read_text()
SCALE = "def scale(x, c):\n    return c * x  # (n,)\n"


def grade_toy(engine: Any, tmp_path: Path, source: str) -> SubmissionResult:
    """``source`` graded as the toy topic's module."""
    sub = tmp_path / "sub"
    sub.mkdir(parents=True)
    (sub / "toy.py").write_text(source)
    return engine.grade(sub, tmp_path / "out", Options(topics=("toy",)))


def failed_hidden(result: SubmissionResult, name: str = "test_scale"
                  ) -> tuple[TestResult, TestResult]:
    """The hidden test ``name``, failed, as graded and as the student's copy shows it."""
    graded = next(t for t in result.tests if t.name == name)
    shown = next(t for t in student_view(result).result.tests if t.name == name)
    assert graded.kind == "hidden" and graded.outcome == "failed", graded
    return graded, shown


def scale_graded(engine: Any, tmp_path: Path, scale: str) -> tuple[TestResult, TestResult]:
    """test_scale (a hidden test) with ``scale`` as the student's, failed, as graded and as the
    student's copy shows it."""
    return failed_hidden(grade_toy(engine, tmp_path, REFERENCE.replace(SCALE, scale)))
