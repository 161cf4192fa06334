"""A student's grade, computed once: the result as graded, the instructor's adjustments, the late
penalty and the final score, before any file that shows it is written.

The order is fixed: adjustments first (each within its topic's limits), then the late penalty on
the adjusted score, so a penalty of a share of the score takes its share of the points given by
hand too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grader.classroom import overrides as adjust
from grader.classroom.late import LatePolicy, assess, parse_time
from grader.results.model import SubmissionResult
from grader.results.scoring import Grade


@dataclass(frozen=True)
class Graded:
    """A result with its adjustments applied, its grade, and the adjustments as they counted."""

    result: SubmissionResult  # topic scores adjusted; the result on disk stays as graded
    grade: Grade
    applied: tuple[adjust.Applied, ...] = ()


def compute(result: SubmissionResult, overrides: Sequence[adjust.Override],
            submitted: dt.datetime | None, deadline: dt.datetime | None, policy: LatePolicy, *,
            marked_late: bool = False, max_score: float | None = None) -> Graded:
    """The grade of ``result``; ``max_score``: the maximum to count from where the result has
    none of its own (nothing ran), else the result's."""
    adjusted, applied = adjust.apply(result, overrides)
    top = adjusted.max_score if max_score is None else max_score
    late = assess(adjusted.score, top, submitted, deadline, policy, marked_late=marked_late)
    grade = Grade(raw=round(result.score, 6), max_score=round(top, 6),
                  adjusted=round(adjusted.score, 6), final=round(late.final, 6),
                  late_days=round(late.days, 4), penalty_percent=round(late.penalty, 4),
                  late_note=late.note,
                  adjustments=tuple(adjust.report_rows(applied)))
    return Graded(adjusted, grade, tuple(applied))


@dataclass(frozen=True)
class Terms:
    """What a student's grade depends on besides the result: their time, deadline, policy and
    adjustments, as batch.json records them."""

    policy: LatePolicy
    submitted: dt.datetime | None
    deadline: dt.datetime | None
    marked_late: bool
    overrides: tuple[adjust.Override, ...]


def terms(state: Mapping[str, Any], record: Mapping[str, Any]) -> Terms:
    """The terms of the student whose class record (batch.json's ``class`` entry) is ``record``."""
    policy = LatePolicy(**state.get("late", {}).get("policy", {}))
    handed_in = bool(record.get("source"))
    submitted = parse_time(record["submitted"]) if record.get("submitted") and handed_in else None
    deadline = parse_time(record["deadline"]) if record.get("deadline") else None
    mine = tuple(o for o in adjust.from_state(state.get("overrides", []))
                 if o.student == record["student"])
    return Terms(policy, submitted, deadline, bool(record.get("marked_late")) and handed_in, mine)


def grade_of(result: SubmissionResult, t: Terms, *, max_score: float | None = None) -> Graded:
    return compute(result, t.overrides, t.submitted, t.deadline, t.policy,
                   marked_late=t.marked_late, max_score=max_score)
