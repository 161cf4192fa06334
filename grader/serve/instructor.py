"""The instructor's pages: the live class (the batch's overview and tables, rebuilt by the
dispatcher as submissions are graded), regrades, extensions and regrade requests."""

from __future__ import annotations

import math
import mimetypes
import os
from typing import Any

import sqlalchemy as sa
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from grader.classroom.late import PolicyError
from grader.classroom.layout import INDEX
from grader.classroom.overrides import within_test
from grader.results.files import FULL
from grader.results.model import load_result
from grader.results.numbers import number
from grader.serve import classview, dates, db, queue, versions
from grader.serve.student import granted_text
from grader.serve.web import (HEADERS, NOT_ROUTED, Account, Refusal, own_scripts_csp, page,
                              redirect, render, service)

DOWNLOADS = ("gradebook.csv", "canvas.csv", "moodle.csv", "tests.csv")
ANSWERED_SHOWN = 20  # the latest answered regrade requests the dashboard lists


@page(role="instructor")
def dashboard(request: Request, me: Account | None, form: FormData | None) -> Response:
    svc = service(request)
    s, acc, r = db.submissions, db.accounts, db.regrade_requests
    with db.transaction(svc.database) as c:
        counts: dict[str, int] = dict(c.execute(sa.select(s.c.status, sa.func.count()).group_by(s.c.status)).all())
        recent = c.execute(sa.select(s.c.id, s.c.status, s.c.score, s.c.max_score,
                                     s.c.received_at, s.c.filename, acc.c.login,
                                     s.c.assignment_id)
                           .join(acc, acc.c.id == s.c.account_id)
                           .order_by(s.c.id.desc()).limit(30)).all()
        asks = c.execute(sa.select(r, acc.c.login).join(acc, acc.c.id == r.c.account_id)
                         .where(r.c.status == "open").order_by(r.c.id)).all()
        answered = c.execute(sa.select(r, acc.c.login).join(acc, acc.c.id == r.c.account_id)
                             .where(r.c.status != "open").order_by(r.c.answered_at.desc(),
                                                                   r.c.id.desc())
                             .limit(ANSWERED_SHOWN)).all()
        students = c.execute(sa.select(acc.c.login).where(
            acc.c.role == "student", acc.c.active.is_(True)).order_by(acc.c.login)
        ).scalars().all()
        exts = c.execute(sa.select(db.extensions.c.deadline, acc.c.login,
                                   db.assignments.c.name)
                         .join(acc, acc.c.id == db.extensions.c.account_id)
                         .join(db.assignments,
                               db.assignments.c.id == db.extensions.c.assignment_id)).all()
    names = {i: n for n, i in svc.assignment_ids.items()}
    return render(request, "instructor.html", counts=counts, students=students,
                  assignments=[{"a": a, "deadline": dates.say_deadline(a.deadline, svc.tz)}
                               for a in svc.config.assignments],
                  topics=svc.course.topics(),
                  recent=[{"id": x.id, "status": x.status, "login": x.login,
                           "assignment": names.get(x.assignment_id, ""), "filename": x.filename,
                           "score": number(x.score) if x.score is not None else "",
                           "max_score": number(x.max_score) if x.max_score is not None else "",
                           "received": dates.say(x.received_at, svc.tz)}
                          for x in recent],
                  asks=asks, downloads=DOWNLOADS,
                  answered=[{"r": x, "granted": granted_text(x.points, x.asked)}
                            for x in answered],
                  time_zone=svc.config.time_zone,
                  extensions=[{"login": e.login, "name": e.name,
                               "deadline": dates.say(e.deadline, svc.tz)}
                              for e in exts],
                  built={a.name: (classview.class_folder(svc.state, a.name) / INDEX).is_file()
                         for a in svc.config.assignments})


