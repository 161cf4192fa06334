"""The class's rows: one per student (gradebook.csv's), one per student and test (tests.csv's).

Rows are computed by pure functions from each student's result and the late policy; the files
are written by ``grader.classroom.writers``. pandas only reads a gradebook back.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.classroom.late import LatePolicy, assess
from grader.results.model import Flag, Outcome, SubmissionResult, TestResult
from grader.results.scoring import Grade, percentage

GRADEBOOK = "gradebook.csv"
TESTS = "tests.csv"

# What a row's status means; "graded" is the only one whose score needs no second look.
STATUSES = {
    "graded": "graded",
    "error": "grading broke for this submission (see the error column)",
    "not_submitted": "on the roster, nothing submitted",
    "not_graded": "submitted, not graded yet (rerun the batch with --resume)",
}
FLAGS = ("syntax_error", "import_error", "timeout", "crash", "banned", "dynamic_access",
         "no_recognised_file", "not_submitted", "stub", "late", "error", "similarity",
         "duplicate")
# Per flag, the gradebook column that says what raised it (topic: first line of the message).
FLAG_DETAILS = {"syntax_error": "syntax_errors", "import_error": "import_errors",
                "timeout": "timeouts", "crash": "crashes", "banned": "banned_calls",
                "dynamic_access": "dynamic_access"}
# Roster fields carried into the tables, in the order of Canvas's import columns.
ROSTER_FIELDS = ("name", "canvas_id", "sis_id", "login", "section")


@dataclass(frozen=True)
class ClassEntry:
    """One student of the class as the gradebook sees them."""

    student: str
    status: str  # a key of STATUSES
    result: SubmissionResult | None = None
    roster: Mapping[str, str] = field(default_factory=dict)  # ROSTER_FIELDS, "" where unknown
    report: str = ""  # report.html relative to the batch folder ("" when there is none)
    submitted: dt.datetime | None = None  # submission time, when known
    # Where that time comes from: "roster", "times.csv", the LMS ("gradescope"), or "marked late"
    # (the LMS marked it late without a time); never the files' modification times.
    submitted_source: str = ""
    deadline: dt.datetime | None = None  # this student's deadline (None: no late policy)
    marked_late: bool = False  # the LMS marked it late and gave no time
    duplicate: str = ""  # other submissions claim the same student (which, and what to do)
    # The grade computed once (grader.classroom.grades), with ``result`` already adjusted; None:
    # the row computes the late penalty itself (no adjustments).
    grade: Grade | None = None
    adjustments: str = ""  # the adjustments as they counted, one line


def _r(x: float) -> float:
    return round(float(x), 4)


def typical_maxima(entries: Sequence[ClassEntry], topics: Sequence[str]) -> dict[str, float]:
    """The usual maximum of each topic (and of the total under ``""``) among graded students.

    A student with nothing to grade is scored out of these, so their row reads like the others.
    """
    out: dict[str, float] = {}
    results = [e.result for e in entries if e.result is not None and e.result.topics]
    for topic in topics:
        seen = Counter(t.max_score for r in results for t in r.topics if t.topic == topic)
        out[topic] = seen.most_common(1)[0][0] if seen else 0.0
    totals = Counter(r.max_score for r in results)
    out[""] = totals.most_common(1)[0][0] if totals else sum(out.values())
    return out


def student_row(entry: ClassEntry, topics: Sequence[str], policy: LatePolicy,
                maxima: Mapping[str, float]) -> dict[str, Any]:
    """One gradebook row: topic scores, total, maximum, percentage, late penalty, final, flags."""
    r = entry.result
    row: dict[str, Any] = {"student": entry.student}
    row.update({k: entry.roster.get(k, "") for k in ROSTER_FIELDS})
    row["status"] = entry.status
    by_topic = {t.topic: t for t in r.topics} if r is not None else {}
    for topic in topics:
        row[topic] = _r(by_topic[topic].score) if topic in by_topic else 0.0
    score = r.score if r is not None else 0.0
    max_score = r.max_score if r is not None and r.topics else maxima.get("", 0.0)
    if r is not None and not r.tests and r.error:
        max_score = maxima.get("", max_score)  # nothing ran: out of the usual maximum
    grade = entry.grade
    if grade is None:
        late = assess(score, max_score, entry.submitted, entry.deadline, policy,
                      marked_late=entry.marked_late)
        raw, days, penalty, final = score, late.days, late.penalty, late.final
    else:
        raw, days, penalty, final = (grade.raw, grade.late_days, grade.penalty_percent,
                                     grade.final)
    tests = r.tests if r is not None else ()
    missing = [t for t in topics if t in by_topic and not by_topic[t].submitted]
    if entry.status == "not_submitted":
        missing = list(topics)
    # Handed in as released: not started (a 0 that is no wrong answer), said apart from a 0.
    stubs = [t for t in topics if t in by_topic and by_topic[t].untouched_stub]
    details = flag_details(tests)
    for topic in details["dynamic_access"]:  # what the scan found reached, and how
        found = by_topic[topic].dynamic if topic in by_topic else ()
        details["dynamic_access"][topic] = first_line(
            "; ".join(found) if found else "see the report", 200)
    files = list(r.files) if r is not None else []
    row.update({
        "raw_score": _r(raw),
        "score": _r(score),
        "max_score": _r(max_score),
        "percent": _r(percentage(score, max_score)),
        "submitted_at": entry.submitted.isoformat(timespec="seconds") if entry.submitted else "",
        "submitted_source": entry.submitted_source if entry.status != "not_submitted" else "",
        "deadline": entry.deadline.isoformat(timespec="seconds") if entry.deadline else "",
        "late_days": _r(days),
        "late_penalty_percent": _r(penalty),
        "final": _r(final),
        "final_percent": _r(percentage(final, max_score)),
        **{f"flag_{flag}": bool(details[column]) for flag, column in FLAG_DETAILS.items()},
        # Something was handed in but no file of it is a topic's module: not a silent zero.
        "flag_no_recognised_file": entry.status == "graded" and r is not None and
        bool(r.topics) and not any(t.submitted for t in r.topics),
        "flag_not_submitted": bool(missing),
        "flag_stub": bool(stubs),
        "flag_late": penalty > 0,
        "flag_error": entry.status in ("error", "not_graded"),
        "flag_similarity": False,  # set from the class's comparison (grader.classroom.similarity)
        "flag_duplicate": bool(entry.duplicate),
        "duplicate": entry.duplicate,
        "missing_topics": ";".join(missing),
        "stub_topics": ";".join(stubs),
        **{column: "; ".join(f"{k}: {v}" for k, v in details[column].items())
           for column in FLAG_DETAILS.values()},
        "files": "; ".join(files),
        "error": (r.error if r is not None and r.error else
                  STATUSES[entry.status] if entry.status == "not_graded" else ""),
        "seed": r.seed if r is not None else "",
        "report": entry.report,
        "similar_to": "",  # grader.classroom.similarity.mark_rows
        "adjustment_points": _r(grade.adjustment_points) if grade is not None else 0.0,
        "adjustments": entry.adjustments,  # manual adjustments as they counted
    })
    return row


def flag_details(tests: Sequence[TestResult]) -> dict[str, dict[str, str]]:
    """Per detail column of FLAG_DETAILS: topic -> the first message that raised the flag there.

    A syntax error is told apart from other import errors (results written before the
    syntax_error flag existed are recognised by their message)."""
    out: dict[str, dict[str, str]] = {column: {} for column in FLAG_DETAILS.values()}
    for t in tests:
        syntax = Flag.SYNTAX_ERROR in t.flags or (
            Flag.IMPORT_ERROR in t.flags and f"{t.topic}.py has a syntax error" in t.message)
        raised = {"syntax_errors": syntax,
                  "import_errors": Flag.IMPORT_ERROR in t.flags and not syntax,
                  "timeouts": t.outcome == Outcome.TIMEOUT or Flag.TIMEOUT in t.flags,
                  "crashes": Flag.CRASH in t.flags, "banned_calls": Flag.BANNED in t.flags,
                  "dynamic_access": Flag.DYNAMIC_ACCESS in t.flags}
        for column, on in raised.items():
            if on and t.topic not in out[column]:
                out[column][t.topic] = first_line(t.message, 200) or t.outcome
    return out


def student_rows(entries: Sequence[ClassEntry], topics: Sequence[str],
                 policy: LatePolicy) -> list[dict[str, Any]]:
    maxima = typical_maxima(entries, topics)
    return [student_row(e, topics, policy, maxima) for e in entries]


def rows_per_test(entries: Sequence[ClassEntry]) -> list[dict[str, Any]]:
    """The long table: one row per student and test, for analysis."""
    out = []
    for e in entries:
        if e.result is None:
            continue
        for t in e.result.tests:
            out.append({
                "student": e.student, "topic": t.topic, "test": t.name, "kind": t.kind,
                "outcome": t.outcome, "score": _r(t.score), "max_score": _r(t.max_score),
                "duration": t.duration, "seed": t.seed if t.seed is not None else "",
                "flags": ";".join(t.flags), "functions": ";".join(t.functions),
                "message": first_line(t.message),
            })
    return out


def first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[:limit - 1] + "…"


@dataclass(frozen=True)
class Stats:
    students: int
    graded: int
    mean: float | None  # of final percentages of graded students
    median: float | None
    counts: dict[str, int]  # flag -> number of students with it


def class_stats(rows: Sequence[Mapping[str, Any]]) -> Stats:
    graded = [r for r in rows if r["status"] == "graded"]
    finals = [float(r["final_percent"]) for r in graded]
    counts = {f: sum(1 for r in rows if r[f"flag_{f}"]) for f in FLAGS}
    return Stats(students=len(rows), graded=len(graded),
                 mean=statistics.fmean(finals) if finals else None,
                 median=statistics.median(finals) if finals else None, counts=counts)


def columns(topics: Sequence[str]) -> list[str]:
    """gradebook.csv's columns, in order."""
    return ["student", *ROSTER_FIELDS, "status", *topics, "raw_score", "score", "max_score",
            "percent", "submitted_at", "submitted_source", "deadline", "late_days",
            "late_penalty_percent", "final", "final_percent",
            *(f"flag_{f}" for f in FLAGS), "missing_topics", "stub_topics",
            *FLAG_DETAILS.values(), "files", "error", "seed",
            "report", "similar_to", "duplicate", "adjustment_points", "adjustments"]


def read_gradebook(path: Path) -> Any:
    """gradebook.csv as a DataFrame with the student id as text (ids such as 007 stay intact)."""
    import pandas as pd

    return pd.read_csv(path, dtype={"student": str, "sis_id": str, "canvas_id": str,
                                    "login": str, "section": str, "name": str},
                       keep_default_na=False)
