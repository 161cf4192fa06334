"""Server-side sessions: the cookie carries a random token, the database only its hash, with the
account, the session's CSRF token and when it ends; ending a session deletes its row, so a copied
cookie dies with it, in every web process on the database."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa

from grader.serve import auth, db

IDLE = dt.timedelta(hours=12)  # a session unused this long ends (the cookie's old lifetime)
LONGEST = dt.timedelta(days=7)  # and every session ends this long after its sign-in
# A request reads its session and nothing else; "last seen" (which moves the idle end) is
# written at most this often per session, so a page costs no write.
TOUCH = dt.timedelta(minutes=5)
# Expired sessions are deleted by a sign-in at most this often (per process): an indexed
# delete, in a transaction that writes anyway.
PURGE_SECONDS = 600
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32): 256 random bits

_purged: float | None = None  # when this process last purged (its first sign-in does)


@dataclass(frozen=True)
class Found:
    """A live session and its account."""

    token_hash: str
    csrf: str
    account_id: int
    login: str
    name: str
    role: str


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database keeps: the token has 256 random bits, so a plain hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


def lookup(engine: sa.Engine, token: str | None) -> Found | None:
    """The session of ``token`` if it is live and its account still on the roster: one query
    (and, every TOUCH, one write)."""
    if not token or not TOKEN.fullmatch(token):
        return None
    s, a = db.sessions, db.accounts
    h, now = token_hash(token), db.now()
    with db.transaction(engine) as c:
        row = c.execute(sa.select(s.c.csrf, s.c.created_at, s.c.last_seen_at, a.c.id, a.c.login,
                                  a.c.name, a.c.role)
                        .join(a, a.c.id == s.c.account_id)
                        .where(s.c.token_hash == h, s.c.expires_at > now,
                               a.c.active.is_(True))).first()
    if row is None:
        return None
    if now - _utc(row.last_seen_at) > TOUCH:
        with db.transaction(engine) as c:
            c.execute(s.update().where(s.c.token_hash == h).values(
                last_seen_at=now, expires_at=min(now + IDLE, _utc(row.created_at) + LONGEST)))
    return Found(h, row.csrf, row.id, row.login, row.name or row.login, row.role)


def create(engine: sa.Engine, account_id: int, *, replacing: str | None = None
           ) -> tuple[str, str]:
    """A new session of ``account_id``: (its token, its CSRF token). ``replacing``: the token
    the browser had, whose session ends (a sign-in never keeps a session it did not make)."""
    global _purged
    token, csrf, now = new_token(), auth.new_csrf(), db.now()
    with db.transaction(engine, write=True) as c:
        if replacing:
            c.execute(db.sessions.delete().where(
                db.sessions.c.token_hash == token_hash(replacing)))
        c.execute(db.sessions.insert().values(
            token_hash=token_hash(token), account_id=account_id, csrf=csrf, created_at=now,
            last_seen_at=now, expires_at=now + IDLE))
        c.execute(db.accounts.update().where(db.accounts.c.id == account_id)
                  .values(last_sign_in_at=now))
        if _purged is None or time.monotonic() - _purged > PURGE_SECONDS:
            _purged = time.monotonic()
            purge(c, now)
    return token, csrf


def end(engine: sa.Engine, token: str | None) -> None:
    """End the session of ``token`` (nothing if there is none)."""
    if token and TOKEN.fullmatch(token):
        with db.transaction(engine) as c:
            c.execute(db.sessions.delete().where(db.sessions.c.token_hash == token_hash(token)))


def end_all(c: sa.Connection, account_id: int, *, keep: str | None = None) -> int:
    """End every session of ``account_id`` but the one whose hash is ``keep``; how many ended."""
    q = db.sessions.delete().where(db.sessions.c.account_id == account_id)
    if keep is not None:
        q = q.where(db.sessions.c.token_hash != keep)
    return int(c.execute(q).rowcount or 0)


def live_counts(c: sa.Connection) -> dict[int, int]:
    """Live sessions per account."""
    s = db.sessions
    rows = c.execute(sa.select(s.c.account_id, sa.func.count()).where(s.c.expires_at > db.now())
                     .group_by(s.c.account_id)).all()
    return {int(r[0]): int(r[1]) for r in rows}


def purge(c: sa.Connection, now: dt.datetime) -> None:
    """Delete the sessions expired by ``now``."""
    c.execute(db.sessions.delete().where(db.sessions.c.expires_at <= now))


def _utc(value: dt.datetime) -> dt.datetime:
    found = db.aware(value)
    assert found is not None
    return found
