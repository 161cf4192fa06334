"""Benchmark of the similarity comparison on a ladder of disguises, beside Dolos and copydetect.

    python bench/bench_disguises.py                # everything, L7 graded by the engine
    python bench/bench_disguises.py --no-grading   # L7 left out (no sandboxed engine needed)

Each disguise of ``bench/disguises.py`` (L1 layout and comments ... L8 all of L2-L6 at once) is
applied by script to every independent correct solution (the reference and its alternatives) of
eight topics; a copy is compared with its original. L7 (the module run from a string or a code
object at run time, five routes) is applied to each topic's reference, and the copies are graded
by ``grader batch``, as a class is: the worker reports the code that ran (``runtime_code``), the
batch writes it in each student's result, and the comparison reads it from there. Negatives: every
pair of independent correct solutions of every topic that has alternatives.

For each tool the table gives, per level, how many copies it flags at its default threshold
(the grader 0.8, Dolos 0.8, copydetect 0.33: its report's ``display_t``) and at the threshold where
no negative is flagged (just above the most similar negative), and the median similarity.

Dolos (``@dodona/dolos-lib`` and ``@dodona/dolos-parsers``, npm) and copydetect (PyPI) are looked
for in ``bench/.scratch/`` (git-ignored), never in the project's environment:

    mkdir -p bench/.scratch/dolos && cd bench/.scratch/dolos && npm init -y && \\
        npm install @dodona/dolos-lib @dodona/dolos-parsers && npm rebuild
    python -m venv bench/.scratch/venv && bench/.scratch/venv/bin/pip install copydetect

Without them the benchmark runs and says they are absent.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import disguises  # noqa: E402

from grader.classroom import similarity  # noqa: E402
from grader.course import Course  # noqa: E402

COURSE = Course(ROOT)
TOPICS = ["linear_regression", "metrics", "backprop", "batchnorm", "rnn", "conv", "attention",
          "autograd"]
SCRATCH = ROOT / "bench" / ".scratch"
DOLOS = SCRATCH / "dolos"
COPYDETECT = SCRATCH / "venv" / "bin" / "python"
SKIPPED = {"kl_div_loss.py"}  # being rewritten elsewhere
DEFAULTS = {"grader": similarity.DEFAULT_THRESHOLD, "Dolos": 0.8, "copydetect": 0.33}

DOLOS_SCRIPT = """
import { Dolos } from "@dodona/dolos-lib";
import { readFileSync } from "node:fs";
const pairs = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = [];
for (const [a, b] of pairs) {
  const dolos = new Dolos({ language: "python" });
  const report = await dolos.analyzePaths([a, b]);
  const all = report.allPairs();
  out.push(all.length ? all[0].similarity : 0);
}
console.log(JSON.stringify(out));
"""

COPYDETECT_SCRIPT = """
import json, sys
from copydetect import CodeFingerprint, compare_files
pairs = json.load(open(sys.argv[1]))
out = []
for a, b in pairs:
    fa, fb = CodeFingerprint(a, 25, 1), CodeFingerprint(b, 25, 1)
    _, sims, _ = compare_files(fa, fb)
    out.append(max(sims))
