"""``grader serve`` on several processes and machines: two web processes and two dispatchers on
one PostgreSQL database and one state folder, a class uploading through both web processes while
a web process and a dispatcher are killed (kill -9); a dead dispatcher's claims put back at once
(never by waiting for the lease), a live one's never; a dispatcher with older tests claiming
nothing; the same bytes uploaded twice at once; the class pages read whole while they are
rebuilt in a loop; and what SQLite refuses.
The PostgreSQL tests skip, saying why, where no server answers on 127.0.0.1:5432."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("starlette", reason="grader serve needs the 'serve' extra")
httpx = pytest.importorskip("httpx", reason="the service's tests talk HTTP with httpx")

import sqlalchemy as sa  # noqa: E402

from grader.classroom import grades  # noqa: E402
from grader.course import Course  # noqa: E402
from grader.results.files import write_outputs  # noqa: E402
from grader.results.model import SubmissionResult, TestResult  # noqa: E402
from grader.results.scoring import topic_results  # noqa: E402
from grader.serve import auth, classview, db, queue, versions  # noqa: E402
from grader.serve.presence import Presence  # noqa: E402
from grader.serve.service import Service, open_service  # noqa: E402
from serve_server import (CORRECT, PASSWORD, STUB, TOY, Client, Served, free_port,  # noqa: E402
                          score_of, submission_id)
from serve_server import postgres_database  # noqa: E402
from test_serve import SLOW  # noqa: E402


@pytest.fixture
def postgres() -> Iterator[str]:
    yield from postgres_database()


def service(tmp_path: Path, students: list[str], database: str | None = None) -> Service:
    """The toy course's service, opened as grader serve opens it, without a server."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    roster = tmp_path / "roster.csv"
    roster.write_text("student,name\n" + "".join(f"{s},{s.title()}\n" for s in students))
    return open_service(Course(TOY), config=None, roster=roster, state=tmp_path / "state",
                        database=database)


def account(svc: Service, login: str) -> int:
    with db.transaction(svc.database) as c:
        return int(c.execute(sa.select(db.accounts.c.id).where(db.accounts.c.login == login))
                   .scalar_one())


def enqueue(svc: Service, login: str) -> int:
    return queue.enqueue(svc.database, account_id=account(svc, login),
                         assignment_id=svc.assignment_ids["exercises"], sha256="ab" * 32, size=1,
                         filename="toy.py", graded_name="toy.py", limit=20)


def status_of(svc: Service, sid: int) -> tuple[str, str]:
    with db.transaction(svc.database) as c:
        row = c.execute(sa.select(db.submissions.c.status, db.submissions.c.claimed_by)
                        .where(db.submissions.c.id == sid)).one()
    return row.status, row.claimed_by


# ------------------------------------------------------------------------------ what SQLite allows


@pytest.mark.parametrize("flags, says", [
    (["--web-only"], "--web-only needs PostgreSQL"),
    (["--dispatcher-only"], "--dispatcher-only needs PostgreSQL"),
    (["--web-only", "--dispatcher-only"], "exclude each other"),
])
def test_sqlite_refuses_a_second_dispatcher_and_a_web_process_without_one(
        tmp_path: Path, flags: list[str], says: str) -> None:
    r = subprocess.run([sys.executable, "-m", "grader", "serve", "--course", str(TOY),
                        "--state", str(tmp_path / "state"), *flags],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("error: ") and says in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "state").exists()  # refused before anything was made


# --------------------------------------------------------------------------- claims and presence


def test_a_dispatcher_with_older_tests_claims_nothing(tmp_path: Path) -> None:
    svc = service(tmp_path, ["ada"])
    sid = enqueue(svc, "ada")
    with db.transaction(svc.database, write=True) as c:  # the instructor: "the tests changed"
        c.execute(db.class_requests.insert().values(kind="reload", created_at=db.now()))
    newest = queue.tests_generation(svc.database)
    assert newest > 0
    with db.transaction(svc.database, write=True) as c:
        assert queue.claim(c, "with the old tests", newest - 1) is None
    with db.transaction(svc.database, write=True) as c:
        got = queue.claim(c, "with the new tests", newest)
    assert got is not None and got.submission_id == sid and got.attempt == 1


