"""The dispatcher: the process that grades what the queue holds, with the batch's engine (local
forked gradings, or a Dask cluster), and keeps the instructor's class pages up to date.

It runs apart from the web process, which serves pages from threads: the engine forks, and a
multi-threaded process must not. ``grader serve`` starts one beside its web process (``python -m
grader.serve.dispatcher``), which ends with it; ``grader serve --dispatcher-only`` runs one on
its own, on any machine that shares the state folder and the PostgreSQL database. Whatever a
dispatcher was grading when it died is put back in the queue by another (at once: see
``grader.serve.presence``), and graded from the start with the same seed.

Some duties are done once for all dispatchers, by the one holding them (``presence``): the
class pages' rebuild, the similarity comparison and the sweep of what killed gradings left."""

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
from grader.serve import classview, cleanup, compose, db, presence, queue, store, versions
from grader.serve.cleanup import RESULTS, WORK
from grader.serve.presence import Presence
from grader.serve.service import Service, open_service

LOCK = "dispatcher.lock"
IDLE_SECONDS = 0.2  # how often an idle dispatcher looks at the queue
ASKS_SECONDS = 1.0  # how often it looks for new tests, and the duties' holder for what is due
RECOVER_SECONDS = 2.0  # how often it looks for dead dispatchers (and checks its own registration)
HEARTBEAT_SECONDS = 10.0
REBUILD_SECONDS = 30.0  # the class pages are rebuilt at most this often while grading goes on
SWEEP_SECONDS = 600.0  # the state folder is swept at least this often while grading goes on
LOG = "dispatcher.log"


class Reload(Exception):
    """The course's tests changed and nothing is being graded: start the dispatcher anew."""


