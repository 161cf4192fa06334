"""Reading students' answers files: untrusted JSON, size-limited, parsed as data and never evaluated.

An answers file is what the paper's form saves, and can be written by hand:

    {"format": "dl-grader-exam-answers/1", "exam": "midterm", "student": "ada",
     "paper": "d9ece40f8730", "answers": {"q1": {"height": "14", "width": 10}, ...}}

Only ``answers`` is required. Every problem becomes an :class:`AnswersError` whose message
says what is wrong with which file, for the gradebook and the student's report.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import GraderError

MAX_BYTES = 256 * 1024  # a full paper's answers take a few KiB
MAX_FILES = 20_000
MAX_ID = 200  # characters of a student id, exam name or paper code


class AnswersError(GraderError):
    """An answers file that cannot be graded; the message names the file and the problem."""


@dataclass(frozen=True)
class AnswersFile:
    path: Path
    student: str  # "" when the file does not say
    exam: str  # "" when the file does not say
    paper: str  # the paper code copied from the paper, "" when absent
    answers: dict[str, dict[str, Any]]  # question id -> part -> raw value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number an answer can hold")


def _text_field(data: dict[str, Any], key: str, path: Path) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_ID:
        raise AnswersError(f"{path.name}: {key!r} must be a short text")
    return value.strip()


def read_answers(path: Path) -> AnswersFile:
    """Read and check one answers file; raises AnswersError with a one-line reason."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise AnswersError(f"{path.name} is {size} bytes; an answers file is at most "
                               f"{MAX_BYTES // 1024} KiB")
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)  # the file may have grown since stat
    except OSError as exc:
        raise AnswersError(f"{path.name} cannot be read: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise AnswersError(f"{path.name} is larger than {MAX_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AnswersError(f"{path.name} is not UTF-8 text (save it as JSON from the paper's form)") \
            from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise AnswersError(f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno}, "
                           f"column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise AnswersError(f"{path.name} is not a valid answers file: {reason}") from None
    if not isinstance(data, dict):
        raise AnswersError(f"{path.name} must hold a JSON object with an \"answers\" object, "
                           f"not a {type(data).__name__}")
    answers = data.get("answers")
    if not isinstance(answers, dict):
        raise AnswersError(f"{path.name} has no \"answers\" object (question id → part → answer)")
    clean: dict[str, dict[str, Any]] = {}
    for qid, parts in answers.items():
        if not isinstance(parts, dict):
            raise AnswersError(f"{path.name}: the answers of {str(qid)[:40]!r} must be an object "
                               "(part → answer)")
        clean[str(qid)] = {str(k): v for k, v in parts.items()}
    return AnswersFile(path=path, student=_text_field(data, "student", path),
                       exam=_text_field(data, "exam", path),
                       paper=_text_field(data, "paper", path), answers=clean)


def student_from_name(path: Path, exam: str) -> str:
    """The student a file name suggests: ``<exam>-<id>.json`` (as the form saves) or ``<id>.json``."""
    stem = path.stem
    for suffix in ("-answers", "_answers"):
        stem = stem.removesuffix(suffix)
    # Browsers save a second download as "name (1).json".
    stem = re.sub(r" \(\d+\)$", "", stem)
    return stem.removeprefix(f"{exam}-")


def answer_files(folder: Path) -> tuple[list[Path], list[str]]:
    """The ``*.json`` files of a folder and of its subfolders one level down (an LMS export).

    Returns the files and notes about what was skipped (links, too many files).
    """
    if not folder.is_dir():
        raise AnswersError(f"{folder} is not a folder of answers files")
    notes = []
    found = []
    for path in sorted([*folder.glob("*.json"), *folder.glob("*/*.json")]):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if path.is_symlink() or path.parent.is_symlink():
            notes.append(f"skipped {path.relative_to(folder)}: a link, not a file")
            continue
        if path.is_file():
            found.append(path)
    if len(found) > MAX_FILES:
        notes.append(f"only the first {MAX_FILES} of {len(found)} answers files were read")
        found = found[:MAX_FILES]
    return found, notes
