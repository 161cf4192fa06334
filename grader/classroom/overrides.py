"""Manual grade adjustments: overrides.csv read, checked against the class, and applied to results.

A row (``student, topic, points, reason``) adds ``points`` (negative to take some away) to one
student's topic, or to one test when ``topic`` names a test (``test_fit``, ``test_fit[n=3]`` or
``<topic>::test_fit``). A test never goes below 0 or above its own points, nor a topic below 0
or above its maximum. The results on disk stay as graded: adjustments are applied when the
tables and reports are built, so a regrade keeps them.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from grader.classroom.layout import read_table
from grader.errors import GraderError
from grader.results.model import SubmissionResult

COLUMNS = ("student", "topic", "points", "reason")


class OverrideError(GraderError, ValueError):
    """overrides.csv cannot be used; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Override:
    student: str
    topic: str  # the topic it counts towards
    test: str  # "" for the whole topic, else the test's name (with or without its parameters)
    points: float
    reason: str
    line: int = 0  # in the file, for messages

    def target(self) -> str:
        return f"{self.topic}::{self.test}" if self.test else self.topic


def test_names(path: Path | None) -> set[str]:
    """Names of the test functions of a (trusted) test file, read without importing it."""
    if path is None or not path.is_file():
        return set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test")}


test_names.__test__ = False  # type: ignore[attr-defined]


def read_overrides(path: Path, students: Iterable[str], tests: Mapping[str, set[str]]
                   ) -> list[Override]:
    """The adjustments of ``path``; ``tests``: each topic graded -> its test function names.

    Raises OverrideError on the first unknown student, topic or test, or a bad number.
    """
    reader, header = read_table(path, "overrides", OverrideError)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise OverrideError(f"{path} has no '{missing[0]}' column; its columns must be: "
                            f"{', '.join(COLUMNS)}")
    known = set(students)
    out = []
    for line, row in enumerate(reader, start=2):
        values = {c: (row.get(header[c]) or "").strip() for c in COLUMNS}
        if not any(values.values()):
            continue
        student, target = values["student"], values["topic"]
        if student not in known:
            raise OverrideError(f"{path}:{line}: no student {student!r} in this class; use the "
                                "id of the gradebook's student column")
        topic, test = _target(target, tests)
        if topic is None:
            raise OverrideError(f"{path}:{line}: {target!r} is neither a topic of this batch "
                                f"({', '.join(sorted(tests))}) nor one of its tests")
        try:
            points = float(values["points"])
        except ValueError:
            points = math.nan
        if not math.isfinite(points):
            raise OverrideError(f"{path}:{line}: points must be a number such as 2 or -1.5, not "
                                f"{values['points']!r}")
        out.append(Override(student, topic, test, points, values["reason"], line))
    return out


def _target(text: str, tests: Mapping[str, set[str]]) -> tuple[str | None, str]:
    if text in tests:
        return text, ""
    topic, sep, name = text.partition("::")
    if sep:
        candidates = [topic] if topic in tests else []
    else:
        candidates, name = sorted(tests), text
    base = name.split("[", 1)[0]
    found = [t for t in candidates if base in tests[t]]
    if len(found) != 1:  # unknown, or a name several topics share: say which topic with ::
        return None, ""
    return found[0], name


def to_state(overrides: Sequence[Override]) -> list[dict[str, Any]]:
    return [asdict(o) for o in overrides]


def from_state(rows: Iterable[Mapping[str, Any]]) -> list[Override]:
    return [Override(**{k: r[k] for k in ("student", "topic", "test", "points", "reason", "line")})
            for r in rows]


@dataclass(frozen=True)
class Applied:
    """One adjustment as it counted: what was asked and what the limits let through."""

    target: str
    points: float  # asked
    counted: float  # added to the score after the limits
    reason: str


def _matches(name: str, wanted: str) -> bool:
    return name == wanted or ("[" not in wanted and name.split("[", 1)[0] == wanted)


def within_test(result: SubmissionResult, topic: str, test: str, points: float) -> float:
    """``points`` as an adjustment of one test can count: each matching test (a parametrised
    family: all of them in turn) moves within [0, its points], so at most what it missed can
    be added, and at most what it scored taken away."""
    mine = [x for x in result.tests if x.topic == topic and x.counted and _matches(x.name, test)]
    if points >= 0:
        return min(points, sum(x.max_score - x.score for x in mine))
    return max(points, -sum(x.score for x in mine))


def apply(result: SubmissionResult, overrides: Sequence[Override]
          ) -> tuple[SubmissionResult, list[Applied]]:
    """The result with its topic scores adjusted, and each adjustment as it counted."""
    if not overrides:
        return result, []
    applied: list[Applied] = []
    topics = []
    for t in result.topics:
        mine = [o for o in overrides if o.topic == t.topic]
        if not mine:
            topics.append(t)
            continue
        score = t.score
        given: dict[str, float] = {}  # test -> the adjustments of it so far, as they counted
        for o in mine:
            if o.test:
                # Several adjustments of one test move it within its points together.
                before = given.get(o.test, 0.0)
                given[o.test] = within_test(result, t.topic, o.test, before + o.points)
                delta = given[o.test] - before
            else:
                delta = o.points
            before = score
            score = min(max(score + delta, 0.0), t.max_score)
            applied.append(Applied(o.target(), o.points, round(score - before, 6), o.reason))
        topics.append(replace(t, score=round(score, 6)))
    return replace(result, topics=tuple(topics)), applied


def describe(applied: Sequence[Applied]) -> str:
    """One line for the gradebook: each adjustment as counted, with its reason."""
    return "; ".join(f"{a.target} {a.counted:+g}" + (f" (asked {a.points:+g})"
                                                     if a.counted != a.points else "")
                     + (f": {a.reason}" if a.reason else "") for a in applied)


def report_rows(applied: Sequence[Applied]) -> list[dict[str, str]]:
    """What the student's report lists: target, points as counted, the reason."""
    return [{"target": a.target, "points": f"{a.counted:+g}",
             "asked": f"{a.points:+g}" if a.counted != a.points else "", "reason": a.reason}
            for a in applied]


def apply_to_class(entries: Sequence[Any], overrides: Sequence[Override]
                   ) -> tuple[list[Any], dict[str, list[Applied]]]:
    """Each ``gradebook.ClassEntry`` with its result adjusted, and what counted per student."""
    by_student: dict[str, list[Override]] = {}
    for o in overrides:
        by_student.setdefault(o.student, []).append(o)
    out, applied = [], {}
    for e in entries:
        mine = by_student.get(e.student, [])
        if e.result is None or not mine:
            out.append(e)
            continue
        result, counted = apply(e.result, mine)
        out.append(replace(e, result=result))
        applied[e.student] = counted
    return out, applied
