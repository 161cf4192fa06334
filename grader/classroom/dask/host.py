"""The engine host: a plain, single-threaded process that a Dask worker starts, holding one
``Engine`` (zygote, sandbox, trust split: exactly as ``grader batch`` on one machine) and
grading the requests its worker passes on. ``python -m grader.classroom.dask.host BASE``.

The engine forks one trusted child per submission, and forking is only safe from a process
without threads, which a Dask worker is not; that is why the engine lives here. The host ends,
and removes its folder, when the worker closes the pipe to it, including when it is killed.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

from grader.course import Course
from grader.environment import load_environment

LOG_BYTES = 1 << 20  # the end of a submission's grading.log that travels back


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
        engine.prepare_children()  # it grades job after job; its children die with this process
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


def _main(argv: list[str]) -> int:
    if argv and not argv[0].startswith("-"):
        return serve_host(Path(argv[0]), allow_unsandboxed="--unsafe-no-sandbox" in argv[1:])
    print("usage: python -m grader.classroom.dask.host BASE [--unsafe-no-sandbox]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
