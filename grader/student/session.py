"""One pytest session of public tests on the student's machine: fixtures, messages, summary.

Made by ``grader.student.plugin`` when the session collects its first public test file (or
handed to pytest by ``grader check``). It imports each topic's test module in importlib mode
(every topic's file is called ``test_public.py``), gives it the ``student`` fixture, turns each
failure into the message grading would write (once per distinct problem: a syntax error or a
banned call is explained at its first test, and referred to after), keeps printed output to a
readable size, and ends the run with a line per topic and a total (``grader.student.report``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from grader.student.report import TestLine, cap_output, summary_lines
from grader.student.local import (LocalModule, LocalStudent, ModuleDoesNotImport,
                                  describe_banned, explain_local, install_finder,
                                  refuse_banned, refuse_unoffered, topic_file)



@dataclass
class Topic:
    root: Path
    name: str
    local: LocalModule
    tolerances: dict[str, Any] = field(default_factory=dict)


class _CourseTests(pytest.Module):
    """A course's test module, imported in importlib mode whatever the session's mode: every
    topic's file has the same name, which prepend mode cannot import side by side."""

    def _getobj(self) -> Any:
        option = self.config.option
        saved = getattr(option, "importmode", None)
        option.importmode = "importlib"
        try:
            return super()._getobj()
        finally:
            option.importmode = saved


class PublicTests(_CourseTests):
    """``assignments/<topic>/test_public.py``, with the ``student`` fixture in its namespace
    (visible to its own tests only)."""

    grader_topic: Topic
    grader_fixtures: dict[str, Any]

    def _getobj(self) -> Any:
        module = super()._getobj()
        for name, fixture in self.grader_fixtures.items():
            module.__dict__.setdefault(name, fixture)
        return module


class HiddenCount(_CourseTests):
    """``reference/<topic>/test_hidden.py`` in ``grader check`` of a course checkout: its tests
    are counted, then left out of the run."""

    grader_topic_name: str


