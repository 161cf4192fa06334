"""The tool's addresses: its JWKS, the OIDC login initiation and the launch (signing the user in
and opening the assignment the resource link points to), the instructor's choice of an
assignment for an unlinked resource, and the instructor's LTI page (what is configured, the
scores waiting or failed)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from grader.serve import db
from grader.serve.lti import accounts, ags, deeplink, keys, launch, nrps, toolconfig
from grader.serve.lti.launch import CookiesBlocked, Launch, LaunchError
from grader.serve.lti.sender import Sender
from grader.serve.lti.tokens import Tokens
from grader.serve.web import (HEADERS, Account, Refusal, page, redirect, render, service,
                              start_session)

MAX_LAUNCH_BYTES = 256 * 1024
log = logging.getLogger("grader.serve.lti")


def tool_url(request: Request) -> str:
    return service(request).config.lti.url or str(request.base_url).rstrip("/")


def _tokens(request: Request) -> Tokens:
    return request.app.state.lti_tokens  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------ public


async def jwks(request: Request) -> Response:
    keyset = keys.jwks(keys.load(service(request).state))
    return JSONResponse(keyset, headers={"Cache-Control": "public, max-age=3600"})


async def login(request: Request) -> Response:
    """OIDC login initiation (GET or POST), then off to the platform's authorisation."""
    params = dict(request.query_params)
    try:
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await _form(request)).items()})
    except Refusal as exc:
        return _refused(request, LaunchError(exc.status, exc.message))
    svc = service(request)
    try:
        state, url = await run_in_threadpool(
            launch.begin, svc.database, svc.config.lti, params, tool_url(request) + "/lti/launch")
    except LaunchError as exc:
        return _refused(request, exc)
    response = RedirectResponse(url, status_code=302, headers=HEADERS)
    # Bound to this browser: the launch must bring it back. SameSite=None, since the launch
    # is a cross-site POST from the LMS; Secure, as browsers require for that.
    response.set_cookie(launch.STATE_COOKIE + state[:16], state, max_age=launch.LOGIN_SECONDS,
                        path="/lti/", secure=True, httponly=True, samesite="none")
    return response


async def finish(request: Request) -> Response:
    """The launch: the id_token POSTed by the platform."""
    try:
        form = {k: str(v) for k, v in (await _form(request)).items()}
    except Refusal as exc:
        return _refused(request, LaunchError(exc.status, exc.message))
    return await run_in_threadpool(_finish, request, form)


def _finish(request: Request, form: dict[str, str]) -> Response:
    svc = service(request)
    request.state.account = None
    try:
        got = launch.finish(svc.database, svc.config.lti, request.app.state.lti_keys, form,
                            dict(request.cookies), tool_url(request) + "/lti/launch")
    except CookiesBlocked as blocked:
        return render(request, "lti_new_window.html", 200,
                      url="/lti/login?" + urlencode(blocked.login))
    except LaunchError as exc:
        return _refused(request, exc)
    member = accounts.sign_in(svc.database, got, svc.roster, tool_url(request))
    start_session(request, member.account_id)
    request.state.account = Account(member.account_id, member.login, member.login, member.role)
    if got.message_type == launch.DEEP_LINK:
        return deeplink.choose(request, got, member, tool_url(request) + "/lti/launch")
    return open_resource(request, got, member)


def open_resource(request: Request, got: Launch, member: accounts.Member) -> Response:
    """The assignment the resource link points to: named by the link (its custom parameter
    ``assignment``, set by deep linking), or chosen for it before by an instructor; an
    instructor launching an unlinked one chooses it now."""
    svc = service(request)
    wanted = str(got.custom.get("assignment", ""))
    try:
        aid, link = _resolve(svc, got, member, wanted)
    except sa.exc.IntegrityError:  # another launch of the same new link made it first
        aid, link = _resolve(svc, got, member, wanted)
    if aid is None:
        if member.role != "instructor":
            return render(request, "message.html", 409,
                          message="your instructor has not chosen the assignment of this link "
                                  "yet: try again later, or tell them")
        return render(request, "lti_pick.html", link=link.id, title=got.resource_link_title,
                      assignments=svc.config.assignments)
    return redirect(f"/assignments/{svc.assignment_of(aid).name}")


def _resolve(svc: Any, got: Launch, member: accounts.Member, wanted: str) -> tuple[Any, Any]:
    """(the link's assignment id or None, the link's row), its line item linked, and the
    student's grade queued where the LMS has not had it."""
    with db.transaction(svc.database, write=True) as c:
        link = _link(c, member.context_row, got)
        aid = link.assignment_id
        if aid is None and wanted in svc.assignment_ids:
            aid = svc.assignment_ids[wanted]
            c.execute(db.lti_links.update().where(db.lti_links.c.id == link.id)
                      .values(assignment_id=aid))
        if aid is not None:
            ags.link_lineitem(c, member.context_row, aid, got.resource_link_id,
                              str(got.ags.get("lineitem", "")))
            if member.role == "student":
                ags.queue_current(c, member.account_id, aid, svc.assignment_of(aid).counts,
                                  only_new=True)
    return aid, link


