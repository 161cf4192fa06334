"""The late-submission policy: pure functions from a submission time and a deadline to a penalty.

A submission time is taken only from where a submission time is written: the roster's
``submitted`` column, a timestamp file (times.csv), or the LMS's metadata (Gradescope's
``created_at``). A file's modification time never is one (a download sets it), so a student
with none of these is not charged, and the batch says so. Canvas's ``LATE`` marker says that a
submission was late but not when: it is charged as one day late, the least a late submission
loses under a per-day policy.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.classroom.layout import read_table
from grader.errors import GraderError


class PolicyError(GraderError, ValueError):
    """A late policy or a time that cannot be used; the message says which value and why."""


@dataclass(frozen=True)
class LatePolicy:
    """How much a late submission loses.

    The penalty grows by ``per_day`` per cent for each day after the deadline and stops at
    ``cap`` per cent. Lateness up to ``grace_minutes`` is forgiven entirely; beyond it, lateness
    is counted from the deadline itself (a grace period is not an extension).
    """

    per_day: float = 10.0  # per cent lost per day late
    cap: float = 100.0  # the most a submission can lose, per cent
    grace_minutes: float = 0.0
    # "ceil": every day started counts whole (one minute late is one day); "exact": fractions
    # of a day cost fractions of ``per_day``.
    partial_days: str = "ceil"
    # "score": the penalty is a share of the student's own score; "max": a share of the maximum,
    # taken off the score and never below zero.
    basis: str = "score"

    def __post_init__(self) -> None:
        if self.per_day < 0 or not math.isfinite(self.per_day):
            raise PolicyError(f"per_day must be a percentage ≥ 0, got {self.per_day}")
        if not 0 <= self.cap <= 100:
            raise PolicyError(f"cap must be a percentage between 0 and 100, got {self.cap}")
        if self.grace_minutes < 0:
            raise PolicyError(f"grace_minutes must be ≥ 0, got {self.grace_minutes}")
        if self.partial_days not in ("ceil", "exact"):
            raise PolicyError(f"partial_days must be 'ceil' or 'exact', got {self.partial_days!r}")
        if self.basis not in ("score", "max"):
            raise PolicyError(f"basis must be 'score' or 'max', got {self.basis!r}")

    def describe(self) -> str:
        unit = "per day started" if self.partial_days == "ceil" else "per day (pro rata)"
        of = "of the score" if self.basis == "score" else "of the maximum"
        text = f"{self.per_day:g} % {of} {unit}, at most {self.cap:g} %"
        if self.grace_minutes:
            text += f", {self.grace_minutes:g} min grace"
        return text


POLICY_KEYS = ("per_day", "cap", "grace_minutes", "partial_days", "basis")


def policy_from_mapping(data: Mapping[str, Any]) -> LatePolicy:
    """A policy from a config table (e.g. the ``[late]`` table of batch.toml); unknown keys fail."""
    unknown = sorted(set(data) - set(POLICY_KEYS) - {"deadline"})
    if unknown:
        raise PolicyError(f"unknown late-policy setting {unknown[0]!r}; "
                          f"known: deadline, {', '.join(POLICY_KEYS)}")
    kwargs: dict[str, Any] = {}
    for key in ("per_day", "cap", "grace_minutes"):
        if key in data:
            try:
                kwargs[key] = float(data[key])
            except (TypeError, ValueError):
                raise PolicyError(f"{key} must be a number, got {data[key]!r}") from None
    for key in ("partial_days", "basis"):
        if key in data:
            kwargs[key] = str(data[key])
    return LatePolicy(**kwargs)


def parse_time(value: str | dt.datetime, *, what: str = "time") -> dt.datetime:
    """An aware datetime from ISO 8601 text; a time without an offset is in the local time zone."""
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        text = str(value).strip()
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise PolicyError(f"{what} {text!r} is not an ISO 8601 date and time "
                              "(e.g. 2026-03-01T23:59 or 2026-03-01T23:59:00+01:00)") from None
    return parsed if parsed.tzinfo is not None else parsed.astimezone()


def in_words(t: dt.datetime) -> str:
    """A time as the pages say it, in its own time zone: "2 Mar 2026, 00:00 UTC"."""
    return f"{t.day} {t:%b %Y, %H:%M} {t.tzname() or ''}".rstrip()


def days_late(submitted: dt.datetime, deadline: dt.datetime, policy: LatePolicy) -> float:
    """Days after the deadline (0 when on time or within the grace period)."""
    seconds = (submitted - deadline).total_seconds()
    if seconds <= policy.grace_minutes * 60:
        return 0.0
    return seconds / 86400.0


def penalty_percent(days: float, policy: LatePolicy) -> float:
    """Per cent lost for ``days`` of lateness."""
    if days <= 0:
        return 0.0
    counted = math.ceil(days) if policy.partial_days == "ceil" else days
    return min(policy.cap, policy.per_day * counted)


def apply_penalty(score: float, max_score: float, percent: float, policy: LatePolicy) -> float:
    """The final score after a penalty of ``percent``."""
    if percent <= 0:
        return score
    if policy.basis == "score":
        return score * (1.0 - percent / 100.0)
    return max(0.0, score - max_score * percent / 100.0)


@dataclass(frozen=True)
class Lateness:
    days: float  # 0 when on time
    penalty: float  # per cent
    final: float  # the score after the penalty
    note: str = ""  # why the penalty is what it is, when no time said it (a marker, no time)


MARKED_LATE = "marked late by the LMS without a time: charged as one day late"
NO_TIME = "no submission time: no late penalty applied"


def assess(score: float, max_score: float, submitted: dt.datetime | None,
           deadline: dt.datetime | None, policy: LatePolicy, *,
           marked_late: bool = False) -> Lateness:
    """Days late, penalty and final score. No deadline means no penalty; no submission time
    means none either, except for a submission the LMS marked late (``marked_late``): one day."""
    if deadline is None:
        return Lateness(0.0, 0.0, score)
    if submitted is None:
        if not marked_late:
            return Lateness(0.0, 0.0, score, NO_TIME)
        pct = penalty_percent(1.0, policy)
        return Lateness(1.0, pct, apply_penalty(score, max_score, pct, policy), MARKED_LATE)
    days = days_late(submitted, deadline, policy)
    pct = penalty_percent(days, policy)
    return Lateness(days, pct, apply_penalty(score, max_score, pct, policy))


TIMES_COLUMNS = ("student", "submitted_at")


def read_times(path: Path) -> dict[str, str]:
    """A timestamp file: per student id (or submission name), an ISO 8601 submission time.

    Columns ``student`` (or ``id``) and ``submitted_at`` (or ``submitted``); a row without a time
    is skipped. Raises PolicyError naming the line of a time that cannot be read."""
    reader, header = read_table(path, "submission times", PolicyError)
    who = header.get("student") or header.get("id")
    when = header.get("submitted_at") or header.get("submitted")
    if who is None or when is None:
        raise PolicyError(f"{path} needs the columns student,submitted_at (one row per "
                          f"student, the time in ISO 8601); it has {', '.join(header) or 'none'}")
    out: dict[str, str] = {}
    for line, row in enumerate(reader, start=2):
        student, time = (row.get(who) or "").strip(), (row.get(when) or "").strip()
        if not student or not time:
            continue
        try:
            parse_time(time, what=f"submitted_at of {student}")
        except PolicyError as exc:
            raise PolicyError(f"{path}:{line}: {exc}") from None
        out[student] = time
    return out