@page(role="instructor")
def class_file(request: Request, me: Account | None, form: FormData | None) -> Response:
    """A file of an assignment's class folder: its overview, a student's pages, a table; of the
    version current when the request came, read whole through one descriptor."""
    svc = service(request)
    name = request.path_params["name"]
    if svc.config.assignment(name) is None:
        raise Refusal(404, "no such assignment")
    folder = classview.class_folder(svc.state, name)
    opened = versions.open_file(folder, request.path_params.get("path") or INDEX)
    if opened is None:
        if (folder / INDEX).is_file():  # the pages are built: this file is not among them
            raise Refusal(404, NOT_ROUTED[404])
        raise Refusal(404, "not there (yet): the class pages are written once a submission "
                           "of this assignment has been graded")
    fd, target = opened
    try:
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        headers = dict(HEADERS)
        if target.suffix == ".html":
            headers["Content-Security-Policy"] = own_scripts_csp()
        if target.suffix == ".csv":
            headers["Content-Disposition"] = f'attachment; filename="{name}-{target.name}"'
        return versions.DescriptorResponse(fd, media_type=kind, headers=headers)
    except BaseException:
        os.close(fd)
        raise


def _scope(svc: Any, form: FormData) -> tuple[Any, str]:
    """The submissions a regrade covers, and how to say it."""
    s, acc = db.submissions, db.accounts
    student = str(form.get("student", "")).strip()
    assignment = str(form.get("assignment", "")).strip()
    topic = str(form.get("topic", "")).strip()
    cond: Any = sa.true()
    said = []
    if student:
        cond = sa.and_(cond, s.c.account_id.in_(
            sa.select(acc.c.id).where(acc.c.login == student).scalar_subquery()))
        said.append(f"of {student}")
    if assignment:
        if assignment not in svc.assignment_ids:
            raise Refusal(400, f"no assignment {assignment!r}")
        cond = sa.and_(cond, s.c.assignment_id == svc.assignment_ids[assignment])
        said.append(f"for {assignment}")
    if topic:
        if topic not in svc.course.topics():
            raise Refusal(400, f"no topic {topic!r}")
        ids = [svc.assignment_ids[a.name] for a in svc.config.assignments
               if not a.topics or topic in a.topics]
        cond = sa.and_(cond, s.c.assignment_id.in_(ids))
        said.append(f"of assignments with {topic}")
    return cond, " ".join(said) or "of the whole class"


@page(role="instructor")
def regrade(request: Request, me: Account | None, form: FormData | None) -> Response:
    """Grade submissions again with their seeds; "tests changed" loads the course's tests anew
    (once the gradings in flight are done) before any of them is graded."""
    assert form is not None
    svc = service(request)
    cond, said = _scope(svc, form)
    if form.get("reload"):
        with db.transaction(svc.database, write=True) as c:
            c.execute(db.class_requests.insert().values(kind="reload", created_at=db.now()))
    n = queue.requeue(svc.database, cond)
    return render(request, "message.html", message=f"{n} submission(s) {said} queued for "
                  "regrading", back="/instructor")


@page(role="instructor")
def extension(request: Request, me: Account | None, form: FormData | None) -> Response:
    assert form is not None
    svc = service(request)
    login, name = str(form.get("student", "")).strip(), str(form.get("assignment", ""))
    if name not in svc.assignment_ids:
        raise Refusal(400, "choose an assignment")
    try:
        deadline = dates.read_deadline(str(form.get("deadline", "")), svc.tz)
    except PolicyError as exc:
        raise Refusal(400, str(exc)) from None
    aid = svc.assignment_ids[name]
    with db.transaction(svc.database, write=True) as c:
        acc = c.execute(sa.select(db.accounts.c.id).where(
            db.accounts.c.login == login, db.accounts.c.role == "student")).scalar()
        if acc is None:
            raise Refusal(400, f"no student {login!r}")
        e = db.extensions
        c.execute(e.delete().where(e.c.account_id == acc, e.c.assignment_id == aid))
        c.execute(e.insert().values(account_id=acc, assignment_id=aid, deadline=deadline,
                                    granted_at=db.now()))
        c.execute(db.class_requests.insert().values(kind="rebuild", created_at=db.now()))
    # The student's grades are recomputed with the new deadline: regrade their submissions.
    queue.requeue(svc.database, sa.and_(db.submissions.c.account_id == acc,
                                        db.submissions.c.assignment_id == aid))
    return redirect("/instructor")


