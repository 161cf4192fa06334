"""The grading queue, in the database: an accepted upload is a queued submission until a
dispatcher claims it, and a grading counts only once it is recorded with the attempt that
claimed it, so a server killed at any moment loses nothing and grades nothing twice.

A dispatcher claims with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL: several dispatchers never take
the same row; SQLite ignores it and has one dispatcher, held by a lock file), keeps a heartbeat
on what it runs, and puts back what a dead dispatcher left running."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

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
            filename: str, graded_name: str, limit: int) -> int:
    """Record an accepted upload as a queued submission; RateLimited past ``limit`` a day.

    The count and the insert are one transaction that holds the student's lock (SQLite: the
    write lock from its start; PostgreSQL: the account's row), so parallel uploads cannot both
    see room for one more."""
    received = db.now()
    with db.transaction(engine, write=True) as c:
        c.execute(sa.select(db.accounts.c.id).where(db.accounts.c.id == account_id)
                  .with_for_update())
        if used_today(c, account_id, assignment_id, received) >= limit:
            raise RateLimited()
        exists = c.execute(sa.select(db.uploads.c.sha256)
                           .where(db.uploads.c.sha256 == sha256)).first()
        if exists is None:
            c.execute(db.uploads.insert().values(sha256=sha256, size=size, created_at=received))
        return int(c.execute(submissions.insert().values(
            account_id=account_id, assignment_id=assignment_id, upload_sha256=sha256,
            filename=filename, graded_name=graded_name, received_at=received, seed=secrets.randbelow(2**31),
            status="queued", priority=NEW, attempt=0, claimed_by="", error="")
            .returning(submissions.c.id)).scalar_one())


def claim(c: sa.Connection, worker: str) -> Claim | None:
    """The next queued submission, now running under ``worker``; None when the queue is empty,
    or held: while the instructor's "the tests changed" waits to be done, nothing is claimed
    (one statement sees both, so a regrade queued after that ask is never graded before it).
    ``c``: a writing transaction (``db.transaction(engine, write=True)``), which the caller may
    go on using to read what grading the claim needs."""
    s, asks = submissions, db.class_requests
    reload_waits = sa.exists().where(asks.c.kind == "reload", asks.c.done_at.is_(None))
    row = c.execute(sa.select(s.c.id, s.c.attempt, s.c.seed, s.c.assignment_id,
                              s.c.upload_sha256, s.c.graded_name)
                    .where(s.c.status == "queued", ~reload_waits)
                    .order_by(s.c.priority, s.c.id).limit(1)
                    .with_for_update(skip_locked=True)).first()
    if row is None:
        return None
    c.execute(s.update().where(s.c.id == row.id).values(
        status="running", attempt=row.attempt + 1, claimed_by=worker, heartbeat_at=db.now()))
    return Claim(row.id, row.attempt + 1, row.seed, row.assignment_id, row.upload_sha256,
                 row.graded_name)


def heartbeat(engine: sa.Engine, worker: str, ids: list[int]) -> None:
    if ids:
        with db.transaction(engine) as c:
            c.execute(submissions.update().where(
                submissions.c.id.in_(ids), submissions.c.status == "running",
                submissions.c.claimed_by == worker).values(heartbeat_at=db.now()))


def put_back(engine: sa.Engine, *, everything: bool = False) -> int:
    """Running submissions whose dispatcher is gone back to the queue: those whose heartbeat is
    older than the lease, or (``everything``: SQLite's one dispatcher starting) all of them."""
    with db.transaction(engine, write=True) as c:
        cond = submissions.c.status == "running"
        if not everything:
            cond = sa.and_(cond, submissions.c.heartbeat_at < db.now() - LEASE)
        return c.execute(submissions.update().where(cond).values(
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
    """Put the submissions matching ``where`` back in the queue (a regrade; same seed)."""
    with db.transaction(engine, write=True) as c:
        return c.execute(submissions.update().where(
            where, submissions.c.status.in_(("graded", "error"))).values(
            status="queued", priority=REGRADE, claimed_by="")).rowcount
