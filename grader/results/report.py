"""The student's HTML report: one self-contained page per submission (Jinja, autoescape on), from
the student's view of the result; the instructor's report, from the full result."""

from __future__ import annotations

import datetime as dt
import errno
import functools
import re
from pathlib import Path
from typing import Any, Literal, overload

import jinja2
from markupsafe import Markup, escape

from grader.results.model import Flag, Outcome, SubmissionResult
from grader.results.numbers import number
from grader.results.scoring import Grade, percentage
from grader.results.visibility import StudentView

OUTCOME_TEXT = {"passed": "passed", "failed": "failed", "error": "error", "timeout": "timeout",
                "skipped": "skipped", "not_graded": "not graded"}


# What a test is, as its line says: a test the report shows is never called "hidden" (its
# source stays with the grader; the test itself is shown).
KIND_TEXT = {"public": "public test", "hidden": "grader's test"}

class TemplatesMissing(FileNotFoundError):
    """No templates/ folder beside the grader package: it was installed without them. A missing
    file, so that a command reports it in one line as it does any other."""

    def __str__(self) -> str:
        return str(self.strerror)


def template_dirs() -> list[str]:
    """Where templates live: the course's templates/ beside the package, then the package's own.
    Raises ``TemplatesMissing`` where there is neither (a copy of the package installed without
    the folder beside it, as ``pip install .`` does): what pages are made of is not there."""
    package = Path(__file__).resolve().parent.parent
    found = [str(p) for p in (package.parent / "templates", package / "templates") if p.is_dir()]
    if not found:
        raise TemplatesMissing(  # short: a report's note keeps 200 characters of it
            errno.ENOENT, "the grader's page templates are not installed (no templates/ beside "
            "its package): install the grader with `pip install -e .` in its folder",
            str(package.parent / "templates"))
    return found


