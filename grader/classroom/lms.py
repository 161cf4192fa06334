"""Reading the layouts LMSs download a class's submissions in: Canvas, Moodle and Gradescope.

Each layout names the student in its own way; this module turns a layout into one folder or
.zip per student, keyed by the LMS's id of the student, and leaves matching them to the roster
to discovery. A folder that holds none of these layouts is read as one entry per student.

- Canvas (bulk "Download Submissions"): flat files ``<name>_<user id>_<attachment id>_<file>``,
  ``<name>_LATE_<user id>_<attachment id>_<file>`` for a late one; a file submitted again gets
  ``-1``, ``-2`` before its suffix.
- Moodle ("Download all submissions"): a folder per student and plugin,
  ``<Full Name>_<participant id>_assignsubmission_file_/`` (``_onlinetext_`` for online text).
- Gradescope ("Export Submissions"): ``submission_metadata.yml`` beside a folder
  ``submission_<id>/`` per submission; the metadata names its submitters (name, sid, email)
  and when it was submitted (``:created_at:``).

The files' own modification times are never a submission time: a download writes them when it
is made. Only the LMS's metadata says when (Gradescope) or whether (Canvas's ``LATE``) a
submission was late; Moodle's download says neither.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

CANVAS = re.compile(r"^(?P<name>[^_\d]*?)_?(?P<late>LATE_)?(?P<id>\d+)_(?P<sub>\d+)_(?P<file>.+)$")
MOODLE = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?$")
GRADESCOPE_METADATA = "submission_metadata.yml"


@dataclass(frozen=True)
class LmsEntry:
    """One student's submission as an LMS delivered it."""

    layout: str  # "canvas" | "moodle" | "gradescope"
    key: str  # the LMS's id of the student: Canvas user id, Moodle participant id, Gradescope sid
    name: str  # the name as the LMS wrote it
    path: Path  # the folder or .zip to grade
    email: str = ""
    late: bool = False  # the LMS marked it late (Canvas)
    submitted: str = ""  # ISO 8601 submission time from the LMS's metadata (Gradescope)
    sources: tuple[str, ...] = ()  # the names in the download it was made from


def read_layout(folder: Path, work: Path) -> list[LmsEntry]:
    """The LMS entries of ``folder`` (none when it is one plain entry per student); files are
    copied under ``work`` where a layout has to be regrouped into a folder per student."""
    if (folder / GRADESCOPE_METADATA).is_file():
        return _gradescope(folder)
    items = [p for p in sorted(folder.iterdir())
             if not p.name.startswith((".", "__MACOSX")) and not p.is_symlink()]
    return [*_moodle([p for p in items if p.is_dir()], work / "moodle"),
            *_canvas([p for p in items if p.is_file()], work / "canvas")]


def _single_archive(folder: Path) -> Path:
    """A folder holding only one archive stands for it (never a link to one: staging then
    names the link, and reads nothing through it)."""
    from grader.grading.submission import archive_name  # staging's own list

    files = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(files) == 1 and files[0].is_file() and not files[0].is_symlink() and \
            archive_name(files[0]):
        return files[0]
    return folder


def _canvas(files: list[Path], work: Path) -> list[LmsEntry]:
    groups: dict[str, list[tuple[Path, str, bool, str]]] = {}
    for p in files:
        m = CANVAS.match(p.name)
        if m:
            groups.setdefault(m["id"], []).append((p, m["file"], bool(m["late"]), m["name"]))
    out = []
    for key, members in groups.items():
        dest = work / key
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for p, original, _late, _name in members:
            shutil.copy2(p, dest / original)  # copy2: the file's time is the submission's
        out.append(LmsEntry("canvas", key, members[0][3], _single_archive(dest),
                            late=any(m[2] for m in members),
                            sources=tuple(m[0].name for m in members)))
    return out


def _moodle(folders: list[Path], work: Path) -> list[LmsEntry]:
    groups: dict[str, list[tuple[Path, str]]] = {}
    for p in folders:
        m = MOODLE.match(p.name)
        if m:
            groups.setdefault(m["id"], []).append((p, m["name"]))
    out = []
    for key, members in groups.items():
        if len(members) == 1:
            path = _single_archive(members[0][0])
        else:  # files and online text: one folder with both
            path = work / key
            shutil.rmtree(path, ignore_errors=True)
            for p, _ in members:
                shutil.copytree(p, path, dirs_exist_ok=True, symlinks=True)
            path = _single_archive(path)
        out.append(LmsEntry("moodle", key, members[0][1], path,
                            sources=tuple(p.name for p, _ in members)))
    return out


def _gradescope(folder: Path) -> list[LmsEntry]:
    out = []
    times = read_gradescope_times(folder / GRADESCOPE_METADATA)
    for sub, submitters in read_gradescope_metadata(folder / GRADESCOPE_METADATA).items():
        path = folder / sub
        if not path.is_dir() or path.is_symlink():
            continue
        for s in submitters:  # each member of a group submission is graded on it
            out.append(LmsEntry("gradescope", s.get("sid") or s.get("email") or sub,
                                s.get("name", ""), _single_archive(path),
                                email=s.get("email", ""), sources=(sub,),
                                submitted=times.get(sub, "")))
    return out


def read_gradescope_metadata(path: Path) -> dict[str, list[dict[str, str]]]:
    """submission_metadata.yml: per submission folder, its submitters' name, sid and email.

    Only the few keys needed are read, line by line, so no YAML library is needed at run time:
    the file is Ruby-flavoured YAML (``:name:`` keys) written by Gradescope in one fixed shape.
    """
    out: dict[str, list[dict[str, str]]] = {}
    current: list[dict[str, str]] | None = None
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if raw and not raw[0].isspace() and raw.rstrip().endswith(":"):
            current = out.setdefault(raw.rstrip()[:-1].strip("'\""), [])
            continue
        line = raw.strip()
        m = re.match(r"^(-\s+)?:(name|sid|email):\s*(.*)$", line)
        if current is None or not m:
            continue
        if m[1] or not current:
            current.append({})
        current[-1][m[2]] = m[3].strip().strip("'\"")
    return out


_GRADESCOPE_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.\d+)?\s*"
                              r"(Z|UTC|[+-]\d\d:?\d\d)?$")


def read_gradescope_times(path: Path) -> dict[str, str]:
    """submission_metadata.yml: per submission folder, its ``:created_at:`` as ISO 8601 text
    (Gradescope writes ``2026-03-01 12:00:00.123456000 -08:00``); a time that cannot be read
    is left out, never guessed."""
    out: dict[str, str] = {}
    current = ""
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if raw and not raw[0].isspace() and raw.rstrip().endswith(":"):
            current = raw.rstrip()[:-1].strip("'\"")
            continue
        m = re.match(r"^\s+:created_at:\s*(.*)$", raw)
        if not current or not m:
            continue
        t = _GRADESCOPE_TIME.match(m[1].strip().strip("'\""))
        if t:
            offset = t[3] or ""
            if offset in ("Z", "UTC"):
                offset = "+00:00"
            elif offset and ":" not in offset:
                offset = offset[:3] + ":" + offset[3:]
            out[current] = f"{t[1]}T{t[2]}{offset}"
    return out
