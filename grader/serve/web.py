"""What every page of the service shares: the session (who is signed in: ``start_session`` and
``end_session`` are the only ways in and out), CSRF on every form, security headers, rendering a
template, and one-line refusals."""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grader.results.report import environment, template_dirs
from grader.serve import auth, limits, sessions
from grader.serve.service import Service

log = logging.getLogger("grader.serve")

# Pages are self-contained: inline styles, no scripts at all, forms to this site only.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
       "form-action 'self'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}
MAX_FORM_BYTES = 64 * 1024  # a form without a file
COOKIE = "grader_session"  # the session's token, nothing else
CSRF_COOKIE = "grader_csrf"  # the token of the forms of a visitor not signed in (sign-in)
_COOKIES = "grader.cookies"  # in the request's scope: the cookies its response sets
_SESSION = "grader.session"  # the session looked up for this request
_CSRF = "grader.csrf"  # the CSRF token of this request's pages
_CSRF_FORM = re.compile(r"[A-Za-z0-9_-]{32}")  # auth.new_csrf()
_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


@functools.lru_cache(maxsize=1)
def own_scripts_csp() -> str:
    """The CSP for the batch's own pages served as they are (the class overview sorts its
    table with an inline script): the scripts written in the grader's templates are allowed by
    their hashes, taken from the templates themselves, never from the page, so no text in a
    page (a student's included) can add one that runs."""
    hashes = []
    for folder in template_dirs():
        for template in sorted(Path(folder).glob("*.j2")):
            for m in _SCRIPT.finditer(template.read_text(encoding="utf-8")):
                if "{{" not in m[1] and "{%" not in m[1]:  # a script Jinja writes as it is
                    digest = base64.b64encode(hashlib.sha256(m[1].encode()).digest()).decode()
                    hashes.append(f"'sha256-{digest}'")
    return CSP + (f"; script-src {' '.join(hashes)}" if hashes else "")


@dataclass(frozen=True)
class Account:
    id: int
    login: str
    name: str
    role: str

    @property
    def instructor(self) -> bool:
        return self.role == "instructor"


class Refusal(Exception):
    """A request that cannot be done: shown to the user as one line with the status (and any
    ``headers``, such as Retry-After)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, *,
                 heading: str = "", details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.heading = heading  # over ``details``: what was expected, said in full
        self.details = details


def service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


class SessionCookies:
    """ASGI middleware: the cookies that ``start_session``, ``end_session`` and ``csrf_token``
    chose during a request go out with its response, whichever endpoint answered. HttpOnly,
    SameSite=Strict, and Secure with ``secure``; ``framed`` (LTI: the pages open inside an
    LMS's frame, where the cookie is a third-party one): SameSite=None, which browsers take
    only with Secure. Every form still carries its CSRF token either way."""

    def __init__(self, app: ASGIApp, secure: bool = False, framed: bool = False) -> None:
        self.app = app
        self.secure = secure or framed
        self.same_site = "None" if framed else "Strict"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chosen: dict[str, tuple[str, int]] = {}
        scope[_COOKIES] = chosen

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, (value, max_age) in chosen.items():
                    headers.append("set-cookie", f"{name}={value}; Path=/; Max-Age={max_age}; "
                                   f"HttpOnly; SameSite={self.same_site}"
                                   + ("; Secure" if self.secure else ""))
            await send(message)

        await self.app(scope, receive, send_with_cookies)


def _set_cookie(request: Request, name: str, value: str, max_age: int) -> None:
    chosen = request.scope.get(_COOKIES)
    if chosen is None:
        raise RuntimeError("the application has no SessionCookies middleware (make_app adds it)")
    chosen[name] = (value, max_age)


def signed_in(request: Request) -> Account | None:
    """The account of the request's session, if the session is live (not signed out, not
    ended, not expired) and the account still on the roster. Looked up once per request."""
    if _SESSION not in request.scope:
        found = sessions.lookup(service(request).database, request.cookies.get(COOKIE))
        request.scope[_SESSION] = found
        if found is not None:
            request.scope[_CSRF] = found.csrf
    found = request.scope[_SESSION]
    return None if found is None else Account(found.account_id, found.login, found.name,
                                              found.role)


def session_hash(request: Request) -> str | None:
    """The hash of the request's live session (after ``signed_in``), to keep it when ending
    the account's others."""
    found = request.scope.get(_SESSION)
    return None if found is None else str(found.token_hash)


def start_session(request: Request, account_id: int) -> None:
    """Sign ``account_id`` in on this browser: a new server-side session (the one the browser
    had, if any, ends), its cookie on the response, and a new CSRF token for its forms. Every
    way of signing in comes through here."""
    token, csrf = sessions.create(service(request).database, account_id,
                                  replacing=request.cookies.get(COOKIE))
    _set_cookie(request, COOKIE, token, int(sessions.LONGEST.total_seconds()))
    request.scope.pop(_SESSION, None)  # looked up anew if this request needs it again
    request.scope[_CSRF] = csrf


def end_session(request: Request) -> None:
    """Sign this browser out: its session is deleted on the server (a copy of the cookie dies
    with it) and the cookie cleared."""
    sessions.end(service(request).database, request.cookies.get(COOKIE))
    _set_cookie(request, COOKIE, "", 0)
    request.scope[_SESSION] = None
    request.scope.pop(_CSRF, None)


