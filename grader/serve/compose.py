"""A submission's files, topic by topic: an upload that holds only some of an assignment's topics
replaces those; the others are carried over from the student's newest submission of the
assignment, whatever its state (two uploads a moment apart each keep the other's file). What each topic's file is (which upload, where in it, uploaded with which
submission) is recorded with the submission, so a regrade grades the same files."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from grader.serve import db, store
from grader.serve.store import Checked, Part


@dataclass(frozen=True)
class Source:
    """Where one topic's file of a submission came from, for its page."""

    topic: str
    file: str  # the file as the student named it (a zip's member: its path, and the zip's name)
    source_id: int  # the submission it was uploaded with
    received: Any  # that submission's time of receipt
    carried: bool  # from an earlier submission


def counting(rows: Iterable[Any], counts: str) -> int | None:
    """The id of the submission that counts among ``rows`` (each with ``id`` and ``score``, the
    latest grading's final score; None where never graded): the last graded, or the best, the
    earlier of equal ones, as the class pages count them."""
    graded = sorted((r for r in rows if r.score is not None), key=lambda r: r.id)
    if not graded:
        return None
    if counts == "best":
        best = graded[0]
        for r in graded[1:]:
            if r.score > best.score:
                best = r
        return int(best.id)
    return int(graded[-1].id)


def record(c: sa.Connection, state: Path, submission_id: int, account_id: int,
           assignment_id: int, checked: Checked, topics: Sequence[str]) -> None:
    """Record the files of a new submission: the upload's own topics, and every other topic
    of the assignment that the student's newest earlier submission holds (if any), graded or
    not: the newest work, not the grade that counts, is what the student builds on.
    ``c``: the transaction that inserts the submission, which holds the student's lock."""
    s, f = db.submissions, db.submission_files
    rows = [{"topic": t, "name": _graded_name(t, checked, m), "upload_sha256": checked.sha256,
             "member": m, "source_id": submission_id} for t, m in checked.members.items()]
    missing = [t for t in topics if t not in checked.members]
    if missing:
        newest = c.execute(sa.select(sa.func.max(s.c.id)).where(
            s.c.account_id == account_id, s.c.assignment_id == assignment_id,
            s.c.id < submission_id)).scalar()
        if newest is not None:
            rows += [r for r in _files(c, state, newest, topics) if r["topic"] in missing]
    if rows:
        c.execute(f.insert(), [{"submission_id": submission_id, **r} for r in rows])


def _files(c: sa.Connection, state: Path, submission_id: int, topics: Sequence[str]
           ) -> list[dict[str, Any]]:
    """A submission's recorded files; for one recorded before files were, its upload's, found
    as they were when it was uploaded (none where it can no longer be read)."""
    f, s = db.submission_files, db.submissions
    rows = [{"topic": r.topic, "name": r.name, "upload_sha256": r.upload_sha256,
             "member": r.member, "source_id": r.source_id}
            for r in c.execute(sa.select(f).where(f.c.submission_id == submission_id))]
    if rows:
        return rows
    old = c.execute(sa.select(s.c.upload_sha256, s.c.graded_name)
                    .where(s.c.id == submission_id)).one()
    try:
        data = store.stored_path(state, old.upload_sha256).read_bytes()
        checked = store.check(data, old.graded_name, list(topics))
    except (OSError, store.UploadRefused):
        return []
    return [{"topic": t, "name": _graded_name(t, checked, m), "upload_sha256": old.upload_sha256,
             "member": m, "source_id": submission_id} for t, m in checked.members.items()]


def _graded_name(topic: str, checked: Checked, member: str) -> str:
    suffix = member.rsplit(".", 1)[-1] if member else checked.name.rsplit(".", 1)[-1]
    return f"{topic}.{suffix.lower()}"


def parts(engine: sa.Engine, submission_id: int) -> list[Part]:
    """The files of a submission made of several uploads, for the engine; [] for one graded
    as it was uploaded (nothing carried over)."""
    with db.transaction(engine) as c:
        return parts_in(c, submission_id)


def parts_in(c: sa.Connection, submission_id: int) -> list[Part]:
    """``parts``, read in the transaction ``c``."""
    return parts_of(c, [submission_id]).get(submission_id, [])


def parts_of(c: sa.Connection, ids: Sequence[int]) -> dict[int, list[Part]]:
    """``parts`` of several submissions in one query: those made of several uploads only."""
    f = db.submission_files
    found: dict[int, list[Any]] = {}
    for chunk in range(0, len(ids), 500):
        for r in c.execute(sa.select(f).where(f.c.submission_id.in_(list(ids[chunk:chunk + 500])))
                           .order_by(f.c.submission_id, f.c.topic)):
            found.setdefault(r.submission_id, []).append(r)
    return {sid: [Part(r.topic, r.name, r.upload_sha256, r.member) for r in rows]
            for sid, rows in found.items() if any(r.source_id != sid for r in rows)}


def sources(c: sa.Connection, submission_id: int) -> dict[str, Source]:
    """topic -> where its file came from; {} for a submission recorded without them."""
    f, s = db.submission_files, db.submissions
    rows = c.execute(sa.select(f.c.topic, f.c.member, f.c.source_id, s.c.filename,
                               s.c.received_at)
                     .join(s, s.c.id == f.c.source_id)
                     .where(f.c.submission_id == submission_id)).all()
    return {r.topic: Source(r.topic, f"{r.member} in {r.filename}" if r.member else r.filename,
                            r.source_id, r.received_at, r.source_id != submission_id)
            for r in rows}


def carried_counts(c: sa.Connection, ids: Sequence[int]) -> dict[int, int]:
    """submission id -> how many of its topics' files were carried over (only those with any)."""
    f = db.submission_files
    if not ids:
        return {}
    rows = c.execute(sa.select(f.c.submission_id, sa.func.count()).where(
        f.c.submission_id.in_(list(ids)), f.c.source_id != f.c.submission_id)
        .group_by(f.c.submission_id)).all()
    return {int(r[0]): int(r[1]) for r in rows}
