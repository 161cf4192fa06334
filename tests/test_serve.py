"""The submission service, run as users run it (``grader serve`` in a process of its own) and
used over HTTP: sign-in, uploads and their limits, the queue, feedback, who may see what, the
rate limit under parallel uploads, regrade requests, extensions, and a server killed with
``kill -9`` while it grades. Every test runs on SQLite and, where a server answers on
127.0.0.1:5432, on a PostgreSQL database of its own (made and dropped here)."""

from __future__ import annotations

import io
import json
import re
import shutil
import sqlite3
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("starlette", reason="grader serve needs the 'serve' extra")
pytest.importorskip("httpx", reason="the service's tests talk HTTP with httpx")

from serve_server import (CORRECT, DATABASES, HANDED_OUT, OTHER, STUB, TOY,  # noqa: E402,F401
                          Served, database, score_of, serve_on, submission_id)


@pytest.fixture(scope="module", params=DATABASES)
def served(request: Any, tmp_path_factory: Any) -> Iterator[Served]:
    """One service per database for the tests that need nothing of their own: each of them
    signs in students no other test uses."""
    # SQLite's with two web processes (WAL): the pages, sessions and limits hold across them.
    yield from serve_on(request.param, tmp_path_factory.mktemp("serve"), students=STUDENTS,
                        flags=("--workers", "2") if request.param == "sqlite" else ())


STUDENTS = tuple(f"s{i:02d}" for i in range(40)) + ("ada", "ben", "cy")
_taken = iter(STUDENTS)


def fresh(served: Served, n: int = 1) -> list[Any]:
    """Clients signed in as students no test has used yet."""
    out = []
    for _ in range(n):
        c = served.client()
        c.first_login(next(_taken))
        out.append(c)
    return out


def instructor(served: Served) -> Any:
    """A client signed in as the instructor (whose first-login link works once)."""
    c = served.client()
    if getattr(served, "instructor_ready", False):
        c.sign_in("prof")
    else:
        c.first_login("prof")
        served.instructor_ready = True  # type: ignore[attr-defined]
    return c


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


SLOW = CORRECT.replace("import numpy as np", "import time\n\nimport numpy as np").replace(
    "def add(a, b):\n", "def add(a, b):\n    time.sleep(1)\n").replace(
    "def scale(x, c):\n", "def scale(x, c):\n    time.sleep(1)\n")


def attempts_of(served: Served) -> list[tuple[int, int]]:
    """(submission, attempt) of every recorded grading."""
    sql = "select submission_id, attempt from gradings"
    if served.database is None:
        with sqlite3.connect(served.state / "serve.db") as c:
            return [tuple(r) for r in c.execute(sql)]  # type: ignore[misc]
    import psycopg
    with psycopg.connect(served.database) as c:
        return [tuple(r) for r in c.execute(sql)]  # type: ignore[misc]


def statuses(served: Served) -> dict[int, str]:
    sql = "select id, status from submissions"
    if served.database is None:
        with sqlite3.connect(served.state / "serve.db") as c:
            return dict(c.execute(sql).fetchall())
    import psycopg
    with psycopg.connect(served.database) as c:
        return dict(c.execute(sql).fetchall())  # type: ignore[arg-type]


