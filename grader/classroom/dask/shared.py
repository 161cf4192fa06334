"""What the client, the Dask worker and the engine host share: how a submission and the course
travel (as zipped bytes, unpacked within limits), the version both ends must run, the errors."""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Sequence
from pathlib import Path

import grader
from grader.classroom.layout import BatchError
from grader.course import Course
from grader.environment import environment_files
from grader.grading.submission import LEFT_OUT, put_back_links, safe_extract
from grader.results.inert import file_name
from grader.results.model import SCHEMA_VERSION

HOST_START_SECONDS = 600.0  # importing torch and the references on a busy node can be slow
# A student's folder travels whole; these bound what a worker unpacks from it.
FOLDER_BYTES = 2 * 1024**3
FOLDER_FILES = 200_000
# Left out of the course sent to workers: they check the tests, they are not needed to grade.
COURSE_SKIPPED = {"mutants", "alternatives", "__pycache__"}


class DistributedError(BatchError):
    """The cluster cannot be reached or cannot grade; the message says what to do."""


class HostLost(Exception):
    """The engine host on a worker ended while grading; the task is tried again."""



# ---------------------------------------------------------------------------------- packing


def pack_submission(path: Path) -> tuple[bytes, bool]:
    """A submission as bytes: an archive (or any file) as it is, a folder zipped here.

    Returns ``(data, is_folder)``. A folder's links travel as links to nothing, so that the
    worker's staging names them as a local one does (it never reads what they point at).
    Files over 1 MiB are stored rather than deflated so that the unpacking side's zip-bomb
    check (a ratio on files of that size) never refuses a folder that grades locally.
    """
    if not path.is_dir():
        return path.read_bytes(), False
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", strict_timestamps=False) as zf:
        for p in sorted(path.rglob("*")):  # rglob does not enter linked folders
            # A zip's names are UTF-8: a name's stray bytes travel as \xNN, as notes show them.
            rel = file_name(p.relative_to(path).as_posix())
            if p.is_symlink():  # sent as a link to nothing: the worker's staging names it
                info = zipfile.ZipInfo(rel)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, LEFT_OUT)
                continue
            if p.is_dir():
                zf.writestr(rel + "/", b"")
            elif p.is_file():
                big = p.stat().st_size > 1 << 20
                zf.write(p, rel, compress_type=zipfile.ZIP_STORED if big else zipfile.ZIP_DEFLATED)
    return buf.getvalue(), True


def unpack_submission(filename: str, data: bytes, is_folder: bool, dest: Path) -> Path:
    """Rebuild on a worker what ``pack_submission`` packed, under its own name in ``dest``."""
    name = Path(filename).name
    if name in ("", ".", ".."):
        name = "submission"
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / name
    if not is_folder:
        target.write_bytes(data)
        return target
    archive = dest / ".transfer.zip"
    archive.write_bytes(data)
    try:
        links = safe_extract(archive, target, max_bytes=FOLDER_BYTES, max_files=FOLDER_FILES)
    finally:
        archive.unlink()
    put_back_links(target, links)
    return target


def pack_course(course: Course, topics: Sequence[str] | None = None) -> bytes:
    """The chosen topics' public and secret folders (tests, references, grading.toml) as a zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, strict_timestamps=False) as zf:
        for topic in topics or course.topics():
            for room in (course.assignments, course.reference):
                folder = room / topic
                if not folder.is_dir():
                    continue
                for p in sorted(folder.rglob("*")):
                    rel = p.relative_to(folder)
                    if p.is_symlink() or not p.is_file() or COURSE_SKIPPED & set(rel.parts):
                        continue
                    zf.write(p, f"{room.name}/{topic}/{rel.as_posix()}")
        for rel in environment_files(course):  # each worker checks the same environment
            zf.write(course.root / rel, rel.as_posix())
    return buf.getvalue()


def grader_version() -> str:
    """The grader's version and results schema: what the client and its workers must share."""
    return f"{grader.__version__} (results schema {SCHEMA_VERSION})"

