"""The class roster (roster.csv) and the batch's configuration (batch.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from grader.classroom import gradebook, similarity
from grader.classroom.late import LatePolicy, PolicyError, parse_time, policy_from_mapping
from grader.classroom.layout import BatchError, entry_name, read_table

DEFAULT_ASSIGNMENT = "Deep learning exercises"
ROSTER_COLUMNS = ("student", "submission", "name", "canvas_id", "sis_id", "login", "section",
                  "submitted", "deadline", "lms_id")


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
    lms_id: str = ""  # the LMS's id in its download: Moodle's participant id, Canvas's user id

    def fields(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in gradebook.ROSTER_FIELDS}


def read_roster(path: Path) -> dict[str, Student]:
    """Students by id from a CSV with a header (columns: ROSTER_COLUMNS; only student needed)."""
    reader, header = read_table(path, "roster", BatchError)
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
        values["submission"] = entry_name(values.get("submission") or values["student"])
        students[values["student"]] = Student(**values)
    return students


@dataclass(frozen=True)
class BatchConfig:
    """batch.toml: the late policy and its deadline, and the assignment's name in Canvas."""

    policy: LatePolicy = field(default_factory=LatePolicy)
    deadline: str = ""
    assignment: str = DEFAULT_ASSIGNMENT
    # [similarity] common (before ``similarity``, which names the module until then)
    similarity_common: int = similarity.DEFAULT_COMMON
    similarity: float = similarity.DEFAULT_THRESHOLD  # [similarity] threshold


def read_config(path: Path | None) -> BatchConfig:
    if path is None:
        return BatchConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BatchError(f"{path} is not UTF-8 text; save it as UTF-8 TOML") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BatchError(f"cannot read {path}: {exc}") from None
    unknown = sorted(set(data) - {"late", "canvas", "similarity"})
    if unknown:
        raise BatchError(f"{path}: unknown table [{unknown[0]}]; known: [late], [canvas], "
                         "[similarity]")
    for table in ("late", "canvas", "similarity"):
        if not isinstance(data.get(table, {}), dict):
            raise BatchError(f"{path}: {table} must be a table ([{table}] and its settings "
                             f"below it), not {data[table]!r}")
    try:
        threshold = similarity.threshold_from_mapping(data.get("similarity", {}))
        common = similarity.common_from_mapping(data.get("similarity", {}))
    except similarity.SimilarityError as exc:
        raise BatchError(f"{path}: {exc}") from None
    late = data.get("late", {})
    try:
        policy = policy_from_mapping(late)
        deadline = str(late.get("deadline", ""))
        if deadline:
            parse_time(deadline, what="deadline")
    except PolicyError as exc:
        raise BatchError(f"{path}: [late] {exc}") from None
    return BatchConfig(policy=policy, deadline=deadline,
                       assignment=str(data.get("canvas", {}).get("assignment", DEFAULT_ASSIGNMENT)),
                       similarity=threshold, similarity_common=common)
