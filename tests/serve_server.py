"""A real ``grader serve`` for the service's tests: started as a user starts it (a process of its
own, the toy course, a roster, SQLite or the PostgreSQL database given), on a free port, and
signed into over HTTP as students and the instructor do; and the databases every service test
runs on (SQLite, and a PostgreSQL database of its own where a server answers)."""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOY = ROOT / "tests" / "fixtures" / "course"
PASSWORD = "a long password 1"
CORRECT = (TOY / "reference" / "toy" / "solution.py").read_text()
HANDED_OUT = (TOY / "assignments" / "toy" / "toy.py").read_text()  # the stub as released
# Work begun but nothing done yet: graded 0 (the stub itself is refused before it is stored).
STUB = HANDED_OUT + "\n\n# started: nothing works yet\n"
OTHER = (TOY / "reference" / "other" / "solution.py").read_text()
CONFIG = """
instructors = ["prof"]
max_upload_mb = 1

[[assignment]]
name = "toy"
title = "Toy exercises"
topics = ["toy"]
per_day = {per_day}
counts = "{counts}"
{deadline}

[[assignment]]
name = "both"
title = "Both topics"
topics = ["toy", "other"]
deadline = "2099-12-31T23:59:00+00:00"

[[assignment]]
name = "late"
title = "Past its deadline"
topics = ["toy"]
deadline = "2020-01-01T00:00:00+00:00"
"""


PG = "postgresql://postgres@127.0.0.1:5432/"
DATABASES = ["sqlite", "postgresql"]  # what the service's fixtures are parametrised over


