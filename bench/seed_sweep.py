"""Seed sweep: grade every correct solution of each topic at many seeds, through the real grading
path, and report every test that any of them ever failed, with the draw.

    python bench/seed_sweep.py                          # every topic, 200 seeds, 2 at a time
    python bench/seed_sweep.py --topics transformer attention --seeds 400 --jobs 2
    python bench/seed_sweep.py --seeds 30 --first-seed 1000 --solutions reference
    python bench/seed_sweep.py --topics performance --solutions ladder --seeds 10

A topic's correct solutions: its reference (``reference/<topic>/solution.py``), each alternative
(``reference/<topic>/alternatives/*.py``), each rung of its ladder of solutions
(``reference/<topic>/ladder/``, the performance topic's: slow or fast, each is correct) and the
modules of the demo class's students
(``examples/class``) whose recorded grade for the topic is full marks; the same file handed in
twice is graded once. Each is graded by the engine (sandboxed workers, the hidden and public
tests, float32 and float64 parametrisations alike) at seeds ``first_seed .. first_seed + seeds
- 1``. A speed test's points depend on the machine, not the draw: a speed test that earns fewer
points is not counted, one whose timed results were wrong is; by default the sweep grades a copy
of the course whose speed tests take the fewest samples (``--full-speed``: as configured).

Prints one line per topic (solutions, seeds, gradings, failures, the tests that failed per dtype)
and then every failure: topic, solution, seed, test, message. Exits 1 when any correct solution
lost a point. A topic's author runs it after changing a test or a tolerance (docs/authoring.md).
"""

from __future__ import annotations

import argparse
import collections
import csv
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.course import Course  # noqa: E402
from grader.grading.engine import Engine, Options  # noqa: E402
from grader.grading.submission import stage  # noqa: E402

CLASS = ROOT / "examples" / "class"
EXPECTED = ROOT / "examples" / "expected_grades.csv"
SPEED = re.compile(r"as fast as the public baseline")  # a speed test scored on time


@dataclass(frozen=True)
class Solution:
    topic: str
    name: str  # "reference", "alternative <stem>" or "demo <student>"
    path: Path


@dataclass(frozen=True)
class Failure:
    solution: Solution
    seed: int
    test: str
    message: str

    @property
    def dtype(self) -> str:
        found = re.search(r"float(16|32|64)", self.test)
        return found.group(0) if found else "-"


