"""Grading throughput: the whole course for one submission, and the cost of the sandbox and the wire.

(a) One submission holding every topic's reference solution, graded by one engine: seconds per
    topic (its tests' durations added up) and for the whole submission, after the engine's start.
(b) One remote call, by size of what travels: a direct call in this process, a worker without
    the sandbox and a sandboxed worker (both forked from the zygote), for small arrays (µs per
    call) and large ones (MB/s, counting the bytes once each way).
(c) Starting a worker (fork, sandbox, import of a small module) with and without the sandbox.

The machine may be busy with other work: the load average is printed before and after.

    python bench/bench_course.py [--topics conv rnn] [--calls 2000] [--skip-course]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ECHO = '''
def noop():
    return None

def echo(x):
    return x
'''


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def bench_course(topics: list[str] | None, work: Path) -> None:
    from grader.course import Course
    from grader.grading.engine import Engine, Options

    course = Course(ROOT)
    chosen = topics or course.topics()
    sub = work / "submission"
    sub.mkdir()
    for t in chosen:
        shutil.copyfile(course.solution(t), sub / f"{t}.py")
    t0 = time.perf_counter()
    with Engine(course) as engine:
        start = time.perf_counter() - t0
        t1 = time.perf_counter()
        result = engine.grade(sub, work / "out", Options(topics=tuple(chosen), seed=1))
        total = time.perf_counter() - t1
    if result.error:
        raise SystemExit(f"grading failed: {result.error}")
    per_topic: dict[str, list[float]] = defaultdict(list)
    for test in result.tests:
        per_topic[test.topic].append(test.duration)
    print(f"\n(a) the whole course for one submission ({len(chosen)} topics, the references)")
    print(f"    engine start (zygote, preloads, sandbox probe): {start:6.2f} s")
    print(f"    {'topic':<22}{'tests':>6}{'seconds':>10}{'score':>14}")
    for t in chosen:
        tr = result.topic(t)
        print(f"    {t:<22}{len(per_topic[t]):>6}{sum(per_topic[t]):>10.2f}"
              f"{tr.score:>8.1f} / {tr.max_score:<4g}")
    tests_s = sum(sum(v) for v in per_topic.values())
    print(f"    {'all tests':<22}{len(result.tests):>6}{tests_s:>10.2f}")
    print(f"    whole submission, wall clock: {total:.2f} s "
          f"(+{total - tests_s:.2f} s outside the tests: fork, collection, workers, results)")


def _proxy(zygote, folder: Path, sandboxed: bool):
    from grader.isolation import sandbox
    from grader.grading.remote import StudentModule, StudentProxy, WorkerSpec

    spec = WorkerSpec(module_name="echo", module_path=str(folder / "echo.py"),
                      student_dir=str(folder), sandbox=sandboxed,
                      read_paths=(*sandbox.default_read_paths(), str(ROOT / "grader")),
                      limits={"memory_mb": 2048})
    session = StudentModule(zygote, spec)
    return StudentProxy(session, time.monotonic() + 3600), session


def _per_call(call, n: int) -> float:
    """Median over 5 rounds of the mean time of ``n`` calls."""
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        rounds.append((time.perf_counter() - t0) / n)
    return statistics.median(rounds)


def bench_wire(work: Path, calls: int) -> None:
    import numpy as np
    import torch

    from grader.grading.remote import Zygote

    folder = work / "echo"
    folder.mkdir()
    (folder / "echo.py").write_text(ECHO)
    sys.path.insert(0, str(folder))
    import echo  # the direct-call control: the same module, in this process

    direct_echo = echo.echo
    small = {"none": (), "10 float64": (np.ones(10),), "1000 float64": (np.ones(1000),),
             "10×10 float32 tensor": (torch.ones(10, 10),)}
    large = {"1 MB": 2**20, "16 MB": 16 * 2**20, "64 MB": 64 * 2**20}
    zygote = Zygote()
    try:
        proxies = {}
        for label, sandboxed in (("no sandbox", False), ("sandboxed", True)):
            proxies[label], _ = _proxy(zygote, folder, sandboxed)
            proxies[label].noop()  # started
        print(f"\n(b) one remote call (median of 5 rounds of {calls} calls), µs per call")
        print(f"    {'arguments':<22}{'direct':>10}{'no sandbox':>12}{'sandboxed':>12}"
              f"{'sandbox adds':>14}")
        for label, args in small.items():
            fn = "noop" if not args else "echo"
            d = _per_call((lambda a=args: direct_echo(*a)) if args else (lambda: None), calls)
            w = {k: _per_call(lambda p=p, a=args, f=fn: p.call(f, *a), calls)
                 for k, p in proxies.items()}
            print(f"    {label:<22}{d * 1e6:>10.2f}{w['no sandbox'] * 1e6:>12.1f}"
                  f"{w['sandboxed'] * 1e6:>12.1f}{(w['sandboxed'] - w['no sandbox']) * 1e6:>14.1f}")
        batch = 100
        per = {k: _per_call(lambda p=p: p.batch("echo", [(np.ones(10),)] * batch), calls // batch
                            or 1) / batch for k, p in proxies.items()}
        print(f"    {'10 float64, batch 100':<22}{'':>10}{per['no sandbox'] * 1e6:>12.1f}"
              f"{per['sandboxed'] * 1e6:>12.1f}   (per call, {batch} calls per round trip)")
        print("\n    large arrays: echo(x) round trip, MB/s counting the bytes once each way")
        print(f"    {'size':<22}{'no sandbox':>12}{'sandboxed':>12}{'torch, sandboxed':>18}")
        for label, nbytes in large.items():
            x = np.random.default_rng(0).random(nbytes // 8)
            tx = torch.from_numpy(x.astype(np.float32))
            reps = max(3, int(256 * 2**20 // nbytes))
            rate = {}
            for k, p in proxies.items():
                rate[k] = 2 * nbytes / 2**20 / _per_call(lambda p=p, x=x: p.echo(x), reps)
            t_rate = 2 * tx.nbytes / 2**20 / _per_call(
                lambda tx=tx: proxies["sandboxed"].echo(tx), reps)
            print(f"    {label:<22}{rate['no sandbox']:>12.0f}{rate['sandboxed']:>12.0f}"
                  f"{t_rate:>18.0f}")
        for p in proxies.values():
            p._session.close()

        print("\n(c) starting a worker: fork from the zygote, sandbox, import, first call")
        for label, sandboxed in (("no sandbox", False), ("sandboxed", True)):
            starts = []
            for _ in range(10):
                t0 = time.perf_counter()
                proxy, session = _proxy(zygote, folder, sandboxed)
                proxy.noop()
                starts.append(time.perf_counter() - t0)
                session.close()
            print(f"    {label:<12} {statistics.median(starts) * 1e3:7.1f} ms (median of 10)")
    finally:
        zygote.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topics", nargs="+", default=None, help="default: every topic")
    ap.add_argument("--calls", type=int, default=2000, help="calls per round for small arrays")
    ap.add_argument("--skip-course", action="store_true", help="only (b) and (c)")
    args = ap.parse_args()
    print(f"before: {load()}")
    work = Path(tempfile.mkdtemp(prefix="bench-course-"))
    try:
        if not args.skip_course:
            bench_course(args.topics, work)
        bench_wire(work, args.calls)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nafter: {load()}")


if __name__ == "__main__":
    main()
