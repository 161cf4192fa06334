"""Batch grading on Dask distributed: each submission is graded on a cluster's worker by the same engine.

The client (``grader batch --scheduler``) stays in charge of everything a local batch does:
discovery, content hashes, resume, atomic per-student writes, the gradebook. ``DaskEngine``
takes the place of the local ``Engine`` there: ``start`` hands one submission to the cluster
and ``DaskJob.poll`` brings its result back. What travels is data only: the submission as bytes
(a folder is zipped here), the options as a dict, and the result back as JSON text.

On every Dask worker, ``DaskWorkerSetup`` unpacks the course (tests, references, grading.toml,
sent once from the client) into a private folder and starts an *engine host*: a plain,
single-threaded Python process that preloads torch and the references once in an ``Engine``
(zygote, sandbox, trust split: exactly as ``grader batch`` on one machine) and grades the
submissions the worker's tasks pass to it. The engine forks one trusted child per submission,
and forking is only safe from a process without threads, which a Dask worker is not; that is
why the engine lives in its own process. The host ends, and removes its folder, when the worker
closes the pipe to it, including when the worker is killed.

A worker that dies mid-task loses nothing: the scheduler runs the task again elsewhere, and the
client receives one result. A submission whose tasks keep killing workers is given up after
``distributed.scheduler.allowed-failures`` + 1 tries and becomes an ``error`` row.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import io
import itertools
import json
import logging
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grader
from grader.classroom.layout import BatchError
from grader.course import Course
from grader.environment import environment_files, load_environment
from grader.results.model import SCHEMA_VERSION, SubmissionResult, write_text_atomic
from grader.grading.protocol import choose_seed
from grader.results.scoring import error_result
from grader.grading.submission import SubmissionError, safe_extract, stage

if __name__ == "__main__":
    # The engine host (below): it needs no Dask, and importing it costs each worker's start.
    WorkerPlugin = object
else:
    from distributed import WorkerPlugin

# Each submission is tried at most ALLOWED_FAILURES + 1 times when its workers die (the local
# cluster's setting; a remote scheduler has its own, see docs/distributed.md).
ALLOWED_FAILURES = 2
RETRIES = 2  # tries again when the task itself fails (the engine host on that worker died)
HOST_START_SECONDS = 600.0  # importing torch and the references on a busy node can be slow
# A LocalCluster closes a worker's nanny for good when no worker of that name is back this long
# after one of its deaths (distributed.deploy.lost-worker-timeout, 15 s by default), even if it
# came back and died again in between: a submission that kills workers on a busy machine would
# leave the rest of the batch fewer workers. 10 minutes, what an engine host is given to start:
# a slow restart on a loaded machine is not taken for a worker that is gone.
LOST_WORKER_SECONDS = HOST_START_SECONDS
HOST_STOP_SECONDS = 10.0
LOG_BYTES = 1 << 20  # the end of a submission's grading.log that travels back
# A student's folder travels whole; these bound what a worker unpacks from it.
FOLDER_BYTES = 2 * 1024**3
FOLDER_FILES = 200_000
# Left out of the course sent to workers: they check the tests, they are not needed to grade.
COURSE_SKIPPED = {"mutants", "alternatives", "__pycache__"}
# Submissions handed to a remote cluster's scheduler at once, per worker thread, so that no
# thread waits for the next one; the rest wait on the client.
QUEUED_PER_THREAD = 2
SLOTS_REFRESH_SECONDS = 1.0
# What a batch hands to a DaskEngine at once (its --jobs): everything; the engine itself keeps
# QUEUED_PER_THREAD per worker thread in flight and the rest on the client.
HANDED_OVER = 1_000_000


class DistributedError(BatchError):
    """The cluster cannot be reached or cannot grade; the message says what to do."""


class HostLost(Exception):
    """The engine host on a worker ended while grading; the task is tried again."""


class SchedulerLost(KeyboardInterrupt):
    """The client lost its scheduler for good (it could not reconnect).

    Nothing is wrong with the submissions in flight, so none must become an error row: as a
    KeyboardInterrupt it stops a batch the way Ctrl-C does (in-flight work dropped, tables
    written from what is done, ``--resume`` to finish), which ``Exception`` handlers let pass.
    """


# ---------------------------------------------------------------------------------- packing


def pack_submission(path: Path) -> tuple[bytes, bool]:
    """A submission as bytes: a .zip (or any file) as it is, a folder zipped here.

    Returns ``(data, is_folder)``. Links are left out of a folder (staging skips them too).
    Files over 1 MiB are stored rather than deflated so that the unpacking side's zip-bomb
    check (a ratio on files of that size) never refuses a folder that grades locally.
    """
    if not path.is_dir():
        return path.read_bytes(), False
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", strict_timestamps=False) as zf:
        for p in sorted(path.rglob("*")):  # rglob does not enter linked folders
            if p.is_symlink():
                continue
            rel = p.relative_to(path).as_posix()
            if p.is_dir():
                zf.writestr(rel + "/", b"")
            elif p.is_file():
                big = p.stat().st_size > 1 << 20
                zf.write(p, rel, compress_type=zipfile.ZIP_STORED if big else zipfile.ZIP_DEFLATED)
    return buf.getvalue(), True


def unpack_submission(filename: str, data: bytes, is_folder: bool, dest: Path) -> Path:
    """Rebuild on a worker what ``pack_submission`` packed, under its own name in ``dest``."""
    name = Path(filename).name
    if name in ("", ".", ".."):
        name = "submission"
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / name
    if not is_folder:
        target.write_bytes(data)
        return target
    archive = dest / ".transfer.zip"
    archive.write_bytes(data)
    try:
        safe_extract(archive, target, max_bytes=FOLDER_BYTES, max_files=FOLDER_FILES)
    finally:
        archive.unlink()
    return target


def pack_course(course: Course, topics: Sequence[str] | None = None) -> bytes:
    """The chosen topics' public and secret folders (tests, references, grading.toml) as a zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, strict_timestamps=False) as zf:
        for topic in topics or course.topics():
            for room in (course.assignments, course.reference):
                folder = room / topic
                if not folder.is_dir():
                    continue
                for p in sorted(folder.rglob("*")):
                    rel = p.relative_to(folder)
                    if p.is_symlink() or not p.is_file() or COURSE_SKIPPED & set(rel.parts):
                        continue
                    zf.write(p, f"{room.name}/{topic}/{rel.as_posix()}")
        for rel in environment_files(course):  # each worker checks the same environment
            zf.write(course.root / rel, rel.as_posix())
    return buf.getvalue()