def test_two_students_uploading_the_same_bytes_at_once_are_both_accepted(
        tmp_path: Path, postgres: str) -> None:
    """Two requests (of one web process or two) record the same upload (by content) at once:
    the second waits for the first's row and uses it, rather than failing on it."""
    svc = service(tmp_path, ["ada", "ben"], postgres)
    other = db.connect(postgres)
    try:
        with other.connect() as c:
            first = c.begin()  # ada's upload, recorded and not yet committed
            c.execute(db.uploads.insert().values(sha256="ab" * 32, size=1, created_at=db.now()))
            got: list[Any] = []

            def ben() -> None:
                try:
                    got.append(enqueue(svc, "ben"))
                except Exception as exc:  # noqa: BLE001 - the assertion below shows it
                    got.append(exc)

            t = threading.Thread(target=ben)
            t.start()
            deadline = time.monotonic() + 30
            while not c.execute(sa.text(  # ben's insert waits on ada's row
                    "select 1 from pg_stat_activity where wait_event_type = 'Lock' and "
                    "datname = current_database()")).first():
                assert time.monotonic() < deadline and t.is_alive(), got
                time.sleep(0.02)
            first.commit()
            t.join(30)
        assert len(got) == 1 and isinstance(got[0], int), got
    finally:
        other.dispose()
        svc.database.dispose()


def test_a_dead_dispatchers_claims_go_back_at_once_and_a_live_ones_stay(
        tmp_path: Path, postgres: str) -> None:
    svc = service(tmp_path, ["ada", "ben"], postgres)
    first, second = enqueue(svc, "ada"), enqueue(svc, "ben")
    a, b, c = (Presence(db.connect(postgres), f"test:{i}") for i in range(3))
    try:
        for p in (a, b, c):
            p.register(queue.tests_generation(svc.database))
        for p in (a, b):
            with db.transaction(svc.database, write=True) as conn:
                assert queue.claim(conn, p.name, 0) is not None
        assert status_of(svc, first) == ("running", a.name)
        assert status_of(svc, second) == ("running", b.name)
        assert a.recover() == b.recover() == c.recover() == []  # all three alive
        assert b.take_duties() and not c.take_duties()  # one holds the duties
        # a dies: its connection closes, as the kernel closes a killed process's.
        assert a.conn is not None
        a.conn.invalidate()
        deadline = time.monotonic() + 30
        found: list[tuple[str, int]] = []
        while not found and time.monotonic() < deadline:
            found = b.recover()
            time.sleep(0.05)
        assert found == [(a.name, 1)]
        assert status_of(svc, first) == ("queued", "")
        assert status_of(svc, second) == ("running", b.name)  # the living keep theirs
        assert not a.alive()  # a, were it alive, would know it lost its registration
        b.close()  # stops: c takes over its duties and puts back what it left running
        deadline = time.monotonic() + 30
        while not c.take_duties():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert c.recover() == [("", 1)]
        assert status_of(svc, second) == ("queued", "")
    finally:
        for p in (a, b, c):
            p.close()
            p.engine.dispose()
        svc.database.dispose()


# ----------------------------------------------------------------- the class pages' versions


def test_a_file_is_sent_whole_from_its_version_though_replaced_and_removed_meanwhile(
        tmp_path: Path) -> None:
    import asyncio

    link = tmp_path / "class" / "week1"
    link.parent.mkdir()
    link.mkdir()  # a class folder from before versions
    (link / "index.html").write_text("before versions")
    first = versions.new_folder(link, 1, False)
    big = os.urandom(3 * versions.CHUNK + 5)  # sent in several pieces
    (first / "gradebook.csv").write_bytes(big)
    versions.switch(link, first)
    assert link.is_symlink() and versions.current(link) == versions.Version(first, int(
        first.name.split("-")[0]), 1, False)
    assert (versions.folder_of(link) / "0-0-n" / "index.html").read_text() == "before versions"
    opened = versions.open_file(link, "gradebook.csv")
    assert opened is not None
    response = versions.DescriptorResponse(opened[0], media_type="text/csv", headers={})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not any(
                m["type"] == "http.response.body" for m in sent):
            # A rebuild switches to a new version and removes this one, mid-response.
            second = versions.new_folder(link, 2, True)
            (second / "gradebook.csv").write_bytes(b"the next version")
            versions.switch(link, second)
            versions.prune(link, grace=0)
            assert not first.exists()
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    asyncio.run(response({"type": "http", "method": "GET"}, receive, send))
    headers = dict(sent[0]["headers"])
    body = b"".join(m["body"] for m in sent[1:])
    assert body == big and headers[b"content-length"] == str(len(big)).encode()
    assert not sent[-1]["more_body"]
    assert versions.open_file(link, "gradebook.csv") is not None
    for outside in ("../week2/x", ".hidden", "students/../../../secret.key", ""):
        assert versions.open_file(link, outside) is None, outside


