"""The student's pages: sign in (and the first login), the assignments, uploading, the queue,
the feedback, the history and regrade requests. Every query is by the signed-in account: a
submission of someone else's is "not found", whatever its id."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from grader.classroom.late import parse_time
from grader.results.files import FULL, read_grade
from grader.results.model import SubmissionResult, load_result
from grader.results.numbers import number
from grader.results.report import render_report
from grader.results.scoring import Grade
from grader.results.visibility import student_view
from grader.serve import auth, compose, dates, db, limits, queue, store
from grader.serve.config import Assignment
from grader.serve.web import (HEADERS, Account, Refusal, client_address, end_session, page,
                              redirect, render, render_locked, service, start_session)


def _local_next(url: str | None) -> str:
    """Where to go after signing in: a path of this site only."""
    if not url or not url.startswith("/") or url.startswith("//") or urlsplit(url).netloc:
        return "/"
    return url


@page(role=None)
def home(request: Request, me: Account | None, form: FormData | None) -> Response:
    if me is None:
        return redirect("/sign-in")
    return redirect("/instructor" if me.instructor else "/assignments")


@page(role=None)
def sign_in(request: Request, me: Account | None, form: FormData | None) -> Response:
    nxt = _local_next(request.query_params.get("next")
                      or (str(form.get("next", "")) if form is not None else None))
    if form is None:
        return render(request, "sign_in.html", next=nxt, error="")
    svc = service(request)
    login = str(form.get("login", "")).strip()
    password = str(form.get("password", ""))
    if not login or not password:
        return render(request, "sign_in.html", 400, next=nxt,
                      error="give your login and your password")
    try:
        limits.begin(svc.database, login, client_address(request))
    except limits.Locked as exc:
        return render_locked(request, "sign_in.html", exc, login, next=nxt)
    row = None
    if auth.possible_login(login):
        with db.transaction(svc.database) as c:
            row = c.execute(sa.select(db.accounts).where(
                db.accounts.c.login == login, db.accounts.c.active.is_(True))).first()
    if not auth.check_password(row.password_hash if row else None, password) or row is None:
        return render(request, "sign_in.html", 401, next=nxt,
                      error="unknown login or wrong password (a first sign-in needs the link "
                            "your instructor gave you)")
    limits.succeeded(svc.database, login)
    start_session(request, row.id)
    return redirect(nxt if nxt != "/" else ("/instructor" if row.role == "instructor"
                                            else "/assignments"))


@page(role=None)
def sign_out(request: Request, me: Account | None, form: FormData | None) -> Response:
    end_session(request)
    return redirect("/sign-in")


@page(role=None)
def first_login(request: Request, me: Account | None, form: FormData | None) -> Response:
    svc = service(request)
    login, token = request.path_params["login"], request.path_params["token"]
    with db.transaction(svc.database) as c:
        row = c.execute(sa.select(db.accounts).where(db.accounts.c.login == login,
                                                     db.accounts.c.active.is_(True))).first()
    key = request.app.state.key
    # No sign-in limit here: the token is a 160-bit HMAC, which no number of tries finds.
    if row is None or row.password_hash is not None or \
            not auth.token_matches(key, row.login, row.generation, token):
        raise Refusal(404, "this first-login link is not valid (already used, or mistyped): "
                           "sign in with your password, or ask your instructor for a new link")
    if form is None:
        return render(request, "first_login.html", login=row.login, name=row.name, error="")
    password, again = str(form.get("password", "")), str(form.get("again", ""))
    problem = auth.password_problem(password, again, row.login)
    if problem:
        return render(request, "first_login.html", 400, login=row.login, name=row.name,
                      error=problem)
    hashed = auth.hash_password(password)
    with db.transaction(svc.database, write=True) as c:
        done = c.execute(db.accounts.update().where(
            db.accounts.c.id == row.id, db.accounts.c.password_hash.is_(None),
            db.accounts.c.generation == row.generation).values(
            password_hash=hashed, generation=row.generation + 1)).rowcount
    if not done:
        raise Refusal(409, "this link was used a moment ago: sign in with your password")
    limits.succeeded(svc.database, row.login)
    start_session(request, row.id)
    return redirect("/instructor" if row.role == "instructor" else "/assignments")


# ------------------------------------------------------------------------------ assignments


def _assignment(request: Request) -> Assignment:
    a = service(request).config.assignment(request.path_params["name"])
    if a is None:
        raise Refusal(404, "no such assignment")
    return a


def _history(c: sa.Connection, me: Account, assignment_id: int, counts: str,
             tz: dt.tzinfo) -> list[dict[str, Any]]:
    s = db.submissions
    rows = c.execute(sa.select(s).where(s.c.account_id == me.id,
                                        s.c.assignment_id == assignment_id)
                     .order_by(s.c.id.desc())).all()
    counting = compose.counting(rows, counts)
    carried = compose.carried_counts(c, [r.id for r in rows])
    return [{"id": r.id, "filename": r.filename, "received": dates.say(r.received_at, tz),
             "carried": carried.get(r.id, 0),
             "status": r.status, "score": number(r.score) if r.score is not None else "",
             "max_score": number(r.max_score) if r.max_score is not None else "",
             "counts": r.id == counting} for r in rows]


@page()
def assignments(request: Request, me: Account | None, form: FormData | None) -> Response:
    assert me is not None
    svc = service(request)
    rows = []
    with db.transaction(svc.database) as c:
        for a in svc.config.assignments:
            aid = svc.assignment_ids[a.name]
            history = _history(c, me, aid, a.counts, svc.tz)
            counted = next((h for h in history if h["counts"]), None)
            rows.append({"name": a.name, "title": a.title,
                         "deadline": dates.say_deadline(svc.deadline(c, a, me.id), svc.tz),
                         "submissions": len(history), "counted": counted,
                         "left": max(0, a.per_day - queue.used_today(c, me.id, aid, db.now()))})
    return render(request, "assignments.html", assignments=rows)


@page()
def assignment(request: Request, me: Account | None, form: FormData | None) -> Response:
    assert me is not None
    svc, a = service(request), _assignment(request)
    aid = svc.assignment_ids[a.name]
    with db.transaction(svc.database) as c:
        history = _history(c, me, aid, a.counts, svc.tz)
        used = queue.used_today(c, me.id, aid, db.now())
        deadline = svc.deadline(c, a, me.id)
    return render(request, "assignment.html", a=a, topics=svc.topics(a), history=history,
                  left=max(0, a.per_day - used), deadline=dates.say_deadline(deadline, svc.tz),
                  extended=deadline != a.deadline, late=a.policy.describe() if deadline else "",
                  max_mb=svc.config.max_upload_mb, error="")


def expected_files(topics: list[str], max_mb: int) -> tuple[str, ...]:
    """What an upload of an assignment of ``topics`` may be, every name in full."""
    names = ", ".join(f"{t}.py" for t in topics)
    return (f"one file of a topic, named after it: {names} (or the same names ending .ipynb)",
            "or a .zip of several of them (folders inside it are fine)",
            f"a file with your work in it (not empty, not the stub as handed out), at most "
            f"{max_mb} MB")


def upload_limit(request: Request) -> int:
    return service(request).config.max_upload_mb * 2**20 + 64 * 1024


async def submit(request: Request) -> Response:
    """The upload endpoint, whose form may be as large as serve.toml's max_upload_mb."""
    return await page(max_bytes=upload_limit(request))(_submit)(request)