def client_address(request: Request) -> str:
    """The client's address (behind a proxy: as uvicorn's proxy headers handling gives it)."""
    return request.client.host if request.client else "unknown"


def csrf_token(request: Request) -> str:
    """The CSRF token of the forms on this request's page: the session's, or for a visitor not
    signed in, one kept in a cookie of its own (no session is stored for visitors)."""
    token = request.scope.get(_CSRF) or request.cookies.get(CSRF_COOKIE)
    if not isinstance(token, str) or not _CSRF_FORM.fullmatch(token):
        token = auth.new_csrf()
        _set_cookie(request, CSRF_COOKIE, token, int(sessions.IDLE.total_seconds()))
    request.scope[_CSRF] = token
    return token


def _expected_csrf(request: Request) -> str | None:
    if request.scope.get(_SESSION) is not None:
        return str(request.scope[_CSRF])
    return request.cookies.get(CSRF_COOKIE)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = environment().get_template(f"serve/{template}").render(
        csrf=csrf_token(request), me=getattr(request.state, "account", None), **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def render_locked(request: Request, template: str, exc: limits.Locked, login: str,
                  **context: Any) -> HTMLResponse:
    """A form whose password was not checked, a sign-in limit holding: 429, Retry-After, and
    the form again with when to try again as its error."""
    if exc.what == "account":
        error = (f"too many wrong passwords for {login}: try again in {exc.wait}, or ask your "
                 "instructor for a new first-login link")
    else:
        error = f"too many failed sign-ins from your address: try again in {exc.wait}"
    response = render(request, template, 429, error=error, **context)
    response.headers["Retry-After"] = str(exc.seconds)
    return response


def refuse(request: Request, exc: Refusal) -> HTMLResponse:
    response = render(request, "message.html", exc.status, message=exc.message, error=True,
                      back=came_from(request), heading=exc.heading, details=exc.details)
    response.headers.update(exc.headers)
    return response


NOT_ROUTED = {404: "there is no such page: check the address", 405: "this page does not take "
              "that kind of request"}


async def not_routed(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no route, a method the route does not take, a form it cannot
    read) as the service's one-line page; no session is looked up for them."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:  # a client (an LMS, say) misconfigured: worth the log
        log.warning("refused %s %s (405): the route takes %s", request.method,
                    request.url.path, (exc.headers or {}).get("Allow", "other methods"))
    return refuse(request, Refusal(exc.status_code, NOT_ROUTED.get(exc.status_code, exc.detail),
                                   dict(exc.headers or {})))


def came_from(request: Request) -> str:
    """The page of this site a request came from (its Referer, which browsers send within a
    site under our Referrer-Policy), for a refusal's way back; else the home page."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path.startswith("/") and \
            not referer.path.startswith("//") and referer.path != request.url.path:
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return "/"


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=HEADERS)


Handler = Callable[[Request, Account | None, FormData | None], Response]


def page(*, role: str | None = "student", max_bytes: int = MAX_FORM_BYTES
         ) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A page: ``role`` who may see it (None: anyone; "student": any account signed in;
    "instructor": instructors only). A POST's form is read (within ``max_bytes``) and its CSRF
    token checked before the handler runs. The session's account is looked up and the handler
    run in a worker thread (database, hashing, staging): a GET in one trip to it."""

    def admit(request: Request) -> Account | None:
        """The account signed in, if it may see the page; Refusal where it may not."""
        me = request.state.account = signed_in(request)
        if role is not None and me is None:
            raise Refusal(401, "your session has ended: sign in again")
        if role == "instructor" and not (me and me.instructor):
            raise Refusal(403, "this page is for instructors")
        return me

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        def get(request: Request) -> Response:
            try:
                me = admit(request)
            except Refusal as exc:
                if exc.status == 401:
                    return redirect(f"/sign-in?next={quote(request.url.path)}")
                raise
            return handler(request, me, None)

        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            request.state.account = None
            data: FormData | None = None
            try:
                if request.method != "POST":
                    return await run_in_threadpool(get, request)
                me = await run_in_threadpool(admit, request)
                size = request.headers.get("content-length")
                if size is None or not size.isdigit():
                    raise Refusal(411, "the upload has no length; send it from the form")
                if int(size) > max_bytes:
                    raise Refusal(413, f"too large: at most {max_bytes // 2**20 or 1} MB "
                                       "may be sent at once")
                data = await request.form(max_files=1, max_fields=20)
                if not auth.csrf_matches(_expected_csrf(request), data.get("csrf")):
                    raise Refusal(403, "this form has expired: reload the page and send it "
                                       "again")
                if any(isinstance(v, str) and "\0" in v for _, v in data.multi_items()):
                    # No text a person types holds one, and PostgreSQL's text cannot.
                    raise Refusal(400, "the form holds a NUL character: type it again")
                return await run_in_threadpool(handler, request, me, data)
            except Refusal as exc:
                return refuse(request, exc)
            finally:
                if data is not None:
                    await data.close()
        return endpoint
    return wrap
