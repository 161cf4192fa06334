"""Grades back to the LMS (LTI Assignment and Grade Services 2.0): each assignment launched in a
course maps to a line item there, and every change of a student's counted grade is written, in
the transaction that records it, to an outbox of Scores that the sender posts.

The counted grade is chosen as the class pages choose it (``classview.counted``): the latest
grading of the student's last graded submission, or of their best."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from grader.serve import db

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"


def link_lineitem(c: sa.Connection, context: int, assignment_id: int, resource_link_id: str,
                  given_url: str) -> int:
    """The course's line item of the assignment: the platform's (the launch's ``lineitem``),
    or one the sender will make (url "")."""
    t = db.lti_lineitems
    row = c.execute(sa.select(t).where(t.c.context_id == context,
                                       t.c.assignment_id == assignment_id)).first()
    if row is None:
        return int(c.execute(t.insert().values(
            context_id=context, assignment_id=assignment_id, url=given_url,
            resource_link_id=resource_link_id).returning(t.c.id)).scalar_one())
    if given_url and row.url != given_url:
        c.execute(t.update().where(t.c.id == row.id).values(url=given_url))
    return int(row.id)


def _counted_query() -> Any:
    s, g = db.submissions, db.gradings
    latest = sa.select(g.c.submission_id, sa.func.max(g.c.attempt).label("attempt")) \
        .group_by(g.c.submission_id).subquery()
    return (sa.select(s.c.id, g.c.final, g.c.max_score, g.c.graded_at)
            .join(latest, latest.c.submission_id == s.c.id)
            .join(g, sa.and_(g.c.submission_id == s.c.id, g.c.attempt == latest.c.attempt))
            .where(s.c.account_id == sa.bindparam("account_id"),
                   s.c.assignment_id == sa.bindparam("assignment_id"))
            .order_by(s.c.id))


# Built once: a grading's transaction runs these for every submission graded, and building a
# statement costs the dispatcher more than SQLite takes to run it.
_COUNTED = _counted_query()


def counted_grade(c: sa.Connection, account_id: int, assignment_id: int, counts: str
                  ) -> Any:
    """(submission id, final, max_score, graded_at) of the grading that counts, or None."""
    rows = c.execute(_COUNTED, {"account_id": account_id, "assignment_id": assignment_id}).all()
    chosen = None
    for r in rows:  # as classview.counted: the last, or the first of the best
        if counts == "best" and chosen is not None and r.final <= chosen.final:
            continue
        chosen = r
    return chosen


def score_body(sub: str, grade: Any, tool_url: str) -> dict[str, Any]:
    """The Score (AGS 2.0 §3.4): the counted final grade, when it was given, and where its
    report is."""
    return {"userId": sub, "scoreGiven": round(float(grade.final), 4),
            "scoreMaximum": round(float(grade.max_score), 4),
            "activityProgress": "Completed", "gradingProgress": "FullyGraded",
            "timestamp": db.now().isoformat(timespec="milliseconds"),
            "comment": f"Report: {tool_url}/submissions/{grade.id}" if tool_url else ""}


def _targets() -> Any:
    """The line items of the courses where an account is a student, with its id there."""
    m, li, ctx = db.lti_members, db.lti_lineitems, db.lti_contexts
    return (sa.select(li.c.id, m.c.sub, ctx.c.tool_url)
            .select_from(li).join(m, m.c.context_id == li.c.context_id)
            .join(ctx, ctx.c.id == li.c.context_id).where(m.c.role == "student"))


def _targets_of_submission() -> Any:
    s, m, li = db.submissions, db.lti_members, db.lti_lineitems
    mine = sa.and_(s.c.account_id == m.c.account_id, s.c.assignment_id == li.c.assignment_id)
    return _targets().join(s, mine).add_columns(s.c.account_id, s.c.assignment_id) \
        .where(s.c.id == sa.bindparam("submission_id"))


def _targets_of_student() -> Any:
    m, li = db.lti_members, db.lti_lineitems
    return _targets().add_columns(m.c.account_id, li.c.assignment_id).where(
        m.c.account_id == sa.bindparam("account_id"),
        li.c.assignment_id == sa.bindparam("assignment_id"))


_OF_SUBMISSION = _targets_of_submission()
_OF_STUDENT = _targets_of_student()


def grade_changed(c: sa.Connection, submission_id: int, counts: str) -> int:
    """Queue the student's counted grade for every course line item of the submission's
    assignment, inside the transaction that recorded its grading (so a grade is never recorded
    without its Score queued); how many were queued. ``counts``: the assignment's "last" or
    "best". One query where the student launched from no course."""
    return _queue(c, c.execute(_OF_SUBMISSION, {"submission_id": submission_id}).all(),
                  counts)


def queue_current(c: sa.Connection, account_id: int, assignment_id: int, counts: str,
                  only_new: bool = False) -> int:
    """Queue the counted grade of the student for the assignment's line items in each course
    they are a student of. ``only_new``: not where the same grade was queued already (a
    launch, looking for grades the LMS has not had)."""
    targets = c.execute(_OF_STUDENT, {"account_id": account_id,
                                      "assignment_id": assignment_id}).all()
    return _queue(c, targets, counts, only_new)


def _queue(c: sa.Connection, targets: Sequence[Any], counts: str, only_new: bool = False) -> int:
    if not targets:
        return 0
    grade = counted_grade(c, targets[0].account_id, targets[0].assignment_id, counts)
    if grade is None:
        return 0
    n = 0
    for t in targets:
        body = score_body(t.sub, grade, t.tool_url)
        if only_new and _same_as_last(c, t.id, t.account_id, body):
            continue
        enqueue(c, t.id, t.account_id, t.sub, body)
        n += 1
    return n


def _same_as_last(c: sa.Connection, lineitem: int, account_id: int, body: dict[str, Any]
                  ) -> bool:
    sc = db.lti_scores
    last = c.execute(sa.select(sc.c.body).where(
        sc.c.lineitem_id == lineitem, sc.c.account_id == account_id,
        sc.c.status.in_(("pending", "sent"))).order_by(sc.c.id.desc()).limit(1)).scalar()
    if last is None:
        return False
    old = json.loads(last)
    return all(old.get(k) == body[k] for k in ("scoreGiven", "scoreMaximum", "comment"))


def _supersede() -> Any:
    sc = db.lti_scores
    return sc.update().where(
        sc.c.lineitem_id == sa.bindparam("lineitem"), sc.c.account_id == sa.bindparam("account"),
        sc.c.status.in_(("pending", "failed")),
        sa.or_(sc.c.claimed_until.is_(None), sc.c.claimed_until < sa.bindparam("now"))
    ).values(status="superseded")


_SUPERSEDE = _supersede()
_INSERT = db.lti_scores.insert()


def enqueue(c: sa.Connection, lineitem: int, account_id: int, sub: str, body: dict[str, Any]
            ) -> None:
    """A new Score in the outbox; an older one of the same student and line item that no
    sender holds is superseded (scores are whole values: only the newest matters, and it is
    never overtaken by an older one)."""
    now = db.now()
    c.execute(_SUPERSEDE, {"lineitem": lineitem, "account": account_id, "now": now})
    c.execute(_INSERT, {"lineitem_id": lineitem, "account_id": account_id, "sub": sub,
                        "body": json.dumps(body), "status": "pending", "tries": 0,
                        "next_try_at": now, "claimed_by": "", "error": "", "created_at": now})


def outbox(c: sa.Connection) -> dict[str, Any]:
    """What the instructor's page shows: counts by status, and the scores waiting or failed."""
    sc, a = db.lti_scores, db.accounts
    counts: dict[str, int] = dict(c.execute(  # type: ignore[arg-type]
        sa.select(sc.c.status, sa.func.count()).group_by(sc.c.status)).all())
    waiting = c.execute(
        sa.select(sc.c.id, sc.c.status, sc.c.tries, sc.c.error, sc.c.next_try_at, sc.c.body,
                  a.c.login).join(a, a.c.id == sc.c.account_id)
        .where(sc.c.status.in_(("pending", "failed"))).order_by(sc.c.id).limit(100)).all()
    return {"counts": counts, "waiting": [
        {"id": w.id, "status": w.status, "tries": w.tries, "error": w.error, "login": w.login,
         "score": f"{json.loads(w.body)['scoreGiven']:g} / {json.loads(w.body)['scoreMaximum']:g}",
         "next": str(db.aware(w.next_try_at))[:19]} for w in waiting]}


def retry_failed(c: sa.Connection) -> int:
    sc = db.lti_scores
    return c.execute(sc.update().where(sc.c.status == "failed").values(
        status="pending", next_try_at=db.now() - dt.timedelta(seconds=1), claimed_until=None))\
        .rowcount
