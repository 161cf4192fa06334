"""Batch grading on Dask distributed: each submission is graded on a cluster's worker by the same engine.

The client (``grader batch --scheduler``) stays in charge of everything a local batch does:
discovery, content hashes, resume, atomic per-student writes, the gradebook. ``DaskEngine``
takes the place of the local ``Engine`` there: ``start`` hands one submission to the cluster
and ``DaskJob.poll`` brings its result back. What travels is data only: the submission as bytes
(a folder is zipped here), the options as a dict, and the result back as JSON text.

The code is split by the process it runs in: ``client`` (the batch's machine), ``worker`` (each
Dask worker), ``host`` (the engine host each worker starts) and ``shared`` (what travels between
them).

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

import importlib
from typing import Any

# Imported when first used: the engine host (``python -m grader.classroom.dask.host``) runs this
# file too, and needs neither Dask nor the client.
_EXPORTS = {
    "ALLOWED_FAILURES": "client", "HANDED_OVER": "client", "RETRIES": "client",
    "DaskEngine": "client", "DaskJob": "client", "SchedulerLost": "client", "dask_engine": "client",
    "DistributedError": "shared", "pack_course": "shared", "pack_submission": "shared",
    "unpack_submission": "shared",
    "DaskWorkerSetup": "worker", "_worker_info": "worker", "grade_task": "worker",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
