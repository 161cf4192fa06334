"""The grading queue, in the database: an accepted upload is a queued submission until a
dispatcher claims it, and a grading counts only once it is recorded with the attempt that
claimed it, so a server killed at any moment loses nothing and grades nothing twice.

A dispatcher claims with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL: several dispatchers never take
the same row; SQLite ignores it and has one dispatcher, held by a lock file), and only while it
has loaded the course's newest tests (their generation: the instructor's latest "the tests
changed"); it keeps a heartbeat on what it runs. What a dead dispatcher left running is put back
(``grader.serve.presence`` tells the dead from the living; the lease catches one that hangs)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from grader.serve import db
from grader.serve.db import gradings, submissions
from grader.serve.lti import ags

LEASE = dt.timedelta(seconds=60)  # a running submission whose heartbeat is older is put back
NEW, REGRADE = 0, 1  # priorities: a new upload before a regrade of the class


class RateLimited(Exception):
    """The student has used today's graded submissions for this assignment."""


@dataclass(frozen=True)
class Claim:
    """A submission taken from the queue, with what grading it needs."""

    submission_id: int
    attempt: int
    seed: int
    assignment_id: int
    upload_sha256: str
    graded_name: str


def day_start(at: dt.datetime) -> dt.datetime:
    """The start of ``at``'s UTC day: the rate limit counts per UTC day."""
    return at.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def used_today(c: sa.Connection, account_id: int, assignment_id: int, at: dt.datetime) -> int:
    return c.execute(sa.select(sa.func.count()).select_from(submissions).where(
        submissions.c.account_id == account_id, submissions.c.assignment_id == assignment_id,
        submissions.c.received_at >= day_start(at))).scalar_one()


def enqueue(engine: sa.Engine, *, account_id: int, assignment_id: int, sha256: str, size: int,
            filename: str, graded_name: str, limit: int,
            then: Callable[[sa.Connection, int], None] | None = None) -> int:
    """Record an accepted upload as a queued submission; RateLimited past ``limit`` a day.
    ``then(c, submission_id)``: what else to record of it in the same transaction (its files).

    The count and the insert are one transaction that holds the student's lock (SQLite: the
    write lock from its start; PostgreSQL: the account's row), so parallel uploads cannot both
    see room for one more."""
    received = db.now()
    with db.transaction(engine, write=True) as c:
        c.execute(sa.select(db.accounts.c.id).where(db.accounts.c.id == account_id)
                  .with_for_update())
        if used_today(c, account_id, assignment_id, received) >= limit:
            raise RateLimited()
        # The same bytes may be recorded by another student's upload at this very moment
        # (another web process): the row is made once, whoever comes second uses it.
        insert = (postgresql.insert if c.dialect.name == "postgresql" else sqlite.insert)
        c.execute(insert(db.uploads).values(sha256=sha256, size=size, created_at=received)
                  .on_conflict_do_nothing(index_elements=["sha256"]))
        sid = int(c.execute(submissions.insert().values(
            account_id=account_id, assignment_id=assignment_id, upload_sha256=sha256,
            filename=filename, graded_name=graded_name, received_at=received, seed=secrets.randbelow(2**31),
            status="queued", priority=NEW, attempt=0, claimed_by="", error="")
            .returning(submissions.c.id)).scalar_one())
        if then is not None:
            then(c, sid)
        return sid


def claim(c: sa.Connection, worker: str, generation: int) -> Claim | None:
    """The next queued submission, now running under ``worker``; None when the queue is empty,
    or when ``generation`` (the tests the dispatcher has loaded) is older than the newest: a
    dispatcher loads the new tests before it claims again, and one statement sees both, so a
    regrade queued with "the tests changed" is never graded with the tests before it.
    ``c``: a writing transaction (``db.transaction(engine, write=True)``), which the caller may
    go on using to read what grading the claim needs."""
    s = submissions
    newest = sa.select(sa.func.coalesce(sa.func.max(db.class_requests.c.id), 0)).where(
        db.class_requests.c.kind == "reload").scalar_subquery()
    row = c.execute(sa.select(s.c.id, s.c.attempt, s.c.seed, s.c.assignment_id,
                              s.c.upload_sha256, s.c.graded_name)
                    .where(s.c.status == "queued", sa.literal(generation) >= newest)
                    .order_by(s.c.priority, s.c.id).limit(1)
                    .with_for_update(skip_locked=True)).first()
    if row is None:
        return None
    c.execute(s.update().where(s.c.id == row.id).values(
        status="running", attempt=row.attempt + 1, claimed_by=worker, heartbeat_at=db.now()))
    return Claim(row.id, row.attempt + 1, row.seed, row.assignment_id, row.upload_sha256,
                 row.graded_name)


