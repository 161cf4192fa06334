"""The class pages' versions on disk, and a file of the current one served whole.

Every rebuild writes a complete folder of its own under ``class/.versions/<assignment>/`` and
switches to it by renaming a symlink, ``class/<assignment>``, over the last one (a rename is
atomic, on a network file system too), so the overview and the pages it links are always of
one rebuild. A version replaced more than GRACE_SECONDS ago is removed: no request still reads
it (a request resolves the version once, then reads one file through a descriptor it opened).

A version's name says when it was made, how many gradings of the assignment the database held
when its snapshot was read, and whether the submissions were compared for similarity for it:
``<ns>-<gradings>-<c|n>``. The dispatcher that rebuilds reads them to know what is due."""

from __future__ import annotations

import os
import re
import shutil
import stat
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

VERSIONS = ".versions"
GRACE_SECONDS = 60.0  # a replaced version is kept this long for the requests still reading it
CHUNK = 256 * 1024
_NAME = re.compile(r"(\d+)-(\d+)-([cn])")


@dataclass(frozen=True)
class Version:
    path: Path
    made_ns: int  # when it was made (wall clock; 0: a class folder from before versions)
    gradings: int  # the assignment's gradings in the database when its snapshot was read
    compared: bool  # its similarity pairs are of its own submissions


def _parse(path: Path) -> Version | None:
    m = _NAME.fullmatch(path.name)
    return Version(path, int(m[1]), int(m[2]), m[3] == "c") if m else None


def folder_of(link: Path) -> Path:
    """Where the versions of the class folder ``link`` live."""
    return link.parent / VERSIONS / link.name


def current(link: Path) -> Version | None:
    """The version ``link`` points to; a real folder (written before versions) counts as one
    made at time 0, never compared."""
    if link.is_symlink():
        return _parse(link.parent / os.readlink(link))
    if link.is_dir():
        return Version(link, 0, -1, False)
    return None


def new_folder(link: Path, gradings: int, compared: bool) -> Path:
    """An empty folder for the next version."""
    folder = folder_of(link) / f"{time.time_ns()}-{gradings}-{'c' if compared else 'n'}"
    folder.mkdir(parents=True)
    return folder


def switch(link: Path, folder: Path) -> None:
    """Make ``folder`` the current version: a new symlink renamed over the old one."""
    tmp = link.parent / f".{link.name}.{os.getpid()}.link"
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(folder, link.parent), tmp)
    if link.is_dir() and not link.is_symlink():
        # A class folder from before versions: kept as the oldest version, removed later. The
        # class pages are missing for the moment between the two renames, once.
        os.rename(link, folder_of(link) / "0-0-n")
    os.replace(tmp, link)


def prune(link: Path, grace: float | None = None) -> list[Path]:
    """Remove the versions replaced more than ``grace`` seconds (GRACE_SECONDS) ago (a version
    is replaced when the next one is made), and what a rebuild stopped half-way left; the paths
    removed."""
    grace = GRACE_SECONDS if grace is None else grace
    ours = current(link)
    found = sorted((v for p in _listed(folder_of(link)) if (v := _parse(p)) is not None),
                   key=lambda v: v.made_ns)
    limit = time.time_ns() - int(grace * 1e9)
    removed = []
    for older, newer in zip(found, found[1:]):
        if ours is not None and older.path.name == ours.path.name:
            continue
        if newer.made_ns < limit:
            shutil.rmtree(older.path, ignore_errors=True)
            removed.append(older.path)
    return removed


def _listed(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


# -------------------------------------------------------------------------- the web process


def open_file(link: Path, rel: str) -> tuple[int, Path] | None:
    """A descriptor of the file ``rel`` of the current version of ``link``, and its path; None
    where there is none (nothing built yet, outside the folder, a hidden file or folder). The
    version is resolved once: the file is then read from that version whole."""
    for _ in range(3):  # a version removed between resolving and opening: resolve again
        base = Path(os.path.realpath(link))
        try:  # a NUL or an overlong name is no file of the folder, not an error of the server
            target = Path(os.path.realpath(base / rel))
        except (OSError, ValueError):
            return None
        if base not in target.parents or any(p.startswith(".")
                                             for p in target.relative_to(base).parts):
            return None
        try:
            fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            continue
        except OSError:
            return None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        return fd, target
    return None


class DescriptorResponse(Response):
    """A file sent from a descriptor opened before the response began: its length is the
    descriptor's (fstat), and what is sent is that file's bytes, whatever is renamed or removed
    meanwhile. The descriptor is closed once sent (or when the response is dropped unsent)."""

    def __init__(self, fd: int, *, media_type: str, headers: Mapping[str, str]) -> None:
        self.fd = fd
        self.size = os.fstat(fd).st_size
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers({**headers, "content-length": str(self.size)})
        self._close = weakref.finalize(self, os.close, fd)  # the last step: it owns fd now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            if scope.get("method") == "HEAD":
                return
            offset = 0
            while offset < self.size:
                chunk = await anyio.to_thread.run_sync(
                    os.pread, self.fd, min(CHUNK, self.size - offset), offset)
                if not chunk:  # never: a version's files are not written once switched to
                    raise OSError(f"the file ended at {offset} of its {self.size} bytes")
                offset += len(chunk)
                await send({"type": "http.response.body", "body": chunk,
                            "more_body": offset < self.size})
            if self.size == 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._close()
