"""One pytest session over the whole course, configured and collected once by the engine.

Before its first test, a grading session spends most of its own time on pytest: reading its
options, loading its plugins and collecting the test files. The engine does that once
(:meth:`PreparedSession.prepare`) and never runs the session itself. Each grading child, forked
from the engine, takes the submission's tests from it, runs pytest's run loop over them,
finishes the session and exits (:meth:`PreparedSession.run`). Every child starts from the same
untouched copy, so nothing of one submission reaches the next.

Where the session cannot be prepared (a test file that does not collect, or a pytest whose
internals differ from those used here), :meth:`prepare` returns None and each child runs a
whole pytest session of its own instead.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import sys
import traceback
from collections.abc import Iterator
from typing import Any, TextIO

from grader.grading.plugin import GraderPlugin, RunConfig, describe_items, register_markers

# pytest's exit statuses (pytest.ExitCode)
OK, TESTS_FAILED, INTERRUPTED, INTERNAL_ERROR = 0, 1, 2, 3


@contextlib.contextmanager
def course_markers() -> Iterator[tuple[type[BaseException], ...]]:
    """While the course's test modules are imported outside a grading session: the markers they
    use (``points``, ``timeout``, ``gpu``, ``visibility``) are known to whatever pytest configuration is active.

    The engine may run inside another pytest session (the grader's own tests, a course's CI),
    whose ``--strict-markers`` makes ``pytest.mark.points`` raise at import time. pytest keeps the
    active configuration on its mark generator; registering the markers there is what a plugin's
    ``pytest_configure`` would have done. Yields the exceptions a test module's import may raise
    that are not ``Exception``s (pytest's outcomes: ``skip``/``fail`` at module level), so the
    caller can treat them as a module that does not import.
    """
    import pytest
    from _pytest.outcomes import OutcomeException

    config = getattr(pytest.mark, "_config", None)
    if config is not None:
        known = {line.split("(")[0].split(":")[0].strip() for line in config.getini("markers")}
        if not {"points", "timeout", "gpu", "visibility"} <= known:
            register_markers(config)
    yield (OutcomeException,)


class _Forward:
    """pytest's terminal output, sent wherever ``target`` points: nowhere in the engine, the
    grading log in a child. pytest binds its terminal writer to one stream for good when it
    configures, which here is long before any child exists."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self) -> None:
        self.target: TextIO | None = None

    def write(self, text: str) -> int:
        return self.target.write(text) if self.target is not None else len(text)

    def flush(self) -> None:
        if self.target is not None:
            self.target.flush()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


class PreparedSession:
    """A configured pytest session with the tests of some files collected, not yet run."""

    def __init__(self, files: list[str], config: Any, session: Any, plugin: GraderPlugin,
                 out: _Forward) -> None:
        self.files = frozenset(os.path.realpath(f) for f in files)
        self.config = config
        self.session = session
        self.plugin = plugin
        self.out = out
        self.by_file: dict[str, list[Any]] = {}  # real path of a test file -> its items
        for item in session.items:
            self.by_file.setdefault(os.path.realpath(item.path), []).append(item)
            # Worked out once here rather than in every child (pytest caches it on the item):
            # each test's start and report read it.
            item.location  # noqa: B018
        describe_items(session.items)

    @classmethod
    def prepare(cls, files: list[str], options: list[str],
                plugins: list[Any]) -> PreparedSession | None:
        """Configure pytest with ``options`` and collect ``files``; None when that fails or a
        file does not collect cleanly. ``plugins`` hold one GraderPlugin."""
        try:
            from _pytest.config import _prepareconfig
            from _pytest.main import Session
        except ImportError:
            return None
        plugin = next(p for p in plugins if isinstance(p, GraderPlugin))
        out = _Forward()
        saved = sys.stdout
        sys.stdout = out  # type: ignore[assignment]  # the terminal writer binds to it
        config = None
        try:
            config = _prepareconfig([*files, *options], plugins)
            session = Session.from_config(config)
            session.exitstatus = OK
            config._do_configure()
            config.hook.pytest_sessionstart(session=session)
            config.hook.pytest_collection(session=session)
            if session.testsfailed or session.shouldstop or session.shouldfail:
                raise RuntimeError("a test file did not collect")
        except Exception:  # noqa: BLE001 - each child then runs a session of its own
            if config is not None:
                _unconfigure(config)
            return None
        finally:
            sys.stdout = saved
        return cls(files, config, session, plugin, out)

    def holds(self, files: list[str]) -> bool:
        """Whether every one of ``files`` was collected here."""
        return all(os.path.realpath(f) in self.files for f in files)

    def run(self, run: RunConfig, files: list[str]) -> int:
        """In a grading child: the tests of ``files`` (in that order) for this submission, then
        the session's end. Returns pytest's exit status."""
        self.out.target = sys.stdout
        faulthandler.enable(file=sys.stderr)  # a hard crash leaves its traceback in the log
        config, session = self.config, self.session
        _restart_clock(config)
        self.plugin.run = run
        items = [item for f in files for item in self.by_file.get(os.path.realpath(f), [])]
        session.items = self.plugin.choose(items)
        session.testscollected = len(session.items)
        status = OK
        try:
            if session.items:
                config.hook.pytest_runtestloop(session=session)
            status = TESTS_FAILED if session.testsfailed else OK
        except (KeyboardInterrupt, session.Interrupted, session.Failed):
            status = INTERRUPTED
        except BaseException:  # noqa: BLE001 - the log says what broke; the engine reports it
            traceback.print_exc()
            status = INTERNAL_ERROR
        session.exitstatus = status
        try:
            config.hook.pytest_sessionfinish(session=session, exitstatus=status)
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
            status = status or INTERNAL_ERROR
        _unconfigure(config)
        return int(status)

    def close(self) -> None:
        """In the engine: undo what configuring pytest did to this process."""
        _unconfigure(self.config)


def _restart_clock(config: Any) -> None:
    """The terminal summary's "in N s" counts from this child's start, not the engine's."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    start = getattr(reporter, "_session_start", None)
    if start is not None:
        try:
            reporter._session_start = type(start)()
        except Exception:  # noqa: BLE001 - only the log's timing line is off
            pass


def _unconfigure(config: Any) -> None:
    try:
        config._ensure_unconfigure()
    except Exception:  # noqa: BLE001 - the process is ending or the engine closing
        traceback.print_exc()