def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; skipped where no server answers."""
    try:
        import psycopg
        admin = psycopg.connect(PG + "postgres", autocommit=True, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure to connect: no server here
        pytest.skip(f"no PostgreSQL server on 127.0.0.1:5432 ({type(exc).__name__})")
    name = f"grader_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG + name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def yield_database(kind: str) -> Iterator[str | None]:
    """The database URL for ``kind`` (None: the service's own SQLite file), while it lasts."""
    if kind == "sqlite":
        yield None
    else:
        yield from postgres_database()


@pytest.fixture(params=DATABASES)
def database(request: Any) -> Iterator[str | None]:
    """Each database in turn, for a test that starts its own service."""
    yield from yield_database(request.param)


def serve_on(kind: str, folder: Path, **options: Any) -> Iterator["Served"]:
    """A started service on a database of ``kind``, stopped (and its database dropped) after:
    the body of a module's ``served`` fixture."""
    databases = yield_database(kind)
    s = Served(folder, database=next(databases), **options).start()
    try:
        yield s
    finally:
        s.stop()
        next(databases, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """One service: its folder (roster, serve.toml, state) and its process."""

    folder: Path
    students: tuple[str, ...] = ("ada", "ben", "cy")
    per_day: int = 5
    counts: str = "last"
    deadline: str = ""
    database: str | None = None
    course: Path = TOY
    roster: Path | None = None  # default: one written for ``students``
    config: Path | None = None  # default: CONFIG, filled in
    scheduler: str | None = None  # a Dask scheduler's address, or "local"
    flags: tuple[str, ...] = ()  # more of grader serve's options (--web-only, --workers 2…)
    name: str = "serve"  # of its log, <name>.log in the folder
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.roster is not None:
            return
        self.roster = self.folder / "roster.csv"
        self.config = self.folder / "serve.toml"
        (self.folder / "roster.csv").write_text(
            "student,name,section\n" + "".join(f"{s},{s.title()} Student,A\n"
                                               for s in self.students))
        (self.folder / "serve.toml").write_text(CONFIG.format(
            per_day=self.per_day, counts=self.counts,
            deadline=f'deadline = "{self.deadline}"' if self.deadline else ""))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> Path:
        return self.folder / "state"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "grader", "serve", "--course", str(self.course),
               "--roster", str(self.roster), "--state", str(self.state),
               "--port", str(self.port), "--jobs", "1"]
        cmd += ["--config", str(self.config)] if self.config else []
        cmd += ["--scheduler", self.scheduler] if self.scheduler else []
        return cmd + (["--database", self.database] if self.database else []) + list(self.flags)

    def start(self, timeout: float = 60.0) -> "Served":
        log = open(self.folder / f"{self.name}.log", "ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     cwd=self.folder, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"grader serve ended ({self.proc.returncode}):\n{self.log()}")
            if "--dispatcher-only" in self.flags:  # ready once its engine has started
                if "grading up to" in self.log():
                    return self
                time.sleep(0.2)
                continue
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"grader serve was not ready within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return (self.folder / f"{self.name}.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill9(self) -> None:
        """kill -9 the server: the web process and, through its death, the dispatcher."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._wait_dispatcher_gone()

    def _wait_dispatcher_gone(self, timeout: float = 30.0) -> None:
        """The dispatcher holds dispatcher.lock while it lives (SQLite)."""
        import fcntl

        lock = self.state / "dispatcher.lock"
        deadline = time.monotonic() + timeout
        while lock.exists() and time.monotonic() < deadline:
            with open(lock) as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except OSError:
                    time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._wait_dispatcher_gone()

    def links(self) -> dict[str, str]:
        with open(self.state / "first-login.csv", newline="") as f:
            return {r["login"]: r["link"] for r in csv.DictReader(f)}

    def client(self) -> "Client":
        return Client(self)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows from the service's database itself (``?`` for parameters)."""
        if self.database is None:
            import sqlite3

            c = sqlite3.connect(self.state / "serve.db")
            try:
                return [tuple(r) for r in c.execute(sql, args)]
            finally:
                c.close()
        import psycopg

        with psycopg.connect(self.database) as c:
            return [tuple(r) for r in c.execute(sql.replace("?", "%s"), args)]  # type: ignore[arg-type]


class Client:
    """One browser's worth of cookies, over httpx."""

    def __init__(self, served: Served) -> None:
        import httpx

        self.served = served
        self.http = httpx.Client(base_url=served.url, follow_redirects=True, timeout=60)
        self.csrf = ""
        self.login = ""

    def get(self, path: str) -> Any:
        return self._token(self.http.get(path))

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        if not self.csrf:
            self.get("/sign-in")
        return self._token(self.http.post(path, data={"csrf": self.csrf, **(data or {})}, **kw))

    def _token(self, r: Any) -> Any:
        """The page's CSRF token (a new session has a new one) for the next form."""
        m = re.search(r'name="csrf" value="([^"]+)"', r.text)
        if m:
            self.csrf = m[1]
        return r

    def first_login(self, login: str, password: str = PASSWORD) -> Any:
        self.login = login
        link = self.served.links()[login].split("://", 1)[1].split("/", 1)[1]
        self.get("/" + link)
        return self.post("/" + link, {"password": password, "again": password})

    def sign_in(self, login: str, password: str = PASSWORD) -> Any:
        self.login = login
        self.get("/sign-in")
        return self.post("/sign-in", {"login": login, "password": password})

    def upload(self, assignment: str, name: str, content: bytes | str) -> Any:
        self.get(f"/assignments/{assignment}")
        data = content.encode() if isinstance(content, str) else content
        return self.post(f"/assignments/{assignment}/submit",
                         files={"file": (name, data, "application/octet-stream")})

    def wait_graded(self, sid: int, timeout: float = 300.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.get(f"/submissions/{sid}")
            if 'id="score"' in r.text:
                return str(r.text)
            time.sleep(0.3)
        raise AssertionError(f"submission {sid} not graded within {timeout} s:\n"
                             f"{self.served.log()}")


def submission_id(response: Any) -> int:
    m = re.search(r"/submissions/(\d+)$", str(response.url))
    assert m, f"not a submission page: {response.url} {response.status_code} {response.text[-500:]}"
    return int(m[1])


def score_of(page: str) -> str:
    m = re.search(r'id="score">([^<]+)<', page)
    assert m, page[-1500:]
    return m[1].strip()
