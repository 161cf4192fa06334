"""The instructor's live class pages: for each assignment, a batch folder (batch.json and each
student's counted submission under students/) from which the batch's own tables and overview
are built, so the service's gradebook, canvas.csv, moodle.csv and index.html are the batch's.

Each rebuild writes a complete new version of that folder and switches to it at once
(``grader.serve.versions``): the pages of students whose counted grading is unchanged, and the
last comparison's similarity pages, are hard links to the files already there, so a version
costs little more than its tables."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from grader.classroom import similarity
from grader.classroom.layout import STATE, STUDENTS, folder_name
from grader.classroom.overrides import Override, to_state
from grader.classroom.state import STATE_VERSION
from grader.classroom.tables import build_outputs
from grader.results.model import write_json_atomic
from grader.serve import compose, db, store, versions
from grader.serve.config import Assignment

CLASS = "class"
PAGE_FILES = ("result.json", "results.json", "report.html", "instructor.html", "grade.json")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Counted:
    """The submission that counts for a student, and where its latest grading's files are."""

    submission_id: int
    folder: Path
    received_at: str
    sha256: str
    name: str
    parts: tuple[store.Part, ...] = ()  # its files, where some were carried over (compose)


def class_folder(state: Path, assignment: str) -> Path:
    """The assignment's class folder: a symlink to its current version."""
    return state / CLASS / assignment


def gradings_count(c: sa.Connection) -> dict[int, int]:
    """assignment id -> how many gradings of its submissions are recorded. Gradings are only
    ever added, so a version built from as many is up to date."""
    s, g = db.submissions, db.gradings
    return {int(a): int(n) for a, n in c.execute(
        sa.select(s.c.assignment_id, sa.func.count(g.c.id)).join(g, g.c.submission_id == s.c.id)
        .group_by(s.c.assignment_id)).all()}


def counted(c: sa.Connection, assignment_id: int, counts: str, state: Path
            ) -> dict[str, Counted]:
    """login -> the submission that counts (the last graded, or the best), with its files."""
    s, g, a = db.submissions, db.gradings, db.accounts
    latest = sa.select(g.c.submission_id, sa.func.max(g.c.attempt).label("attempt")) \
        .group_by(g.c.submission_id).subquery()
    rows = c.execute(
        sa.select(a.c.login, s.c.id, s.c.received_at, s.c.upload_sha256, s.c.graded_name,
                  g.c.folder, g.c.final)
        .join(a, a.c.id == s.c.account_id)
        .join(latest, latest.c.submission_id == s.c.id)
        .join(g, sa.and_(g.c.submission_id == s.c.id, g.c.attempt == latest.c.attempt))
        .where(s.c.assignment_id == assignment_id, a.c.role == "student")
        .order_by(s.c.id)).all()
    out: dict[str, Counted] = {}
    best: dict[str, float] = {}
    for r in rows:
        if counts == "best" and r.login in best and r.final <= best[r.login]:
            continue
        best[r.login] = r.final
        received = db.aware(r.received_at)
        out[r.login] = Counted(r.id, state / r.folder,
                               received.isoformat() if received else "", r.upload_sha256,
                               r.graded_name)
    # The rebuilding child reads no database: what a composed submission is made of comes along.
    composed = compose.parts_of(c, [got.submission_id for got in out.values()])
    return {login: dataclasses.replace(got, parts=tuple(composed.get(got.submission_id, ())))
            for login, got in out.items()}


@dataclass(frozen=True)
class Snapshot:
    """What an assignment's class pages are made of, read from the database at one moment."""

    assignment: Assignment
    topics: list[str]
    students: list[str]
    chosen: dict[str, Counted]
    roster: dict[str, Any]
    extensions: dict[str, str]
    overrides: list[Override]
    gradings: int = 0  # the assignment's gradings recorded before it was read


def snapshot(c: sa.Connection, state: Path, assignment: Assignment, assignment_id: int,
             roster: Mapping[str, Any], topics: list[str], extensions: Mapping[str, str],
             overrides: list[Override]) -> Snapshot:
    # Counted first: a grading recorded meanwhile is in the snapshot and not in the count, so
    # the next look finds the version behind and builds another, never the other way round.
    recorded = gradings_count(c).get(assignment_id, 0)
    students = list(c.execute(sa.select(db.accounts.c.login).where(
        db.accounts.c.role == "student", db.accounts.c.active.is_(True))
        .order_by(db.accounts.c.login)).scalars())
    return Snapshot(assignment, topics, students,
                    counted(c, assignment_id, assignment.counts, state),
                    {k: v for k, v in roster.items() if k in students}, dict(extensions),
                    list(overrides), recorded)


