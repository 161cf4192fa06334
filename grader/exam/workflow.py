"""The instructor's two steps as functions: build every student's paper, grade every answers file.

``build`` writes ``papers/`` (to hand out: HTML with the answer form, Markdown for print, a
blank answers file), ``keys/`` (instructor only) and ``manifest.json`` (no keys). ``grade``
recomputes each student's variant from the secret, grades their answers file and writes the
same tables as ``grader batch`` (``grader.classroom.writers``), one report per student
and a class overview. A missing, unreadable or mismatched answers file is one student's error
row, never the end of the run.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from grader.classroom import gradebook, overview, writers

from grader.results import model as results
from grader.results.scoring import error_result
from grader.classroom.layout import INDEX, ROSTER_NAME, STUDENTS, BatchError, folder_name
from grader.classroom.roster import Student, read_roster
from grader.course import Course
from grader.exam.answers import (
    AnswersError,
    AnswersFile,
    answer_files,
    read_answers,
    student_from_name,
)
from grader.exam.bank import Exam, ExamError, load_exam
from grader.exam.grading import Graded, grade_paper, report_context
from grader.exam.render import (
    blank_answers,
    key_record,
    render_keys_md,
    render_paper_html,
    render_paper_md,
)
from grader.exam.variant import Maker, Paper, load_secret, secret_fingerprint
from grader.classroom.late import LatePolicy
from grader.results.files import FULL, REPORT
from grader.results.report import template_dirs
from grader.results.inert import terminal

PAPERS = "papers"
KEYS = "keys"
MANIFEST = "manifest.json"
LOG = "grade.log"


def write_text_atomic(path: Path, text: str) -> None:
    # Every file here can be made again, and a build or grade writes thousands: no fsync.
    results.write_text_atomic(path, text, durable=False)


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def _roster(path: Path) -> dict[str, Student]:
    try:
        return read_roster(path)
    except BatchError as exc:
        raise ExamError(str(exc)) from None


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(template_dirs()), autoescape=True,
                              undefined=jinja2.StrictUndefined)


# -------------------------------------------------------------------------------------- build


@dataclass
class Built:
    out: Path
    exam: Exam
    students: int
    secret_source: str
    seconds: float

    def lines(self) -> list[str]:
        return [(f"{self.exam.title}: {self.students} papers of {len(self.exam.questions)} "
                 f"questions ({self.exam.points:g} points) in {self.seconds:.1f} s"),
                f"instructor secret: {self.secret_source} — grading needs the same one",
                (f"hand out {self.out / PAPERS}/<student>/ (paper.html, paper.md, "
                 "answers-template.json)"),
                f"keep {self.out / KEYS}/ to yourself: every student's answer key"]


def build(course: Course, exam_name: str, roster_path: Path, out: Path, *,
          secret_file: Path | None = None, echo: Callable[[str], None] = print) -> Built:
    """Every student's paper and key; reproducible from the exam, the roster and the secret."""
    t0 = time.monotonic()
    exam = load_exam(course, exam_name)
    roster = _roster(roster_path)
    if not roster:
        raise ExamError(f"the roster {roster_path} lists no students")
    secret, source = load_secret(course, secret_file, create=True)
    if source.endswith("(new)"):
        echo(f"created a new instructor secret in {source.removesuffix(' (new)')}: keep it, "
             "grading recomputes every paper from it")
    maker = Maker(course, exam, secret)
    fingerprint = secret_fingerprint(secret)
    papers: list[tuple[Paper, str]] = []
    manifest_students = []
    for sid, student in roster.items():
        paper = maker.paper(sid)
        folder = folder_name(sid)
        where = out / PAPERS / folder
        write_text_atomic(where / "paper.html", render_paper_html(paper, student.name))
        write_text_atomic(where / "paper.md", render_paper_md(paper, student.name))
        write_json_atomic(where / "answers-template.json", blank_answers(paper))
        write_json_atomic(out / KEYS / f"{folder}.json", key_record(paper, fingerprint))
        papers.append((paper, student.name))
        manifest_students.append({"student": sid, "name": student.name, "folder": folder,
                                  "paper": paper.code})
    write_text_atomic(out / KEYS / "answer-keys.md", render_keys_md(papers))
    write_json_atomic(out / MANIFEST, {
        "exam": exam.name, "title": exam.title,
        "built": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "secret_fingerprint": fingerprint,
        "questions": [{"id": q.qid, "kind": q.question.kind, "points": q.points}
                      for q in exam.questions],
        "students": manifest_students})
    return Built(out, exam, len(papers), source, time.monotonic() - t0)


