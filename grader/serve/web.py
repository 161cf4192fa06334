"""What every page of the service shares: the session (who is signed in), CSRF on every form,
security headers, rendering a template, and one-line refusals."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from grader.results.report import environment, template_dirs
from grader.serve import auth, db
from grader.serve.service import Service

# Pages are self-contained: inline styles, no scripts at all, forms to this site only.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
       "form-action 'self'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}
MAX_FORM_BYTES = 64 * 1024  # a form without a file
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
    """A request that cannot be done: shown to the user as one line with the status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def signed_in(request: Request) -> Account | None:
    """The account of the session, if it is still valid (the password not changed since)."""
    sid, gen = request.session.get("account"), request.session.get("generation")
    if not isinstance(sid, int):
        return None
    with db.transaction(service(request).database) as c:
        row = c.execute(sa.select(db.accounts).where(db.accounts.c.id == sid)).first()
    if row is None or row.generation != gen or not row.active or row.password_hash is None:
        return None
    return Account(row.id, row.login, row.name or row.login, row.role)


def start_session(request: Request, account_id: int) -> None:
    """Sign ``account_id`` in: a new session with its account, its generation (a password
    changed later ends it) and a new CSRF token. Every way of signing in ends here."""
    with db.transaction(service(request).database) as c:
        generation = c.execute(sa.select(db.accounts.c.generation)
                               .where(db.accounts.c.id == account_id)).scalar_one()
    request.session.clear()
    request.session.update(account=account_id, generation=generation, csrf=auth.new_csrf())


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = auth.new_csrf()
    return token


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = environment().get_template(f"serve/{template}").render(
        csrf=csrf_token(request), me=request.state.account, **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


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
                    return redirect(f"/sign-in?next={request.url.path}")
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
                if not auth.csrf_matches(request.session.get("csrf"), data.get("csrf")):
                    raise Refusal(403, "this form has expired: reload the page and send it "
                                       "again")
                return await run_in_threadpool(handler, request, me, data)
            except Refusal as exc:
                return render(request, "message.html", exc.status, message=exc.message)
            finally:
                if data is not None:
                    await data.close()
        return endpoint
    return wrap