def _submit(request: Request, me: Account | None, form: FormData | None) -> Response:
    assert me is not None and form is not None
    svc, a = service(request), _assignment(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise Refusal(400, "choose a file to upload (.py, .ipynb or .zip)")
    data = upload.file.read(svc.config.max_upload_mb * 2**20 + 1)
    if len(data) > svc.config.max_upload_mb * 2**20:
        raise Refusal(413, f"{store.display_name(upload.filename)} is larger than "
                           f"{svc.config.max_upload_mb} MB")
    try:
        checked = store.check(data, upload.filename, svc.topics(a), stub=svc.course.stub)
    except store.UploadRefused as exc:
        raise Refusal(400, str(exc), heading=f"What {a.title} takes",
                      details=expected_files(svc.topics(a), svc.config.max_upload_mb)) from None
    store.keep(svc.state, data, checked.sha256)
    aid = svc.assignment_ids[a.name]
    try:
        sid = queue.enqueue(svc.database, account_id=me.id, assignment_id=aid,
                            sha256=checked.sha256, size=len(data), filename=checked.filename,
                            graded_name=checked.name, limit=a.per_day,
                            then=lambda c, sid: compose.record(c, svc.state, sid, me.id, aid,
                                                               checked, svc.topics(a)))
    except queue.RateLimited:
        raise Refusal(429, f"you have used today's {a.per_day} graded submissions for "
                           f"{a.title}; more from 00:00 UTC") from None
    return redirect(f"/submissions/{sid}")


# ------------------------------------------------------------------------------- submissions


def own_submission(request: Request, me: Account) -> Any:
    """The submission of the URL, if it is ``me``'s (an instructor's: anyone's)."""
    sid: int = request.path_params["sid"]  # 1 to 2**31-1: the route's convertor
    s = db.submissions
    q = sa.select(s).where(s.c.id == sid)
    if not me.instructor:
        q = q.where(s.c.account_id == me.id)
    with db.transaction(service(request).database) as c:
        row = c.execute(q).first()
        if row is None:
            raise Refusal(404, "no such submission")
        pos = queue.position(c, sid) if row.status == "queued" else None
        g = c.execute(sa.select(db.gradings).where(db.gradings.c.submission_id == sid)
                      .order_by(db.gradings.c.attempt.desc()).limit(1)).first()
    return row, pos, g


def released(request: Request, me: Account, row: Any) -> frozenset[str]:
    """after_due_date tests are shown once the student's deadline has passed."""
    svc = service(request)
    a = svc.assignment_of(row.assignment_id)
    with db.transaction(svc.database) as c:
        deadline = svc.deadline(c, a, row.account_id)
    if deadline and parse_time(deadline) <= db.now():
        return frozenset({"after_due_date"})
    return frozenset()


@page()
def submission(request: Request, me: Account | None, form: FormData | None) -> Response:
    assert me is not None
    svc = service(request)
    row, pos, g = own_submission(request, me)
    a = svc.assignment_of(row.assignment_id)
    scores = json.loads(g.topics) if g is not None else {}
    with db.transaction(svc.database) as c:
        asks = c.execute(sa.select(db.regrade_requests).where(
            db.regrade_requests.c.submission_id == row.id)
            .order_by(db.regrade_requests.c.id)).all()
        sources = compose.sources(c, row.id)
        added = granted(c, row.account_id, row.assignment_id)
        owner = c.execute(sa.select(db.accounts.c.login, db.accounts.c.name).where(
            db.accounts.c.id == row.account_id)).first() if me.instructor else None
    result = _result(svc.state / g.folder) if g is not None else None
    return render(request, "submission.html", s=row, a=a, position=pos, g=g, owner=owner,
                  topics=_topic_rows(svc.topics(a), scores, sources, row, svc.tz),
                  final=number(g.final) if g else "", max_score=number(g.max_score) if g else "",
                  penalty=number(g.penalty_percent) if g else "", received=dates.say(row.received_at, svc.tz),
                  asks=[{"r": r, "granted": granted_text(r.points, r.asked)} for r in asks],
                  groups=regrade_choices(result, svc.topics(a), added) if result else [],
                  refresh=refresh_seconds(row.status, pos))


def _topic_rows(topics: list[str], scores: dict[str, Any], sources: dict[str, compose.Source],
                row: Any, tz: dt.tzinfo) -> list[dict[str, Any]]:
    """Each topic of the assignment: its score (once graded) and which file it was graded from,
    uploaded with this submission or carried over from an earlier one."""
    out = []
    for t in topics:
        src = sources.get(t)
        if src is not None:
            file, carried, origin, date = src.file, src.carried, src.source_id, \
                dates.say(src.received, tz)
        else:  # not in this submission (or recorded before files were)
            file, carried, origin, date = ("" if sources else row.filename), False, 0, ""
        score = scores.get(t)
        out.append({"topic": t, "file": file, "carried": carried, "origin": origin,
                    "date": date, "missing": bool(sources) and src is None,
                    "score": number(score[0]) if score else "",
                    "max_score": number(score[1]) if score else ""})
    return out


def granted_text(points: float | None, asked: float | None) -> str:
    """What an accepted regrade request added, as counted: "+1", or "+1 (the test's maximum)"
    where more was asked than the test allowed."""
    if points is None:
        return ""
    text = f"{points:+g}".replace("-", "−")
    if asked is not None and asked != points:
        text += " (the test's maximum)" if asked > points else " (all the test's points)"
    return text


def refresh_seconds(status: str, position: int | None) -> int:
    """How often a waiting page reloads itself: every 2 s once it is near, less often far back
    in a long queue (a class uploading at once would otherwise ask for pages faster than the
    queue moves); 0 once graded."""
    if status == "running" or (status == "queued" and (position or 0) < 5):
        return 2
    if status == "queued":
        return 5 if (position or 0) < 50 else 10
    return 0


def _result(folder: Path) -> SubmissionResult | None:
    try:
        return load_result(folder / FULL)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def granted(c: sa.Connection, account_id: int, assignment_id: int) -> dict[str, float]:
    """"topic::test" -> the points the student's accepted regrade requests on the assignment
    add to it."""
    r, s = db.regrade_requests, db.submissions
    rows = c.execute(sa.select(r.c.topic, r.c.test, sa.func.sum(r.c.points))
                     .join(s, s.c.id == r.c.submission_id)
                     .where(r.c.status == "accepted", r.c.account_id == account_id,
                            s.c.assignment_id == assignment_id)
                     .group_by(r.c.topic, r.c.test)).all()
    return {f"{t}::{n}": float(p or 0.0) for t, n, p in rows}


def regrade_choices(result: SubmissionResult, topics: list[str],
                    added: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """The tests a regrade request may name: those of the assignment that lost points (what
    accepted requests ``added`` counted), topic by topic; none where every test has its full
    points, since there is nothing to ask about. Each as {"topic", "tests": [{"value",
    "label"}]}."""
    added = added or {}
    groups = []
    for topic in topics:
        mine = [t for t in result.tests if t.topic == topic and t.max_score > 0
                and t.score + added.get(f"{t.topic}::{t.name}", 0.0) < t.max_score]
        if mine:
            groups.append({"topic": topic, "tests": [
                {"value": f"{t.topic}::{t.name}",
                 "label": f"{t.name} · {t.outcome.replace('_', ' ')}, "
                          f"{number(t.score)} / {number(t.max_score)}"} for t in mine]})
    return groups


@page()
def report(request: Request, me: Account | None, form: FormData | None) -> Response:
    """The report as the student may see it now (the instructor's report for instructors):
    on its own page with a link back to the submission, or (``?framed=1``) in the submission's
    page, which shows the topics' scores itself."""
    assert me is not None
    svc = service(request)
    row, _, g = own_submission(request, me)
    if g is None:
        raise Refusal(404, "this submission has not been graded yet")
    folder = svc.state / g.folder
    try:
        result = load_result(folder / FULL)
    except (OSError, ValueError, KeyError, TypeError):
        raise Refusal(404, "this submission's report is missing; ask your instructor") from None
    grade_doc = read_grade(folder)
    grade = Grade.from_dict(grade_doc) if grade_doc else None
    framed = request.query_params.get("framed") == "1"
    html = report_page(result, grade, instructor=me.instructor,
                       released=frozenset() if me.instructor else released(request, me, row),
                       back=None if framed else (f"/submissions/{row.id}",
                                                 f"Submission {row.id}"),
                       summary=not framed)
    # Sandboxed: no script, form or popup of any kind. On its own page the report keeps the
    # site's origin (and nothing more), so that its link back carries the session's cookie,
    # which is sent to the site's own pages only.
    sandbox = "sandbox" if framed else "sandbox allow-same-origin"
    return HTMLResponse(html, headers={**HEADERS, "Content-Security-Policy":
                                       HEADERS["Content-Security-Policy"] + f"; {sandbox}"})


def report_page(result: SubmissionResult, grade: Grade | None, *, instructor: bool,
                released: frozenset[str], back: tuple[str, str] | None = None,
                summary: bool = True) -> str:
    """The report page: the instructor's of the full result, or the student's of their view as
    of ``released`` (the visibility levels whose time has come)."""
    if instructor:
        return render_report(result, grade, instructor=True, back=back, summary=summary)
    return render_report(student_view(result, released), grade, back=back, summary=summary)


@page()
def ask_regrade(request: Request, me: Account | None, form: FormData | None) -> Response:
    assert me is not None and form is not None
    row, _, g = own_submission(request, me)
    if me.instructor or row.account_id != me.id:
        raise Refusal(403, "only the student who submitted can ask for a regrade")
    test, comment = str(form.get("test", "")), str(form.get("comment", "")).strip()
    result = _result(service(request).state / g.folder) if g is not None else None
    topics = service(request).topics(service(request).assignment_of(row.assignment_id))
    with db.transaction(service(request).database) as c:
        added = granted(c, row.account_id, row.assignment_id)
    valid = {t["value"] for group in (regrade_choices(result, topics, added) if result else [])
             for t in group["tests"]}
    if test not in valid:
        raise Refusal(400, "choose one of this submission's tests")
    if not comment or len(comment) > 4000:
        raise Refusal(400, "say why in a comment (at most 4000 characters)")
    topic, name = test.split("::", 1)
    with db.transaction(service(request).database, write=True) as c:
        c.execute(db.regrade_requests.insert().values(
            submission_id=row.id, account_id=me.id, topic=topic, test=name, comment=comment,
            status="open", reply="", created_at=db.now()))
    return redirect(f"/submissions/{row.id}")
