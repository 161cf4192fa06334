"""Grading a whole class: find the submissions, grade them in parallel, resume, write the tables.

One engine (zygote and preloaded trusted process) serves the whole batch; each submission is a
forked trusted child, and at most ``jobs`` of them run at once, polled from this one thread
(forking a multi-threaded process is unsafe). Each student's files are written atomically as
soon as they are graded and ``batch.json`` records the content hash that produced them, so a
batch killed at any moment loses only the submissions in flight, and ``--resume`` regrades only
what is missing or has changed. Every table and page is rebuilt from the files on disk.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import re
import select
import shutil
import signal
import sys
import time
import traceback
import zipfile
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from grader.classroom import gradebook, overview
from grader.course import Course
from grader.classroom.late import LatePolicy, PolicyError, assess, parse_time, policy_from_mapping
from grader.results.files import FULL, REPORT, write_outputs
from grader.results.report import render_report
from grader.results.model import SubmissionResult, load_result, write_json_atomic, write_text_atomic
from grader.results.scoring import topic_results

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

STATE = "batch.json"
LOG = "batch.log"
INDEX = "index.html"
STUDENTS = "students"
UNPACKED = ".unpacked"  # where a class archive is unpacked, inside the batch folder
ROSTER_NAME = "roster.csv"  # used from the submissions folder when --roster is not given
CONFIG_NAME = "batch.toml"  # likewise for --config
STATE_VERSION = 1
DEFAULT_ASSIGNMENT = "Deep learning exercises"
# A class export is many submissions in one archive: room for a few hundred of them.
CLASS_ARCHIVE_BYTES = 2 * 1024**3
CLASS_ARCHIVE_FILES = 200_000
ROSTER_COLUMNS = ("student", "submission", "name", "canvas_id", "sis_id", "login", "section",
                  "submitted", "deadline")
POLL_SECONDS = 0.02


class BatchError(Exception):
    """The batch cannot start or go on; the message says what was found and how to fix it."""


# ------------------------------------------------------------------------------ configuration


@dataclass(frozen=True)
class Student:
    """A roster row."""

    student: str  # the id used everywhere in the batch's outputs
    submission: str = ""  # the entry's name in the submissions folder (default: the id)
    name: str = ""
    canvas_id: str = ""
    sis_id: str = ""
    login: str = ""
    section: str = ""
    submitted: str = ""  # ISO 8601 submission time
    deadline: str = ""  # a deadline of this student's own (an extension)

    def fields(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in gradebook.ROSTER_FIELDS}


def read_roster(path: Path) -> dict[str, Student]:
    """Students by id from a CSV with a header (columns: ROSTER_COLUMNS; only student needed)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BatchError(f"cannot read the roster {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BatchError(f"the roster {path} is not UTF-8 text; save it as CSV UTF-8") from None
    reader = csv.DictReader(text.splitlines())
    header = {(h or "").strip().lower(): h for h in reader.fieldnames or []}
    if "student" not in header:
        raise BatchError(f"the roster {path} has no 'student' column; its columns can be: "
                         f"{', '.join(ROSTER_COLUMNS)}")
    students: dict[str, Student] = {}
    for line, row in enumerate(reader, start=2):
        values = {k: (row.get(header[k]) or "").strip() for k in ROSTER_COLUMNS if k in header}
        if not values["student"]:
            continue
        if values["student"] in students:
            raise BatchError(f"{path}:{line}: student {values['student']!r} appears twice")
        for key in ("submitted", "deadline"):
            if values.get(key):
                try:
                    parse_time(values[key], what=f"{key} of {values['student']}")
                except PolicyError as exc:
                    raise BatchError(f"{path}:{line}: {exc}") from None
        values["submission"] = _entry_name(values.get("submission") or values["student"])
        students[values["student"]] = Student(**values)
    return students


@dataclass(frozen=True)
class BatchConfig:
    """batch.toml: the late policy and its deadline, and the assignment's name in Canvas."""

    policy: LatePolicy = field(default_factory=LatePolicy)
    deadline: str = ""
    assignment: str = DEFAULT_ASSIGNMENT


def read_config(path: Path | None) -> BatchConfig:
    if path is None:
        return BatchConfig()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BatchError(f"cannot read {path}: {exc}") from None
    unknown = sorted(set(data) - {"late", "canvas"})
    if unknown:
        raise BatchError(f"{path}: unknown table [{unknown[0]}]; known: [late], [canvas]")
    late = data.get("late", {})
    try:
        policy = policy_from_mapping(late)
        deadline = str(late.get("deadline", ""))
        if deadline:
            parse_time(deadline, what="deadline")
    except PolicyError as exc:
        raise BatchError(f"{path}: [late] {exc}") from None
    return BatchConfig(policy=policy, deadline=deadline,
                       assignment=str(data.get("canvas", {}).get("assignment", DEFAULT_ASSIGNMENT)))


# ---------------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class Entry:
    """One student of the class: their submission (None when they have none) and roster row."""

    student: str
    path: Path | None
    folder: str  # their folder under DIR/students
    roster: Student | None = None
    file_time: dt.datetime | None = None  # when the files say they were last changed


def _entry_name(name: str) -> str:
    return name[:-4] if name.lower().endswith(".zip") else name


_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,79}")


