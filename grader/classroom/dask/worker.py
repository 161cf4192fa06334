"""The Dask worker's side: ``DaskWorkerSetup`` (a worker plugin) unpacks the course sent once by
the client into a private folder and keeps an engine host (``grader.classroom.dask.host``)
running; ``grade_task`` is the task that grades one submission there."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin

import grader
from grader.classroom.dask.shared import (FOLDER_BYTES, FOLDER_FILES, HOST_START_SECONDS,
                                          DistributedError, HostLost, grader_version,
                                          unpack_submission)
from grader.grading.submission import safe_extract
from grader.isolation.zygote import THREAD_ENV

HOST_STOP_SECONDS = 10.0


class EngineHost:
    """The Dask worker's side of an engine host: start it, send it requests, stop it."""

    def __init__(self, base: Path, *, allow_unsandboxed: bool = False,
                 timeout: float = HOST_START_SECONDS) -> None:
        self.base = base
        (base / "tmp").mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, **THREAD_ENV, TMPDIR=str(base / "tmp"))
        root = Path(grader.__file__).resolve().parent.parent
        if root.name not in ("site-packages", "dist-packages"):  # a checkout, not installed
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
        cmd = [sys.executable, "-m", "grader.classroom.dask.host", str(base)]
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

