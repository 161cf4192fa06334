"""Who a launch is: the account linked to the platform's user, else the roster's student with the
same LMS id, SIS id or e-mail, else a new account; and the course they launched from, with its
services, recorded for grades and roster syncs."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from grader.serve import db

if TYPE_CHECKING:  # the dispatcher imports this module (through the service) without JOSE
    from grader.serve.lti.launch import Launch

# The password hash of an account that signs in through the LMS only: never a valid argon2
# hash, so no password matches it, and it is not an account waiting for its first login.
LMS_ONLY = "!lms"
LOGIN = re.compile(r"[^A-Za-z0-9@._+-]")


@dataclass(frozen=True)
class Person:
    """A platform's user, as a launch or the course's member list names them."""

    sub: str
    email: str
    name: str
    other_ids: tuple[str, ...]
    instructor: bool

    @classmethod
    def of(cls, launch: Launch) -> "Person":
        return cls(launch.sub, launch.email, launch.name, tuple(launch.other_ids()),
                   launch.instructor)


@dataclass(frozen=True)
class Member:
    account_id: int
    login: str
    role: str
    context_row: int  # lti_contexts.id


def sign_in(engine: sa.Engine, launch: Launch, roster: dict[str, Any], tool_url: str) -> Member:
    """The account of ``launch``'s user (linked, found on the roster, or made), and its place in
    the course it launched from."""
    for attempt in range(3):
        try:
            with db.transaction(engine, write=True) as c:
                account = ensure(c, launch.platform.issuer, Person.of(launch), roster)
                context = upsert_context(c, launch, tool_url)
                join(c, context, account.id, launch.sub, account.role)
            return Member(account.id, account.login, account.role, context)
        except sa.exc.IntegrityError:
            # A class launching a new course at once (PostgreSQL, where these transactions run
            # side by side): another launch made the same row first; it is there now.
            if attempt == 2:
                raise
    raise AssertionError("not reached")


def ensure(c: sa.Connection, issuer: str, person: Person, roster: dict[str, Any]) -> Any:
    """The account of the platform's user, linked to it from now on."""
    role = "instructor" if person.instructor else "student"
    account = _linked(c, issuer, person) or _on_roster(c, issuer, person, roster) \
        or _made(c, issuer, person, role)
    if c.execute(sa.select(db.lti_users.c.id).where(
            db.lti_users.c.issuer == issuer, db.lti_users.c.sub == person.sub)).first() is None:
        c.execute(db.lti_users.insert().values(
            issuer=issuer, sub=person.sub, account_id=account.id, email=person.email[:300],
            created_at=db.now()))
    if account.password_hash is None or not account.active:
        # Its first-login link is not needed any more; the LMS keeps it on the course.
        c.execute(db.accounts.update().where(db.accounts.c.id == account.id).values(
            password_hash=account.password_hash or LMS_ONLY, active=True))
    return account


def _linked(c: sa.Connection, issuer: str, person: Person) -> Any:
    u, a = db.lti_users, db.accounts
    return c.execute(sa.select(a).join(u, u.c.account_id == a.c.id).where(
        u.c.issuer == issuer, u.c.sub == person.sub)).first()


def _on_roster(c: sa.Connection, issuer: str, person: Person, roster: dict[str, Any]) -> Any:
    """The roster's student whose LMS id, Canvas id or SIS id is one this user has, or whose
    login (the LMS's login, often the e-mail) or id is their e-mail."""
    ids = {person.sub, *person.other_ids}
    email = person.email.lower()
    for s in roster.values():
        theirs = {s.lms_id, s.canvas_id, s.sis_id} - {""}
        if theirs & ids or (email and email in (s.login.lower(), s.student.lower())):
            row = c.execute(sa.select(db.accounts).where(db.accounts.c.login == s.student)).first()
            if row is not None and not _taken(c, row.id, issuer):
                return row
    row = c.execute(sa.select(db.accounts).where(
        db.accounts.c.external_id.in_(sorted(ids)), db.accounts.c.external_id != "")).first()
    return row if row is not None and not _taken(c, row.id, issuer) else None


def _taken(c: sa.Connection, account_id: int, issuer: str) -> bool:
    """Whether the account is linked to another user of the same platform already."""
    return c.execute(sa.select(db.lti_users.c.id).where(
        db.lti_users.c.account_id == account_id,
        db.lti_users.c.issuer == issuer)).first() is not None


def _made(c: sa.Connection, issuer: str, person: Person, role: str) -> Any:
    base = LOGIN.sub("", person.email)[:150] or "lms-" + hashlib.sha256(
        f"{issuer}\0{person.sub}".encode()).hexdigest()[:12]
    login, n = base, 1
    while c.execute(sa.select(db.accounts.c.id).where(db.accounts.c.login == login)).first():
        n += 1
        login = f"{base}-{n}"
    c.execute(db.accounts.insert().values(
        login=login, name=person.name[:200], role=role, password_hash=LMS_ONLY, generation=0,
        external_id=person.sub[:200], section="", active=True))
    return c.execute(sa.select(db.accounts).where(db.accounts.c.login == login)).one()


def upsert_context(c: sa.Connection, launch: Launch, tool_url: str) -> int:
    """The course's row, its service endpoints brought up to date from the launch."""
    t = db.lti_contexts
    ags = launch.ags
    values: dict[str, Any] = {"title": launch.context_title[:300], "tool_url": tool_url[:300],
                              "updated_at": db.now()}
    # A launch without a service's claim (a deep linking request, say) keeps what others gave.
    if ags:
        values["lineitems_url"] = str(ags.get("lineitems", ""))
        values["ags_scopes"] = " ".join(str(s) for s in ags.get("scope", []) or [])
    if launch.nrps_url:
        values["memberships_url"] = launch.nrps_url
    key = {"issuer": launch.platform.issuer, "client_id": launch.platform.client_id,
           "deployment_id": launch.deployment_id, "context_id": launch.context_id}
    found = c.execute(sa.select(t.c.id).where(*(t.c[k] == v for k, v in key.items()))).scalar()
    if found is None:
        empty = {"lineitems_url": "", "ags_scopes": "", "memberships_url": ""}
        return int(c.execute(t.insert().values(**key, **{**empty, **values})
                             .returning(t.c.id)).scalar_one())
    c.execute(t.update().where(t.c.id == found).values(**values))
    return int(found)


def join(c: sa.Connection, context: int, account_id: int, sub: str, role: str) -> None:
    m = db.lti_members
    found = c.execute(sa.select(m.c.id).where(m.c.context_id == context,
                                              m.c.account_id == account_id)).scalar()
    if found is None:
        c.execute(m.insert().values(context_id=context, account_id=account_id, sub=sub, role=role))
    else:
        c.execute(m.update().where(m.c.id == found).values(sub=sub, role=role))


def lms_linked(c: sa.Connection) -> set[str]:
    """The logins of accounts linked to an LMS user: the LMS, not the roster, keeps them."""
    return set(c.execute(sa.select(db.accounts.c.login).join(
        db.lti_users, db.lti_users.c.account_id == db.accounts.c.id)).scalars())
