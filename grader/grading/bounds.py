"""Bounds on the trusted grading child itself: the memory it may take and how long a test may run.

The worker's limits bound student code; these bound what the trusted side does with the student's
replies, should a check ever compute with one before looking at it.

- **Memory**: the grading child may grow its private data (heap and anonymous maps, what NumPy
  and torch allocate arrays in) by ``TRUSTED_MEMORY_MB`` beyond what it held when it was forked
  from the engine (``RLIMIT_DATA``; the address space is not limited, since torch maps large
  regions it never touches). Honest grading stays far below: a grading child of the whole
  course grows by well under 100 MB. Past the limit an allocation raises ``MemoryError`` and
  the test fails; the process and the other tests go on. ``GRADER_TRUSTED_MEMORY_MB`` changes it.
- **Time**: a test's time limit covers the whole test. Remote calls stop at the test's
  deadline; a watchdog interrupts the trusted side's own work on the replies once it runs
  ``margin(limit)`` past that deadline, and the test is recorded as ``timeout``
  (:class:`TestOverran`). Python checks signals between operations, so one long NumPy
  operation ends before the interruption: the memory bound is what keeps such an operation
  small.
- **What a check tries on its own**: work a check does only to explain a failure (running each
  of the topic's mutants to name the classic mistake, ``grader.checks.hints``) is bounded
  again, inside the test's bound, by :func:`at_most`: a mutant whose very mistake is its cost
  (a gradient by finite differences, minutes at a test's large size) is given up after a
  second or two, not run until the watchdog ends the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

from grader.grading.remote import WorkerTimeout

TRUSTED_MEMORY_MB = 4096
MIN_MARGIN = 2.0  # seconds past a test's deadline before its trusted work is interrupted


class TestOverran(WorkerTimeout):
    """The trusted side's work in a test ran well past the test's deadline."""

    __test__ = False  # not a pytest test class


class OutOfTime(BaseException):
    """A block bounded by :func:`at_most` ran out of its seconds. Not an ``Exception``, so
    that the bounded code's own ``except Exception`` does not hide it."""


def margin(limit: float) -> float:
    """How long past its deadline a test's own work may go on: half its limit, at least 2 s."""
    return max(MIN_MARGIN, 0.5 * limit)


def data_size() -> int | None:
    """This process's private data in bytes (``VmData``), None where /proc does not say."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def limit_memory(extra_mb: int | None = None) -> int | None:
    """In the grading child: let its private data grow by ``extra_mb`` (default
    ``TRUSTED_MEMORY_MB``) at most. Returns the limit in bytes, None where it cannot be set."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    if extra_mb is None:
        extra_mb = int(os.environ.get("GRADER_TRUSTED_MEMORY_MB", TRUSTED_MEMORY_MB))
    now = data_size()
    if now is None or extra_mb <= 0:
        return None
    limit = now + extra_mb * 1024 * 1024
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    except (OSError, ValueError):
        return None
    return limit


@contextlib.contextmanager
def watchdog(deadline: float | None, limit: float) -> Iterator[None]:
    """While the block runs: interrupt it with :class:`TestOverran` once it runs
    ``margin(limit)`` past ``deadline`` (``time.monotonic``). Only in the main thread of a
    process with SIGALRM; elsewhere, and without a deadline, it does nothing."""
    if deadline is None or not hasattr(signal, "setitimer") or \
            signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, signal.SIG_IGN, None):
        yield
        return
    extra = margin(limit)

    def overran(signum: int, frame: Any) -> None:
        raise TestOverran(f"the test's checks ran {extra:g} s past its time limit", extra)

    try:
        previous = signal.signal(signal.SIGALRM, overran)
    except ValueError:  # not the main thread
        yield
        return
    try:
        signal.setitimer(signal.ITIMER_REAL, max(deadline + extra - time.monotonic(), 0.001))
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def at_most(seconds: float) -> Iterator[None]:
    """While the block runs: interrupt it with :class:`OutOfTime` once it has run ``seconds``.
    A :func:`watchdog` around it keeps its own deadline: where that comes first, the block is
    interrupted by the watchdog's :class:`TestOverran`, and otherwise the watchdog's timer is
    set again on leaving, for what is left of it. Only in the main thread of a process with
    SIGALRM; elsewhere the block runs unbounded, as it would without this."""
    import threading

    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return
    outer = signal.getsignal(signal.SIGALRM)
    left, _ = signal.getitimer(signal.ITIMER_REAL)
    if outer is None or (left and left <= seconds):
        yield  # a handler not set from Python, or the outer timer fires first
        return

    def spent(signum: int, frame: Any) -> None:
        raise OutOfTime(f"ran out of its {seconds:g} s")

    started = time.monotonic()
    signal.signal(signal.SIGALRM, spent)
    try:
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer)
        if left:
            signal.setitimer(signal.ITIMER_REAL,
                             max(left - (time.monotonic() - started), 0.001))
