"""What a batch says while it runs (counts, a bar, an ETA) and at its end (the summary)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from grader.classroom import gradebook, similarity, writers
from grader.classroom.layout import INDEX, STUDENTS
from grader.results.inert import terminal
from grader.results.model import Outcome, SubmissionResult
from grader.results.numbers import number


def duration(seconds: float) -> str:
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
        return duration((self.total - self.done) / rate)

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
        self.timeouts += any(t.outcome == Outcome.TIMEOUT for t in result.tests)
        if self.tty:
            self.draw(force=True)
            return
        width = len(str(self.total))
        line = f"[{self.done:>{width}}/{self.total}] {terminal(student)}: "
        if result.tests:
            line += f"{number(result.score)} / {number(result.max_score)} in {result.duration:.1f} s"
        if result.error:
            line += (" — " if result.tests else "") + \
                f"error: {terminal(result.error.splitlines()[0][:120])}"
        self._write(f"{line} · ETA {self.eta()}\n")

    def draw(self, force: bool = False) -> None:
        if not self.tty or (not force and time.monotonic() - self._drawn < 0.2):
            return
        self._drawn = time.monotonic()
        filled = int(30 * self.done / max(self.total, 1))
        bar = "█" * filled + "░" * (30 - filled)
        elapsed = duration(time.monotonic() - self.t0)
        self._write(f"\r{bar} {self.counts()} · {elapsed} · ETA {self.eta()}  ")

    def close(self) -> None:
        if self.tty and self.total and not self._closed:
            self._write("\n")
        self._closed = True


FLAG_LABELS = {"timeout": "with a timeout", "crash": "with a crash",
               "banned": "using a banned API", "import_error": "with a module that did not import",
               "syntax_error": "with a syntax error",
               "no_recognised_file": "with files but none named after a topic",
               "not_submitted": "with a topic not submitted",
               "stub": "with a topic handed in as the untouched stub",
               "late": "late", "error": "with a grading error",
               "similarity": "with a module similar to another student's",
               "duplicate": "claiming a student another submission claims too"}


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
                f"{self.resumed} already graded (resumed), in {duration(self.seconds)}")]
        if s is not None and s.mean is not None and s.median is not None:
            out.append(f"final score: mean {s.mean:.1f} %, median {s.median:.1f} % "
                       f"over {s.graded} graded students")
        if s is not None:
            kinds = [f"{n} {FLAG_LABELS.get(k, k)}" for k, n in s.counts.items() if n]
            out.append("students flagged: " + (", ".join(kinds) if kinds else "none"))
        for student, reason in sorted(self.errors.items()):
            out.append(f"  error — {terminal(student)}: {terminal(reason.splitlines()[0][:160])}")
        out.extend(self.notes)
        first, *rest = [*writers.names(), similarity.CSV_NAME]
        out.append(f"wrote {self.out / first}, {', '.join(rest)} and {INDEX}; "
                   f"reports in {self.out / STUDENTS}/")
        return out