# -------------------------------------------------------------------------------------- grade


@dataclass
class GradeSummary:
    out: Path
    exam: Exam
    students: int = 0
    graded: int = 0
    missing: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # student -> reason
    notes: list[str] = field(default_factory=list)
    stats: gradebook.Stats | None = None
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [(f"{self.exam.title}: {self.students} students, {self.graded} graded, "
                f"{len(self.missing)} without an answers file, {len(self.errors)} with a "
                f"problem, in {self.seconds:.1f} s")]
        s = self.stats
        if s is not None and s.mean is not None and s.median is not None:
            out.append(f"score: mean {s.mean:.1f} %, median {s.median:.1f} % over {s.graded} "
                       "graded students")
        if self.missing:
            shown = ", ".join(self.missing[:15]) + (" …" if len(self.missing) > 15 else "")
            out.append(f"no answers file: {shown}")
        for student, reason in sorted(self.errors.items()):
            out.append(f"  problem — {terminal(student)}: {terminal(reason)}")
        out.extend(self.notes)
        first, *rest = writers.names()
        out.append(f"wrote {self.out / first}, {', '.join(rest)} and {INDEX}; "
                   f"reports in {self.out / STUDENTS}/")
        return out


def _match(files: list[Path], exam: Exam, known: set[str] | None
           ) -> tuple[dict[str, list[tuple[Path, AnswersFile | AnswersError]]], list[str]]:
    """Answers files by student: the id inside the file, else the one its name suggests."""
    by_student: dict[str, list[tuple[Path, AnswersFile | AnswersError]]] = {}
    notes = []
    for path in files:
        item: AnswersFile | AnswersError
        try:
            item = read_answers(path)
            student = item.student or student_from_name(path, exam.name)
        except AnswersError as exc:
            item, student = exc, student_from_name(path, exam.name)
        if isinstance(item, AnswersFile) and item.exam and item.exam != exam.name:
            notes.append(f"{path.name} answers the exam {item.exam!r}, not {exam.name!r}: "
                         "not graded")
            continue
        if known is not None and student not in known:
            what = f"could not be read ({item})" if isinstance(item, AnswersError) else \
                f"is for student {student!r}, who is not on the roster"
            notes.append(f"{path.name} {what}: not graded")
            continue
        by_student.setdefault(student, []).append((path, item))
    return by_student, notes


def _check_file(item: AnswersFile | AnswersError, paper: Paper) -> AnswersFile:
    if isinstance(item, AnswersError):
        raise item
    if item.paper and item.paper != paper.code:
        raise AnswersError(
            f"{item.path.name} was made for paper {item.paper}, but {paper.student}'s paper is "
            f"{paper.code}: it is another student's file, or the papers were built with "
            "another secret or another version of the question bank")
    return item


