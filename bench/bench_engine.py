"""Per-submission cost of this engine against the common design, on the same submissions.

(a) this engine: one preloaded trusted process; per submission a forked pytest session, the
    student's modules in sandboxed workers forked from the zygote;
(b) the common design: one fresh ``python -m pytest`` per submission, the hidden tests and the
    student's module in the same interpreter (what most autograders do).

Prints seconds per submission for each, their ratio, the tests' own compute (the sum of test
call durations in (b)), and the engine's overhead above that compute; and, less moved by what
else the machine does between the two runs, the engine's overhead within its own gradings (each
grading's wall time minus the durations of its tests).

    python bench/bench_engine.py [--topics linear_regression metrics] [--n 12]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The common design's conftest: the student's module imported into the test process.
NAIVE_CONFTEST = '''
import importlib.util, os, sys, zlib
import numpy as np
import pytest

def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

class _Direct:
    def __init__(self, mod):
        self._mod, self.last_warnings = mod, []
    def call(self, fn, *a, keep=(), **k):
        import warnings
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            out = getattr(self._mod, fn)(*a, **k)
        self.last_warnings = [(w.category.__name__, str(w.message)) for w in rec]
        return out
    def batch(self, fn, arglist, select=None):
        outs = [getattr(self._mod, fn)(*a) for a in arglist]
        return [o[select] if select is not None else o for o in outs]
    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *a, **k: self.call(name, *a, **k)

def _topic(request):
    return os.path.basename(os.path.dirname(str(request.node.fspath)))

@pytest.fixture
def student(request):
    t = _topic(request)
    sys.path.insert(0, os.environ["SUBMISSION"])
    return _Direct(_load(os.path.join(os.environ["SUBMISSION"], t + ".py"), t))

@pytest.fixture
def reference(request):
    t = _topic(request)
    return _load(os.path.join(os.environ["COURSE"], "reference", t, "solution.py"), "ref_" + t)

@pytest.fixture
def seed(request):
    return zlib.crc32(request.node.nodeid.encode()) & 0x7FFFFFFF

@pytest.fixture
def rng(seed):
    return np.random.default_rng(seed)

def pytest_runtest_logreport(report):
    if report.when == "call":
        with open(os.environ["COMPUTE_FILE"], "a") as f:
            f.write(f"{report.duration}\\n")

def pytest_configure(config):
    for m in ("points(n): points", "timeout(s): seconds", "gpu: needs CUDA"):
        config.addinivalue_line("markers", m)
'''


def make_submissions(topics: list[str], n: int, dest: Path) -> list[Path]:
    """n submissions cycling through each topic's reference, mutants and alternatives."""
    from grader.course import Course

    course = Course(ROOT)
    pools = {t: [course.solution(t), *course.mutants(t), *course.alternatives(t)] for t in topics}
    subs = []
    for i in range(n):
        d = dest / f"s{i:03d}"
        d.mkdir(parents=True)
        for t in topics:
            shutil.copyfile(pools[t][i % len(pools[t])], d / f"{t}.py")
        subs.append(d)
    return subs


def run_naive(subs: list[Path], topics: list[str], work: Path) -> tuple[list[float], list[float]]:
    """Wall time per submission and the tests' own compute (sum of call durations)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "conftest.py").write_text(NAIVE_CONFTEST)
    (work / "pytest.ini").write_text("[pytest]\n")
    files = [str(ROOT / "reference" / t / "test_hidden.py") for t in topics] + \
        [str(ROOT / "assignments" / t / "test_public.py") for t in topics]
    walls, compute = [], []
    for sub in subs:
        env = {**os.environ, "SUBMISSION": str(sub), "COURSE": str(ROOT),
               "PYTHONPATH": str(ROOT)}
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
             str(work), "-c", str(work / "pytest.ini"), "--confcutdir", str(work),
             "-p", "conftest", "--import-mode=importlib", *files], cwd=work,
            env={**env, "PYTHONPATH": f"{work}:{ROOT}", "COMPUTE_FILE": str(work / "compute")},
            capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        if "passed" not in proc.stdout and "failed" not in proc.stdout:
            raise SystemExit(f"the common design's run failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        lines = (work / "compute").read_text().split()
        (work / "compute").unlink()
        compute.append(sum(float(x) for x in lines))
    return walls, compute


def run_engine(subs: list[Path], topics: list[str], work: Path,
               prepare: bool = True) -> tuple[list[float], float, list[float]]:
    """Wall time per submission, the engine's start, and per submission its wall time minus
    the durations of its own tests (what the engine adds, measured within one grading).
    ``prepare``: the engine prepares its grading children first, as a batch and the service
    do (``Engine.prepare_children``)."""
    from grader.course import Course
    from grader.grading.engine import Engine, Options

    t0 = time.perf_counter()
    walls, own = [], []
    with Engine(Course(ROOT)) as engine:
        if prepare:
            engine.prepare_children()
        start = time.perf_counter() - t0
        for i, sub in enumerate(subs):
            t = time.perf_counter()
            result = engine.grade(sub, work / f"out{i}", Options(topics=tuple(topics), seed=1))
            walls.append(time.perf_counter() - t)
            assert not result.error, result.error
            own.append(walls[-1] - sum(test.duration for test in result.tests))
    return walls, start, own


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topics", nargs="+", default=["linear_regression", "metrics"])
    ap.add_argument("--n", type=int, default=12, help="submissions to grade with each design")
    ap.add_argument("--unprepared", action="store_true",
                    help="the engine does not prepare its grading children first (as one "
                         "`grader grade` does not)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    try:
        subs = make_submissions(args.topics, args.n, work / "subs")
        naive, compute = run_naive(subs, args.topics, work / "naive")
        engine, start, own = run_engine(subs, args.topics, work / "engine",
                                        prepare=not args.unprepared)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = statistics.median
    print(f"submissions: {args.n}, topics: {', '.join(args.topics)}, cores: {os.cpu_count()}")
    print(f"common design (fresh pytest per submission): {med(naive):.3f} s per submission")
    print(f"this engine (sandboxed, forked):             {med(engine):.3f} s per submission "
          f"(+ {start:.2f} s once to start{', children unprepared' if args.unprepared else ''})")
    print(f"ratio common / engine:                       {med(naive) / med(engine):.1f}x")
    print(f"tests' own compute (sum of test calls):       {med(compute):.3f} s per submission")
    print(f"engine overhead above that compute:          {med(engine) - med(compute):.3f} s "
          "per submission")
    print(f"  within the engine's own gradings (wall minus its tests' durations): "
          f"{med(own):.3f} s per submission (min {min(own):.3f}, max {max(own):.3f}); "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
