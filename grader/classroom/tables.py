"""The class tables and overview, rebuilt from batch.json and the results on disk."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader.classroom import gradebook, grades, overrides, overview, similarity, writers
from grader.classroom.late import LatePolicy, in_words, parse_time
from grader.classroom.layout import INDEX, STATE, STUDENTS, TIMES_NAME
from grader.classroom.roster import DEFAULT_ASSIGNMENT
from grader.classroom.state import read_state
from grader.results.files import FULL, REPORT, read_grade, write_pages
from grader.results.model import SubmissionResult, load_result, write_text_atomic


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
            marked_late=bool(c.get("marked_late")) and bool(c["source"]),
            duplicate=str(c.get("duplicate", ""))))
    return entries


def graded_entries(out: Path, state: dict[str, Any]) -> list[gradebook.ClassEntry]:
    """The class with each student's grade computed once (adjustments, then the late penalty).

    A student whose pages show another grade than this one (adjustments or a policy changed
    since they were written) has them written again, from the same grade the tables use."""
    records = {c["student"]: c for c in state.get("class", [])}
    out_entries = []
    for e in class_entries(out, state):
        if e.result is None:
            out_entries.append(e)
            continue
        g = grades.grade_of(e.result, grades.terms(state, records[e.student]))
        if e.report:
            folder = (out / e.report).parent
            if read_grade(folder) != g.grade.to_dict():
                write_pages(g.result, folder, g.grade, raw=e.result)
        out_entries.append(replace(e, result=g.result, grade=g.grade,
                                   adjustments=overrides.describe(g.applied)))
    return out_entries


def build_outputs(out: Path, state: dict[str, Any]) -> Built:
    """The writers' files (gradebook.csv, …) and index.html from batch.json and the results."""
    policy = LatePolicy(**state.get("late", {}).get("policy", {}))
    topics = state.get("topics", [])
    entries = graded_entries(out, state)
    rows = gradebook.student_rows(entries, topics, policy)
    untimed = untimed_students(entries)
    pairs = similarity.read_pairs(out)
    similarity.mark_rows(rows, pairs)
    _, written_notes = writers.write_all(out, writers.Context(
        rows, gradebook.rows_per_test(entries),
        state.get("canvas", {}).get("assignment", DEFAULT_ASSIGNMENT), topics,
        roster=bool(state.get("roster"))))
    stats = gradebook.class_stats(rows)
    late = state.get("late", {})
    write_text_atomic(out / INDEX, overview.render_overview(
        rows, entries, topics, stats,
        late_text=(f"deadline {in_words(parse_time(late['deadline']))}, {policy.describe()}"
                   + (f" · {untimed_line(untimed)}" if untimed else "")
                   if late.get("deadline") else ""),
        similar=similarity.overview_pairs(
            pairs, {c["student"]: c["folder"] for c in state.get("class", [])},
            {e.student: e.report for e in entries}),
        back=str(state.get("back") or "")))
    errors = {r["student"]: r["error"] for r in rows if r["status"] in ("error", "not_graded")}
    notes = [untimed_line(untimed)] if untimed else []
    return Built(stats, errors, notes + written_notes)


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
