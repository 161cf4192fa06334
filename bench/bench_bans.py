"""What putting a topic's bans in place costs a worker, and what the audit hook costs a call.

As the zygotes do: one process imports NumPy and torch, notes the library code
(``audit.record_library``, once) and works out the course's banned operators
(``dispatch.prepare``); per topic, a child stands for the topic's zygote (autograd taken away
where the topic's profile bans it) and plans the topic's trip-wires (``tripwire.plan``, once per
zygote for all the topic's workers), then forks a worker per sample that puts the bans in place
exactly as a worker does (``worker.arm``: trip-wires, operators refused in the dispatcher,
banned libraries forgotten, the audit hook) and reports how long that took; beside it, the same
with no plan (the worker sweeps for itself, as every worker did before plans). Then, in one
child with the hook armed, a student-like loop of torch operations, with and without the hook,
to show what the hook adds to code that raises no audit event.

    python bench/bench_bans.py [--n 15] [--topics performance transformer ...]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _in_child(work) -> dict:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = json.dumps(work()).encode()
        except BaseException as exc:  # report, never raise in the child
            out = json.dumps({"error": repr(exc)}).encode()
        os.write(w, out)
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def _private_dirty() -> float:
    """This process's private dirty memory, in MB: what it has written since its fork."""
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("Private_Dirty:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def main() -> None:
    from grader.course import Course

    course = Course(ROOT)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=15, help="forked samples per topic")
    ap.add_argument("--topics", nargs="+", default=[
        t for t in course.topics() if any((course.config(t).banned, course.config(t).banned_ops,
                                           course.config(t).banned_libraries,
                                           course.config(t).banned_capabilities))])
    args = ap.parse_args()

    import numpy  # noqa: F401
    import torch

    torch.set_num_threads(1)
    from grader.isolation import audit, dispatch, profiles, tripwire, worker

    t0 = time.perf_counter()
    audit.record_library()
    noted = time.perf_counter() - t0
    dispatch.prepare(sorted({op for t in args.topics for op in course.config(t).banned_ops}))
    print(f"noting the library code (once per zygote): {noted * 1000:.0f} ms")
    student = tempfile.mkdtemp(prefix="bench-bans-")

    print(f"\n{'topic':22} {'profile':17} {'calls':>5} {'ops':>4}   plan (once)   "
          f"arm with the plan, median (min-max) of {args.n}   arm sweeping for itself   "
          "memory the worker's arming dirtied, planned / swept")
    for topic in args.topics:
        cfg = course.config(topic)
        profile = profiles.profile(cfg.banned_libraries, cfg.banned_capabilities)
        calls = profiles.calls(cfg.banned, cfg.banned_libraries, cfg.banned_ops,
                               cfg.banned_capabilities)
        ops = () if profile == profiles.NUMPY else tuple(cfg.banned_ops)

        def zygote(calls=calls, ops=ops, profile=profile, cfg=cfg) -> dict:
            if profile == profiles.NO_AUTOGRAD:
                dispatch.no_autograd()
                audit.record_library()

            def arm(planned: bool) -> dict:
                if not planned:
                    tripwire._PLANS.clear()
                before = _private_dirty()
                t = time.perf_counter()
                worker.arm(student, calls, ops, tuple(cfg.banned_libraries))
                return {"s": time.perf_counter() - t, "mb": _private_dirty() - before}

            t = time.perf_counter()
            tripwire.plan(calls, audit.LIBRARY_TYPES)
            planning = time.perf_counter() - t
            gc.freeze()
            planned = [_in_child(lambda: arm(True)) for _ in range(args.n)]
            swept = [_in_child(lambda: arm(False)) for _ in range(args.n)]
            return {"plan": planning, "planned": [r["s"] for r in planned],
                    "swept": [r["s"] for r in swept],
                    "mb": [statistics.median(r["mb"] for r in rs) for rs in (planned, swept)]}

        got = _in_child(zygote)
        if "error" in got:
            print(f"{topic:22} {got['error']}")
            continue
        planned, swept = got["planned"], got["swept"]
        print(f"{topic:22} {profile:17} {len(calls):5} {len(ops):4}   "
              f"{got['plan'] * 1000:8.1f} ms   "
              f"{statistics.median(planned) * 1000:6.1f} ms ({min(planned) * 1000:.1f}-"
              f"{max(planned) * 1000:.1f}){'':22}"
              f"{statistics.median(swept) * 1000:6.1f} ms ({min(swept) * 1000:.1f}-"
              f"{max(swept) * 1000:.1f}){'':10}{got['mb'][0]:5.1f} / {got['mb'][1]:5.1f} MB")

    def loop() -> float:
        x = torch.randn(64, 64)
        t = time.perf_counter()
        for _ in range(2000):
            y = (x @ x).relu().sum(dim=0)
            y = torch.tanh(y) * 2 + y.mean()
        return time.perf_counter() - t

    plain = statistics.median(_in_child(lambda: {"s": loop()})["s"] for _ in range(5))
    cfg = course.config("transformer")

    def armed() -> dict:
        worker.arm(student, profiles.calls(cfg.banned, cfg.banned_libraries, cfg.banned_ops,
                                           cfg.banned_capabilities),
                   tuple(cfg.banned_ops), tuple(cfg.banned_libraries))
        return {"s": loop()}

    hooked = statistics.median(_in_child(armed)["s"] for _ in range(5))
    print(f"\n2000 rounds of six torch operations: {plain * 1000:.0f} ms plain, "
          f"{hooked * 1000:.0f} ms with the transformer's bans and the hook "
          f"({(hooked / plain - 1) * 100:+.1f} %)")
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
