"""Overhead of grading on Dask: ``grader batch --jobs 2`` against ``--scheduler local --jobs 2``.

The same synthetic class as ``bench_batch.py`` is graded twice with one seed: by the local
batch (one engine, two forked grading children at a time) and through a Dask LocalCluster of
two worker processes with one thread each (an engine host per worker; submissions as bytes,
results as JSON). Both runs must write the same gradebook.

    python bench/bench_distributed.py                     # 200 submissions, 2 topics
    python bench/bench_distributed.py --n 40 --topic metrics

Prints, for each path: the wall time, the start-up (until the first result is written), the
steady rate (submissions per minute from the first result to the last), and the distributed
path's cost per submission over the local one. On a shared machine, ``--rounds 2`` or more
alternates the order of the two paths and reports medians, so that neither always meets the
busier minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

# The same class as the batch benchmark.
from bench_batch import make_submissions

sys.path.insert(0, str(ROOT))
from grader.course import Course


class Finishes(threading.Thread):
    """Records when each submission's result lands in batch.json (polled every 0.1 s)."""

    def __init__(self, state: Path) -> None:
        super().__init__(daemon=True)
        self.state = state
        self.times: list[float] = []  # monotonic time of the k-th completion
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            try:
                done = len(json.loads(self.state.read_text()).get("students", {}))
            except (OSError, ValueError):
                continue
            now = time.monotonic()
            self.times += [now] * (done - len(self.times))


def run(subs: Path, out: Path, jobs: int, topics: list[str], scheduler: str | None
        ) -> dict[str, float]:
    cmd = [sys.executable, "-m", "grader", "batch", str(subs), "--out", str(out),
           "--jobs", str(jobs), "--seed", "1"]
    for t in topics:
        cmd += ["--topic", t]
    if scheduler:
        cmd += ["--scheduler", scheduler]
    finishes = Finishes(out / "batch.json")
    t0 = time.monotonic()
    finishes.start()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    finishes.stop.set()
    finishes.join()
    if proc.returncode != 0:
        raise SystemExit(f"grader batch failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    times = finishes.times
    first, last = times[0] - t0, times[-1] - t0
    steady = 60 * (len(times) - 1) / max(last - first, 1e-9)
    return {"wall": wall, "start": first, "steady": steady}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="submissions in the class")
    parser.add_argument("--jobs", type=int, default=2,
                        help="local grading children / LocalCluster worker processes")
    parser.add_argument("--topic", action="append", default=None,
                        help="grade only this topic (repeatable; default: linear_regression "
                             "and metrics)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run both paths this many times, in alternating order")
    parser.add_argument("--keep", type=Path, default=None, help="keep the class and outputs here")
    args = parser.parse_args()

    topics = args.topic or ["linear_regression", "metrics"]
    Course(ROOT).check_topics(topics)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    subs = work / "class"
    subs.mkdir(parents=True, exist_ok=True)
    make_submissions(subs, args.n, topics, "course")
    print(f"{args.n} submissions × {len(topics)} topics ({', '.join(topics)}), "
          f"{args.jobs} at a time, {os.cpu_count()} cores, in {work}")

    runs: dict[str, list[dict[str, float]]] = {"local": [], "dask": []}
    same = True
    for i in range(args.rounds):
        order = ["local", "dask"] if i % 2 == 0 else ["dask", "local"]
        for path in order:
            runs[path].append(run(subs, work / f"{path}-{i}", args.jobs, topics,
                                  "local" if path == "dask" else None))
        same = same and all(
            (work / f"local-{i}" / f).read_text() == (work / f"dask-{i}" / f).read_text()
            for f in ("gradebook.csv", "canvas.csv"))
    local, dask = ({k: statistics.median(r[k] for r in runs[path]) for k in runs[path][0]}
                   for path in ("local", "dask"))

    print()
    if args.rounds > 1:
        print(f"medians of {args.rounds} rounds")
    print(f"{'':34}{f'local --jobs {args.jobs}':>18}{f'Dask LocalCluster {args.jobs}×1':>26}")
    print(f"{'wall time':34}{local['wall']:>17.1f}s{dask['wall']:>25.1f}s")
    print(f"{'start-up (to the first result)':34}{local['start']:>17.1f}s{dask['start']:>25.1f}s")
    print(f"{'steady rate (submissions/min)':34}{local['steady']:>18.1f}{dask['steady']:>26.1f}")
    extra = (dask["wall"] - local["wall"]) / args.n
    steady_extra = 60 / dask["steady"] - 60 / local["steady"]
    print()
    print(f"Dask's cost per submission: {extra:+.3f} s over the whole run, "
          f"{steady_extra:+.3f} s at the steady rate ({dask['steady'] / local['steady']:.2f}× "
          "the local rate)")
    print(f"same gradebook and canvas.csv: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