@functools.lru_cache(maxsize=None)
def environment() -> jinja2.Environment:
    """One per process: templates are compiled once, not for every report of a batch."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(template_dirs()),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["breakable"] = breakable
    return env


def prepare() -> None:
    """Compile the report's template in this process now: a process that forks grading children
    which write reports (a batch, the service's dispatcher) calls it before the first of them,
    which all then share it, rather than each compiling it again (14 ms and a MB of its own)."""
    environment().get_template(REPORT_TEMPLATE)


REPORT_TEMPLATE = "report.html.j2"


# Where an identifier or a message may wrap besides its spaces: after these characters.
_BREAK_AFTER = re.compile(r"(?<=[_./,(=<>;:\[\]])(?=\S)")
_LONG_RUN = 24  # a run of letters longer than this (no word) may break every 16 of them


def breakable(text: object) -> Markup:
    """``text`` escaped, with a break opportunity (``<wbr>``) after each underscore, dot,
    slash, comma, bracket… so that a long test name, function list or message wraps there
    rather than push its table off the page or break mid-word."""
    pieces: list[str] = []
    for part in _BREAK_AFTER.split(str(text)):
        for word in re.split(r"(\s+)", part):
            while len(word) > _LONG_RUN and not word.isspace():
                pieces.append(word[:16])
                word = word[16:]
            pieces.append(word)
    out, previous = Markup(""), " "
    for piece in (p for p in pieces if p):
        if not (piece[0].isspace() or previous[-1].isspace()):
            out += Markup("<wbr>")
        out += escape(piece)
        previous = piece
    return out


def topic_notes(result: SubmissionResult, topic: str) -> list[str]:
    """What grading noted about a topic beyond its note (a notebook's cells graded, its magics
    dropped, a notebook left aside for the .py), in the order noted."""
    note = next((t.note for t in result.topics if t.topic == topic), "")
    prefix = f"{topic}: "
    return [n[len(prefix):] for n in result.notes
            if n.startswith(prefix) and n[len(prefix):] != note]


def _report_context(result: SubmissionResult, grade: Grade | None = None,
                   instructor: bool = False) -> dict[str, Any]:
    """What the report template shows; ``grade``: raw score, adjustments, late penalty and final
    (``grader.classroom.grades``), None where there is no policy and nothing was adjusted.
    The student's report leaves out what concerns the grading rather than their work (the
    sandbox, the seeds, the machine's lack of a GPU): each not-graded test says so in its
    topic, which is where it changes their maximum."""
    topics = []
    by_topic: dict[str, list[Any]] = {}
    for x in result.tests:
        by_topic.setdefault(x.topic, []).append(x)
    for t in result.topics:
        own = by_topic.get(t.topic, [])
        # A topic not submitted says so once instead of once per test.
        missing = bool(own) and all(Flag.NOT_SUBMITTED in x.flags for x in own)
        tests = [] if missing else [
            {"name": x.name, "kind": KIND_TEXT.get(x.kind, x.kind), "outcome": x.outcome,
             "outcome_text": OUTCOME_TEXT[x.outcome], "score": number(x.score),
             "max_score": number(x.max_score), "seed": x.seed, "message": x.message,
             "output": x.output} for x in own]
        topics.append({"topic": t.topic, "score": number(t.score), "max_score": number(t.max_score),
                       "percent": round(percentage(t.score, t.max_score)), "note": t.note,
                       "tests": tests, "missing": len(own) if missing else 0,
                       "dynamic": Flag.DYNAMIC_ACCESS in t.flags, "stub": t.untouched_stub,
                       "notes": topic_notes(result, t.topic),
                       "not_graded": sum(1 for x in own if x.outcome == Outcome.NOT_GRADED)})
    return {
        "r": result, "topics": topics, "score": number(result.score),
        "started": _time_text(result.started),
        "max_score": number(result.max_score),
        "percent": number(percentage(result.score, result.max_score)),
        "sandbox": ", ".join(result.sandbox) or "none (unsandboxed)",
        "not_graded": sum(1 for x in result.tests if x.outcome == Outcome.NOT_GRADED),
        # The student sees the grade's parts when something changed it; the instructor also
        # why nothing did (no submission time under a late policy).
        "grade": None if grade is None or grade.plain
        or not (grade.adjustments or grade.penalty_percent or instructor) else {
            "raw": number(grade.raw), "adjustments": f"{grade.adjustment_points:+g}",
            "adjusted": number(grade.adjusted), "final": number(grade.final),
            "max_score": number(grade.max_score), "days": number(grade.late_days),
            "penalty": number(grade.penalty_percent), "note": grade.late_note,
            "final_percent": number(percentage(grade.final, grade.max_score))},
        "late": None if grade is None or not grade.penalty_percent else {
            "days": number(grade.late_days), "penalty": number(grade.penalty_percent),
            "final": number(grade.final), "note": grade.late_note},
        "adjustments": list(grade.adjustments) if grade is not None else [],
        "files": list(result.files),
        "instructor": instructor,
    }


def _time_text(iso: str) -> str:
    """An ISO 8601 time as the reports and the service's pages show one: 2027-06-30 23:59 UTC."""
    try:
        t = dt.datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso
    if t.tzinfo is None:
        return t.strftime("%Y-%m-%d %H:%M")
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@overload
def render_report(result: StudentView, grade: Grade | None = None, *,
                  instructor: Literal[False] = False, back: tuple[str, str] | None = None,
                  summary: bool = True) -> str: ...


@overload
def render_report(result: SubmissionResult, grade: Grade | None = None, *,
                  instructor: Literal[True], back: tuple[str, str] | None = None,
                  summary: bool = True) -> str: ...


def render_report(result: StudentView | SubmissionResult, grade: Grade | None = None, *,
                  instructor: bool = False, back: tuple[str, str] | None = None,
                  summary: bool = True) -> str:
    """The student's report of their view (``grader.results.visibility.student_view``), or with
    ``instructor=True`` the instructor's report of the full result. The full result without
    ``instructor=True`` does not type-check, and is refused at run time.

    ``back``: (address, text) of a link back to where the report was opened from, for a report
    served on its own page; ``summary``: the table of topics' scores (False where the page
    around the report shows it)."""
    if instructor and isinstance(result, SubmissionResult):
        shown = result
    elif not instructor and isinstance(result, StudentView):
        shown = result.result
    else:  # checked for callers that are not type-checked too
        raise TypeError("the student's report is written from student_view(result), the "
                        "instructor's from the full result with instructor=True")
    return environment().get_template(REPORT_TEMPLATE).render(
        **_report_context(shown, grade, instructor), back=back, summary=summary)
