"""Uploads: checked as ``grader grade`` stages them, then kept byte for byte by their content
(uploads/<sha256[:2]>/<sha256> under the state folder), so every grade can be recomputed."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from grader.errors import GraderError
from grader.grading.submission import (MAX_ARCHIVE_BYTES, SEVERAL, SKIPPED, SubmissionError,
                                       is_untouched_stub, single_file_topic, stage)
from grader.results.inert import file_name

SUFFIXES = (".py", ".ipynb", ".zip")
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_ .()-]{0,150}")
UPLOADS = "uploads"


class UploadRefused(GraderError):
    """An upload that cannot be graded; the message tells the student what to change."""


@dataclass(frozen=True)
class Checked:
    """An upload that can be graded: its bytes' hash and the name it is graded under."""

    sha256: str
    name: str  # <topic>.py, <topic>.ipynb or submission.zip: what the engine is handed
    filename: str  # as the student named it, printable
    topics: tuple[str, ...]  # the assignment's topics found in it
    # topic -> the path in the zip of the file graded as it ("" for a lone file): each topic
    # the upload holds, an unreadable notebook's included
    members: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Part:
    """One topic's file of a submission made of several uploads: the upload that holds it, and
    where in it (``member``: its path in that zip; "" where the upload is the file)."""

    topic: str
    name: str  # as the engine sees it: <topic>.py or <topic>.ipynb
    sha256: str
    member: str


MAX_NAME = 200  # characters of an uploaded file's name


def _base(raw: str) -> str:
    return raw.replace("\\", "/").rsplit("/", 1)[-1]


def display_name(raw: str) -> str:
    """The uploaded file's own name (no folders), printable, at most MAX_NAME characters (a
    longer one shortened in the middle, so that its end and suffix still show)."""
    base = "".join(c if c.isprintable() else "?" for c in file_name(_base(raw)))
    if len(base) > MAX_NAME:
        base = base[:MAX_NAME - 41] + "…" + base[-40:]
    return base or "upload"


def check(data: bytes, raw_name: str, topics: list[str],
          stub: Callable[[str], Path] | None = None) -> Checked:
    """Whether ``data``, uploaded as ``raw_name`` for an assignment of ``topics``, can be graded:
    staged exactly as the engine will stage it (a zip's limits, links, bombs; notebooks read,
    never run), in a folder of its own that is removed afterwards; with ``stub`` (a topic's
    handed-out stub), refused where it holds nothing to grade (``_refuse_nothing_to_grade``)."""
    shown = display_name(raw_name)
    suffix = Path(shown).suffix.lower()
    if len(_base(raw_name)) > MAX_NAME:
        raise UploadRefused(f"{shown}: the file's name is {len(_base(raw_name))} characters long, "
                            f"more than the {MAX_NAME} allowed: rename it "
                            f"({_expected(topics, suffix if suffix in SUFFIXES else '.py')}, or "
                            "a short name ending in .zip)")
    if suffix not in SUFFIXES:
        raise UploadRefused(f"{shown}: upload a .py, .ipynb or .zip file")
    with tempfile.TemporaryDirectory(prefix="grader-upload-") as tmp:
        if suffix == ".zip":
            name = "submission.zip"
            if not zipfile.is_zipfile(io.BytesIO(data)):
                raise UploadRefused(f"{shown} is not a readable zip archive: make it again "
                                    "(zip your files, or upload one <topic>.py)")
        else:
            # Only a plain name can be a topic's (or a browser's copy of one, "x (1).py").
            plain = shown if SAFE_NAME.fullmatch(shown) else f"upload{suffix}"
            topic = single_file_topic(_written(Path(tmp) / plain, data), topics)
            if topic is None:
                raise UploadRefused(f"{shown} is not named after a topic of this assignment: "
                                    f"name it {_expected(topics, suffix)}")
            name = f"{topic}{suffix}"
        path = _written(Path(tmp) / "in" / name, data)
        try:
            staged = stage(path, Path(tmp) / "staged", topics)
        except SubmissionError as exc:
            raise UploadRefused(_named(str(exc), path, shown)) from None
        found = tuple(t for t in topics if staged.module(t) is not None)
        unreadable = {t: nb.unreadable for t, nb in staged.notebooks.items() if nb.unreadable}
        if not found:
            if unreadable:
                topic, why = next(iter(unreadable.items()))
                where = (f"{topic}.ipynb in {shown}" if suffix == ".zip" else shown)
                raise UploadRefused(f"unreadable notebook {where} ({why}): save it again "
                                    "from Jupyter and upload it once more")
            several = next((f"{t}: {n}" for t, ns in staged.notes.items() for n in ns
                            if n.startswith(SEVERAL)), None)
            raise UploadRefused(f"{shown}: {several}" if several else
                                f"{shown} holds no module of this assignment (expected "
                                f"{_expected(topics, '.py')})")
        members = {t: ("" if suffix != ".zip" else m) for t, m in staged.sources.items()}
        if stub is not None:
            _refuse_nothing_to_grade(shown, suffix, staged, found, stub)
    return Checked(hashlib.sha256(data).hexdigest(), name, shown, found, members)


