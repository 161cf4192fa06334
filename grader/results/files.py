"""Writing a graded submission's files: results.json (Gradescope), result.json (full), report.html
(the student's: what they may see, ``grader.results.visibility``) and instructor.html (everything)."""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path

from grader.results.gradescope import results_json
from grader.results.report import render_report
from grader.results.model import SubmissionResult, write_json_atomic, write_text_atomic
from grader.results.visibility import student_copy

RESULTS = "results.json"  # Gradescope's format
FULL = "result.json"  # our schema, round-trips into SubmissionResult
REPORT = "report.html"
INSTRUCTOR_REPORT = "instructor.html"  # the report with everything, for the instructor


def write_outputs(result: SubmissionResult, out: Path) -> None:
    """Write every file of one submission atomically; the full result last, as the 'done' mark."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        report = render_report(student_copy(result))
        full = render_report(result, instructor=True)
    except Exception as exc:  # noqa: BLE001 - the grades stand; the report says what broke
        note = f"the report could not be rendered ({type(exc).__name__}: {str(exc)[:200]})"
        result = replace(result, notes=(*result.notes, note))
        report = full = f"<!doctype html><meta charset='utf-8'><p>{html.escape(note)}; " \
            f"see {RESULTS} for the grades.</p>"
    write_json_atomic(out / RESULTS, results_json(result))
    write_text_atomic(out / REPORT, report)
    write_text_atomic(out / INSTRUCTOR_REPORT, full)
    write_json_atomic(out / FULL, result.to_dict())
