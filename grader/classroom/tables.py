"""The class tables and overview, rebuilt from batch.json and the results on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.classroom import gradebook, overrides, overview, similarity
from grader.classroom.moodle import moodle_rows
from grader.classroom.late import LatePolicy, assess, parse_time
from grader.classroom.layout import INDEX, STATE, STUDENTS, TIMES_NAME
from grader.classroom.roster import DEFAULT_ASSIGNMENT
from grader.classroom.state import read_state
from grader.results.files import FULL, REPORT
from grader.results.model import SubmissionResult, load_result, write_text_atomic
from grader.results.report import render_report
from grader.results.visibility import student_copy


@dataclass
class Built:
    stats: gradebook.Stats
    errors: dict[str, str]
    notes: list[str]


def class_entries(out: Path, state: dict[str, Any]) -> list[gradebook.ClassEntry]:
    """Every student of the class with their result as on disk now."""
    records = state.get("students", {})
    roster = state.get("roster", {})
    entries = []
    for c in state.get("class", []):
        sid = c["student"]
        folder = out / STUDENTS / c["folder"]
        result: SubmissionResult | None = None
        if not c["source"]:
            status = "not_submitted"
        elif sid in records:
            try:
                result = load_result(folder / FULL)
            except (OSError, ValueError, KeyError, TypeError):
                result = None
            status = ("not_graded" if result is None else "error" if result.error else "graded")
        else:
            status = "not_graded"
        info = roster.get(sid, {})
        submitted = parse_time(c["submitted"]) if c.get("submitted") else None
        deadline = parse_time(c["deadline"]) if c.get("deadline") else None
        entries.append(gradebook.ClassEntry(
            student=sid, status=status, result=result,
            roster={k: info.get(k, "") for k in gradebook.ROSTER_FIELDS},
            report=f"{STUDENTS}/{c['folder']}/{REPORT}"
            if result is not None and (folder / REPORT).is_file() else "",
            submitted=submitted if c["source"] else None,
            submitted_source=c.get("submitted_source", ""), deadline=deadline,
            marked_late=bool(c.get("marked_late")) and bool(c["source"])))
    return entries


def build_outputs(out: Path, state: dict[str, Any]) -> Built:
    """gradebook.csv, tests.csv, canvas.csv and index.html from batch.json and the results."""
    policy = LatePolicy(**state.get("late", {}).get("policy", {}))
    topics = state.get("topics", [])
    entries, applied = overrides.apply_to_class(
        class_entries(out, state), overrides.from_state(state.get("overrides", [])))
    rows = gradebook.student_rows(entries, topics, policy)
    untimed = untimed_students(entries)
    rerender = set(applied) | set(state.get("adjusted", []))
    for e in entries:  # the student's own report shows the raw score, the penalty and the final
        if e.result is not None and e.report and (e.submitted or e.marked_late) and e.deadline:
            lateness = assess(e.result.score, e.result.max_score, e.submitted, e.deadline, policy,
                              marked_late=e.marked_late)
            if lateness.penalty or e.student in rerender:
                write_text_atomic(out / e.report, render_report(
                    student_copy(e.result), lateness, overrides.report_rows(applied.get(e.student, []))))
        elif e.result is not None and e.report and e.student in rerender:
            write_text_atomic(out / e.report, render_report(
                student_copy(e.result), None, overrides.report_rows(applied.get(e.student, []))))
    pairs = similarity.read_pairs(out)
    similarity.mark_rows(rows, pairs)
    for row in rows:
        row["adjustments"] = overrides.describe(applied.get(row["student"], []))
    gradebook.write_tables(out, rows, gradebook.rows_per_test(entries),
                           state.get("canvas", {}).get("assignment", DEFAULT_ASSIGNMENT), topics)
    stats = gradebook.class_stats(rows)
    late = state.get("late", {})
    write_text_atomic(out / INDEX, overview.render_overview(
        rows, entries, topics, stats,
        late_text=(f"deadline {late['deadline']}, {policy.describe()}"
                   + (f" · {untimed_line(untimed)}" if untimed else "")
                   if late.get("deadline") else ""),
        similar=similarity.overview_pairs(
            pairs, {c["student"]: c["folder"] for c in state.get("class", [])},
            {e.student: e.report for e in entries})))
    errors = {r["student"]: r["error"] for r in rows if r["status"] in ("error", "not_graded")}
    notes = []
    if untimed:
        notes.append(untimed_line(untimed))
    blank = sum(1 for r in rows if r["status"] in ("error", "not_graded"))
    if blank:
        notes.append(f"{blank} student{'s have' if blank > 1 else ' has'} no grade in "
                     f"{gradebook.CANVAS}: grading broke or has not run (see the error column "
                     "of the gradebook)")
    no_id = [s for s in moodle_rows(rows, "")[1] if s not in errors]
    if no_id and state.get("roster"):
        notes.append(f"moodle.csv leaves out {len(no_id)} student(s) with neither an sis_id nor "
                     f"an email login in the roster: {', '.join(no_id[:5])}")
    if not state.get("roster"):
        notes.append(f"no roster: {gradebook.CANVAS} has no Canvas or SIS ids to match students "
                     "by (give --roster FILE)")
    return Built(stats, errors, notes)


def untimed_students(entries: list[gradebook.ClassEntry]) -> list[str]:
    """Students under a deadline whose submission has no trustworthy time (and no LMS marker)."""
    return [e.student for e in entries if e.deadline is not None and e.status != "not_submitted"
            and e.submitted is None and not e.marked_late]


def untimed_line(students: list[str]) -> str:
    return (f"late policy not applied to {len(students)} submission(s) with no submission time "
            f"({', '.join(students[:5])}{', …' if len(students) > 5 else ''}): the files' "
            f"times are when they were downloaded, not submitted; give {TIMES_NAME} "
            "(student,submitted_at) beside the submissions or a 'submitted' column in the roster")


def refresh(out: Path) -> Built | None:
    """Rebuild a batch folder's tables and overview (after a student was regraded into it)."""
    state = read_state(out)
    if not state:
        return None
    return build_outputs(out, state)


def batch_folder_of(student_out: Path) -> Path | None:
    """The batch folder that ``student_out`` (DIR/students/<id>) belongs to, if it is one."""
    student_out = student_out.resolve()
    parent = student_out.parent
    if parent.name == STUDENTS and (parent.parent / STATE).is_file():
        return parent.parent
    return None
