"""Finding the class: the submissions folder or class archive, unpacked safely, and the roster."""

from __future__ import annotations

import re
import shutil
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from grader.classroom.layout import (CONFIG_NAME, ROSTER_NAME, TIMES_NAME, BatchError,
                                     entry_name, folder_name)
from grader.classroom.lms import LmsEntry, read_layout
from grader.classroom.roster import Student
from grader.results.inert import file_name

# A class export is many submissions in one archive: room for a few hundred of them.
CLASS_ARCHIVE_BYTES = 2 * 1024**3
CLASS_ARCHIVE_FILES = 200_000


@dataclass(frozen=True)
class Entry:
    """One student of the class: their submission (None when they have none) and roster row."""

    student: str
    path: Path | None
    folder: str  # their folder under DIR/students
    roster: Student | None = None
    layout: str = ""  # the LMS whose download it came from ("canvas", "moodle", "gradescope")
    lms_submitted: str = ""  # the submission time the LMS's metadata gives (ISO 8601)
    lms_late: bool = False  # the LMS marked it late without saying when (Canvas's LATE)
    # Another submission claims the same student: both are graded, under ids of their own, and
    # this says which (the instructor decides which one counts).
    duplicate: str = ""


def _is_entry(p: Path) -> bool:
    if p.name.startswith((".", "__MACOSX")) or p.is_symlink():
        return False
    from grader.grading.submission import archive_name

    return p.is_dir() or archive_name(p)