# ----------------------------------------------------------- the class pages, rebuilt while read


def _result(student: str, passed: bool) -> SubmissionResult:
    tests = [TestResult(topic="toy", name=n, nodeid=f"toy/hidden::{n}", kind="hidden",
                        outcome="passed" if passed else "failed",
                        score=p if passed else 0.0, max_score=p,
                        message="" if passed else f"{n}: expected 3, got 4")
             for n, p in (("test_add", 2.0), ("test_scale", 1.0))]
    return SubmissionResult(submission=student, topics=topic_results(tests, ["toy"]),
                            tests=tuple(tests), seed=7, sandbox=(),
                            started="2026-03-01T00:00:00+00:00", duration=1.0)


def _snapshot(svc: Service, students: list[str], passed: bool) -> classview.Snapshot:
    """A class whose every student's counted grading passed everything, or failed everything:
    each rebuild of one of the two is all of one or all of the other."""
    a = svc.config.assignments[0]
    received = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    chosen = {}
    for i, login in enumerate(students, 1):
        folder = svc.state / "results" / str(i) / ("1" if passed else "2")
        result = _result(login, passed)
        graded = grades.grade_of(result, grades.Terms(a.policy, received, None, False, ()))
        write_outputs(result, folder, graded.grade, shown=graded.result)
        chosen[login] = classview.Counted(i, folder, received.isoformat(), "ab" * 32, "toy.py")
    return classview.Snapshot(a, ["toy"], students, chosen, {}, {}, [], 1 if passed else 2)


def _sign_in(client: Any, login: str) -> None:
    page = client.get("/sign-in").text
    token = re.search(r'name="csrf" value="([^"]+)"', page)[1]  # type: ignore[index]
    r = client.post("/sign-in", data={"csrf": token, "login": login, "password": PASSWORD})
    assert r.status_code == 303, r.text[-500:]


def _unstamped(text: bytes) -> bytes:
    return re.sub(rb"Generated [^<]*?(?= \xc2\xb7|<)", b"Generated", text)