def _expected(topics: Sequence[str], suffix: str) -> str:
    """Every name the assignment takes, in full: 'a.py', 'a.py or b.py', 'a.py, b.py or c.py'."""
    names = [t + suffix for t in topics]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _refuse_nothing_to_grade(shown: str, suffix: str, staged: Any, found: Sequence[str],
                             stub: Callable[[str], Path]) -> None:
    """Refuse an upload whose every topic file is empty, not text, or the handed-out stub as
    it was released (grading it would cost a grading of the day for a 0), saying which."""
    why = {}
    for t in found:
        module = staged.module(t)
        data = module.read_bytes() if module is not None else b""
        where = shown if suffix != ".zip" else f"{t}.py in {shown}"
        if not data.strip():
            why[t] = f"{where} is empty: upload the file with your work in it"
        elif b"\0" in data or not _utf8(data):
            why[t] = (f"{where} is not a text file (Python source in UTF-8): upload the .py "
                      "file itself")
        elif is_untouched_stub(module, stub(t)):
            why[t] = (f"{where} is the stub as it was handed out, unchanged: write your "
                      "solution in it first")
    if why and len(why) == len(found):
        raise UploadRefused("; ".join(why.values()) + " (this upload was not counted)")


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _named(message: str, path: Path, shown: str) -> str:
    """Staging's message about the file it was handed, naming it as the student did: the
    engine's copy is named after the topic or submission.zip, which the student never chose."""
    message = message.replace(str(path), shown)
    if message.startswith(path.name):
        message = shown + message[len(path.name):]
    return message


def _written(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def stored_path(state: Path, sha256: str) -> Path:
    return state / UPLOADS / sha256[:2] / sha256


def keep(state: Path, data: bytes, sha256: str) -> Path:
    """Write the bytes under their hash (once: the same bytes uploaded twice are one file),
    synced to disk before the upload is recorded as accepted."""
    target = stored_path(state, sha256)
    if target.is_file() and target.stat().st_size == len(data):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def materialise(state: Path, sha256: str, name: str, folder: Path,
                parts: Sequence[Part] = ()) -> Path:
    """A copy of an upload named as the engine must see it (``name``), in ``folder``; or, given
    ``parts`` (a submission made of several uploads), a folder of them that the engine stages
    as it stages any: each topic's file, byte for byte from its upload, in a folder of the
    topic's name, with the Python files beside it in its zip (the helpers staging takes along;
    never another topic's module)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not parts:
        target = folder / name
        shutil.copyfile(stored_path(state, sha256), target)
        return target
    root = folder / "submission"
    modules = {f"{p.topic}.py" for p in parts}
    for p in parts:
        into = root / p.topic
        into.mkdir(parents=True, exist_ok=True)
        if not p.member:
            shutil.copyfile(stored_path(state, p.sha256), into / p.name)
            continue
        with zipfile.ZipFile(stored_path(state, p.sha256)) as z:
            entries = {PurePosixPath(i.filename).as_posix(): i for i in z.infolist()
                       if not i.is_dir()}
            wanted = PurePosixPath(p.member)
            _extract(z, entries[wanted.as_posix()], into / p.name)
            for key, info in entries.items():
                at = PurePosixPath(key)
                if at.parent == wanted.parent and at.suffix == ".py" and at != wanted and \
                        at.name not in modules and at.name not in SKIPPED and \
                        not at.name.startswith("test_"):
                    _extract(z, info, into / at.name)
    return root


def _extract(z: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    """One file of a zip that was checked when it was uploaded, read within the archive limit
    all the same (the zip's header is not trusted for the size)."""
    written = 0
    with z.open(info) as src, open(target, "wb") as out:
        while chunk := src.read(1 << 16):
            written += len(chunk)
            if written > MAX_ARCHIVE_BYTES:
                raise UploadRefused(f"{info.filename} unpacks to more than "
                                    f"{MAX_ARCHIVE_BYTES // 2**20} MB")
            out.write(chunk)
