"""Grading a whole class: find the submissions, grade them in parallel, resume, write the tables.

One engine (zygote and preloaded trusted process) serves the whole batch; each submission is a
forked trusted child, and at most ``jobs`` of them run at once, polled from this one thread
(forking a multi-threaded process is unsafe). Each student's files are written atomically as
soon as they are graded and ``batch.json`` records the content hash that produced them, so a
batch killed at any moment loses only the submissions in flight, and ``--resume`` regrades only
what is missing or has changed. Every table and page is rebuilt from the files on disk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import select
import shutil
import signal
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from grader.classroom import grades, overrides, similarity
from grader.classroom.discover import Entry, discover
from grader.classroom.late import PolicyError, parse_time, read_times
from grader.classroom.layout import (CONFIG_NAME, LOG, ROSTER_NAME, STATE, STUDENTS, TIMES_NAME,
                                     UNPACKED, BatchError)
from grader.classroom.progress import Progress, Summary
from grader.classroom.roster import BatchConfig, read_config, read_roster
from grader.classroom.state import STATE_VERSION, content_hash, course_fingerprint, is_done, read_state
from grader.classroom.tables import build_outputs
from grader.course import Course
from grader.grading.protocol import Engine, Job, Options
from grader.isolation.sandbox import layers_warning
from grader.results.files import write_outputs
from grader.results.inert import terminal
from grader.results.model import SubmissionResult, write_json_atomic
from grader.results.scoring import error_result

POLL_SECONDS = 0.02
TIME_SOURCES = {"roster": "from the roster", TIMES_NAME: f"from {TIMES_NAME}",
                "gradescope": "from Gradescope's metadata",
                "marked late": "marked late by the LMS (no time)",
                "none": "with no submission time (never taken from file times)"}


def submission_time(e: Entry, times: dict[str, str]) -> dict[str, Any]:
    """batch.json's record of when ``e`` was submitted, from the first source that says so: the
    roster, times.csv (by student id or submission name), the LMS's metadata, or the LMS's late
    marker (no time). The files' modification times are never used: a download sets them."""
    if e.path is None:
        return {}
    if e.roster and e.roster.submitted:
        return {"submitted": e.roster.submitted, "submitted_source": "roster"}
    for key in (e.student, e.path.name, e.path.stem):
        if key in times:
            return {"submitted": times[key], "submitted_source": TIMES_NAME}
    if e.lms_submitted:
        return {"submitted": e.lms_submitted, "submitted_source": e.layout}
    if e.lms_late:
        return {"submitted_source": "marked late", "marked_late": True}
    return {}


def cores() -> int:
    """Cores this process may use (all of the machine's where that cannot be asked)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _wait_for_any(running: list[_Running], timeout: float) -> None:
    """Sleep until a grading child ends (its pidfd turns readable) or ``timeout`` passes."""
    fds = [r.job.pidfd for r in running
           if not isinstance(r.job, SubmissionResult) and r.job.pidfd >= 0]
    if fds and len(fds) == len(running):
        select.select(fds, [], [], timeout)
    else:  # jobs elsewhere (a Dask cluster) or no pidfd on this system
        time.sleep(timeout)


@contextlib.contextmanager
def _stop_on_signal() -> Iterator[list[int]]:
    """Ctrl-C or a polite stop (CI cancelling a job) ends the batch between two polls, never in
    the middle of writing a file: the list yielded gets the signal, and the loop stops. A second
    signal stops at once."""
    stop: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        if stop:
            raise KeyboardInterrupt
        stop.append(signum)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread: leave signals alone
            break
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (CI cancelling a job, a service stopping) unwinds the batch as Ctrl-C does, so
    that every ``finally`` runs: no engine folder, unpacked submission or child is left behind.
    While gradings run, ``_stop_on_signal`` makes it a polite stop instead."""
    try:
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Running:
    """A submission in flight: the engine's job, guarded so a grader bug becomes an error row."""

    def __init__(self, entry: Entry, key: dict[str, Any], job: Job | SubmissionResult,
                 seed: int) -> None:
        self.entry = entry
        self.key = key  # what batch.json records once it is graded
        self.job = job  # already a SubmissionResult when it could not start
        self.seed = seed
        self.t0 = time.monotonic()
        self.result: SubmissionResult | None = None  # once collected