def zipped(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


# --------------------------------------------------------------------------------- students


def test_the_demo_course_served_gives_the_demo_perfect_submission_full_marks(
        tmp_path: Path) -> None:
    """What ./run serve starts: the course, the demo roster and examples/serve.toml."""
    root = Path(__file__).resolve().parent.parent
    served = Served(tmp_path / "serve", course=root, roster=root / "examples/class/roster.csv",
                    config=root / "examples/serve.toml").start()
    try:
        ada = served.client()
        ada.first_login("ada")
        perfect = root / "examples" / "class" / "ada"
        data = zipped({p.relative_to(perfect.parent).as_posix(): p.read_bytes()
                       for p in sorted(perfect.rglob("*")) if p.is_file()})
        sid = submission_id(ada.upload("exercises", "ada.zip", data))
        got, top = (float(x) for x in score_of(ada.wait_graded(sid)).split("/"))
        assert got == top > 0
        # Kept byte for byte, under its hash.
        import hashlib
        digest = hashlib.sha256(data).hexdigest()
        assert (served.state / "uploads" / digest[:2] / digest).read_bytes() == data
        prof = served.client()
        prof.first_login("instructor")
        assert f"/submissions/{sid}" in prof.get("/instructor").text
    finally:
        served.stop()


def test_a_student_signs_in_uploads_and_reads_full_marks(served: Served) -> None:
    login = next(_taken)
    ada = served.client()
    assert "/assignments" in str(ada.first_login(login).url)
    r = ada.upload("toy", "toy.py", CORRECT)
    sid = submission_id(r)
    # Waiting, the page says what happens next, never "0 ahead", and shows no empty scores.
    if 'id="score"' not in r.text:
        said = r.text.split('id="waiting">', 1)[1].split("</p>", 1)[0]
        assert re.match(r"Waiting to be graded: [1-9]\d* submission\(s\) ahead of yours|"
                        r"Next to be graded: grading starts as soon as a grader is free|"
                        r"Being graded now: the scores appear here", said), said
        assert 'class="num">Score<' not in r.text
    page = ada.wait_graded(sid)
    assert 'id="owner"' not in page  # the student's own page does not name them
    got, top = (float(x) for x in score_of(page).split("/"))
    assert got == top > 0
    assert "toy" in page
    report = ada.get(f"/submissions/{sid}/report")
    assert report.status_code == 200 and "test_add" in report.text.replace("<wbr>", "")
    assert "sandbox" in report.headers["content-security-policy"]
    # A test the report shows is labelled by what it is, never "hidden".
    assert "hidden · " not in report.text and "grader&#39;s test · " in report.text
    assert "public test · " in report.text
    # The assignment page lists it as the one that counts, and the rate limit's count.
    listing = ada.get("/assignments/toy").text
    assert "counts" in listing and 'id="left">4<' in listing
    # The instructor sees it, and the class pages the batch writes.
    prof = instructor(served)
    dash = prof.get("/instructor").text
    assert f"/submissions/{sid}" in dash and login in dash
    # The instructor's view of the submission says whose it is.
    owner = prof.get(f"/submissions/{sid}").text.split('id="owner">', 1)[1].split("</p>", 1)[0]
    assert owner == (f"Student: <strong>{login.title()} Student</strong> "
                     f'<span class="muted">({login})</span>'), owner
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        overview = prof.get("/instructor/class/toy/")
        if overview.status_code == 200 and login in overview.text:
            break
        time.sleep(0.5)
    assert overview.status_code == 200 and login in overview.text
    book = prof.get("/instructor/class/toy/gradebook.csv")
    assert book.status_code == 200 and login in book.text
    assert "attachment" in book.headers["content-disposition"]
    # A file the built pages do not have is the site's 404, not "not built yet".
    for path in ("nope", "index.html%00", "students/nobody/report.html"):
        r = prof.get(f"/instructor/class/toy/{path}")
        assert r.status_code == 404 and "there is no such page" in r.text, path
        assert "not there (yet)" not in r.text, path


def test_the_stub_scores_zero_and_a_correct_notebook_full_marks(served: Served) -> None:
    [me] = fresh(served)
    stub = me.wait_graded(submission_id(me.upload("toy", "toy.py", STUB)))
    assert score_of(stub).startswith("0 /")
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": CORRECT, "outputs": [],
                     "execution_count": None}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    page = me.wait_graded(submission_id(me.upload("toy", "toy.ipynb", json.dumps(nb))))
    got, top = (float(x) for x in score_of(page).split("/"))
    assert got == top > 0