def folder_name(student: str) -> str:
    """A folder name for a student id: the id itself when it is plain, else a slug and a hash."""
    if _SAFE.fullmatch(student) and student not in (STUDENTS, UNPACKED):
        return student
    slug = re.sub(r"[^A-Za-z0-9._@+-]+", "_", student).strip("._-")[:40] or "student"
    return f"{slug}-{hashlib.sha256(student.encode()).hexdigest()[:8]}"


def _is_entry(p: Path) -> bool:
    if p.name.startswith((".", "__MACOSX")) or p.is_symlink():
        return False
    return p.is_dir() or p.suffix.lower() == ".zip"


def unpack_class(archive: Path, dest: Path) -> tuple[Path, dict[str, dt.datetime]]:
    """Unpack a class export; returns the folder holding the entries and each entry's time.

    The times come from the archive's own timestamps (the newest file of each entry), read as
    local time since zip files carry no time zone.
    """
    from grader.grading.submission import SubmissionError, safe_extract

    shutil.rmtree(dest, ignore_errors=True)
    try:
        safe_extract(archive, dest, max_bytes=CLASS_ARCHIVE_BYTES, max_files=CLASS_ARCHIVE_FILES)
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except SubmissionError as exc:
        raise BatchError(f"cannot unpack the class archive: {exc}") from None
    root = dest
    # LMS exports often wrap everything in one folder: look inside it.
    inner = [p for p in dest.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    prefix = ""
    if len(inner) == 1 and inner[0].is_dir() and not any(inner[0].glob("*.py")) \
            and not (inner[0] / "assignments").is_dir():
        root, prefix = inner[0], inner[0].name + "/"
    times: dict[str, dt.datetime] = {}
    for info in infos:
        if info.is_dir() or not info.filename.startswith(prefix):
            continue
        top = _entry_name(info.filename[len(prefix):].split("/", 1)[0])
        try:
            when = dt.datetime(*info.date_time).astimezone()
        except ValueError:
            continue
        if top not in times or when > times[top]:
            times[top] = when
    return root, times


def file_time(path: Path) -> dt.datetime:
    """When an entry was last changed: the archive's mtime, or the newest file of a folder."""
    if path.is_dir():
        stamps = [p.stat().st_mtime for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
        stamp = max(stamps, default=path.stat().st_mtime)
    else:
        stamp = path.stat().st_mtime
    return dt.datetime.fromtimestamp(stamp).astimezone()


def discover(submissions: Path, roster: dict[str, Student], unpack_to: Path
             ) -> tuple[list[Entry], list[str]]:
    """The class: every entry of the submissions folder (or class archive) and every roster
    student. Returns the entries sorted by id and the names that were not entries."""
    times: dict[str, dt.datetime] = {}
    if submissions.is_file():
        if not zipfile.is_zipfile(submissions):
            raise BatchError(f"{submissions} is neither a folder of submissions nor a .zip "
                             "holding them")
        folder, times = unpack_class(submissions, unpack_to)
    else:
        folder = submissions
    by_entry = {s.submission: s for s in roster.values()}
    entries: dict[str, Entry] = {}
    ignored: list[str] = []
    for p in sorted(folder.iterdir()):
        if not _is_entry(p):
            if p.name not in (ROSTER_NAME, CONFIG_NAME) and not p.name.startswith("."):
                ignored.append(p.name)
            continue
        name = _entry_name(p.name)
        student = by_entry.get(name)
        sid = student.student if student else name
        if sid in entries:
            first = entries[sid].path
            raise BatchError(f"two submissions for {sid!r} in {folder}: "
                             f"{first.name if first else '?'} and {p.name}")
        entries[sid] = Entry(sid, p, folder_name(sid), student, times.get(name) or file_time(p))
    for sid, student in roster.items():
        if sid not in entries:
            entries[sid] = Entry(sid, None, folder_name(sid), student)
    seen: set[str] = set()
    for e in entries.values():
        if e.folder in seen:
            raise BatchError(f"two students map to the folder {e.folder!r}; rename one entry")
        seen.add(e.folder)
    return sorted(entries.values(), key=lambda e: e.student), ignored


# ----------------------------------------------------------------------------------- hashing


def content_hash(path: Path) -> str:
    """sha256 of an entry: an archive's bytes, or a folder's file names and contents."""
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(path.rglob("*"), key=lambda q: q.relative_to(path).as_posix()):
            if p.is_symlink() or not p.is_file() or "__pycache__" in p.parts:
                continue
            rel = p.relative_to(path).as_posix().encode()
            h.update(len(rel).to_bytes(4, "little") + rel)
            h.update(p.stat().st_size.to_bytes(8, "little"))
            _hash_file(h, p)
    else:
        _hash_file(h, path)
    return h.hexdigest()


def _hash_file(h: Any, path: Path) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)


def course_fingerprint(course: Course, topics: Sequence[str]) -> str:
    """sha256 of what grading depends on: the chosen topics' tests, references and configs."""
    h = hashlib.sha256()
    for topic in topics:
        for p in (course.hidden_tests(topic), course.public_tests(topic), course.solution(topic),
                  course.reference / topic / "grading.toml",
                  course.assignments / topic / "grading.toml"):
            if p is not None and p.is_file():
                h.update(str(p.relative_to(course.root)).encode() + b"\0")
                h.update(p.read_bytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------------- state


def read_state(out: Path) -> dict[str, Any]:
    path = out / STATE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise BatchError(f"{path} is unreadable ({exc}); delete it to grade the class afresh") \
            from None
    if data.get("schema_version") != STATE_VERSION:
        return {}
    return data


def _is_done(record: dict[str, Any] | None, key: dict[str, Any], out: Path) -> bool:
    if not record or any(record.get(k) != v for k, v in key.items()):
        return False
    path = out / STUDENTS / record["folder"] / FULL
    try:
        load_result(path)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


# ---------------------------------------------------------------------------------- progress


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """Counts and an ETA: a redrawn bar on a terminal, one line per submission otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.total = total
        self.stream: TextIO | None = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.done = self.errors = self.timeouts = 0
        self.t0 = time.monotonic()
        self._drawn = 0.0
        self._closed = False

    def eta(self) -> str:
        if not self.done:
            return "?"
        rate = self.done / max(time.monotonic() - self.t0, 1e-9)
        return _duration((self.total - self.done) / rate)

    def counts(self) -> str:
        return (f"{self.done}/{self.total} graded · {self.errors} failed · "
                f"{self.timeouts} timed out")

    def _write(self, text: str) -> None:
        # Progress is a courtesy: a closed pipe (the reader went away) must not end the batch.
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.stream = None

    def update(self, student: str, result: SubmissionResult) -> None:
        self.done += 1
        self.errors += bool(result.error)
        self.timeouts += any(t.outcome == "timeout" for t in result.tests)
        if self.tty:
            self.draw(force=True)
            return
        width = len(str(self.total))
        line = f"[{self.done:>{width}}/{self.total}] {student}: "
        if result.tests:
            line += f"{result.score:g} / {result.max_score:g} in {result.duration:.1f} s"
        if result.error:
            line += (" — " if result.tests else "") + \
                f"error: {result.error.splitlines()[0][:120]}"
        self._write(f"{line} · ETA {self.eta()}\n")

    def draw(self, force: bool = False) -> None:
        if not self.tty or (not force and time.monotonic() - self._drawn < 0.2):
            return
        self._drawn = time.monotonic()
        filled = int(30 * self.done / max(self.total, 1))
        bar = "█" * filled + "░" * (30 - filled)
        elapsed = _duration(time.monotonic() - self.t0)
        self._write(f"\r{bar} {self.counts()} · {elapsed} · ETA {self.eta()}  ")

    def close(self) -> None:
        if self.tty and self.total and not self._closed:
            self._write("\n")
        self._closed = True


# ------------------------------------------------------------------------------------ grading


def cores() -> int:
    """Cores this process may use (all of the machine's where that cannot be asked)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1




FLAG_LABELS = {"timeout": "with a timeout", "crash": "with a crash",
               "banned": "using a banned API", "not_submitted": "with a topic not submitted",
               "late": "late", "error": "with a grading error"}


@dataclass
class Summary:
    """What a batch did, for the summary printed at its end."""

    out: Path
    students: int = 0
    graded_now: int = 0
    resumed: int = 0
    seconds: float = 0.0
    stats: gradebook.Stats | None = None
    errors: dict[str, str] = field(default_factory=dict)  # student -> reason
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        s = self.stats
        out = [(f"{self.students} students: {self.graded_now} graded now, "
                f"{self.resumed} already graded (resumed), in {_duration(self.seconds)}")]
        if s is not None and s.mean is not None and s.median is not None:
            out.append(f"final score: mean {s.mean:.1f} %, median {s.median:.1f} % "
                       f"over {s.graded} graded students")
        if s is not None:
            kinds = [f"{n} {FLAG_LABELS.get(k, k)}" for k, n in s.counts.items() if n]
            out.append("students flagged: " + (", ".join(kinds) if kinds else "none"))
        for student, reason in sorted(self.errors.items()):
            out.append(f"  error — {student}: {reason.splitlines()[0][:160]}")
        out.extend(self.notes)
        out.append(f"wrote {self.out / gradebook.GRADEBOOK}, {gradebook.TESTS}, "
                   f"{gradebook.CANVAS} and {INDEX}; reports in {self.out / STUDENTS}/")
        return out


def _wait_for_any(running: list[_Running], timeout: float) -> None:
    """Sleep until a grading child ends (its pidfd turns readable) or ``timeout`` passes."""
    fds = [fd for r in running if (fd := getattr(r.job, "pidfd", -1)) >= 0]
    if fds and len(fds) == len(running):
        select.select(fds, [], [], timeout)
    else:  # jobs elsewhere (a Dask cluster) or no pidfd on this system
        time.sleep(timeout)


def error_result(student: str, topics: Sequence[str], seed: int, reason: str,
                 duration: float = 0.0) -> SubmissionResult:
    """A result that records only why grading broke (every topic scores 0)."""
    return SubmissionResult(
        submission=student, topics=topic_results([], topics), tests=(), seed=seed, sandbox=(),
        started=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        duration=round(duration, 3), error=reason)


class _Running:
    """A submission in flight: the engine's job, guarded so a grader bug becomes an error row."""

    def __init__(self, entry: Entry, key: dict[str, Any], job: Any, seed: int) -> None:
        self.entry = entry
        self.key = key  # what batch.json records once it is graded
        self.job = job  # a runner Job, or already a SubmissionResult when it could not start
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
    engine_factory: Callable[..., Any] | None = None

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
        todo: list[tuple[Entry, dict[str, Any]]] = []
        resumed = 0
        for e in entries:
            info = {"folder": e.folder, "source": e.path.name if e.path else ""}
            if e.roster and e.roster.submitted:
                info.update(submitted=e.roster.submitted, submitted_source="roster")
            elif e.file_time is not None:
                info.update(submitted=e.file_time.isoformat(timespec="seconds"),
                            submitted_source="file time")
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
            if not self.only and _is_done(records.get(e.student), key, self.out):
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
            if todo:
                self._grade(todo, topics, summary)
        finally:
            shutil.rmtree(self.out / UNPACKED, ignore_errors=True)
        summary.seconds = time.monotonic() - t0
        self._finish(summary)
        return summary

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
            self.echo(f"ignored (neither a folder nor a .zip): {', '.join(ignored[:10])}"
                      + (" …" if len(ignored) > 10 else ""))
        if deadline:
            from_roster = sum(1 for e in entries if e.roster and e.roster.submitted)
            from_files = submitted - sum(1 for e in entries
                                         if e.path is not None and e.roster and e.roster.submitted)
            self.echo(f"late policy: deadline {deadline}, {config.policy.describe()}"
                      + (f" (from {config_path})" if config_path else ""))
            self.echo(f"submission times: {from_roster} from the roster, {from_files} from the "
                      "files' modification times (archive timestamps), which copying can change")
        if resumed:
            self.echo(f"resuming: {resumed} already graded and unchanged, {todo} to grade")

    def _engine(self) -> Any:
        if self.engine_factory is not None:
            return self.engine_factory(self.course, sandboxed=True,
                                       allow_unsandboxed=self.allow_unsandboxed)
        from grader.grading.engine import Engine

        return Engine(self.course, sandboxed=True, allow_unsandboxed=self.allow_unsandboxed)

    def _grade(self, todo: list[tuple[Entry, dict[str, Any]]], topics: list[str],
               summary: Summary) -> None:
        from grader.grading.engine import Options

        jobs = max(1, self.jobs or cores())
        engine = self._engine()
        # Started after the engine so the ETA does not count its one-off start.
        progress = Progress(len(todo), self.progress_stream, self.tty)
        pending = deque(todo)
        running: list[_Running] = []
        layers = getattr(engine, "layers", None)  # an engine elsewhere reports its own
        if layers is not None and getattr(engine, "sandboxed", True) and len(layers) < 5:
            self.echo(f"warning: sandbox layers in use: {', '.join(layers) or 'none'}")
        options = Options(topics=tuple(topics), seed=self.seed)
        self.echo(f"grading {len(todo)} submissions, {min(jobs, len(todo))} at a time")
        # Ctrl-C or a polite stop (CI cancelling a job) ends the batch between two polls, never
        # in the middle of writing a file: in-flight work is killed and the tables are written
        # from what is done. A second signal stops at once.
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
            while pending or running:
                if stop:
                    raise KeyboardInterrupt
                while pending and len(running) < jobs:
                    entry, key = pending.popleft()
                    running.append(self._start(engine, entry, key, options, topics))
                done = [r for r in running if self._ended(r, topics)]
                for r in done:
                    running.remove(r)
                # The next submissions start before these are assembled and written, so that
                # no job slot waits while this process reads results and saves reports.
                while done and pending and len(running) < jobs:
                    entry, key = pending.popleft()
                    running.append(self._start(engine, entry, key, options, topics))
                for r in done:
                    result = r.result or self._poll(r, topics)
                    if result is None:  # not over after all: look again on the next round
                        running.append(r)
                        continue
                    self._save(r, result, topics)
                    summary.graded_now += 1
                    progress.update(r.entry.student, result)
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
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            progress.close()
            try:
                engine.close()
            except Exception:  # noqa: BLE001 - the results are written; say it and go on
                self._log("closing the engine", traceback.format_exc())

    def _start(self, engine: Any, entry: Entry, key: dict[str, Any], options: Any,
               topics: list[str]) -> _Running:
        assert entry.path is not None
        folder = self.out / STUDENTS / entry.folder
        seed = options.seed
        try:
            job = engine.start(entry.path, folder, options, name=entry.student)
            seed = job.seed
        except Exception as exc:  # noqa: BLE001 - a grader bug must not end the batch
            self._log(f"starting {entry.student}", traceback.format_exc())
            job = error_result(entry.student, topics, seed or 0,
                               f"the grader failed before grading this submission "
                               f"({type(exc).__name__}: {exc}); see {LOG}")
        return _Running(entry, key, job, seed or 0)

    def _ended(self, r: _Running, topics: list[str]) -> bool:
        """Whether grading ``r`` is over; its result may wait (a job without ``ended``, e.g.
        one on a Dask cluster, is collected here and then)."""
        ended = getattr(r.job, "ended", None)
        if callable(ended) and not isinstance(r.job, SubmissionResult):
            try:
                return bool(ended())
            except Exception:  # noqa: BLE001 - collecting it says what went wrong
                return True
        r.result = self._poll(r, topics)
        return r.result is not None

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
                                time.monotonic() - r.t0)
        if result is None:
            return None
        if result.error and getattr(r.job, "rc", None) == -9 and \
                time.monotonic() >= getattr(r.job, "deadline", float("inf")):
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
        try:
            write_outputs(result, folder)
        except Exception as exc:  # noqa: BLE001 - e.g. a report that cannot be rendered
            self._log(f"writing {r.entry.student}", traceback.format_exc())
            result = error_result(r.entry.student, topics, result.seed,
                                  f"the grader could not write this submission's report "
                                  f"({type(exc).__name__}: {exc}); see {LOG}", result.duration)
            write_outputs(result, folder)
        self._state["students"][r.entry.student] = {
            **r.key, "seed": result.seed, "status": "error" if result.error else "graded",
            "graded_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "duration": result.duration}
        # After the student's files: a kill in between only regrades this one submission.
        write_json_atomic(self.out / STATE, self._state)

    def _log(self, what: str, text: str) -> None:
        stamp = dt.datetime.now().isoformat(timespec="seconds")
        with open(self._log_path, "a") as f:
            f.write(f"--- {stamp} {what}\n{text}\n")

    def _finish(self, summary: Summary) -> None:
        built = build_outputs(self.out, self._state)
        summary.stats = built.stats
        summary.errors = built.errors
        summary.notes = built.notes


# ------------------------------------------------------------------------------ the outputs


@dataclass
class Built:
    stats: gradebook.Stats
    errors: dict[str, str]
    notes: list[str]


def class_entries(out: Path, state: dict[str, Any]) -> list[gradebook.ClassEntry]:
    """Every student of the class with their result as on disk now."""
    records = state.get("students", {})
    roster = state.get("roster", {})
    entries = []
    for c in state.get("class", []):
        sid = c["student"]
        folder = out / STUDENTS / c["folder"]
        result: SubmissionResult | None = None
        if not c["source"]:
            status = "not_submitted"
        elif sid in records:
            try:
                result = load_result(folder / FULL)
            except (OSError, ValueError, KeyError, TypeError):
                result = None
            status = ("not_graded" if result is None else "error" if result.error else "graded")
        else:
            status = "not_graded"
        info = roster.get(sid, {})
        submitted = parse_time(c["submitted"]) if c.get("submitted") else None
        deadline = parse_time(c["deadline"]) if c.get("deadline") else None
        entries.append(gradebook.ClassEntry(
            student=sid, status=status, result=result,
            roster={k: info.get(k, "") for k in gradebook.ROSTER_FIELDS},
            report=f"{STUDENTS}/{c['folder']}/{REPORT}"
            if result is not None and (folder / REPORT).is_file() else "",
            submitted=submitted if c["source"] else None,
            submitted_source=c.get("submitted_source", ""), deadline=deadline))
    return entries


def build_outputs(out: Path, state: dict[str, Any]) -> Built:
    """gradebook.csv, tests.csv, canvas.csv and index.html from batch.json and the results."""
    policy = LatePolicy(**state.get("late", {}).get("policy", {}))
    topics = state.get("topics", [])
    entries = class_entries(out, state)
    rows = gradebook.student_rows(entries, topics, policy)
    for e in entries:  # the student's own report shows the raw score, the penalty and the final
        if e.result is not None and e.report and e.submitted and e.deadline:
            lateness = assess(e.result.score, e.result.max_score, e.submitted, e.deadline, policy)
            if lateness.penalty:
                write_text_atomic(out / e.report, render_report(e.result, lateness))
    gradebook.write_tables(out, rows, gradebook.test_rows(entries),
                           state.get("canvas", {}).get("assignment", DEFAULT_ASSIGNMENT), topics)
    stats = gradebook.class_stats(rows)
    late = state.get("late", {})
    write_text_atomic(out / INDEX, overview.render_overview(
        rows, entries, topics, stats,
        late_text=(f"deadline {late['deadline']}, {policy.describe()}"
                   if late.get("deadline") else "")))
    errors = {r["student"]: r["error"] for r in rows if r["status"] in ("error", "not_graded")}
    notes = []
    blank = sum(1 for r in rows if r["status"] in ("error", "not_graded"))
    if blank:
        notes.append(f"{blank} student{'s have' if blank > 1 else ' has'} no grade in "
                     f"{gradebook.CANVAS}: grading broke or has not run (see the error column "
                     "of the gradebook)")
    if not state.get("roster"):
        notes.append(f"no roster: {gradebook.CANVAS} has no Canvas or SIS ids to match students "
                     "by (give --roster FILE)")
    return Built(stats, errors, notes)


def refresh(out: Path) -> Built | None:
    """Rebuild a batch folder's tables and overview (after a student was regraded into it)."""
    state = read_state(out)
    if not state:
        return None
    return build_outputs(out, state)


def batch_folder_of(student_out: Path) -> Path | None:
    """The batch folder that ``student_out`` (DIR/students/<id>) belongs to, if it is one."""
    student_out = student_out.resolve()
    parent = student_out.parent
    if parent.name == STUDENTS and (parent.parent / STATE).is_file():
        return parent.parent
    return None
