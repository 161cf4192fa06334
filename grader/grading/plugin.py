"""The pytest plugin that runs hidden and public tests in the trusted process.

It provides the ``student`` (remote proxy), ``baseline``, ``reference``, ``seed`` and ``rng``
fixtures, the ``points``, ``timeout`` and ``gpu`` markers, turns each test's end into a
``TestResult`` with a message the student can act on, and streams it to disk at once.

A test may record, with pytest's ``record_property``: ``score_fraction`` (the share of its points
a passing test earns, e.g. speed points on a log scale), ``note`` (the message of a passing
test) and any JSON value, which goes into the result's ``details``.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib.util
import json
import re
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, cast

import numpy as np
import pytest

from grader import environment
from grader.checks import charges, gpu, timing
from grader.checks.describe import not_implemented, returned_unusable, stub_raised
from grader.results import definitions, library_errors, recursion, top_level
from grader.grading import banned, bounds, guarded, newer_syntax
from grader.course import TopicConfig
from grader.grading.submission import folder_not_staged, topic_not_handed_in
from grader.grading.remote import (RUNTIME_ROUTES, BannedCallError, GraderFault, ImportFailed,
                                   RuntimeCode, Spawner, StudentError, StudentModule,
                                   StudentProxy, Worker, WorkerCrashed, WorkerSpec,
                                   WorkerTimeout, Zygote, describe_banned_call)
from grader.isolation import profiles
from grader.results.model import NOT_GRADED_GPU, Flag, Outcome, ResultStream, TestResult
from grader.results.scoring import points_earned, points_possible
from grader.results.visibility import VISIBILITIES, WORKER_TEXT

# The phases of running a test; a runtest hook never sees pytest's "collect".
_When = Literal["setup", "call", "teardown"]
DEFAULT_GPU_MEMORY_MB = 8192


@dataclass
class TopicRun:
    """What the plugin needs to grade one topic of one submission."""

    module_path: str | None  # the staged student module; None when not submitted
    config: TopicConfig
    solution: str | None  # reference/<topic>/solution.py (None where the course has no reference)
    findings: list[banned.Finding] = field(default_factory=list)
    dynamic: list[str] = field(default_factory=list)  # names reached dynamically (banned.dynamic_access)
    runtime: list[RuntimeCode] = field(default_factory=list)  # run-time code reported so far
    literals: frozenset[str] | None = None  # the module's string literals, read when needed
    # Folders of Python files beside the module in the submission, not staged (by their name).
    unstaged: tuple[str, ...] = ()
    # The course's topics, whose modules one topic's may import (model_selection's
    # linear_regression): one missing is asked for by name, not as a package.
    topics: tuple[str, ...] = ()


@dataclass
class RunConfig:
    topics: dict[str, TopicRun]
    zygote: Zygote | Spawner
    student_dir: str
    sandbox: bool
    read_paths: tuple[str, ...]
    seed: int
    stream: ResultStream
    count_hidden: bool = False  # collect hidden tests only to count them (``grader check``)
    references: dict[str, ModuleType] = field(default_factory=dict)  # preloaded solutions
    # Workers launched before the session by the engine, by topic (``StudentModule.prestart``).
    launched: dict[str, Worker] = field(default_factory=dict)
    provides: tuple[str, ...] = ()  # what student code may import (course.toml's environment)
    # Topics not handed in whose tests were listed rather than collected here (``Listed``).
    listed: dict[str, list[Listed]] = field(default_factory=dict)


@dataclass(frozen=True)
class Listed:
    """A test of a topic not handed in, as listed once without collecting its file in the
    process that grades (``grader.grading.listing``): what ``choose`` records for it."""

    kind: str  # "hidden" or "public"
    brief: str  # the ``collected`` record's entry (``_brief_json``)
    line: str  # its "not submitted" result, without a seed
    seeded: bool
    nodeid: str


def listing(items: list[pytest.Item], configs: dict[str, TopicConfig]
            ) -> dict[str, list[Listed]]:
    """The tests of ``items`` by topic, as ``Listed``, for each topic of ``configs`` all of
    whose tests get their result without running when the topic is not handed in: "not
    submitted", or a GPU test's "not graded here" where this run grades on no GPU. A topic that
    runs a test all the same (a skipped one, a test without the student's code) is left out:
    its file is collected wherever it is graded."""
    out: dict[str, list[Listed]] = {}
    runs: set[str] = set()
    for item in items:
        topic, kind = topic_of(item)
        if topic not in configs:
            continue
        if _needs_student(item):
            _not_submitted_json(item, 0)
            line, seeded = item.stash[_NOT_SUBMITTED_JSON], _seeded(item)
        elif _gpu_only(item) and not timing.gpu_grading():
            line = json.dumps({"type": "test", **not_graded_here(item, configs[topic]).to_dict()})
            seeded = False
        else:
            runs.add(topic)
            continue
        out.setdefault(topic, []).append(Listed(
            kind=kind, brief=_brief_json(item), line=line, seeded=seeded, nodeid=_nodeid(item)))
    return {t: tests for t, tests in out.items() if t not in runs}


def not_graded_here(item: pytest.Item, config: TopicConfig) -> TestResult:
    """The result of a GPU test where this run grades on no GPU, as running it gives (its setup
    skips it: ``GraderPlugin.pytest_runtest_setup``), but for the time that took."""
    topic, kind = topic_of(item)
    points = _points(item)
    return TestResult(
        topic=topic, name=item.name, nodeid=_nodeid(item), kind=kind,
        outcome=Outcome.NOT_GRADED, score=points_earned(Outcome.NOT_GRADED, points, 1.0),
        max_score=points_possible(Outcome.NOT_GRADED, points), message=_not_graded_gpu(),
        seed=None, duration=0.0, visibility=visibility_of(item, config.visibility))


def _not_graded_gpu() -> str:
    return f"{NOT_GRADED_GPU} ({timing.gpu_not_graded_reason()})"


# What the plugin keeps on each test. Made once per test and kept (a prepared session's tests
# serve many submissions): its topic and the stream records that do not change.
_TOPIC = pytest.StashKey[tuple[str, str]]()
_BRIEF = pytest.StashKey[dict[str, Any]]()
_BRIEF_JSON = pytest.StashKey[str]()
_NOT_SUBMITTED_JSON = pytest.StashKey[str]()
_NEEDS_STUDENT = pytest.StashKey[bool]()
# Set while the test runs, in the grading child: its student proxy, time limit and seed.
_PROXY = pytest.StashKey["StudentProxy"]()
_LIMIT = pytest.StashKey[float]()
_SEED = pytest.StashKey[int]()
_GPU_HOLD = pytest.StashKey[contextlib.ExitStack]()  # the GPU, held by a test of a GPU topic


def topic_of(item: pytest.Item) -> tuple[str, str]:
    """(topic, kind) of a test from its file: reference/<t>/test_hidden.py or assignments/<t>/..."""
    cached = item.stash.get(_TOPIC, None)
    if cached is None:
        path = Path(str(item.path))
        cached = item.stash[_TOPIC] = (
            path.parent.name, "hidden" if path.name == "test_hidden.py" else "public")
    return cached


def on_gpu(config: TopicConfig) -> bool:
    """Whether a topic's workers grade on the GPU in this run: its grading.toml asks for GPU
    workers (``[device] gpu_workers``) and this run grades on a GPU (``grader.grading.device``)."""
    return bool(config.extra.get("device", {}).get("gpu_workers")) and timing.gpu_grading()


def gpu_memory_limit_mb(config: TopicConfig) -> int:
    """How much GPU memory a topic's worker may take during a test (``[device] gpu_memory_mb``)."""
    return int(config.extra.get("device", {}).get("gpu_memory_mb", DEFAULT_GPU_MEMORY_MB))


def worker_spec(topic: str, run: TopicRun, student_dir: str, sandbox: bool,
                read_paths: tuple[str, ...], provides: tuple[str, ...] = ()) -> WorkerSpec:
    """The worker that serves a topic's module for the tests. ``provides``: the packages the
    course offers student code (course.toml); the worker goes without the others installed
    here (none where it is empty)."""
    limits: dict[str, Any] = {"memory_mb": run.config.memory_mb}
    if on_gpu(run.config):
        limits["gpu"] = True
    if run.config.extra.get("speed"):
        # Speed-graded: every call's work stays in the worker's one process, whose CPU time
        # the grader reads whole on any host, with a cgroup or without.
        limits["new_processes"] = False
    config = run.config
    profile = profiles.profile(config.banned_libraries, config.banned_capabilities)
    return WorkerSpec(module_name=topic, module_path=run.module_path, student_dir=student_dir,
                      sandbox=sandbox, read_paths=read_paths, limits=limits,
                      banned=profiles.calls(config.banned, config.banned_libraries,
                                            config.banned_ops, config.banned_capabilities),
                      # a worker without torch has no dispatcher: its ban is torch's absence
                      ops=() if profile == profiles.NUMPY else tuple(config.banned_ops),
                      libraries=tuple(config.banned_libraries), profile=profile,
                      unoffered=environment.unoffered(provides, tuple(config.banned_libraries))
                      if provides else ())


def register_markers(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(n): points the test is worth (default 1)")
    config.addinivalue_line("markers", "timeout(seconds): time limit of the test")
    config.addinivalue_line("markers", "gpu: needs CUDA; not graded on a machine without it")
    config.addinivalue_line("markers", "visibility(level): who sees the test: visible, hidden, "
                            "after_due_date or after_published (grader.results.visibility)")


def not_submitted(item: pytest.Item, base_seed: int) -> TestResult:
    """The result of a test whose topic was not submitted: it fails without running, as it
    would have failed at its first call of the missing module (with the same seed)."""
    brief = _brief(item)
    return TestResult(
        topic=brief["topic"], name=brief["name"], nodeid=brief["nodeid"], kind=brief["kind"],
        outcome=Outcome.FAILED, score=0.0, max_score=float(brief["points"]),
        message=f"{brief['topic']}.py was not submitted",
        seed=seed_for_test(base_seed, brief["nodeid"]) if _seeded(item) else None, duration=0.0,
        flags=(Flag.NOT_SUBMITTED, Flag.IMPORT_FAILED))


def describe_items(items: list[pytest.Item]) -> None:
    """Work out once what choosing and recording each test needs (kept on the items, so that
    grading children forked from a prepared session find it done)."""
    for item in items:
        _brief_json(item)
        _needs_student(item)
        _not_submitted_json(item, 0)


def _not_submitted_json(item: pytest.Item, base_seed: int) -> str:
    """The stream's record of ``not_submitted(item, base_seed)``, from a line made once."""
    line = item.stash.get(_NOT_SUBMITTED_JSON, None)
    if line is None:
        record = {"type": "test", **not_submitted(item, 0).to_dict(), "seed": None}
        line = item.stash[_NOT_SUBMITTED_JSON] = json.dumps(record)
    return _seeded_line(line, base_seed, _nodeid(item)) if _seeded(item) else line


def _seeded_line(line: str, base_seed: int, nodeid: str) -> str:
    """A "not submitted" record with its test's seed for ``base_seed``."""
    # Inside a JSON string a quote is escaped: only the key itself can read `"seed": null`.
    return line.replace('"seed": null', f'"seed": {seed_for_test(base_seed, nodeid)}', 1)


class GraderPlugin:
    """Fixtures, markers and results of a grading session. ``run`` is the submission being
    graded; None in a session prepared before any submission (``grader.grading.session``), which
    sets it in each grading child."""

    def __init__(self, run: RunConfig | None) -> None:
        self._run = run
        if run is not None:
            charges.open_book()  # one defect, one charge: per submission (docs/charging.md)
        self.sessions: dict[str, StudentModule] = {}
        self._tmpdirs: list[str] = []
        self._upcoming: list[str] = []  # submitted topics in the order their tests run
        self._item: pytest.Item | None = None  # the test being set up or run

    @property
    def run(self) -> RunConfig:
        if self._run is None:
            raise GraderFault("no submission is being graded in this session")
        return self._run

    @run.setter
    def run(self, run: RunConfig) -> None:
        self._run = run
        charges.open_book()

    # -- configuration and collection ---------------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        register_markers(config)

    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        if self._run is not None:  # a prepared session keeps every test until a child chooses
            items[:] = self.choose(items)

    def choose(self, items: list[pytest.Item]) -> list[pytest.Item]:
        """The tests to run among ``items``, in their order. Every test of the submission's
        topics is recorded in the stream as collected; one of a topic that was not submitted
        gets its result at once and is not run when it needs the student's code (it could only
        reach the missing module and fail there). Hidden tests are only counted when
        ``count_hidden``."""
        # Per topic, each test's entry of the ``collected`` record and the results of those that
        # do not run; written from JSON worked out once per test (describe_items, ``Listed``).
        collected: dict[str, list[str]] = {}
        missing: dict[str, list[str]] = {}
        to_run: list[pytest.Item] = []
        hidden: dict[str, int] = {}
        seed = self.run.seed
        for item in items:
            topic, kind = topic_of(item)
            run = self.run.topics.get(topic)
            if run is None:
                continue
            if kind == "hidden" and self.run.count_hidden:
                hidden[topic] = hidden.get(topic, 0) + 1
                continue
            collected.setdefault(topic, []).append(_brief_json(item))
            if run.module_path is None and _needs_student(item):
                missing.setdefault(topic, []).append(_not_submitted_json(item, seed))
            else:
                to_run.append(item)
                if run.module_path is not None and _needs_student(item) and \
                        topic not in self._upcoming:
                    self._upcoming.append(topic)
        for topic, tests in self.run.listed.items():
            for t in tests:
                if t.kind == "hidden" and self.run.count_hidden:
                    hidden[topic] = hidden.get(topic, 0) + 1
                    continue
                collected.setdefault(topic, []).append(t.brief)
                missing.setdefault(topic, []).append(
                    _seeded_line(t.line, seed, t.nodeid) if t.seeded else t.line)
        order = list(self.run.topics)  # the order of the test files: by topic, as chosen
        self.run.stream.write_lines([
            f'{{"type": "collected", "hidden_counts": {json.dumps(hidden)}, "tests": ['
            + ", ".join(b for t in order for b in collected.get(t, ())) + "]}",
            *(line for t in order for line in missing.get(t, ()))])
        if self._upcoming:
            self._prestart(self._upcoming[0])
        return to_run

    def _prestart(self, topic: str) -> None:
        """Launch the worker of ``topic`` ahead of its first test: the zygote forks it and the
        student's module is imported while this process sets up and runs other tests. Not for a
        GPU worker: it starts while its test holds the GPU, whose memory that test measures."""
        if isinstance(self.run.zygote, Zygote) and not on_gpu(self.run.topics[topic].config):
            self._module(topic).prestart()

    # -- fixtures ------------------------------------------------------------------------------

    def _module(self, topic: str, baseline: Path | None = None) -> StudentModule:
        key = f"{topic}/baseline" if baseline else topic
        if key not in self.sessions:
            self.sessions[key] = self._new_module(topic, baseline, launched=(
                self.run.launched.pop(topic, None) if baseline is None else None))
        return self.sessions[key]

    def _new_module(self, topic: str, baseline: Path | None = None, **kw: Any) -> StudentModule:
        spec = worker_spec(topic, self.run.topics[topic], self.run.student_dir, self.run.sandbox,
                           self.run.read_paths, self.run.provides)
        if baseline is not None:
            # The public baseline runs in a worker of its own, confined to a copy of it.
            folder = tempfile.mkdtemp(prefix="grader-baseline-")
            self._tmpdirs.append(folder)
            spec = replace(spec, module_name="baseline", student_dir=folder,
                           module_path=shutil.copy(baseline, folder), banned=())
        return StudentModule(self.run.zygote, spec, **kw)

    # The fixtures read the test being set up from ``item`` rather than taking pytest's
    # ``request``, which pytest builds anew (with a signature lookup) for each fixture and test.

    @property
    def item(self) -> pytest.Item:
        if self._item is None:
            raise GraderFault("no test is being set up")
        return self._item

    @pytest.fixture
    def student(self) -> StudentProxy:
        item = self.item
        topic, _ = topic_of(item)
        limit = self._time_limit(item, topic)
        proxy = StudentProxy(self._module(topic), time.monotonic() + limit)
        if topic in self._upcoming:  # the next topic's worker starts while this one's tests run
            at = self._upcoming.index(topic)
            if at + 1 < len(self._upcoming):
                self._prestart(self._upcoming[at + 1])
        item.stash[_PROXY] = proxy
        item.stash[_LIMIT] = limit
        return proxy

    @pytest.fixture
    def baseline(self) -> StudentProxy:
        """Proxy of the topic's public baseline, assignments/<topic>/baseline.py, timed like
        the student's code: a sandboxed worker of the same kind, with the same time limit."""
        item = self.item
        topic, _ = topic_of(item)
        path = self._baseline_path(topic)
        limit = self._time_limit(item, topic)
        return StudentProxy(self._module(topic, baseline=path), time.monotonic() + limit)

    def _time_limit(self, item: pytest.Item, topic: str) -> float:
        """Seconds a test's remote calls may take together: its timeout mark, else the topic's."""
        marker = item.get_closest_marker("timeout")
        return float(marker.args[0]) if marker else self.run.topics[topic].config.timeout

    def _baseline_path(self, topic: str) -> Path:
        path = Path(str(self.item.path)).parents[2] / "assignments" / topic / "baseline.py"
        if not path.is_file():
            raise GraderFault(f"{topic} has no public baseline ({path.name})")
        return path

    @pytest.fixture
    def fresh_worker(self) -> Iterator[Callable[[str], StudentProxy]]:
        """Start a worker that serves this test alone and ends with it: ``fresh_worker("student")``
        or ``fresh_worker("baseline")``, a proxy like the fixture of that name. For what must be
        measured in a worker with no history: the GPU memory a call raises, which memory that an
        earlier call (or the module's import) reserved and kept would hide."""
        item = self.item
        topic, _ = topic_of(item)
        limit = self._time_limit(item, topic)
        started: list[StudentModule] = []

        def start(which: str) -> StudentProxy:
            module = self._new_module(
                topic, self._baseline_path(topic) if which == "baseline" else None)
            started.append(module)
            return StudentProxy(module, time.monotonic() + limit)

        try:
            yield start
        finally:
            for module in started:
                module.close()

    @pytest.fixture
    def reference(self) -> ModuleType:
        topic, _ = topic_of(self.item)
        if topic in self.run.references:
            return self.run.references[topic]
        path = self.run.topics[topic].solution
        if path is None:
            raise GraderFault(f"the reference solution of {topic} is not available here")
        self.run.references[topic] = load_reference(topic, path)
        return self.run.references[topic]

    @pytest.fixture
    def seed(self) -> int:
        s = seed_for_test(self.run.seed, _nodeid(self.item))
        self.item.stash[_SEED] = s
        return s

    @pytest.fixture
    def rng(self, seed: int) -> np.random.Generator:
        return np.random.default_rng(seed)

    @pytest.fixture(autouse=True)
    def _grader_tolerances(self) -> Any:
        from grader.checks import compare as checks

        topic, _ = topic_of(self.item)
        tols = self.run.topics[topic].config.tolerances
        with checks.tolerance_overrides({k: checks.Tol(v.rtol, v.atol) for k, v in tols.items()}):
            yield

    # -- running and reporting -----------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._item = item  # before any of its fixtures
        charges.start_test(item.name)
        if item.get_closest_marker("gpu") is not None and not timing.gpu_grading():
            pytest.skip(_not_graded_gpu())
        topic, _ = topic_of(item)
        if topic in self.run.topics and on_gpu(self.run.topics[topic].config):
            # Before the fixtures, so that the test's time limit starts once it has the GPU.
            hold = contextlib.ExitStack()
            hold.enter_context(gpu.exclusive())
            item.stash[_GPU_HOLD] = hold

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        # The test's deadline covers its own work on the replies too (``grader.grading.bounds``).
        proxy = item.stash.get(_PROXY, None)
        with bounds.watchdog(proxy._deadline if proxy else None, item.stash.get(_LIMIT, 0.0)), \
                self._gpu_guard(item, proxy):
            return (yield)

    def _gpu_guard(self, item: pytest.Item, proxy: StudentProxy | None) -> Any:
        """While a test holds the GPU: a watch on the device's memory that ends the student's
        worker once it takes more than the topic allows (the worker's own settings could be
        undone by its code; this cannot)."""
        if _GPU_HOLD not in item.stash or proxy is None or gpu.device_used_bytes() is None:
            return contextlib.nullcontext()
        topic, _ = topic_of(item)
        limit_mb = gpu_memory_limit_mb(self.run.topics[topic].config)

        def over(_used: int) -> None:
            proxy._session.kill(f"your code took more than {limit_mb} MB of GPU memory")

        return gpu.MemoryWatch(gpu.device_used_bytes, interval_s=0.01, limit=limit_mb << 20,
                               on_over=over)

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Any:
        yield
        hold = item.stash.get(_GPU_HOLD, None)
        if hold is not None:
            del item.stash[_GPU_HOLD]
            hold.close()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        outcome = yield
        rep = outcome.get_result()
        if call.when == "teardown" or (call.when == "setup" and rep.passed):
            return
        result = self.classify(item, call, rep)
        self.run.stream.write({"type": "test", **result.to_dict()})

    def _unstaged(self, topic: str) -> tuple[str, ...]:
        run = self.run.topics.get(topic)
        return run.unstaged if run is not None else ()

    def _topics(self, topic: str) -> tuple[str, ...]:
        run = self.run.topics.get(topic)
        return run.topics if run is not None else ()

    def classify(self, item: pytest.Item, call: pytest.CallInfo[None],
                 rep: pytest.TestReport) -> TestResult:
        topic, kind = topic_of(item)
        points = _points(item)
        proxy = item.stash.get(_PROXY, None)
        called = list(proxy.called) if proxy else []
        fn = called[-1] if called else topic
        flags: list[Flag] = []
        outcome: Outcome
        if rep.skipped:
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            reason = reason.removeprefix("Skipped: ")
            outcome = Outcome.NOT_GRADED if NOT_GRADED_GPU in reason else Outcome.SKIPPED
            message = reason
        elif call.excinfo is None:
            outcome, message = Outcome.PASSED, ""
        else:
            outcome, message, flags = explain(call.excinfo.value, fn,
                                              item.stash.get(_LIMIT, None),
                                              when=call.when, provides=self.run.provides,
                                              student_called=bool(called),
                                              sandboxed=self.run.sandbox,
                                              unstaged=self._unstaged(topic),
                                              topics=self._topics(topic),
                                              solution=self.run.topics[topic].solution
                                              if topic in self.run.topics else None,
                                              module=self.run.topics[topic].module_path
                                              if topic in self.run.topics else None)
        recorded: dict[str, Any] = dict(item.user_properties)
        fraction = float(recorded.pop("score_fraction", 1.0))
        note = str(recorded.pop("note", ""))
        if outcome == Outcome.PASSED:
            message = "\n".join([*charges.take_notes(), *([note] if note else [])])
        findings = banned.affected(self.run.topics[topic].findings, called) if proxy else []
        if findings and outcome in (Outcome.PASSED, Outcome.FAILED):
            outcome = Outcome.FAILED
            flags.append(Flag.BANNED)
            message = "\n".join(banned.describe(f) for f in findings) + \
                ("\n" + message if message else "")
        if proxy is not None and proxy.banned and Flag.BANNED not in flags and \
                outcome in (Outcome.PASSED, Outcome.FAILED, Outcome.ERROR):  # caught by the test or the student
            outcome = Outcome.FAILED
            flags.append(Flag.BANNED)
            message = "\n".join(describe_banned_call(c) for c in proxy.banned) + \
                ("\n" + message if message else "")
        if proxy is not None and proxy.executed:
            self._note_executed(topic, proxy.executed)
        if proxy is not None and self.run.topics[topic].dynamic:
            flags.append(Flag.DYNAMIC_ACCESS)
        details = json.loads(json.dumps(recorded, default=str))
        if proxy is not None and proxy.worker_text:  # withheld from hidden tests' student copies
            # but for the test's own words in its message: grads["W1"], a key the test chose
            ours: object = getattr(call.excinfo.value, "words", None) if call.excinfo else None
            sent = proxy.worker_text - ours if isinstance(ours, frozenset) else proxy.worker_text
            if sent:
                details[WORKER_TEXT] = sorted(sent, key=len, reverse=True)[:500]
        return TestResult(
            topic=topic, name=item.name, nodeid=_nodeid(item), kind=kind, outcome=outcome,
            score=points_earned(outcome, points, fraction),
            max_score=points_possible(outcome, points),
            message=message, seed=item.stash.get(_SEED, None),
            duration=round(rep.duration, 4), output=proxy.output if proxy else "",
            functions=tuple(called), flags=tuple(flags),
            details=details,
            visibility=visibility_of(item, self.run.topics[topic].config.visibility))

    def _note_executed(self, topic: str, executed: list[RuntimeCode]) -> None:
        """The student's module built code and ran it (the worker's audit hook saw it, by what
        was done, not by the name that reached it): a note for a look by hand, once per new
        route and place, beside the static scan's, and the code itself for the similarity
        comparison. Code run from a string literal of the module is in its source already."""
        run = self.run.topics[topic]
        if run.literals is None:
            run.literals = guarded.literals(Path(run.module_path)) if run.module_path else \
                frozenset()
        fresh = [c for c in executed if c not in run.runtime and not (
            c.route == "string" and c.text.strip() in run.literals)]
        if not fresh:
            return
        run.runtime.extend(fresh)
        texts = [c.text for c in fresh if c.text]
        if texts:
            self.run.stream.write({"type": "runtime_code", "topic": topic, "code": texts})
        places = [RUNTIME_ROUTES[c.route] + (f" (line {c.line})" if c.line else "")
                  for c in fresh]
        new = [p for p in dict.fromkeys(places) if p not in run.dynamic]
        if not new:
            return
        run.dynamic.extend(new)
        self.run.stream.write({"type": "note", "topic": topic, "note": (
            "your code ran code it built at run time (" + "; ".join(new[:5]) + "): your "
            "instructor may review it by hand; this costs no points by itself"),
            "dynamic": run.dynamic[:5]})

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        for s in self.sessions.values():
            s.close()
        for folder in self._tmpdirs:
            shutil.rmtree(folder, ignore_errors=True)


class PlainFailureReports:
    """Failure reports without pytest's formatted traceback. The grader writes its own message
    for every failure (``GraderPlugin.classify``) and runs pytest with ``--tb=no``, so filtering
    and formatting each traceback (about a millisecond per failed test) would be thrown away.
    Skips, expected failures and pytest's own outcomes keep pytest's report."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> pytest.TestReport | None:
        exc = call.excinfo.value if call.excinfo is not None else None
        if not isinstance(exc, Exception):  # passed, or a skip/fail/exit outcome
            return None
        line = (str(exc).splitlines() or [""])[0][:300]
        sections = [(f"Captured {key} {when}", content)
                    for when, key, content in item._report_sections]
        return pytest.TestReport(
            item.nodeid, item.location, {x: 1 for x in item.keywords}, "failed",
            f"{type(exc).__name__}: {line}", cast(_When, call.when), sections, duration=call.duration,
            start=call.start, stop=call.stop, user_properties=item.user_properties)


def _missing_package(exc: "ImportFailed") -> str | None:
    """The top-level package a module failed to import for lack of it, if that is why."""
    m = re.search(r"raised ModuleNotFoundError while being imported: No module named '([^']+)'",
                  exc.message)
    return m.group(1).split(".")[0] if m else None


# What a PermissionError in a sandboxed worker means: the sandbox refused what the code (or a
# library it called) tried, which the OS says only as "[Errno 13] Permission denied".
SANDBOX_REFUSED = (
    "While grading, your code runs in a sandbox: it reads its own files and the installed "
    "packages, writes files only in its working folder (the current directory, which is also "
    "$HOME and the temporary folder), and runs no other program, uses no network and no shared "
    "memory (which multiprocessing's pools, queues and locks need); in a speed-graded exercise "
    "it starts no process at all. Do this work in your own process, with files only in the "
    "working folder")


def _import_failed(exc: ImportFailed, provides: tuple[str, ...], sandboxed: bool,
                   unstaged: tuple[str, ...] = (), topics: tuple[str, ...] = ()
                   ) -> tuple[Outcome, str, list[Flag]]:
    """``explain`` for a module that could not be imported (``unstaged``: the folders beside
    it in the submission, which grading does not take; ``topics``: the course's)."""
    flag = {"not_submitted": Flag.NOT_SUBMITTED, "timeout": Flag.TIMEOUT,
            "exit": Flag.CRASH, "banned": Flag.BANNED}.get(exc.kind, Flag.IMPORT_ERROR)
    text = exc.message
    raised = re.match(r"\S+ raised (\w+) while being imported: (.*)", exc.message)
    by_path = top_level.topic_by_path(raised[1], raised[2], exc.traceback, topics) \
        if raised else ""
    if exc.kind == "exception" and raised and \
            (hint := by_path or top_level.hint(raised[1], raised[2], exc.traceback) or
             library_errors.hint(raised[2], raised[1])):
        text += f"\n  Hint: {hint}"
    elif exc.kind == "syntax" and (hint := newer_syntax.hint(exc.traceback)):
        text += f"\n  Hint: {hint}"
    text += f"\n{exc.traceback.rstrip()}" if exc.traceback.strip() else ""
    flags = [flag, Flag.IMPORT_FAILED]
    if exc.kind == "syntax":
        flags.append(Flag.SYNTAX_ERROR)
    if by_path:  # the package is no library to offer: the path is the mistake
        pass
    elif (missing := _missing_package(exc)) is not None and missing in unstaged:
        text = folder_not_staged(f"{exc.module}.py", missing) + "\n" + text
    elif missing is not None and missing in topics:
        text = topic_not_handed_in(f"{exc.module}.py", missing) + "\n" + text
    elif missing is not None:
        flags.append(Flag.MISSING_PACKAGE)
        # installed beside the grader but not offered to student code, or not installed
        lacks = "offer" if "does not offer it" in exc.message else "have"
        text = environment.unavailable(f"{exc.module}.py", missing, provides, lacks) + "\n" + text
    if sandboxed and "raised PermissionError while being imported" in exc.message:
        text += "\n" + SANDBOX_REFUSED
    return (Outcome.TIMEOUT if exc.kind == "timeout" else Outcome.FAILED, text, flags)


def _student_error(exc: StudentError, sandboxed: bool, solution: str | None,
                   module: str | None = None) -> tuple[Outcome, str, list[Flag]]:
    """``explain`` for an exception the student's code raised in a call (or the call itself,
    before any line of it ran); ``module``: the student's staged module, read for where a
    function missing from its top level stands instead."""
    called = declared_call(solution, exc.function) if solution else ""
    if exc.type_name == "AttributeError" and not exc.traceback.strip() and \
            exc.message == f"your module has no function named {exc.function!r}":
        # The worker's words, said here in the grader's (a hidden test withholds the worker's
        # text): nothing in them comes from the student's code as it ran.
        where = definitions.hint(module, exc.function)
        return (Outcome.FAILED, f"there is no function {exc.function} at the top level of the "
                "module you handed in" + (f": define {called}, as the statement gives it"
                                          if called else "") +
                (f"\n  Hint: {where}" if where else ""), [])
    places = recursion.frames(exc.traceback)
    if "NotImplementedError" in exc.mro and stub_raised(places[-1][3] if places else None):
        text = not_implemented(exc.function, places[-1][2] if places else None, exc.message)
        return Outcome.FAILED, text, [Flag.NOT_IMPLEMENTED]
    text = f"{exc.function} raised {exc.type_name}: {exc.message}"
    if "RecursionError" in exc.mro and (hint := recursion.hint(exc.traceback)):
        text += f"\n  Hint: {hint}"
    elif hint := library_errors.hint(exc.message, exc.type_name):
        text += f"\n  Hint: {hint}"
    elif not exc.traceback.strip() and _BINDING.match(exc.message):  # before any line ran
        text += (f"\n  Hint: the call did not fit {exc.function}'s parameters, so none of "
                 "its lines ran: keep the parameters the statement gives it" +
                 (f", {called}" if called else ""))
    if exc.traceback.strip():
        text += f"\nin your code:\n{exc.traceback.rstrip()}"
    if sandboxed and "PermissionError" in exc.mro:
        text += "\n" + SANDBOX_REFUSED
    return Outcome.FAILED, text, [Flag.STUDENT_EXCEPTION]


def explain(exc: BaseException, fn: str, limit: float | None, when: str = "call",
            provides: tuple[str, ...] = (), student_called: bool = True,
            sandboxed: bool = False,
            unstaged: tuple[str, ...] = (),
            topics: tuple[str, ...] = (),
            solution: str | None = None,
            module: str | None = None) -> tuple[Outcome, str, list[Flag]]:
    """(outcome, message for the student, flags) for an exception that ended a test.
    ``provides``: the packages the course lets student code import. ``student_called``: whether
    the test had called the student's code yet; an unexpected exception before it did is the
    grader's (preparing inputs, say), never the student's failure. ``sandboxed``: whether the
    student's code ran in the sandbox, whose refusals the OS reports as a PermissionError.
    ``unstaged``: the folders beside the module in the submission, which grading does not take;
    ``topics``: the course's, whose modules a topic's module may import; ``solution``: the
    topic's reference, whose parameters a call that did not fit the student's is told;
    ``module``: the student's staged module."""
    if isinstance(exc, bounds.TestOverran):
        return (Outcome.TIMEOUT, f"checking what {fn} returned took past the test's time "
                f"limit: {exc}. Check the shape and size of what {fn} returns", [Flag.TIMEOUT])
    if isinstance(exc, WorkerTimeout):
        secs = f"{limit:g} s" if limit else "its time limit"
        why = exc.hint or "look for an infinite loop or a computation far slower than it needs to be"
        return Outcome.TIMEOUT, f"{fn} did not finish within {secs}: {why}", [Flag.TIMEOUT]
    if isinstance(exc, ImportFailed):
        return _import_failed(exc, provides, sandboxed, unstaged, topics)
    if isinstance(exc, BannedCallError):
        return Outcome.FAILED, str(exc), [Flag.BANNED]
    if isinstance(exc, StudentError):
        return _student_error(exc, sandboxed, solution, module)
    if isinstance(exc, WorkerCrashed):
        return (Outcome.ERROR, f"{fn} crashed the worker process: {exc}. Look for code that ends the "
                "process (exit, os._exit, signals) or uses memory without bound", [Flag.CRASH])
    if isinstance(exc, GraderFault):
        return Outcome.ERROR, f"the grader could not run this test: {exc}", [Flag.GRADER_ERROR]
    if isinstance(exc, AssertionError):
        return Outcome.FAILED, str(exc) or f"a check of {fn} failed", []
    if isinstance(exc, pytest.fail.Exception):
        return Outcome.FAILED, str(exc), []
    if when == "setup":
        return Outcome.ERROR, f"the grader could not set up this test ({type(exc).__name__})", \
            [Flag.GRADER_ERROR]
    if not student_called:
        return (Outcome.ERROR, f"the grader could not run this test before calling your code "
                f"({type(exc).__name__}: {str(exc)[:300]}); this is not your mistake",
                [Flag.GRADER_ERROR])
    # The test could not use what the student returned (wrong type, wrong number of outputs).
    return Outcome.FAILED, returned_unusable(fn, exc), []


# Python's words for a call whose arguments do not fit the function's parameters.
_BINDING = re.compile(r"[\w.]+\(\) (?:missing \d+ required|takes \d+ positional|takes from "
                      r"\d+ to \d+ positional|got an unexpected keyword|got multiple values|"
                      r"got some positional-only)")


@functools.lru_cache(maxsize=256)
def declared_call(path: str, fn: str) -> str:
    """``fn(a, b, lam=0.0)``: the parameters of ``fn`` in the (trusted) module at ``path``, read,
    never run; "" where it defines no such function or cannot be read."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return ""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == fn:
            args = ast.arguments(
                posonlyargs=[ast.arg(a.arg) for a in node.args.posonlyargs],
                args=[ast.arg(a.arg) for a in node.args.args],
                vararg=node.args.vararg and ast.arg(node.args.vararg.arg),
                kwonlyargs=[ast.arg(a.arg) for a in node.args.kwonlyargs],
                kw_defaults=node.args.kw_defaults,
                kwarg=node.args.kwarg and ast.arg(node.args.kwarg.arg), defaults=node.args.defaults)
            return f"{fn}({ast.unparse(args)})"
    return ""


def load_reference(topic: str, path: str) -> ModuleType:
    """Import a topic's reference solution (trusted code) under a name of its own."""
    spec = importlib.util.spec_from_file_location(f"reference_{topic}", path)
    if spec is None or spec.loader is None:
        raise GraderFault(f"cannot load the reference solution of {topic}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed_for_test(base: int, nodeid: str) -> int:
    """The seed of one test: fixed by the run's seed and the test's id, so a regrade reproduces it."""
    return zlib.crc32(f"{base}:{nodeid}".encode()) & 0x7FFFFFFF


def visibility_of(item: pytest.Item, topic_default: str) -> str:
    """The test's visibility: its marker's, else its topic's; a level Gradescope does not know
    is taken as the strictest, ``hidden``."""
    m = item.get_closest_marker("visibility")
    chosen = str(m.args[0]) if m and m.args else topic_default
    return chosen if not chosen or chosen in VISIBILITIES else "hidden"


def _points(item: pytest.Item) -> float:
    m = item.get_closest_marker("points")
    return float(m.args[0]) if m and m.args else 1.0


def _nodeid(item: pytest.Item) -> str:
    topic, kind = topic_of(item)
    return f"{topic}/{kind}::{item.name}"


def _brief(item: pytest.Item) -> dict[str, Any]:
    """A test as the stream's ``collected`` record lists it."""
    brief = item.stash.get(_BRIEF, None)
    if brief is None:
        topic, kind = topic_of(item)
        brief = item.stash[_BRIEF] = {"topic": topic, "kind": kind, "name": item.name,
                                      "nodeid": _nodeid(item), "points": _points(item)}
    return brief


def _brief_json(item: pytest.Item) -> str:
    line = item.stash.get(_BRIEF_JSON, None)
    if line is None:
        line = item.stash[_BRIEF_JSON] = json.dumps(_brief(item))
    return line


def _seeded(item: pytest.Item) -> bool:
    """Whether the test takes the ``seed`` or ``rng`` fixture (its result records the seed)."""
    return bool({"seed", "rng"} & set(getattr(item, "fixturenames", ())))


def _gpu_only(item: pytest.Item) -> bool:
    """Whether the test's outcome is decided before it runs by its GPU mark alone (where this
    run grades on no GPU: ``not_graded_here``)."""
    return item.get_closest_marker("gpu") is not None and \
        all(item.get_closest_marker(name) is None for name in ("skip", "skipif", "xfail"))


def _needs_student(item: pytest.Item) -> bool:
    """Whether the test uses the student's module and nothing decides its outcome before that
    (a skip, an expected failure, a GPU it may not have)."""
    needs = item.stash.get(_NEEDS_STUDENT, None)
    if needs is None:
        needs = item.stash[_NEEDS_STUDENT] = "student" in getattr(item, "fixturenames", ()) \
            and all(item.get_closest_marker(name) is None
                    for name in ("skip", "skipif", "xfail", "gpu"))
    return needs
