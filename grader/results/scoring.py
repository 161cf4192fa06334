"""Scoring: pure functions from test results to topic totals and submission totals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from grader.results.model import Outcome, SubmissionResult, TestResult, TopicResult


def points_earned(outcome: str, points: float) -> float:
    """Points a test earns: all of them when it passed, none otherwise."""
    return float(points) if outcome == Outcome.PASSED else 0.0


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
