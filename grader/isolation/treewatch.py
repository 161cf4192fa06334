"""The launcher's watch on a worker's memory: the whole worker ends when its tree goes over.

Each process of a worker has its own data limit (RLIMIT_DATA: what it inherited plus the topic's
``memory_mb``), which bounds one process only: a worker that forks children could hold that
much in each. Where the machine gives the grader no memory cgroup, the launcher (process A, the
worker's parent, outside its PID namespace) polls the tree instead: the memory its processes
hold privately (pages no process outside the tree shares, from ``/proc/<pid>/smaps_rollup``),
summed over the worker and its descendants, and kills the whole worker when the sum goes over
``memory_mb``. Pages shared with the zygote (NumPy, torch) are not the worker's and are not
counted; a page the worker copies on writing is. That is how a memory cgroup charges a tree
too, so the same code gets the same room either way.

A poll costs a read of ``/proc/<pid>/status`` per process (RssAnon and RssShmem, an upper
bound of what it holds privately); ``smaps_rollup``, which walks the page tables, is read only
once that upper bound is over the limit.

Where a cgroup bounds the tree, the kernel kills one process of it when the group goes over
its limit, and a worker could carry on without the child it lost; the launcher then watches the
group's count of such kills and ends the whole worker at the first, so that going over the
limit ends a worker the same way with a cgroup or without.
"""

from __future__ import annotations

import os
import select
import signal
from dataclasses import dataclass
from typing import Callable

__all__ = ["Verdict", "private_bytes", "resident_bytes", "tree_over", "tree_pids",
           "tree_private_bytes", "wait_watching"]

INTERVAL_S = 0.02  # between polls: a process touching memory gains about 100 MB in that time


def tree_pids(pid: int, max_depth: int = 64) -> list[int]:
    """``pid`` and its descendants that are alive now (from ``/proc/*/task/*/children``)."""
    found: list[int] = []
    todo = [(pid, 0)]
    while todo:
        p, depth = todo.pop()
        if not os.path.isdir(f"/proc/{p}"):
            continue
        found.append(p)
        if depth >= max_depth:
            continue
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [(int(k), depth + 1) for k in f.read().split()]
            except (OSError, ValueError):
                continue
    return found


def _fields(path: str, names: tuple[str, ...]) -> int:
    """Sum of the ``kB`` fields ``names`` of a /proc file, in bytes (0 where unreadable)."""
    total = 0
    try:
        with open(path) as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in names:
                    total += int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return total


def resident_bytes(pid: int) -> int:
    """Anonymous and shared-memory pages resident in ``pid``: an upper bound of what it holds
    privately (pages it shares with the zygote are in it too). Cheap: kept as counters."""
    return _fields(f"/proc/{pid}/status", ("RssAnon", "RssShmem"))


def private_bytes(pid: int) -> int:
    """Pages mapped by ``pid`` alone (clean or dirty): what it holds that no other process does."""
    return _fields(f"/proc/{pid}/smaps_rollup", ("Private_Clean", "Private_Dirty"))


def tree_private_bytes(pid: int) -> int:
    """What ``pid`` and its descendants hold privately, together."""
    return sum(private_bytes(p) for p in tree_pids(pid))


@dataclass(frozen=True)
class Verdict:
    """How the watched worker ended: its wait status, and what got it killed for its memory
    (the tree's bytes, or the kernel's count of processes it killed; 0 if it was not)."""

    status: int
    over: int = 0


def tree_over(pid: int, limit: int) -> int:
    """What the tree of ``pid`` holds privately where that is over ``limit`` bytes, else 0."""
    pids = tree_pids(pid)
    if sum(resident_bytes(p) for p in pids) <= limit:
        return 0
    held = sum(private_bytes(p) for p in pids)
    return held if held > limit else 0


def wait_watching(pid: int, over: Callable[[], int], interval_s: float = INTERVAL_S) -> Verdict:
    """Wait for child ``pid`` to end, killing it (and with it its PID namespace) as soon as
    ``over()`` says its tree went over its memory limit (a non-zero figure, kept in the verdict)."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = -1
    try:
        while True:
            if pidfd >= 0:
                select.select([pidfd], [], [], interval_s)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return Verdict(status)
            if pidfd < 0:
                select.select([], [], [], interval_s)
            figure = over()
            if figure:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _, status = os.waitpid(pid, 0)
                return Verdict(status, figure)
    finally:
        if pidfd >= 0:
            os.close(pidfd)