class Lost(Exception):
    """This dispatcher's registration ended (its database connection closed) though it lives."""


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
                 presence: Presence, generation: int = 0,
                 echo: Callable[[str], None] = print) -> None:
        self.svc = svc
        self.jobs = jobs
        self.make_engine = make_engine
        self.presence = presence
        self.generation = generation  # the tests it has loaded (queue.tests_generation)
        self.echo = echo
        self.running: dict[tuple[int, int], Running] = {}  # by (submission, attempt)
        self.duties = False  # whether this one rebuilds, compares and sweeps for all
        self.forced: set[str] = set()  # assignments whose class pages are due whatever changed
        self.last_rebuild = 0.0
        self.rebuild_seconds = 0.0  # how long the last rebuild took
        self.rebuilding: tuple[int, float] | None = None  # its child: pid, start
        self.failed = False  # whether the last rebuild failed
        self.busy = True  # the whole queue, as last seen by the duties' holder
        self.last_sweep = 0.0
        self.last_beat = time.monotonic()
        self.last_asks = -ASKS_SECONDS  # when the new tests were last looked for
        self.last_duties = -ASKS_SECONDS
        self.last_recover = time.monotonic()
        self.reload_asked = False  # the tests are to be reloaded once what runs has ended
        self.stop = False

    @property
    def name(self) -> str:
        return self.presence.name

    # ------------------------------------------------------------------------------- the loop

    def run(self) -> None:
        engine = self.make_engine()
        engine.prepare_children()  # what each grading child would do for itself, done once
        queue.tests_loaded(self.svc.database, self.generation)
        self.echo(f"dispatcher {self.name}: grading up to {self.jobs} submission(s) at once")
        try:
            while not self.stop:
                try:
                    self._asks()
                    self._fill(engine)
                    ended = self._collect(engine)
                    self._beat()
                    self._recover()
                    self._duties()
                except Lost:
                    self.lost()
                    continue
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
                claim = queue.claim(c, self.name, self.generation)
                if claim is None:
                    return
                terms = self.svc.terms(c, claim.submission_id)
            self.running[claim.submission_id, claim.attempt] = self._start(engine, claim, terms)

    def _start(self, engine: Engine, claim: queue.Claim, terms: grades.Terms) -> Running:
        a = self.svc.assignment_of(claim.assignment_id)
        topics = self.svc.topics(a)
        rel = Path(RESULTS) / str(claim.submission_id) / str(claim.attempt)
        folder = self.svc.state / rel
        shutil.rmtree(folder, ignore_errors=True)
        work = self.svc.state / WORK / f"{claim.submission_id}-{claim.attempt}"
        job: Job | SubmissionResult

        def finish(result: SubmissionResult) -> None:  # in the grading child, which dies with
            _write(result, terms, folder)  # this process: none writes for a killed dispatcher

        try:
            path = store.materialise(self.svc.state, claim.upload_sha256, claim.graded_name,
                                     work, compose.parts(self.svc.database, claim.submission_id))
            job = engine.start(path, folder, Options(topics=tuple(topics), seed=claim.seed),
                               name=f"submission {claim.submission_id}", finish=finish)
        except Exception as exc:  # noqa: BLE001 - a grader bug is this submission's error row
            self._log(f"starting submission {claim.submission_id}", traceback.format_exc())
            job = error_result(f"submission {claim.submission_id}", topics, claim.seed,
                               f"the grader failed before grading this submission "
                               f"({type(exc).__name__}: {exc})")
        return Running(claim, job, terms, folder, topics)

    def _collect(self, engine: Engine) -> bool:
        """Record the gradings that ended. The next submissions start first, before a result
        is read or a working folder removed, so that no grading slot waits while this process
        does either."""
        ended = [r for r in self.running.values() if self._ended(r)]
        for r in ended:
            del self.running[r.claim.submission_id, r.claim.attempt]
        if ended:
            self._fill(engine)
        for r in ended:
            result = self._result(r)
            if result is None:  # not over after all: looked at again on the next round
                self.running[r.claim.submission_id, r.claim.attempt] = r
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
        recorded = queue.complete(
            self.svc.database, r.claim, self.name,
            folder=str(r.folder.relative_to(self.svc.state)), raw=g.raw, final=g.final,
            max_score=g.max_score, penalty=g.penalty_percent,
            topics=classview.topic_scores(graded.result), error=result.error or "",
            counts=self.svc.assignment_of(r.claim.assignment_id).counts)
        if not recorded:  # regraded meanwhile, or put back: another attempt counts
            shutil.rmtree(r.folder, ignore_errors=True)
        shutil.rmtree(self.svc.state / WORK / f"{r.claim.submission_id}-{r.claim.attempt}",
                      ignore_errors=True)

    def _beat(self) -> None:
        if time.monotonic() - self.last_beat < HEARTBEAT_SECONDS:
            return
        self.last_beat = time.monotonic()
        queue.heartbeat(self.svc.database, self.name, [i for i, _ in self.running])
        self.presence.beat()
        queue.put_back(self.svc.database)  # a dispatcher that hangs: past the lease

    def _recover(self) -> None:
        """What dead dispatchers left running, back in the queue; Lost where this one's own
        registration ended (its connection dropped: to the others it is dead)."""
        if time.monotonic() - self.last_recover < RECOVER_SECONDS:
            return
        self.last_recover = time.monotonic()
        if not self.presence.alive():
            raise Lost()
        if not self.presence.postgres:  # SQLite's one dispatcher put back all at its start
            return
        for name, n in self.presence.recover():
            self.echo(said_gone(name, n))

    def lost(self) -> None:
        """Start again after Lost: what runs is stopped (its claims are others' to put back),
        and this dispatcher registers anew."""
        for r in self.running.values():
            if not isinstance(r.job, SubmissionResult):
                with contextlib.suppress(Exception):
                    r.job.kill()
                    r.job.wait()
        self.running.clear()
        if self.rebuilding is not None:
            with contextlib.suppress(OSError):
                os.kill(self.rebuilding[0], signal.SIGKILL)
            os.waitpid(self.rebuilding[0], 0)
            self.rebuilding = None
        self.presence.close()
        self.duties = False
        self.presence.register(self.generation)
        self.echo(f"dispatcher: its database connection ended; registered again as {self.name}")

    def _wait(self) -> None:
        fds = [r.job.pidfd for r in self.running.values()
               if not isinstance(r.job, SubmissionResult) and r.job.pidfd >= 0]
        if fds and len(self.running) >= self.jobs:  # full: nothing to claim until one ends
            import select
            select.select(fds, [], [], 1.0)
        else:
            time.sleep(IDLE_SECONDS)

    # ---------------------------------------------------------------------- the new tests

    def _asks(self) -> None:
        """Whether the instructor said "the tests changed" since this dispatcher loaded them (a
        newer generation), at most every ASKS_SECONDS: nothing more is claimed (the claim needs
        the newest generation), and once what runs has ended, Reload: the engine has imported
        the tests into this process, so only a fresh process loads them anew. Every dispatcher
        does so on its own."""
        if time.monotonic() - self.last_asks < ASKS_SECONDS:
            return
        self.last_asks = time.monotonic()
        if not self.reload_asked:
            self.reload_asked = queue.tests_generation(self.svc.database) > self.generation
        if self.reload_asked and not self.running:
            raise Reload()

    # --------------------------------------------------------- the duties done once for all

    def _duties(self) -> None:
        """The class pages, the similarity comparison and the sweep, by the dispatcher holding
        the duties; one that takes them over (its predecessor died) rebuilds and sweeps first."""
        if time.monotonic() - self.last_duties < ASKS_SECONDS:
            return
        self.last_duties = time.monotonic()
        if not self.duties:
            if not self.presence.take_duties():
                return
            self.duties = True
            self.forced = set(self.svc.assignment_ids)  # the roster may have changed
            self.last_sweep = -SWEEP_SECONDS
        r = db.class_requests
        with db.transaction(self.svc.database) as c:
            asks = c.execute(sa.select(r.c.id).where(r.c.kind == "rebuild",
                                                     r.c.done_at.is_(None))).scalars().all()
            counts = classview.gradings_count(c)
            waiting = c.execute(sa.select(sa.func.count()).select_from(db.submissions).where(
                db.submissions.c.status.in_(("queued", "running")))).scalar_one()
        if asks:
            with db.transaction(self.svc.database) as c:
                c.execute(r.update().where(r.c.id.in_(asks)).values(done_at=db.now()))
            self.forced.update(self.svc.assignment_ids)
        idle = not waiting and not self.running
        self._rebuild_if_due(counts, idle)
        if (idle and self.busy) or time.monotonic() - self.last_sweep >= SWEEP_SECONDS:
            self._sweep()
        self.busy = not idle

    def _sweep(self) -> None:
        self.last_sweep = time.monotonic()
        try:
            swept = cleanup.sweep(self.svc.state, self.svc.database)
        except Exception:  # noqa: BLE001 - left for the next sweep; say it
            self._log("sweeping the state folder", traceback.format_exc())
            return
        if swept:
            self.echo(f"dispatcher: removed {swept}")

    def _rebuild_if_due(self, counts: dict[int, int], idle: bool) -> None:
        """The class pages of the assignments whose version is behind the gradings recorded (or
        asked for), written by a forked child so that grading goes on meanwhile: at once when
        nothing is queued or graded (with the similarity comparison, also for a version that
        has the gradings but not yet the comparison), else at most every REBUILD_SECONDS, or
        five times as long as the last rebuild took, so that a large class costs its grading
        little."""
        if self.rebuilding is not None:
            pid, started = self.rebuilding
            done, status = os.waitpid(pid, os.WNOHANG)
            if not done:
                return
            self.rebuilding = None
            self.rebuild_seconds = time.monotonic() - started
            # A rebuild that failed (dispatcher.log says why) is tried again after a pause,
            # not at once, however idle.
            self.failed = os.waitstatus_to_exitcode(status) != 0
        names = set()
        for name, aid in self.svc.assignment_ids.items():
            v = versions.current(classview.class_folder(self.svc.state, name))
            if name in self.forced or v is None or v.gradings != counts.get(aid, 0) or \
                    (idle and not v.compared):
                names.add(name)
        pause = max(REBUILD_SECONDS, 5 * self.rebuild_seconds)
        if not names or ((not idle or self.failed)
                         and time.monotonic() - self.last_rebuild < pause):
            return
        try:
            snaps = self._snapshots(sorted(names))
        except Exception:  # noqa: BLE001 - the grades are in the database; say it
            self._log("reading the class for its pages", traceback.format_exc())
            return
        self.forced -= names
        self.last_rebuild = time.monotonic()
        sys.stdout.flush()
        sys.stderr.flush()
        me = os.getpid()
        pid = os.fork()
        if pid == 0:  # the rebuilding child: files only, never the database; dies with this one
            code = 0
            try:
                die_with_parent(signal.SIGKILL)
                if os.getppid() != me:
                    return  # (os._exit below)
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
    presence.keep_from_children(f.fileno())
    return f


