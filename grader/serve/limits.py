"""Sign-in rate limits, kept in the database so that every web process counts the same
attempts: wrong passwords per login, and failed sign-ins per client address.

An attempt is recorded before its password is checked, and deleted once the password proved
right (or when the attempt is refused unchecked). So parallel guesses cannot all pass before the
first is counted (whichever counts last sees them all), and a check that never finished counts
as failed. While a limit holds, no password is checked at all, the right one included: a limit
that a right guess could pass would protect nothing.

First-login links need no limit: their token is a 160-bit HMAC under the service's secret,
which no number of tries finds."""

from __future__ import annotations

import datetime as dt
import math
import time

import sqlalchemy as sa

from grader.serve import db

WINDOW = dt.timedelta(minutes=15)
# Wrong passwords per login in WINDOW. A student who mistypes gets a few tries; a guesser gets
# 480 a day against a password of 10 characters at least. Someone who knows a login can keep it
# locked: the instructor's new first-login link lets its student back in (a link is no password).
ACCOUNT_LIMIT = 5
# Failed sign-ins from one client address in WINDOW, whatever the logins. A class behind one
# campus NAT signing in at a lecture's start (a tenth of 200 students mistyping twice) stays
# under it; one machine trying a common password on every account of the class gets 50 tries
# a quarter of an hour.
ADDRESS_LIMIT = 50
# Attempts too old to count are deleted by an attempt at most this often (per process).
PURGE_SECONDS = 600
LOGIN_CHARS = 200  # the columns' lengths: a longer login is no account's, and is kept cut
ADDRESS_CHARS = 100

_purged: float | None = None  # when this process last purged (its first attempt does)


class Locked(Exception):
    """A limit holds: no password is checked for ``seconds`` more."""

    def __init__(self, seconds: int, what: str) -> None:
        super().__init__(f"locked for {seconds} s ({what})")
        self.seconds = seconds
        self.what = what  # "account" or "address"

    @property
    def wait(self) -> str:
        """When to try again, as a person says it: "12 minutes"."""
        minutes = max(1, math.ceil(self.seconds / 60))
        return "1 minute" if minutes == 1 else f"{minutes} minutes"


def begin(engine: sa.Engine, login: str, address: str) -> int:
    """Record an attempt to check ``login``'s password from ``address``, before checking it;
    its id. Locked (and nothing recorded) where a limit holds."""
    global _purged
    t, now = db.sign_in_attempts, db.now()
    login, address = _key(login, LOGIN_CHARS), _key(address, ADDRESS_CHARS)
    with db.transaction(engine) as c:
        mine = int(c.execute(t.insert().values(login=login, address=address, at=now)
                             .returning(t.c.id)).scalar_one())
        if _purged is None or time.monotonic() - _purged > PURGE_SECONDS:
            _purged = time.monotonic()
            purge(c, now)
    with db.transaction(engine) as c:
        waits = [(seconds, what) for seconds, what in (
            (_left(c, t.c.login == login, ACCOUNT_LIMIT, now, mine), "account"),
            (_left(c, t.c.address == address, ADDRESS_LIMIT, now, mine), "address"))
            if seconds]
    if waits:
        forget(engine, mine)
        raise Locked(*max(waits))
    return mine


def forget(engine: sa.Engine, attempt: int) -> None:
    with db.transaction(engine) as c:
        c.execute(db.sign_in_attempts.delete().where(db.sign_in_attempts.c.id == attempt))


def succeeded(engine: sa.Engine, login: str) -> None:
    """The password was right: the login's failures are forgotten (its attempt with them)."""
    with db.transaction(engine) as c:
        clear(c, login)


def clear(c: sa.Connection, login: str) -> None:
    c.execute(db.sign_in_attempts.delete().where(
        db.sign_in_attempts.c.login == _key(login, LOGIN_CHARS)))


def locked_logins(c: sa.Connection) -> dict[str, int]:
    """Logins whose password is not checked now, and for how many more seconds."""
    t, now = db.sign_in_attempts, db.now()
    over = c.execute(sa.select(t.c.login).where(t.c.at > now - WINDOW).group_by(t.c.login)
                     .having(sa.func.count() >= ACCOUNT_LIMIT)).scalars().all()
    found = {login: _left(c, t.c.login == login, ACCOUNT_LIMIT, now, None) for login in over}
    return {login: seconds for login, seconds in found.items() if seconds}


def purge(c: sa.Connection, now: dt.datetime) -> None:
    """Forget attempts too old to count."""
    c.execute(db.sign_in_attempts.delete().where(db.sign_in_attempts.c.at <= now - WINDOW))


def _key(text: str, length: int) -> str:
    """As kept: within the column, without NUL (which PostgreSQL's text cannot hold)."""
    return text.replace("\0", "\N{REPLACEMENT CHARACTER}")[:length]


def _left(c: sa.Connection, key: sa.ColumnElement[bool], limit: int, now: dt.datetime,
          mine: int | None) -> int:
    """Seconds until fewer than ``limit`` attempts of ``key`` (other than ``mine``) lie in the
    window: 0 if that is already so."""
    t = db.sign_in_attempts
    q = sa.select(t.c.at).where(key, t.c.at > now - WINDOW)
    if mine is not None:
        q = q.where(t.c.id != mine)
    at = c.execute(q.order_by(t.c.at.desc()).limit(1).offset(limit - 1)).scalar()
    if at is None:
        return 0
    ends = (db.aware(at) or now) + WINDOW
    return max(1, math.ceil((ends - now).total_seconds()))
