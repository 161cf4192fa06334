"""Correct code never loses a point by the draw: the budgeted version of bench/seed_sweep.py.

Each topic's reference is graded by the engine at the first seeds of the full sweep (which grades
every correct solution, alternatives and the demo's included, at 200 seeds; docs/authoring.md), so
this test fails exactly when a change to a test, a tolerance or a reference makes a correct
solution lose a point at one of those draws. The seeds are fixed: nothing here depends on chance.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


from grader.course import Course
from grader.grading.engine import Options

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import seed_sweep  # noqa: E402

COURSE = Course(ROOT)
SEEDS = 24  # per topic; the speed-graded topic, whose gradings take seconds, fewer
SEEDS_SPEED = 6


class _Seeds:
    """The sweep of one topic; a class per topic (below), so that the test processes share the
    topics out (``--dist loadscope`` keeps a class together, a module's functions too)."""

    topic = ""

    def test_the_reference_keeps_every_point_at_each_seed(self, engine: Any,
                                                           tmp_path: Path) -> None:
        topic = self.topic
        solution = seed_sweep.Solution(topic, "reference", COURSE.solution(topic))
        folder = seed_sweep.submission_of(solution, tmp_path, COURSE)
        seeds = SEEDS_SPEED if topic == "performance" else SEEDS
        failures = []
        for seed in range(1, seeds + 1):
            result = engine.grade(folder, tmp_path / "out", Options(topics=(topic,), seed=seed))
            failures += [f"seed {seed}: {test}: {message}"
                         for test, message in seed_sweep.lost(result)]
        assert not failures, f"the reference of {topic} lost points:\n" + "\n".join(failures)


# The slowest first (seconds per seed, measured), so that no process is left with one at the end.
_SLOWEST = ("autograd", "performance", "transformer", "conv", "attention", "activations", "rnn")
for _topic in sorted(COURSE.topics(), key=lambda t: (t not in _SLOWEST, _SLOWEST.index(t)
                                                     if t in _SLOWEST else 0, t)):
    globals()[f"TestSeeds_{_topic}"] = type(f"TestSeeds_{_topic}", (_Seeds,), {"topic": _topic})


def test_the_sweep_counts_a_lost_point_and_not_a_slow_machine() -> None:
    class T:
        def __init__(self, name: str, outcome: str, score: float, message: str) -> None:
            self.name, self.outcome, self.score, self.max_score = name, outcome, score, 2.0
            self.message = message

    class R:
        error = ""
        tests = [
            T("test_ok", "passed", 2, ""),
            T("test_close[float32]", "failed", 0, "1 of 120 values differ"),
            T("test_speed", "passed", 1.2, "f is 1.2× as fast as the public baseline on …"),
            T("test_slow", "failed", 0, "f is 0.9× as fast as the public baseline on …"),
            T("test_wrong_speed", "failed", 0, "speed not graded: f must be correct first. …"),
            T("test_gpu", "not_graded", 0, "needs a GPU"),
        ]

    assert [t for t, _ in seed_sweep.lost(R())] == ["test_close[float32]", "test_wrong_speed"]


def test_the_sweep_grades_every_rung_of_the_ladder_as_the_ladder_bench_hands_it_in(
        tmp_path: Path) -> None:
    found = seed_sweep.solutions(COURSE, ["performance"], {"ladder"}, tmp_path)
    rung_files = sorted((ROOT / "reference" / "performance" / "ladder").glob("*/*.py"))
    assert len(rung_files) >= 12 and len(found) == len(rung_files)
    baseline = (ROOT / "assignments" / "performance" / "baseline.py").read_text()
    for solution in found:
        source = solution.path.read_text()
        fn, rung = solution.name.split()[1:]
        path = ROOT / "reference" / "performance" / "ladder" / fn / f"{rung}.py"
        # The baseline first, then the rung's definitions, which replace the baseline's.
        rung_body = path.read_text().split("from __future__ import annotations")[-1].strip()
        assert source.startswith(baseline) and source.rstrip().endswith(rung_body), solution.name
        compile(source, str(solution.path), "exec")
