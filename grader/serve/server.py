"""Running the service: the database brought up to date, first-login links written, the
dispatcher started beside the web process (and ended with it), uvicorn serving the app."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def dispatcher_command(svc: Service, *, course: Path, config: Path | None, roster: Path | None,
                       database: str | None, jobs: int, scheduler: str | None,
                       unsafe_no_sandbox: bool) -> list[str]:
    cmd = [sys.executable, "-m", "grader.serve.dispatcher", "--course", str(course),
           "--state", str(svc.state), "--jobs", str(jobs), "--parent", str(os.getpid())]
    for flag, value in (("--config", config), ("--roster", roster), ("--database", database),
                        ("--scheduler", scheduler)):
        if value:
            cmd += [flag, str(value)]
    if unsafe_no_sandbox:
        cmd.append("--unsafe-no-sandbox")
    return cmd


def serve(app: Any, *, host: str, port: int, dispatcher: list[str],
          echo: Callable[[str], None]) -> int:
    """Serve until interrupted, or until the dispatcher ends (its reason is on stderr); the
    exit status: 0, or 1 when the dispatcher failed."""
    import uvicorn

    proc = subprocess.Popen(dispatcher)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            timeout_graceful_shutdown=5, limit_concurrency=1000, backlog=2048)
    server = uvicorn.Server(config)
    failed: list[int] = []

    def watch() -> None:
        while not server.should_exit:
            if proc.poll() is not None:
                failed.append(proc.returncode)
                echo(f"error: the dispatcher stopped (exit status {proc.returncode}): "
                     "nothing can be graded; stopping the service")
                server.should_exit = True
                return
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()
    try:
        server.run()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 1 if failed else 0