def grader_version() -> str:
    """The grader's version and results schema: what the client and its workers must share."""
    return f"{grader.__version__} (results schema {SCHEMA_VERSION})"


# ------------------------------------------------------------------- the engine host (worker)


def serve_host(base: Path, allow_unsandboxed: bool) -> int:
    """The engine host's main loop: grade the requests read from stdin, reply on stdout.

    ``base`` holds the course (``base/course``) and every temporary file; it is removed on exit.
    Requests and replies are JSON lines: ``{"id", "submission", "out", "name", "options"}`` in,
    ``{"id", "result", "log"}`` or ``{"id", "error"}`` out. End of input ends the host.
    """
    from grader.grading.engine import Engine, Job, Options

    replies = os.dup(1)
    os.dup2(2, 1)  # anything printed by a library goes to the log, never into a reply

    def send(msg: dict[str, Any]) -> None:
        data = (json.dumps(msg) + "\n").encode()
        while data:
            data = data[os.write(replies, data):]

    jobs: dict[int, tuple[Job, Path]] = {}
    engine: Engine | None = None
    try:
        try:
            course = Course(base / "course")
            engine = Engine(course, sandboxed=True, allow_unsandboxed=allow_unsandboxed,
                            environment=load_environment(course))
        except Exception as exc:  # noqa: BLE001 - told to the client as the worker's reason
            send({"error": f"on {socket.gethostname()}: {type(exc).__name__}: {exc}"})
            return 1
        _children_die_with_host()
        send({"ready": True, "layers": list(engine.layers), "sandboxed": engine.sandboxed,
              "pid": os.getpid()})
        pending = b""
        while True:
            readable, _, _ = select.select([0], [], [], 0.005 if jobs else None)
            if readable:
                chunk = os.read(0, 1 << 16)
                if not chunk:  # the Dask worker closed the pipe or died
                    return 0
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    req = json.loads(line)
                    try:
                        options = Options.from_dict(req["options"])
                        job = engine.start(Path(req["submission"]), Path(req["out"]), options,
                                           name=req["name"])
                        jobs[req["id"]] = (job, Path(req["out"]))
                    except Exception:  # noqa: BLE001 - a grader bug fails this task only
                        send({"id": req["id"], "error": _traceback()})
            for rid, (job, out) in list(jobs.items()):
                try:
                    result = job.poll()
                except Exception:  # noqa: BLE001
                    del jobs[rid]
                    job.kill()
                    send({"id": rid, "error": _traceback()})
                    continue
                if result is not None:
                    del jobs[rid]
                    send({"id": rid, "result": result.to_dict(), "log": _log_tail(out)})
    finally:
        for job, _ in jobs.values():
            job.kill()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and job.poll() is None:
                time.sleep(0.01)
        if engine is not None:
            engine.close()
        shutil.rmtree(base, ignore_errors=True)