def said_gone(name: str, n: int) -> str:
    """What a dispatcher says of a dead one it found ("": claims of no registered one)."""
    if not name:
        return f"dispatcher: {n} submission(s) of stopped dispatchers put back in the queue"
    return f"dispatcher: {name}: its process is gone; {n} submission(s) put back in the queue"


def release_lock(f: Any) -> None:
    if f is not None:
        presence.forget(f.fileno())
        f.close()


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """End when the process that started this one ends, however it ends (kill -9 too)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, sig)  # PR_SET_PDEATHSIG
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
    me = Presence(svc.database, f"{socket.gethostname()}:{os.getpid()}")
    lock = None
    try:
        if svc.database.dialect.name == "sqlite":
            lock = hold_lock(svc.state)
            queue.put_back(svc.database, everything=True)
        generation = queue.tests_generation(svc.database)  # read before the tests are loaded
        me.register(generation)
        for name, n in me.recover():
            print(said_gone(name, n), flush=True)
        queue.put_back(svc.database)  # one that hangs, past the lease
        dispatcher = Dispatcher(svc, jobs=args.jobs, make_engine=_engine_maker(svc.course, args),
                                presence=me, generation=generation,
                                echo=lambda line: print(line, flush=True))
        signal.signal(signal.SIGTERM, lambda *a: setattr(dispatcher, "stop", True))
        dispatcher.run()
    except Reload:
        print("reloading the course's tests: the dispatcher starts again", flush=True)
        me.close()
        release_lock(lock)
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
        me.close()
        release_lock(lock)
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
