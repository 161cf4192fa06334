"""Accounts in the submission service, used over HTTP as users use them: sessions that end on
the server (sign-out, a password change, the instructor ending them or giving a new first-login
link) whatever copy of the cookie is left, changing a password, a new first-login link from the
accounts page and from ``grader serve --reset``, the sign-in rate limits, and every route of
the application walked with hostile path parameters. Every test runs on SQLite and on a
PostgreSQL database of its own (skipped with the reason where no server answers)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import pytest

pytest.importorskip("starlette", reason="grader serve needs the 'serve' extra")
pytest.importorskip("httpx", reason="the service's tests talk HTTP with httpx")

import sqlalchemy as sa  # noqa: E402

from grader.serve import db, limits, sessions  # noqa: E402
from grader.serve.app import routes  # noqa: E402
from grader.serve.paths import (Hex32Convertor, IdConvertor, LoginConvertor,  # noqa: E402
                                NameConvertor, TokenConvertor)
from serve_server import (DATABASES, PASSWORD, TOY, Client, Served, database,  # noqa: E402,F401
                          serve_on)

NEW = "another long password 2"
STUDENTS = tuple(f"u{i:02d}" for i in range(40))


@pytest.fixture(scope="module", params=DATABASES)
def served(request: Any, tmp_path_factory: Any) -> Iterator[Served]:
    """One service per database; each test takes students no other test has used."""
    for s in serve_on(request.param, tmp_path_factory.mktemp("accounts"), students=STUDENTS):
        s.unused = iter(STUDENTS)  # type: ignore[attr-defined]
        s.first_links = s.links()  # type: ignore[attr-defined]  # as written at start
        yield s


def student(served: Served, address: str | None = None) -> tuple[str, Client]:
    """A student no test has used, signed in with their first-login link."""
    login = next(served.unused)  # type: ignore[attr-defined]
    c = client(served, address)
    assert "/assignments" in str(c.first_login(login).url)
    return login, c


def client(served: Served, address: str | None = None) -> Client:
    """A browser, coming from ``address`` (as the proxy's X-Forwarded-For says, which the
    server trusts from 127.0.0.1: uvicorn's default)."""
    c = served.client()
    if address:
        c.http.headers["X-Forwarded-For"] = address
    return c


def instructor(served: Served) -> Client:
    c = served.client()
    if getattr(served, "instructor_ready", False):
        assert "/instructor" in str(c.sign_in("prof").url)
    else:
        c.first_login("prof")
        served.instructor_ready = True  # type: ignore[attr-defined]
    return c


def copy_of(c: Client) -> Client:
    """Another browser holding a copy of ``c``'s cookies."""
    other = c.served.client()
    other.http.cookies = c.http.cookies
    return other


def signed_out(c: Client) -> bool:
    """Whether ``c`` lands on the sign-in page for a student's page."""
    return str(c.get("/assignments").url).endswith("/sign-in?next=/assignments")


def path_of(link: str) -> str:
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


# ----------------------------------------------------------------------------- sessions


def test_the_cookies_are_secure_with_secure_cookies() -> None:
    """--secure-cookies: every cookie the service sets is sent over HTTPS only."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from grader.serve.web import SessionCookies, csrf_token

    async def form(request: Any) -> Any:
        return PlainTextResponse(csrf_token(request))  # a visitor's form token: a cookie

    async def cookie_of(app: Any) -> str:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app({"type": "http", "method": "GET", "path": "/", "raw_path": b"/",
                   "query_string": b"", "headers": [], "scheme": "http", "root_path": "",
                   "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
                   "http_version": "1.1", "asgi": {"version": "3.0"}}, receive, send)
        [start] = [m for m in sent if m["type"] == "http.response.start"]
        return next(v.decode() for k, v in start["headers"] if k == b"set-cookie")

    for secure in (True, False):
        app = Starlette(routes=[Route("/", form)],
                        middleware=[Middleware(SessionCookies, secure=secure)])
        cookie = asyncio.run(cookie_of(app))
        assert cookie.startswith("grader_csrf=") and "HttpOnly; SameSite=Strict" in cookie
        assert cookie.endswith("; Secure") == secure


def test_a_cookie_copied_before_sign_out_is_refused_after_it(served: Served) -> None:
    login, me = student(served)
    r = client(served).sign_in(login)
    [cookie] = [h for h in r.history[0].headers.get_list("set-cookie")
                if h.startswith("grader_session=")]
    assert "; HttpOnly; SameSite=Strict" in cookie and "Secure" not in cookie
    copy = copy_of(me)
    assert not signed_out(copy)
    token = me.http.cookies["grader_session"]
    # The database holds the token's hash only.
    stored = [r[0] for r in served.query("select token_hash from sessions")]
    assert token not in stored and hashlib.sha256(token.encode()).hexdigest() in stored
    assert str(me.post("/sign-out").url).endswith("/sign-in")
    assert signed_out(copy) and signed_out(me)
    # Nor can the copy send a form with the session's CSRF token.
    r = copy.http.post("/assignments/toy/submit", data={"csrf": me.csrf},
                       files={"file": ("toy.py", b"x = 1")})
    assert r.status_code == 401 and "sign in again" in r.text
    assert served.query("select count(*) from submissions")[0][0] == 0
    assert hashlib.sha256(token.encode()).hexdigest() not in \
        [r[0] for r in served.query("select token_hash from sessions")]


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(served: Served) -> None:
    login, me = student(served)
    laptop = client(served)
    laptop.sign_in(login)
    copy = copy_of(laptop)
    assert not signed_out(laptop)
    me.get("/account/password")
    r = me.post("/account/password", {"current": PASSWORD, "password": NEW, "again": NEW})
    assert r.status_code == 200 and "your 1 other session ended" in r.text, r.text[-600:]
    assert not signed_out(me)
    assert signed_out(laptop) and signed_out(copy)
    assert client(served).sign_in(login, PASSWORD).status_code == 401
    assert "/assignments" in str(client(served).sign_in(login, NEW).url)


def test_a_new_password_needs_the_current_one_and_follows_the_rules(served: Served) -> None:
    login, me = student(served)
    assert "Password" in me.get("/assignments").text  # the header links the page
    me.get("/account/password")
    for current, new, again, says in (
            ("not my password", NEW, NEW, "your current password is not that"),
            (PASSWORD, NEW, NEW + "!", "the two passwords differ"),
            (PASSWORD, "short", "short", "at least 10 characters"),
            (PASSWORD, login.upper(), login.upper(), "use at least"),
            (PASSWORD, f" {login}      ", f" {login}      ", "do not use your login")):
        r = me.post("/account/password", {"current": current, "password": new, "again": again})
        assert r.status_code == 400 and says in r.text, (new, r.text[-600:])
    assert "/assignments" in str(client(served).sign_in(login, PASSWORD).url)  # unchanged


def test_the_instructor_ends_a_students_sessions(served: Served) -> None:
    login, me = student(served)
    other = client(served)
    other.sign_in(login)
    prof = instructor(served)
    page = prof.get("/instructor/accounts").text
    assert re.search(rf"<td>{login}</td>.*?<td>set</td>\s*<td>2</td>", page, re.S), page
    r = prof.post("/instructor/accounts", {"login": login, "action": "end"})
    assert r.status_code == 200 and f"2 sessions of {login} ended" in r.text
    assert signed_out(me) and signed_out(other)
    assert "/assignments" in str(client(served).sign_in(login).url)  # the password still works


# ---------------------------------------------------------------------- new first-login links


def test_a_new_first_login_link_from_the_accounts_page(served: Served) -> None:
    login, me = student(served)
    old_link = served.first_links[login]  # type: ignore[attr-defined]
    prof = instructor(served)
    assert "/instructor/accounts" in prof.get("/instructor").text
    # "New link…" only asks: nothing changes until the instructor confirms.
    asked = prof.post("/instructor/accounts", {"login": login, "action": "link"})
    assert asked.status_code == 200 and 'id="confirm"' in asked.text
    assert "Their password is cleared" in asked.text and 'id="link"' not in asked.text
    assert not signed_out(me) and client(served).sign_in(login).status_code != 401
    r = prof.post("/instructor/accounts", {"login": login, "action": "link-confirmed"})
    shown = re.search(r'<code id="link">([^<]+)</code>', r.text)
    assert r.status_code == 200 and shown, r.text[-800:]
    # first-login.csv, written anew: the account again, and no account with a password.
    assert served.links()[login] == shown[1] and "prof" not in served.links()
    assert shown[1] not in prof.get("/instructor/accounts").text  # not on the list itself
    # Unused, it can be seen again without changing it.
    seen = prof.post("/instructor/accounts", {"login": login, "action": "show"})
    assert re.search(r'<code id="link">([^<]+)</code>', seen.text)[1] == shown[1]  # type: ignore[index]
    assert "not used yet (nothing was changed)" in seen.text
    assert signed_out(me)
    assert client(served).sign_in(login).status_code == 401  # the old password is gone
    assert client(served).get(path_of(old_link)).status_code == 404
    again = client(served)
    assert "/assignments" in str(again.first_login(login, NEW).url)
    assert client(served).get(path_of(shown[1])).status_code == 404  # it worked once
    assert "/assignments" in str(client(served).sign_in(login, NEW).url)
    # Used, it is not shown any more.
    r = prof.post("/instructor/accounts", {"login": login, "action": "show"})
    assert r.status_code == 400 and "has set a password" in r.text


def test_no_student_reaches_the_accounts_page(served: Served) -> None:
    login, me = student(served)
    target, victim = student(served)
    assert me.get("/instructor/accounts").status_code == 403
    for action in ("link", "link-confirmed", "show", "end"):
        r = me.post("/instructor/accounts", {"login": target, "action": action})
        assert r.status_code == 403, action
    assert not signed_out(victim)
    assert "/assignments" in str(client(served).sign_in(target).url)


def test_grader_serve_reset_gives_a_new_link_from_the_command_line(served: Served) -> None:
    login, me = student(served)
    cmd = [sys.executable, "-m", "grader", "serve", "--course", str(TOY), "--state",
           str(served.state), "--port", str(served.port)]
    cmd += ["--database", served.database] if served.database else []
    unknown = subprocess.Popen(cmd + ["--reset", "nobody"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    r = subprocess.run(cmd + ["--reset", login], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    m = re.match(rf"{login}: (http://127\.0\.0\.1:{served.port}/first-login/\S+)\n", r.stdout)
    assert m, r.stdout
    assert served.links()[login] == m[1]
    assert signed_out(me)
    assert client(served).sign_in(login).status_code == 401
    assert "/assignments" in str(client(served).first_login(login, NEW).url)
    assert client(served).get(path_of(m[1])).status_code == 404
    # The roster's other accounts were left as they were (no roster was given).
    assert "/instructor" in str(instructor(served).get("/instructor").url)
    _, said = unknown.communicate(timeout=120)
    assert unknown.returncode == 2 and said.startswith("error: no account 'nobody'")
    assert "Traceback" not in said


def test_a_command_without_the_roster_leaves_the_students_accounts_open(
        served: Served) -> None:
    login, me = student(served)
    cmd = [sys.executable, "-m", "grader", "serve", "--course", str(TOY), "--state",
           str(served.state), "--port", str(served.port), "--links"]
    cmd += ["--database", served.database] if served.database else []
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert not signed_out(me)
    assert "/assignments" in str(client(served).sign_in(login).url)


# ------------------------------------------------------------------------------ rate limits


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(
        served: Served) -> None:
    login, _ = student(served)
    at = client(served, "10.0.1.1")
    for _ in range(limits.ACCOUNT_LIMIT):
        assert at.sign_in(login, "wrong password!").status_code == 401
    for where in ("10.0.1.1", "10.0.1.2"):  # from anywhere, the right password included
        c = client(served, where)
        r = c.sign_in(login, PASSWORD)
        assert r.status_code == 429, r.text[-500:]
        seconds = int(r.headers["retry-after"])
        assert 14 * 60 < seconds <= 15 * 60
        assert f"too many wrong passwords for {login}: try again in 15 minutes" in r.text
        assert signed_out(c)
    # Another account from the same address signs in: the limit is the account's.
    other, _ = student(served)
    assert "/assignments" in str(client(served, "10.0.1.1").sign_in(other).url)
    prof = instructor(served)
    assert re.search(rf"<td>{login}</td>.*?locked for 15 minutes",
                     prof.get("/instructor/accounts").text, re.S)
    # The way out: a new first-login link (no password, so no limit), then the new password.
    prof.post("/instructor/accounts", {"login": login, "action": "link-confirmed"})
    assert "/assignments" in str(client(served, "10.0.1.1").first_login(login, NEW).url)
    assert "/assignments" in str(client(served, "10.0.1.1").sign_in(login, NEW).url)


def test_a_successful_sign_in_forgets_the_accounts_failures(served: Served) -> None:
    login, _ = student(served)
    c = client(served, "10.0.2.1")
    for _ in range(limits.ACCOUNT_LIMIT - 1):
        assert c.sign_in(login, "wrong password!").status_code == 401
    assert "/assignments" in str(c.sign_in(login).url)
    for _ in range(limits.ACCOUNT_LIMIT):
        assert client(served, "10.0.2.1").sign_in(login, "wrong password!").status_code == 401
    assert client(served, "10.0.2.1").sign_in(login).status_code == 429


def test_the_current_password_of_the_password_form_counts_toward_the_limit(
        served: Served) -> None:
    login, me = student(served)
    me.get("/account/password")
    for _ in range(limits.ACCOUNT_LIMIT):
        r = me.post("/account/password", {"current": "not my password", "password": NEW,
                                          "again": NEW})
        assert r.status_code == 400
    r = me.post("/account/password", {"current": PASSWORD, "password": NEW, "again": NEW})
    assert r.status_code == 429 and "try again in 15 minutes" in r.text
    assert int(r.headers["retry-after"]) > 14 * 60
    assert client(served).sign_in(login, PASSWORD).status_code == 429  # the same account
    assert client(served).sign_in(login, NEW).status_code == 429  # and nothing was changed


def test_failed_sign_ins_from_one_address_are_limited_whatever_the_logins(
        served: Served) -> None:
    login, _ = student(served)
    address = "10.0.3.1"

    guesser = client(served, address)
    guesser.get("/sign-in")

    def fail(i: int) -> int:
        # Unknown logins count as known ones do (nothing tells them apart), two tries each.
        r = guesser.http.post("/sign-in", data={"csrf": guesser.csrf, "login": f"guess{i // 2}",
                                                "password": "wrong password!"})
        return int(r.status_code)

    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(fail, range(limits.ADDRESS_LIMIT)))
    assert codes == [401] * limits.ADDRESS_LIMIT
    r = client(served, address).sign_in(login)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 14 * 60
    assert "too many failed sign-ins from your address: try again in 15 minutes" in r.text
    assert "/assignments" in str(client(served, "10.0.3.2").sign_in(login).url)


# ------------------------------------------------------------------ hostile path parameters

# Raw path segments, as a client may send them.
HOSTILE = ["99999999999999999999", "2147483648", "2147483647", "-1", "0", "007", "1.5", "0x1f",
           "abc", "%D9%A1", "%EF%BC%91", "%C3%A9t%C3%A9", "x" * 3000, "%2F", "1%2F2",
           "..%2F..%2Fsecret.key", "%00", "1%0A", "%20", "toy%00"]
VALID = {IdConvertor: "1", NameConvertor: "toy", LoginConvertor: "u00", TokenConvertor: "0" * 40,
         Hex32Convertor: "0" * 32}
FIELDS = {"login": "\0", "password": "\0", "student": "\0", "comment": "\0", "reply": "\0"}


def _valid(route: Any, name: str) -> str:
    kind = type(route.param_convertors[name])
    if name == "path":
        return "index.html"
    assert kind in VALID, f"the walk needs a valid value for {kind.__name__}: add it to VALID"
    return VALID[kind]


def test_every_route_answers_hostile_path_parameters_without_an_error(served: Served) -> None:
    """Every route of the application (its own table), every method, as a visitor, a student
    and the instructor: a hostile path parameter is a 404 where the route's convertor refuses
    it, and never a server error anywhere."""
    visitor = client(served)
    visitor.get("/sign-in")
    _, pupil = student(served)
    who = {"visitor": visitor, "student": pupil, "instructor": instructor(served)}
    problems: list[str] = []
    requests = 0
    for route in routes():
        for method in sorted(route.methods):
            cases = [(name, raw) for name in route.param_convertors for raw in HOSTILE] or \
                [("", "")]
            for name, raw in cases:
                path = route.path_format
                for other in route.param_convertors:
                    path = path.replace("{%s}" % other, raw if other == name else
                                        _valid(route, other))
                if not name:  # no parameter: a hostile query and form instead
                    path += "?next=%00&sid=99999999999999999999&name=%2F"
                for role, c in who.items():
                    data = {"csrf": c.csrf, **FIELDS} if method == "POST" else None
                    r = c.http.request(method, path, data=data, follow_redirects=False)
                    requests += 1
                    if r.status_code >= 500 or "Traceback" in r.text:
                        problems.append(f"{method} {path[:80]} as {role}: {r.status_code}")
                    elif refused(route, name, raw) and r.status_code != 404:
                        problems.append(f"{method} {path[:80]} as {role}: {r.status_code}, "
                                        "not the route's 404")
                    elif r.status_code == 404 and method != "HEAD" and 'id="message"' not in r.text:
                        problems.append(f"{method} {path[:80]} as {role}: not the 404 page")
    assert problems == [], f"{len(problems)} of {requests} requests:\n" + "\n".join(problems[:40])
    assert not signed_out(pupil)  # nothing in the walk ended a session


def refused(route: Any, name: str, raw: str) -> bool:
    """Whether the route's convertor refuses ``raw`` as ``name`` (a slash in it makes another
    path, which may be another route's)."""
    value = unquote(raw)
    return bool(name) and name != "path" and "/" not in value and \
        not re.fullmatch(route.param_convertors[name].regex, value)


# --------------------------------------------------------------- sessions in the database


def test_expired_sessions_are_refused_and_purged(
        tmp_path: Any, database: str | None) -> None:  # noqa: F811 - the imported fixture
    engine = db.connect(database or db.sqlite_url(tmp_path))
    db.migrate(engine)
    with db.transaction(engine) as c:
        account = c.execute(db.accounts.insert().values(
            login="ada", name="Ada", role="student", generation=0, external_id="", section="",
            active=True).returning(db.accounts.c.id)).scalar_one()
    live, _ = sessions.create(engine, account)
    old, _ = sessions.create(engine, account)
    stale = db.now() - sessions.TOUCH - dt.timedelta(minutes=1)
    with db.transaction(engine) as c:
        c.execute(db.sessions.update().where(
            db.sessions.c.token_hash == sessions.token_hash(old)).values(
            expires_at=db.now() - dt.timedelta(seconds=1)))
        c.execute(db.sessions.update().where(
            db.sessions.c.token_hash == sessions.token_hash(live)).values(last_seen_at=stale))
    assert sessions.lookup(engine, old) is None
    found = sessions.lookup(engine, live)
    assert found is not None and found.login == "ada"
    with db.transaction(engine) as c:  # seen now: its idle end moved on
        seen = c.execute(sa.select(db.sessions.c.last_seen_at).where(
            db.sessions.c.token_hash == sessions.token_hash(live))).scalar_one()
        assert db.aware(seen) > stale
        sessions.purge(c, db.now())
        left = c.execute(sa.select(db.sessions.c.token_hash)).scalars().all()
    assert left == [sessions.token_hash(live)]
    assert sessions.lookup(engine, "not a token") is None
    engine.dispose()
