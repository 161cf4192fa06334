"""What the web process and the dispatcher share: the course, serve.toml, the roster, the state
folder and the database, and the terms a submission is graded under (its deadline with the
student's extension, the late policy, the instructor's adjustments)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from grader.classroom import grades
from grader.classroom.late import parse_time
from grader.classroom.overrides import Override
from grader.classroom.roster import Student, read_roster
from grader.course import Course
from grader.serve import dates, db
from grader.serve.config import Assignment, ServeConfig, read_config
from grader.serve.lti import accounts


@dataclass
class Service:
    course: Course
    config: ServeConfig
    state: Path
    database: sa.Engine
    roster: dict[str, Student] = field(default_factory=dict)
    assignment_ids: dict[str, int] = field(default_factory=dict)
    roster_given: bool = False  # a roster file was read: students not on it are inactive

    def topics(self, a: Assignment) -> list[str]:
        return list(a.topics or self.course.topics())

    @property
    def tz(self) -> dt.tzinfo:
        """The course's time zone, in which the pages say and read times."""
        return dates.zone(self.config.time_zone)

    def assignment_of(self, assignment_id: int) -> Assignment:
        name = next(n for n, i in self.assignment_ids.items() if i == assignment_id)
        found = self.config.assignment(name)
        assert found is not None
        return found

    def deadline(self, c: sa.Connection, a: Assignment, account_id: int) -> str:
        """The student's deadline: their extension's, else the assignment's ("" for none)."""
        ext = c.execute(sa.select(db.extensions.c.deadline).where(
            db.extensions.c.account_id == account_id,
            db.extensions.c.assignment_id == self.assignment_ids[a.name])).scalar()
        ext = db.aware(ext)
        return ext.isoformat() if ext is not None else a.deadline

    def extensions(self, c: sa.Connection, a: Assignment) -> dict[str, str]:
        rows = c.execute(sa.select(db.accounts.c.login, db.extensions.c.deadline)
                         .join(db.accounts, db.accounts.c.id == db.extensions.c.account_id)
                         .where(db.extensions.c.assignment_id == self.assignment_ids[a.name]))
        return {r.login: db.aware(r.deadline).isoformat() for r in rows}  # type: ignore[union-attr]

    def overrides(self, c: sa.Connection, a: Assignment, login: str | None = None
                  ) -> list[Override]:
        """Accepted regrade requests, as the batch's adjustments (a test's points given)."""
        r, s, acc = db.regrade_requests, db.submissions, db.accounts
        q = (sa.select(acc.c.login, r.c.topic, r.c.test, r.c.points, r.c.id)
             .join(s, s.c.id == r.c.submission_id).join(acc, acc.c.id == r.c.account_id)
             .where(r.c.status == "accepted", s.c.assignment_id == self.assignment_ids[a.name])
             .order_by(r.c.id))
        if login is not None:
            q = q.where(acc.c.login == login)
        return [Override(x.login, x.topic, x.test, float(x.points or 0.0),
                         f"regrade request {x.id}") for x in c.execute(q)]

    def terms(self, c: sa.Connection, submission_id: int) -> grades.Terms:
        s, acc = db.submissions, db.accounts
        row = c.execute(sa.select(s.c.account_id, s.c.assignment_id, s.c.received_at, acc.c.login)
                        .join(acc, acc.c.id == s.c.account_id)
                        .where(s.c.id == submission_id)).one()
        a = self.assignment_of(row.assignment_id)
        deadline = self.deadline(c, a, row.account_id)
        return grades.Terms(a.policy, db.aware(row.received_at),
                            parse_time(deadline) if deadline else None, False,
                            tuple(self.overrides(c, a, row.login)))


def open_service(course: Course, *, config: Path | None, roster: Path | None, state: Path,
                 database: str | None, sync_accounts: bool = True) -> Service:
    """The service's parts, the database migrated and its accounts and assignments in step with
    the roster and serve.toml (no one is deleted: a student gone from the roster is inactive).
    ``sync_accounts=False``: the accounts as they are (a command that changes one account)."""
    cfg = read_config(config, course.topics())
    state.mkdir(parents=True, exist_ok=True)
    engine = db.connect(database or db.sqlite_url(state))
    db.migrate(engine)
    students = read_roster(roster) if roster else {}
    svc = Service(course, cfg, state, engine, students, roster_given=roster is not None)
    if sync_accounts:
        sync(svc)
    return svc


def sync(svc: Service) -> None:
    with db.transaction(svc.database, write=True) as c:
        db.one_at_a_time(c)
        have = {r.login: r for r in c.execute(sa.select(db.accounts))}
        wanted: dict[str, dict[str, Any]] = {
            s.student: {"name": s.name, "role": "student", "section": s.section,
                        "external_id": s.lms_id or s.canvas_id or s.sis_id}
            for s in svc.roster.values()}
        for login in svc.config.instructors:
            wanted[login] = {"name": login, "role": "instructor", "section": "",
                             "external_id": ""}
        for login, values in wanted.items():
            if login in have:
                c.execute(db.accounts.update().where(db.accounts.c.login == login)
                          .values(active=True, **values))
            else:
                c.execute(db.accounts.insert().values(login=login, generation=0, active=True,
                                                      **values))
        # Without a roster file the students stay as they are: a command run without --roster
        # (--links, a restart) must not close every student's account. Accounts linked to an
        # LMS user are kept by the LMS, not the roster.
        linked = accounts.lms_linked(c)
        gone = [login for login, row in have.items() if login not in wanted
                and login not in linked and (svc.roster_given or row.role == "instructor")]
        if gone:
            c.execute(db.accounts.update().where(db.accounts.c.login.in_(gone))
                      .values(active=False))
        for a in svc.config.assignments:
            found = c.execute(sa.select(db.assignments.c.id)
                              .where(db.assignments.c.name == a.name)).scalar()
            if found is None:
                found = c.execute(db.assignments.insert().values(
                    name=a.name, external_id=a.external_id)
                    .returning(db.assignments.c.id)).scalar_one()
            else:
                c.execute(db.assignments.update().where(db.assignments.c.id == found)
                          .values(external_id=a.external_id))
            svc.assignment_ids[a.name] = int(found)
