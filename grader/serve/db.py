"""The service's database: its tables (SQLAlchemy Core), connecting to SQLite or PostgreSQL,
and bringing the schema up to date with the Alembic migrations beside this module.

SQLite is one file in WAL mode, so that pages are read while the dispatcher writes; every
connection waits up to 30 s for a lock rather than failing. PostgreSQL takes the same
migrations and the same queries (``FOR UPDATE SKIP LOCKED``, which SQLite ignores, where its
single dispatcher needs none)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from grader.errors import GraderError

metadata = sa.MetaData()

accounts = sa.Table(
    "accounts", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("login", sa.String(200), nullable=False, unique=True),  # the roster's student id
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("role", sa.String(20), nullable=False),  # student | instructor
    sa.Column("password_hash", sa.String(200), nullable=True),  # argon2; None until first login
    sa.Column("generation", sa.Integer, nullable=False, default=0),  # bumped: old links die
    sa.Column("external_id", sa.String(200), nullable=False, default=""),  # the LMS's user id
    sa.Column("section", sa.String(100), nullable=False, default=""),
    sa.Column("active", sa.Boolean, nullable=False, default=True),  # still on the roster
    sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
)

assignments = sa.Table(
    "assignments", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("external_id", sa.String(200), nullable=False, default=""),  # the LMS's id
)

uploads = sa.Table(  # every upload's bytes, by content (the file is uploads/<sha256[:2]>/<sha256>)
    "uploads", metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

submissions = sa.Table(
    "submissions", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("assignment_id", sa.Integer, sa.ForeignKey("assignments.id"), nullable=False),
    sa.Column("upload_sha256", sa.String(64), sa.ForeignKey("uploads.sha256"), nullable=False),
    sa.Column("filename", sa.String(300), nullable=False),  # as uploaded, made printable
    sa.Column("graded_name", sa.String(200), nullable=False),  # <topic>.py, submission.zip…
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),  # the submission time
    sa.Column("seed", sa.Integer, nullable=False),  # every grading of it uses this seed
    # queued -> running -> graded | error; a regrade puts it back to queued
    sa.Column("status", sa.String(20), nullable=False, default="queued"),
    sa.Column("priority", sa.Integer, nullable=False, default=0),  # 0 new uploads, 1 regrades
    sa.Column("attempt", sa.Integer, nullable=False, default=0),  # bumped by every claim
    sa.Column("claimed_by", sa.String(100), nullable=False, default=""),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("score", sa.Float, nullable=True),  # the latest grading's final score
    sa.Column("max_score", sa.Float, nullable=True),
    sa.Column("error", sa.Text, nullable=False, default=""),
    sa.Index("ix_submissions_queue", "status", "priority", "id"),
    sa.Index("ix_submissions_owner", "account_id", "assignment_id", "received_at"),
)

submission_files = sa.Table(  # each topic's file of a submission, and where it came from
    "submission_files", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False),
    sa.Column("topic", sa.String(100), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),  # graded as: <topic>.py, <topic>.ipynb
    # The upload that holds the file, and its path in that zip ("": the upload is the file).
    sa.Column("upload_sha256", sa.String(64), sa.ForeignKey("uploads.sha256"), nullable=False),
    sa.Column("member", sa.String(500), nullable=False, default=""),
    # The submission it was uploaded with: this one, or an earlier one it is carried over from.
    sa.Column("source_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False),
    sa.UniqueConstraint("submission_id", "topic", name="uq_submission_files_topic"),
)

gradings = sa.Table(  # one row per grading that finished: exactly one per attempt that counted
    "gradings", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("folder", sa.String(300), nullable=False),  # its files, under the state folder
    sa.Column("raw", sa.Float, nullable=False),
    sa.Column("final", sa.Float, nullable=False),
    sa.Column("max_score", sa.Float, nullable=False),
    sa.Column("penalty_percent", sa.Float, nullable=False, default=0.0),
    sa.Column("topics", sa.Text, nullable=False, default="{}"),  # JSON {topic: [score, max]}
    sa.Column("error", sa.Text, nullable=False, default=""),
    sa.Column("graded_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("submission_id", "attempt", name="uq_gradings_attempt"),
)

extensions = sa.Table(
    "extensions", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("assignment_id", sa.Integer, sa.ForeignKey("assignments.id"), nullable=False),
    sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
    sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("account_id", "assignment_id", name="uq_extensions_student"),
)

regrade_requests = sa.Table(
    "regrade_requests", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("topic", sa.String(100), nullable=False),
    sa.Column("test", sa.String(300), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, default="open"),  # open|accepted|declined
    sa.Column("reply", sa.Text, nullable=False, default=""),
    sa.Column("points", sa.Float, nullable=True),  # an accepted request's adjustment
    # What the instructor entered, where the test allowed less (points: what was granted).
    sa.Column("asked", sa.Float, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
)

class_requests = sa.Table(  # the instructor's "regrade the class" asks, done by the dispatcher
    "class_requests", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),  # rebuild (tables only) | reload (tests)
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
)

sessions = sa.Table(  # who is signed in: one row per session, ended by deleting it
    "sessions", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # SHA-256 of the cookie's token
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),  # the token every form of it carries
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_sessions_account", "account_id"),
    sa.Index("ix_sessions_expiry", "expires_at"),
)

sign_in_attempts = sa.Table(  # password checks not (yet) successful, for the rate limits
    "sign_in_attempts", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("login", sa.String(200), nullable=False),  # as typed: unknown logins count too
    sa.Column("address", sa.String(100), nullable=False),  # the client's address
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_sign_in_attempts_login", "login", "at"),
    sa.Index("ix_sign_in_attempts_address", "address", "at"),
)


dispatchers = sa.Table(  # the dispatchers alive (each holds a lock while it lives, PostgreSQL)
    "dispatchers", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),  # submissions.claimed_by
    sa.Column("generation", sa.Integer, nullable=False, default=0),  # the tests it has loaded
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
)


# LTI 1.3 (grader/serve/lti/, docs/lti.md): launches, the accounts and courses of each platform,
# line items, and the scores sent back, an outbox that lives here like the grading queue.

lti_logins = sa.Table(  # one OIDC login initiation: its state and nonce, each usable once
    "lti_logins", metadata,
    sa.Column("state", sa.String(64), primary_key=True),
    sa.Column("nonce", sa.String(64), nullable=False, unique=True),
    sa.Column("issuer", sa.String(300), nullable=False),
    sa.Column("client_id", sa.String(200), nullable=False),
    sa.Column("params", sa.Text, nullable=False, default="{}"),  # JSON: the login's parameters
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
)

lti_users = sa.Table(  # a platform's user (iss, sub) is this account
    "lti_users", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("issuer", sa.String(300), nullable=False),
    sa.Column("sub", sa.String(255), nullable=False),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("email", sa.String(300), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("issuer", "sub", name="uq_lti_users_sub"),
)

lti_contexts = sa.Table(  # a course of a platform's deployment, with its service endpoints
    "lti_contexts", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("issuer", sa.String(300), nullable=False),
    sa.Column("client_id", sa.String(200), nullable=False),
    sa.Column("deployment_id", sa.String(255), nullable=False),
    sa.Column("context_id", sa.String(255), nullable=False),
    sa.Column("title", sa.String(300), nullable=False, default=""),
    sa.Column("lineitems_url", sa.Text, nullable=False, default=""),  # AGS; "" when not granted
    sa.Column("ags_scopes", sa.Text, nullable=False, default=""),  # space-separated
    sa.Column("memberships_url", sa.Text, nullable=False, default=""),  # NRPS
    sa.Column("tool_url", sa.String(300), nullable=False, default=""),  # for report links
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("issuer", "client_id", "deployment_id", "context_id",
                        name="uq_lti_contexts"),
)

lti_members = sa.Table(  # an account launched from (or was synced into) a course
    "lti_members", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("context_id", sa.Integer, sa.ForeignKey("lti_contexts.id"), nullable=False),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("sub", sa.String(255), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),  # student | instructor
    sa.UniqueConstraint("context_id", "account_id", name="uq_lti_members"),
)

lti_links = sa.Table(  # a resource link of a course, and the assignment it opens
    "lti_links", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("context_id", sa.Integer, sa.ForeignKey("lti_contexts.id"), nullable=False),
    sa.Column("resource_link_id", sa.String(255), nullable=False),
    sa.Column("assignment_id", sa.Integer, sa.ForeignKey("assignments.id"), nullable=True),
    sa.Column("lineitem_url", sa.Text, nullable=False, default=""),  # given by the platform
    sa.Column("title", sa.String(300), nullable=False, default=""),
    sa.UniqueConstraint("context_id", "resource_link_id", name="uq_lti_links"),
)

lti_lineitems = sa.Table(  # the platform's line item of an assignment in a course
    "lti_lineitems", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("context_id", sa.Integer, sa.ForeignKey("lti_contexts.id"), nullable=False),
    sa.Column("assignment_id", sa.Integer, sa.ForeignKey("assignments.id"), nullable=False),
    sa.Column("url", sa.Text, nullable=False, default=""),  # "" until the tool has made it
    sa.Column("resource_link_id", sa.String(255), nullable=False, default=""),
    sa.UniqueConstraint("context_id", "assignment_id", name="uq_lti_lineitems"),
)

lti_scores = sa.Table(  # the outbox: each counted grade that changed, to post as an AGS Score
    "lti_scores", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("lineitem_id", sa.Integer, sa.ForeignKey("lti_lineitems.id"), nullable=False),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("sub", sa.String(255), nullable=False),  # the platform's user id
    sa.Column("body", sa.Text, nullable=False),  # the Score, as JSON
    # pending -> sent | failed (gave up: a refusal retrying cannot mend) | superseded
    sa.Column("status", sa.String(20), nullable=False, default="pending"),
    sa.Column("tries", sa.Integer, nullable=False, default=0),
    sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_by", sa.String(100), nullable=False, default=""),
    sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("error", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_lti_scores_due", "status", "next_try_at"),
    sa.Index("ix_lti_scores_student", "lineitem_id", "account_id", "status"),
)


class DatabaseError(GraderError):
    """The database cannot be reached or brought up to date; the message says which and how."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives back naive datetimes: they were stored in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def sqlite_url(state: Path) -> str:
    return f"sqlite:///{(state / 'serve.db').resolve()}"


