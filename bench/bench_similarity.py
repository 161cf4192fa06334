"""Benchmark of the similarity step: its time against module size, a class of 40 with and
without a pathological pair, and a class of 200 modules.

    python bench/bench_similarity.py
    python bench/bench_similarity.py --sizes 5 10 20 40 80 160 --repeat 3

(a) For each size, two students hand in the same module of that size (the conv reference ending
in one long repetitive tuple, the pathological case, and ordinary code: the conv reference
repeated), and the pair is
compared and its side-by-side page built, as the batch does: the time per KB should stay flat.
(b) A class of 40 (the references, alternatives and mutants of four topics, handed in by turns,
some disguised) is compared by ``similarity.compare_class``, the bounded step ``grader batch``
runs, with and without two more students handing in the same metrics module with a 25 KB repetitive tuple; the
ratio of the two times should be close to 1.
(c) A class of 200 modules (``--class-size``), one per student over every topic, each a
reference, alternative or mutant disguised by a level of bench/disguises.py, compared by
``similarity.compare_class``. Prints the load average with the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.classroom import similarity  # noqa: E402
from grader.course import Course  # noqa: E402

COURSE = Course(ROOT)
TOPICS = ("linear_regression", "metrics", "conv", "attention")


def repetitive(kb: float, topic: str = "conv") -> str:
    """A real solution (so that two copies are flagged and get a page) ending in one long
    repetitive tuple of ``kb`` KB."""
    line = "    (1, 2, 3, 4, 5, 6, 7, 8),\n"
    return (COURSE.solution(topic).read_text() + "\n\nTABLE = (\n"
            + line * int(kb * 1024 / len(line)) + ")\n")


def ordinary(kb: float) -> str:
    source = COURSE.solution("conv").read_text()
    times = max(1, round(kb * 1024 / len(source)))
    return "\n\n".join(source.replace("def ", f"def v{i}_") for i in range(times))


def pair_seconds(source: str, topic: str = "conv") -> float:
    """Comparing two students who hand in ``source`` and building their page, as a batch does."""
    modules = {topic: {"a": source, "b": source}}
    stubs = {topic: COURSE.stub(topic).read_text()}
    out = Path(tempfile.mkdtemp(prefix="bench-similarity-"))
    try:
        t0 = time.perf_counter()
        pairs = similarity.compare(modules, stubs, 0.8)
        similarity.write_outputs(out, pairs, modules, stubs, {}, {})
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(out, ignore_errors=True)


def make_class(dest: Path, pathological: bool) -> list[tuple[str, Path, str]]:
    kinds = []
    for topic in TOPICS:
        kinds += [(topic, COURSE.solution(topic))] + [(topic, p) for p in
                                                        COURSE.alternatives(topic)]
        kinds += [(topic, p) for p in COURSE.mutants(topic)[:3]]
    entries = []
    for i in range(40):
        student = f"s{i:02d}"
        folder = dest / student
        folder.mkdir(parents=True)
        for k, topic in enumerate(TOPICS):
            choices = [p for t, p in kinds if t == topic]
            source = choices[(i + k) % len(choices)].read_text()
            if i % 5 == 0:  # some comments and blank lines added
                source = source.replace("\ndef ", "\n# mine\n\ndef ")
            (folder / f"{topic}.py").write_text(source)
        entries.append((student, folder, student))
    if pathological:
        for student in ("x1", "x2"):
            folder = dest / student
            folder.mkdir(parents=True)
            (folder / "metrics.py").write_text(repetitive(25, "metrics"))
            entries.append((student, folder, student))
    return entries


def class_seconds(pathological: bool) -> tuple[float, int]:
    base = Path(tempfile.mkdtemp(prefix="bench-similarity-class-"))
    try:
        entries = make_class(base / "subs", pathological)
        out = base / "out"
        out.mkdir()
        t0 = time.perf_counter()
        outcome = similarity.compare_class(out, COURSE, entries, list(TOPICS), 0.8)
        took = time.perf_counter() - t0
        if outcome.error:
            raise SystemExit(f"the comparison failed: {outcome.error}")
        return took, len(outcome.pairs)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def large_class(dest: Path, size: int) -> list[tuple[str, Path, str]]:
    """``size`` students, one module each, over every topic: the references, alternatives and
    mutants in turn, each disguised by a level of bench/disguises.py (a class of distinct
    modules, a few of them copies of others)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import disguises

    kinds = []
    for topic in COURSE.topics():
        kinds += [(topic, p) for p in [COURSE.solution(topic), *COURSE.alternatives(topic),
                                       *COURSE.mutants(topic)]]
    steps = [lambda s: s, disguises.layout, disguises.unparse, disguises.reorder,
             disguises.dead_code, disguises.rewrites]
    entries = []
    for i in range(size):
        topic, path = kinds[(i * 7) % len(kinds)]
        student = f"s{i:03d}"
        (dest / student).mkdir(parents=True)
        (dest / student / f"{topic}.py").write_text(steps[i % len(steps)](path.read_text()))
        entries.append((student, dest / student, student))
    return entries


