"""The result model: plain frozen dataclasses that round-trip through JSON with a schema version."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any, Iterator

from grader.results.inert import csv_cell
from grader.results.numbers import number

SCHEMA_VERSION = 1


class _Text(str, Enum):
    """A name that is its own text: equal to, written and printed as its plain string, so
    results.json and the CSV tables read exactly as with string literals."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)


class Outcome(_Text):
    """How a test ended."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # the test could not run to its end (a crash, the grader's own fault)
    TIMEOUT = "timeout"
    SKIPPED = "skipped"
    NOT_GRADED = "not_graded"  # e.g. a GPU test on a machine without one: not counted


# The reason a GPU test gives where it is not graded (after it, in brackets, why not); grading
# and the student's runner both say it, and a skip that says it is ``Outcome.NOT_GRADED``.
NOT_GRADED_GPU = "needs a GPU — not graded here"


class Flag(_Text):
    """What else a test's result says about how it went (``TestResult.flags``)."""

    TIMEOUT = "timeout"
    CRASH = "crash"
    BANNED = "banned"  # called a banned API
    DYNAMIC_ACCESS = "dynamic_access"  # reaches names dynamically (exec, getattr by a built name)
    NOT_SUBMITTED = "not_submitted"
    IMPORT_FAILED = "import_failed"  # the student's module could not be imported
    IMPORT_ERROR = "import_error"  # ... because importing it raised
    MISSING_PACKAGE = "missing_package"  # ... a package the grading environment does not have
    STUDENT_EXCEPTION = "student_exception"  # the message quotes an exception the student raised
    SYNTAX_ERROR = "syntax_error"  # ... because it does not parse
    NOT_IMPLEMENTED = "not_implemented"
    GRADER_ERROR = "grader_error"


OUTCOMES = tuple(o.value for o in Outcome)
# SubmissionResult.notes starting "files: " say what became of the submission's files
# ("notes.txt: unrecognised file", "linear_regression (1).py graded as linear_regression.py").
FILES_NOTE = "files"


@dataclass(frozen=True)
class TestResult:
    """One test of one topic, as graded."""

    __test__ = False  # not a pytest test class

    topic: str
    name: str  # the test's name, e.g. "test_f1_macro[absent-class]"
    nodeid: str
    kind: str  # "hidden" | "public"
    outcome: str  # one of OUTCOMES
    score: float
    max_score: float
    message: str = ""  # what the student reads
    seed: int | None = None
    duration: float = 0.0
    output: str = ""  # what the student's code printed
    functions: tuple[str, ...] = ()  # student functions the test called
    flags: tuple[str, ...] = ()  # e.g. "banned", "crash", "timeout"
    # Figures a test recorded for instructors, e.g. a speed test's device, medians and spread.
    # Optional: results written before it existed read back with an empty dict.
    details: dict[str, Any] = field(default_factory=dict)
    # Who may see the test (grader.results.visibility): "visible", "hidden", "after_due_date",
    # "after_published", or "" where the instructor set nothing.
    visibility: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}")

    def to_dict(self) -> dict[str, Any]:
        """asdict's fields and values, without its deep copy (``details`` is shared)."""
        return {n: getattr(self, n) for n in _TEST_FIELDS}

    @property
    def counted(self) -> bool:
        """Whether the test counts towards the maximum (not for GPU tests on a CPU, skips)."""
        return self.outcome not in ("skipped", "not_graded")


_TEST_FIELDS = tuple(f.name for f in fields(TestResult))


@dataclass(frozen=True)
class TopicResult:
    topic: str
    score: float
    max_score: float
    submitted: bool
    flags: tuple[str, ...] = ()
    note: str = ""  # e.g. "not submitted" or the import error
    # Where the module reaches names built at run time: what the scan found (``exec(...)``,
    # ``getattr with a computed name``), at most a few; empty when it found none.
    dynamic: tuple[str, ...] = ()
    untouched_stub: bool = False  # the module handed in is the stub as released: not started
    # The lines of the module as graded that hold code, as ranges ("1-5,7,9-20"): the only line
    # numbers of it that a hidden test's student copy shows (grader.results.visibility).
    code_lines: str = ""
    # The module's own words as handed in (its names and string constants, bounded): the texts
    # of the worker's that a hidden test's student copy shows (grader.results.visibility).
    written: tuple[str, ...] = ()
    # Code the module built and ran at run time (exec, eval, compile, a function made from a code
    # object, marshal), as the worker's audit hook reported it: the source text where the code
    # had one, else its bytecode listing (``grader.isolation.codelisting``, which starts with
    # ``codelisting.MARK``). Bounded. Compared for similarity together with the module.
    runtime_code: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubmissionResult:
    """Everything graded for one submission."""

    submission: str  # the student's id or the submission's name
    topics: tuple[TopicResult, ...]
    tests: tuple[TestResult, ...]
    seed: int
    sandbox: tuple[str, ...]  # layers that were applied, e.g. ("landlock", "network", ...)
    started: str  # ISO 8601
    duration: float
    error: str = ""  # set when grading itself broke for this submission
    notes: tuple[str, ...] = ()
    hidden_tests: dict[str, int] = field(default_factory=dict)  # counted, not run (grader check)
    # What staging said about the submission's files: "unrecognised file notes.txt",
    # "linear_regression (1).py graded as linear_regression.py" (also in ``notes``, as prose).
    files: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION

    @property
    def score(self) -> float:
        return sum(t.score for t in self.topics)

    @property
    def max_score(self) -> float:
        return sum(t.max_score for t in self.topics)

    def topic(self, name: str) -> TopicResult:
        for t in self.topics:
            if t.topic == name:
                return t
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        # What asdict gives, without its deep copy of every test (a large share of writing a
        # result of many tests); the dicts inside tests are shared, not copied.
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["topics"] = tuple(asdict(t) for t in self.topics)
        out["tests"] = tuple(t.to_dict() for t in self.tests)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SubmissionResult":
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"results schema version {version} is not {SCHEMA_VERSION}")
        return cls(
            **{f.name: data[f.name] for f in fields(cls)
               if f.name not in ("topics", "tests", "sandbox", "notes", "files") and f.name in data},
            topics=tuple(_build(TopicResult, t) for t in data["topics"]),
            tests=tuple(_build(TestResult, t) for t in data["tests"]),
            sandbox=tuple(data.get("sandbox", ())),
            notes=tuple(data.get("notes", ())),
            files=tuple(data.get("files", ())),
        )