REFUSED = [
    ("notes.txt", b"hello", "upload a .py, .ipynb or .zip"),
    ("solution.py", CORRECT.encode(), "not named after a topic"),
    ("toy (2).ipynb", b"{not json", "unreadable notebook"),
    ("work.zip", b"PK\x03\x04 not really", "not a readable zip"),
    ("work.zip", zipped({"../../escape.py": "x = 1"}), "outside the archive"),
    ("work.zip", zipped({"readme.md": "nothing here"}), "holds no module"),
    ("work.zip", zipped({"v1/toy.py": CORRECT, "v2/toy.py": CORRECT}), "Hand in one of them"),
    ("work.zip", zipped({"a/v1/toy.py": CORRECT, "a/v2/toy.py": CORRECT, "b/x.txt": ""}),
     "the 2 nearest lie in different folders (a/v1/toy.py, a/v2/toy.py)"),
    ("work.zip", zipped({"toy.py": "#" * (3 * 2**20)}), "zip bomb"),
    # Nothing to grade: refused before it is stored, and not counted.
    ("toy.py", b"", "toy.py is empty"),
    ("toy.py", b"\n  \n", "toy.py is empty"),
    ("toy.py", b"\x89PNG\r\n\x1a\n\x00\x00binary", "toy.py is not a text file"),
    ("toy.py", HANDED_OUT.encode(), "toy.py is the stub as it was handed out, unchanged"),
    ("toy.py", HANDED_OUT.replace("\n", "\r\n").encode() + b"\n\n", "the stub as it was"),
    ("work.zip", zipped({"work/toy.py": HANDED_OUT}), "toy.py in work.zip is the stub"),
]


def test_uploads_that_cannot_be_graded_are_refused_with_a_reason(served: Served) -> None:
    [me] = fresh(served)
    before = gradings_of(served)
    for name, content, expected in REFUSED:
        r = me.upload("toy", name, content)
        assert r.status_code == 400, (name, r.text[-800:])
        assert expected in r.text, name
        assert "Traceback" not in r.text
        # Named as the student named it, never as the grader's own copy.
        said = r.text.split('id="message">', 1)[1].split("<", 1)[0]
        assert name in said and "submission.zip" not in said, (name, said)
    assert gradings_of(served) == before  # nothing was queued
    assert 'id="left">5<' in me.get("/assignments/toy").text  # nor counted


def test_a_file_name_too_long_is_refused_for_its_length(served: Served) -> None:
    [me] = fresh(served)
    before = gradings_of(served)
    r = me.upload("toy", "t" * 3000 + ".py", CORRECT)
    said = r.text.split('id="message">', 1)[1].split("</p>", 1)[0]
    assert r.status_code == 400, said
    assert "3003 characters long, more than the 200 allowed" in said and "rename it" in said
    assert "toy.py" in said and ".py, .ipynb or .zip" not in said, said
    assert gradings_of(served) == before


def test_a_refusal_names_every_file_the_assignment_takes(served: Served) -> None:
    [me] = fresh(served)
    said = me.upload("both", "solution.py", CORRECT).text
    assert "name it toy.py or other.py" in said and "…" not in said
    # Below the refusal, under a heading, what the assignment takes, in full.
    assert 'id="expected-heading">What Both topics takes</h2>' in said
    listed = said.split('id="expected">', 1)[1].split("</ul>", 1)[0]
    assert "named after it: toy.py, other.py (or" in listed and "at most 1 MB" in listed


def test_an_upload_over_the_size_limit_is_refused(served: Served) -> None:
    [me] = fresh(served)
    r = me.upload("toy", "toy.py", "#" * (2 * 2**20))  # serve.toml: max_upload_mb = 1
    assert r.status_code == 413 and "MB" in r.text


def test_a_non_utf8_file_name_with_markup_is_shown_as_text(served: Served) -> None:
    [me] = fresh(served)
    me.get("/assignments/toy")
    name = "<img src=x onerror=alert(1)>\udcff.zip".encode("utf-8", "surrogateescape")
    r = me.http.post("/assignments/toy/submit", data={"csrf": me.csrf},
                     files={"file": (name.decode("latin-1"), zipped({"toy.py": CORRECT}))})
    page = me.wait_graded(submission_id(r))
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_form_without_its_csrf_token_is_refused(served: Served) -> None:
    [me] = fresh(served)
    before = gradings_of(served)
    r = me.http.post("/assignments/toy/submit", data={"csrf": "forged"},
                     files={"file": ("toy.py", CORRECT.encode())})
    assert r.status_code == 403 and "expired" in r.text
    assert gradings_of(served) == before