def _link(c: sa.Connection, context: int, got: Launch) -> Any:
    t = db.lti_links
    row = c.execute(sa.select(t).where(t.c.context_id == context,
                                       t.c.resource_link_id == got.resource_link_id)).first()
    if row is None:
        c.execute(t.insert().values(context_id=context, resource_link_id=got.resource_link_id,
                                    assignment_id=None, title=got.resource_link_title[:300],
                                    lineitem_url=str(got.ags.get("lineitem", ""))))
        row = c.execute(sa.select(t).where(t.c.context_id == context,
                                           t.c.resource_link_id == got.resource_link_id)).one()
    return row


def _refused(request: Request, exc: LaunchError) -> Response:
    log.warning("LTI launch refused (%s): %s", exc.status, exc.message)
    request.state.account = None
    return render(request, "message.html", exc.status, message=exc.message)


async def _form(request: Request) -> FormData:
    size = request.headers.get("content-length", "")
    if not size.isdigit() or int(size) > MAX_LAUNCH_BYTES:
        raise Refusal(413, "this launch is too large")
    return await request.form(max_files=0, max_fields=50)


# ------------------------------------------------------------------------ the instructor's


@page(role="instructor")
def pick(request: Request, me: Account | None, form: FormData | None) -> Response:
    """An unlinked resource link given its assignment, for everyone launching it from now on."""
    assert form is not None
    svc = service(request)
    name = str(form.get("assignment", ""))
    if name not in svc.assignment_ids:
        raise Refusal(400, "choose one of the assignments")
    try:
        link_id = int(str(form.get("link", "")))
    except ValueError:
        raise Refusal(400, "no such link") from None
    assert me is not None
    aid = svc.assignment_ids[name]
    with db.transaction(svc.database, write=True) as c:
        link: Any = c.execute(sa.select(db.lti_links).where(db.lti_links.c.id == link_id)).first()
        mine = link is not None and c.execute(sa.select(db.lti_members.c.id).where(
            db.lti_members.c.context_id == link.context_id,
            db.lti_members.c.account_id == me.id,
            db.lti_members.c.role == "instructor")).first()
        if not mine:
            raise Refusal(404, "no such link in a course of yours")
        c.execute(db.lti_links.update().where(db.lti_links.c.id == link_id)
                  .values(assignment_id=aid))
        ags.link_lineitem(c, link.context_id, aid, link.resource_link_id, link.lineitem_url)
    return redirect(f"/assignments/{name}")


@page(role="instructor")
def overview(request: Request, me: Account | None, form: FormData | None) -> Response:
    """The instructor's LTI page: the tool's addresses and configurations, the courses, and
    the scores waiting or failed."""
    svc = service(request)
    with db.transaction(svc.database) as c:
        box = ags.outbox(c)
        courses = c.execute(sa.select(db.lti_contexts).order_by(db.lti_contexts.c.id)).all()
    tool = {**toolconfig.urls(tool_url(request)), "register": f"{tool_url(request)}/lti/register/"
            f"{toolconfig.registration_token(request.app.state.key)}"}
    return render(request, "lti.html", tool=tool, enabled=svc.config.lti.enabled,
                  platforms=svc.config.lti.platforms, courses=courses, outbox=box,
                  moodle=toolconfig.moodle_fields(tool_url(request), svc.config.lti))


@page(role="instructor")
def retry(request: Request, me: Account | None, form: FormData | None) -> Response:
    with db.transaction(service(request).database, write=True) as c:
        n = ags.retry_failed(c)
    return render(request, "message.html", message=f"{n} score(s) queued to be sent again",
                  back="/instructor/lti")


@page(role="instructor")
def sync_roster(request: Request, me: Account | None, form: FormData | None) -> Response:
    assert form is not None and me is not None
    svc = service(request)
    try:
        context = int(str(form.get("course", "")))
    except ValueError:
        raise Refusal(400, "choose a course") from None
    said = nrps.sync(svc, _tokens(request), context, me.id)
    return render(request, "message.html", message=said, back="/instructor/lti")


async def canvas_json(request: Request) -> Response:
    return JSONResponse(toolconfig.canvas(tool_url(request), service(request).course.root.name))


# ------------------------------------------------------------------------------- the app


def routes() -> list[Any]:
    from starlette.routing import Route

    get, post = ["GET"], ["POST"]
    return [Route("/.well-known/jwks.json", jwks, methods=get),
            Route("/lti/login", login, methods=["GET", "POST"]),
            Route("/lti/launch", finish, methods=post),
            Route("/lti/canvas.json", canvas_json, methods=get),
            Route("/lti/register/{token:hex32}", toolconfig.register, methods=get),
            Route("/lti/pick", pick, methods=post),
            Route("/instructor/lti", overview, methods=get),
            Route("/instructor/lti/retry", retry, methods=post),
            Route("/instructor/lti/roster", sync_roster, methods=post)]


def setup(app: Any, svc: Any) -> None:
    """The tool's keys (made at the first start), the platforms' keys and the tokens, kept
    on the app."""
    keys.ensure(svc.state)
    keys.retire(svc.state)
    app.state.lti_keys = launch.PlatformKeys()
    app.state.lti_tokens = Tokens(svc.state)


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The score sender runs beside the web server while LTI is configured."""
    svc = app.state.service
    stop = threading.Event()
    thread = None
    if svc.config.lti.enabled:
        titles = {i: (n, svc.config.assignment(n).title) for n, i in svc.assignment_ids.items()}
        sender = Sender(svc.database, svc.config.lti, app.state.lti_tokens, titles)
        thread = threading.Thread(target=sender.loop, args=(stop,), name="lti-sender",
                                  daemon=True)
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread is not None:
            thread.join(15)
