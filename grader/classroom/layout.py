"""The batch folder's layout: the names batch, regrades and exams share, and the batch's error."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from pathlib import Path

from grader.errors import GraderError

STATE = "batch.json"
LOG = "batch.log"
INDEX = "index.html"
STUDENTS = "students"
UNPACKED = ".unpacked"  # where a class archive is unpacked, inside the batch folder
ROSTER_NAME = "roster.csv"  # used from the submissions folder when --roster is not given
CONFIG_NAME = "batch.toml"  # likewise for --config
TIMES_NAME = "times.csv"  # submission times (student,submitted_at), read from the same folder


class BatchError(GraderError):
    """The batch cannot start or go on; the message says what was found and how to fix it."""


def entry_name(name: str) -> str:
    """A submission's name without its archive's suffix (.zip, .tar.gz, …)."""
    from grader.grading.submission import ARCHIVE_SUFFIXES  # staging's own list

    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return name


_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,79}")


def folder_name(student: str) -> str:
    """A folder name for a student id: the id itself when it is plain, else a slug and a hash."""
    if _SAFE.fullmatch(student) and student not in (STUDENTS, UNPACKED):
        return student
    slug = re.sub(r"[^A-Za-z0-9._@+-]+", "_", student).strip("._-")[:40] or "student"
    return f"{slug}-{hashlib.sha256(student.encode()).hexdigest()[:8]}"


def read_table(path: Path, what: str, error: type[Exception]
               ) -> tuple[csv.DictReader[str], dict[str, str]]:
    """An instructor's CSV file (roster, times, overrides): its rows and its header, lower-cased
    and stripped, mapped to the header as written. A file that cannot be read, or is not UTF-8
    (a spreadsheet's BOM is fine), raises ``error`` naming ``what`` it is."""
    try:  # line breaks as written: a quoted cell keeps its own (a line break in a name)
        with path.open(encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except OSError as exc:
        raise error(f"cannot read the {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise error(f"the {what} {path} is not UTF-8 text; save it as CSV UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return reader, {(h or "").strip().lower(): h for h in reader.fieldnames or []}
