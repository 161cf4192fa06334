"""The performance topic graded on a GPU: one command, one table.

Grades, with GPU grading turned on for this run only, the reference solution (three times, to
see how far its speed ratios move between regrades), the public baseline, the untouched stub,
every alternative in reference/performance/alternatives and every mutant in
reference/performance/mutants, then prints per submission its score and per test its points,
speed ratio (with its interval) or peak GPU memory. What it should show on a GPU: the reference
and the alternatives with full marks, the baseline and the stub with no speed or memory points,
every mutant losing points, the reference's ratios within ±5 % of each other.

Without CUDA it says so and exits 0 (nothing to check here); ``--cpu`` grades the same on the
CPU instead, to try the check itself where there is no GPU (the GPU tests are then not graded).

    python bench/gpu_check.py [--seed 1] [--json results.json] [--cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TOPIC = "performance"
MB = 2**20


def candidates() -> list[tuple[str, Path]]:
    ref = ROOT / "reference" / TOPIC
    found = [(f"reference #{i}", ref / "solution.py") for i in (1, 2, 3)]
    found += [("baseline", ROOT / "assignments" / TOPIC / "baseline.py"),
              ("stub", ROOT / "assignments" / TOPIC / f"{TOPIC}.py")]
    found += [(f"alternative {p.stem}", p) for p in sorted((ref / "alternatives").glob("*.py"))]
    found += [(f"mutant {p.stem}", p) for p in sorted((ref / "mutants").glob("*.py"))]
    return found


def cell(test: Any) -> str:
    """Points, and the figure behind them: a speed ratio with its interval, a peak memory."""
    text = f"{test.score:g}/{test.max_score:g}"
    speed = test.details.get("speed")
    memory = test.details.get("gpu_memory")
    if speed:
        lo, hi = speed.get("ratio_interval", [None, None])
        text += f" {speed['ratio']:.3g}× [{lo:.3g}, {hi:.3g}]"
    elif memory:
        text += f" {memory['student_peak_bytes'] / MB:.0f} MB (≤ {memory['allowed_bytes'] / MB:.0f})"
    elif test.outcome not in ("passed", "failed"):
        text += f" {test.outcome}"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write every result here")
    parser.add_argument("--cpu", action="store_true",
                        help="grade on the CPU (to try the check where there is no GPU)")
    args = parser.parse_args()

    from grader.course import Course
    from grader.grading import device
    from grader.grading.engine import Engine, Options

    # GPU grading on for this run: what is checked here.
    decided = device.decide(enabled=not args.cpu)
    if not decided.cuda and not args.cpu:
        print(f"nothing to check here: {decided.reason}")
        return 0
    print(f"grading {TOPIC} on {', '.join(decided.names) or 'the CPU'} (load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} cores)")
    rows: list[tuple[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    try:
        with Engine(Course(ROOT)) as engine:
            for name, path in candidates():
                sub = work / name.replace(" ", "_") / "submission"
                sub.mkdir(parents=True)
                shutil.copyfile(path, sub / f"{TOPIC}.py")
                result = engine.grade(sub, sub.parent / "out",
                                      Options(topics=(TOPIC,), seed=args.seed))
                rows.append((name, result))
                print(f"  graded {name}: {result.topic(TOPIC).score:g}/"
                      f"{result.topic(TOPIC).max_score:g}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(rows)
    if args.json:
        args.json.write_text(json.dumps({n: r.to_dict() for n, r in rows}, indent=1))
    return 0


def report(rows: list[tuple[str, Any]]) -> None:
    """One table: a row per submission, a column per test that times or measures, and the
    score; then the spread of the reference's ratios over its regrades."""
    first = rows[0][1]
    columns = [t.name for t in first.tests if t.details.get("speed") or
               t.details.get("gpu_memory") or "speed" in t.name or "gpu" in t.name]
    header = ["submission", "score", *[c.removeprefix("test_") for c in columns]]
    table = [header]
    for name, result in rows:
        by_name = {t.name: t for t in result.tests}
        topic = result.topic(TOPIC)
        table.append([name, f"{topic.score:.2f}/{topic.max_score:g}",
                      *[cell(by_name[c]) if c in by_name else "—" for c in columns]])
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))
    print()
    references = [r for n, r in rows if n.startswith("reference")]
    for c in columns:
        ratios = [t.details["speed"]["ratio"] for r in references for t in r.tests
                  if t.name == c and t.details.get("speed")]
        if len(ratios) > 1:
            mid = statistics.median(ratios)
            spread = max(abs(x / mid - 1) for x in ratios)
            print(f"reference {c}: ratios {', '.join(f'{x:.3g}' for x in ratios)}; "
                  f"within ±{spread:.1%} of their median")


if __name__ == "__main__":
    sys.exit(main())
