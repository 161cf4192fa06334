"""The service's assignments and limits (serve.toml): what students hand in, when, how often."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.classroom.late import LatePolicy, PolicyError, parse_time, policy_from_mapping
from grader.errors import GraderError
from grader.serve import dates
from grader.serve.lti.platforms import LtiSettings, read_settings

COUNTS = ("last", "best")
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
DEFAULT_PER_DAY = 20
DEFAULT_UPLOAD_MB = 20


class ConfigError(GraderError):
    """serve.toml cannot be used; the message names the setting and the fix."""


@dataclass(frozen=True)
class Assignment:
    """One assignment: the topics a submission is graded on, its deadline and its rules."""

    name: str  # in URLs and the database
    title: str
    topics: tuple[str, ...]  # () for every topic of the course
    deadline: str = ""  # ISO 8601; "" for none
    counts: str = "last"  # which submission counts: the last graded, or the best
    per_day: int = DEFAULT_PER_DAY  # graded submissions per student and (UTC) day
    policy: LatePolicy = field(default_factory=LatePolicy)
    external_id: str = ""  # the LMS's id of the assignment (for grade passback)


@dataclass(frozen=True)
class ServeConfig:
    assignments: tuple[Assignment, ...]
    instructors: tuple[str, ...] = ("instructor",)
    max_upload_mb: int = DEFAULT_UPLOAD_MB
    lti: LtiSettings = field(default_factory=LtiSettings)  # [lti]: the LMSs (docs/lti.md)
    time_zone: str = "UTC"  # IANA: the pages say times, and read typed deadlines, in it

    def assignment(self, name: str) -> Assignment | None:
        return next((a for a in self.assignments if a.name == name), None)


def default_config() -> ServeConfig:
    """Without serve.toml: one assignment of every topic, no deadline."""
    return ServeConfig((Assignment("exercises", "Deep learning exercises", ()),))


def read_config(path: Path | None, topics: list[str]) -> ServeConfig:
    """serve.toml (see docs/serve.md); ``topics``: the course's, to check the assignments'."""
    if path is None:
        return default_config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    unknown = sorted(set(data) - {"assignment", "instructors", "max_upload_mb", "time_zone",
                                  "lti"})
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r}; known: [[assignment]], "
                          "instructors, max_upload_mb, time_zone, [lti]")
    rows = data.get("assignment", [])
    if not isinstance(rows, list) or not rows:
        raise ConfigError(f"{path}: no [[assignment]] table; give at least one (name, topics)")
    assignments = tuple(_assignment(path, i, row, topics) for i, row in enumerate(rows, 1))
    names = [a.name for a in assignments]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: two assignments are named "
                          f"{next(n for n in names if names.count(n) > 1)!r}")
    instructors = data.get("instructors", ["instructor"])
    if not (isinstance(instructors, list) and instructors
            and all(isinstance(i, str) and i.strip() for i in instructors)):
        raise ConfigError(f"{path}: instructors must be a list of account names, e.g. "
                          "[\"instructor\"]")
    size = data.get("max_upload_mb", DEFAULT_UPLOAD_MB)
    if not isinstance(size, int) or not 1 <= size <= 1024:
        raise ConfigError(f"{path}: max_upload_mb must be a whole number of MB from 1 to 1024")
    try:
        lti = read_settings(data.get("lti", {}))
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    time_zone = data.get("time_zone", "UTC")
    try:
        dates.zone(str(time_zone))
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return ServeConfig(assignments, tuple(i.strip() for i in instructors), size, lti,
                       str(time_zone))


def _assignment(path: Path, i: int, row: Any, topics: list[str]) -> Assignment:
    where = f"{path}: assignment {i}"
    if not isinstance(row, dict):
        raise ConfigError(f"{where} must be a table")
    known = {"name", "title", "topics", "deadline", "counts", "per_day", "late", "external_id"}
    unknown = sorted(set(row) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
    name = str(row.get("name", ""))
    if not NAME.fullmatch(name):
        raise ConfigError(f"{where}: name {name!r} must be lower-case letters, digits, - and _")
    chosen = row.get("topics", [])
    if not isinstance(chosen, list) or any(t not in topics for t in chosen):
        bad = next((t for t in chosen if t not in topics), chosen) if isinstance(chosen, list) \
            else chosen
        raise ConfigError(f"{where} ({name}): unknown topic {bad!r}; the course has "
                          f"{', '.join(topics)}")
    counts = str(row.get("counts", "last"))
    if counts not in COUNTS:
        raise ConfigError(f"{where} ({name}): counts must be 'last' or 'best', not {counts!r}")
    per_day = row.get("per_day", DEFAULT_PER_DAY)
    if not isinstance(per_day, int) or per_day < 1:
        raise ConfigError(f"{where} ({name}): per_day must be a whole number ≥ 1")
    deadline = str(row.get("deadline", ""))
    try:
        if deadline:
            parse_time(deadline, what="deadline")
        policy = policy_from_mapping(row.get("late", {}))
    except (PolicyError, AttributeError) as exc:
        raise ConfigError(f"{where} ({name}): {exc}") from None
    return Assignment(name, str(row.get("title", name)), tuple(chosen), deadline, counts, per_day,
                      policy, str(row.get("external_id", "")))
