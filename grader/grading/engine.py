"""Grading a submission: stage it, run the pytest session in a trusted child, assemble the result.

An ``Engine`` is started once per grading run: it starts the worker zygote and preloads pytest,
NumPy, torch and the references in the trusted process. Each submission is then graded in a
child forked from it, which runs ``pytest.main`` exactly once; a crash of that child loses only
the tests that had not finished, and those are recorded as errors.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import importlib
import inspect
import json
import os
import signal
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence, TypedDict

from grader.course import DEFAULT_MEMORY_MB, Course, TopicConfig
from grader.environment import PROBE, Environment, load_environment, unoffered, without
from grader.errors import GraderError
from grader.grading import bounds, device
from grader.grading.banned import packages_imported
from grader.grading.guarded import compile_note, dynamic_note, scan_findings
from grader.grading.notebook import NotebookModule, annotate
from grader.grading.listing import Listing
from grader.grading.plugin import (GraderPlugin, Listed, PlainFailureReports, RunConfig, TopicRun,
                                   load_reference, worker_spec)
from grader.grading.protocol import Finish, Options, choose_seed
from grader.grading.remote import (GraderFault, ImportFailed, Spawner, StudentError,
                                   StudentModule, StudentProxy, Worker, WorkerGone, WorkerSpec,
                                   Zygote, remove_tree)
from grader.grading.session import PreparedSession, course_markers
from grader.grading.submission import SubmissionError, is_untouched_stub, stage
from grader.isolation import profiles, sandbox
from grader.results.inert import file_name
from grader.results.model import (FILES_NOTE, Flag, Outcome, ResultStream, SubmissionResult, TestResult,
                                  read_stream, read_test_result, write_json_atomic)
from grader.results.scoring import error_result, topic_results
from grader.results.visibility import read_module

# A grading child that writes no result for this long is stuck and killed: every wait on a
# worker has the test's deadline, so only a grader bug gets here. SESSION_MARGIN covers starting
# the session and the first worker; STALL_TIMEOUTS times the longest topic timeout covers the
# longest single test (a speed test with a limit of up to 6 times its topic's timeout, timing the
# student's and the baseline's workers, each under that limit), with room to spare.
SESSION_MARGIN = 60.0
# Of the code a topic's module built and ran at run time, this much text is kept in its result.
MAX_RUNTIME_CODE = 512 * 1024
STALL_TIMEOUTS = 12


class SandboxUnavailable(GraderError):
    """A sandbox layer is missing and running without it was not allowed."""


# Imported by the engine before it forks a grading child (see ``Engine._preload``).
LAZY_IN_CHILDREN = ("numpy.random", "numpy.ma", "grader.isolation.dispatch",
                    "grader.isolation.tripwire")


class ZygoteBans(TypedDict):
    """What the engine tells the zygotes about its course's bans (``Engine._zygote_bans``)."""

    ops: tuple[str, ...]
    profiles: tuple[str, ...]
    calls: tuple[str, ...]
    absent: tuple[str, ...]
    plans: tuple[tuple[str, ...], ...]
    # The libraries every topic bans: the environment check's worker goes without them too.
    check: tuple[str, ...]