def large_class_seconds(size: int) -> tuple[float, int, float]:
    base = Path(tempfile.mkdtemp(prefix="bench-similarity-large-"))
    try:
        entries = large_class(base / "subs", size)
        out = base / "out"
        out.mkdir()
        t0, c0 = time.perf_counter(), os.times()
        outcome = similarity.compare_class(out, COURSE, entries, COURSE.topics(), 0.8)
        took, c1 = time.perf_counter() - t0, os.times()
        if outcome.error:
            raise SystemExit(f"the comparison failed: {outcome.error}")
        cpu = (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)
        return took, len(outcome.pairs), cpu
    finally:
        shutil.rmtree(base, ignore_errors=True)


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[5, 10, 20, 40, 80, 160],
                        help="module sizes in KB")
    parser.add_argument("--repeat", type=int, default=3, help="the median of this many runs")
    parser.add_argument("--class-size", type=int, default=200,
                        help="modules in the large class of (c)")
    parser.add_argument("--only-large", action="store_true", help="run (c) alone")
    args = parser.parse_args()
    print(f"load before: {load()}; cores this process may use: {len(os.sched_getaffinity(0))}")
    if args.only_large:
        large(args)
        return
    print("\n(a) a pair handing in the same module: compared and its page built")
    print(f"{'KB':>6} {'repetitive s':>13} {'s per KB':>9} {'ordinary s':>11} {'s per KB':>9}")
    for kb in args.sizes:
        rep = statistics.median(pair_seconds(repetitive(kb)) for _ in range(args.repeat))
        src = ordinary(kb)
        real_kb = len(src) / 1024
        ordi = statistics.median(pair_seconds(src) for _ in range(args.repeat))
        print(f"{kb:6g} {rep:13.3f} {rep / kb:9.4f} {ordi:11.3f} {ordi / real_kb:9.4f}")
    print("\n(b) a class of 40, four topics, with the bounded step grader batch runs")
    plain = [class_seconds(False) for _ in range(args.repeat)]
    patho = [class_seconds(True) for _ in range(args.repeat)]
    p_t, s_t = statistics.median(t for t, _ in plain), statistics.median(t for t, _ in patho)
    print(f"  without the pathological pair: {p_t:.2f} s ({plain[0][1]} pairs flagged)")
    print(f"  with two 25 KB repetitive modules: {s_t:.2f} s ({patho[0][1]} pairs flagged)")
    print(f"  ratio: {s_t / p_t:.2f}")
    large(args)
    print(f"load after: {load()}")


def large(args: argparse.Namespace) -> None:
    print(f"\n(c) a class of {args.class_size} modules (every topic), the bounded step")
    runs = [large_class_seconds(args.class_size) for _ in range(args.repeat)]
    print(f"  {statistics.median(t for t, _, _ in runs):.2f} s wall (median of {len(runs)}: "
          f"{', '.join(f'{t:.2f}' for t, _, _ in runs)}; {runs[0][1]} pairs flagged, a page "
          f"each); CPU of the comparison's processes: "
          f"{statistics.median(c for _, _, c in runs):.2f} s in all; load {load()}")


if __name__ == "__main__":
    main()
