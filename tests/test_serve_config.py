"""The service's set-up without a server: serve.toml's errors in one line, the schema the
migrations make (SQLite and, where one answers, PostgreSQL) against the tables the code uses,
a report's tests released after the deadline, and the command's own refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="grader serve needs the 'serve' extra")

from grader.course import Course  # noqa: E402
from grader.results.model import Outcome, TestResult  # noqa: E402
from grader.results.visibility import RELEASED_LATER, student_test  # noqa: E402
from grader.serve import db  # noqa: E402
from grader.serve.config import ConfigError, read_config  # noqa: E402

TOY = Path(__file__).resolve().parent / "fixtures" / "course"
TOPICS = ["toy", "other"]


@pytest.mark.parametrize("text, says", [
    ("", "no [[assignment]]"),
    ("colour = 'blue'", "unknown setting 'colour'"),
    ("[[assignment]]\nname = 'Week 1'", "lower-case letters"),
    ("[[assignment]]\nname = 'w1'\ntopics = ['nope']", "unknown topic 'nope'"),
    ("[[assignment]]\nname = 'w1'\ncounts = 'first'", "counts must be 'last' or 'best'"),
    ("[[assignment]]\nname = 'w1'\nper_day = 0", "per_day must be a whole number"),
    ("[[assignment]]\nname = 'w1'\ndeadline = 'friday'", "not an ISO 8601"),
    ("[[assignment]]\nname = 'w1'\n[assignment.late]\nper_day = -1", "per_day must be"),
    ("[[assignment]]\nname = 'w1'\n[[assignment]]\nname = 'w1'", "two assignments are named"),
    ("instructors = []\n[[assignment]]\nname = 'w1'", "instructors must be a list"),
    ("max_upload_mb = 0\n[[assignment]]\nname = 'w1'", "max_upload_mb"),
    ("[[assignment", "cannot read"),
    ("time_zone = 'Mars/Olympus'\n[[assignment]]\nname = 'w1'", "no IANA time zone"),
])
def test_a_bad_serve_toml_says_what_to_fix(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "serve.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        read_config(path, TOPICS)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_a_good_serve_toml_and_the_default() -> None:
    cfg = read_config(Path(__file__).resolve().parent.parent / "examples" / "serve.toml",
                      Course(Path(__file__).resolve().parent.parent).topics())
    [a] = cfg.assignments
    assert (a.name, a.counts, a.per_day, a.policy.cap) == ("exercises", "last", 10, 50.0)
    default = read_config(None, TOPICS)
    assert default.assignments[0].topics == ()  # every topic


def _schema_differences(url: str) -> list[object]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = db.connect(url)
    db.migrate(engine)
    db.migrate(engine)  # a second start finds it up to date
    with engine.connect() as c:
        found = compare_metadata(MigrationContext.configure(c), db.metadata)
    engine.dispose()
    return list(found)


def test_the_migrations_make_the_tables_the_code_uses_on_sqlite(tmp_path: Path) -> None:
    assert _schema_differences(db.sqlite_url(tmp_path)) == []


def test_the_migrations_make_the_tables_the_code_uses_on_postgresql() -> None:
    from serve_server import postgres_database

    databases = postgres_database()
    url = next(databases)
    try:
        assert _schema_differences(url) == []
    finally:
        next(databases, None)


def test_after_due_date_tests_show_once_released() -> None:
    t = TestResult(topic="toy", name="test_add", nodeid="t::test_add", kind="hidden", outcome=Outcome.FAILED,
                   score=0.0, max_score=1.0, message="add(1, 2): expected 3, got 4",
                   visibility="after_due_date")
    assert student_test(t).message == RELEASED_LATER
    assert student_test(t, frozenset({"after_due_date"})).message == t.message
    hidden = TestResult(topic="toy", name="test_x", nodeid="t::test_x", kind="hidden", outcome=Outcome.FAILED,
                        score=0.0, max_score=1.0, message="secret", visibility="hidden")
    assert student_test(hidden, frozenset({"after_due_date"})).message == RELEASED_LATER


def test_the_command_refuses_a_bad_config_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "serve.toml").write_text("[[assignment]]\nname = 'w1'\ncounts = 'first'")
    r = subprocess.run([sys.executable, "-m", "grader", "serve", "--course", str(TOY),
                        "--config", str(tmp_path / "serve.toml"), "--state",
                        str(tmp_path / "state"), "--links"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and "counts must be" in r.stderr
    assert "Traceback" not in r.stderr


def test_links_lists_every_account_without_a_password(tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_text("student,name\nada,Ada\nben,Ben\n")
    r = subprocess.run([sys.executable, "-m", "grader", "serve", "--course", str(TOY),
                        "--roster", str(tmp_path / "roster.csv"), "--state",
                        str(tmp_path / "state"), "--links", "--base-url", "https://g.example"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [x.split(" ")[0] for x in lines] == ["instructor", "ada", "ben"]
    assert all("https://g.example/first-login/" in x for x in lines)


def test_a_waiting_page_reloads_less_often_far_back_in_the_queue() -> None:
    from grader.serve.student import refresh_seconds

    assert [refresh_seconds("queued", p) for p in (0, 4, 5, 49, 50, 190)] == [2, 2, 5, 5, 10, 10]
    assert refresh_seconds("running", None) == 2
    assert refresh_seconds("graded", None) == refresh_seconds("error", None) == 0


def test_times_are_said_in_words_and_read_in_the_courses_time_zone(tmp_path: Path) -> None:
    import datetime as dt

    from grader.serve import dates

    path = tmp_path / "serve.toml"
    path.write_text("time_zone = 'Europe/Paris'\n[[assignment]]\nname = 'w1'\n"
                    "deadline = '2099-12-31T22:59:00+00:00'\n")
    config = read_config(path, TOPICS)
    paris = dates.zone(config.time_zone)
    assert dates.say_deadline(config.assignments[0].deadline, paris) == \
        "31 Dec 2099, 23:59 CET"
    summer = dt.datetime(2099, 7, 1, 10, 0, tzinfo=dt.timezone.utc)
    assert dates.say(summer, paris) == "1 Jul 2099, 12:00 CEST"
    assert dates.say(summer) == "1 Jul 2099, 10:00 UTC"
    # A date-time field's value is the course's time; an ISO time keeps its own offset.
    assert dates.read_deadline("2099-07-01T12:00", paris) == summer
    assert dates.read_deadline("2099-07-01T10:00+00:00", paris) == summer
    assert dates.local_input(summer, paris) == "2099-07-01T12:00"
    with pytest.raises(dates.PolicyError, match="new deadline"):
        dates.read_deadline("next friday", paris)
    assert read_config(None, TOPICS).time_zone == "UTC"