def grade(course: Course, exam_name: str, answers_dir: Path, out: Path, *,
          roster_path: Path | None = None, secret_file: Path | None = None,
          echo: Callable[[str], None] = print) -> GradeSummary:
    """Grade a folder of answers files; write reports, tables and the overview into ``out``."""
    t0 = time.monotonic()
    exam = load_exam(course, exam_name)
    roster_path = roster_path or (answers_dir / ROSTER_NAME
                                  if (answers_dir / ROSTER_NAME).is_file() else None)
    roster = _roster(roster_path) if roster_path else None
    secret, _ = load_secret(course, secret_file)
    maker = Maker(course, exam, secret)
    try:
        files, notes = answer_files(answers_dir)
    except AnswersError as exc:
        raise ExamError(str(exc)) from None
    by_student, match_notes = _match(files, exam, set(roster) if roster is not None else None)
    notes += match_notes
    if roster is None:
        notes.append(f"no roster: only the {len(by_student)} students with an answers file are "
                     "in the gradebook (give --roster FILE to list the missing ones too)")
    students = sorted(roster) if roster is not None else sorted(by_student)
    summary = GradeSummary(out=out, exam=exam, students=len(students))
    entries = []
    mismatched = 0
    for sid in students:
        info = roster.get(sid) if roster is not None else None
        name = info.name if info else ""
        folder = folder_name(sid)
        where = out / STUDENTS / folder
        fields = info.fields() if info else {k: "" for k in gradebook.ROSTER_FIELDS}
        items = by_student.get(sid, [])
        if not items:
            summary.missing.append(sid)
            entries.append(gradebook.ClassEntry(student=sid, status="not_submitted",
                                                roster=fields))
            continue
        paper: Paper | None = None
        graded: Graded | None = None
        try:
            if len(items) > 1:
                names = ", ".join(p.name for p, _ in items)
                raise AnswersError(f"{len(items)} answers files for {sid}: {names}; keep one")
            paper = maker.paper(sid)
            answers = _check_file(items[0][1], paper)
            graded = grade_paper(paper, answers)
            result, error = graded.result, ""
        except AnswersError as exc:
            error = str(exc)
            mismatched += "was made for paper" in error
        except Exception as exc:  # noqa: BLE001 - one student's problem must not end the run
            with open(out / LOG, "a") as log:
                log.write(f"--- {sid}\n{traceback.format_exc()}\n")
            error = f"the grader failed on this answers file ({type(exc).__name__}); see {LOG}"
        if error:
            summary.errors[sid] = error
            result = error_result(sid, exam.qids, 0, error)
        else:
            summary.graded += 1
        write_text_atomic(where / REPORT, _environment().get_template("exam/report.html.j2")
                          .render(**report_context(paper, graded, student=sid, name=name,
                                                   title=exam.title, error=error)))
        write_json_atomic(where / FULL, result.to_dict())
        entries.append(gradebook.ClassEntry(
            student=sid, status="error" if error else "graded", result=result, roster=fields,
            report=f"{STUDENTS}/{folder}/{REPORT}"))
    if mismatched >= 2 and mismatched > summary.graded:
        notes.append("most answers files carry a paper code that does not match: grade with the "
                     "secret (and question bank) the papers were built with")
    out.mkdir(parents=True, exist_ok=True)
    rows = gradebook.student_rows(entries, exam.qids, LatePolicy())
    _, written_notes = writers.write_all(out, writers.Context(
        rows, gradebook.rows_per_test(entries), exam.title, exam.qids, roster=roster is not None))
    notes.extend(written_notes)
    summary.stats = gradebook.class_stats(rows)
    write_text_atomic(out / INDEX, render_overview(exam, rows, entries, summary.stats))
    summary.notes = notes
    summary.seconds = time.monotonic() - t0
    return summary


def render_overview(exam: Exam, rows: list[dict[str, Any]], entries: list[gradebook.ClassEntry],
                    stats: gradebook.Stats) -> str:
    """The class page: score distribution, mean per question, hardest parts, every student."""
    graded = [float(r["final_percent"]) for r in rows if r["status"] == "graded"]
    titles = {q.qid: f"{q.qid} · {q.question.title}" for q in exam.questions}
    bars = overview.topic_bars(entries, exam.qids)
    for b in bars["bars"]:
        b["label"] = titles[b["topic"]]
    return _environment().get_template("exam/overview.html.j2").render(
        title=exam.title, exam=exam.name, points=f"{exam.points:g}",
        generated=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        stats=stats, mean=f"{stats.mean:.1f}" if stats.mean is not None else "–",
        median=f"{stats.median:.1f}" if stats.median is not None else "–",
        hist=overview.histogram(graded), questions=bars,
        parts=overview.table_per_test(entries), students=overview.student_table(rows))
