"""Speed points on a saturated machine: the performance topic's reference, both alternatives and
the public baseline handed in by a class of 20, graded by ``grader batch`` with more jobs than
cores (every core busy with other gradings, as on a grading server), several times.

    python bench/bench_speed_fairness.py                 # 10 runs, --jobs = cores x 2
    python bench/bench_speed_fairness.py --runs 3 --jobs 6 --class-size 12
    python bench/bench_speed_fairness.py --background 4   # and 4 processes streaming memory

Prints, per run, each solution's speed points for conv2d_fast and lstm_sequence_fast (the CPU's
speed tests) with the lowest ratio it was scored on, then a summary: a correct, fast solution
should get full speed points in every run, the baseline none. The machine's load average is
printed before and after each run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "performance"
SPEED_TESTS = ("test_conv2d_fast_speed", "test_lstm_sequence_fast_speed")


def solutions() -> dict[str, Path]:
    """The kinds handed in: the reference, each alternative, and the baseline itself."""
    ref = ROOT / "reference" / TOPIC
    kinds = {"reference": ref / "solution.py"}
    for alt in sorted((ref / "alternatives").glob("*.py")):
        kinds[alt.stem] = alt
    kinds["baseline"] = ref / "mutants" / "baseline_itself.py"
    return kinds


def make_class(dest: Path, size: int) -> dict[str, str]:
    """``size`` students, the kinds taking turns; student -> kind."""
    kinds = solutions()
    names = list(kinds)
    who = {}
    for i in range(size):
        kind = names[i % len(names)]
        student = f"s{i:02d}-{kind}"
        folder = dest / student
        folder.mkdir(parents=True)
        shutil.copy(kinds[kind], folder / f"{TOPIC}.py")
        who[student] = kind
    return who


Value = tuple[float, float, "float | None", int]


def speed_points(out: Path, student: str) -> dict[str, Value]:
    """test -> (points, max points, scored ratio, rounds of sampling) of the student's speed
    tests."""
    result = json.loads((out / "students" / student / "result.json").read_text())
    found = {}
    for test in result["tests"]:
        name = test["name"].split("[")[0]
        if name in SPEED_TESTS:
            speed = (test.get("details") or {}).get("speed") or {}
            found[name] = (float(test["score"]), float(test["max_score"]),
                           speed.get("scored_ratio"),
                           int((speed.get("student") or {}).get("rounds", 1)))
    return found


BACKGROUND = """
import numpy as np
a = np.ones(6_250_000)  # 50 MB: far more than any cache
b = np.empty_like(a)
while True:
    np.copyto(b, a)
    a += 1.0
"""


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--class-size", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=(os.cpu_count() or 1) * 2)
    parser.add_argument("--keep", action="store_true", help="keep the batch folders")
    parser.add_argument("--background", type=int, default=0, metavar="N",
                        help="also run N processes that stream memory, beside the batch")
    args = parser.parse_args()
    burners = [subprocess.Popen([sys.executable, "-c", BACKGROUND])
               for _ in range(args.background)]
    try:
        bench(args)
    finally:
        for p in burners:
            p.kill()
            p.wait()


def bench(args: argparse.Namespace) -> None:

    tmp = Path(tempfile.mkdtemp(prefix="bench-speed-"))
    who = make_class(tmp / "class", args.class_size)
    print(f"class of {len(who)} ({', '.join(sorted(set(who.values())))}), "
          f"--jobs {args.jobs} on {os.cpu_count()} cores, {args.runs} runs, "
          f"{args.background} background processes streaming memory")
    # kind -> test -> list of (points, max, ratio, rounds) over every run and student
    seen: dict[str, dict[str, list[Value]]] = defaultdict(lambda: defaultdict(list))
    for run in range(1, args.runs + 1):
        out = tmp / f"run{run}"
        before = load()
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "grader", "batch", str(tmp / "class"), "--out", str(out),
             "--topic", TOPIC, "--jobs", str(args.jobs)],
            cwd=ROOT, capture_output=True, text=True)
        took = time.monotonic() - t0
        if proc.returncode not in (0, 1):
            print(proc.stdout[-2000:], proc.stderr[-2000:])
            raise SystemExit(f"run {run}: grader batch exited {proc.returncode}")
        per_kind: dict[str, dict[str, list[Value]]] = defaultdict(lambda: defaultdict(list))
        for student, kind in who.items():
            for test, value in speed_points(out, student).items():
                per_kind[kind][test].append(value)
                seen[kind][test].append(value)
        print(f"\nrun {run}: {took:.0f} s, load {before} -> {load()}")
        for kind in solutions():
            cells = []
            for test in SPEED_TESTS:
                values = per_kind[kind][test]
                if not values:
                    cells.append(f"{test.split('_fast')[0][5:]}: -")
                    continue
                points = min(v[0] for v in values)
                ratios = [v[2] for v in values if v[2] is not None]
                low = f"{min(ratios):.2f}" if ratios else "-"
                again = sum(1 for v in values if v[3] > 1)
                cells.append(f"{test.split('_fast')[0][5:]}: min {points:g}/{values[0][1]:g} "
                             f"(lowest ratio {low}, {again} measured again)")
            print(f"  {kind:34s} " + "   ".join(cells))
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    print("\nsummary over every run and student (speed points):")
    for kind in solutions():
        cells = []
        for test in SPEED_TESTS:
            values = seen[kind][test]
            full = sum(1 for v in values if v[0] >= v[1])
            none = sum(1 for v in values if v[0] <= 0)
            again = sum(1 for v in values if v[3] > 1)
            cells.append(f"{test.split('_fast')[0][5:]}: full {full}/{len(values)}, "
                         f"none {none}/{len(values)}, measured again {again}")
        print(f"  {kind:34s} " + "   ".join(cells))
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"\nbatch folders in {tmp}")


if __name__ == "__main__":
    main()