def test_sign_in_with_a_wrong_password_or_a_used_link_fails(served: Served) -> None:
    login = next(_taken)
    link = served.links()[login]
    me = served.client()
    me.first_login(login)
    again = served.client()
    assert again.get("/" + link.split("/", 3)[3]).status_code == 404  # it worked once
    assert again.sign_in(login, "wrong password!").status_code == 401
    assert again.sign_in("nobody", "wrong password!").status_code == 401
    assert "/assignments" in str(again.sign_in(login).url)


# ------------------------------------------------------------ an upload of some topics only

SCALE_WRONG = CORRECT.replace("return c * x", "return c + x")  # loses test_scale only


def query(served: Served, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of the service's own database (``?`` placeholders)."""
    if served.database is None:
        with sqlite3.connect(served.state / "serve.db") as c:
            return [tuple(r) for r in c.execute(sql, args)]
    import psycopg
    with psycopg.connect(served.database) as c:
        cursor = c.execute(sql.replace("?", "%s"), args)
        return [tuple(r) for r in cursor] if cursor.description else []


def topic_row(page: str, topic: str) -> str:
    """The text of a topic's row in the submission page's table."""
    row = page.split(f'id="topic-{topic}"', 1)[1].split("</tr>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", "", row).split())


def test_one_file_replaces_its_topic_and_the_others_are_carried_over(served: Served) -> None:
    [me] = fresh(served)
    prof = instructor(served)
    # Before any upload, the assignment's page says what an upload of some topics does.
    rule = me.get("/assignments/both").text
    said = " ".join(re.sub(r"<[^>]+>", "", rule.split('id="partial-rule"')[1]
                           .split("</div>")[0]).split())
    assert "replaces those topics only" in said and "carried over" in said, said
    assert "from your newest submission (graded or still waiting)" in said
    assert "the late penalty applies to the whole submission" in said, said

    whole = submission_id(me.upload("both", "course.zip",
                                    zipped({"work/toy.py": CORRECT, "work/other.py": OTHER})))
    full = score_of(me.wait_graded(whole))
    got, top = (float(x) for x in full.split("/"))
    assert got == top > 0
    one = submission_id(me.upload("both", "toy.py", SCALE_WRONG))
    page = me.wait_graded(one)
    got, _ = (float(x) for x in score_of(page).split("/"))
    assert got == top - 1  # test_scale lost; other.py's points kept
    toy, other = topic_row(page, "toy"), topic_row(page, "other")
    assert "toy.py · uploaded now" in toy and "/" in toy, toy
    assert f"work/other.py in course.zip · carried over from submission {whole}" in other, other
    other_score = other.rsplit(" ", 3)[-3:]
    assert other_score[0] == other_score[2] != "0", other
    # The composition is recorded: which upload holds each file, uploaded with which submission.
    zip_sha = query(served, "select upload_sha256 from submissions where id = ?", whole)[0][0]
    files = query(served, "select topic, name, upload_sha256, member, source_id from "
                          "submission_files where submission_id = ? order by topic", one)
    toy_sha = query(served, "select upload_sha256 from submissions where id = ?", one)[0][0]
    assert files == [("other", "other.py", zip_sha, "work/other.py", whole),
                     ("toy", "toy.py", toy_sha, "", one)]
    # The instructor sees the same.
    seen = prof.get(f"/submissions/{one}").text
    assert topic_row(seen, "other") == other and topic_row(seen, "toy") == toy
    # A regrade grades the same files with the same seed: the same grade, test by test.
    said = prof.post("/instructor/regrade", {"student": me.login, "assignment": "both"}).text
    assert "2 submission(s)" in said
    deadline = time.monotonic() + 300
    while dict(gradings_of(served)).get(one, 0) < 2 or statuses(served)[one] != "graded":
        assert time.monotonic() < deadline, served.log()
        time.sleep(0.3)
    assert score_of(me.wait_graded(one)) == score_of(page)
    first, again = (json.loads((served.state / "results" / str(one) / str(n) / "result.json")
                               .read_text()) for n in (1, 2))
    assert [(t["name"], t["outcome"], t["score"]) for t in first["tests"]] == \
        [(t["name"], t["outcome"], t["score"]) for t in again["tests"]]
    assert again["tests"] and again["seed"] == first["seed"]


