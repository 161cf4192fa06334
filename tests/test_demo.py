"""The demo class, graded as `./run demo` grades it, gives the grades recorded in
examples/expected_grades.csv: the perfect student full marks, each classic mistake costing its
own topic, the hostile submissions contained. A change that moves a demo grade must update that
file on purpose:

    GRADER_UPDATE_DEMO=1 ./run tests tests/test_demo.py
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLASS = ROOT / "examples" / "class"
sys.path.insert(0, str(ROOT / "examples"))

import golden  # noqa: E402


def _classic_students() -> dict[str, str]:
    """The students of examples/make_class.py who make one classic mistake: student → topic."""
    spec = importlib.util.spec_from_file_location("make_class", ROOT / "examples" / "make_class.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {sid: topic for sid, _, topic, _, _ in module.CLASSIC}


SEED = 20261123


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    out = tmp_path_factory.mktemp("demo") / "grades"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    # One seed, so that a run of the suite checks the same draws as the recording: a grade that
    # moves with the seed is found by the seed tests of tests/test_mistake_messages.py, not here
    # by chance.
    done = subprocess.run([sys.executable, "-m", "grader", "batch", str(CLASS), "--out", str(out),
                           "--jobs", "2", "--seed", str(SEED)], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    grades = golden.grades(out / "gradebook.csv")
    if os.environ.get("GRADER_UPDATE_DEMO") == "1":
        golden.record(grades)
    return grades


def test_the_demo_class_gets_the_recorded_grades(graded: list[dict[str, str]]) -> None:
    differences = golden.differences(graded)
    assert not differences, (
        "the demo's grades moved; if that is intended, record them with "
        "GRADER_UPDATE_DEMO=1 ./run tests tests/test_demo.py\n" + "\n".join(differences))


def test_the_perfect_student_gets_full_marks_and_each_mistake_costs_its_topic(
        graded: list[dict[str, str]]) -> None:
    expected = golden.expected()
    topics = [c for c in expected["ada"] if golden.is_topic(c)]
    maxima = {t: max(float(r[t]) for r in expected.values()) for t in topics}
    ada = {r["student"]: r for r in graded}["ada"]
    assert all(float(ada[t]) == maxima[t] > 0 for t in topics), ada
    # The demo's students are made from the course's own files, so several hand in identical
    # modules and the similarity check rightly pairs them; nothing else is flagged on ada.
    assert set(ada["flags"].split(";")) <= {"", "similarity"} and ada["status"] == "graded"
    by = {r["student"]: r for r in graded}
    # finn: a syntax error in one topic costs that topic alone.
    lost = [t for t in topics if float(by["finn"][t]) < maxima[t]]
    assert len(lost) == 1 and float(by["finn"][lost[0]]) == 0 and "syntax_error" in by["finn"]["flags"]
    # gus: an infinite loop in one function costs only its tests, and is flagged.
    assert "timeout" in by["gus"]["flags"] and by["gus"]["status"] == "graded"
    # hana: hostile, contained: graded, with her own mistakes only.
    assert by["hana"]["status"] == "graded" and "crash" in by["hana"]["flags"]
    # ivy: a malformed archive is an error row, never the end of the batch.
    assert by["ivy"]["status"] == "error"
    assert by["kim"]["status"] == "graded" and all(float(by["kim"][t]) == 0 for t in topics)
    # nora, omar, pia, quinn: one classic mistake each, which costs its own topic alone.
    classic = _classic_students()
    assert classic and all(topic in topics for topic in classic.values())
    for student, topic in classic.items():
        lost = [t for t in topics
                if float(by[student][t]) < maxima[t] - golden.SPEED_TOPICS.get(t, 0.0)]
        assert lost == [topic] and float(by[student][topic]) > 0, (student, lost)