def write(snap: Snapshot, state: Path, course: Any, *, compare: bool) -> Path:
    """Write a new version of the assignment's class folder from ``snap`` and the gradings'
    files, and switch to it; ``compare``: compare the submissions for similarity again (else
    the last comparison's pairs stay: it is the slow part, done when the queue is empty). The
    version's folder."""
    a = snap.assignment
    link = class_folder(state, a.name)
    before = versions.current(link)
    out = versions.new_folder(link, snap.gradings, compare)
    try:
        (out / STUDENTS).mkdir()
        entries, records = [], {}
        for login in snap.students:
            folder = folder_name(login)
            got = snap.chosen.get(login)
            entries.append({"student": login, "folder": folder,
                            "source": f"submission {got.submission_id}" if got else "",
                            "submitted": got.received_at if got else "",
                            "submitted_source": "server" if got else "",
                            "deadline": snap.extensions.get(login, a.deadline)})
            if got is None:
                continue
            _link_pages(got.folder, before.path / STUDENTS / folder if before else None,
                        out / STUDENTS / folder)
            records[login] = {"submission": got.submission_id, "status": "graded"}
        state_doc = {
            "schema_version": STATE_VERSION, "submissions": "", "topics": snap.topics,
            "course": "", "roster": snap.roster,
            "late": {"deadline": a.deadline, "policy": vars(a.policy)},
            "canvas": {"assignment": a.title}, "class": entries, "students": records,
            "overrides": to_state(snap.overrides),
            "adjusted": sorted({o.student for o in snap.overrides}),
            "back": "/instructor"}  # the overview's way back, shown where the service serves it
        write_json_atomic(out / STATE, state_doc, durable=False)
        if compare:
            _similarity(out, state, course, snap.chosen, snap.topics)
        elif before is not None:
            _link_similarity(before.path, out)
        build_outputs(out, state_doc)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    versions.switch(link, out)
    versions.prune(link)
    return out


def _link_pages(source: Path, before: Path | None, target: Path) -> None:
    """A student's pages in the new version: those of the version before where they are of the
    same grading (the tables may have written them again with a newer grade), else the
    grading's own files; hard links either way (the tables replace a file, never write into
    one, so a link never changes the file it shares)."""
    target.mkdir()
    stamp = ".source"
    if before is not None and _read(before / stamp) == str(source):
        for p in before.iterdir():
            if p.is_file():
                _link(p, target / p.name)
        return
    for name in PAGE_FILES:
        if (source / name).is_file():
            _link(source / name, target / name)
    (target / stamp).write_text(str(source))


def _link_similarity(before: Path, out: Path) -> None:
    """The last comparison's files (similarity.csv, its notes, its pages), in the new version."""
    for name in (similarity.CSV_NAME, similarity.NOTES_NAME):
        if (before / name).is_file():
            _link(before / name, out / name)
    pages = before / similarity.PAGES
    for folder, _, files in os.walk(pages):
        here = out / Path(folder).relative_to(before)
        here.mkdir(parents=True, exist_ok=True)
        for name in files:
            _link(Path(folder) / name, here / name)


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, target)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _similarity(out: Path, state: Path, course: Any, chosen: Mapping[str, Counted],
                topics: list[str]) -> None:
    """similarity.csv and its pages over the counted submissions, as a batch writes them:
    bounded, in a child (``similarity.compare_class``); an upload that cannot be read is one
    student's note, a comparison that fails or runs out is logged, never the class pages'
    failure."""
    work = out / ".uploads"
    shutil.rmtree(work, ignore_errors=True)
    entries = []
    unread: dict[str, str] = {}
    try:
        for login, got in chosen.items():
            try:
                path = store.materialise(state, got.sha256, got.name, work / folder_name(login),
                                         got.parts)
            except Exception as exc:  # noqa: BLE001 - one student's upload, not the class's
                unread[login] = f"{type(exc).__name__}: {exc}"[:500]
                continue
            entries.append((login, path, folder_name(login)))
        outcome = similarity.compare_class(out, course, entries, topics,
                                           similarity.DEFAULT_THRESHOLD)
        if unread:
            similarity.write_notes(out, {**outcome.left_out, **unread})
        if outcome.error:
            log.warning("class view %s: submissions could not be compared for similarity: %s",
                        out.name, outcome.error)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def topic_scores(result: Any) -> dict[str, list[float]]:
    return {t.topic: [t.score, t.max_score] for t in result.topics}


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