def test_two_single_file_uploads_a_moment_apart_are_both_in_the_newest_submission(
        served: Served) -> None:
    """The second upload carries the first's file over although the first is not graded yet:
    topics come from the newest submission, whatever its state, not from the one that counts."""
    [me] = fresh(served)
    first = submission_id(me.upload("both", "toy.py", CORRECT))
    time.sleep(0.1)
    second = submission_id(me.upload("both", "other.py", OTHER))
    page = me.wait_graded(second)
    got, top = (float(x) for x in score_of(page).split("/"))
    assert got == top > 0, page[-1500:]
    assert f"toy.py · carried over from submission {first}" in topic_row(page, "toy")
    assert "other.py · uploaded now" in topic_row(page, "other")
    files = query(served, "select topic, source_id from submission_files where "
                          "submission_id = ? order by topic", second)
    assert files == [("other", second), ("toy", first)]
    first_page = me.wait_graded(first)  # graded too, on its own file (other.py missing)
    assert "toy.py · uploaded now" in topic_row(first_page, "toy")


def test_topics_are_carried_over_from_a_submission_recorded_before_its_files_were(
        served: Served) -> None:
    [me] = fresh(served)
    whole = submission_id(me.upload("both", "course.zip",
                                    zipped({"work/toy.py": CORRECT, "work/other.py": OTHER})))
    me.wait_graded(whole)
    query(served, "delete from submission_files where submission_id = ?", whole)
    page = me.wait_graded(submission_id(me.upload("both", "toy.py", SCALE_WRONG)))
    assert f"work/other.py in course.zip · carried over from submission {whole}" in \
        topic_row(page, "other")


def test_a_regrade_request_offers_this_assignments_tests_by_topic_failed_first(
        served: Served) -> None:
    [me] = fresh(served)
    sid = submission_id(me.upload("both", "both.zip",
                                  zipped({"toy.py": SCALE_WRONG, "other.py": OTHER})))
    page = me.wait_graded(sid)
    form = page.split('id="test"', 1)[1].split("</select>", 1)[0]
    groups = re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', form)
    assert [g for g, _ in groups] == ["toy"]  # other.py has all its points: nothing to ask
    toy = re.findall(r'<option value="([^"]+)">([^<]+)<', groups[0][1])
    assert [v for v, _ in toy] == ["toy::test_scale"] and "failed" in toy[0][1], toy
    # A passed test cannot be asked about, nor a test of another topic or none at all.
    for test in ("toy::test_add", "toy::nope"):
        r = me.post(f"/submissions/{sid}/regrade-request", {"test": test, "comment": "x"})
        assert r.status_code == 400, test
    # A submission with full marks offers no form, and says why.
    lone = me.wait_graded(submission_id(me.upload("toy", "toy.py", CORRECT)))
    assert 'id="test"' not in lone and "nothing to ask a regrade for" in lone


def test_a_refusal_leads_back_to_the_page_it_came_from(served: Served) -> None:
    [me] = fresh(served)
    me.get("/assignments/toy")
    r = me.http.post("/assignments/toy/submit", data={"csrf": me.csrf},
                     headers={"Referer": served.url + "/assignments/toy"},
                     files={"file": ("notes.txt", b"hello")})
    assert r.status_code == 400 and 'id="back" href="/assignments/toy"' in r.text
    r = me.get("/submissions/999999")  # no page led here: home
    assert r.status_code == 404 and 'id="back" href="/"' in r.text