def connect(url: str) -> sa.Engine:
    """An engine for ``url`` (sqlite:///FILE or postgresql://…, driven by psycopg 3)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            sa.event.listen(engine, "connect", _sqlite_pragmas)
            sa.event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise DatabaseError(f"cannot use the database {url!r}: {exc}") from None
    return engine


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    connection.isolation_level = None  # transactions are begun by _sqlite_begin, not the driver
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    immediate = connection.get_execution_options().get("immediate")
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


SETUP_LOCK = 0x67726400  # PostgreSQL advisory lock of the start's steps (migrations, accounts)


def one_at_a_time(c: sa.Connection) -> None:
    """Processes starting at once (several machines, several dispatchers) take the start's
    steps one by one: this transaction waits for any other's on PostgreSQL (SQLite's writing
    transactions are one at a time already)."""
    if c.dialect.name == "postgresql":
        c.execute(sa.text("SELECT pg_advisory_xact_lock(:k, 0)"), {"k": SETUP_LOCK})


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest migration (creating it in an empty database)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    try:
        with engine.begin() as connection:
            one_at_a_time(connection)
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    except sa.exc.OperationalError as exc:
        raise DatabaseError(f"cannot reach the database: {str(exc.orig).strip()[:300]}") from None


@contextlib.contextmanager
def transaction(engine: sa.Engine, *, write: bool = False) -> Iterator[sa.Connection]:
    """A transaction, committed at the end of the block. ``write``: one that reads and then
    writes what it read (count, then insert): on SQLite it takes the write lock at its start
    (BEGIN IMMEDIATE), so that no other writer comes in between; PostgreSQL callers lock the
    rows they read instead (``FOR UPDATE``)."""
    with engine.connect() as connection:
        if write:
            connection = connection.execution_options(immediate=True)
        with connection.begin():
            yield connection
