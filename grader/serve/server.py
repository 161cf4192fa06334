"""Running the service: the database brought up to date, first-login links written, the web
processes (one, or ``--workers`` of them behind one address) and the dispatcher beside them
(ended with them), or either alone (``--web-only``, ``--dispatcher-only``, PostgreSQL only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from grader.classroom.roster import read_roster
from grader.course import Course
from grader.serve import db
from grader.serve.config import read_config
from grader.serve.service import Service

def dispatcher_command(*, state: Path, course: Path, config: Path | None, roster: Path | None,
                       database: str | None, jobs: int, scheduler: str | None,
                       unsafe_no_sandbox: bool, parent: bool = True) -> list[str]:
    """The dispatcher's command line; ``parent``: it ends when this process ends."""
    cmd = [sys.executable, "-m", "grader.serve.dispatcher", "--course", str(course),
           "--state", str(state), "--jobs", str(jobs)]
    if parent:
        cmd += ["--parent", str(os.getpid())]
    for flag, value in (("--config", config), ("--roster", roster), ("--database", database),
                        ("--scheduler", scheduler)):
        if value:
            cmd += [flag, str(value)]
    if unsafe_no_sandbox:
        cmd.append("--unsafe-no-sandbox")
    return cmd


@dataclass(frozen=True)
class Web:
    """What a web process needs to make the application: in this process, or in each of the
    ``--workers`` processes, which attach to the service this one opened."""

    course: str
    config: str | None
    roster: str | None
    state: str
    database: str | None
    secure_cookies: bool
    base_url: str | None = None  # the address students use, for the links made on the pages

    def make(self, svc: Service | None = None) -> Any:
        from grader.serve.app import make_app

        return make_app(svc or self.attach(), secure_cookies=self.secure_cookies,
                        base_url=self.base_url)

    def attach(self) -> Service:
        """The service as the command opened it: nothing migrated or written."""
        course = Course(Path(self.course))
        cfg = read_config(Path(self.config) if self.config else None, course.topics())
        engine = db.connect(self.database or db.sqlite_url(Path(self.state)))
        svc = Service(course, cfg, Path(self.state), engine,
                      read_roster(Path(self.roster)) if self.roster else {},
                      roster_given=self.roster is not None)
        with db.transaction(engine) as c:
            ids = dict(c.execute(sa.select(db.assignments.c.name, db.assignments.c.id)).all())
        svc.assignment_ids = {a.name: int(ids[a.name]) for a in cfg.assignments}
        return svc


WEB = "GRADER_SERVE_WEB"  # the environment variable that hands ``Web`` to the workers


def app_from_environment() -> Any:
    """uvicorn's application factory in each ``--workers`` process; the process ends with the
    command that started it, however that ends."""
    from grader.serve.dispatcher import die_with_parent

    spec = json.loads(os.environ[WEB])
    die_with_parent()
    if os.getppid() != spec.pop("parent"):  # it died before the signal was asked for
        raise SystemExit(0)
    return Web(**spec).make()


def serve(web: Web, svc: Service, *, host: str, port: int, workers: int,
          dispatcher: list[str] | None, echo: Callable[[str], None]) -> int:
    """Serve until interrupted, or until the dispatcher (None: none here) ends (its reason is on
    stderr); the exit status: 0, or 1 when the dispatcher failed. ``workers`` web processes:
    one is this process; more are processes of their own sharing its socket (uvicorn's), each
    started anew if it dies."""
    import uvicorn

    settings: dict[str, Any] = {"host": host, "port": port, "log_level": "warning",
                                "timeout_graceful_shutdown": 5, "limit_concurrency": 1000,
                                "backlog": 2048}
    run: Callable[[], None]
    if workers == 1:
        server = uvicorn.Server(uvicorn.Config(web.make(svc), **settings))
        run = server.run

        def stop() -> None:
            server.should_exit = True

        def stopping() -> bool:
            return bool(server.should_exit)
    else:
        from uvicorn.supervisors import Multiprocess

        os.environ[WEB] = json.dumps({**asdict(web), "parent": os.getpid()})
        config = uvicorn.Config(f"{__name__}:app_from_environment", factory=True,
                                workers=workers, **settings)
        supervisor = Multiprocess(config, sockets=[config.bind_socket()])
        run, stop, stopping = supervisor.run, supervisor.should_exit.set, \
            supervisor.should_exit.is_set
    proc = subprocess.Popen(dispatcher) if dispatcher else None
    failed: list[int] = []

    def watch() -> None:
        while proc is not None and not stopping():
            if proc.poll() is not None:
                failed.append(proc.returncode)
                echo(f"error: the dispatcher stopped (exit status {proc.returncode}): "
                     "nothing can be graded; stopping the service")
                stop()
                return
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()
    try:
        run()
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 1 if failed else 0