_NAMES: dict[type, frozenset[str]] = {}


def _build(cls: Any, data: dict[str, Any]) -> Any:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = frozenset(f.name for f in fields(cls))
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in names}
    return cls(**kwargs)


def read_test_result(data: dict[str, Any]) -> TestResult:
    return _build(TestResult, data)


# ------------------------------------------------------------------------------------ streaming


class ResultStream:
    """Append-only JSON-lines file written as each test ends, so a crash loses nothing earlier."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, record: dict[str, Any]) -> None:
        # No fsync: the stream only has to outlive a crash of the grading process (the page
        # cache does that), and an fsync per test costs more than many tests on a busy disk.
        self.write_lines([json.dumps(record, separators=(",", ":"))])

    def write_lines(self, lines: list[str]) -> None:
        """Records already in JSON, one per line, in one write."""
        data = "".join(line + "\n" for line in lines).encode()
        view = memoryview(data)
        while view:  # a large batch may take more than one write
            view = view[os.write(self._fd, view):]

    def close(self) -> None:
        os.close(self._fd)


def read_stream(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a stream; a line cut short by a crash is skipped."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return
    for line in text.splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue


def write_json_atomic(path: Path, data: Any, *, durable: bool = True) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    write_text_atomic(path, dumps_readable(data) + "\n", durable=durable)


def dumps_readable(data: Any, depth: int = 2) -> str:
    """JSON laid out one entry per line down to ``depth`` levels (a test of a result, a student
    of a class), each entry on its line as json's C encoder writes it: as easy to read and
    diff as ``indent=``, which would use the pure-Python encoder, several times slower."""

    def dump(value: Any, depth: int, pad: str) -> str:
        inner = pad + " "
        if depth > 0 and isinstance(value, dict) and value:
            return "{\n" + ",\n".join(
                f"{inner}{json.dumps(k if isinstance(k, str) else json.dumps(k))}: "
                f"{dump(v, depth - 1, inner)}" for k, v in value.items()) + f"\n{pad}}}"
        if depth > 0 and isinstance(value, (list, tuple)) and value:
            return "[\n" + ",\n".join(inner + dump(v, depth - 1, inner) for v in value) \
                + f"\n{pad}]"
        return json.dumps(value)

    return dump(data, depth, "")


def write_csv_atomic(path: Path, columns: Sequence[Any], rows: Iterable[Sequence[Any]], *,
                     durable: bool = True) -> None:
    """Every CSV the project writes is written here: each cell that a spreadsheet would run as a
    formula (a student's id, name, file or message starting with =, +, -, @) is made text,
    numbers take the one number format of every table and page, None is an empty cell."""
    buffer = io.StringIO()
    # The "\n" line ending makes only "\n" a reason to quote a cell, but every reader ends a
    # line at a bare "\r" too (a student's id may hold one): a row with one is quoted whole.
    plain, quoted = (csv.writer(buffer, lineterminator="\n", quoting=q)
                     for q in (csv.QUOTE_MINIMAL, csv.QUOTE_ALL))
    for cells in ([csv_cell(c) for c in columns], *([_csv_value(v) for v in row] for row in rows)):
        (quoted if any("\r" in c for c in cells if isinstance(c, str)) else plain).writerow(cells)
    write_text_atomic(path, buffer.getvalue(), durable=durable)


def read_csv_rows(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    """The rows of a CSV file, as ``write_csv_atomic`` (or a spreadsheet: ``utf-8-sig``) wrote
    it: a quoted cell keeps the line breaks it holds (a student's id with a carriage return
    in it), which splitting the text into lines first would cut into rows of their own."""
    with Path(path).open(encoding=encoding, newline="") as f:
        return [{k: v for k, v in row.items() if k is not None} for row in csv.DictReader(f)]


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return number(value)
    return csv_cell(value)


def write_text_atomic(path: Path, text: str, *, durable: bool = True) -> None:
    """Readers see the old file or the new one. ``durable`` also survives a power cut (fsync),
    for results; files that can be made again skip it, which is far cheaper in bulk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        # A stray surrogate (a file name's byte that is not UTF-8) is written as \udcNN
        # rather than lose the whole file.
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        # An interrupt can land after the rename: the temporary file may be gone already.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load_result(path: Path) -> SubmissionResult:
    return SubmissionResult.from_dict(json.loads(Path(path).read_text()))


__all__ = ["OUTCOMES", "SCHEMA_VERSION", "TestResult", "TopicResult", "SubmissionResult",
           "ResultStream", "read_stream", "write_json_atomic", "dumps_readable",
           "write_text_atomic", "load_result"]
