"""The dispatcher: the process that grades what the queue holds, with the batch's engine (local
forked gradings, or a Dask cluster), and keeps the instructor's class pages up to date.

It runs apart from the web process, which serves pages from threads: the engine forks, and a
multi-threaded process must not. The web process starts it (``python -m
grader.serve.dispatcher``) and it ends with it; whatever it was grading when it died is put back
in the queue by the next dispatcher, and graded from the start with the same seed."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa

from grader.classroom import grades
from grader.course import Course
from grader.errors import GraderError
from grader.grading.protocol import Engine, Job, Options
from grader.results.files import write_outputs
from grader.results.model import SubmissionResult
from grader.results.scoring import error_result
from grader.serve import classview, db, queue, store
from grader.serve.service import Service, open_service

RESULTS = "results"  # results/<submission>/<attempt>/: one grading's files
WORK = "work"
LOCK = "dispatcher.lock"
IDLE_SECONDS = 0.2  # how often an idle dispatcher looks at the queue
ASKS_SECONDS = 1.0  # how often it looks for the instructor's asks (reload the tests, rebuild)
HEARTBEAT_SECONDS = 10.0
REBUILD_SECONDS = 30.0  # the class pages are rebuilt at most this often while grading goes on
LOG = "dispatcher.log"


class Reload(Exception):
    """The course's tests changed and nothing is being graded: start the dispatcher anew."""


@dataclass
class Running:
    claim: queue.Claim
    job: Job | SubmissionResult
    terms: grades.Terms
    folder: Path
    topics: list[str]
    t0: float = field(default_factory=time.monotonic)