def test_class_pages_rebuilt_in_a_loop_are_read_whole_and_of_one_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from grader.serve.app import make_app

    students = [f"s{i:02d}" for i in range(20)]
    svc = service(tmp_path, students)
    with db.transaction(svc.database, write=True) as c:
        c.execute(db.accounts.update().where(db.accounts.c.login == "instructor").values(
            password_hash=auth.hash_password(PASSWORD), generation=1))
    good, bad = _snapshot(svc, students, True), _snapshot(svc, students, False)
    # What each version holds: built once each, then read from its folder.
    paths = {"/instructor/class/exercises/": "index.html",
             "/instructor/class/exercises/students/s03/report.html": "students/s03/report.html",
             "/instructor/class/exercises/gradebook.csv": "gradebook.csv"}
    expected: dict[str, dict[bytes, str]] = {p: {} for p in paths}
    for snap, which in ((good, "good"), (bad, "bad")):
        out = classview.write(snap, svc.state, svc.course, compare=False)
        for url, rel in paths.items():
            expected[url][_unstamped((out / rel).read_bytes())] = which
    assert all(len(v) == 2 for v in expected.values())  # the two versions differ in each file
    # A version, once switched to, is never written into: a rebuild makes the next one.
    last = versions.current(classview.class_folder(svc.state, "exercises"))
    assert last is not None
    held = {rel: (last.path / rel).read_bytes() for rel in paths.values()}
    classview.write(good, svc.state, svc.course, compare=False)
    assert {rel: (last.path / rel).read_bytes() for rel in paths.values()} == held
    # Versions replaced a moment ago go at once: a request racing a removal resolves again.
    monkeypatch.setattr(versions, "GRACE_SECONDS", 0.2)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(make_app(svc), host="127.0.0.1", port=port,
                                           log_level="warning"))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    stop, rebuilds, failures = threading.Event(), [0], []

    def rebuild() -> None:
        try:
            while not stop.is_set():
                classview.write((good, bad)[rebuilds[0] % 2], svc.state, svc.course,
                                compare=False)
                rebuilds[0] += 1
        except BaseException as exc:  # noqa: BLE001 - the reader's assertion says it
            failures.append(exc)

    rebuilding = threading.Thread(target=rebuild, daemon=True)
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        _sign_in(client, "instructor")
        rebuilding.start()
        seen: dict[str, dict[str, int]] = {p: {"good": 0, "bad": 0} for p in paths}
        reads = 0
        while min(min(v.values()) for v in seen.values()) < 3 or reads < 60 or rebuilds[0] < 4:
            assert time.monotonic() < deadline, (seen, rebuilds, failures)
            assert not failures, failures
            for url in paths:
                r = client.get(url)  # a body cut short or overlong is an httpx error here
                assert r.status_code == 200, (url, r.status_code, r.text[-300:])
                assert len(r.content) == int(r.headers["content-length"])
                which = expected[url].get(_unstamped(r.content))
                assert which is not None, f"{url}: neither version, {len(r.content)} bytes"
                seen[url][which] += 1
            reads += 1
    finally:
        stop.set()
        if rebuilding.is_alive():
            rebuilding.join(60)
        server.should_exit = True
        serving.join(30)
    assert not failures, failures
    # The version served last holds one rebuild's files, the overview and what it links.
    now = versions.current(classview.class_folder(svc.state, "exercises"))
    assert now is not None
    held = {expected[url][_unstamped((now.path / rel).read_bytes())]
            for url, rel in paths.items()}
    assert len(held) == 1, held
    # Versions replaced more than the grace ago go: with none, only the current one is left.
    versions.prune(classview.class_folder(svc.state, "exercises"), grace=0)
    assert [p.name for p in versions.folder_of(classview.class_folder(svc.state, "exercises"))
            .iterdir()] == [now.path.name]


# -------------------------------------------------------- two web processes, two dispatchers


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as c:
        return [tuple(r) for r in c.execute(sql)]


def _children(pid: int) -> list[int]:
    import psutil

    return [p.pid for p in psutil.Process(pid).children()]


def _one_session_and_one_limit_across(web1: Served, web2: Served, lim: Client) -> None:
    """A session and a form's token from one web process hold on the other, the daily limit
    (3) and the sign-in limit hold across both, and a sign-out on one ends the session on the
    other. ``lim``: a student signed in on web2."""
    other = web1.client()
    other.http.cookies = lim.http.cookies
    page = other.http.get("/assignments/toy")
    assert page.status_code == 200 and "lim" in page.text, page.text[-500:]
    token = re.search(r'name="csrf" value="([^"]+)"', lim.get("/assignments/toy").text)[1]  # type: ignore[index]
    r = other.http.post("/assignments/toy/submit", data={"csrf": token},
                        files={"file": ("toy.py", STUB.encode())})
    assert r.status_code == 200 and "/submissions/" in str(r.url), r.text[-500:]
    codes: list[int] = []  # five more uploads at once, through both: two fit

    def send(c: Client) -> None:
        codes.append(c.http.post("/assignments/toy/submit", data={"csrf": token},
                                 files={"file": ("toy.py", STUB.encode())}).status_code)

    senders = []
    for served in (web1, web2, web1, web2, web1):
        c = served.client()
        c.http.cookies = lim.http.cookies
        senders.append(threading.Thread(target=send, args=(c,)))
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    assert sorted(codes) == [200] * 2 + [429] * 3, codes
    # The sign-in limit counts the wrong passwords given to both: the right one is then refused
    # by either.
    from grader.serve import limits

    for i in range(limits.ACCOUNT_LIMIT):
        assert (web1, web2)[i % 2].client().sign_in("lim", "wrong password!").status_code == 401
    for served in (web1, web2):
        assert served.client().sign_in("lim", PASSWORD).status_code == 429
    # Signing out through one ends the session on the other: a copy of the cookie is refused.
    r = lim.http.post("/sign-out", data={"csrf": token})
    assert r.status_code == 200 and "/sign-in" in str(r.url)
    assert "/sign-in" in str(other.http.get("/assignments/toy").url)


