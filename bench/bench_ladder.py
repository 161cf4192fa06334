"""The ladder of the performance topic, graded: every rung of every speed exercise
(``reference/performance/ladder/<function>/``, the reference as the tuned rung, the alternatives
beside them) handed in and graded by ``grader batch``, quiet (one grading at a time) and saturated
(``--jobs`` gradings at once, twice the cores by default), several runs each.

    python bench/bench_ladder.py                              # 2 quiet runs, 5 saturated
    python bench/bench_ladder.py --quiet 1 --saturated 0 --functions lstm_sequence_fast
    python bench/bench_ladder.py --shape lstm_sequence_fast:T=64,B=4,I=1024,H=32
    python bench/bench_ladder.py --gpu --quiet 3 --saturated 1     # on a GPU host

A rung is handed in as the public baseline with the rung's function defined after it, so the
other functions stay the baseline's; the course graded is a copy holding only the hidden tests
of the ``--functions`` chosen, so that ``--functions attention_fast`` on a GPU host grades each
rung's attention tests alone. ``--shape`` grades a
copy of the course whose speed test of that function times other inputs (grading.toml's
``[speed.<function>] shape``); ``--thresholds fn:zero,full`` likewise, to try a design before
writing it down. ``--gpu`` grades with GPU grading turned on for these runs only (as
``bench/gpu_check.py`` does): where CUDA is present speed is timed on the GPU against the
``cuda`` thresholds (which ``--thresholds`` and ``--measure`` then replace; a function timed on
the CPU on every host keeps its ``cpu`` ones), and the attention exercise's GPU speed and
peak-memory tests are graded too. Prints, per run and function, each rung's ratio interval,
the ratio it was scored on and its speed points (``-`` where no speed is graded on this device) and how its time
grows against the baseline's over the report's sweep of sizes (fitted exponents, ratio per size),
then per rung the lowest and highest over every run (and the highest upper end of an interval,
against which a rung that must earn nothing is held), the load average before and after each run.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "performance"
LADDER = ROOT / "reference" / TOPIC / "ladder"
FUNCTIONS = ("conv2d_fast", "lstm_sequence_fast", "attention_fast")
FUTURE = re.compile(r"(?m)^from __future__ import annotations\s*$")


@dataclass(frozen=True)
class Rung:
    fn: str
    name: str  # "1_baseline", …, "tuned_reference", "alt <stem>"
    path: Path

    @property
    def student(self) -> str:
        return re.sub(r"\W+", "_", f"{self.fn}-{self.name}")


def rungs(functions: list[str]) -> list[Rung]:
    out = []
    for fn in functions:
        out += [Rung(fn, p.stem, p) for p in sorted((LADDER / fn).glob("*.py"))]
        out.append(Rung(fn, "tuned_reference", ROOT / "reference" / TOPIC / "solution.py"))
        out += [Rung(fn, f"alt {p.stem}", p)
                for p in sorted((ROOT / "reference" / TOPIC / "alternatives").glob("*.py"))]
    return out


def submission_source(rung: Rung) -> str:
    """The public baseline with the rung's definitions after it: they replace the baseline's."""
    baseline = (ROOT / "assignments" / TOPIC / "baseline.py").read_text()
    return baseline + "\n\n" + FUTURE.sub("", rung.path.read_text())


def make_class(dest: Path, todo: list[Rung]) -> None:
    for rung in todo:
        folder = dest / rung.student
        folder.mkdir(parents=True)
        (folder / f"{TOPIC}.py").write_text(submission_source(rung))


SHORT = {"conv2d_fast": "conv", "lstm_sequence_fast": "lstm", "attention_fast": "attention"}


def tests_of(source: str, functions: list[str] | tuple[str, ...]) -> str:
    """The hidden tests' ``source`` without the tests of the functions not in ``functions``
    (each test, its decorators included, is named after its function: ``test_conv_...``,
    ``test_conv2d_fast_speed``); helpers and everything else stay."""
    others = [SHORT[fn] for fn in FUNCTIONS if fn not in functions]
    lines = source.splitlines(keepends=True)
    for node in reversed(ast.parse(source).body):
        if isinstance(node, ast.FunctionDef) and any(
                node.name.startswith(f"test_{short}") for short in others):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            del lines[first - 1:node.end_lineno]
    return "".join(lines)


def course_copy(work: Path, shapes: dict[str, dict[str, int]],
                thresholds: dict[str, tuple[float, float]], kind: str = "cpu",
                functions: list[str] | tuple[str, ...] = FUNCTIONS) -> Path:
    """The course as it is, with the speed tests' shapes and ``kind``'s thresholds ("cpu" or
    "cuda") overridden, and only the hidden tests of ``functions`` (a rung's grading then runs
    no other function's tests: on a GPU host each attention rung would otherwise pay the conv
    and LSTM speed tests, and the other way round)."""
    root = work / "course"
    for name in ("assignments", "reference", "requirements"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(ROOT / "course.toml", root / "course.toml")
    hidden = root / "reference" / TOPIC / "test_hidden.py"
    hidden.write_text(tests_of(hidden.read_text(), functions))
    toml = root / "reference" / TOPIC / "grading.toml"
    text = toml.read_text()
    for fn, shape in shapes.items():
        inline = ", ".join(f"{k} = {v}" for k, v in shape.items())
        text, n = re.subn(rf"(?ms)^(\[speed\.{fn}\].*?^shape = \{{)[^}}]*", rf"\g<1> {inline} ",
                          text, count=1)
        if not n:
            raise SystemExit(f"grading.toml has no [speed.{fn}] shape")
    for fn, (zero, full) in thresholds.items():
        n = 0
        # Within the function's own section; one with no cuda line is timed on the CPU anywhere.
        for on in dict.fromkeys((kind, "cpu")):
            text, n = re.subn(rf"(?ms)^(\[speed\.{fn}\](?:(?!^\[).)*?^{on} = )\{{[^}}]*\}}",
                              rf"\g<1>{{ zero = {zero}, full = {full} }}", text, count=1)
            if n:
                break
        if not n:
            raise SystemExit(f"grading.toml has no [speed.{fn}] {kind} thresholds")
    toml.write_text(text)
    return root


@dataclass(frozen=True)
class Graded:
    correct: tuple[float, float]  # points, max of the function's tests other than speed
    speed: tuple[float, float] | None  # points, max of its speed test (CPU or GPU)
    interval: tuple[float, float] | None
    scored: float | None
    rounds: int
    scaling: dict | None = None  # the report's sweep of sizes (timing.Scaling.details)
    memory: tuple[float, float, float] | None = None  # points, max, peak MB (GPU memory test)


def read(out: Path, rung: Rung) -> Graded:
    result = json.loads((out / "students" / rung.student / "result.json").read_text())
    correct = [0.0, 0.0]
    speed = interval = scored = scaling = memory = None
    rounds = 0
    for test in result["tests"]:
        name = test["name"].split("[")[0]
        if test["outcome"] == "not_graded":
            continue
        if name in (f"test_{rung.fn}_speed", f"test_{rung.fn}_speed_gpu"):
            details = (test.get("details") or {}).get("speed") or {}
            speed = (float(test["score"]), float(test["max_score"]))
            if details:
                interval = tuple(details["ratio_interval"])
                scored = details.get("scored_ratio")
                rounds = int(details["student"].get("rounds", 1))
                scaling = details.get("scaling")
        elif name == f"test_{rung.fn}_peak_gpu_memory":
            peak = ((test.get("details") or {}).get("gpu_memory") or {}).get("student_peak_bytes")
            memory = (float(test["score"]), float(test["max_score"]),
                      float(peak) / 2**20 if peak is not None else float("nan"))
        elif name.startswith(f"test_{SHORT[rung.fn]}_") or name.startswith(f"test_{rung.fn}"):
            correct[0] += float(test["score"])
            correct[1] += float(test["max_score"])
    return Graded((correct[0], correct[1]), speed, interval, scored, rounds,  # type: ignore[arg-type]
                  scaling, memory)


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def cell(g: Graded) -> str:
    ok = f"{g.correct[0]:g}/{g.correct[1]:g}"
    if g.memory is not None:
        ok += f", memory {g.memory[0]:g}/{g.memory[1]:g} ({g.memory[2]:.0f} MB)"
    if g.speed is None:
        return f"correct {ok:7s} speed -"
    if g.interval is None:
        return f"correct {ok:7s} speed {g.speed[0]:.2f}/{g.speed[1]:g} (not timed)"
    lo, hi = g.interval
    again = f", {g.rounds} rounds" if g.rounds > 1 else ""
    grown = ""
    if g.scaling and "ratios" in g.scaling:
        d = g.scaling["dimension"]
        grown = (f"  {d}^{g.scaling['student_exponent']:.2f} vs {d}^"
                 f"{g.scaling['baseline_exponent']:.2f}, ratio "
                 + "/".join(f"{r:.2f}" for r in g.scaling["ratios"]))
    return (f"correct {ok:7s} {lo:6.2f}–{hi:<6.2f}× speed {g.speed[0]:.2f}/{g.speed[1]:g}"
            f"{again}{grown}")


# `grader batch` with GPU grading on for that run alone: the decision is made before the engine
# is, and its grading children inherit it.
GPU_ON = ("import sys; from grader.grading import device; device.decide(enabled=True); "
          "sys.argv[0] = 'grader'; from grader.commands.main import main; main()")


def grade_run(course: Path, klass: Path, out: Path, jobs: int, gpu: bool = False) -> float:
    t0 = time.monotonic()
    start = ["-c", GPU_ON] if gpu else ["-m", "grader"]
    proc = subprocess.run(
        [sys.executable, *start, "batch", str(klass), "--out", str(out), "--topic", TOPIC,
         "--jobs", str(jobs), "--course", str(course)],
        cwd=ROOT, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        print(proc.stdout[-2000:], proc.stderr[-2000:])
        raise SystemExit(f"grader batch exited {proc.returncode}")
    return time.monotonic() - t0


def parse_shape(text: str) -> tuple[str, dict[str, int]]:
    fn, _, rest = text.partition(":")
    return fn, {k: int(v) for k, v in (kv.split("=") for kv in rest.split(","))}


def parse_thresholds(text: str) -> tuple[str, tuple[float, float]]:
    fn, _, rest = text.partition(":")
    zero, full = (float(x) for x in rest.split(","))
    return fn, (zero, full)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", nargs="+", default=list(FUNCTIONS), choices=FUNCTIONS)
    parser.add_argument("--quiet", type=int, default=2, help="runs one grading at a time")
    parser.add_argument("--saturated", type=int, default=5, help="runs with --jobs at once")
    parser.add_argument("--jobs", type=int, default=(os.cpu_count() or 1) * 2)
    parser.add_argument("--shape", action="append", default=[], type=parse_shape,
                        metavar="FN:K=V,...")
    parser.add_argument("--thresholds", action="append", default=[], type=parse_thresholds,
                        metavar="FN:ZERO,FULL")
    parser.add_argument("--measure", action="store_true",
                        help="thresholds no interval settles at, so that every rung is sampled "
                             "until its interval is narrow (figures to design thresholds from; "
                             "its points mean nothing)")
    parser.add_argument("--rungs", nargs="+", metavar="TEXT",
                        help="only the rungs whose name contains one of these")
    parser.add_argument("--keep", action="store_true", help="keep the batch folders")
    parser.add_argument("--gpu", action="store_true",
                        help="GPU grading on for these runs: speed timed on the GPU where CUDA "
                             "is present, against the cuda thresholds")
    args = parser.parse_args(argv)
    timed_on = "cpu"  # the thresholds' device
    if args.gpu:
        sys.path.insert(0, str(ROOT))
        from grader.grading import device
        decided = device.decide(enabled=True)
        timed_on = "cuda" if decided.cuda else "cpu"
        print(f"GPU grading on: {', '.join(decided.names)}" if decided.cuda
              else f"GPU grading asked for, none here ({decided.reason}): graded on the CPU")
    if args.measure:
        measured = FUNCTIONS if timed_on == "cuda" else ("conv2d_fast", "lstm_sequence_fast")
        args.thresholds = [(fn, (0.001, 1e6)) for fn in measured]
    todo = [r for r in rungs(args.functions)
            if not args.rungs or any(t in r.name for t in args.rungs)]
    work = Path(tempfile.mkdtemp(prefix="bench-ladder-"))
    course = course_copy(work, dict(args.shape), dict(args.thresholds), timed_on, args.functions)
    make_class(work / "class", todo)
    print(f"{len(todo)} rungs of {', '.join(args.functions)}; {args.quiet} quiet runs, "
          f"{args.saturated} saturated (--jobs {args.jobs} on {os.cpu_count()} cores)"
          + "".join(f"; {fn} shape {s}" for fn, s in args.shape)
          + "".join(f"; {fn} {timed_on} thresholds {t}" for fn, t in args.thresholds), flush=True)
    seen: dict[Rung, list[tuple[str, Graded]]] = defaultdict(list)
    plan = [("quiet", 1)] * args.quiet + [("saturated", args.jobs)] * args.saturated
    try:
        for run, (kind, jobs) in enumerate(plan, 1):
            out = work / f"run{run}"
            before = load()
            took = grade_run(course, work / "class", out, jobs, timed_on == "cuda")
            print(f"\nrun {run}, {kind} (--jobs {jobs}): {took:.0f} s, load {before} -> "
                  f"{load()}", flush=True)
            for rung in todo:
                g = read(out, rung)
                seen[rung].append((kind, g))
                print(f"  {rung.fn:19s} {rung.name:34s} {cell(g)}", flush=True)
            if not args.keep:
                shutil.rmtree(out, ignore_errors=True)
        print("\nover every run: scored ratio (lower end of the interval) and speed points, "
              "lowest–highest, and the interval's highest upper end")
        for rung in todo:
            parts = []
            for kind in ("quiet", "saturated"):
                got = [g for k, g in seen[rung] if k == kind]
                timed = [g for g in got if g.scored is not None and g.speed is not None]
                if not timed:
                    continue
                lows = [g.scored for g in timed]
                pts = [g.speed[0] for g in timed]  # type: ignore[index]
                ok = min(g.correct[0] / g.correct[1] if g.correct[1] else 1.0 for g in got)
                highs = [g.interval[1] for g in timed if g.interval is not None]
                top = f", up to {max(highs):.2f}" if highs else ""
                parts.append(f"{kind} {min(lows):.2f}–{max(lows):.2f}×{top} "  # type: ignore[type-var]
                             f"points {min(pts):.2f}–{max(pts):.2f} (correct {ok:.0%})")
            print(f"  {rung.fn:19s} {rung.name:34s} " + ("   ".join(parts) or "not timed"))
    finally:
        if args.keep:
            print(f"\nbatch folders in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
