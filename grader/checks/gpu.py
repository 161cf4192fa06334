"""The trusted side's view of the GPU during a test: its memory, its L2 cache, one test at a time.

Nothing here takes the worker's word. GPU memory is read from the driver (NVML, the optional
``nvidia-ml-py`` package): per process where the driver lists processes, and where it lists none
(many VMs and containers) from the device's used memory, which is the worker's alone because
GPU tests hold the device to themselves (:func:`exclusive`). Speed samples start with the L2
cache flushed by this process (:class:`L2Flush`): the cache is the device's, shared by every
process on it, so a worker cannot keep it warm for itself.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["L2Flush", "MemoryWatch", "device_used_bytes", "exclusive", "memory_reader",
           "process_used_bytes"]


_NVML: dict[int, Any] = {}  # by pid: initialised once per process, kept for its readings


def _nvml() -> Any:
    """The ``pynvml`` module, initialised in this process; None where there is no NVML (the
    optional ``nvidia-ml-py`` package, or a driver)."""
    pid = os.getpid()
    if pid not in _NVML:
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception:  # ImportError, or pynvml.NVMLError: no driver or no GPU
            _NVML[pid] = None
        else:
            _NVML[pid] = pynvml
    return _NVML[pid]


def process_used_bytes(pid: int) -> int | None:
    """GPU memory the driver accounts to process ``pid``, or None where it lists no such process
    (no NVML, or a driver that keeps no per-process figures)."""
    nvml = _nvml()
    if nvml is None:
        return None
    try:
        total, seen = 0, False
        for i in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            for proc in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if proc.pid == pid and proc.usedGpuMemory is not None:
                    total += int(proc.usedGpuMemory)
                    seen = True
        return total if seen else None
    except Exception:  # pynvml.NVMLError
        return None


def device_used_bytes(index: int = 0) -> int | None:
    """Memory in use on GPU ``index`` by every process together (NVML), or None without NVML."""
    nvml = _nvml()
    if nvml is None:
        return None
    try:
        return int(nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByIndex(index)).used)
    except Exception:  # pynvml.NVMLError
        return None


def memory_reader(pid: int, index: int = 0) -> tuple[Callable[[], int | None], str] | None:
    """How to read the GPU memory of worker ``pid`` from here, and what the figure is: the
    driver's per-process figure where it has one, else the device's used memory (the worker's,
    while the test holds the device: :func:`exclusive`); None where neither can be read."""
    if process_used_bytes(pid) is not None:
        return (lambda: process_used_bytes(pid)), "the driver's figure for the worker's process"
    if device_used_bytes(index) is not None:
        return (lambda: device_used_bytes(index)), ("the GPU's used memory while the test had "
                                                     "the GPU to itself")
    return None


class MemoryWatch:
    """Peak of ``read()`` (e.g. a worker's GPU memory) sampled from a thread while a call runs.

    A context manager: ``with MemoryWatch(read) as w: proxy.f(...)``, then ``w.peak``; the first
    reading is taken before the call (``w.before``) and a last one after it. ``limit``: each
    reading more than ``limit`` above ``before`` is passed to ``on_over`` (which may act on it
    more than once: a worker that is still starting at the first is stopped at a later one).
    """

    def __init__(self, read: Callable[[], int | None], interval_s: float = 0.002, *,
                 limit: int | None = None, on_over: Callable[[int], None] | None = None) -> None:
        self.read = read
        self.interval_s = interval_s
        self.limit = limit
        self.on_over = on_over
        self.before: int | None = None
        self.peak: int | None = None
        self.over: int | None = None  # the first reading past the limit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _sample(self) -> None:
        value = self.read()
        if value is None:
            return
        if self.peak is None or value > self.peak:
            self.peak = value
        if self.limit is not None and self.before is not None and \
                value - self.before > self.limit:
            self.over = self.over or value
            if self.on_over is not None:
                self.on_over(value)

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> MemoryWatch:
        self.before = self.read()
        self.peak = self.before
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def rise(self) -> int:
        """The peak above the first reading (0 where nothing could be read)."""
        return (self.peak or 0) - (self.before or 0)


@contextlib.contextmanager
def exclusive(index: int = 0, timeout_s: float = 3600.0, poll_s: float = 0.05) -> Iterator[None]:
    """Hold GPU ``index`` for this test alone among the grader's processes on this machine.

    The lock is an abstract unix socket's name: one process at a time can bind it, and it goes
    with the process, killed or not, leaving no file behind. Workers live in network namespaces
    of their own and cannot reach the name.
    """
    name = f"\0dl-grader-gpu-{index}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    end = time.monotonic() + timeout_s
    try:
        while True:
            try:
                sock.bind(name)
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or time.monotonic() > end:
                    raise
                time.sleep(poll_s)
        yield
    finally:
        sock.close()


class L2Flush:
    """Evicts GPU ``index``'s L2 cache from this process: writes a buffer larger than the cache
    (at least 256 MB, as GPU leaderboards do) and waits for the write to finish."""

    def __init__(self, l2_bytes: int, index: int = 0) -> None:
        import torch

        size = max(2 * l2_bytes, 256 * 2**20)
        self.device = f"cuda:{index}"
        self.buffer = torch.empty(size // 4, dtype=torch.int32, device=self.device)

    def __call__(self) -> None:
        import torch

        self.buffer.fill_(0)
        torch.cuda.synchronize(self.device)