class Engine:
    """A zygote and a preloaded trusted process that grade submissions one after another."""

    def __init__(self, course: Course, *, sandboxed: bool = True,
                 allow_unsandboxed: bool = False, spawn: bool | None = None,
                 environment: Environment | None = None,
                 topics: Sequence[str] | None = None,
                 chosen: Sequence[str] | None = None) -> None:
        """``environment``: the packages student code may import; given, each must import in a
        worker before anything is graded (``EnvironmentIncomplete`` otherwise). Whether given or
        not (course.toml's), they and the standard library must have been installed with their
        compiled copies (``Environment.uncompiled``). ``topics``: the
        topics this engine will grade, where the caller knows (default: every topic of the
        course); the zygotes then prepare only theirs: a topic of no other profile starts no
        zygote of its own, and its trip-wires are planned alone. Another topic is still graded,
        with the same walls, its workers slower to start (``zygote._catch_up``). ``chosen``: the
        topics its results list (default: every topic of the course); the tests of those not
        among ``topics`` are listed once, not collected here (``grader.grading.listing``)."""
        self.course = course
        # What student code may import, for the message of a module that imports anything else.
        offered = environment or load_environment(course)
        self.provides = tuple(offered.import_names())
        self.sandboxed = sandboxed
        self.layers: tuple[str, ...] = ()
        if sandboxed:
            statuses = sandbox.probe()
            missing = sandbox.missing_layers(statuses)
            if missing and not allow_unsandboxed:
                names = "; ".join(f"{s.name}: {s.detail}" for s in missing)
                raise SandboxUnavailable(
                    f"the sandbox is incomplete on this machine ({names}). Hidden tests only run "
                    "in a full sandbox; pass --unsafe-no-sandbox to grade anyway")
            self.layers = tuple(s.name for s in statuses if s.available)
            if self.layers:  # and how the memory of a worker's processes together is bounded
                self.layers += (sandbox.memory_bound_line(),)
            self.sandboxed = not missing or bool(self.layers)
        self.read_paths = (*sandbox.default_read_paths(), str(Path(__file__).resolve().parent.parent))
        # Whether this run grades on a GPU: decided here, before anything is forked, without
        # starting CUDA in this process; grading children inherit it, workers are told.
        self.device = device.decide()
        self.references: dict[str, Any] = {}
        # The topics it was told it grades (None: every topic of the course): this process
        # preloads only theirs.
        self.announced = tuple(topics) if topics is not None else None
        self.chosen = tuple(chosen) if chosen is not None else None
        # The tests of the course's other topics, listed by a child started with the engine
        # (``_listed``).
        self.listing: Listing | None = None
        # Whether it grades many submissions (``prepare_children``), and the topics whose
        # classic mistakes it has prepared for its grading children since.
        self.grades_many = False
        self.mistakes_prepared: set[str] = set()
        self.test_modules: dict[str, ModuleType] = {}
        # Names of this course's test modules not preloaded (failed, or of another topic)
        self.unloaded_tests: set[str] = set()
        self._configs: dict[str, TopicConfig] = {}
        # Configured and collected once, over the test files of the first submission forked
        # (None until then, and where that failed): a child whose files it holds runs from it,
        # any other runs a pytest session of its own. Tried once.
        self.prepared: PreparedSession | None = None
        self.prepare_tried = False
        # Without fork (Windows) workers are fresh interpreters and grading runs in this process.
        self.forking = hasattr(os, "fork") and hasattr(socket, "send_fds")
        # Every temporary folder of this engine's gradings is made in this one, removed on close
        # (and by the zygote, should this process be killed).
        self.tmp = Path(tempfile.mkdtemp(prefix="grader-run-"))
        # The zygote starts first and imports torch while this process preloads its own.
        try:
            bans = self._zygote_bans(topics)
            self.zygote: Zygote | Spawner = Spawner() if spawn or not self.forking \
                else Zygote(wait=False, root=str(self.tmp), sandboxed=self.sandboxed,
                            ops=bans["ops"], profiles=bans["profiles"], calls=bans["calls"],
                            absent=bans["absent"], plans=bans["plans"])
        except BaseException:
            remove_tree(str(self.tmp))
            raise
        try:
            # (while the zygote starts) a worker, sandboxed or not, could load none of the
            # modules of a library installed without its compiled copies (its audit hook needs
            # them): said now, not in the students' reports
            if refusal := offered.uncompiled():
                raise refusal
            self._preload()
            # Forked once this process has what the child shares (torch, where the topics
            # graded need it), while the zygote may still be starting.
            self.listing = self._start_listing()
            if isinstance(self.zygote, Zygote):
                self.zygote.wait_ready()
        except BaseException:
            self.close()
            raise
        if isinstance(self.zygote, Spawner):
            if self.sandboxed and not allow_unsandboxed:
                self.close()
                raise SandboxUnavailable("workers cannot be forked on this platform, so they "
                                         "cannot be sandboxed; pass --unsafe-no-sandbox")
            self.sandboxed, self.layers = False, ()
        if environment is not None and (absent := self.missing_packages(
                environment.import_names(), bans["check"])):
            self.close()
            raise environment.incomplete(absent)

    def _zygote_bans(self, chosen: Sequence[str] | None = None) -> ZygoteBans:
        """What the zygotes prepare for the topics ``chosen`` (default: the course's): every
        ``[banned] ops`` pattern, worked out once; the ban profiles of the topics, and the one
        the environment check runs in (a worker going without what every topic bans: no
        ``torch`` zygote where every topic bans torch); the banned calls, whose modules the zygotes load before any worker
        (``profiles.modules_named``: found there, not here, where finding a module under torch
        would import torch before the zygote starts); every banned library, which none may load;
        and each topic's profile with its banned calls, whose trip-wires the zygotes plan before
        they fork anything (``tripwire.plan``)."""
        ops: set[str] = set()
        names: set[str] = set()
        calls: set[str] = set()
        absent: set[str] = set()
        plans: set[tuple[str, ...]] = set()
        shared: set[str] | None = None  # the libraries every topic bans
        try:
            topics = list(chosen) if chosen is not None else self.course.topics()
        except GraderError:
            topics = []  # reported where the course is read
        for topic in topics:
            try:
                c = self.course.config(topic)
            except GraderError:
                continue  # reported where the topic is graded
            ops.update(c.banned_ops)
            name = profiles.profile(c.banned_libraries, c.banned_capabilities)
            names.add(name)
            banned = profiles.calls(c.banned, c.banned_libraries, c.banned_ops,
                                    c.banned_capabilities)
            calls.update(banned)
            plans.add((name, *banned))
            absent.update(c.banned_libraries)
            shared = set(c.banned_libraries) & (shared if shared is not None else
                                                 set(c.banned_libraries))
        check = tuple(sorted(shared or ()))
        return {"ops": tuple(sorted(ops)),
                "profiles": tuple(sorted(names | {profiles.profile(check)})),
                "calls": tuple(sorted(calls)), "absent": tuple(sorted(absent)),
                "plans": tuple(sorted(plans)), "check": check}

    def _preload(self) -> None:
        """What every grading child would otherwise import for itself, imported here once for
        all of them to share: of the course, only what the topics this engine grades need
        (torch only where their tests or references import it: a NumPy topic's grading never
        pays for it, nor a GPU host's CUDA build of it, unless a reply holds a tensor)."""
        import numpy  # noqa: F401
        import pytest  # noqa: F401

        from _pytest.config import default_plugins

        from grader.checks import compare, gradcheck  # noqa: F401

        # What grading children would otherwise each import, lazily: NumPy's submodules that its
        # own functions and the tests reach (np.unique reaches numpy.ma; seeded inputs,
        # numpy.random), and what reading a worker's trip-wire reports needs.
        for name in LAZY_IN_CHILDREN:
            importlib.import_module(name)
        # Each grading child runs one pytest session; importing pytest's own plugins here once
        # saves every child from doing it.
        for name in default_plugins:
            importlib.import_module(f"_pytest.{name}")
        topics = self._preloaded_topics()
        if "torch" in self._imported_by(topics):
            import torch

            # Before any of its computations: children are forked from here, and must find no
            # OpenMP pool to hang on.
            torch.set_num_threads(1)
        if self.course.has_reference:
            self.references = {t: load_reference(t, str(self.course.solution(t)))
                               for t in topics if self.course.solution(t).is_file()}
        self.test_modules = self._preload_tests(topics)
        if (loaded := sys.modules.get("torch")) is not None:  # imported by a route not written
            loaded.set_num_threads(1)
        # What each topic's workers go without of the packages installed here: found once, for
        # every grading child forked from this process (reading the installed packages' metadata
        # once, some 0.1 s for all the topics).
        for topic in topics:
            try:
                unoffered(self.provides, tuple(self._config(topic).banned_libraries))
            except GraderError:
                continue  # reported where the topic is graded
        gc.collect()
        gc.freeze()  # children's collections no longer walk torch's objects

    def _imported_by(self, topics: list[str]) -> set[str]:
        """The packages the references and test files of ``topics`` import."""
        found: set[str] = set()
        for t in topics:
            for path in (self.course.solution(t), self.course.hidden_tests(t),
                         self.course.public_tests(t)):
                if path is not None:
                    found |= packages_imported(path)
        return found

    def _preloaded_topics(self) -> list[str]:
        """The topics whose references and tests this process preloads: those announced, or
        every topic of the course. Another topic is still graded, its grading child loading
        them itself."""
        topics = self.course.topics()
        return topics if self.announced is None else [t for t in topics if t in self.announced]

    def _preload_tests(self, topics: list[str]) -> dict[str, ModuleType]:
        """Import the test modules of ``topics`` once, named as pytest's importlib mode names them;
        each grading child puts them in its ``sys.modules`` so that its collection reuses them
        instead of compiling and running them again. A module that fails to import is left
        for the child's collection to report."""
        from _pytest.pathlib import import_path, module_name_from_path

        kwargs: dict[str, Any] = {"mode": "importlib", "root": self.course.root}
        if "consider_namespace_packages" in inspect.signature(import_path).parameters:
            kwargs["consider_namespace_packages"] = False
        modules: dict[str, ModuleType] = {}
        with course_markers() as outcomes:
            failures: tuple[type[BaseException], ...] = (Exception, *outcomes)
            for topic in topics:
                for path in (self.course.hidden_tests(topic), self.course.public_tests(topic)):
                    if path is None:
                        continue
                    before = set(sys.modules)
                    try:
                        module = import_path(path, **kwargs)
                        if Path(str(module.__file__)).resolve() != path.resolve():
                            # The same name from another course (several engines in one
                            # process): import this course's file under it.
                            del sys.modules[module.__name__]
                            module = import_path(path, **kwargs)
                    except failures:  # the child's collection reports it
                        for name in set(sys.modules) - before:  # no half-run module to reuse
                            file = getattr(sys.modules[name], "__file__", None)
                            if file and Path(file).resolve() == path.resolve():
                                del sys.modules[name]
                        with contextlib.suppress(Exception):  # nor another course's of that name
                            self.unloaded_tests.add(module_name_from_path(path, self.course.root))
                        continue
                    modules[module.__name__] = module
            for topic in set(self.course.topics()) - set(topics):  # collected where graded
                for path in (self.course.hidden_tests(topic), self.course.public_tests(topic)):
                    if path is not None:  # as this course's file, not another's of that name
                        with contextlib.suppress(Exception):
                            self.unloaded_tests.add(module_name_from_path(path, self.course.root))
        return modules

    def _config(self, topic: str) -> TopicConfig:
        """A topic's grading.toml, read once per engine."""
        if topic not in self._configs:
            self._configs[topic] = self.course.config(topic)
        return self._configs[topic]

    def _install_test_modules(self) -> None:
        """This engine's test modules in ``sys.modules``, whatever another engine in this
        process left there, so that pytest's collection finds them (and not the other's)."""
        for name in self.unloaded_tests:
            sys.modules.pop(name, None)
        sys.modules.update(self.test_modules)

    def missing_packages(self, names: list[str], banned: tuple[str, ...] = (),
                         timeout: float = 120.0) -> list[str]:
        """The packages of ``names`` that do not import in a worker (sandboxed as this engine's
        are) going without the libraries ``banned``, each with the reason: what a student's
        module would meet there. Those ``banned`` leaves out, or that need one of them, are not
        tried (``environment.without``)."""
        names = without(names, banned)
        if not names:
            return []
        with tempfile.TemporaryDirectory(prefix="grader-environment-", dir=self.tmp) as tmp:
            probe = Path(tmp) / "environment_probe.py"
            probe.write_text(PROBE)
            spec = WorkerSpec(module_name=probe.stem, module_path=str(probe), student_dir=tmp,
                              sandbox=self.sandboxed, read_paths=self.read_paths,
                              limits={"memory_mb": DEFAULT_MEMORY_MB * 2}, tmp_dir=str(self.tmp),
                              libraries=banned, profile=profiles.profile(banned))
            session = StudentModule(self.zygote, spec)
            try:
                return [str(m) for m in
                        StudentProxy(session, time.monotonic() + timeout).missing(list(names))]
            except (ImportFailed, StudentError, WorkerGone, GraderFault) as exc:
                return [f"{', '.join(names)} (the check could not run: {exc})"]
            finally:
                session.close()

    def prepare_children(self) -> None:
        """Before grading many submissions (a class, the service): what every grading child
        would otherwise do for itself, done once here for all of them to share: the report's
        template compiled now, and each topic's classic mistakes (its mutants loaded and
        compared with its reference) before the first grading of that topic is forked."""
        from grader.results import report

        report.prepare()
        self.grades_many = True

    def _prepare_mistakes(self, runs: dict[str, TopicRun]) -> None:
        """The classic mistakes of the topics a submission hands in, prepared here once each,
        where this engine grades many submissions (``prepare_children``)."""
        if not self.grades_many:
            return
        from grader.checks import hints

        new = [t for t, r in runs.items() if r.module_path is not None and t in self.references
               and t not in self.mistakes_prepared]
        for topic in new:
            self.mistakes_prepared.add(topic)
            try:
                hints.prepare(self.references[topic])
            except Exception:  # noqa: BLE001 - course code: each child tries it again, as unprepared
                pass
        if new:
            gc.freeze()  # as the rest of what children share: their collections skip it

    def close(self) -> None:
        if self.listing is not None:
            self.listing.close()
        if self.prepared is not None:
            self.prepared.close()
        self.prepared, self.prepare_tried = None, True
        self.zygote.close()
        remove_tree(str(self.tmp))

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -----------------------------------------------------------------------------------------

    def grade(self, submission: Path, out: Path, options: Options = Options(), *,
              name: str | None = None, in_process: bool | None = None) -> SubmissionResult:
        """Grade one submission into ``out``; never raises for anything the submission does."""
        return self.start(submission, out, options, name=name, in_process=in_process).wait()

    def start(self, submission: Path, out: Path, options: Options = Options(), *,
              name: str | None = None, in_process: bool | None = None,
              finish: Finish | None = None) -> "Job":
        """Start grading one submission in a forked trusted child; ``Job.poll`` collects it.

        ``finish``: what to do with the result once the tests have run (writing its files), done
        by the grading child, in parallel with the other gradings; ``Job.finished`` then says
        that it was (where it could not be, a caller does it with the result ``poll`` gives).
        The child is killed when the thread that called this ends (``_grading_child``): call it
        from a thread that outlives the grading, as the main thread does.
        """
        topics = list(options.topics or self.course.topics())
        seed = choose_seed(options.seed)
        # A folder's name is any bytes: the student is named in text (stray bytes as \xNN).
        job = Job(self, name or file_name(Path(submission).name.removesuffix(".zip")), topics,
                  seed)
        out.mkdir(parents=True, exist_ok=True)
        try:
            staged = stage(Path(submission), job.work, topics)
        except SubmissionError as exc:
            job.fail(str(exc))
            return job
        except Exception as exc:  # noqa: BLE001 - a step of the grader's own, said on this submission
            job.fail(f"the grader could not stage this submission ({type(exc).__name__}: "
                     f"{str(exc)[:200]})")
            return job
        job.notebooks, job.notes = staged.notebooks, dict(staged.notes)
        if staged.files:
            job.notes[FILES_NOTE] = staged.files
        job.stubs = {t for t in topics if is_untouched_stub(staged.module(t), self.course.stub(t))}
        for t in topics:  # one reading of each module's tokens
            job.code_lines[t], job.written[t] = read_module(staged.module(t))
        for t in topics:  # banned calls are looked for by the grading child, in parallel
            module = staged.module(t)
            job.runs[t] = TopicRun(
                module_path=str(module) if module else None, config=self._config(t),
                solution=str(self.course.solution(t)) if self.course.has_reference else None,
                unstaged=staged.folders.get(t, ()), topics=tuple(self.course.topics()))
        inline = in_process or (in_process is None and not self.forking)
        files, listed = self._tests_of(job.runs, options, inline)
        if not files:
            job.fail("the course has no tests for the chosen topics")
            return job
        # A backstop for a stuck grading child; per-call limits do the real work.
        job.stall = SESSION_MARGIN + STALL_TIMEOUTS * max(
            (r.config.timeout for r in job.runs.values()), default=0.0)
        job.deadline = time.monotonic() + job.stall
        args = (files, job.runs, str(staged.root), seed, job.stream_path, options.count_hidden,
                listed)
        if inline:
            job.rc = self._pytest(*args)
            job.duration = time.monotonic() - job.t0
            return job
        if not self.prepare_tried:
            self.prepared, self.prepare_tried = self._prepare(files), True
        self._prepare_mistakes(job.runs)
        prepared = self.prepared if self.prepared is not None and \
            self.prepared.holds(files) else None
        launched = self._launch_first(job.runs, topics, str(staged.root), str(job.work))
        sys.stdout.flush()  # nothing buffered here is written again by the child
        sys.stderr.flush()
        parent = os.getpid()
        try:
            pid = os.fork()
        except BaseException:
            for w in launched.values():
                w.close()
            raise
        if pid == 0:  # the trusted grading child: one pytest session, then exit
            self._grading_child(parent, job, out, args, prepared, launched, finish)
        for w in launched.values():  # the child's now
            w.forget()
        job.pid = pid
        try:  # readable once the child has ended, so a caller can wait without polling
            job.pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pass
        return job

    def _grading_child(self, parent: int, job: "Job", out: Path,
                       args: tuple[list[str], dict[str, TopicRun], str, int, Path, bool,
                                   dict[str, list[Listed]]],
                       prepared: PreparedSession | None, launched: dict[str, Worker],
                       finish: Finish | None) -> None:
        """The trusted grading child, forked by ``parent``: one pytest session, then exit."""
        code = 70
        try:
            # Killed with the process that forked it, as its workers are with the zygote: left
            # running, it would grade on against workers the zygote ends once that process is
            # gone, write a result no one asked for (a killed batch's student folder, while
            # ``--resume`` grades the same student), and write into the run's folder as the
            # zygote removes it.
            if not sandbox.die_with_parent(parent):
                os._exit(code)
            if isinstance(self.zygote, Zygote):
                self.zygote.leave()
            fd = os.open(out / "grading.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.stdout = open(1, "w", closefd=False)  # not a caller's capture object
            sys.stderr = open(2, "w", closefd=False)
            tempfile.tempdir = str(job.work)  # removed with it once this child has ended
            bounds.limit_memory()  # what checks may allocate on the student's replies
            code = self._pytest(*args, prepared=prepared, launched=launched)
            if finish is not None:
                job.finish_here(finish, code)
        except BaseException:  # the grading's own failure: grading.log says where
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(code)

    def _launch_first(self, runs: dict[str, TopicRun], topics: list[str],
                      student_dir: str, tmp_dir: str) -> dict[str, Worker]:
        """The worker of the first submitted topic, launched now: the zygote forks it while this
        process forks the grading child, which finds it started. {} where workers are fresh
        interpreters (launching one would only block here) or the launch fails (the child
        then tries again, and reports)."""
        if not isinstance(self.zygote, Zygote):
            return {}
        for t in topics:
            if runs[t].module_path is not None:
                spec = replace(worker_spec(t, runs[t], student_dir, self.sandboxed,
                                           self.read_paths, self.provides), tmp_dir=tmp_dir)
                try:
                    return {t: Worker(self.zygote, spec, 1, None)}
                except Exception:  # noqa: BLE001
                    return {}
        return {}

    def _test_files(self, topics: list[str], kinds: tuple[str, ...],
                    count_hidden: bool) -> list[str]:
        files = []
        for t in topics:
            if "hidden" in kinds or count_hidden:
                if (h := self.course.hidden_tests(t)) is not None:
                    files.append(str(h))
            if "public" in kinds and (p := self.course.public_tests(t)) is not None:
                files.append(str(p))
        return files

    def _prepare(self, files: list[str]) -> PreparedSession | None:
        """A pytest session over ``files``, configured and collected in this process. A batch
        asks for the same files for every submission; one topic's `grader grade` collects only
        that topic's."""
        self._install_test_modules()
        prepared = self._session(files)
        gc.collect()
        gc.freeze()  # the session's objects too: children's collections skip them
        return prepared

    def _session(self, files: list[str]) -> PreparedSession | None:
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the course's session, nothing else
        with tempfile.TemporaryDirectory(prefix="grader-session-", dir=self.tmp) as tmp:
            return PreparedSession.prepare(
                files, self._pytest_args([], Path(tmp)) + ["-p", "no:faulthandler"],
                [GraderPlugin(None), PlainFailureReports()])

    def _tests_of(self, runs: dict[str, TopicRun], options: Options, inline: bool
                  ) -> tuple[list[str], dict[str, list[Listed]]]:
        """The test files a submission's grading collects, and the listed tests of its other
        topics (``_listed``; none where it grades in this process)."""
        listed = {} if inline else self._listed(runs, options)
        files = self._test_files([t for t in runs if t not in listed], options.kinds,
                                 options.count_hidden)
        if listed and not files:  # no session with nothing to collect: every file is collected
            return self._test_files(list(runs), options.kinds, options.count_hidden), {}
        return files, listed

    def _listed(self, runs: dict[str, TopicRun], options: Options) -> dict[str, list[Listed]]:
        """The tests of the kinds ``options`` grades of each topic of ``runs`` not handed in,
        listed once without collecting them here (``grader.grading.listing``), where this
        engine was told the topics it grades and the topic is not one of them."""
        if self.listing is None:
            return {}
        listing = self.listing.result()
        kinds = {*options.kinds, *(("hidden",) if options.count_hidden else ())}
        return {t: [x for x in listing[t] if x.kind in kinds]
                for t, r in runs.items() if r.module_path is None and t in listing}

    def _start_listing(self) -> Listing | None:
        """Where this engine was told the topics it grades and forks its gradings: the tests
        of the other topics chosen, listed by a child, or as one listed them before where
        nothing they depend on changed since (``grader.grading.listing``)."""
        if self.announced is None or not self.forking:
            return None
        configs = {}
        for t in self.course.topics():
            if t not in self.announced and (self.chosen is None or t in self.chosen):
                with contextlib.suppress(GraderError):  # reported where the topic is graded
                    configs[t] = self._config(t)
        files = self._test_files(list(configs), ("hidden", "public"), False)
        if not files:
            return None
        return Listing.start(files, configs, self._listing_session, self.device.to_dict(),
                             watch=[str(self.course.root / "course.toml")])

    def _listing_session(self, files: list[str]) -> PreparedSession | None:
        """In the listing child: ``files`` collected, as the files of this course (pytest
        takes a module of the same name found loaded as the file's: another engine's, in a
        process that ran several: ``_install_test_modules``)."""
        if isinstance(self.zygote, Zygote):
            self.zygote.leave()
        self._install_test_modules()
        return self._session(files)

    def _pytest(self, files: list[str], runs: dict[str, TopicRun], student_dir: str, seed: int,
                stream_path: Path, count_hidden: bool, listed: dict[str, list[Listed]],
                prepared: PreparedSession | None = None,
                launched: dict[str, Worker] | None = None) -> int:
        launched = dict(launched or {})  # the session takes each one it uses
        stream = ResultStream(stream_path)
        try:
            for topic, r in runs.items():
                if r.module_path is not None:
                    r.findings, note = scan_findings(
                        Path(r.module_path), r.config.banned_names)
                    if note:  # the tests run all the same
                        stream.write({"type": "note", "topic": topic, "note": note})
                    if r.config.banned or r.config.banned_libraries or r.config.banned_ops:
                        # a way around the banned list, for a look by hand
                        r.dynamic = dynamic_note(Path(r.module_path))
                    if note := compile_note(Path(r.module_path)):
                        stream.write({"type": "note", "topic": topic, "note": note})
                    if r.dynamic:
                        stream.write({"type": "note", "topic": topic, "note": (
                            "your code reaches functions or modules by a name built at run time ("
                            + "; ".join(r.dynamic[:5]) + "): your instructor may review it by "
                            "hand; this costs no points by itself"), "dynamic": r.dynamic[:5]})
            run = RunConfig(topics=runs, zygote=self.zygote, student_dir=student_dir,
                            sandbox=self.sandboxed, read_paths=self.read_paths, seed=seed,
                            stream=stream, count_hidden=count_hidden,
                            references=dict(self.references), launched=launched,
                            provides=self.provides, listed=listed)
            if prepared is not None:  # in a grading child forked from this engine
                return prepared.run(run, files)
            return self._run_pytest(files, Path(stream_path).parent,
                                    [GraderPlugin(run), PlainFailureReports()])
        finally:
            for w in launched.values():  # launched for a topic none of whose tests ran
                w.close()
            stream.close()
            sys.stdout.flush()

    def _run_pytest(self, files: list[str], folder: Path, plugins: list[Any]) -> int:
        import pytest

        self._install_test_modules()
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        code = int(pytest.main(self._pytest_args(files, folder), plugins=plugins))
        # Every test chosen out (a topic not submitted): their results are written already.
        return 0 if code == pytest.ExitCode.NO_TESTS_COLLECTED else code

    def _pytest_args(self, files: list[str], folder: Path) -> list[str]:
        ini = folder / "pytest.ini"
        ini.write_text("[pytest]\n")
        return [*files, "-c", str(ini), "--rootdir", str(self.course.root), "-q",
                "-p", "no:cacheprovider", "--assert=plain", "--noconftest",
                "--import-mode=importlib", "-p", "no:randomly", "-W", "ignore::DeprecationWarning",
                # The plugin writes its own messages; pytest's source-annotated tracebacks of
                # failures are never shown and cost more than the tests on a failing submission.
                "--tb=no",
                # Trusted tests print nothing worth capturing per test (student output comes
                # back from the workers), and these plugins have nothing to do in a grading run.
                "--capture=no", "-p", "no:logging", "-p", "no:pastebin", "-p", "no:doctest",
                "-p", "no:stepwise", "-p", "no:setuponly", "-p", "no:setupplan",
                # Their gc.collect() calls at the end of the session cost more than they find.
                "-p", "no:unraisableexception", "-p", "no:threadexception"]


class Job:
    """One submission being graded: a forked trusted child and the stream it writes."""

    def __init__(self, engine: Engine, name: str, topics: list[str], seed: int) -> None:
        self.engine = engine
        self.name = name
        self.topics = topics
        self.seed = seed
        self.runs: dict[str, TopicRun] = {}
        self.notebooks: dict[str, NotebookModule] = {}  # topics staged from a notebook
        self.notes: dict[str, list[str]] = {}  # what staging has to say, by topic
        self.stubs: set[str] = set()  # topics whose module is the stub as released, untouched
        self.code_lines: dict[str, str] = {}  # topic -> lines of its module holding code
        self.written: dict[str, tuple[str, ...]] = {}  # topic -> its module's own words
        self.started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.t0 = time.monotonic()
        self.work = Path(tempfile.mkdtemp(prefix="grader-sub-", dir=engine.tmp))
        self.stream_path = self.work / "stream.jsonl"
        self.pid = -1
        self.pidfd = -1
        self.rc: int | None = None
        self.duration = 0.0  # from the start to the end of grading, once ended
        self.deadline = float("inf")  # extended by ``stall`` while results keep coming
        self.stall = 0.0
        self._streamed = 0  # the stream's size when the deadline was last extended
        self.error = ""
        self.result: SubmissionResult | None = None
        self.finished = False  # whether the grading child did what ``start``'s finish asked
        self._finished_path = self.work / "finished.json"  # its result, once the child did

    def finish_here(self, finish: Finish, rc: int) -> None:
        """In the grading child, once its tests have run: assemble the result as ``poll`` will
        and hand it to ``finish``. A failure is logged and left to the caller, who sees
        ``finished`` false and does the work itself."""
        try:
            result = self._assemble(rc, time.monotonic() - self.t0)
            finish(result)
            # The caller reads the result from here: loading it costs a tenth of assembling it.
            write_json_atomic(self._finished_path, result.to_dict(), durable=False)
        except Exception:  # noqa: BLE001 - the parent does it instead; grading.log says why
            with contextlib.suppress(OSError):
                os.write(2, ("could not finish here (the caller will):\n"
                             + traceback.format_exc()).encode(errors="replace"))

    def _assemble(self, rc: int, duration: float) -> SubmissionResult:
        layers = self.engine.layers if self.engine.sandboxed else ()
        result = assemble(self.name, list(read_stream(self.stream_path)), self.topics,
                          self.runs, self.seed, layers, self.started, duration, rc)
        result = annotate(result, self.notebooks, self.notes)
        return replace(result, files=tuple(self.notes.get(FILES_NOTE, ())),
                       topics=tuple(replace(t, untouched_stub=t.topic in self.stubs,
                                            code_lines=self.code_lines.get(t.topic, ""),
                                            written=self.written.get(t.topic, ()))
                                    for t in result.topics))

    def fail(self, error: str) -> None:
        self.error = error
        self.rc = 0
        self.duration = time.monotonic() - self.t0

    def ended(self) -> bool:
        """Whether grading has ended (killing a child that overran its deadline); the result
        is assembled by ``poll``, which a caller may put off while it starts other work."""
        if self.rc is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.rc = os.waitstatus_to_exitcode(status)
            elif time.monotonic() > self.deadline and self._progressed():
                self.deadline = time.monotonic() + self.stall
                return False
            elif time.monotonic() > self.deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                self.rc = -signal.SIGKILL
            else:
                return False
            self.duration = time.monotonic() - self.t0
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        return True

    def _progressed(self) -> bool:
        """Whether a test has ended since the deadline was last set (the stream grew)."""
        try:
            size = os.stat(self.stream_path).st_size
        except OSError:
            return False
        grew, self._streamed = size > self._streamed, size
        return grew

    def poll(self) -> SubmissionResult | None:
        """The result once grading has ended."""
        if self.result is not None:
            return self.result
        if not self.ended():
            return None
        layers = self.engine.layers if self.engine.sandboxed else ()
        if self.error:
            self.result = error_result(self.name, self.topics, self.seed, self.error,
                                       sandbox=layers, started=self.started,
                                       duration=self.duration)
        else:
            try:  # the result the child finished with
                self.result = SubmissionResult.from_dict(json.loads(
                    self._finished_path.read_bytes()))
                self.finished = True
            except FileNotFoundError:
                self.result = self._assemble(self.rc if self.rc is not None else 0,
                                             self.duration)
        remove_tree(str(self.work))
        return self.result

    def wait(self) -> SubmissionResult:
        while (result := self.poll()) is None:
            time.sleep(0.002)
        return result

    def kill(self) -> None:
        if self.pid > 0 and self.rc is None:
            os.kill(self.pid, signal.SIGKILL)


def assemble(name: str, records: list[dict[str, Any]], topics: list[str],
             runs: dict[str, TopicRun], seed: int, layers: tuple[str, ...], started: str,
             duration: float, rc: int) -> SubmissionResult:
    """Build the submission's result from the stream; tests that never reported become errors."""
    collected: list[dict[str, Any]] = []
    hidden_counts: dict[str, int] = {}
    done: dict[str, TestResult] = {}
    step_notes: dict[str, list[str]] = {}  # from the grader's own steps that failed
    dynamic: dict[str, tuple[str, ...]] = {}  # per topic, the names built at run time
    runtime: dict[str, list[str]] = {}  # per topic, the code built and run at run time
    for r in records:
        if r.get("type") == "collected":
            collected = r["tests"]
            hidden_counts = r.get("hidden_counts", {})
        elif r.get("type") == "test":
            body = {k: v for k, v in r.items() if k != "type"}
            done[body["nodeid"]] = read_test_result(body)
        elif r.get("type") == "note" and r.get("topic") in topics:
            step_notes.setdefault(r["topic"], []).append(str(r["note"]))
            if r.get("dynamic"):
                dynamic[r["topic"]] = tuple(str(d) for d in r["dynamic"])
        elif r.get("type") == "runtime_code" and r.get("topic") in topics:
            kept = runtime.setdefault(r["topic"], [])
            for text in r.get("code", ()):
                if isinstance(text, str) and text not in kept and \
                        sum(map(len, kept)) + len(text) <= MAX_RUNTIME_CODE:
                    kept.append(text)
    tests: list[TestResult] = []
    crashed = rc not in (0, 1)  # pytest: 0 all passed, 1 some failed
    for c in collected:
        if c["nodeid"] in done:
            tests.append(done[c["nodeid"]])
        else:
            tests.append(TestResult(
                topic=c["topic"], name=c["name"], nodeid=c["nodeid"], kind=c["kind"],
                outcome=Outcome.ERROR, score=0.0, max_score=float(c["points"]),
                message="grading stopped before this test finished (the grader's process "
                        "ended unexpectedly); it scores 0 here and a regrade will run it",
                flags=(Flag.GRADER_ERROR,)))
    notes = {t: ("not submitted" if runs[t].module_path is None else "") for t in topics}
    submitted = {t: runs[t].module_path is not None for t in topics}
    for t in tests:  # the first import failure of a topic explains the whole topic
        if Flag.IMPORT_FAILED in t.flags and not notes[t.topic]:
            notes[t.topic] = t.message.splitlines()[0]
    for topic, extra in step_notes.items():
        notes[topic] = "; ".join([notes[topic], *extra] if notes[topic] else extra)
    error = ""
    if not collected and rc != 0:
        error = f"the test session could not start (exit status {rc}); see grading.log"
    elif crashed and len(done) < len(collected):
        error = f"the grading process ended early (exit status {rc})"
    result = SubmissionResult(
        submission=name, topics=tuple(
            replace(t, dynamic=dynamic.get(t.topic, ()),
                    runtime_code=tuple(runtime.get(t.topic, ())))
            for t in topic_results(tests, topics, notes, submitted)),
        tests=tuple(tests), seed=seed, sandbox=layers, started=started,
        duration=round(duration, 3), error=error,
        notes=tuple(f"{t}: {n}" for t, n in notes.items() if n), hidden_tests=hidden_counts)
    return result