def _children_die_with_host() -> None:
    """The host's grading children get SIGKILL when the host dies (the worker's death ends it)."""
    if not sys.platform.startswith("linux"):
        return
    from grader.isolation import sandbox

    host = os.getpid()

    def arm() -> None:
        sandbox.die_with_parent()
        if os.getppid() != host:  # the host was gone before the line above
            os._exit(70)

    os.register_at_fork(after_in_child=arm)


def _log_tail(out: Path) -> str:
    try:
        with open(out / "grading.log", "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - LOG_BYTES))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _traceback() -> str:
    import traceback

    return traceback.format_exc()


class EngineHost:
    """The Dask worker's side of an engine host: start it, send it requests, stop it."""

    def __init__(self, base: Path, *, allow_unsandboxed: bool = False,
                 timeout: float = HOST_START_SECONDS) -> None:
        self.base = base
        (base / "tmp").mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   TMPDIR=str(base / "tmp"))
        root = Path(grader.__file__).resolve().parent.parent
        if root.name not in ("site-packages", "dist-packages"):  # a checkout, not installed
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
        cmd = [sys.executable, "-m", "grader.classroom.dask", "host", str(base)]
        if allow_unsandboxed:
            cmd.append("--unsafe-no-sandbox")
        # Its cwd is base, which the sandbox treats as secret like any current directory.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     cwd=base, env=env)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._stdin, self._stdout = self.proc.stdin, self.proc.stdout
        ready, _, _ = select.select([self._stdout], [], [], timeout)
        line = self._stdout.readline() if ready else b""
        hello = json.loads(line) if line.strip() else {}
        if not hello.get("ready"):
            rc = self.proc.poll()
            self.close()
            raise DistributedError(
                hello.get("error") or f"the grading engine on {socket.gethostname()} "
                + (f"exited with status {rc} while starting" if rc is not None
                   else f"did not start within {timeout:.0f} s") + " (see the worker's log)")
        self.layers: tuple[str, ...] = tuple(hello["layers"])
        self.sandboxed = bool(hello["sandboxed"])
        self.pid = int(hello["pid"])
        self._ids = itertools.count()
        self._pending: dict[int, concurrent.futures.Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.lost = False
        threading.Thread(target=self._read, name="grader-engine-host", daemon=True).start()

    def grade(self, submission: Path, out: Path, name: str, options: dict[str, Any]
              ) -> dict[str, Any]:
        """Grade one submission; the reply ``{"result", "log"}``. Raises ``HostLost``."""
        future: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        with self._lock:
            if self.lost:
                raise HostLost("the grading engine on this worker has ended")
            rid = next(self._ids)
            self._pending[rid] = future
            try:
                self._stdin.write(json.dumps({"id": rid, "submission": str(submission),
                                              "out": str(out), "name": name,
                                              "options": options}).encode() + b"\n")
                self._stdin.flush()
            except OSError:
                self._pending.pop(rid, None)
                raise HostLost("the grading engine on this worker has ended") from None
        reply = future.result()
        if "error" in reply:
            raise RuntimeError(f"the grader failed on this worker:\n{reply['error']}")
        return reply

    def _read(self) -> None:
        for line in self._stdout:
            msg = json.loads(line)
            with self._lock:
                future = self._pending.pop(msg["id"], None)
            if future is not None:
                future.set_result(msg)
        rc = self.proc.wait()
        with self._lock:
            self.lost = True
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(HostLost(f"the grading engine on this worker ended "
                                          f"(exit status {rc}) while grading"))

    def close(self) -> None:
        try:
            self._stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(HOST_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.base, ignore_errors=True)


# ------------------------------------------------------------------------ the worker plugin


class DaskWorkerSetup(WorkerPlugin):
    """Holds the course and one engine host per Dask worker, from setup to teardown."""

    def __init__(self, course_zip: bytes, client_version: str, allow_unsandboxed: bool) -> None:
        self.course_zip = course_zip
        self.client_version = client_version
        self.allow_unsandboxed = allow_unsandboxed
        self._host: EngineHost | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: self.__dict__[k] for k in ("course_zip", "client_version", "allow_unsandboxed")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._host = None
        self._lock = threading.Lock()

    async def setup(self, worker: Any) -> None:
        # Starting the engine takes seconds: off the worker's event loop.
        await asyncio.get_running_loop().run_in_executor(None, self.host)

    async def teardown(self, worker: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def host(self) -> EngineHost:
        """The running engine host, started again if the last one ended."""
        with self._lock:
            if self._host is not None and not self._host.lost:
                return self._host
            if self._host is not None:
                self._host.close()
                self._host = None
            if grader_version() != self.client_version:
                raise DistributedError(
                    f"this worker ({sys.executable}) runs grader {grader_version()}, the client "
                    f"{self.client_version}; install the same version on every worker")
            base = Path(tempfile.mkdtemp(prefix="grader-dask-"))
            try:
                archive = base / "course.zip"
                archive.write_bytes(self.course_zip)
                safe_extract(archive, base / "course", max_bytes=FOLDER_BYTES,
                             max_files=FOLDER_FILES)
                archive.unlink()
                self._host = EngineHost(base, allow_unsandboxed=self.allow_unsandboxed)
            except BaseException:
                shutil.rmtree(base, ignore_errors=True)
                raise
            return self._host

    def info(self) -> dict[str, Any]:
        """The running engine host's sandbox, pid and folder; empty while none is up."""
        host = self._host  # no lock: a host still starting must not block the worker's loop
        if host is None or host.lost:
            return {}
        return {"layers": list(host.layers), "sandboxed": host.sandboxed, "pid": host.pid,
                "base": str(host.base)}

    def grade(self, student: str, filename: str, data: bytes, is_folder: bool,
              options: dict[str, Any]) -> str:
        host = self.host()
        job = host.base / "jobs" / uuid.uuid4().hex
        try:
            submission = unpack_submission(filename, data, is_folder, job / "in")
            reply = host.grade(submission, job / "out", student, options)
        finally:
            shutil.rmtree(job, ignore_errors=True)
        return json.dumps({"result": reply["result"], "log": reply.get("log", "")})

    def close(self) -> None:
        with self._lock:
            if self._host is not None:
                self._host.close()
                self._host = None


def grade_task(plugin: str, student: str, filename: str, data: bytes, is_folder: bool,
               options: dict[str, Any]) -> str:
    """The Dask task: grade one submission on this worker; the result as JSON text."""
    from distributed import get_worker

    found = get_worker().plugins.get(plugin)
    if not isinstance(found, DaskWorkerSetup):
        raise DistributedError(f"this worker has no grader set up ({plugin}); it joined after "
                               "the batch ended, or its set-up failed (see its log)")
    return found.grade(student, filename, data, is_folder, options)


def _worker_info(plugin: str, dask_worker: Any) -> dict[str, Any]:
    found = dask_worker.plugins.get(plugin)
    return found.info() if isinstance(found, DaskWorkerSetup) else {}


# ------------------------------------------------------------------------------ the client


class DaskJob:
    """One submission handed to the cluster; ``poll`` returns its result once it is back."""

    # No local grading child to watch: batch polls the job itself (see protocol.Job).
    pidfd = -1
    rc: int | None = None
    deadline = float("inf")

    def __init__(self, engine: DaskEngine, submission: Path, out: Path, options: Any,
                 name: str, seed: int, topics: list[str]) -> None:
        self.engine = engine
        self.submission = submission
        self.out = out
        self.options = dataclasses.replace(options, seed=seed)
        self.name = name
        self.seed = seed
        self.topics = topics
        self.key = ""
        self.future: Any = None
        self.result: SubmissionResult | None = None
        self.killed = False
        self.started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.t0 = time.monotonic()

    def submit(self) -> None:
        """Check the submission can be staged (as a local batch would), then send it."""
        try:
            with tempfile.TemporaryDirectory(prefix="grader-check-") as tmp:
                stage(self.submission, Path(tmp), self.topics)
        except SubmissionError as exc:  # the same row a local batch writes, without a trip
            self.result = error_result(
                self.name, self.topics, self.seed, str(exc), sandbox=self.engine.layers,
                started=self.started, duration=time.monotonic() - self.t0)
            return
        data, is_folder = pack_submission(self.submission)
        self.key = f"grade-{self.out.name}-{self.engine.token}-{next(self.engine.counter)}"
        self.future = self.engine.client.submit(
            grade_task, self.engine.plugin, self.name, self.submission.name, data, is_folder,
            self.options.to_dict(), key=self.key, retries=self.engine.retries,
            pure=False)

    def ended(self) -> bool:
        return self.poll() is not None

    def poll(self) -> SubmissionResult | None:
        if self.result is None:
            self.engine.pump()
        if self.result is not None or self.future is None or not self.future.done():
            return self.result
        if self.future.status == "cancelled" and not self.killed:
            # The client lost its scheduler, which forgets every task: send it again once
            # the client is back (connected() raises if it never comes back).
            if self.engine.connected():
                self.submit()
            return None
        from distributed import KilledWorker

        self.engine.finished(self)
        if self.future.status == "error" and isinstance(self.future.exception(), KilledWorker):
            tries = self.future.exception().allowed_failures + 1
            self.result = error_result(
                self.name, self.topics, self.seed,
                f"the Dask workers grading this submission died {tries} times in a row; "
                "it was given up (see the workers' logs)",
                sandbox=self.engine.layers, started=self.started,
                duration=time.monotonic() - self.t0)
            return self.result
        reply = json.loads(self.future.result())  # a task's own failure is raised here
        if reply.get("log"):
            self.out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.out / "grading.log", reply["log"])
        self.result = SubmissionResult.from_dict(reply["result"])
        return self.result

    def kill(self) -> None:
        self.killed = True
        self.engine.finished(self)
        if self.future is not None and self.engine.client.status == "running":
            self.future.cancel()

    def wait(self) -> SubmissionResult | None:
        """The result, once it is back; None at once for a killed job (it will have none)."""
        while not self.killed and self.poll() is None:
            time.sleep(0.02)
        return self.result


class DaskEngine:
    """Grades on a Dask cluster implementing ``grader.grading.protocol.Engine``.

    ``scheduler`` is an address (``tcp://host:8786``) or ``"local"`` for a ``LocalCluster`` of
    ``processes`` worker processes (default: one per core) with one thread each.
    """

    def __init__(self, course: Course, *, scheduler: str, topics: Sequence[str] | None = None,
                 processes: int | None = None, sandboxed: bool = True,
                 allow_unsandboxed: bool = False, retries: int = RETRIES,
                 allowed_failures: int = ALLOWED_FAILURES, connect_timeout: float = 30.0,
                 echo: Callable[[str], None] | None = None) -> None:
        import dask
        from dask.utils import parse_timedelta
        from distributed import Client, LocalCluster

        self.course = course
        self.topics = list(topics or course.topics())
        self.retries = retries
        self.token = uuid.uuid4().hex[:8]
        self.counter = itertools.count()
        self.plugin = f"grader-{self.token}"
        self.cluster: Any = None
        self.client: Any = None
        self._waiting: deque[DaskJob] = deque()
        self._in_flight: set[DaskJob] = set()
        self._slots, self._slots_at = 0, -float("inf")
        self.echo = echo or (lambda s: None)
        self.address = scheduler
        self._config = contextlib.ExitStack()  # what this engine set in dask's config, until close
        try:
            if scheduler == "local":
                # Read by the cluster each time a worker dies, so kept for the engine's lifetime;
                # a longer timeout the user configured is kept.
                lost = parse_timedelta(dask.config.get("distributed.deploy.lost-worker-timeout"))
                self._config.enter_context(dask.config.set({
                    "distributed.deploy.lost-worker-timeout": max(lost, LOST_WORKER_SECONDS)}))
                with dask.config.set({
                    "distributed.scheduler.allowed-failures": allowed_failures,
                    # A worker holds only the task it runs: a dying worker then costs a try to
                    # that submission alone, never to one queued behind it.
                    "distributed.scheduler.worker-saturation": 1.0,
                }):
                    self.cluster = LocalCluster(
                        n_workers=processes or len(os.sched_getaffinity(0)),
                        threads_per_worker=1, processes=True, dashboard_address=":0",
                        silence_logs=logging.ERROR)
                address = self.cluster.scheduler_address
            else:
                address = scheduler
            self.address = address
            try:
                self.client = Client(address, timeout=connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise DistributedError(
                    f"cannot reach the Dask scheduler at {address} ({exc}); start one with "
                    "'dask scheduler' (see docs/distributed.md) or use --scheduler local") \
                    from None
            try:
                self.client.register_plugin(
                    DaskWorkerSetup(pack_course(course, self.topics), grader_version(),
                                  allow_unsandboxed), name=self.plugin)
            except Exception as exc:  # noqa: BLE001 - a worker's reason, told in one line
                raise DistributedError(f"the Dask workers could not start the grader: {exc}") \
                    from None
            infos = [i for i in self.client.run(_worker_info, self.plugin).values() if i]
        except BaseException:
            self.close()
            raise
        # The weakest sandbox among the workers; each result records its own worker's layers.
        self.layers: tuple[str, ...] = tuple(
            layer for layer in (infos[0]["layers"] if infos else [])
            if all(layer in i["layers"] for i in infos))
        # Workers that join later set up their own engine, which refuses a weaker sandbox
        # unless allowed; with none here yet there is nothing to warn about.
        self.sandboxed = bool(infos) and all(i["sandboxed"] for i in infos)
        threads = sum(self.client.nthreads().values())
        self.echo(f"Dask scheduler {address}: {len(infos)} workers, {threads} threads"
             + ("" if infos else "; grading starts when workers join"))

    # The interface batch uses --------------------------------------------------------------

    def start(self, submission: Path, out: Path, options: Any, *, name: str | None = None
              ) -> DaskJob:
        seed = choose_seed(options.seed)
        topics = list(options.topics or self.topics)
        job = DaskJob(self, Path(submission), out,
                      options, name or Path(submission).name.removesuffix(".zip"), seed, topics)
        self._waiting.append(job)
        self.pump()
        return job

    def close(self) -> None:
        if self.client is not None:
            # The workers' engine hosts end with the plugin (a remote cluster outlives us).
            with contextlib.suppress(Exception):
                self.client.unregister_worker_plugin(self.plugin)
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
        self._config.close()

    # Flow control -------------------------------------------------------------------------

    def connected(self) -> bool:
        """Whether tasks can be sent now: False while the client reconnects to its scheduler.

        Raises ``SchedulerLost`` once the client has given up reconnecting.
        """
        if self.client.status == "running":
            return True
        if self.client.status == "connecting":
            return False
        self.echo(f"lost the Dask scheduler at {self.address}; stopping")
        raise SchedulerLost(f"lost the Dask scheduler at {self.address}")

    def pump(self) -> None:
        """Send waiting submissions while fewer than the cluster's slots are in flight."""
        if not self.connected():
            return
        while self._waiting and len(self._in_flight) < self.slots():
            job = self._waiting.popleft()
            job.submit()
            if job.future is not None:
                self._in_flight.add(job)

    def slots(self) -> int:
        # Workers come and go (an adaptive SLURM cluster): ask again now and then.
        if time.monotonic() - self._slots_at > SLOTS_REFRESH_SECONDS:
            threads = sum(self.client.nthreads().values())
            self._slots = max(1, QUEUED_PER_THREAD * threads)
            self._slots_at = time.monotonic()
        return self._slots

    def finished(self, job: DaskJob) -> None:
        self._in_flight.discard(job)
        try:
            self._waiting.remove(job)
        except ValueError:
            pass


def dask_engine(scheduler: str, **kwargs: Any) -> Callable[..., DaskEngine]:
    """An ``engine_factory`` for ``grader.classroom.batch.Batch`` that grades on the given cluster."""

    def factory(course: Course, *, sandboxed: bool = True, allow_unsandboxed: bool = False
                ) -> DaskEngine:
        return DaskEngine(course, scheduler=scheduler, sandboxed=sandboxed,
                          allow_unsandboxed=allow_unsandboxed, **kwargs)

    return factory


def _main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "host":
        return serve_host(Path(argv[1]), allow_unsandboxed="--unsafe-no-sandbox" in argv[2:])
    print("usage: python -m grader.classroom.dask host BASE [--unsafe-no-sandbox]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
