"""Resume state (batch.json): what each student's files were graded from, by content hash."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grader.classroom.layout import STATE, STUDENTS, BatchError
from grader.course import Course
from grader.results.files import FULL
from grader.results.model import load_result

STATE_VERSION = 1


def content_hash(path: Path) -> str:
    """sha256 of an entry: an archive's bytes, or a folder's file names and contents."""
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(path.rglob("*"), key=lambda q: q.relative_to(path).as_posix()):
            if "__pycache__" in p.parts or not (p.is_symlink() or p.is_file()):
                continue
            rel = os.fsencode(p.relative_to(path).as_posix())  # the name's bytes, UTF-8 or not
            if p.is_symlink():  # never read, but named in the submission's note: its name counts
                h.update(b"link" + len(rel).to_bytes(4, "little") + rel)
                continue
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


def is_done(record: dict[str, Any] | None, key: dict[str, Any], out: Path) -> bool:
    if not record or any(record.get(k) != v for k, v in key.items()):
        return False
    path = out / STUDENTS / record["folder"] / FULL
    try:
        load_result(path)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True