def tests_generation(engine: sa.Engine) -> int:
    """The generation of the course's tests: the instructor's latest "the tests changed" (0 for
    none). A dispatcher reads it before it loads the tests, and claims only while it is the
    newest."""
    with db.transaction(engine) as c:
        return int(c.execute(sa.select(sa.func.coalesce(sa.func.max(db.class_requests.c.id), 0))
                             .where(db.class_requests.c.kind == "reload")).scalar_one())


def tests_loaded(engine: sa.Engine, generation: int) -> None:
    """The instructor's "the tests changed" up to ``generation`` done: a dispatcher loaded them."""
    r = db.class_requests
    with db.transaction(engine) as c:
        c.execute(r.update().where(r.c.kind == "reload", r.c.id <= generation,
                                   r.c.done_at.is_(None)).values(done_at=db.now()))


def heartbeat(engine: sa.Engine, worker: str, ids: list[int]) -> None:
    if ids:
        with db.transaction(engine) as c:
            c.execute(submissions.update().where(
                submissions.c.id.in_(ids), submissions.c.status == "running",
                submissions.c.claimed_by == worker).values(heartbeat_at=db.now()))


def put_back(engine: sa.Engine, *, everything: bool = False) -> int:
    """Running submissions whose dispatcher hangs back to the queue: those whose heartbeat is
    older than the lease, or (``everything``: SQLite's one dispatcher starting) all of them."""
    with db.transaction(engine, write=True) as c:
        cond = submissions.c.status == "running"
        if not everything:
            cond = sa.and_(cond, submissions.c.heartbeat_at < db.now() - LEASE)
        return c.execute(submissions.update().where(cond).values(
            status="queued", claimed_by="")).rowcount


def put_back_claims(c: sa.Connection, worker: str | None) -> int:
    """The running submissions of ``worker``, a dispatcher known dead, back to the queue; with
    None, those of no registered dispatcher (one that stopped, or was found dead). One statement:
    a claim it sees was made by a dispatcher whose registration it sees too."""
    s = submissions
    cond = (s.c.claimed_by == worker if worker is not None
            else s.c.claimed_by.not_in(sa.select(db.dispatchers.c.name)))
    return c.execute(s.update().where(s.c.status == "running", cond).values(
        status="queued", claimed_by="")).rowcount


def complete(engine: sa.Engine, claim: Claim, worker: str, *, folder: str, raw: float,
             final: float, max_score: float, penalty: float, topics: dict[str, Any],
             error: str, counts: str = "last") -> bool:
    """Record a finished grading, if its attempt is still the submission's (a dispatcher that
    lost its lease has its late result ignored); whether it was recorded. The student's counted
    grade (``counts``: the assignment's "last" or "best") is queued for the LMS with it."""
    with db.transaction(engine, write=True) as c:
        updated = c.execute(submissions.update().where(
            submissions.c.id == claim.submission_id, submissions.c.attempt == claim.attempt,
            submissions.c.status == "running", submissions.c.claimed_by == worker).values(
            status="error" if error and not topics else "graded", score=final,
            max_score=max_score, error=error)).rowcount
        if not updated:
            return False
        c.execute(gradings.insert().values(
            submission_id=claim.submission_id, attempt=claim.attempt, folder=folder, raw=raw,
            final=final, max_score=max_score, penalty_percent=penalty,
            topics=json.dumps(topics), error=error, graded_at=db.now()))
        ags.grade_changed(c, claim.submission_id, counts)
        return True


def position(c: sa.Connection, submission_id: int) -> int:
    """How many submissions are graded before this queued one (0: it is next)."""
    me = c.execute(sa.select(submissions.c.priority).where(
        submissions.c.id == submission_id)).scalar_one()
    return c.execute(sa.select(sa.func.count()).select_from(submissions).where(
        submissions.c.status == "queued",
        sa.or_(submissions.c.priority < me,
               sa.and_(submissions.c.priority == me, submissions.c.id < submission_id)))
    ).scalar_one()


def requeue(engine: sa.Engine, where: Any) -> int:
    """Put the submissions matching ``where`` back in the queue (a regrade; same seed). One being
    graded goes back too: that grading was under the terms or the tests before the ask, and its
    result is no longer recorded (its attempt is not the submission's once claimed again)."""
    s = submissions
    with db.transaction(engine, write=True) as c:
        return c.execute(s.update().where(
            where, s.c.status.in_(("graded", "error", "running"))).values(
            status="queued", claimed_by="",  # a new upload being graded keeps its place
            priority=sa.case((s.c.status == "running", s.c.priority), else_=REGRADE))).rowcount
