"""Scoring: pure functions from test results to topic totals and submission totals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grader.results.model import Outcome, SubmissionResult, TestResult, TopicResult


def points_earned(outcome: str, points: float, fraction: float = 1.0) -> float:
    """Points a test earns: ``fraction`` of them (its recorded ``score_fraction``, e.g. speed
    points on a log scale; clipped to [0, 1]) when it passed, none otherwise."""
    if outcome != Outcome.PASSED:
        return 0.0
    return round(float(points) * min(max(float(fraction), 0.0), 1.0), 6)


def points_possible(outcome: str, points: float) -> float:
    """A test's maximum: its points, or none for a test not graded here (a GPU test on a CPU),
    which counts towards neither the score nor the maximum."""
    return 0.0 if outcome == Outcome.NOT_GRADED else float(points)


def topic_results(tests: Iterable[TestResult], topics: Iterable[str],
                  notes: Mapping[str, str] | None = None,
                  submitted: Mapping[str, bool] | None = None) -> tuple[TopicResult, ...]:
    """Per-topic totals. Skipped and not-graded tests count towards neither score nor maximum."""
    notes = notes or {}
    submitted = submitted or {}
    by_topic: dict[str, list[TestResult]] = {t: [] for t in topics}
    for t in tests:
        by_topic.setdefault(t.topic, []).append(t)
    out = []
    for topic, rows in by_topic.items():
        counted = [r for r in rows if r.counted]
        flags = sorted({f for r in rows for f in r.flags})
        out.append(TopicResult(
            topic=topic,
            score=round(sum(r.score for r in counted), 6),
            max_score=round(sum(r.max_score for r in counted), 6),
            submitted=submitted.get(topic, True),
            flags=tuple(flags),
            note=notes.get(topic, ""),
        ))
    return tuple(out)


def percentage(score: float, max_score: float) -> float:
    return 100.0 * score / max_score if max_score else 0.0


def error_result(submission: str, topics: Sequence[str], seed: int, reason: str, *,
                 duration: float = 0.0, sandbox: Sequence[str] = (),
                 started: str | None = None) -> SubmissionResult:
    """A result that records only why grading broke: no tests, every topic scores 0."""
    return SubmissionResult(
        submission=submission, topics=topic_results([], topics), tests=(), seed=seed,
        sandbox=tuple(sandbox),
        started=started or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        duration=round(duration, 3), error=reason)


@dataclass(frozen=True)
class Grade:
    """One submission's grade, computed once before any of its files is written: the score as
    graded, the instructor's adjustments, the late penalty, and the final score that every file
    (report, instructor's page, results.json, gradebook, LMS imports) shows."""

    raw: float  # the score as graded
    max_score: float
    adjusted: float  # raw plus the adjustments, each kept within its topic's limits
    final: float  # after the late penalty
    late_days: float = 0.0
    penalty_percent: float = 0.0
    late_note: str = ""  # why the penalty is what it is when no time said it
    # Each adjustment as it counted: target, points (as counted), asked (when it differs), reason.
    adjustments: tuple[dict[str, str], ...] = ()

    @property
    def adjustment_points(self) -> float:
        return round(self.adjusted - self.raw, 6)

    @property
    def plain(self) -> bool:
        """Nothing between the score as graded and the final score."""
        return not (self.adjustments or self.penalty_percent or self.late_note)

    def to_dict(self) -> dict[str, Any]:
        return {"raw": self.raw, "max_score": self.max_score, "adjusted": self.adjusted,
                "final": self.final, "late_days": self.late_days,
                "penalty_percent": self.penalty_percent, "late_note": self.late_note,
                "adjustments": [dict(a) for a in self.adjustments]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Grade":
        """The inverse of ``to_dict`` (grade.json)."""
        return cls(**{**data, "adjustments": tuple(dict(a) for a in data.get("adjustments", ()))})


def plain_grade(result: SubmissionResult) -> Grade:
    """The grade of a result with no adjustments and no late policy: its score."""
    return Grade(raw=result.score, max_score=result.max_score, adjusted=result.score,
                 final=result.score)
