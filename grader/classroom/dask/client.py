"""The client's side (``grader batch --scheduler``): ``DaskEngine`` takes the place of the local
``Engine`` in a batch, handing each submission to the cluster as data, and ``DaskJob.poll``
brings its result back as JSON."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import logging
import os
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from grader.classroom.dask.shared import (HOST_START_SECONDS, DistributedError, grader_version,
                                          pack_course, pack_submission)
from grader.classroom.dask.worker import DaskWorkerSetup, _worker_info, grade_task
from grader.course import Course
from grader.grading.protocol import Finish, choose_seed
from grader.grading.submission import SubmissionError, stage
from grader.results.model import SubmissionResult, write_text_atomic
from grader.results.scoring import error_result

# Each submission is tried at most ALLOWED_FAILURES + 1 times when its workers die (the local
# cluster's setting; a remote scheduler has its own, see docs/distributed.md).
ALLOWED_FAILURES = 2
RETRIES = 2  # tries again when the task itself fails (the engine host on that worker died)
# A LocalCluster closes a worker's nanny for good when no worker of that name is back this long
# after one of its deaths (distributed.deploy.lost-worker-timeout, 15 s by default), even if it
# came back and died again in between: a submission that kills workers on a busy machine would
# leave the rest of the batch fewer workers. 10 minutes, what an engine host is given to start:
# a slow restart on a loaded machine is not taken for a worker that is gone.
LOST_WORKER_SECONDS = HOST_START_SECONDS
# Submissions handed to a remote cluster's scheduler at once, per worker thread, so that no
# thread waits for the next one; the rest wait on the client.
QUEUED_PER_THREAD = 2
SLOTS_REFRESH_SECONDS = 1.0
# What a batch hands to a DaskEngine at once (its --jobs): everything; the engine itself keeps
# QUEUED_PER_THREAD per worker thread in flight and the rest on the client.
HANDED_OVER = 1_000_000


class SchedulerLost(KeyboardInterrupt):
    """The client lost its scheduler for good (it could not reconnect).

    Nothing is wrong with the submissions in flight, so none must become an error row: as a
    KeyboardInterrupt it stops a batch the way Ctrl-C does (in-flight work dropped, tables
    written from what is done, ``--resume`` to finish), which ``Exception`` handlers let pass.
    """


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
        self.finished = False  # the caller writes the files, from the result sent back
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

    def start(self, submission: Path, out: Path, options: Any, *, name: str | None = None,
              finish: Finish | None = None) -> DaskJob:
        """``finish`` is left to the caller: the result is made on another machine."""
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

    def prepare_children(self) -> None:
        """The report's template compiled here, where the files are written from the results
        sent back; each host prepares its own grading children (``host.serve_host``)."""
        from grader.results import report

        report.prepare()

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