class Dispatcher:
    def __init__(self, svc: Service, *, jobs: int, make_engine: Callable[[], Engine],
                 echo: Callable[[str], None] = print) -> None:
        self.svc = svc
        self.jobs = jobs
        self.make_engine = make_engine
        self.echo = echo
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.running: dict[int, Running] = {}
        self.dirty: set[str] = set(svc.assignment_ids)  # assignments whose class pages are due
        self.last_rebuild = 0.0
        self.rebuild_seconds = 0.0  # how long the last rebuild took
        self.rebuilding: tuple[int, float] | None = None  # its child: pid, start
        self.uncompared: set[str] = set()  # rebuilt without comparing for similarity
        self.last_beat = time.monotonic()
        self.last_asks = -ASKS_SECONDS  # when the instructor's asks were last read
        self.reload_asked = False  # the tests are to be reloaded once what runs has ended
        self.stop = False

    # ------------------------------------------------------------------------------- the loop

    def run(self) -> None:
        engine = self.make_engine()
        try:
            while not self.stop:
                self._asks()
                self._fill(engine)
                ended = self._collect(engine)
                self._beat()
                self._rebuild_if_due()
                if not ended:
                    self._wait()
        finally:
            for r in self.running.values():
                if not isinstance(r.job, SubmissionResult):
                    r.job.kill()
            if self.rebuilding is not None:
                os.waitpid(self.rebuilding[0], 0)
            engine.close()

    def _fill(self, engine: Engine) -> None:
        while len(self.running) < self.jobs and not self.reload_asked:
            with db.transaction(self.svc.database, write=True) as c:
                claim = queue.claim(c, self.name)
                if claim is None:
                    return
                terms = self.svc.terms(c, claim.submission_id)
            self.running[claim.submission_id] = self._start(engine, claim, terms)

    def _start(self, engine: Engine, claim: queue.Claim, terms: grades.Terms) -> Running:
        a = self.svc.assignment_of(claim.assignment_id)
        topics = self.svc.topics(a)
        rel = Path(RESULTS) / str(claim.submission_id) / str(claim.attempt)
        folder = self.svc.state / rel
        shutil.rmtree(folder, ignore_errors=True)
        work = self.svc.state / WORK / f"{claim.submission_id}-{claim.attempt}"
        job: Job | SubmissionResult
        try:
            path = store.materialise(self.svc.state, claim.upload_sha256, claim.graded_name,
                                     work)
            job = engine.start(path, folder, Options(topics=tuple(topics), seed=claim.seed),
                               name=f"submission {claim.submission_id}",
                               finish=lambda result: _write(result, terms, folder))
        except Exception as exc:  # noqa: BLE001 - a grader bug is this submission's error row
            self._log(f"starting submission {claim.submission_id}", traceback.format_exc())
            job = error_result(f"submission {claim.submission_id}", topics, claim.seed,
                               f"the grader failed before grading this submission "
                               f"({type(exc).__name__}: {exc})")
        self.dirty.add(a.name)
        return Running(claim, job, terms, folder, topics)

    def _collect(self, engine: Engine) -> bool:
        """Record the gradings that ended. The next submissions start first, before a result
        is read or a working folder removed, so that no grading slot waits while this process
        does either."""
        ended = [r for r in self.running.values() if self._ended(r)]
        for r in ended:
            del self.running[r.claim.submission_id]
        if ended:
            self._fill(engine)
        for r in ended:
            result = self._result(r)
            if result is None:  # not over after all: looked at again on the next round
                self.running[r.claim.submission_id] = r
            else:
                self._record(r, result)
        return bool(ended)

    def _ended(self, r: Running) -> bool:
        if isinstance(r.job, SubmissionResult):
            return True
        try:
            return r.job.ended()
        except Exception:  # noqa: BLE001 - reading its result says what went wrong
            return True

    def _result(self, r: Running) -> SubmissionResult | None:
        if isinstance(r.job, SubmissionResult):
            return r.job
        try:
            return r.job.poll()
        except Exception as exc:  # noqa: BLE001
            self._log(f"collecting submission {r.claim.submission_id}", traceback.format_exc())
            with contextlib.suppress(OSError):
                r.job.kill()
            return error_result(f"submission {r.claim.submission_id}", r.topics, r.claim.seed,
                                f"the grader failed while collecting this submission's results "
                                f"({type(exc).__name__}: {exc})")

    def _record(self, r: Running, result: SubmissionResult) -> None:
        graded = grades.grade_of(result, r.terms)
        written = not isinstance(r.job, SubmissionResult) and r.job.finished
        try:
            if not written:
                _write(result, r.terms, r.folder)
        except Exception:  # noqa: BLE001 - the grade is recorded all the same
            self._log(f"writing submission {r.claim.submission_id}", traceback.format_exc())
        g = graded.grade
        queue.complete(self.svc.database, r.claim, self.name,
                       folder=str(r.folder.relative_to(self.svc.state)), raw=g.raw,
                       final=g.final, max_score=g.max_score, penalty=g.penalty_percent,
                       topics=classview.topic_scores(graded.result), error=result.error or "",
                       counts=self.svc.assignment_of(r.claim.assignment_id).counts)
        shutil.rmtree(self.svc.state / WORK / f"{r.claim.submission_id}-{r.claim.attempt}",
                      ignore_errors=True)

    def _beat(self) -> None:
        if time.monotonic() - self.last_beat < HEARTBEAT_SECONDS:
            return
        self.last_beat = time.monotonic()
        queue.heartbeat(self.svc.database, self.name, list(self.running))
        queue.put_back(self.svc.database)  # another dispatcher's, gone (PostgreSQL)

    def _wait(self) -> None:
        fds = [r.job.pidfd for r in self.running.values()
               if not isinstance(r.job, SubmissionResult) and r.job.pidfd >= 0]
        if fds and len(self.running) >= self.jobs:  # full: nothing to claim until one ends
            import select
            select.select(fds, [], [], 1.0)
        else:
            time.sleep(IDLE_SECONDS)

    # ---------------------------------------------------------------- the instructor's asks

    def _asks(self) -> None:
        """The instructor's asks, read at most every ASKS_SECONDS; either has the class pages
        rebuilt. "The tests changed": nothing more is started (the queue holds its claims too),
        and once what runs has ended, Reload: the engine has imported the tests into this
        process, so only a fresh process loads them anew."""
        if time.monotonic() - self.last_asks < ASKS_SECONDS:
            return
        self.last_asks = time.monotonic()
        with db.transaction(self.svc.database) as c:
            asks = c.execute(sa.select(db.class_requests).where(
                db.class_requests.c.done_at.is_(None))).all()
        if not asks:
            return
        reload = any(a.kind == "reload" for a in asks)
        if reload:
            self.reload_asked = True
            if self.running:
                return
        self.dirty.update(self.svc.assignment_ids)
        with db.transaction(self.svc.database) as c:
            c.execute(db.class_requests.update().where(
                db.class_requests.c.id.in_([a.id for a in asks])).values(done_at=db.now()))
        if reload:
            raise Reload()

    def _rebuild_if_due(self) -> None:
        """The class pages of the assignments graded since the last rebuild, written by a forked
        child so that grading goes on meanwhile: at once when nothing is being graded (with the
        similarity comparison), else at most every REBUILD_SECONDS, or five times as long as
        the last rebuild took, so that a large class costs its grading little."""
        if self.rebuilding is not None:
            pid, started = self.rebuilding
            done, _ = os.waitpid(pid, os.WNOHANG)
            if not done:
                return
            self.rebuilding = None
            self.rebuild_seconds = time.monotonic() - started
        idle = not self.running
        names = self.dirty | (self.uncompared if idle else set())
        pause = max(REBUILD_SECONDS, 5 * self.rebuild_seconds)
        if not names or (not idle and time.monotonic() - self.last_rebuild < pause):
            return
        try:
            snaps = self._snapshots(sorted(names))
        except Exception:  # noqa: BLE001 - the grades are in the database; say it
            self._log("reading the class for its pages", traceback.format_exc())
            return
        self.dirty.clear()
        if idle:
            self.uncompared.clear()
        else:
            self.uncompared.update(names)
        self.last_rebuild = time.monotonic()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the rebuilding child: files only, never the database
            code = 0
            try:
                for snap in snaps:
                    try:
                        classview.write(snap, self.svc.state, self.svc.course, compare=idle)
                    except Exception:  # noqa: BLE001
                        self._log(f"rebuilding the class pages of {snap.assignment.name}",
                                  traceback.format_exc())
                        code = 1
            finally:
                os._exit(code)
        self.rebuilding = (pid, self.last_rebuild)

    def _snapshots(self, names: list[str]) -> list[classview.Snapshot]:
        out = []
        roster = {k: vars(v) for k, v in self.svc.roster.items()}
        with db.transaction(self.svc.database) as c:
            for name in names:
                a = self.svc.config.assignment(name)
                if a is not None:
                    out.append(classview.snapshot(
                        c, self.svc.state, a, self.svc.assignment_ids[name], roster,
                        self.svc.topics(a), self.svc.extensions(c, a), self.svc.overrides(c, a)))
        return out

    def _log(self, what: str, text: str) -> None:
        with open(self.svc.state / LOG, "a") as f:
            f.write(f"--- {db.now().isoformat(timespec='seconds')} {what}\n{text}\n")
        self.echo(f"dispatcher: {what} failed; see {self.svc.state / LOG}")