print(json.dumps(out))
"""


class Case:
    def __init__(self, level: str, variant: str, topic: str, original: Path, copy: str) -> None:
        self.level, self.variant, self.topic, self.original, self.copy = \
            level, variant, topic, original, copy
        self.scores: dict[str, float] = {}
        self.runtime: tuple[str, ...] = ()
        self.path: Path | None = None
        self.grade = ""


def originals(topic: str) -> list[Path]:
    return [p for p in [COURSE.solution(topic), *COURSE.alternatives(topic)]
            if p.name not in SKIPPED]


def make_cases(ruff: str | None, with_l7: bool) -> list[Case]:
    cases = []
    for topic in TOPICS:
        api = similarity.stub_hashes(COURSE.stub(topic).read_text()).names
        for level, variants in disguises.ladder(api, ruff).items():
            is_l7 = level.startswith("L7")
            if is_l7 and not with_l7:
                continue
            for original in originals(topic)[:1] if is_l7 else originals(topic):
                for variant, disguise in variants:
                    copy = disguise(original.read_text())
                    if copy is not None:
                        cases.append(Case(level, variant, topic, original, copy))
    return cases


def negatives() -> list[tuple[str, Path, Path]]:
    out = []
    for topic in COURSE.topics():
        versions = originals(topic)
        out += [(topic, a, b) for i, a in enumerate(versions) for b in versions[i + 1:]]
    return out


def grade_l7(cases: list[Case], work: Path, jobs: int) -> tuple[float, int]:
    """Grade the L7 copies as a class (``grader batch``), with each topic's reference handed in
    by a student of its own; each case gets its runtime_code and whether it kept the
    reference's score. Returns the seconds the batch took and how many copies the batch's own
    similarity.csv pairs with their original."""
    l7 = [c for c in cases if c.level.startswith("L7")]
    subs = work / "class"
    names = {}
    topics = sorted({c.topic for c in l7})
    for topic in topics:
        (subs / f"ref-{topic}").mkdir(parents=True)
        (subs / f"ref-{topic}" / f"{topic}.py").write_text(COURSE.solution(topic).read_text())
    for i, c in enumerate(l7):
        name = f"s{i:03d}"
        names[name] = c
        (subs / name).mkdir(parents=True)
        (subs / name / f"{c.topic}.py").write_text(c.copy)
    out = work / "batch"
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "grader", "batch", str(subs), "--out", str(out),
                           "--jobs", str(jobs), *[a for t in topics for a in ("--topic", t)]],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:])
        raise SystemExit("grader batch failed")
    runtime = similarity.read_runtime(out, [(n, n) for n in names], topics)
    with (out / "gradebook.csv").open(newline="") as f:
        book = {r["student"]: r for r in csv.DictReader(f)}
    for name, c in names.items():
        c.runtime = runtime[c.topic].get(name, ())
        got, full = book.get(name, {}).get(c.topic, ""), book[f"ref-{c.topic}"][c.topic]
        c.grade = f"{got}/{full}" + ("" if got == full else " LOST POINTS")
    flagged = {(p.topic, *sorted((p.student_a, p.student_b)))
               for p in similarity.read_pairs(out)}
    by_batch = sum((c.topic, *sorted((n, f"ref-{c.topic}"))) in flagged
                   for n, c in names.items())
    return seconds, by_batch


def grader_scores(cases: list[Case], negs: list[tuple[str, Path, Path]]) -> list[float]:
    stubs = {t: COURSE.stub(t).read_text() for t in COURSE.topics()}

    def value(topic: str, a: str, b: str, runtime: tuple[str, ...] = ()) -> float:
        pairs = similarity.compare({topic: {"a": a, "b": b}}, stubs, 1e-9,
                                   runtime={topic: {"b": runtime}})
        return pairs[0].similarity if pairs else 0.0

    for c in cases:
        c.scores["grader"] = value(c.topic, c.original.read_text(), c.copy, c.runtime)
    return [value(t, a.read_text(), b.read_text()) for t, a, b in negs]


def external(tool: str, pairs: list[tuple[Path, Path]], work: Path) -> list[float] | None:
    """Similarities by Dolos or copydetect, run from bench/.scratch; None when absent."""
    listing = work / f"{tool}-pairs.json"
    listing.write_text(json.dumps([[str(a), str(b)] for a, b in pairs]))
    if tool == "Dolos":
        if not (DOLOS / "node_modules" / "@dodona" / "dolos-lib").is_dir() or \
                not shutil.which("node"):
            return None
        script = DOLOS / "bench-pairs.mjs"
        script.write_text(DOLOS_SCRIPT)
        cmd = ["node", str(script), str(listing)]
        cwd = DOLOS
    else:
        if not COPYDETECT.exists():
            return None
        script = work / "copydetect_pairs.py"
        script.write_text(COPYDETECT_SCRIPT)
        cmd = [str(COPYDETECT), str(script), str(listing)]
        cwd = work
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"{tool} failed: {done.stderr[-2000:]}")
        return None
    return [float(x) for x in json.loads(done.stdout.strip().splitlines()[-1])]


def table(cases: list[Case], negs: dict[str, list[float]], tools: Sequence[str]) -> str:
    levels = list(dict.fromkeys(c.level for c in cases))
    head = ["level", "copies"]
    for tool in tools:
        head += [f"{tool} ≥ {DEFAULTS[tool]:g}", f"{tool} > {max(negs[tool]):.2f}"]
    head += ["median " + " / ".join(tools)]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for level in levels:
        mine = [c for c in cases if c.level == level]
        row = [level, str(len(mine))]
        for tool in tools:
            values = [c.scores[tool] for c in mine]
            row += [f"{sum(v >= DEFAULTS[tool] for v in values)}/{len(values)}",
                    f"{sum(v > max(negs[tool]) for v in values)}/{len(values)}"]
        row.append(" / ".join(f"{statistics.median(c.scores[t] for c in mine):.2f}"
                              for t in tools))
        rows.append("| " + " | ".join(row) + " |")
    row = ["negatives (independent pairs)", str(len(negs[tools[0]]))]
    for tool in tools:
        row += [f"{sum(v >= DEFAULTS[tool] for v in negs[tool])} flagged", "0 flagged"]
    row.append(" / ".join(f"max {max(negs[t]):.2f}" for t in tools))
    rows.append("| " + " | ".join(row) + " |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-grading", action="store_true",
                        help="leave L7 out (it needs the sandboxed engine)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ruff = shutil.which("ruff") or (str(Path(sys.executable).parent / "ruff")
                                    if (Path(sys.executable).parent / "ruff").exists() else None)
    if not ruff:
        print("ruff is not installed: L2 is ast.unparse alone")
    cases = make_cases(ruff, not args.no_grading)
    negs = negatives()
    work = Path(tempfile.mkdtemp(prefix="bench-disguises-"))
    try:
        if not args.no_grading:
            seconds, by_batch = grade_l7(cases, work, args.jobs)
            l7 = [c for c in cases if c.level.startswith("L7")]
            print(f"L7: {len(l7)} copies graded by grader batch in {seconds:.0f} s; "
                  f"{sum(bool(c.runtime) for c in l7)} with code reported as run at run time; "
                  f"{sum('LOST' not in c.grade for c in l7)} kept their original's score; "
                  f"the batch's similarity.csv pairs {by_batch} with their original")
        t0 = time.perf_counter()
        neg_scores = {"grader": grader_scores(cases, negs)}
        print(f"grader: {len(cases) + len(negs)} pairs compared in "
              f"{time.perf_counter() - t0:.1f} s")
        files = work / "files"
        for i, c in enumerate(cases):
            c.path = files / f"c{i:04d}" / f"{c.topic}.py"
            c.path.parent.mkdir(parents=True)
            c.path.write_text(c.copy)
        tools = ["grader"]
        for tool in ("Dolos", "copydetect"):
            t0 = time.perf_counter()
            got = external(tool, [(c.original, c.path) for c in cases if c.path] +
                           [(a, b) for _, a, b in negs], work)
            if got is None:
                print(f"{tool}: absent (see the docstring to install it in bench/.scratch)")
                continue
            print(f"{tool}: {len(got)} pairs in {time.perf_counter() - t0:.1f} s")
            for c, v in zip(cases, got):
                c.scores[tool] = v
            neg_scores[tool] = got[len(cases):]
            tools.append(tool)
        print()
        print(table(cases, neg_scores, tools))
        missed = [c for c in cases if c.scores["grader"] < DEFAULTS["grader"]]
        for c in missed:
            print(f"grader missed: {c.level} / {c.variant} / {c.topic} / {c.original.name}: "
                  f"{c.scores['grader']:.2f}")
        l7 = [c for c in cases if c.level.startswith("L7")]
        if l7:
            print("\nL7 by route (grader / " + " / ".join(tools[1:]) + "), grade of the copy:")
            for variant in dict.fromkeys(c.variant for c in l7):
                mine = [c for c in l7 if c.variant == variant]
                print(f"  {variant}: " + ", ".join(
                    f"{c.topic} {'/'.join(f'{c.scores[t]:.2f}' for t in tools)} ({c.grade})"
                    for c in mine))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