def demo_correct(course: Course, topics: list[str], work: Path) -> list[Solution]:
    """The demo students' modules of the topics they have full marks in."""
    try:
        with EXPECTED.open(newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return []
    out = []
    for topic in topics:
        values = [float(r[topic]) for r in rows if r.get(topic) not in (None, "")]
        if not values:
            continue
        full = max(values)
        for r in rows:
            if r.get(topic) in (None, "") or float(r[topic]) < full:
                continue
            student = r["student"]
            source = next((p for p in (CLASS / student, CLASS / f"{student}.zip") if p.exists()),
                          None)
            if source is None:
                continue
            try:
                staged = stage(source, work / student / topic, [topic])
            except Exception:  # noqa: BLE001 - a deliberately broken demo submission
                continue
            module = staged.module(topic)
            if module is not None:
                out.append(Solution(topic, f"demo {student}", module))
    return out


def ladder(topic: str, work: Path) -> list[Solution]:
    """The correct rungs of a topic's ladder (``reference/<topic>/ladder/<function>/*.py``), each
    handed in as bench/bench_ladder.py hands it in: the public baseline with the rung's
    function after it."""
    folder = ROOT / "reference" / topic / "ladder"
    if not folder.is_dir():
        return []
    from bench_ladder import rungs, submission_source

    out = []
    for rung in rungs([f.name for f in sorted(folder.iterdir()) if f.is_dir()]):
        if rung.path.parent.parent != folder:
            continue  # the reference and the alternatives: graded as such
        module = work / "ladder" / topic / f"{rung.student}.py"
        module.parent.mkdir(parents=True, exist_ok=True)
        module.write_text(submission_source(rung))
        out.append(Solution(topic, f"ladder {rung.fn} {rung.name}", module))
    return out


def solutions(course: Course, topics: list[str], kinds: set[str], work: Path) -> list[Solution]:
    found: list[Solution] = []
    for topic in topics:
        if "reference" in kinds:
            found.append(Solution(topic, "reference", course.solution(topic)))
        if "alternatives" in kinds:
            found += [Solution(topic, f"alternative {p.stem}", p)
                      for p in course.alternatives(topic)]
        if "ladder" in kinds:
            found += ladder(topic, work)
    if "demo" in kinds:
        found += demo_correct(course, topics, work)
    seen: set[tuple[str, str]] = set()
    unique = []
    for s in found:
        key = (s.topic, hashlib.sha256(s.path.read_bytes()).hexdigest())
        if key not in seen:
            seen.add(key)
            unique.append(s)
    return unique


def submission_of(s: Solution, work: Path, course: Course) -> Path:
    """A folder holding the solution as the topic's module (and linear_regression's reference
    where model_selection builds on it)."""
    folder = work / "submissions" / s.topic / re.sub(r"\W+", "_", s.name)
    if not folder.exists():
        folder.mkdir(parents=True)
        shutil.copyfile(s.path, folder / f"{s.topic}.py")
        if s.topic != "linear_regression" and "linear_regression" in s.path.read_text():
            shutil.copyfile(course.solution("linear_regression"), folder / "linear_regression.py")
    return folder


def lost(result: Any) -> list[tuple[str, str]]:
    """(test, message) of every test that lost points for a reason other than speed."""
    out = []
    for t in getattr(result, "tests", []):
        if t.outcome == "not_graded" or t.score >= t.max_score:
            continue
        if t.outcome == "passed" and SPEED.search(t.message or ""):
            continue  # partial speed points: the machine's load, not the draw
        if t.outcome == "failed" and SPEED.search(t.message or "") and \
                "must be correct first" not in (t.message or ""):
            continue
        out.append((t.name, (t.message or "")[:300]))
    error = getattr(result, "error", "")
    if error:
        out.append(("(grading)", error[:300]))
    return out


def sweep(course: Course, todo: list[Solution], seeds: list[int], jobs: int,
          work: Path) -> tuple[list[Failure], collections.Counter[str]]:
    failures: list[Failure] = []
    graded: collections.Counter[str] = collections.Counter()
    pending = [(s, seed) for seed in seeds for s in todo]
    running: list[tuple[Solution, int, Any, Path]] = []
    done = 0
    t0 = time.monotonic()
    with Engine(course) as engine:
        while pending or running:
            while pending and len(running) < jobs:
                s, seed = pending.pop(0)
                out = work / "out" / f"{s.topic}-{seed}-{len(pending)}"
                job = engine.start(submission_of(s, work, course), out,
                                   Options(topics=(s.topic,), seed=seed), name=s.name)
                running.append((s, seed, job, out))
            for item in list(running):
                s, seed, job, out = item
                if not job.ended():
                    continue
                result = job.poll()
                if result is None:
                    continue
                running.remove(item)
                done += 1
                graded[s.topic] += 1
                found = [Failure(s, seed, test, message) for test, message in lost(result)]
                for f in found:  # as they come: a long sweep shows its findings early
                    print(f"  FAIL {f.solution.topic} | {f.solution.name} | seed {f.seed} | "
                          f"{f.test} | {f.message}", file=sys.stderr, flush=True)
                failures += found
                shutil.rmtree(out, ignore_errors=True)  # this grading's only: others still run
                if done % 50 == 0:
                    rate = done / (time.monotonic() - t0)
                    print(f"  {done} gradings, {len(failures)} failures, "
                          f"{rate:.1f} gradings/s", file=sys.stderr, flush=True)
            time.sleep(0.02)
    return failures, graded


# Speed tests sample the least they may in the sweep: their points depend on the machine, not
# the draw, while their correctness checks still see every result they time.
QUICK_SPEED = {"samples": "2", "min_samples": "2", "warmup": "1", "min_sample_s": "0.000001",
               "budget_s": "1", "rounds": "1"}


def quick_speed_course(work: Path) -> Course:
    """A copy of the course whose speed tests take the fewest samples (``QUICK_SPEED``) and
    time no sweep of sizes."""
    root = work / "course"
    for name in ("assignments", "reference", "requirements"):
        shutil.copytree(ROOT / name, root / name)
    shutil.copyfile(ROOT / "course.toml", root / "course.toml")
    for toml in (root / "reference").glob("*/grading.toml"):
        text = toml.read_text()
        for key, value in QUICK_SPEED.items():
            text = re.sub(rf"(?m)^{key}\s*=\s*[^#\n]*", f"{key} = {value} ", text)
        text = re.sub(r"(?m)^sweep\s*=.*$", "", text)  # no scaling sweep: it is never scored
        toml.write_text(text)
    return Course(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", nargs="+", help="default: every topic of the course")
    parser.add_argument("--seeds", type=int, default=200, help="seeds per solution")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--solutions", nargs="+",
                        default=["reference", "alternatives", "demo", "ladder"],
                        choices=["reference", "alternatives", "demo", "ladder"])
    parser.add_argument("--full-speed", action="store_true",
                        help="speed tests sample as the course says (slow; by default they take "
                             "the fewest samples, their correctness checks unchanged)")
    args = parser.parse_args(argv)
    course = Course(ROOT)
    topics = args.topics or course.topics()
    unknown = sorted(set(topics) - set(course.topics()))
    if unknown:
        parser.error(f"no such topic: {', '.join(unknown)}")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    work = Path(tempfile.mkdtemp(prefix="seed-sweep-"))
    try:
        todo = solutions(course, topics, set(args.solutions), work)
        if not args.full_speed:
            course = quick_speed_course(work)
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{len(todo)} correct solutions of {len(topics)} topics, seeds {seeds[0]}.."
              f"{seeds[-1]}, {args.jobs} at a time (load {load})", flush=True)
        t0 = time.monotonic()
        failures, graded = sweep(course, todo, seeds, args.jobs, work)
        took = time.monotonic() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    per_topic = collections.Counter(s.topic for s in todo)
    print(f"\n{'topic':22s} {'solutions':>9s} {'seeds':>6s} {'gradings':>8s} "
          f"{'failures':>8s}  failed tests (dtype: count)")
    for topic in topics:
        mine = [f for f in failures if f.solution.topic == topic]
        by_dtype = collections.Counter(f.dtype for f in mine)
        tests = ", ".join(f"{d}: {n}" for d, n in sorted(by_dtype.items())) or "-"
        print(f"{topic:22s} {per_topic[topic]:9d} {len(seeds):6d} {graded[topic]:8d} "
              f"{len(mine):8d}  {tests}")
    print(f"\n{sum(graded.values())} gradings in {took / 60:.1f} min "
          f"(load {' '.join(f'{x:.1f}' for x in os.getloadavg())})")
    for f in failures:
        print(f"FAIL {f.solution.topic} | {f.solution.name} | seed {f.seed} | {f.test} | "
              f"{f.message}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
