"""Which dispatchers are alive, and which one does the duties done once for all of them.

Each dispatcher registers itself: a row of ``dispatchers``, whose name is what its claims
record. On PostgreSQL it also holds, for its whole life, a session-level advisory lock named by
that row's id, on a connection of its own. When its process dies (kill -9 included) the kernel
closes that connection and PostgreSQL releases the lock, so another dispatcher that can take
the lock knows the first is dead, and puts back what it was grading at once. A dispatcher that
stops (SIGTERM, a reload of the tests) removes its row: what it leaves running is put back the
same way. One that hangs without dying keeps its lock: the lease on its claims' heartbeat
catches it (``queue.put_back``). A machine that vanishes without closing its connections is
found by TCP keepalives within about half a minute (KEEPALIVE).

The same connection holds the duties' lock: the dispatcher holding it rebuilds the class pages,
compares submissions for similarity and sweeps the state folder; when it dies another takes the
lock over. SQLite has one dispatcher (``dispatcher.lock``), which holds the duties itself."""

from __future__ import annotations

import contextlib
import os
import secrets

import sqlalchemy as sa

from grader.serve import db, queue

NAMESPACE = 0x67726401  # advisory locks (NAMESPACE, id): a dispatcher's life; (NAMESPACE, 0): duties
DUTIES = 0
# The server ends the session of a client gone silent after about 10 + 5 × 3 s.
KEEPALIVE = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 3}

# Descriptors holding this process's locks (its connection; SQLite's dispatcher.lock). A forked
# child (a grading, the class pages' rebuild) gets /dev/null in their place: a child outliving a
# killed dispatcher would otherwise keep them, and the locks, open.
_held: set[int] = set()


def _drop_in_child() -> None:
    if _held:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in _held:
            os.dup2(null, fd)
        os.close(null)
        _held.clear()


os.register_at_fork(after_in_child=_drop_in_child)


def keep_from_children(fd: int) -> None:
    """Forked children of this process do not hold the lock on ``fd`` (until forget)."""
    _held.add(fd)


def forget(fd: int) -> None:
    """``fd`` is about to be closed (its number may then name another file)."""
    _held.discard(fd)


class Presence:
    """This dispatcher's registration, its lock (PostgreSQL) and whether it holds the duties."""

    def __init__(self, engine: sa.Engine, label: str) -> None:
        self.engine = engine
        self.label = label  # host:pid
        self.postgres = engine.dialect.name == "postgresql"
        self.conn: sa.Connection | None = None  # PostgreSQL: the connection the locks live on
        self.fd = -1  # its socket
        self.id = 0
        self.name = ""
        self.duties = False

    def register(self, generation: int) -> str:
        """Register, the lock taken in the transaction that adds the row, so that no other
        dispatcher ever sees the row without its lock; this dispatcher's name."""
        conn = None
        if self.postgres:
            conn = self.engine.connect()
            for setting, value in KEEPALIVE.items():
                conn.exec_driver_sql(f"SET {setting} = {int(value)}")
            conn.commit()
        with contextlib.ExitStack() as stack:
            c = conn if conn is not None else stack.enter_context(self.engine.connect())
            with c.begin():
                now = db.now()
                new_id = int(c.execute(db.dispatchers.insert().values(
                    name=f"{self.label}:{secrets.token_hex(6)}", generation=generation,
                    started_at=now, heartbeat_at=now).returning(db.dispatchers.c.id)).scalar_one())
                name = f"{self.label}#{new_id}"[-100:]
                c.execute(db.dispatchers.update().where(db.dispatchers.c.id == new_id)
                          .values(name=name))
                if conn is not None:
                    c.execute(sa.text("SELECT pg_advisory_lock(:ns, :id)"),
                              {"ns": NAMESPACE, "id": new_id})
        if conn is not None:
            self.fd = conn.connection.dbapi_connection.fileno()  # type: ignore[union-attr]
            keep_from_children(self.fd)
        self.conn, self.id, self.name, self.duties = conn, new_id, name, False
        return name

    def alive(self) -> bool:
        """Whether this dispatcher is still registered, with its lock held: its connection
        answers and its row is there (else another found it dead, and put back its claims)."""
        try:
            if self.conn is not None:
                with self.conn.begin():
                    self.conn.exec_driver_sql("SELECT 1")
            with db.transaction(self.engine) as c:
                return c.execute(sa.select(db.dispatchers.c.id).where(
                    db.dispatchers.c.id == self.id)).first() is not None
        except sa.exc.DBAPIError:
            return False

    def beat(self) -> None:
        with db.transaction(self.engine) as c:
            c.execute(db.dispatchers.update().where(db.dispatchers.c.id == self.id)
                      .values(heartbeat_at=db.now()))

    def take_duties(self) -> bool:
        """Whether this dispatcher holds the duties (taking them if no one does)."""
        if not self.duties:
            if self.conn is None:
                self.duties = True
            else:
                with self.conn.begin():
                    self.duties = bool(self.conn.execute(
                        sa.text("SELECT pg_try_advisory_lock(:ns, :id)"),
                        {"ns": NAMESPACE, "id": DUTIES}).scalar())
        return self.duties

    def recover(self) -> list[tuple[str, int]]:
        """Put back what dead dispatchers left running and forget them: (the dead one's name,
        or "" for claims of no registered dispatcher; how many submissions) each. On SQLite,
        whose one dispatcher holds dispatcher.lock, every other registration is a dead one's."""
        with db.transaction(self.engine) as c:
            others = c.execute(sa.select(db.dispatchers.c.id, db.dispatchers.c.name)
                               .where(db.dispatchers.c.id != self.id)).all()
        found = []
        for other in others:
            with db.transaction(self.engine, write=True) as c:
                if self.postgres and not c.execute(
                        sa.text("SELECT pg_try_advisory_xact_lock(:ns, :id)"),
                        {"ns": NAMESPACE, "id": other.id}).scalar():
                    continue  # its lock is held: it lives
                n = queue.put_back_claims(c, other.name)
                c.execute(db.dispatchers.delete().where(db.dispatchers.c.id == other.id))
            found.append((str(other.name), n))
        with db.transaction(self.engine, write=True) as c:
            n = queue.put_back_claims(c, None)
        if n:
            found.append(("", n))
        return found

    def close(self) -> None:
        """Unregister: the row removed (what still runs under this name is put back by the next
        dispatcher to look), the locks released with the connection."""
        if self.id:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                with db.transaction(self.engine) as c:
                    c.execute(db.dispatchers.delete().where(db.dispatchers.c.id == self.id))
        if self.conn is not None:
            forget(self.fd)
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                # Closed for good, never back to the pool: a session's locks outlive a rollback.
                self.conn.invalidate()
                self.conn.close()
        self.conn, self.id, self.duties = None, 0, False
