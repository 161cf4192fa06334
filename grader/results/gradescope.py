"""``results.json`` in the Gradescope autograder format, from a student view of a result: it is
what Gradescope shows the student (``grader.results.visibility``)."""

from __future__ import annotations

from typing import Any

from grader.results.model import Outcome, TestResult
from grader.results.scoring import Grade
from grader.results.visibility import (RELEASED_LATER, StudentView, combine, level,
                                       output_shown, seen)

STATUS_TEXT = {"timeout": "ran out of time", "error": "error", "not_graded": "not graded here",
               "skipped": "skipped"}


def _gradescope_test(t: TestResult, visibility: str) -> dict[str, Any]:
    """One test's entry; ``visibility``: the whole results', combined with the test's own.
    Gradescope withholds a test until its time; what a student may never see (what the code
    printed in a hidden test, a ``hidden`` test's message) is not written at all."""
    hidden = level(t) == "hidden"
    output = RELEASED_LATER if hidden else t.message
    if t.outcome in STATUS_TEXT and not output.startswith(STATUS_TEXT[t.outcome]):
        output = f"[{STATUS_TEXT[t.outcome]}] {output}".rstrip()
    if t.output and output_shown(t) and not hidden:
        output += f"\n\nYour code printed:\n{t.output}"
    entry: dict[str, Any] = {
        "name": f"{t.topic}: {t.name}" + (" (public)" if t.kind == "public" else ""),
        "score": t.score,
        "max_score": t.max_score if t.counted else 0.0,
        "output": output,
        "tags": [t.topic, t.kind, t.outcome],
        "visibility": combine(visibility, level(t)),
    }
    if t.counted:
        entry["status"] = "passed" if t.outcome == Outcome.PASSED else "failed"
    # else (a GPU test not graded here, a skip): no status and 0 / 0. Gradescope's spec makes
    # "status" optional and shows a test worth no points as neither passed nor failed, which
    # is what such a test is: it counts towards neither the score nor the maximum.
    if t.seed is not None:
        entry["extra_data"] = {"seed": t.seed, "outcome": t.outcome}
    else:
        entry["extra_data"] = {"outcome": t.outcome}
    return entry


def results_json(view: StudentView, *, visibility: str = "visible",
                 grade: Grade | None = None) -> dict[str, Any]:
    """The Gradescope document: total score, per-test entries, per-topic totals in extra_data.
    With a ``grade`` (adjustments, late penalty) the score is its final score. ``view``: the
    student's view of the result, made with ``released=visibility.GATED`` so that a test Gradescope shows
    after the due date is written in full, for Gradescope to show then."""
    result = seen(view)
    score = grade.final if grade is not None else result.score
    lines = [f"Score: {score:g} / {result.max_score:g}"]
    if grade is not None and not grade.plain:
        parts = [f"raw score {grade.raw:g}"]
        if grade.adjustments:
            parts.append(f"adjustments {grade.adjustment_points:+g}")
        if grade.penalty_percent:
            parts.append(f"late penalty {grade.penalty_percent:g} %")
        lines.append("  (" + ", ".join(parts) + f", final {grade.final:g})")
    for topic in result.topics:
        line = f"  {topic.topic}: {topic.score:g} / {topic.max_score:g}"
        if topic.note:
            line += f" — {topic.note}"
        lines.append(line)
    if result.error:
        lines.append(f"Grading problem: {result.error}")
    not_graded = sum(1 for t in result.tests if t.outcome == Outcome.NOT_GRADED)
    if not_graded:
        lines.append(f"{not_graded} test(s) need a GPU and were not graded here.")
    return {
        "score": round(score, 4),
        "execution_time": round(result.duration, 3),
        "output": "\n".join(lines),
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": [_gradescope_test(t, visibility) for t in result.tests],
        "extra_data": {
            "topics": {t.topic: {"score": t.score, "max_score": t.max_score}
                       for t in result.topics},
            "max_score": result.max_score,
            "seed": result.seed,
            "sandbox": list(result.sandbox),
            "submission": result.submission,
            "error": result.error,
            "schema_version": result.schema_version,
            **({"grade": grade.to_dict()} if grade is not None and not grade.plain else {}),
        },
    }
