"""Grading one student's answers against their recomputed variant: parts, partial credit, results.

The result is the grader's ordinary :class:`~grader.results.model.SubmissionResult` with one "topic"
per question and one test per part, so the exam's gradebook is written by the same code as a
batch's. What the report shows (each question's text, the answer given, the answer expected
and the classic mistake an answer matches) is prepared here as plain data.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from grader.exam.answers import AnswersFile
from grader.exam.parts import LETTERS, Choice, Grade, Part, fmt
from grader.exam.render import render_text
from grader.exam.variant import Paper, Variant
from grader.results.model import SubmissionResult, TestResult
from grader.results.scoring import topic_results

KIND = "exam"  # the ``kind`` of every part's TestResult
GIVEN_SHOWN = 200  # characters of an unreadable answer shown back


@dataclass(frozen=True)
class PartResult:
    """One part as graded, with what the report shows of it."""

    part: Part
    fraction: float
    points: float
    max_points: float
    given: str  # as the student wrote it, or as it was read
    expected: str
    message: str  # "" when right
    answered: bool


def _raw_text(raw: Any) -> str:
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    return text if len(text) <= GIVEN_SHOWN else text[:GIVEN_SHOWN - 1] + "…"


def _blank(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, list):
        return all(_blank(r) for r in raw)
    return False


def _option(v: Variant, part: Choice, letter: str) -> str:
    options = v.options[part.name]
    i = LETTERS.index(letter)
    return f"({letter}) {part.option_text(options[i])}" if i < len(options) else f"({letter})"


def grade_part(v: Variant, part: Part, raw: Any, max_points: float) -> PartResult:
    """One part: read the raw answer, compare it with the key, name a matching classic mistake."""
    expected = v.key[part.name]
    shown = _option(v, part, expected) if isinstance(part, Choice) else part.show(expected)
    if _blank(raw):
        return PartResult(part, 0.0, 0.0, max_points, "", shown, "no answer", False)
    try:
        given = part.parse(raw)
    except ValueError as exc:
        return PartResult(part, 0.0, 0.0, max_points, _raw_text(raw), shown,
                          f"could not read your answer: {exc}", True)
    if isinstance(part, Choice) and LETTERS.index(given) >= len(v.options[part.name]):
        return PartResult(part, 0.0, 0.0, max_points, f"({given})", shown,
                          f"there is no option ({given})", True)
    grade: Grade = part.grade(given, expected)
    message = grade.message
    if grade.fraction < 1:
        for mistake in v.mistakes.values():
            if part.name in mistake.values and \
                    part.grade(given, mistake.values[part.name]).fraction == 1:
                # The mistake first: the class overview groups wrong answers by it.
                message = f"classic mistake — {mistake.why.rstrip('.')}: {message}"
                break
    given_text = _option(v, part, given) if isinstance(part, Choice) else part.show(given)
    return PartResult(part, grade.fraction, max_points * grade.fraction, max_points,
                      given_text, shown, message, True)


def grade_variant(v: Variant, raw_parts: dict[str, Any]) -> list[PartResult]:
    total = sum(p.weight for p in v.parts)
    return [grade_part(v, p, raw_parts.get(p.name), v.q.points * p.weight / total)
            for p in v.parts]


@dataclass(frozen=True)
class Graded:
    """A student's graded paper: the result for the gradebook and the questions for the report."""

    result: SubmissionResult
    questions: list[tuple[Variant, list[PartResult]]]
    notes: tuple[str, ...]


def grade_paper(paper: Paper, answers: AnswersFile) -> Graded:
    started = dt.datetime.now(dt.timezone.utc)
    questions = []
    tests = []
    for v in paper.variants:
        parts = grade_variant(v, answers.answers.get(v.qid, {}))
        questions.append((v, parts))
        for r in parts:
            tests.append(TestResult(
                topic=v.qid, name=f"{v.qid}.{r.part.name}",
                nodeid=f"{paper.exam.name}::{v.qid}::{r.part.name}", kind=KIND,
                outcome="passed" if r.fraction == 1 else "failed", score=r.points,
                max_score=r.max_points, message=r.message,
                functions=(v.q.question.kind,)))
    notes = []
    unknown = sorted(set(answers.answers) - {v.qid for v in paper.variants})
    if unknown:
        notes.append(f"answers for questions this paper does not have were ignored: "
                     f"{', '.join(q[:20] for q in unknown[:10])}")
    if not answers.paper:
        notes.append("the answers file has no paper code; it was graded against this "
                     "student's paper")
    result = SubmissionResult(
        submission=paper.student, topics=topic_results(tests, [v.qid for v in paper.variants]),
        tests=tuple(tests), seed=0, sandbox=(),
        started=started.isoformat(timespec="seconds"),
        duration=round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 3),
        notes=(f"paper {paper.code}", *notes))
    return Graded(result, questions, tuple(notes))


# ------------------------------------------------------------------------------------ reports


def report_context(paper: Paper | None, graded: Graded | None, *, student: str, name: str,
                   title: str, error: str = "") -> dict[str, Any]:
    """Everything the student's exam report shows, as plain values."""
    questions = []
    if graded is not None:
        for v, parts in graded.questions:
            score = sum(r.points for r in parts)
            questions.append({
                "qid": v.qid, "number": v.q.number, "title": v.q.question.title,
                "score": fmt(round(score, 4)), "points": fmt(v.q.points),
                "full": abs(score - v.q.points) < 1e-9,
                "text": render_text(v.q.question, v.params, html=True),
                "parts": [{"label": r.part.label, "given": r.given, "expected": r.expected,
                           "points": fmt(r.points), "max_points": fmt(round(r.max_points, 4)),
                           "outcome": "passed" if r.fraction == 1 else
                           "partial" if r.fraction > 0 else "failed",
                           "message": r.message} for r in parts],
            })
    result = graded.result if graded is not None else None
    return {
        "title": title, "student": student, "name": name,
        "code": paper.code if paper is not None else "",
        "score": fmt(round(result.score, 4)) if result else "0",
        "max_score": fmt(paper.exam.points) if paper is not None else "",
        "percent": f"{100 * result.score / result.max_score:.0f}" if result and result.max_score
        else "0",
        "error": error, "notes": list(graded.notes) if graded else [], "questions": questions,
    }