def unpack_class(archive: Path, dest: Path) -> tuple[Path, list[str]]:
    """Unpack a class export; returns the folder holding the entries, and the symbolic links the
    archive held (never unpacked).

    Its files' timestamps are not read: they say when the export was made, not when each
    student submitted (``grader.classroom.late`` says where submission times come from).
    """
    from grader.grading.submission import SubmissionError, safe_extract

    shutil.rmtree(dest, ignore_errors=True)
    try:
        links = safe_extract(archive, dest, max_bytes=CLASS_ARCHIVE_BYTES,
                             max_files=CLASS_ARCHIVE_FILES)
    except SubmissionError as exc:
        raise BatchError(f"cannot unpack the class archive: {exc}") from None
    root = dest
    # LMS exports often wrap everything in one folder: look inside it.
    inner = [p for p in dest.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(inner) == 1 and inner[0].is_dir() and not any(inner[0].glob("*.py")) \
            and not any(inner[0].glob("*.ipynb")) \
            and not (inner[0] / "assignments").is_dir():
        root = inner[0]
    return root, links


def _letters(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if c.isalnum())


def match_student(le: LmsEntry, roster: dict[str, Student]) -> Student | None:
    """The roster's student an LMS entry belongs to: by the LMS's id (the roster's lms_id, or
    canvas_id for Canvas, sis_id or student for Gradescope's sid), then by email, then by name
    (Canvas writes "lastfirst", Moodle the full name)."""
    students = list(roster.values())
    for s in students:
        if le.key and le.key in (s.lms_id, s.canvas_id if le.layout == "canvas" else None,
                                 *((s.sis_id, s.student) if le.layout == "gradescope" else ())):
            return s
    if le.email:
        for s in students:
            if s.login and s.login.lower() == le.email.lower():
                return s
    name = _letters(le.name)
    if name:
        for s in students:
            words = s.name.split()
            if name in (_letters(s.name), _letters(" ".join(words[-1:] + words[:-1]))):
                return s
    return None


def _lms_id(le: LmsEntry) -> str:
    """A student the roster does not know: named after the LMS's name and id."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", unicodedata.normalize("NFKD", le.name)
                  .encode("ascii", "ignore").decode()).strip("_").lower()
    return f"{slug}_{le.key}" if slug else le.key


_CLAIMS = "#"  # ada, ada#2, ada#3: submissions claiming the same student


def _claim(entries: dict[str, Entry], sid: str, source: str) -> str:
    """The id a submission is graded under: ``sid``, or where another submission already
    claims that student, ``sid#n`` (both are then marked; neither is refused)."""
    if sid not in entries:
        return sid
    n = 2
    while f"{sid}{_CLAIMS}{n}" in entries:
        n += 1
    return f"{sid}{_CLAIMS}{n}"


def _duplicate(entries: dict[str, Entry], sid: str) -> str:
    """The note of a submission whose student another one claims too; the earlier claims are
    marked as well (``entries`` holds them)."""
    base = sid.split(_CLAIMS)[0]
    if sid == base:
        return ""
    claims = sorted([k for k in entries if k.split(_CLAIMS)[0] == base] + [sid])
    note = (f"{len(claims)} submissions claim student {base!r} ({', '.join(claims)}): "
            "each is graded under its own id; decide which one counts")
    for k in claims:
        if k != sid:
            entries[k] = replace(entries[k], duplicate=note)
    return note


def _refuse_no_archive(submissions: Path) -> None:
    """Raise where the file given as the class is no archive staging reads, saying which."""
    from grader.grading.submission import archive_name, is_archive

    if is_archive(submissions):
        return
    if archive_name(submissions):
        kind = "zip" if submissions.name.lower().endswith(".zip") else "tar"
        raise BatchError(f"{submissions} is not a readable {kind} archive: make it again, or "
                         "give the folder of submissions")
    raise BatchError(f"{submissions} is neither a folder of submissions nor an archive (.zip, "
                     ".tar, .tar.gz) holding them")


def discover(submissions: Path, roster: dict[str, Student], unpack_to: Path
             ) -> tuple[list[Entry], list[str]]:
    """The class: every entry of the submissions folder (or class archive) and every roster
    student. Returns the entries sorted by id and the names that were not entries."""
    if submissions.is_file():
        _refuse_no_archive(submissions)
        folder, links = unpack_class(submissions, unpack_to)
    else:
        folder, links = submissions, []
    by_entry: dict[str, list[Student]] = {}
    for s in roster.values():
        by_entry.setdefault(s.submission, []).append(s)
    entries: dict[str, Entry] = {}
    # A link is someone else's files (a classmate's folder, the course's examples): never read.
    ignored: list[str] = [f"{file_name(n)} (a symbolic link, not followed)" for n in links]
    lms_work = unpack_to / ".lms"  # removed with the unpacked archive when the batch ends
    shutil.rmtree(lms_work, ignore_errors=True)
    taken: set[str] = set()  # names of the download read as an LMS's layout
    for le in read_layout(folder, lms_work):
        student = match_student(le, roster)
        sid = _claim(entries, student.student if student else _lms_id(le), le.sources[0])
        entries[sid] = Entry(sid, le.path, folder_name(sid), student, le.layout,
                             le.submitted, le.late, duplicate=_duplicate(entries, sid))
        taken.update(le.sources)
    for p in sorted(folder.iterdir()):
        if p.name in taken:
            continue
        if p.is_symlink():
            ignored.append(f"{file_name(p.name)} (a symbolic link, not followed)")
            continue
        if not _is_entry(p):
            if p.name not in (ROSTER_NAME, CONFIG_NAME, TIMES_NAME) and not p.name.startswith("."):
                ignored.append(file_name(p.name))
            continue
        name = file_name(entry_name(p.name))  # an id is text: a name's stray bytes as \xNN
        # Roster rows naming the same entry (a pair's one submission): each is graded on it.
        claimants: list[Student | None] = [*by_entry.get(name, [])] or [None]
        for student in claimants:
            sid = _claim(entries, student.student if student else name, p.name)
            entries[sid] = Entry(sid, p, folder_name(sid), student,
                                 duplicate=_duplicate(entries, sid))
    for sid, student in roster.items():
        if sid not in entries:
            entries[sid] = Entry(sid, None, folder_name(sid), student)
    # Two ids sharing an output folder (a plain id spelled like another's slug and hash): the
    # later one takes a folder of its own; nobody's outputs are refused or overwritten.
    seen: set[str] = set()
    for sid, e in sorted(entries.items()):
        own, n = e.folder, 2
        while own in seen:
            own, n = f"{e.folder}-{n}", n + 1
        if own != e.folder:
            entries[sid] = replace(e, folder=own)
        seen.add(own)
    return sorted(entries.values(), key=lambda e: e.student), ignored
