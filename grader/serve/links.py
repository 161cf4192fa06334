"""First-login links: the link of every account without a password, and first-login.csv, the
file the instructor hands them out from."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from grader.results.model import write_csv_atomic
from grader.serve import auth, db
from grader.serve.service import Service

LINKS = "first-login.csv"


def first_login_links(svc: Service, base_url: str) -> list[tuple[str, str, str]]:
    """(login, role, link) of every active account without a password yet."""
    key = auth.secret_key(svc.state)
    with db.transaction(svc.database) as c:
        rows = c.execute(sa.select(db.accounts).where(
            db.accounts.c.password_hash.is_(None), db.accounts.c.active.is_(True))
            .order_by(db.accounts.c.role, db.accounts.c.login)).all()
    return [(r.login, r.role,
             f"{base_url}/first-login/{r.login}/{auth.first_login_token(key, r.login, r.generation)}")
            for r in rows]


def write_links(svc: Service, links: list[tuple[str, str, str]]) -> Path:
    """first-login.csv in the state folder, readable by this user only (it opens accounts)."""
    path = svc.state / LINKS
    write_csv_atomic(path, ["login", "role", "link"], links)
    os.chmod(path, 0o600)
    return path