def test_two_web_processes_and_two_dispatchers_grade_every_upload_once_through_kills(
        tmp_path: Path, postgres: str) -> None:
    students = tuple(f"s{i:02d}" for i in range(9)) + ("lim",)
    web1 = Served(tmp_path / "svc", students=students, per_day=3, database=postgres,
                  flags=("--web-only", "--workers", "2"), name="web1")
    web2 = dataclasses.replace(web1, port=free_port(), flags=("--web-only",), name="web2")
    d1 = dataclasses.replace(web1, flags=("--dispatcher-only",), name="d1")
    d2 = dataclasses.replace(web1, flags=("--dispatcher-only", "--jobs", "2"), name="d2")
    started: list[Served] = []
    try:
        for s in (web1, web2):
            started.append(s.start())
        assert len(_children(web1.proc.pid)) >= 2  # type: ignore[union-attr]  # its workers
        threads = [threading.Thread(target=s.start) for s in (d1, d2)]
        for t in threads:
            t.start()
        started += [d1, d2]
        # The class signs in, half through each web process, while the dispatchers start.
        clients: dict[str, Client] = {}
        for i, login in enumerate(students):
            c = (web1, web2)[i % 2].client()
            assert "/assignments" in str(c.first_login(login).url)
            clients[login] = c
        _one_session_and_one_limit_across(web1, web2, clients["lim"])
        for t in threads:
            t.join()
        assert d1.proc is not None and d2.proc is not None
        # The class uploads through both: a slow module first, so that grading is under way.
        accepted: list[tuple[str, int]] = []
        for i, login in enumerate(students[:-1]):
            accepted.append((login, submission_id(clients[login].upload(
                "toy", "toy.py", SLOW if i < 2 else (CORRECT, STUB)[i % 2]))))
        # d1 is killed while it grades, and web2 with it.
        deadline = time.monotonic() + 120
        d1_running: list[tuple[Any, ...]] = []
        while not d1_running:
            assert time.monotonic() < deadline, d1.log()
            d1_running = _rows(postgres, "select s.id from submissions s join dispatchers d "
                                         "on d.name = s.claimed_by where s.status = 'running' "
                                         f"and d.name like '%:{d1.proc.pid}#%'")
            time.sleep(0.05)
        name = _rows(postgres, f"select name from dispatchers where name like "
                               f"'%:{d1.proc.pid}#%'")[0][0]
        os.kill(d1.proc.pid, signal.SIGKILL)
        os.kill(web2.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
        killed = time.monotonic()
        # d2 puts back d1's claims at once: long before the lease could run out.
        while _rows(postgres, f"select id from submissions where status = 'running' and "
                              f"claimed_by = '{name}'"):
            assert time.monotonic() - killed < queue.LEASE.total_seconds() / 2, d2.log()
            time.sleep(0.1)
        assert time.monotonic() - killed < queue.LEASE.total_seconds() / 2
        # The survivors serve on: students of web2 go on through web1 with their cookies.
        for login in students[1:-1:2]:
            c = web1.client()
            c.http.cookies = clients[login].http.cookies
            clients[login] = c
        accepted.append(("s01", submission_id(clients["s01"].upload("toy", "toy.py", CORRECT))))
        for login, sid in accepted:
            assert score_of(clients[login].wait_graded(sid))
        deadline = time.monotonic() + 120
        while _rows(postgres, "select id from submissions where status in "
                              "('queued', 'running')"):
            assert time.monotonic() < deadline, d2.log()
            time.sleep(0.2)
        # Every upload accepted is there, and every submission graded exactly once.
        per_submission = dict(_rows(postgres, "select s.id, count(g.id) from submissions s "
                                              "left join gradings g on g.submission_id = s.id "
                                              "group by s.id"))
        assert {sid for _, sid in accepted} <= set(per_submission)
        assert set(per_submission.values()) == {1}, per_submission
        assert _rows(postgres, "select count(*) from (select submission_id, attempt from "
                               "gradings group by 1, 2 having count(*) > 1) x") == [(0,)]
        assert f"{name}: its process is gone" in (tmp_path / "svc" / "d2.log").read_text()
        # The class pages, rebuilt by the dispatcher left, show the whole class.
        prof = web1.client()
        prof.first_login("prof")
        deadline = time.monotonic() + 120
        while True:
            book = prof.get("/instructor/class/toy/gradebook.csv")
            if book.status_code == 200 and all(s in book.text for s in students):
                break
            assert time.monotonic() < deadline, d2.log()
            time.sleep(0.5)
    finally:
        for s in reversed(started):
            s.stop()



def test_processes_starting_at_once_on_a_new_state_folder_share_one_secret(
        tmp_path: Path) -> None:
    """Eight processes read the service's secret of a state folder that has none yet: one key is
    made, each of them reads it whole, nothing else is left in the folder."""
    code = ("import sys; from pathlib import Path; from grader.serve.auth import secret_key; "
            "print(secret_key(Path(sys.argv[1])).hex())")
    for i in range(3):
        state = tmp_path / str(i)
        state.mkdir()
        procs = [subprocess.Popen([sys.executable, "-c", code, str(state)],
                                  stdout=subprocess.PIPE, text=True) for _ in range(8)]
        keys = {p.communicate(timeout=120)[0].strip() for p in procs}
        assert all(p.returncode == 0 for p in procs)
        assert len(keys) == 1 and len(keys.pop()) == 64
        assert [p.name for p in state.iterdir()] == ["secret.key"]


def _upload(svc: Service, login: str, name: str, data: bytes) -> int:
    """An upload accepted as the upload page accepts it (checked, kept, its files recorded),
    then claimed and recorded as graded with full marks."""
    from grader.serve import compose, store

    a = svc.config.assignments[0]
    aid, me = svc.assignment_ids[a.name], account(svc, login)
    checked = store.check(data, name, svc.topics(a))
    store.keep(svc.state, data, checked.sha256)
    sid = queue.enqueue(svc.database, account_id=me, assignment_id=aid, sha256=checked.sha256,
                        size=len(data), filename=checked.filename, graded_name=checked.name,
                        limit=a.per_day,
                        then=lambda c, sid: compose.record(c, svc.state, sid, me, aid,
                                                           checked, svc.topics(a)))
    with db.transaction(svc.database, write=True) as c:
        got = queue.claim(c, "dispatcher", queue.tests_generation(svc.database))
    assert got is not None and got.submission_id == sid
    assert queue.complete(svc.database, got, "dispatcher", folder=f"results/{sid}/1", raw=2,
                          final=2, max_score=2, penalty=0, topics={"toy": [1, 1]}, error="")
    return sid


def test_the_class_pages_compare_a_composed_submission_with_its_carried_over_files(
        tmp_path: Path) -> None:
    """The similarity comparison (in the rebuilding child, which reads no database) is handed
    the files a composed submission was graded from, carried-over ones included."""
    import io
    import zipfile

    from grader.serve import store
    from serve_server import OTHER

    svc = service(tmp_path, ["ada"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("work/toy.py", CORRECT)
        z.writestr("work/other.py", OTHER)
    whole = _upload(svc, "ada", "course.zip", buf.getvalue())
    one = _upload(svc, "ada", "toy.py", STUB.encode())
    with db.transaction(svc.database) as c:
        got = classview.counted(c, svc.assignment_ids["exercises"], "last", svc.state)["ada"]
    assert got.submission_id == one and {p.topic for p in got.parts} == {"toy", "other"}
    folder = store.materialise(svc.state, got.sha256, got.name, tmp_path / "compared", got.parts)
    assert (folder / "other" / "other.py").read_text() == OTHER  # from submission ``whole``
    assert (folder / "toy" / "toy.py").read_text() == STUB
    assert whole != one
