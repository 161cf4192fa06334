"""What putting a topic's bans in place costs a worker, and what the audit hook costs a call.

As the zygote does: one process imports NumPy and torch, notes the library code
(``audit.record_library``, once), then forks a child per sample that puts one topic's bans in
place exactly as a worker does (``worker.arm``: trip-wires, operators refused in the
dispatcher, banned libraries forgotten, the audit hook) and reports how long that took. Then,
in one child with the hook armed, a student-like loop of torch operations, with and without
the hook, to show what the hook adds to code that raises no audit event.

    python bench/bench_bans.py [--n 15] [--topics performance transformer ...]
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    from grader.course import Course

    course = Course(ROOT)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=15, help="forked samples per topic")
    ap.add_argument("--topics", nargs="+", default=[
        t for t in course.topics() if any((course.config(t).banned, course.config(t).banned_ops,
                                           course.config(t).banned_libraries))])
    args = ap.parse_args()

    import numpy  # noqa: F401
    import torch

    torch.set_num_threads(1)
    from grader.isolation import audit, worker

    t0 = time.perf_counter()
    audit.record_library()
    noted = time.perf_counter() - t0
    print(f"noting the library code (once per zygote): {noted * 1000:.0f} ms")
    student = tempfile.mkdtemp(prefix="bench-bans-")

    print(f"\n{'topic':22} {'calls':>5} {'ops':>5} {'libs':>4}   arm, median (min-max) of {args.n}")
    for topic in args.topics:
        cfg = course.config(topic)

        def arm(cfg=cfg) -> dict:
            t = time.perf_counter()
            worker.arm(student, tuple(cfg.banned), tuple(cfg.banned_ops),
                       tuple(cfg.banned_libraries))
            return {"s": time.perf_counter() - t}

        times = [_in_child(arm)["s"] for _ in range(args.n)]
        print(f"{topic:22} {len(cfg.banned):5} {len(cfg.banned_ops):5} "
              f"{len(cfg.banned_libraries):4}   {statistics.median(times) * 1000:6.1f} ms "
              f"({min(times) * 1000:.1f}-{max(times) * 1000:.1f})")

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
        worker.arm(student, tuple(cfg.banned), tuple(cfg.banned_ops),
                   tuple(cfg.banned_libraries))
        return {"s": loop()}

    hooked = statistics.median(_in_child(armed)["s"] for _ in range(5))
    print(f"\n2000 rounds of six torch operations: {plain * 1000:.0f} ms plain, "
          f"{hooked * 1000:.0f} ms with the transformer's bans and the hook "
          f"({(hooked / plain - 1) * 100:+.1f} %)")
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
