"""Accounts after their first login: a password changed by its owner, and the instructor's
accounts page (every account; a new first-login link for one, or its sessions ended), whose
reset ``grader serve --reset`` does from the command line too."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from grader.errors import GraderError
from grader.serve import auth, dates, db, limits, sessions
from grader.serve.links import first_login_links, write_links
from grader.serve.service import Service
from grader.serve.web import (Account, Refusal, client_address, page, render, render_locked,
                              service, session_hash)


class UnknownAccount(GraderError):
    """No account of that login is on the roster; the message says where accounts come from."""


def reset(svc: Service, login: str, base_url: str) -> str:
    """Give ``login`` a new first-login link, and return it: the password is cleared, the
    generation bumped (the links before stop working), every session and sign-in failure of
    the account ended, and first-login.csv written anew (where the account is listed again)."""
    a = db.accounts
    with db.transaction(svc.database, write=True) as c:
        row = c.execute(sa.select(a).where(a.c.login == login, a.c.active.is_(True))).first() \
            if auth.possible_login(login) else None
        if row is None:
            raise UnknownAccount(f"no account {login!r}: the accounts are the roster's "
                                 "students and serve.toml's instructors as of the service's "
                                 "last start")
        c.execute(a.update().where(a.c.id == row.id).values(password_hash=None,
                                                            generation=a.c.generation + 1))
        sessions.end_all(c, row.id)
        limits.clear(c, row.login)
    links = first_login_links(svc, base_url)
    write_links(svc, links)
    return next(link for who, _, link in links if who == row.login)


def end_sessions(svc: Service, login: str) -> int:
    """End every session of ``login``; how many there were."""
    with db.transaction(svc.database) as c:
        found = c.execute(sa.select(db.accounts.c.id).where(db.accounts.c.login == login)
                          ).scalar() if auth.possible_login(login) else None
        if found is None:
            raise UnknownAccount(f"no account {login!r}")
        return sessions.end_all(c, int(found))


@page()
def password(request: Request, me: Account | None, form: FormData | None) -> Response:
    """Change one's password: the current one (under the sign-in limits), the new one twice.
    The account's other sessions end; this one stays signed in."""
    assert me is not None
    if form is None:
        return render(request, "password.html", error="")
    svc = service(request)
    current = str(form.get("current", ""))
    new, again = str(form.get("password", "")), str(form.get("again", ""))
    problem = auth.password_problem(new, again, me.login) or (
        "give your current password" if not current else "")
    if problem:
        return render(request, "password.html", 400, error=problem)
    try:
        limits.begin(svc.database, me.login, client_address(request))
    except limits.Locked as exc:
        return render_locked(request, "password.html", exc, me.login)
    with db.transaction(svc.database) as c:
        stored = c.execute(sa.select(db.accounts.c.password_hash)
                           .where(db.accounts.c.id == me.id)).scalar()
    if not auth.check_password(stored, current):
        return render(request, "password.html", 400,
                      error="your current password is not that: type it again")
    limits.succeeded(svc.database, me.login)
    hashed = auth.hash_password(new)
    with db.transaction(svc.database) as c:
        c.execute(db.accounts.update().where(db.accounts.c.id == me.id)
                  .values(password_hash=hashed))
        ended = sessions.end_all(c, me.id, keep=session_hash(request))
    others = "no other session was open" if not ended else \
        f"your {ended} other session{'s' if ended > 1 else ''} ended (sign in there again)"
    return render(request, "message.html", message=f"Your password is changed; {others}.",
                  back="/")


def _base_url(request: Request) -> str:
    return str(request.app.state.base_url or request.base_url).rstrip("/")


@page(role="instructor")
def accounts(request: Request, me: Account | None, form: FormData | None) -> Response:
    """Every account, with whether it has a password, its live sessions and its last sign-in;
    a POST gives one a new first-login link (shown once, here) or ends its sessions."""
    assert me is not None
    svc = service(request)
    link: dict[str, str] | None = None
    confirm: dict[str, Any] | None = None
    notice = ""
    if form is not None:
        login, action = str(form.get("login", "")), str(form.get("action", ""))
        if login == me.login:
            raise Refusal(400, "this is your own account: change your password on the Password "
                               "page (which ends your other sessions), or run grader serve "
                               "--reset")
        try:
            if action == "link":  # a click only asks: the link ends the account's password
                confirm = _account(svc, login)
            elif action == "link-confirmed":
                link = {"login": login, "url": reset(svc, login, _base_url(request)),
                        "new": "yes"}
            elif action == "show":
                url = unused_link(svc, login, _base_url(request))
                if url is None:
                    raise Refusal(400, f"{login} has set a password: their first-login link "
                                       "is used; give them a new one if they need it")
                link = {"login": login, "url": url, "new": ""}
            elif action == "end":
                ended = end_sessions(svc, login)
                notice = f"{ended} session{'s' if ended != 1 else ''} of {login} ended"
            else:
                raise Refusal(400, "choose a new first-login link or ending the sessions")
        except UnknownAccount as exc:
            raise Refusal(400, str(exc)) from None
    return render(request, "accounts.html", accounts=_rows(svc), link=link, notice=notice,
                  confirm=confirm)


def _account(svc: Service, login: str) -> dict[str, Any]:
    """The active account ``login``, as the confirmation shows it; UnknownAccount if none."""
    a = db.accounts
    with db.transaction(svc.database) as c:
        row = c.execute(sa.select(a).where(a.c.login == login, a.c.active.is_(True))).first() \
            if auth.possible_login(login) else None
    if row is None:
        raise UnknownAccount(f"no account {login!r}")
    return {"login": row.login, "name": row.name, "password": row.password_hash is not None}


def unused_link(svc: Service, login: str, base_url: str) -> str | None:
    """The first-login link of ``login`` as it stands (nothing changed), None once used."""
    return next((link for who, _, link in first_login_links(svc, base_url) if who == login),
                None)


def _rows(svc: Service) -> list[dict[str, Any]]:
    a = db.accounts
    with db.transaction(svc.database) as c:
        rows = c.execute(sa.select(a).order_by(a.c.role, a.c.login)).all()
        live = sessions.live_counts(c)
        locked = limits.locked_logins(c)
    out = []
    for r in rows:
        last = db.aware(r.last_sign_in_at)
        left = locked.get(r.login)
        out.append({"login": r.login, "name": r.name, "role": r.role, "active": r.active,
                    "password": r.password_hash is not None, "sessions": live.get(r.id, 0),
                    "last": dates.say(last, svc.tz) if last else "",
                    "locked": limits.Locked(left, "account").wait if left else ""})
    return out
