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
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import time
from typing import Any, Callable

from grader.course import TopicConfig
from grader.grading.plugin import Listed, listing

# Collecting the whole course takes a few seconds; a child still at it after this is stopped.
LISTING_TIMEOUT = 300.0


class Listing:
    """A child process listing tests (``start``), and what it sent back (``result``)."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd = pid, fd
        self.tests: dict[str, list[Listed]] | None = None

    @classmethod
    def start(cls, files: list[str], configs: dict[str, TopicConfig],
              prepare: Callable[[list[str]], Any]) -> Listing:
        """Fork the child that collects ``files`` with ``prepare(files)`` (a
        ``PreparedSession``, or None where that failed) and sends back their tests by topic,
        for the topics of ``configs`` (``plugin.listing``)."""
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(read_end)
                from grader.isolation.sandbox import die_with_parent

                die_with_parent()
                null = os.open(os.devnull, os.O_WRONLY)  # a course file's warnings, pytest's
                os.dup2(null, 1)
                os.dup2(null, 2)
                prepared = prepare(files)
                if prepared is not None:
                    tests = listing(prepared.session.items, configs)
                    payload = json.dumps({t: [dataclasses.asdict(x) for x in v]
                                          for t, v in tests.items()}).encode()
                    with os.fdopen(write_end, "wb") as f:
                        f.write(payload)
                    code = 0
            except BaseException:  # noqa: BLE001 - the engine collects those files where it grades
                pass
            finally:
                os._exit(code)
        os.close(write_end)
        return cls(pid, read_end)

    def result(self, timeout: float = LISTING_TIMEOUT) -> dict[str, list[Listed]]:
        """The tests the child listed, once it has ended; {} where it failed or took longer
        than ``timeout``."""
        if self.tests is None:
            data = _read(self.fd, time.monotonic() + timeout)
            status = self._end(kill=data is None)
            self.tests = {}
            if data is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
                try:
                    self.tests = {t: [Listed(**x) for x in v]
                                  for t, v in json.loads(data).items()}
                except (ValueError, TypeError, AttributeError):
                    pass
        return self.tests

    def close(self) -> None:
        """Stop the child if it is still at work."""
        if self.tests is None:
            self.tests = {}
            self._end(kill=True)

    def _end(self, kill: bool) -> int:
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
