"""The performance topic graded on a GPU: one command, one table.

Grades, with GPU grading turned on for this run only, the reference solution (three times, to
see how far its speed ratios move between regrades), the public baseline, the untouched stub,
every alternative in reference/performance/alternatives, every mutant in
reference/performance/mutants and the hostile submissions below (the reference, but for a
function that takes a banned kernel's route when its inputs are on the GPU, where only the GPU
tests see it), then prints per submission its score and per test its points, speed ratio (with
its interval) or peak GPU memory. What it should show on a GPU: the reference and the
alternatives with full marks, the baseline and the stub with no speed or memory points, every
mutant losing points, every hostile submission losing the points of its function's GPU tests with
a message that says what was not allowed, the reference's ratios within ±5 % of each other. It
exits 1 where a reference, an alternative or a hostile submission shows otherwise.

Without CUDA it says so and exits 0 (nothing to check here); ``--cpu`` grades the same on the
CPU instead, to try the check itself where there is no GPU (the GPU tests are then not graded).

    python bench/gpu_check.py [--seed 1] [--json results.json] [--cpu] [--only NAME ...] [--skip NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TOPIC = "performance"
MB = 2**20


# The reference with one function replaced by a banned kernel's route, taken only for inputs on
# the GPU: its CPU tests pass, so only the GPU's refusal of that kernel can cost it its points.
# name -> (the function, what replaces it)
HOSTILE = {
    "conv_aten_convolution_on_gpu": ("conv2d_fast", """
        _honest = conv2d_fast
        def conv2d_fast(x, w, b, stride=1, pad=0):
            if not x.is_cuda:
                return _honest(x, w, b, stride, pad)
            aten = getattr(torch.ops, "at" + "en")
            return getattr(aten, "convo" + "lution")(x, w, b, [stride] * 2, [pad] * 2, [1, 1],
                                                      False, [0, 0], 1)
        """),
    "conv_cudnn_kernel_on_gpu": ("conv2d_fast", """
        _honest = conv2d_fast
        def conv2d_fast(x, w, b, stride=1, pad=0):
            if not x.is_cuda:
                return _honest(x, w, b, stride, pad)
            aten = getattr(torch.ops, "at" + "en")
            out = getattr(aten, "cudnn_" + "convolution")(x, w, [pad] * 2, [stride] * 2, [1, 1],
                                                           1, False, False, True)
            return out + b.reshape(1, -1, 1, 1)
        """),
    "attention_aten_sdpa_on_gpu": ("attention_fast", """
        _honest = attention_fast
        def attention_fast(q, k, v, causal=False):
            if not q.is_cuda:
                return _honest(q, k, v, causal)
            aten = getattr(torch.ops, "at" + "en")
            return getattr(aten, "scaled_dot_product_" + "attention")(q, k, v, is_causal=causal)
        """),
    "attention_efficient_kernel_on_gpu": ("attention_fast", """
        _honest = attention_fast
        def attention_fast(q, k, v, causal=False):
            if not q.is_cuda:
                return _honest(q, k, v, causal)
            aten = getattr(torch.ops, "at" + "en")
            kernel = getattr(aten, "_scaled_dot_product_" + "efficient_attention")
            return kernel(q, k, v, None, False, 0.0, causal)[0]
        """),
}


def candidates() -> list[tuple[str, str]]:
    """(name, source) of every submission graded, in order."""
    ref = ROOT / "reference" / TOPIC
    found = [(f"reference #{i}", ref / "solution.py") for i in (1, 2, 3)]
    found += [("baseline", ROOT / "assignments" / TOPIC / "baseline.py"),
              ("stub", ROOT / "assignments" / TOPIC / f"{TOPIC}.py")]
    found += [(f"alternative {p.stem}", p) for p in sorted((ref / "alternatives").glob("*.py"))]
    found += [(f"mutant {p.stem}", p) for p in sorted((ref / "mutants").glob("*.py"))]
    solution = (ref / "solution.py").read_text()
    return [(name, path.read_text()) for name, path in found] + [
        (f"hostile {name}", solution + "\n\n" + textwrap.dedent(override))
        for name, (_, override) in HOSTILE.items()]


def verdict(name: str, result: Any, on_gpu: bool) -> str | None:
    """What is wrong with this submission's grade, or None: a reference or an alternative below
    full marks; a hostile submission that kept the points of its function's GPU tests, or lost
    them without being told what was not allowed (on the CPU it takes no banned route: not
    judged)."""
    topic = result.topic(TOPIC)
    if name.startswith(("reference", "alternative")):
        return None if topic.score == topic.max_score else f"{topic.score:g}/{topic.max_score:g}"
    if not name.startswith("hostile") or not on_gpu:
        return None
    function = HOSTILE[name.removeprefix("hostile ")][0]
    lost = [t for t in result.tests if function in t.name and t.outcome != "passed"]
    gpu = [t for t in lost if "gpu" in t.name or "speed" in t.name]
    if not gpu:
        return f"no GPU test of {function} lost its points"
    if not any("not allowed" in t.message for t in gpu):
        return f"{function}'s GPU tests lost their points without saying why: " + \
            "; ".join(f"{t.name}: {t.outcome} {t.message[:160]!r}" for t in gpu)
    return None


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
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="grade only the submissions whose name holds NAME (repeatable)")
    parser.add_argument("--skip", action="append", default=[], metavar="NAME",
                        help="leave out the submissions whose name holds NAME (repeatable)")
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
            for name, source in candidates():
                if (args.only and not any(o in name for o in args.only)) or \
                        any(o in name for o in args.skip):
                    continue
                sub = work / name.replace(" ", "_") / "submission"
                sub.mkdir(parents=True)
                (sub / f"{TOPIC}.py").write_text(source)
                result = engine.grade(sub, sub.parent / "out",
                                      Options(topics=(TOPIC,), seed=args.seed))
                rows.append((name, result))
                why = verdict(name, result, decided.cuda)
                print(f"  graded {name}: {result.topic(TOPIC).score:g}/"
                      f"{result.topic(TOPIC).max_score:g}"
                      f"{f'  WRONG: {why}' if why else ''}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not rows:
        print("nothing graded: --only and --skip leave no submission")
        return 1
    report(rows)
    if args.json:
        args.json.write_text(json.dumps({n: r.to_dict() for n, r in rows}, indent=1))
    verdicts = [(n, verdict(n, r, decided.cuda)) for n, r in rows]
    for name, why in verdicts:
        if why:
            print(f"WRONG {name}: {why}")
    return 1 if any(why for _, why in verdicts) else 0


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
