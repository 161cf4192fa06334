"""The submission service, run as users run it (``grader serve`` in a process of its own) and
used over HTTP: sign-in, uploads and their limits, the queue, feedback, who may see what, the
rate limit under parallel uploads, regrade requests, extensions, and a server killed with
``kill -9`` while it grades. Every test runs on SQLite and, where a server answers on
127.0.0.1:5432, on a PostgreSQL database of its own (made and dropped here)."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("starlette", reason="grader serve needs the 'serve' extra")
pytest.importorskip("httpx", reason="the service's tests talk HTTP with httpx")

from serve_server import CORRECT, STUB, Served, score_of, submission_id  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432/"


def _postgres() -> Iterator[str | None]:
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


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: Any) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
    else:
        yield from _postgres()


@pytest.fixture
def served(tmp_path: Path, database: str | None) -> Iterator[Served]:
    s = Served(tmp_path / "serve", database=database).start()
    try:
        yield s
    finally:
        s.stop()


def gradings_of(served: Served) -> list[tuple[int, int]]:
    """(submission, completed gradings) from the database itself."""
    sql = ("select s.id, count(g.id) from submissions s left join gradings g "
           "on g.submission_id = s.id group by s.id order by s.id")
    if served.database is None:
        with sqlite3.connect(served.state / "serve.db") as c:
            return [tuple(r) for r in c.execute(sql)]  # type: ignore[misc]
    import psycopg
    with psycopg.connect(served.database) as c:
        return [tuple(r) for r in c.execute(sql)]  # type: ignore[misc]


def zipped(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


# --------------------------------------------------------------------------------- students


def test_a_student_signs_in_uploads_and_reads_full_marks(served: Served) -> None:
    ada = served.client()
    assert "/assignments" in str(ada.first_login("ada").url)
    r = ada.upload("toy", "toy.py", CORRECT)
    sid = submission_id(r)
    page = ada.wait_graded(sid)
    score = score_of(page)
    got, top = (float(x) for x in score.split("/"))
    assert got == top > 0
    assert "toy" in page
    report = ada.get(f"/submissions/{sid}/report")
    assert report.status_code == 200 and "test_add" in report.text.replace("<wbr>", "")
    assert "sandbox" in report.headers["content-security-policy"]
    # The assignment page lists it as the one that counts, and the rate limit's count.
    listing = ada.get("/assignments/toy").text
    assert "counts" in listing and 'id="left">4<' in listing
    # The instructor sees it, and the class pages the batch writes.
    prof = served.client()
    prof.first_login("prof")
    dash = prof.get("/instructor").text
    assert f"/submissions/{sid}" in dash and "ada" in dash
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        overview = prof.get("/instructor/class/toy/")
        if overview.status_code == 200:
            break
        time.sleep(0.5)
    assert overview.status_code == 200 and "ada" in overview.text
    book = prof.get("/instructor/class/toy/gradebook.csv")
    assert book.status_code == 200 and "ada" in book.text
    assert "attachment" in book.headers["content-disposition"]


def test_the_stub_scores_zero_and_a_correct_notebook_full_marks(served: Served) -> None:
    ada = served.client()
    ada.first_login("ada")
    stub = ada.wait_graded(submission_id(ada.upload("toy", "toy.py", STUB)))
    assert score_of(stub).startswith("0 /")
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": CORRECT, "outputs": [],
                     "execution_count": None}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    page = ada.wait_graded(submission_id(ada.upload("toy", "toy.ipynb", json.dumps(nb))))
    got, top = (float(x) for x in score_of(page).split("/"))
    assert got == top > 0


@pytest.mark.parametrize("name, content, expected", [
    ("notes.txt", b"hello", "upload a .py, .ipynb or .zip"),
    ("solution.py", CORRECT.encode(), "not named after a topic"),
    ("toy.ipynb", b"{not json", "unreadable notebook"),
    ("work.zip", b"PK\x03\x04 not really", "not a readable zip"),
    ("work.zip", zipped({"../../escape.py": "x = 1"}), "outside the archive"),
    ("work.zip", zipped({"readme.md": "nothing here"}), "holds no module"),
    ("work.zip", zipped({"toy.py": "#" * (3 * 2**20)}), "zip bomb"),
])
def test_uploads_that_cannot_be_graded_are_refused_with_a_reason(
        served: Served, name: str, content: bytes, expected: str) -> None:
    ada = served.client()
    ada.first_login("ada")
    r = ada.upload("toy", name, content)
    assert r.status_code == 400, r.text[-800:]
    assert expected in r.text
    assert "Traceback" not in r.text
    assert gradings_of(served) == []  # nothing was queued


def test_an_upload_over_the_size_limit_is_refused(served: Served) -> None:
    ada = served.client()
    ada.first_login("ada")
    r = ada.upload("toy", "toy.py", "#" * (2 * 2**20))  # serve.toml: max_upload_mb = 1
    assert r.status_code == 413 and "MB" in r.text


def test_a_non_utf8_file_name_and_markup_in_names_are_shown_as_text(served: Served) -> None:
    ada = served.client()
    ada.first_login("ada")
    ada.get("/assignments/toy")
    r = ada.http.post("/assignments/toy/submit", data={"csrf": ada.csrf},
                      files={"file": ("<img src=x onerror=alert(1)>\udcff.zip".encode("utf-8", "surrogateescape")
                                      .decode("latin-1"), zipped({"toy.py": CORRECT}))})
    sid = submission_id(r)
    page = ada.wait_graded(sid)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_form_without_its_csrf_token_is_refused(served: Served) -> None:
    ada = served.client()
    ada.first_login("ada")
    r = ada.http.post("/assignments/toy/submit", data={"csrf": "forged"},
                      files={"file": ("toy.py", CORRECT.encode())})
    assert r.status_code == 403 and "expired" in r.text
    assert gradings_of(served) == []


def test_sign_in_with_a_wrong_password_or_a_used_link_fails(served: Served) -> None:
    ada = served.client()
    ada.first_login("ada")
    again = served.client()
    r = again.get("/" + served.links().get("ada", "x://h/first-login/ada/0").split("/", 3)[3])
    assert r.status_code == 404  # the link worked once: ada is gone from the links
    assert again.sign_in("ada", "wrong password!").status_code == 401
    assert again.sign_in("nobody", "wrong password!").status_code == 401
    assert "/assignments" in str(again.sign_in("ada").url)


# --------------------------------------------------------------------------- who sees what


def test_no_student_reaches_another_students_work_or_the_instructors_pages(
        served: Served) -> None:
    ada, ben = served.client(), served.client()
    ada.first_login("ada")
    ben.first_login("ben")
    sid = submission_id(ada.upload("toy", "toy.py", CORRECT))
    ada.wait_graded(sid)
    for path in (f"/submissions/{sid}", f"/submissions/{sid}/report"):
        r = ben.get(path)
        assert r.status_code == 404, path
        assert "test_add" not in r.text.replace("<wbr>", "") and "ada" not in r.text
    r = ben.post(f"/submissions/{sid}/regrade-request",
                 {"test": "toy::test_add", "comment": "mine now"})
    assert r.status_code == 404
    for path in ("/instructor", "/instructor/class/toy/", "/instructor/class/toy/gradebook.csv",
                 "/instructor/class/toy/students/ada/report.html"):
        r = ben.get(path)
        assert r.status_code == 403, path
    for path, data in (("/instructor/regrade", {}),
                       ("/instructor/extension", {"student": "ben", "assignment": "toy",
                                                  "deadline": "2099-01-01T00:00+00:00"}),
                       ("/instructor/requests/1", {"decision": "accept", "points": "5"})):
        assert ben.post(path, data).status_code == 403, path
    anonymous = served.client()
    for path in (f"/submissions/{sid}", f"/submissions/{sid}/report", "/instructor"):
        assert "/sign-in" in str(anonymous.get(path).url), path
    # The class folder is served only inside itself.
    prof = served.client()
    prof.first_login("prof")
    assert prof.get("/instructor/class/toy/..%2F..%2Fsecret.key").status_code == 404
    assert prof.get("/instructor/class/toy/../../serve.db").status_code in (404, 403)


def test_parallel_uploads_cannot_pass_the_daily_limit(tmp_path: Path, database: str | None
                                                      ) -> None:
    served = Served(tmp_path / "serve", per_day=3, database=database).start()
    try:
        clients = [served.client() for _ in range(8)]
        clients[0].first_login("ada")
        for c in clients[1:]:
            c.sign_in("ada")
            c.get("/assignments/toy")
        codes: list[int] = []

        def send(c: Any) -> None:
            codes.append(c.post("/assignments/toy/submit",
                                files={"file": ("toy.py", CORRECT.encode())}).status_code)

        threads = [threading.Thread(target=send, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(codes) == [200] * 3 + [429] * 5, codes
        assert len(gradings_of(served)) == 3
        assert "3 graded submissions for Toy exercises" in clients[0].upload("toy", "toy.py", CORRECT).text
    finally:
        served.stop()


# ------------------------------------------------------------------------------ nothing lost


def test_a_server_killed_while_grading_grades_every_upload_exactly_once_after_restart(
        tmp_path: Path, database: str | None) -> None:
    served = Served(tmp_path / "serve", per_day=10, database=database).start()
    try:
        clients = {s: served.client() for s in ("ada", "ben", "cy")}
        ids = []
        for login, c in clients.items():
            c.first_login(login)
            ids.append(submission_id(c.upload("toy", "toy.py", CORRECT)))
            ids.append(submission_id(c.upload("toy", "toy.py", STUB)))
        # Killed once something is being graded and something is still queued.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            page = clients["cy"].get(f"/submissions/{ids[-1]}").text
            first = clients["ada"].get(f"/submissions/{ids[0]}").text
            if "Being graded" in first or 'id="score"' in first:
                break
            time.sleep(0.1)
        assert "Queued" in page
        served.kill9()
        served.start()
        for login, c in clients.items():
            for sid in ids:
                if c.get(f"/submissions/{sid}").status_code == 200:
                    c.wait_graded(sid, timeout=180)
        counts = dict(gradings_of(served))
        assert sorted(counts) == sorted(ids)
        assert set(counts.values()) == {1}, counts
    finally:
        served.stop()


# ------------------------------------------------------------------- regrades and extensions


def test_a_regrade_request_accepted_with_points_changes_the_grade(served: Served) -> None:
    ada, prof = served.client(), served.client()
    ada.first_login("ada")
    prof.first_login("prof")
    sid = submission_id(ada.upload("toy", "toy.py", STUB))
    assert score_of(ada.wait_graded(sid)).startswith("0 /")
    r = ada.post(f"/submissions/{sid}/regrade-request",
                 {"test": "toy::test_add", "comment": "<script>alert(1)</script> please"})
    assert r.status_code == 200
    dash = prof.get("/instructor").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dash and "<script>alert" not in dash
    rid = int(dash.split('action="/instructor/requests/')[1].split('"')[0])
    prof.post(f"/instructor/requests/{rid}", {"decision": "accept", "points": "2",
                                             "reply": "fair"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        page = ada.get(f"/submissions/{sid}").text
        if 'id="score">2 /' in page:
            break
        time.sleep(0.3)
    assert 'id="score">2 /' in page and "accepted" in page and "fair" in page


def test_an_extension_lifts_the_late_penalty(tmp_path: Path) -> None:
    served = Served(tmp_path / "serve", deadline="2020-01-01T00:00:00+00:00").start()
    try:
        ada, prof = served.client(), served.client()
        ada.first_login("ada")
        prof.first_login("prof")
        sid = submission_id(ada.upload("toy", "toy.py", CORRECT))
        late = ada.wait_graded(sid)
        got, top = (float(x) for x in score_of(late).split("/"))
        assert got < top and "Late" in late
        prof.post("/instructor/extension", {"student": "ada", "assignment": "toy",
                                            "deadline": "2099-01-01T00:00:00+00:00"})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            page = ada.get(f"/submissions/{sid}").text
            if 'id="score"' in page and score_of(page) == f"{top:g} / {top:g}":
                break
            time.sleep(0.3)
        assert score_of(page) == f"{top:g} / {top:g}"
        assert "your extension" in ada.get("/assignments/toy").text
    finally:
        served.stop()