def test_the_students_report_leaves_the_grading_internals_to_the_instructor(
        served: Served) -> None:
    [me] = fresh(served)
    sid = submission_id(me.upload("toy", "toy.py", CORRECT))
    me.wait_graded(sid)
    mine = me.get(f"/submissions/{sid}/report").text
    assert "sandbox:" not in mine and "· seed" not in mine and "test_add" in mine.replace(
        "<wbr>", "")
    theirs = instructor(served).get(f"/submissions/{sid}/report").text
    assert "sandbox:" in theirs and "· seed" in theirs
    # On its own page it leads back to the submission; in the submission's page (a frame)
    # it leaves the topics' table to the page, which shows it once.
    assert f'href="/submissions/{sid}"' in mine and "<h2>Topics</h2>" in mine
    framed = me.get(f"/submissions/{sid}/report?framed=1").text
    assert f'href="/submissions/{sid}"' not in framed and "<h2>Topics</h2>" not in framed
    page = me.get(f"/submissions/{sid}").text
    assert page.count('id="topic-toy"') == 1 and f"/submissions/{sid}/report?framed=1" in page


# --------------------------------------------------------------------------- who sees what


def test_no_student_reaches_another_students_work_or_the_instructors_pages(
        served: Served) -> None:
    owner, other = fresh(served, 2)
    sid = submission_id(owner.upload("toy", "toy.py", CORRECT))
    owner.wait_graded(sid)
    for path in (f"/submissions/{sid}", f"/submissions/{sid}/report"):
        r = other.get(path)
        assert r.status_code == 404, path
        assert "test_add" not in r.text.replace("<wbr>", "")
    r = other.post(f"/submissions/{sid}/regrade-request",
                   {"test": "toy::test_add", "comment": "mine now"})
    assert r.status_code == 404
    for path in ("/instructor", "/instructor/class/toy/", "/instructor/class/toy/gradebook.csv",
                 "/instructor/class/toy/students/ada/report.html"):
        assert other.get(path).status_code == 403, path
    for path, data in (("/instructor/regrade", {}),
                       ("/instructor/extension", {"student": "ben", "assignment": "toy",
                                                  "deadline": "2099-01-01T00:00+00:00"}),
                       ("/instructor/requests/1", {"decision": "accept", "points": "5"})):
        assert other.post(path, data).status_code == 403, path
    anonymous = served.client()
    for path in (f"/submissions/{sid}", f"/submissions/{sid}/report", "/instructor"):
        assert "/sign-in" in str(anonymous.get(path).url), path
    # The class folder is served only inside itself, and none of its hidden files.
    prof = instructor(served)
    for path in ("/instructor/class/toy/..%2F..%2Fsecret.key", "/instructor/class/toy/.uploads",
                 "/instructor/class/toy/../../serve.db", "/instructor/class/nope/"):
        assert prof.get(path).status_code == 404, path


def test_the_lti_page_says_lti_is_off_and_how_to_turn_it_on(served: Served) -> None:
    page = instructor(served).get("/instructor/lti").text
    said = " ".join(re.sub(r"<[^>]+>", "", page.split('id="lti-off">', 1)[1]
                           .split("</div>", 1)[0]).split())
    assert said.startswith("LTI is off: serve.toml has no [lti] section"), said
    assert "[[lti.platform]]" in said and "docs/lti.md" in said


def test_parallel_uploads_cannot_pass_the_daily_limit(served: Served) -> None:
    login = next(_taken)
    clients = [served.client() for _ in range(8)]
    clients[0].first_login(login)
    for c in clients[1:]:
        c.sign_in(login)
    for c in clients:
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
    assert sorted(codes) == [200] * 5 + [429] * 3, codes  # serve.toml: per_day = 5
    r = clients[0].upload("toy", "toy.py", CORRECT)
    assert r.status_code == 429 and "5 graded submissions for Toy exercises" in r.text
    assert 'id="left">0<' in clients[0].get("/assignments/toy").text


# ------------------------------------------------------------------- regrades and extensions