def _write(result: SubmissionResult, terms: grades.Terms, folder: Path) -> None:
    """A grading's files, with its grade (late penalty, adjustments), written once."""
    graded = grades.grade_of(result, terms)
    write_outputs(result, folder, graded.grade, shown=graded.result)


def hold_lock(state: Path) -> Any:
    """One dispatcher per state folder (SQLite's queue has no row locks): the lock file is held
    while it runs, and released by the kernel when it dies."""
    f = open(state / LOCK, "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise SystemExit(f"another dispatcher is running on {state}") from None
    return f


def die_with_parent() -> None:
    """End when the web process that started this one ends, however it ends (kill -9 too)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader.serve.dispatcher")
    p.add_argument("--course", required=True, type=Path)
    p.add_argument("--state", required=True, type=Path)
    p.add_argument("--config", type=Path)
    p.add_argument("--roster", type=Path)
    p.add_argument("--database")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--scheduler")
    p.add_argument("--unsafe-no-sandbox", action="store_true")
    p.add_argument("--parent", type=int, default=0)
    args = p.parse_args(argv)
    if args.parent:
        die_with_parent()
        if os.getppid() != args.parent:  # it died before the signal was asked for
            return 0
    svc = open_service(Course(args.course.resolve()), config=args.config, roster=args.roster,
                       state=args.state, database=args.database)
    lock = None
    if svc.database.dialect.name == "sqlite":
        lock = hold_lock(svc.state)
        queue.put_back(svc.database, everything=True)
    else:
        queue.put_back(svc.database)
    dispatcher = Dispatcher(svc, jobs=args.jobs, make_engine=_engine_maker(svc.course, args),
                            echo=lambda line: print(line, flush=True))
    signal.signal(signal.SIGTERM, lambda *a: setattr(dispatcher, "stop", True))
    try:
        dispatcher.run()
    except Reload:
        print("reloading the course's tests: the dispatcher starts again", flush=True)
        if lock is not None:
            lock.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", "grader.serve.dispatcher",
                                  *(sys.argv[1:] if argv is None else argv)])
    except KeyboardInterrupt:
        pass
    except GraderError as exc:  # the sandbox incomplete, the environment missing: one line
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        if lock is not None:
            lock.close()
    return 0


def _engine_maker(course: Course, args: argparse.Namespace) -> Callable[[], Engine]:
    def make() -> Engine:
        if args.scheduler:
            from grader.classroom.dask import dask_engine

            return dask_engine(args.scheduler, processes=args.jobs, echo=print)(
                course, sandboxed=True, allow_unsandboxed=args.unsafe_no_sandbox)
        from grader.environment import load_environment
        from grader.grading.engine import Engine as LocalEngine

        return LocalEngine(course, sandboxed=True, allow_unsandboxed=args.unsafe_no_sandbox,
                           environment=load_environment(course))
    return make


if __name__ == "__main__":
    sys.exit(main())
