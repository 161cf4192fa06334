"""Writing a graded submission's files: results.json (Gradescope) and report.html, the student's,
written from their view of the result (``grader.results.visibility.student_view``), and
result.json and instructor.html, with everything.

Each file is rendered once, from the result and its grade (``grader.results.scoring.Grade``:
raw, adjustments, late penalty, final), which is computed before any of them is written;
grade.json records the grade they show, so that a later change of adjustments or policy
re-renders exactly the students whose grade moved."""

from __future__ import annotations

import html
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from grader.results.gradescope import results_json
from grader.results.report import render_report
from grader.results.model import SubmissionResult, write_json_atomic, write_text_atomic
from grader.results.scoring import Grade
from grader.results.visibility import GATED, student_view

RESULTS = "results.json"  # Gradescope's format
FULL = "result.json"  # our schema, round-trips into SubmissionResult
REPORT = "report.html"
INSTRUCTOR_REPORT = "instructor.html"  # the report with everything, for the instructor
GRADE = "grade.json"  # the grade the pages and results.json show


def write_outputs(result: SubmissionResult, out: Path, grade: Grade | None = None, *,
                  shown: SubmissionResult | None = None) -> SubmissionResult:
    """Write every file of one submission atomically; the full result last, as the 'done' mark.
    Returns the result as written: ``result``, with a note where the pages could not be made.

    ``result`` is written to result.json as graded; ``shown`` (the result with the instructor's
    adjustments in its topic scores, default ``result``) is what the pages show, with ``grade``."""
    out.mkdir(parents=True, exist_ok=True)
    result = write_pages(shown or result, out, grade, raw=result)
    write_json_atomic(out / FULL, result.to_dict())
    return result


def write_pages(shown: SubmissionResult, out: Path, grade: Grade | None = None, *,
                raw: SubmissionResult | None = None) -> SubmissionResult:
    """results.json, report.html, instructor.html and grade.json; returns ``raw`` (default
    ``shown``) with a note added when the pages could not be rendered."""
    raw = raw or shown
    try:
        report = render_report(student_view(shown), grade)
        full = render_report(shown, grade, instructor=True)
    except Exception as exc:  # noqa: BLE001 - the grades stand; the report says what broke
        note = f"the report could not be rendered ({type(exc).__name__}: {str(exc)[:200]})"
        raw = replace(raw, notes=(*raw.notes, note))
        shown = replace(shown, notes=(*shown.notes, note))
        report = full = f"<!doctype html><meta charset='utf-8'><p>{html.escape(note)}; " \
            f"see {RESULTS} for the grades.</p>"
    # Gradescope (or an LMS reading the file) shows a test marked after_due_date from then on:
    # its details are written, for it to show then.
    write_json_atomic(out / RESULTS, results_json(student_view(shown, GATED), grade=grade))
    write_text_atomic(out / REPORT, report)
    write_text_atomic(out / INSTRUCTOR_REPORT, full)
    if grade is not None:  # a batch's: what its tables compare when they are rebuilt
        write_json_atomic(out / GRADE, grade.to_dict())
    else:  # pages without a grade: a batch rebuilding its tables writes them again with one
        (out / GRADE).unlink(missing_ok=True)
    return raw


def read_grade(out: Path) -> Any:
    """What grade.json says the pages show (None when it is missing or unreadable)."""
    try:
        return json.loads((out / GRADE).read_text())
    except (OSError, ValueError):
        return None
