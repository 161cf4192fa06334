"""A student's reply is checked before the trusted side computes with it, and the trusted
grading child's own memory and time are bounded.

The attack: a gradient function returns a huge boolean array of shape (N, 1, 1); a hidden test
that multiplies the reply by an upstream gradient of shape (3, 4) before looking at it makes the
trusted process allocate N × 12 float64 values (20 MB of reply: 1.9 GB).
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from grader.course import Course
from grader.grading import bounds, replies
from grader.grading.engine import Engine, Options

SOLUTION = "def square_grad(x):\n    return 2 * x\n"

PEAK = '''
def test_zz_peak(record_property):
    import resource
    record_property("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
'''

CHECKED = '''
import pytest


def test_like(student, rng):
    x, dout = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    g = student.call("square_grad", x, like=x) * dout
    assert g.shape == (3, 4)


def test_default_budget(student, rng):
    x = rng.normal(size=(3, 4))
    g = student.square_grad(x)
    assert g.shape == (3, 4)


@pytest.mark.timeout(1)
def test_slow_checks(student, rng):
    student.square_grad(rng.normal(size=(3, 4)))
    while True:  # trusted work that never ends
        sum(range(1000))
''' + PEAK

# The control: the same arithmetic, with the size check turned off by the test.
UNCHECKED = '''
def test_unchecked(student, rng):
    x, dout = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    g = student.call("square_grad", x, max_elements=10**10) * dout
    assert g.shape == (3, 4)
''' + PEAK


def _course(root: Path) -> Course:
    for topic, tests in (("checked", CHECKED), ("unchecked", UNCHECKED)):
        ref, pub = root / "reference" / topic, root / "assignments" / topic
        ref.mkdir(parents=True)
        pub.mkdir(parents=True)
        (ref / "solution.py").write_text(SOLUTION)
        (ref / "test_hidden.py").write_text(textwrap.dedent(tests))
        # A generous timeout: the control's arithmetic on gigabytes must end in its own
        # failure, not in a timeout, however busy the machine is.
        (ref / "grading.toml").write_text("[grading]\ntimeout = 120\nmemory_mb = 1024\n")
        (pub / f"{topic}.py").write_text("def square_grad(x):\n    raise NotImplementedError\n")
    return Course(root)


def _hostile(megabytes: int) -> str:
    if not megabytes:
        return SOLUTION
    return ("import numpy as np\n\n\ndef square_grad(x):\n"
            f"    return np.ones(({megabytes * 10**6}, 1, 1), dtype=bool)\n")


@pytest.fixture(scope="module")
def reply_engine(tmp_path_factory):
    with Engine(_course(tmp_path_factory.mktemp("replies-course"))) as engine:
        yield engine


def _grade(engine: Engine, tmp_path: Path, topic: str, megabytes: int):
    sub = tmp_path / "sub"
    sub.mkdir(parents=True)
    (sub / f"{topic}.py").write_text(_hostile(megabytes))
    t0 = time.monotonic()
    result = engine.grade(sub, tmp_path / "out", Options(topics=(topic,), seed=3))
    took = time.monotonic() - t0
    tests = {t.name: t for t in result.tests}
    return tests, tests["test_zz_peak"].details["peak_rss_mb"], took


def test_an_honest_reply_passes_and_sets_the_baseline_peak(reply_engine, tmp_path: Path) -> None:
    tests, peak, _ = _grade(reply_engine, tmp_path, "checked", 0)
    assert tests["test_like"].outcome == tests["test_default_budget"].outcome == "passed"
    print(f"honest: peak RSS of the grading child {peak:.0f} MB")


@pytest.mark.parametrize("megabytes", [20, 200])
def test_a_huge_boolean_reply_fails_fast_with_bounded_memory(reply_engine, tmp_path: Path,
                                                             megabytes: int) -> None:
    _, honest, _ = _grade(reply_engine, tmp_path / "honest", "checked", 0)
    tests, peak, took = _grade(reply_engine, tmp_path / "attack", "checked", megabytes)
    for name in ("test_like", "test_default_budget"):
        assert tests[name].outcome == "failed"
        assert "square_grad returned" in tests[name].message
        assert "check the shape of what square_grad returns" in tests[name].message
    # The frame is refused before its bytes are read: the reply never reaches this process.
    assert peak - honest < 100, (peak, honest)
    print(f"{megabytes} MB reply: peak RSS {peak:.0f} MB (honest {honest:.0f} MB), "
          f"graded in {took:.1f} s")


def test_control_unchecked_arithmetic_allocates_gigabytes(reply_engine, tmp_path: Path) -> None:
    _, honest, _ = _grade(reply_engine, tmp_path / "honest", "unchecked", 0)
    tests, peak, took = _grade(reply_engine, tmp_path / "attack", "unchecked", 20)
    assert tests["test_unchecked"].outcome == "failed"  # shape (20e6, 3, 4), not (3, 4)
    assert peak - honest > 1500, (peak, honest)
    print(f"control, 20 MB reply: peak RSS {peak:.0f} MB (honest {honest:.0f} MB), "
          f"graded in {took:.1f} s")


def test_the_trusted_childs_memory_is_bounded(reply_engine, tmp_path: Path,
                                              monkeypatch) -> None:
    """With the check turned off, the memory limit of the grading child still holds: the
    arithmetic on a 200 MB reply (19 GB) fails with MemoryError instead of taking the machine."""
    monkeypatch.setenv("GRADER_TRUSTED_MEMORY_MB", "1024")
    tests, peak, _ = _grade(reply_engine, tmp_path, "unchecked", 200)
    t = tests["test_unchecked"]
    assert t.outcome == "failed" and "MemoryError" in t.message, t.message
    assert peak < 3000
    print(f"unchecked 200 MB reply under a 1 GB limit: peak RSS {peak:.0f} MB")


def test_the_tests_deadline_covers_the_trusted_sides_work(reply_engine, tmp_path: Path) -> None:
    tests, _, _ = _grade(reply_engine, tmp_path, "checked", 0)
    t = tests["test_slow_checks"]
    assert t.outcome == "timeout" and "timeout" in t.flags
    assert "past the test's time limit" in t.message
    # 1 s limit + 2 s margin, plus the worker call
    assert t.duration < 1 + bounds.margin(1) + 2


def test_watchdog_interrupts_a_python_loop_and_then_disarms() -> None:
    start = time.monotonic()
    with pytest.raises(bounds.TestOverran):
        with bounds.watchdog(time.monotonic() - bounds.MIN_MARGIN + 0.2, 0.1):
            while True:
                sum(range(100))
    assert time.monotonic() - start < 2
    time.sleep(0.4)  # disarmed: nothing fires afterwards


@pytest.mark.parametrize(("reply", "like", "problem"), [
    (np.zeros((3, 1)), np.zeros((3,)), "shape (3, 1), expected (3,)"),
    (np.zeros(3, np.float32), np.zeros(3), "dtype float32, expected float64"),
    ([np.zeros(3)], (np.zeros(3), np.zeros(3)), "expected 2 outputs"),
    ("text", np.zeros(3), "expected an array of shape (3,)"),
    ((np.zeros(3), np.zeros((2, 2))), (np.zeros(3), np.zeros(4)), "output [1]"),
])
def test_like_names_the_problem(reply, like, problem) -> None:
    with pytest.raises(replies.ReplyRejected, match=problem.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        replies.check_like("f", reply, like)
    replies.check_like("f", like, like)


def test_default_budget_follows_the_inputs() -> None:
    x = np.zeros((100, 100))
    assert replies.call_budget((x, 3.0), {}) == 4 * 10_000 + replies.FLOOR
    assert replies.call_budget((x,), {}, max_elements=7) == 7
    assert replies.call_budget((x,), {}, like=np.zeros(5)) == 5 + replies.FLOOR
    assert replies.elements({"a": [np.zeros(3), 1.0], "b": "xy"}) == 6
