"""Which grade the LMS receives, without a server: the counted grade the score outbox sends is
the one the class pages count (last or best, the latest grading of each submission), and a newer
grade supersedes an older one not yet sent."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sqlalchemy", reason="grader serve needs the 'serve' extra")

from grader.serve import classview, db  # noqa: E402
from grader.serve.lti import ags  # noqa: E402

T = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Any]:
    e = db.connect(db.sqlite_url(tmp_path))
    db.migrate(e)
    yield e
    e.dispose()


def _grading(c: Any, account: int, finals: list[float]) -> int:
    """A submission graded once per value of ``finals`` (regrades): its id."""
    sid = c.execute(db.submissions.insert().values(
        account_id=account, assignment_id=1, upload_sha256="0" * 64, filename="toy.py",
        graded_name="toy.py", received_at=T, seed=1, status="graded", priority=0,
        attempt=len(finals), claimed_by="", error="").returning(db.submissions.c.id)).scalar_one()
    for attempt, final in enumerate(finals, 1):
        c.execute(db.gradings.insert().values(
            submission_id=sid, attempt=attempt, folder=f"r/{sid}/{attempt}", raw=final,
            final=final, max_score=10.0, penalty_percent=0.0, topics="{}", error="",
            graded_at=T))
    return int(sid)


@pytest.mark.parametrize("counts", ["last", "best"])
def test_the_score_sent_is_the_grade_the_class_pages_count(engine: Any, tmp_path: Path,
                                                           counts: str) -> None:
    with db.transaction(engine) as c:
        c.execute(db.uploads.insert().values(sha256="0" * 64, size=1, created_at=T))
        c.execute(db.assignments.insert().values(name="toy", external_id=""))
        for i, login in enumerate(("ada", "ben", "cy"), 1):
            c.execute(db.accounts.insert().values(login=login, name=login, role="student",
                                                  generation=0, external_id="", section="",
                                                  active=True))
        # ada: a 7, then a 9 regraded to 4; ben: an 8, then a 6; cy: two 5s.
        _grading(c, 1, [7.0])
        _grading(c, 1, [9.0, 4.0])
        _grading(c, 2, [8.0])
        _grading(c, 2, [6.0])
        _grading(c, 3, [5.0])
        _grading(c, 3, [5.0])
        pages = classview.counted(c, 1, counts, tmp_path)
        for account, login in ((1, "ada"), (2, "ben"), (3, "cy")):
            sent = ags.counted_grade(c, account, 1, counts)
            assert sent.id == pages[login].submission_id, (counts, login)
        assert ags.counted_grade(c, 1, 1, counts).final == {"last": 4.0, "best": 7.0}[counts]


def test_a_newer_grade_supersedes_the_one_not_yet_sent(engine: Any) -> None:
    with db.transaction(engine) as c:
        c.execute(db.accounts.insert().values(login="ada", name="", role="student",
                                              generation=0, external_id="", section="",
                                              active=True))
        c.execute(db.assignments.insert().values(name="toy", external_id=""))
        ctx = c.execute(db.lti_contexts.insert().values(
            issuer="i", client_id="c", deployment_id="d", context_id="k", title="",
            lineitems_url="", ags_scopes="", memberships_url="", tool_url="",
            updated_at=T).returning(db.lti_contexts.c.id)).scalar_one()
        item = ags.link_lineitem(c, ctx, 1, "rl", "https://lms/items/1")
        for score in (3.0, 8.0):
            ags.enqueue(c, item, 1, "u-ada", {"scoreGiven": score, "scoreMaximum": 10.0,
                                              "comment": ""})
        rows = c.execute(db.lti_scores.select().order_by(db.lti_scores.c.id)).all()
    assert [(r.status, json.loads(r.body)["scoreGiven"]) for r in rows] == \
        [("superseded", 3.0), ("pending", 8.0)]


@pytest.mark.parametrize("fault", ["not a token response", "unreachable", "503"])
def test_a_transient_fault_is_retried_until_the_attempts_run_out_then_failed_with_its_reason(
        fault: str) -> None:
    """docs/lti.md §7: a fault retrying may mend (a token endpoint answering with a web page,
    the LMS unreachable or busy) keeps the score waiting with backoff; after retry_attempts
    attempts it is failed, the last fault named for the instructor."""
    from types import SimpleNamespace

    from grader.serve.lti import client
    from grader.serve.lti.platforms import LtiSettings
    from grader.serve.lti.sender import Sender
    from grader.serve.lti.tokens import TokenUnusable

    exc = {"not a token response": TokenUnusable("answered 200 with not a token response"),
           "unreachable": client.Unreachable("https://lms/token: connection refused"),
           "503": client.Refused(503, "down for maintenance")}[fault]
    settings = LtiSettings(retry_seconds=1.0, retry_max_seconds=8.0, retry_attempts=4)
    sender = Sender(None, settings, None, {})  # type: ignore[arg-type]
    waits = []
    for tries in range(4):
        score = SimpleNamespace(id=1, sub="u-ada", tries=tries, next_try_at=T)
        sender._failed(score, None, exc)
        _, values = sender.outcomes.pop()
        if tries < 3:
            assert values["status"] == "pending" and values["tries"] == tries + 1
            waits.append((values["next_try_at"] - db.now()).total_seconds())
        else:
            assert values["status"] == "failed"
            assert values["error"].startswith("given up after 4 attempts; the last: ")
            assert str(exc) in values["error"]
    assert [round(w) for w in waits] == [1, 2, 4]  # backoff, doubling