@dataclass
class Batch:
    """One run of ``grader batch``."""

    course: Course
    submissions: Path
    out: Path
    jobs: int | None = None
    resume: bool = False
    only: tuple[str, ...] = ()
    roster: Path | None = None
    config: Path | None = None
    deadline: str | None = None
    topics: tuple[str, ...] | None = None
    seed: int | None = None
    allow_unsandboxed: bool = False
    progress_stream: TextIO | None = None
    tty: bool | None = None
    echo: Callable[[str], None] = print
    # Another engine with the same start/poll/kill/wait jobs (a Dask cluster, or a test's
    # failing one); None: the local Engine.
    engine_factory: Callable[..., Engine] | None = None
    overrides: Path | None = None  # overrides.csv: manual adjustments, kept in batch.json
    times: Path | None = None  # times.csv: submission times (default: beside the submissions)

    def run(self) -> Summary:
        t0 = time.monotonic()
        self.out.mkdir(parents=True, exist_ok=True)
        topics = list(self.topics or self.course.topics())
        roster_path = self.roster or self._beside(ROSTER_NAME)
        config_path = self.config or self._beside(CONFIG_NAME)
        roster = read_roster(roster_path) if roster_path else {}
        config = read_config(config_path)
        deadline = self.deadline or config.deadline
        if deadline:
            try:
                parse_time(deadline, what="deadline")
            except PolicyError as exc:
                raise BatchError(str(exc)) from None
        entries, ignored = discover(self.submissions, roster, self.out / UNPACKED)
        if not entries:
            raise BatchError(f"no submissions in {self.submissions}: expected one folder or "
                             ".zip per student")
        unknown = [s for s in self.only if s not in {e.student for e in entries}]
        if unknown:
            raise BatchError(f"--only {unknown[0]}: no such student; the class has "
                             f"{', '.join(e.student for e in entries[:20])}"
                             + (", …" if len(entries) > 20 else ""))
        fingerprint = course_fingerprint(self.course, topics)
        old = read_state(self.out) if (self.resume or self.only) else {}
        records: dict[str, Any] = dict(old.get("students", {}))
        state: dict[str, Any] = {
            "schema_version": STATE_VERSION, "submissions": str(self.submissions.resolve()),
            "topics": topics, "course": fingerprint,
            "roster": {k: vars(v) for k, v in roster.items()},
            "late": {"deadline": deadline or "", "policy": vars(config.policy)},
            "canvas": {"assignment": config.assignment},
            "class": [], "students": records,
        }
        state.update(self._overrides(entries, topics, old))
        todo: list[tuple[Entry, dict[str, Any]]] = []
        resumed = 0
        times = self._times()
        for e in entries:
            info = {"folder": e.folder, "source": e.path.name if e.path else ""}
            if e.duplicate:
                info["duplicate"] = e.duplicate
            info.update(submission_time(e, times))
            state["class"].append({"student": e.student, **info,
                                   "deadline": (e.roster.deadline if e.roster else "") or
                                   deadline or ""})
            if e.path is None:
                records.pop(e.student, None)
                continue
            key = {"hash": content_hash(e.path), "course": fingerprint, "topics": topics,
                   "folder": e.folder}
            if self.only and e.student not in self.only:
                continue  # kept as graded before
            if not self.only and is_done(records.get(e.student), key, self.out):
                resumed += 1
                continue
            # Until it is graded again its old files (if any) no longer count.
            records.pop(e.student, None)
            todo.append((e, key))
        for gone in set(records) - {e.student for e in entries}:
            del records[gone]
        self._state = state
        self._log_path = self.out / LOG
        self._announce(entries, ignored, roster_path, config_path, config, deadline, len(todo),
                       resumed)
        write_json_atomic(self.out / STATE, state)
        summary = Summary(out=self.out, students=len(entries), resumed=resumed)
        try:
            with _terminate_as_interrupt():
                if todo:
                    self._grade(todo, topics, summary)
                # After the gradings, bounded, in a child: a class-wide step never holds up or
                # ends anyone's grading.
                try:
                    self._similarity(entries, topics, config.similarity,
                                     config.similarity_common)
                except KeyboardInterrupt:
                    self._finish(summary)  # every grade is in: the class's files say so
                    raise BatchError("interrupted while comparing the submissions for "
                                     "similarity; every grade is written, run the same command "
                                     "with --resume to compare them") from None
        finally:
            shutil.rmtree(self.out / UNPACKED, ignore_errors=True)
        summary.seconds = time.monotonic() - t0
        self._finish(summary)
        return summary

    def _overrides(self, entries: list[Entry], topics: list[str], old: dict[str, Any]
                   ) -> dict[str, Any]:
        """batch.json's overrides: the file's when given, else those of the run resumed."""
        kept = old.get("overrides", [])
        if self.overrides is None:
            return {"overrides": kept, "adjusted": sorted({o["student"] for o in kept})}
        tests = {t: overrides.test_names(self.course.hidden_tests(t)) |
                 overrides.test_names(self.course.public_tests(t)) for t in topics}
        try:
            rows = overrides.read_overrides(self.overrides, [e.student for e in entries], tests)
        except overrides.OverrideError as exc:
            raise BatchError(str(exc)) from None
        self.echo(f"overrides: {len(rows)} adjustment(s) from {self.overrides}")
        # Reports that showed the old adjustments are rebuilt too, in case one was removed.
        return {"overrides": overrides.to_state(rows),
                "adjusted": sorted({o["student"] for o in kept} | {o.student for o in rows})}

    def _similarity(self, entries: list[Entry], topics: list[str], threshold: float,
                    common: int = similarity.DEFAULT_COMMON) -> None:
        try:
            outcome = similarity.compare_class(
                self.out, self.course, ((e.student, e.path, e.folder) for e in entries if e.path),
                topics, threshold, common)
        except Exception:  # noqa: BLE001 - a comparison that breaks must not stop the batch
            self._log("comparing submissions", traceback.format_exc())
            self.echo(f"warning: submissions could not be compared for similarity; see {LOG}")
            return
        if outcome.error:
            self._log("comparing submissions", outcome.error)
            self.echo(f"warning: submissions could not be compared for similarity: "
                      f"{outcome.error}")
            return
        if outcome.left_out:
            for student, note in sorted(outcome.left_out.items()):
                self._log(f"comparing {student}", note)
            self.echo(f"similarity: {len(outcome.left_out)} submission(s) could not be read "
                      f"and were left out (see {similarity.NOTES_NAME})")
        if outcome.pairs:
            self.echo(f"similarity: {len(outcome.pairs)} pair(s) of modules at least "
                      f"{threshold:g} similar (see {similarity.CSV_NAME})")

    def _times(self) -> dict[str, str]:
        """times.csv (student,submitted_at): the given file, else the one beside the submissions."""
        path = self.times or self._beside(TIMES_NAME)
        if path is None:
            return {}
        try:
            return read_times(path)
        except PolicyError as exc:
            raise BatchError(str(exc)) from None

    def _beside(self, name: str) -> Path | None:
        p = self.submissions / name
        return p if self.submissions.is_dir() and p.is_file() else None

    def _announce(self, entries: list[Entry], ignored: list[str], roster: Path | None,
                  config_path: Path | None, config: BatchConfig, deadline: str | None,
                  todo: int, resumed: int) -> None:
        submitted = sum(1 for e in entries if e.path is not None)
        self.echo(f"{len(entries)} students, {submitted} submissions in {self.submissions}"
                  + (f"; roster {roster}" if roster else ""))
        if ignored:
            self.echo("ignored (neither a folder nor an archive): "
                      + terminal(", ".join(ignored[:10]))
                      + (" …" if len(ignored) > 10 else ""))
        if deadline:
            sources = Counter(c.get("submitted_source") or "none" for c in self._state["class"]
                              if c["source"])
            self.echo(f"late policy: deadline {deadline}, {config.policy.describe()}"
                      + (f" (from {config_path})" if config_path else ""))
            self.echo("submission times: " + ", ".join(
                f"{n} {TIME_SOURCES.get(k, 'from ' + k)}" for k, n in sorted(sources.items())))
        if resumed:
            self.echo(f"resuming: {resumed} already graded and unchanged, {todo} to grade")

    def _engine(self, todo: list[tuple[Entry, dict[str, Any]]]) -> Engine:
        if self.engine_factory is not None:
            return self.engine_factory(self.course, sandboxed=True,
                                       allow_unsandboxed=self.allow_unsandboxed)
        from grader.environment import load_environment
        from grader.grading.engine import Engine as LocalEngine

        return LocalEngine(self.course, sandboxed=True, allow_unsandboxed=self.allow_unsandboxed,
                           environment=load_environment(self.course),
                           topics=self.announced(todo),
                           chosen=tuple(self.topics) if self.topics else None)

    def announced(self, todo: list[tuple[Entry, dict[str, Any]]]) -> tuple[str, ...]:
        """The topics the engine is told it will grade: of those chosen (default: the course's),
        the ones the class to grade hands in, by its files' names (``submitted_topics``), so that
        a class handing in one assignment starts only the zygotes of its topic. Every chosen
        topic is graded all the same (one found nowhere is "not submitted"), and one missed here
        would be graded with the same walls, its workers slower to start."""
        from grader.grading.submission import submitted_topics

        chosen = list(self.topics or self.course.topics())
        found: set[str] = set()
        for entry, _key in todo:
            if entry.path is not None and len(found) < len(chosen):
                found |= submitted_topics(entry.path, chosen)
        return tuple(t for t in chosen if t in found)

    def _grade(self, todo: list[tuple[Entry, dict[str, Any]]], topics: list[str],
               summary: Summary) -> None:
        jobs = max(1, self.jobs or cores())
        engine = self._engine(todo)
        engine.prepare_children()  # what each grading child would do for itself, done once
        # Started after the engine so the ETA does not count its one-off start.
        progress = Progress(len(todo), self.progress_stream, self.tty)
        pending = deque(todo)
        running: list[_Running] = []
        if warning := layers_warning(engine.layers):
            self.echo(warning)
        options = Options(topics=tuple(topics), seed=self.seed)
        self.echo(f"grading {len(todo)} submissions, {min(jobs, len(todo))} at a time")

        def fill() -> None:
            while pending and len(running) < jobs:
                entry, key = pending.popleft()
                running.append(self._start(engine, entry, key, options, topics))

        try:
            with _stop_on_signal() as stop:
                while pending or running:
                    if stop:
                        raise KeyboardInterrupt
                    fill()
                    done = [r for r in running if self._ended(r, topics)]
                    for r in done:
                        running.remove(r)
                    # The next submissions start before these are assembled and written, so
                    # that no job slot waits while this process reads results and saves reports.
                    if done:
                        fill()
                    for r in done:
                        self._collect(r, topics, summary, progress, running)
                    if not done:
                        progress.draw()
                        _wait_for_any(running, POLL_SECONDS)
        except KeyboardInterrupt:
            for r in running:
                self._kill(r)
            running.clear()
            progress.close()
            self._finish(summary)
            raise BatchError(f"interrupted after grading {summary.graded_now} of {len(todo)}; "
                             "run the same command with --resume to finish") from None
        finally:
            for r in running:  # whatever ended the loop, no grading child outlives the batch
                self._kill(r)
            progress.close()
            try:
                engine.close()
            except Exception:  # noqa: BLE001 - the results are written; say it and go on
                self._log("closing the engine", traceback.format_exc())

    def _collect(self, r: _Running, topics: list[str], summary: Summary, progress: Progress,
                 running: list[_Running]) -> None:
        """Save a submission whose grading ended; one not over after all goes back to running."""
        result = r.result or self._poll(r, topics)
        if result is None:  # not over after all: look again on the next round
            running.append(r)
            return
        self._save(r, result, topics)
        summary.graded_now += 1
        progress.update(r.entry.student, result)

    def _start(self, engine: Engine, entry: Entry, key: dict[str, Any], options: Options,
               topics: list[str]) -> _Running:
        assert entry.path is not None
        folder = self.out / STUDENTS / entry.folder
        seed = options.seed
        job: Job | SubmissionResult
        try:
            # The submission's files are written by its own grading process where the engine
            # can: rendering them here, one after another, would bound a many-core batch.
            job = engine.start(entry.path, folder, options, name=entry.student,
                               finish=lambda result: self._write(entry.student, result, folder))
            seed = job.seed
        except Exception as exc:  # noqa: BLE001 - a grader bug must not end the batch
            self._log(f"starting {entry.student}", traceback.format_exc())
            job = error_result(entry.student, topics, seed or 0,
                               f"the grader failed before grading this submission "
                               f"({type(exc).__name__}: {exc}); see {LOG}")
        return _Running(entry, key, job, seed or 0)

    def _ended(self, r: _Running, topics: list[str]) -> bool:
        """Whether grading ``r`` is over; its result is collected later, by ``_poll``."""
        if isinstance(r.job, SubmissionResult):
            r.result = r.job
            return True
        try:
            return r.job.ended()
        except Exception:  # noqa: BLE001 - collecting it says what went wrong
            return True

    def _poll(self, r: _Running, topics: list[str]) -> SubmissionResult | None:
        if isinstance(r.job, SubmissionResult):
            return r.job
        try:
            result = r.job.poll()
        except Exception as exc:  # noqa: BLE001
            self._log(f"collecting {r.entry.student}", traceback.format_exc())
            self._kill(r, reap=False)
            return error_result(r.entry.student, topics, r.seed,
                                f"the grader failed while collecting this submission's results "
                                f"({type(exc).__name__}: {exc}); see {LOG}",
                                duration=time.monotonic() - r.t0)
        if result is None:
            return None
        if result.error and r.job.rc == -9 and time.monotonic() >= r.job.deadline:
            result = replace(result, error="grading this submission ran past its overall time "
                                           "limit and was stopped; the tests that finished count")
        return result

    def _kill(self, r: _Running, *, reap: bool = True) -> None:
        if isinstance(r.job, SubmissionResult):
            return
        try:
            r.job.kill()
            if reap:  # collect the child and remove its working folder
                r.job.wait()
        except Exception:  # noqa: BLE001 - it may have ended already; the batch goes on
            self._log(f"stopping {r.entry.student}", traceback.format_exc())

    def _save(self, r: _Running, result: SubmissionResult, topics: list[str]) -> None:
        folder = self.out / STUDENTS / r.entry.folder
        written = not isinstance(r.job, SubmissionResult) and r.job.finished
        try:
            if not written:
                self._write(r.entry.student, result, folder)
        except Exception as exc:  # noqa: BLE001 - e.g. a report that cannot be rendered
            self._log(f"writing {r.entry.student}", traceback.format_exc())
            result = error_result(r.entry.student, topics, result.seed,
                                  f"the grader could not write this submission's report "
                                  f"({type(exc).__name__}: {exc}); see {LOG}",
                                  duration=result.duration)
            write_outputs(result, folder)
        self._state["students"][r.entry.student] = {
            **r.key, "seed": result.seed, "status": "error" if result.error else "graded",
            "graded_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "duration": result.duration}
        # After the student's files: a kill in between only regrades this one submission.
        write_json_atomic(self.out / STATE, self._state)

    def _write(self, student: str, result: SubmissionResult, folder: Path) -> None:
        """The student's files, each written once with their grade (adjustments, late penalty),
        which is computed first: by the grading process where the engine can, else here."""
        record = next(c for c in self._state["class"] if c["student"] == student)
        graded = grades.grade_of(result, grades.terms(self._state, record))
        write_outputs(result, folder, graded.grade, shown=graded.result)

    def _log(self, what: str, text: str) -> None:
        stamp = dt.datetime.now().isoformat(timespec="seconds")
        with open(self._log_path, "a") as f:
            f.write(f"--- {stamp} {what}\n{text}\n")

    def _finish(self, summary: Summary) -> None:
        built = build_outputs(self.out, self._state)
        summary.stats = built.stats
        summary.errors = built.errors
        summary.notes = built.notes