def test_a_regrade_request_accepted_with_points_changes_the_grade(served: Served) -> None:
    [me] = fresh(served)
    prof = instructor(served)
    sid = submission_id(me.upload("toy", "toy.py", STUB))
    assert score_of(me.wait_graded(sid)).startswith("0 /")
    r = me.post(f"/submissions/{sid}/regrade-request",
                {"test": "toy::test_add", "comment": "<script>alert(1)</script> please"})
    assert r.status_code == 200
    dash = prof.get("/instructor").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dash and "<script>alert" not in dash
    rid = _request_id(dash, sid)
    prof.post(f"/instructor/requests/{rid}", {"decision": "accept", "points": "2",
                                             "reply": "fair"})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        page = me.get(f"/submissions/{sid}").text
        if 'id="score">2 /' in page:
            break
        time.sleep(0.3)
    assert 'id="score">2 /' in page and "accepted" in page and "fair" in page


def test_a_regrade_request_says_what_was_granted_within_the_tests_points(
        served: Served) -> None:
    [me] = fresh(served)
    prof = instructor(served)
    sid = submission_id(me.upload("toy", "toy.py", STUB))
    assert score_of(me.wait_graded(sid)).startswith("0 /")
    me.post(f"/submissions/{sid}/regrade-request", {"test": "toy::test_scale",
                                                   "comment": "scale is right"})
    rid = _request_id(prof.get("/instructor").text, sid)
    reply = prof.post(f"/instructor/requests/{rid}", {"decision": "accept", "points": "1.5",
                                                     "reply": "ok"})
    said = reply.text.split('id="message">', 1)[1].split("<", 1)[0]
    assert "+1 (the test&#39;s maximum)" in said and "you entered +1.5" in said, said
    deadline = time.monotonic() + 300
    while True:
        page = me.get(f"/submissions/{sid}").text
        if 'id="score">1 /' in page:
            break
        assert time.monotonic() < deadline, served.log()
        time.sleep(0.3)
    granted = page.split('class="granted">', 1)[1].split("</td>", 1)[0]
    assert granted == "accepted: +1 (the test&#39;s maximum)", granted
    assert "+1.5" not in page
    answered = prof.get("/instructor").text.split('id="answered"', 1)[1].split("</table>")[0]
    assert "accepted: +1 (the test&#39;s maximum)" in answered and "+1.5" not in answered
    # Nothing more can be asked where the test has all its points now.
    assert 'value="toy::test_scale"' not in page
    r = me.post(f"/submissions/{sid}/regrade-request", {"test": "toy::test_scale",
                                                       "comment": "and again"})
    assert r.status_code == 400 and "choose one of this submission" in r.text


def _request_id(dash: str, sid: int) -> int:
    """The open request on submission ``sid`` in the instructor's dashboard."""
    for block in dash.split('class="box request"')[1:]:
        if f"/submissions/{sid}\"" in block:
            return int(block.split('action="/instructor/requests/')[1].split('"')[0])
    raise AssertionError(f"no open request for submission {sid}")


def test_an_extension_lifts_the_late_penalty(served: Served) -> None:
    login = next(_taken)
    me = served.client()
    me.first_login(login)
    prof = instructor(served)
    sid = submission_id(me.upload("late", "toy.py", CORRECT))
    late = me.wait_graded(sid)
    got, top = (float(x) for x in score_of(late).split("/"))
    assert got < top and "Late" in late
    # The form's date-time field: the course's time zone (UTC here), said back in words.
    form = prof.get("/instructor").text
    assert '<input type="datetime-local" id="ext-deadline"' in form
    assert "In the course's time zone, <span class=\"nowrap\">UTC</span>" in form
    prof.post("/instructor/extension", {"student": login, "assignment": "late",
                                        "deadline": "2099-01-01T00:00"})
    granted = prof.get("/instructor").text.split('id="extensions"', 1)[1].split("</table>")[0]
    assert "1 Jan 2099, 00:00 UTC" in granted, granted
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        page = me.get(f"/submissions/{sid}").text
        if 'id="score"' in page and score_of(page) == f"{top:g} / {top:g}":
            break
        time.sleep(0.3)
    assert score_of(page) == f"{top:g} / {top:g}"
    assert "your extension" in me.get("/assignments/late").text


