"""The tests of the topics an engine was not told it grades, listed once by a child process.

A submission's result lists every test of every chosen topic, those of a topic not handed in as
"not submitted" (``plugin.not_submitted``). That needs each test's name, points and seed, which
only collecting its file gives, and collecting a file imports it with what it imports: a torch
topic's tests import torch (some 180 MB and 2 s here, several times that with a CUDA build), in
the process that grades and so in every grading child forked from it. Where an engine is told
the topics it grades (``Engine(topics=...)``: a class handing in one assignment), the other
topics' test files are collected once, by a child forked for that alone, which sends back what
``GraderPlugin.choose`` records for each test (``plugin.Listed``) and exits, taking what it
imported with it. Where listing fails (a file that does not collect, a child that does not
answer in time), those topics' files are collected where they are graded, as before.

What a child listed is kept on disk (:func:`cache_folder`), with every file it read: the modules
it had loaded once it was done (the course's test files, what they import, the grader's own) and
every file in the folders of the test files listed; and under a key of what else the listing
depends on (the topics' configurations, the device graded on, the interpreter, the grader's
settings). A later engine of the same key whose files are all as they were (the same size and
modification time; the course's own files, in the test folders and course.toml, the same content
too) takes that listing and starts no child.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import select
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from grader.course import TopicConfig
from grader.grading.plugin import Listed, listing

# Collecting the whole course takes a few seconds; a child still at it after this is stopped.
LISTING_TIMEOUT = 300.0
# The listings kept on disk: the newest this many, the others removed as a new one is written.
KEEP = 16
FORMAT = 1  # of a kept listing: another format is another key


class Listing:
    """A child process listing tests (``start``), and what it sent back (``result``)."""

    def __init__(self, pid: int, fd: int, kept: Path | None = None) -> None:
        self.pid, self.fd = pid, fd
        self.tests: dict[str, list[Listed]] | None = None
        self.kept = kept  # where what the child sends is kept, or None

    @classmethod
    def start(cls, files: list[str], configs: dict[str, TopicConfig],
              prepare: Callable[[list[str]], Any], facts: Any = None,
              watch: Iterable[str] = ()) -> Listing:
        """The tests of ``files`` by topic, for the topics of ``configs`` (``plugin.listing``):
        a listing kept on disk where one of the same key (``files``, ``configs``, ``facts``: what
        else the listing depends on) is still true, else a child forked to collect ``files``
        with ``prepare(files)`` (a ``PreparedSession``, or None where that failed), whose
        listing is then kept, with the files it read and those of ``watch``."""
        kept = _kept_path(files, configs, facts)
        found = _load(kept) if kept is not None else None
        if found is not None:
            taken = cls(0, -1)
            taken.tests = found
            return taken
        read_end, write_end = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(read_end)
                from grader.isolation.sandbox import die_with_parent

                if not die_with_parent(parent):
                    os._exit(code)
                null = os.open(os.devnull, os.O_WRONLY)  # a course file's warnings, pytest's
                os.dup2(null, 1)
                os.dup2(null, 2)
                prepared = prepare(files)
                if prepared is not None:
                    tests = listing(prepared.session.items, configs)
                    payload = json.dumps({
                        "tests": {t: [dataclasses.asdict(x) for x in v] for t, v in tests.items()},
                        "files": _read_files(files, watch) if kept is not None else []}).encode()
                    with os.fdopen(write_end, "wb") as f:
                        f.write(payload)
                    code = 0
            except BaseException:  # noqa: BLE001 - the engine collects those files where it grades
                pass
            finally:
                os._exit(code)
        os.close(write_end)
        return cls(pid, read_end, kept)

    def result(self, timeout: float = LISTING_TIMEOUT) -> dict[str, list[Listed]]:
        """The tests the child listed, once it has ended; {} where it failed or took longer
        than ``timeout``."""
        if self.tests is None:
            data = _read(self.fd, time.monotonic() + timeout)
            status = self._end(kill=data is None)
            self.tests = {}
            if data is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
                try:
                    sent = json.loads(data)
                    self.tests = _tests(sent["tests"])
                except (ValueError, TypeError, AttributeError, KeyError):
                    self.tests = {}
                else:
                    if self.kept is not None and sent.get("files"):
                        _keep(self.kept, sent)
        return self.tests

    def close(self) -> None:
        """Stop the child if it is still at work."""
        if self.tests is None:
            self.tests = {}
            self._end(kill=True)

    def _end(self, kill: bool) -> int:
        if self.fd < 0:  # a listing kept on disk: no child
            return 0
        os.close(self.fd)
        if kill:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return os.waitpid(self.pid, 0)[1]


def _read(fd: int, deadline: float) -> bytes | None:
    """All ``fd`` gives until its end; None at ``deadline``."""
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


# ----------------------------------------------------------------------------- kept on disk


def cache_folder() -> Path | None:
    """Where listings are kept: ``$GRADER_CACHE`` (``off``: nowhere), else ``grader`` in the
    user's cache folder (``$XDG_CACHE_HOME``, or ``~/.cache``)."""
    where = os.environ.get("GRADER_CACHE", "")
    if where == "off":
        return None
    if where:
        return Path(where)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "grader"