class StudentSession:
    """Registered once per pytest session that collects a public test file."""

    NAME = "grader-student-session"

    def __init__(self, count_hidden: bool = False) -> None:
        self.count_hidden = count_hidden
        self.config: pytest.Config | None = None
        self.topics: dict[tuple[Path, str], Topic] = {}
        self.lines: dict[str, list[TestLine]] = {}  # by topic, in the order tests ran
        self.first: dict[tuple[Any, ...], str] = {}  # a problem -> the test that explained it
        self.hidden: dict[str, int] = {}  # counted in a course checkout
        self.released: dict[Path, dict[str, int]] = {}  # manifest.json by course root
        self.fixtures = self._fixtures()

    @classmethod
    def of(cls, config: pytest.Config) -> StudentSession:
        for plugin in config.pluginmanager.get_plugins():
            if isinstance(plugin, cls):
                plugin.config = config
                return plugin
        session = cls()
        session.config = config
        config.pluginmanager.register(session, cls.NAME)
        return session

    # -- collection ---------------------------------------------------------------------------

    def _topic(self, root: Path, name: str) -> Topic:
        key = (root, name)
        if key not in self.topics:
            from grader.course import Course

            course = Course(root)
            config = course.config(name)
            file = topic_file(course.assignments / name, name)  # <topic>.py, or its notebook
            offered = functools.partial(self._offered, course.root)
            self.topics[key] = Topic(root, name, LocalModule(
                name, file, banned_patterns=config.banned_names, provides=offered,
                autograd_banned="autograd" in config.banned_capabilities),
                config.tolerances)
            install_finder(course.assignments)
            refuse_unoffered(course.assignments, offered)  # as grading goes without the others
            refuse_banned(course.assignments, name, config.banned_libraries, offered)  # its bans
            self._register_markers()
            if root not in self.released:
                self.released[root] = course.released_hidden_counts()
        return self.topics[key]

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def _offered(root: Path) -> tuple[str, ...] | None:
        """The packages the course at ``root`` offers student code; None where course.toml
        cannot be read (grading says why; the public tests run all the same)."""
        from grader.course import Course, CourseError
        from grader.environment import load_environment

        try:
            return tuple(load_environment(Course(root)).import_names())
        except CourseError:
            return None

    def _register_markers(self) -> None:
        assert self.config is not None
        known = {line.split("(")[0].split(":")[0].strip()
                 for line in self.config.getini("markers")}
        for line in ("points(n): points the test is worth (default 1)",
                     "timeout(seconds): time limit of the test in grading",
                     "gpu: needs CUDA; not graded on a machine without it"):
            if line.split("(")[0].split(":")[0] not in known:
                self.config.addinivalue_line("markers", line)

    def public_module(self, parent: pytest.Collector, path: Path, root: Path,
                      topic: str) -> PublicTests:
        module = PublicTests.from_parent(parent, path=path)
        module.grader_topic = self._topic(root, topic)
        module.grader_fixtures = self.fixtures
        return module

    def hidden_module(self, parent: pytest.Collector, path: Path, root: Path,
                      topic: str) -> HiddenCount:
        self._register_markers()
        module = HiddenCount.from_parent(parent, path=path)
        module.grader_topic_name = topic
        return module

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        kept = []
        for item in items:
            module = item.getparent(pytest.Module)
            if isinstance(module, HiddenCount):
                self.hidden[module.grader_topic_name] = \
                    self.hidden.get(module.grader_topic_name, 0) + 1
            else:
                kept.append(item)
        items[:] = kept

    # -- fixtures -----------------------------------------------------------------------------

    def _fixtures(self) -> dict[str, Any]:
        """Fixture functions to put in each public test module's namespace. Made here, not at
        the top of a plugin module, where pytest would offer them to every test."""
        session = self

        @pytest.fixture
        def student(request: pytest.FixtureRequest) -> Any:
            topic = session.topic_of(request.node)
            assert topic is not None
            proxy = LocalStudent(topic.local)
            request.node._grader_student = proxy
            if not topic.tolerances:
                yield proxy
                return
            from grader import checks

            with checks.tolerance_overrides(
                    {k: checks.Tol(v.rtol, v.atol) for k, v in topic.tolerances.items()}):
                yield proxy

        return {"student": student}

    @staticmethod
    def topic_of(item: pytest.Item) -> Topic | None:
        module = item.getparent(pytest.Module)
        return module.grader_topic if isinstance(module, PublicTests) else None

    # -- running and reporting ----------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if self.topic_of(item) is not None and item.get_closest_marker("gpu") is not None:
            import torch

            if not torch.cuda.is_available():
                from grader.results.model import NOT_GRADED_GPU

                pytest.skip(NOT_GRADED_GPU)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> Any:
        rep = yield
        topic = self.topic_of(item)
        if topic is None:
            return rep
        rep.sections = [(title, cap_output(text)) for title, text in rep.sections]
        if call.when == "teardown" and not rep.failed or call.when == "setup" and rep.passed:
            return rep
        proxy: LocalStudent | None = getattr(item, "_grader_student", None)
        message = ""
        if rep.skipped:
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            self._record(topic, item, "skipped", reason.removeprefix("Skipped: "), rep)
            return rep
        if rep.failed and call.excinfo is not None:
            exc = call.excinfo.value
            message, flags = explain_local(exc, proxy, topic.local.file, call.when)
            message = topic.local.tell(message)
            if isinstance(exc, ModuleDoesNotImport):
                message = self._once(("import", topic.name), item.name, message)
        affected = [f for f in topic.local.findings
                    if f.function is None or f.function in proxy.called] if proxy else []
        if affected and call.when == "call":
            problem = ("banned", topic.name, tuple(sorted({f.name for f in affected})))
            text = self._once(problem, item.name,
                              "\n".join(describe_banned(affected, topic.local.file,
                                                         topic.local.where)))
            message = text + ("\n" + message if message else "")
            rep.outcome = "failed"
        if rep.failed:
            if item.config.option.tbstyle == "auto":
                rep.longrepr = message
            else:  # the student asked for pytest's own traceback: the grader's words follow it
                rep.sections.append(("what the grader says", message))
        self._record(topic, item, "passed" if rep.passed else
                     "error" if call.when == "setup" else "failed", message, rep)
        return rep

    def _once(self, problem: tuple[Any, ...], test: str, message: str) -> str:
        """``message`` at the first test a problem shows up in; a pointer to it afterwards."""
        first = self.first.setdefault(problem, test)
        if first == test:
            return message
        if problem[0] == "import":
            topic = next(t for t in self.topics.values() if t.name == problem[1])
            return topic.local.tell(f"{problem[1]}.py does not import: see {first}")
        names = ", ".join(problem[2])
        return f"uses {names}, which this exercise does not allow: see {first}"

    def _record(self, topic: Topic, item: pytest.Item, outcome: str, message: str,
                rep: pytest.TestReport) -> None:
        output = "".join(text for title, text in rep.sections
                         if title.startswith("Captured std") and title.endswith(rep.when))
        self.lines.setdefault(topic.name, []).append(
            TestLine(item.name, outcome, message, cap_output(output)))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.lines:
            return
        detailed = terminalreporter.config.option.tbstyle == "no"
        hidden = dict(self.hidden)
        for counts in self.released.values():
            for topic, n in counts.items():
                hidden.setdefault(topic, n)
        notes = [f"both {t.name}.py and {t.name}.ipynb are here: the tests ran {t.name}.py "
                 f"(grading does the same; remove {t.name}.py to be graded on the notebook)"
                 for t in self.topics.values()
                 if t.name in self.lines and not t.local.is_notebook and
                 (t.local.file.with_suffix(".ipynb")).is_file()]
        notes += [f"{t.name}: {n}" for t in self.topics.values() if t.name in self.lines
                  for n in t.local.notes()]  # a notebook's cells run, its magics dropped
        terminalreporter.write_sep("-", "grader")
        for text, markup in summary_lines(self.lines, hidden, detailed=detailed, notes=notes):
            terminalreporter.write_line(text, **markup)