def test_a_regrade_after_the_tests_changed_grades_with_the_new_tests(
        tmp_path: Path, database: str | None) -> None:  # noqa: F811 - the imported fixture
    course = tmp_path / "course"
    shutil.copytree(TOY, course)
    served = Served(tmp_path / "serve", course=course, database=database).start()
    try:
        me, prof = served.client(), served.client()
        me.first_login("ada")
        prof.first_login("prof")
        sid = submission_id(me.upload("toy", "toy.py", CORRECT))
        got, top = (float(x) for x in score_of(me.wait_graded(sid)).split("/"))
        assert got == top > 0
        hidden = course / "reference" / "toy" / "test_hidden.py"
        assert "@pytest.mark.points(2)" in hidden.read_text()
        hidden.write_text(hidden.read_text().replace("@pytest.mark.points(2)",
                                                     "@pytest.mark.points(5)"))
        said = prof.post("/instructor/regrade", {"reload": "on"}).text
        assert "queued for regrading" in said
        deadline = time.monotonic() + 300
        while score_of(me.wait_graded(sid)) != f"{top + 3:g} / {top + 3:g}":
            assert time.monotonic() < deadline, served.log()
            time.sleep(0.3)
        assert "reloading the course's tests" in served.log()
        assert dict(gradings_of(served))[sid] == 2
    finally:
        served.stop()


def test_a_service_grading_on_a_dask_cluster_gives_the_same_grades(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="grading on Dask needs the 'dask' extra")
    served = Served(tmp_path / "serve", scheduler="local").start()
    try:
        [me] = [served.client()]
        me.first_login("ada")
        right = me.wait_graded(submission_id(me.upload("toy", "toy.py", CORRECT)))
        got, top = (float(x) for x in score_of(right).split("/"))
        assert got == top > 0
        stub = me.wait_graded(submission_id(me.upload("toy", "toy.py", STUB)))
        assert score_of(stub).startswith("0 /")
        assert "Dask scheduler" in served.log()
    finally:
        served.stop()


# ------------------------------------------------------------------------------ nothing lost


def test_a_server_killed_while_grading_grades_every_upload_exactly_once_after_restart(
        tmp_path: Path, database: str | None) -> None:  # noqa: F811 - the imported fixture
    served = Served(tmp_path / "serve", per_day=10, database=database).start()
    try:
        clients = {s: served.client() for s in ("ada", "ben", "cy")}
        ids = []
        for login, c in clients.items():
            c.first_login(login)
            # The first is slow (a second's sleep in each function), so that it is still being
            # graded well after the page says so, however loaded the machine.
            ids.append(submission_id(c.upload("toy", "toy.py", SLOW if not ids else CORRECT)))
            ids.append(submission_id(c.upload("toy", "toy.py", STUB)))
        ada = clients["ada"]
        deadline = time.monotonic() + 300
        while "Being graded now" not in ada.get(f"/submissions/{ids[0]}").text:
            assert time.monotonic() < deadline, served.log()
            time.sleep(0.05)
        served.kill9()
        running = ids[0]
        assert statuses(served)[running] == "running"  # the dispatcher died with the server
        # What the abandoned attempt left: its copy of the upload, its results so far.
        assert (served.state / "work" / f"{running}-1").is_dir()
        assert (served.state / "results" / str(running) / "1").is_dir()
        served.start()
        for login, c in clients.items():
            for sid in ids:
                if c.get(f"/submissions/{sid}").status_code == 200:
                    c.wait_graded(sid)
        counts = dict(gradings_of(served))
        assert sorted(counts) == sorted(ids)
        assert set(counts.values()) == {1}, counts
        # Swept by the next dispatcher: what remains is what the recorded gradings point to.
        recorded = {f"results/{sid}/{attempt}" for sid, attempt in attempts_of(served)}
        deadline = time.monotonic() + 120
        while True:
            left = {p.relative_to(served.state).as_posix()
                    for p in served.state.glob("results/*/*")}
            work = list((served.state / "work").iterdir())
            if left == recorded and not work:
                break
            assert time.monotonic() < deadline, (left, recorded, work, served.log())
            time.sleep(0.2)
        assert f"results/{running}/1" not in recorded  # the abandoned attempt was swept
    finally:
        served.stop()