@page(role="instructor")
def answer(request: Request, me: Account | None, form: FormData | None) -> Response:
    """Accept a regrade request with an adjustment of the test's points, or decline it. An
    adjustment counts within the test's points (``grader.classroom.overrides``): what is
    granted is what the test allows of what was entered, and every page says that."""
    assert form is not None
    svc = service(request)
    rid: int = request.path_params["rid"]  # 1 to 2**31-1: the route's convertor
    decision, reply = str(form.get("decision", "")), str(form.get("reply", "")).strip()[:4000]
    asked = None
    if decision == "accept":
        try:
            asked = float(str(form.get("points", "")))
        except ValueError:
            raise Refusal(400, "give the points to add (e.g. 1.5, or -1)") from None
        if not math.isfinite(asked) or asked == 0:
            raise Refusal(400, "give the points to add (e.g. 1.5, or -1), not 0")
    elif decision != "decline":
        raise Refusal(400, "accept or decline")
    r, g, s = db.regrade_requests, db.gradings, db.submissions
    with db.transaction(svc.database) as c:
        row = c.execute(sa.select(r, s.c.assignment_id).join(s, s.c.id == r.c.submission_id)
                        .where(r.c.id == rid)).first()
        if row is None or row.status != "open":
            raise Refusal(404, "no such open request")
        folder = c.execute(sa.select(g.c.folder).where(g.c.submission_id == row.submission_id)
                           .order_by(g.c.attempt.desc()).limit(1)).scalar()
        # What this student's accepted requests on the test already add.
        already = float(c.execute(sa.select(sa.func.coalesce(sa.func.sum(r.c.points), 0.0))
                                  .join(s, s.c.id == r.c.submission_id).where(
            r.c.status == "accepted", r.c.account_id == row.account_id,
            s.c.assignment_id == row.assignment_id, r.c.topic == row.topic,
            r.c.test == row.test)).scalar_one())
    points = None
    test = f"{row.topic}::{row.test}"
    if asked is not None:
        try:
            result = load_result(svc.state / str(folder) / FULL)
        except (OSError, ValueError, KeyError, TypeError):
            raise Refusal(409, f"the result of submission {row.submission_id} cannot be read: "
                               "regrade it, then answer") from None
        points = round(within_test(result, row.topic, row.test, already + asked) - already, 6)
        if points == 0:
            raise Refusal(400, f"{test} " + ("already has all its points: there is nothing to "
                                             "add" if asked > 0 else "scored nothing: there is "
                                             "nothing to take away"))
    with db.transaction(svc.database, write=True) as c:
        done = c.execute(r.update().where(r.c.id == rid, r.c.status == "open").values(
            status="accepted" if points is not None else "declined", reply=reply,
            points=points, asked=asked if asked != points else None,
            answered_at=db.now())).rowcount
    if not done:
        raise Refusal(409, "this request was answered a moment ago")
    if points is None:
        said = f"Declined the request on {test} of {_login(svc, row.account_id)}."
    else:  # the adjustment counts in this student's grades from now on
        queue.requeue(svc.database, db.submissions.c.account_id == row.account_id)
        said = (f"Accepted: {granted_text(points, asked)} on {test} of "
                f"{_login(svc, row.account_id)}"
                + (f" (you entered {asked:+g})" if asked != points else "")
                + "; their submissions are being graded again with it.")
    return render(request, "message.html", message=said, back="/instructor")


def _login(svc: Any, account_id: int) -> str:
    with db.transaction(svc.database) as c:
        return str(c.execute(sa.select(db.accounts.c.login)
                             .where(db.accounts.c.id == account_id)).scalar())