def _kept_path(files: list[str], configs: dict[str, TopicConfig], facts: Any) -> Path | None:
    folder = cache_folder()
    if folder is None:
        return None
    settings = {k: v for k, v in os.environ.items()
                if k.startswith("GRADER_") or k in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    key = json.dumps({"format": FORMAT, "python": sys.version, "executable": sys.executable,
                      "path": sys.path, "files": files,
                      "configs": {t: dataclasses.asdict(c) for t, c in sorted(configs.items())},
                      "facts": facts, "settings": settings}, sort_keys=True, default=repr)
    return folder / f"listing-{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def _read_files(files: list[str], watch: Iterable[str]) -> list[list[Any]]:
    """In the child, once it listed: every module file it has loaded, with its size and
    modification time; and every file under the folders of ``files``, and ``watch``, with their
    contents' digest too (the course's own, which a teacher edits, maybe twice within the
    clock's tick, to the same size)."""
    mine: set[str] = set(watch)
    for folder in {os.path.dirname(os.path.abspath(f)) for f in files}:
        for root, dirs, names in os.walk(folder):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            mine.update(os.path.join(root, n) for n in names)
    loaded = {f for m in list(sys.modules.values())
              if isinstance(f := getattr(m, "__file__", None), str)} - mine
    out = [[p, *stat, None] for p in sorted(loaded) if (stat := _stat(p)) is not None]
    return out + [[p, *stat, _digest(p)] for p in sorted(mine) if (stat := _stat(p)) is not None]


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _digest(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _as_it_was(path: str, size: int, mtime: int, digest: str | None) -> bool:
    return _stat(path) == (size, mtime) and (digest is None or _digest(path) == digest)


def _tests(sent: Any) -> dict[str, list[Listed]]:
    return {str(t): [Listed(**x) for x in v] for t, v in sent.items()}


def _load(path: Path) -> dict[str, list[Listed]] | None:
    """The listing kept at ``path``, where every file it was read from is as it was; else None."""
    try:
        kept = json.loads(path.read_text())
        if not all(_as_it_was(*f) for f in kept["files"]):
            return None
        return _tests(kept["tests"])
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return None


def _keep(path: Path, sent: dict[str, Any]) -> None:
    """Write the listing a child sent at ``path`` (whole, or not at all), and remove the oldest
    of the folder's beyond ``KEEP``. Nothing is kept where the folder cannot be written. The
    user's alone (a folder of mode 0700, files of 0600): it names the hidden tests."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".listing-", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(sent, f)
        os.replace(tmp, path)
        kept = sorted(path.parent.glob("listing-*.json"), key=lambda p: p.stat().st_mtime_ns)
        for old in kept[:-KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
