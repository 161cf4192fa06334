"""The speed-test harness (grader.checks.timing): ratios come out right, the score curve, correctness gates
speed, the clocks it trusts, partial points through the engine, and GPU workers' sandbox policy."""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from grader.isolation import sandbox

from grader.checks import timing
from grader.course import Course
from grader.grading.remote import StudentModule, StudentProxy, WorkerSpec, Zygote
from grader.grading.engine import Engine, Options

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ fakes

class FakeTime:
    """The harness's clock (``timing.time``) in the tests of fake workers: it moves only when a
    fake worker runs or the harness pauses, so what these tests assert never depends on how busy
    the machine is."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    clock = FakeTime()
    monkeypatch.setattr(timing, "time", clock)
    return clock


class FakeProxy:
    """Stands for a worker: each call takes ``per_call`` seconds of the fake clock (the test
    asks for ``fake_time``) and returns f(args)."""

    def __init__(self, name: str, per_call: float, log: list[tuple[str, int]],
                 result=lambda args: sum(args)) -> None:
        self.name, self.per_call, self.log, self.result = name, per_call, log, result

    def batch(self, fn: str, arglist: list[tuple]) -> list[Any]:
        assert isinstance(timing.time, FakeTime), "a test of FakeProxy asks for fake_time"
        self.log.append((self.name, len(arglist)))
        timing.time.sleep(self.per_call * len(arglist))
        return [self.result(a) for a in arglist]


def _settings(**kw: Any) -> timing.Settings:
    return timing.Settings(**{"min_sample_s": 0.02, "samples": 7, "warmup": 2, **kw})


# ------------------------------------------------------------------------------ the score curve

def test_fraction_is_zero_below_full_above_and_log_linear_between() -> None:
    th = timing.Thresholds(zero=2.0, full=8.0)
    assert th.fraction(1.0) == th.fraction(2.0) == 0.0
    assert th.fraction(8.0) == th.fraction(50.0) == 1.0
    assert th.fraction(4.0) == pytest.approx(0.5)  # the geometric middle
    assert th.fraction(2.0 * 4 ** 0.25) == pytest.approx(0.25)
    assert th.fraction(math.nan) == 0.0
    ratios = [1.5 + 0.25 * i for i in range(30)]
    fractions = [th.fraction(r) for r in ratios]
    assert fractions == sorted(fractions)


@pytest.mark.parametrize("zero,full", [(2.0, 2.0), (3.0, 2.0), (0.0, 2.0)])
def test_thresholds_must_increase(zero: float, full: float) -> None:
    with pytest.raises(ValueError, match="zero < full"):
        timing.Thresholds(zero, full)


def test_thresholds_are_read_per_device() -> None:
    extra = {"speed": {"f": {"cpu": {"zero": 1.5, "full": 3}, "cuda": {"zero": 2, "full": 10}}}}
    assert timing.thresholds_for(extra, "f", "cpu") == timing.Thresholds(1.5, 3.0)
    assert timing.thresholds_for(extra, "f", "cuda:0") == timing.Thresholds(2.0, 10.0)
    with pytest.raises(KeyError, match=r"\[speed.g\] cpu"):
        timing.thresholds_for(extra, "g", "cpu")


def test_settings_from_config_ignores_function_tables() -> None:
    s = timing.Settings.from_config({"samples": "9", "budget_s": 5, "f": {"cpu": {}}})
    assert s.samples == 9 and s.budget_s == 5.0 and s.min_sample_s == timing.Settings().min_sample_s


# ------------------------------------------------------------------------------ measuring

def test_ratio_of_known_sleeps_comes_out_right(fake_time: FakeTime) -> None:
    log: list[tuple[str, int]] = []
    student = FakeProxy("student", 0.004, log)
    baseline = FakeProxy("baseline", 0.016, log)
    s, b = timing.measure(student, baseline, "f", lambda i: (i, 1), settings=_settings(),
                          clocks=(None, None))
    speed = timing.score("f", s, b, timing.Thresholds(2, 8), "cpu", device_name="test")
    assert speed.clock == "wall"  # no CPU clock here
    assert speed.ratio == pytest.approx(4.0), speed.details()
    lo, hi = speed.interval
    assert lo <= speed.ratio <= hi and speed.scored == lo
    assert speed.fraction == pytest.approx(timing.Thresholds(2, 8).fraction(lo))


@pytest.mark.parametrize(("n", "confidence", "expected"), [
    (10, 0.9, (2, 9)),  # [x3, x8] covers only 89 %
    (10, 0.8, (3, 8)),
    (5, 0.9, (1, 5)),  # too few for anything narrower than the whole range
    (40, 0.9, (15, 26)),
    (1, 0.9, (1, 1)),
])
def test_the_interval_of_the_median_is_the_binomial_order_statistics(
        n: int, confidence: float, expected: tuple[int, int]) -> None:
    values = [float(v) for v in range(n, 0, -1)]  # unsorted on purpose
    assert timing.median_interval(values, confidence) == expected


def test_sampling_stops_once_the_ratio_is_pinned_down(fake_time: FakeTime) -> None:
    # Steady sides: the interval is narrow at the minimum number of samples. A side whose
    # calls vary by a factor of two keeps it wide: sampling goes on to the most allowed.
    log: list[tuple[str, int]] = []
    steady = timing.measure(FakeProxy("s", 0.004, log), FakeProxy("b", 0.008, log), "f",
                            lambda i: (i,), settings=_settings(samples=30, min_samples=6),
                            clocks=(StepClock([0.002] * 200), StepClock([0.004] * 200)))
    noisy = timing.measure(FakeProxy("s", 0.004, log), FakeProxy("b", 0.008, log), "f",
                           lambda i: (i,), settings=_settings(samples=30, min_samples=6),
                           clocks=(StepClock([0.002, 0.004] * 100), StepClock([0.004] * 200)))
    assert len(steady[0].wall) == 6 and len(noisy[0].wall) == 30


class StepClock:
    """A worker CPU clock that advances by the given amounts, one per reading pair."""

    whole_tree = True

    def __init__(self, steps: list[float]) -> None:
        self.steps = iter(steps)
        self.now = 0.0
        self.odd = False

    def threads(self) -> float:
        self.odd = not self.odd
        if not self.odd:
            self.now += next(self.steps)
        return self.now

    def tree(self) -> float:
        return self.now


def test_samples_alternate_and_batch_calls_to_reach_the_minimum_length(
        fake_time: FakeTime) -> None:
    log: list[tuple[str, int]] = []
    student = FakeProxy("student", 0.004, log)
    baseline = FakeProxy("baseline", 0.03, log)
    s, b = timing.measure(student, baseline, "f", lambda i: (i,), settings=_settings(),
                          clocks=(None, None))
    # 20 ms samples: five student calls of 4 ms, one baseline call of 30 ms.
    assert s.calls_per_sample == 5 and b.calls_per_sample == 1
    assert len(s.wall) == len(b.wall) == 7
    timed = log[-14:]
    order = [name for name, _ in timed]
    assert order == ["student", "baseline", "baseline", "student"] * 3 + ["student", "baseline"]
    assert all(n == s.calls_per_sample for name, n in timed if name == "student")
    assert all(w * s.calls_per_sample >= 0.016 for w in s.wall)


def test_every_call_gets_fresh_inputs(fake_time: FakeTime) -> None:
    seen: list[int] = []

    def make_args(i: int) -> tuple:
        seen.append(i)
        return (i,)

    log: list[tuple[str, int]] = []
    timing.measure(FakeProxy("s", 0.002, log), FakeProxy("b", 0.004, log), "f", make_args,
                   settings=_settings(), clocks=(None, None))
    assert len(seen) == len(set(seen)) == sum(n for _, n in log)


def test_budget_stops_sampling_after_the_minimum(fake_time: FakeTime) -> None:
    log: list[tuple[str, int]] = []
    s, _ = timing.measure(FakeProxy("s", 0.02, log), FakeProxy("b", 0.02, log), "f",
                          lambda i: (i,), settings=_settings(samples=50, min_samples=3,
                                                             budget_s=0.05),
                          clocks=(None, None))
    assert len(s.wall) == 3


class SeqClock:
    """A worker CPU clock whose k-th timed run takes ``seconds(k)`` of CPU time (warm-up runs
    included), so a busy spell can be placed on exact samples; no real time is involved."""

    whole_tree = True

    def __init__(self, seconds: Any) -> None:
        self.seconds, self.runs, self.now, self.odd = seconds, 0, 0.0, False

    def threads(self) -> float:
        self.odd = not self.odd
        if not self.odd:  # the reading after a run
            self.now += self.seconds(self.runs)
            self.runs += 1
        return self.now

    def tree(self) -> float:
        return self.now


WARMUP_RUNS = 3  # run(side, 1) twice and warmup - 1 = 1 more, per side (see measure)
FAST_CLEAR = timing.Thresholds(1.1, 1.3)


def _rounds_settings(**kw: Any) -> timing.Settings:
    # Calls are never slept through (FakeProxy of 0 s) and rounds follow each other at once:
    # what is measured is decided by the clocks alone.
    return timing.Settings(**{"min_sample_s": 1e-9, "warmup": 2, "samples": 10,
                              "min_samples": 8, "round_pause_s": 0.0, **kw})


def _measure_rounds(student_cpu: Any, settings: timing.Settings,
                    thresholds: timing.Thresholds | None = FAST_CLEAR
                    ) -> tuple[timing.Side, timing.Side]:
    log: list[tuple[str, int]] = []
    return timing.measure(FakeProxy("s", 0, log), FakeProxy("b", 0, log), "f", lambda i: (i,),
                          settings=settings, thresholds=thresholds,
                          clocks=(SeqClock(student_cpu), SeqClock(lambda k: 0.004)))


def _busy_first_round(k: int) -> float:
    # The student's calls take 2 ms (2× the baseline's 4 ms), but during the first round every
    # other sample is caught in a busy spell that costs it 5 ms (0.8×).
    sample = k - WARMUP_RUNS
    return 0.005 if 0 <= sample < 10 and sample % 2 == 1 else 0.002


def test_a_busy_spell_that_leaves_a_threshold_inside_the_interval_is_measured_again(
        fake_time: FakeTime) -> None:
    # One round alone: the interval of the ratio spans 0.8–2×, its lower end earns nothing.
    s, b = _measure_rounds(_busy_first_round, _rounds_settings(rounds=1))
    one = timing.score("f", s, b, FAST_CLEAR, "cpu", "test")
    assert s.rounds == 1 and one.interval[0] < 1.1 and one.fraction == 0.0
    # With rounds, the second one is sampled until the pooled interval clears full: the busy
    # spell costs nothing.
    s, b = _measure_rounds(_busy_first_round, _rounds_settings())
    pooled = timing.score("f", s, b, FAST_CLEAR, "cpu", "test")
    assert s.rounds == 2 and 10 < len(s.wall) <= 20
    assert pooled.scored == pytest.approx(2.0) and pooled.fraction == 1.0
    assert "in 2 rounds" in pooled.message() and pooled.details()["student"]["rounds"] == 2


def test_an_interval_clear_of_the_thresholds_stops_at_the_minimum(fake_time: FakeTime) -> None:
    for student in (lambda k: 0.002, lambda k: 0.004):  # 2×: all points; 1×: none
        s, _ = _measure_rounds(student, _rounds_settings())
        assert s.rounds == 1 and len(s.wall) == 8


def test_a_ratio_truly_at_a_threshold_takes_every_round_and_no_more(fake_time: FakeTime) -> None:
    # 1.3× give or take 10 %, alternately: the interval holds the full threshold for good.
    s, b = _measure_rounds(lambda k: 0.004 / (1.3 * (1.1 if k % 2 else 0.9)),
                           _rounds_settings(rounds=3))
    assert s.rounds == 3 and len(s.wall) == 30
    speed = timing.score("f", s, b, FAST_CLEAR, "cpu", "test")
    assert 0 < speed.fraction < 1  # scored on the lower end, as always


def test_without_thresholds_sampling_is_one_round_as_before(fake_time: FakeTime) -> None:
    s, _ = _measure_rounds(_busy_first_round, _rounds_settings(), thresholds=None)
    assert s.rounds == 1 and len(s.wall) == 10


# ------------------------------------------------------------------------------ correctness gates speed

def _record() -> tuple[dict[str, Any], Any]:
    recorded: dict[str, Any] = {}
    return recorded, lambda key, value: recorded.__setitem__(key, value)


def _check_sum(args: tuple, got: Any) -> None:
    assert got == sum(args), f"f{args} should be {sum(args)}, got {got}"


def test_a_wrong_result_while_timed_gives_no_speed_points(fake_time: FakeTime) -> None:
    log: list[tuple[str, int]] = []
    calls = {"n": 0}

    def sometimes_wrong(args: tuple) -> int:
        calls["n"] += 1
        return sum(args) + (1 if calls["n"] > 3 else 0)  # right while warming up only

    recorded, record = _record()
    with pytest.raises(AssertionError, match="should be"):
        timing.grade_speed(FakeProxy("s", 0.001, log, sometimes_wrong),
                           FakeProxy("b", 0.02, log), "f", lambda i: (i, 2), verify=_check_sum,
                           thresholds=timing.Thresholds(2, 8), device="cpu", record=record,
                           settings=_settings())
    assert "score_fraction" not in recorded and "speed" not in recorded


def test_fast_and_right_earns_full_points_with_the_figures_recorded(fake_time: FakeTime) -> None:
    log: list[tuple[str, int]] = []
    recorded, record = _record()
    speed = timing.grade_speed(FakeProxy("s", 0.002, log), FakeProxy("b", 0.03, log), "f",
                               lambda i: (i, 2), verify=_check_sum,
                               thresholds=timing.Thresholds(2, 8), device="cpu", record=record,
                               settings=_settings())
    assert speed.fraction == 1.0 and recorded["score_fraction"] == 1.0
    assert "full speed points" in recorded["note"]
    details = recorded["speed"]
    assert details["device"] == "cpu" and details["device_name"].startswith("CPU")
    assert details["ratio"] > 8
    for side in ("student", "baseline"):
        figures = details[side]
        assert figures["samples"] == 7 and figures["min_s"] <= figures["median_s"] <= figures["max_s"]
        assert figures["spread"] >= 0
    json.dumps(details)  # goes into the results file as it is


def test_as_slow_as_the_baseline_earns_nothing_and_says_so(fake_time: FakeTime) -> None:
    log: list[tuple[str, int]] = []
    recorded, record = _record()
    with pytest.raises(AssertionError) as err:
        timing.grade_speed(FakeProxy("s", 0.01, log), FakeProxy("b", 0.01, log), "f",
                           lambda i: (i,), verify=_check_sum, thresholds=timing.Thresholds(2, 8),
                           device="cpu", record=record, hint="Vectorise it.",
                           settings=_settings())
    message = str(err.value)
    # Both sides sleep as long per call; a busy machine oversleeps either now and then.
    ratio = re.search(r"f is ([\d.]+)× as fast as the public baseline", message)
    assert ratio and 0.5 < float(ratio[1]) < 2, message
    assert "start above 2×" in message
    assert message.endswith("Vectorise it.")
    assert recorded["speed"]["fraction"] == 0.0 and "score_fraction" not in recorded


def test_partial_speed_points_in_between(fake_time: FakeTime) -> None:
    log: list[tuple[str, int]] = []
    recorded, record = _record()
    timing.grade_speed(FakeProxy("s", 0.005, log), FakeProxy("b", 0.02, log), "f",
                       lambda i: (i,), verify=_check_sum, thresholds=timing.Thresholds(2, 16),
                       device="cpu", record=record, settings=_settings())
    assert 0.1 < recorded["score_fraction"] < 0.6
    assert "of the speed points (full from 16×)" in recorded["note"]


class SizedProxy(FakeProxy):
    """A fake worker whose call on (n,) takes ``cost(n)`` seconds of the fake clock."""

    def __init__(self, name: str, cost: Any, log: list[tuple[str, int]]) -> None:
        super().__init__(name, 0.0, log)
        self.cost = cost

    def batch(self, fn: str, arglist: list[tuple]) -> list[Any]:
        self.log.append((self.name, len(arglist)))
        timing.time.sleep(sum(self.cost(a[0]) for a in arglist))
        return [self.result(a) for a in arglist]


@pytest.mark.parametrize("slope", [0.5, 1.0, 2.0, 3.0])
def test_the_fitted_exponent_of_a_power_law_is_its_power(slope: float) -> None:
    sizes = [16, 32, 64, 128]
    assert timing.fit_exponent(sizes, [3e-4 * n**slope for n in sizes]) == pytest.approx(slope)


def test_a_solution_quadratic_where_the_baseline_is_linear_is_shown_so_and_scored_alike(
        fake_time: FakeTime) -> None:
    log: list[tuple[str, int]] = []
    student = SizedProxy("s", lambda n: 1e-5 * n * n, log)  # fast at n = 4, quadratic beyond
    baseline = SizedProxy("b", lambda n: 1e-3 * n, log)
    scored = []
    for plan in (None, timing.Sweep("T", (4, 8, 16, 32), lambda n, i: (n,))):
        recorded, record = _record()
        timing.grade_speed(student, baseline, "f", lambda i: (4,), verify=_check_sum,
                           thresholds=timing.Thresholds(2, 16), device="cpu", record=record,
                           settings=_settings(), scaling=plan)
        scored.append(recorded["score_fraction"])
    assert scored[0] == scored[1]  # the sweep is shown, never scored
    grown = recorded["speed"]["scaling"]
    assert grown["sizes"] == [4, 8, 16, 32]
    assert grown["student_exponent"] == pytest.approx(2.0, abs=0.01)
    assert grown["baseline_exponent"] == pytest.approx(1.0, abs=0.01)
    assert grown["ratios"] == pytest.approx([25, 12.5, 6.25, 3.125], rel=0.01)
    assert "your time grows as T^2.00 and the baseline's as T^1.00" in recorded["note"]
    assert "(ratio 25.00×, 12.50×, 6.25×, 3.12×; not scored)" in recorded["note"]


def test_the_sweep_takes_the_scored_size_from_the_scored_measurement(
        fake_time: FakeTime) -> None:
    sizes: list[int] = []

    def cost(n: int) -> float:
        sizes.append(n)
        return 1e-4 * n

    log: list[tuple[str, int]] = []
    recorded, record = _record()
    timing.grade_speed(SizedProxy("s", cost, log), SizedProxy("b", lambda n: 1e-3 * n, log), "f",
                       lambda i: (8,), verify=_check_sum, thresholds=timing.Thresholds(2, 16),
                       device="cpu", record=record, settings=_settings(),
                       scaling=timing.Sweep("T", (4, 8, 16), lambda n, i: (n,), graded=8))
    grown = recorded["speed"]["scaling"]
    assert grown["sizes"] == [4, 8, 16]
    assert grown["ratios"] == pytest.approx([10, 10, 10], rel=0.01)
    swept = sizes.index(4)  # the scored measurement (all at 8), then the sweep
    assert set(sizes[:swept]) == {8}
    assert set(sizes[swept:]) == {4, 16}  # 8 not timed again


def test_a_sweep_that_fails_is_reported_and_costs_no_points(fake_time: FakeTime) -> None:
    log: list[tuple[str, int]] = []

    def only_small(args: tuple) -> int:
        if args[0] > 4:
            raise RuntimeError("too big")
        return sum(args)

    student = SizedProxy("s", lambda n: 1e-4, log)
    student.result = only_small
    recorded, record = _record()
    timing.grade_speed(student, SizedProxy("b", lambda n: 1e-2, log), "f", lambda i: (4,),
                       verify=_check_sum, thresholds=timing.Thresholds(2, 8), device="cpu",
                       record=record, settings=_settings(),
                       scaling=timing.Sweep("T", (4, 8), lambda n, i: (n,)))
    assert recorded["score_fraction"] == 1.0
    assert recorded["speed"]["scaling"]["error"] == "too big"
    assert "How your time grows with T was not measured: RuntimeError." in recorded["note"]


# ------------------------------------------------------------------------------ clocks

def _side(wall: float, cpu: float | None, n: int = 5) -> timing.Side:
    return timing.Side(1, (wall,) * n, None if cpu is None else (cpu,) * n)


def test_a_busy_machine_costs_nothing_where_the_worker_cannot_hide_work() -> None:
    # Calls that wait three times as long as they compute: a busy machine, or a child process
    # the kernel reaped. A worker that could start processes is charged the wall time; one that
    # could not (every speed-graded worker) its CPU time, however loaded the machine.
    waiting = timing.Side(1, (0.030,) * 5, (0.010,) * 5)
    alone = timing.Side(1, (0.030,) * 5, (0.010,) * 5, single_process=True)
    baseline = _side(0.020, 0.020)
    assert timing.choose_clock(waiting, baseline, "cpu")[0] == "cpu_or_wall"
    assert timing.choose_clock(alone, baseline, "cpu")[0] == "cpu"


def test_work_the_process_tree_shows_only_in_part_is_floored_by_the_wall_clock() -> None:
    # Some of the work shows in the process tree (a child reaped by the worker), the rest ran in
    # processes the kernel reaped: 10 ms a call seen, 30 ms waited. Charging the tree's CPU time
    # alone would make the call three times as fast as it is.
    partly = timing.Side(1, (0.030,) * 5, (0.001,) * 5, tree=0.05)
    baseline = _side(0.030, 0.030)
    clock, note = timing.choose_clock(partly, baseline, "cpu")
    assert clock == "cpu_tree_or_wall", note
    assert "child processes" in note and "wall-clock time where that is longer" in note
    assert partly.times(clock) == pytest.approx((0.030,) * 5)
    speed = timing.score("f", partly, baseline, timing.Thresholds(1.5, 8), "cpu", "t")
    assert speed.ratio == pytest.approx(1.0) and speed.fraction == 0
    assert "processes" in speed.message() and "whichever is longer" in speed.message()
    # All the work shows in the tree: its CPU time is charged, however the calls waited.
    seen = timing.Side(1, (0.030,) * 5, (0.001,) * 5, tree=0.15)
    assert timing.choose_clock(seen, baseline, "cpu")[0] == "cpu_tree"
    # A worker that could start no process has nothing to hide: no floor, however loaded.
    alone = timing.Side(1, (0.030,) * 5, (0.001,) * 5, tree=0.05, single_process=True)
    assert timing.choose_clock(alone, baseline, "cpu")[0] == "cpu_tree"


def test_cpu_time_scores_on_a_cpu_and_extra_threads_are_charged() -> None:
    # The student's calls keep two threads busy; the baseline waited for a CPU half the time.
    student, baseline = _side(0.010, 0.020), _side(0.040, 0.020)
    clock, note = timing.choose_clock(student, baseline, "cpu")
    assert clock == "cpu" and "2.0 CPUs" in note
    speed = timing.score("f", student, baseline, timing.Thresholds(1.5, 4), "cpu", "test")
    assert speed.ratio == pytest.approx(1.0)  # not 4.0, what the wall clock would say


def test_work_outside_the_worker_threads_is_charged_from_the_process_tree() -> None:
    # Five samples of 2 calls; the live threads show 1 ms a call, the tree 0.2 s in all (20 ms
    # a call): the rest ran in child processes or threads that ended.
    student = timing.Side(2, (0.010,) * 5, (0.001,) * 5, tree=0.2)
    assert student.elsewhere == pytest.approx(0.19)
    clock, note = timing.choose_clock(student, _side(0.040, 0.039), "cpu")
    assert clock == "cpu_tree" and "child processes" in note
    speed = timing.score("f", student, _side(0.040, 0.039), timing.Thresholds(1.5, 8), "cpu", "t")
    assert speed.ratio == pytest.approx(0.039 / 0.020)
    assert "processes" in speed.message()
    # A few ticks' worth is the kernel's rounding, not work elsewhere.
    assert timing.choose_clock(timing.Side(1, (0.01,) * 5, (0.01,) * 5, tree=0.07),
                               _side(0.04, 0.04), "cpu")[0] == "cpu"


def test_the_ratio_pairs_samples_taken_back_to_back() -> None:
    # A busy spell slows everything fourfold from the middle of the fifth pair on (its baseline
    # sample ran first): the median over pairs still says 2×, and the lower end of its interval
    # about as much; the ratio of medians would say 1.3×.
    student = timing.Side(1, (1.0, 1.1, 1.0, 1.05, 4.0, 4.2, 4.1, 4.0, 4.1, 4.2), None)
    baseline = timing.Side(1, (2.0, 2.2, 2.1, 2.0, 2.2, 8.4, 8.2, 8.0, 8.2, 8.4), None)
    assert timing.pair_ratios(student, baseline, "wall") == pytest.approx(
        [2, 2, 2.1, 1.905, 0.55, 2, 2, 2, 2, 2], rel=1e-3)
    speed = timing.score("f", student, baseline, timing.Thresholds(1.5, 4), "cpu", "test")
    assert speed.ratio == pytest.approx(2.0) and speed.scored == pytest.approx(1.905, rel=1e-3)
    assert speed.fraction == pytest.approx(timing.Thresholds(1.5, 4).fraction(speed.scored))
    details = speed.details()
    assert details["ratio_of_medians"] == pytest.approx(1.275, rel=1e-3)
    assert details["ratio_interval"] == pytest.approx([1.905, 2.0], rel=1e-3)
    assert details["student"]["per_call_s"] == [1.0, 1.1, 1.0, 1.05, 4.0, 4.2, 4.1, 4.0, 4.1,
                                                4.2]


@pytest.mark.parametrize("device,student,why", [
    ("cuda:0", _side(0.01, 0.01), "round trip"),
    ("cpu", _side(0.01, None), "could not be read"),
])
def test_wall_clock_on_a_gpu_or_without_cpu_times(device: str, student: timing.Side,
                                                  why: str) -> None:
    clock, note = timing.choose_clock(student, _side(0.02, 0.02), device)
    assert clock == "wall" and why in note


def test_process_cpu_seconds_counts_work_not_waiting() -> None:
    before = timing.process_cpu_seconds(os.getpid())
    assert before is not None
    time.sleep(0.05)
    slept = timing.process_cpu_seconds(os.getpid())
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    worked = timing.process_cpu_seconds(os.getpid())
    assert slept - before < 0.03 <= worked - slept  # type: ignore[operator]
    assert timing.process_cpu_seconds(2**22 + 12345) is None  # no such process


def _minor_faults(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_a_fresh_worker_reuses_its_memory_for_the_inputs_of_each_call(tmp_path: Path) -> None:
    """Page faults (a count, not a time) of a worker taking calls whose inputs are 4 MB: after
    the first calls, far fewer than a block's pages per call, as in a worker that once held a
    larger block. The
    zygote fixes the allocator's thresholds for every worker
    (grader.isolation.zygote.steady_allocator); without that a fresh worker maps and faults in
    every page of each call's inputs (a thousand per 4 MB) where an older one reuses its heap,
    and the same code was timed as 1.3× as fast in the student's worker as in the public
    baseline's fresh one."""
    import torch

    (tmp_path / "mem.py").write_text("def first(x):\n    return x[:1].clone()\n")
    zygote = Zygote()
    try:
        spec = WorkerSpec(tmp_dir=str(tmp_path), module_name="mem",
                          module_path=str(tmp_path / "mem.py"), student_dir=str(tmp_path),
                          sandbox=True,
                          read_paths=(*sandbox.default_read_paths(), str(ROOT / "grader")))
        proxy = StudentProxy(StudentModule(zygote, spec), time.monotonic() + 60)
        block = torch.ones(2**20)  # 4 MB
        for _ in range(5):
            proxy.first(block)
        pid = timing.worker_pid(proxy)
        assert pid is not None
        before = _minor_faults(pid)
        for _ in range(5):
            proxy.first(block)
        faults = _minor_faults(pid) - before
        proxy._session.close()
    finally:
        zygote.close()
    pages = 4 * 2**20 // 4096  # of one call's inputs
    assert faults < 2 * pages, f"{faults} page faults over five calls of 4 MB each"


def test_worker_cpu_clock_reads_the_worker_from_outside(tmp_path: Path) -> None:
    (tmp_path / "busy.py").write_text(textwrap.dedent("""
        import os, threading, time

        def spin(seconds):
            end = time.process_time() + seconds
            while time.process_time() < end:
                pass

        def nap(seconds):
            time.sleep(seconds)

        def spin_in_a_thread(seconds):
            t = threading.Thread(target=spin, args=(seconds,))
            t.start()
            t.join()

        def spin_in_a_child(seconds):
            pid = os.fork()
            if pid == 0:
                spin(seconds)
                os._exit(0)
            os.waitpid(pid, 0)
    """))
    zygote = Zygote()
    try:
        spec = WorkerSpec(tmp_dir=str(tmp_path), module_name="busy", module_path=str(tmp_path / "busy.py"),
                          student_dir=str(tmp_path), sandbox=True,
                          read_paths=(*sandbox.default_read_paths(), str(ROOT / "grader")))
        proxy = StudentProxy(StudentModule(zygote, spec), time.monotonic() + 60)
        proxy.nap(0)  # start the worker
        clock = timing.worker_cpu_clock(proxy)
        assert clock is not None and timing.worker_pid(proxy) is not None
        whole_tree = clock.whole_tree  # where the machine gives each worker a cgroup
        assert whole_tree == sandbox.memory_bound().available
        readings = [(clock.threads(), clock.tree())]
        tasks = f"/proc/{timing.worker_pid(proxy)}/task"
        own_threads = len(os.listdir(tasks))
        for call in ("nap", "spin", "spin_in_a_thread", "spin_in_a_child"):
            proxy.call(call, 0.2)
            if call == "spin_in_a_child":
                # A joined thread can stay listed in /proc/PID/task for a moment after join()
                # returns; let the worker settle back to its own threads before the last reading.
                settle = time.monotonic() + 2
                while len(os.listdir(tasks)) > own_threads and time.monotonic() < settle:
                    time.sleep(0.01)
            readings.append((clock.threads(), clock.tree()))
        proxy._session.close()
    finally:
        zygote.close()
    threads = [b[0] - a[0] for a, b in itertools.pairwise(readings)]  # type: ignore[operator]
    tree = [b[1] - a[1] for a, b in itertools.pairwise(readings)]  # type: ignore[operator]
    nap, spin, in_thread, in_child = range(4)
    assert threads[nap] < 0.05 and tree[nap] < 0.05, "sleeping costs almost no CPU time"
    assert 0.19 <= threads[spin] < 0.6 and 0.15 <= tree[spin] < 0.6
    if whole_tree:
        # The worker's cgroup counts every thread and process it ever had, in each reading.
        assert threads[in_thread] >= 0.15 and threads[in_child] >= 0.15, (threads, tree)
    else:
        # Work in a thread that ended, or in a child process, escapes the live threads'
        # reading and shows in the tree's: what choose_clock() looks at. (A thread that ended
        # may show in one reading and leave the next, so the two are summed.)
        assert threads[in_thread] + threads[in_child] < 0.1, (threads, tree)
    for where in (in_thread, in_child):
        assert tree[where] >= 0.15, (threads, tree)
    assert timing.worker_cpu_clock(FakeProxy("s", 0, [])) is None


# ------------------------------------------------------------------------------ through the engine

SPEEDY_HIDDEN = '''
from pathlib import Path

import pytest

from grader.checks import timing
from grader.course import load_topic_config

CONFIG = load_topic_config(Path(__file__).with_name("grading.toml"))


def _verify(args, got):
    assert got == sum(range(args[0])), f"spin({args[0]}) should be {sum(range(args[0]))}, got {got}"


@pytest.mark.points(4)
@pytest.mark.timeout(60)
def test_spin_speed(student, baseline, record_property):
    timing.grade_speed(student, baseline, "spin", lambda i: (20000 + i,), verify=_verify,
                       thresholds=timing.thresholds_for(CONFIG.extra, "spin", "cpu"),
                       device="cpu", record=record_property, hint="Use the formula.",
                       settings=timing.Settings(samples=15))


@pytest.mark.points(1)
def test_spin_small(student):
    assert student.spin(5) == 10, "spin(5) should be 10"
'''

SPEEDY_TOML = '''
[speed.spin]
cpu = { zero = 1.5, full = 12.0 }
'''

BASELINE = '''
def spin(n):
    total = 0
    for i in range(n):
        total += i
    return total
'''


@pytest.fixture(scope="module")
def speedy(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("course")
    (root / "assignments" / "speedy").mkdir(parents=True)
    (root / "reference" / "speedy").mkdir(parents=True)
    (root / "assignments" / "speedy" / "speedy.py").write_text(
        "def spin(n):\n    raise NotImplementedError('spin: not implemented yet')\n")
    (root / "assignments" / "speedy" / "baseline.py").write_text(BASELINE)
    (root / "reference" / "speedy" / "solution.py").write_text(BASELINE)
    (root / "reference" / "speedy" / "test_hidden.py").write_text(SPEEDY_HIDDEN)
    (root / "reference" / "speedy" / "grading.toml").write_text(SPEEDY_TOML)
    with Engine(Course(root)) as engine:
        yield engine


def _grade(engine: Engine, tmp_path: Path, source: str) -> dict[str, Any]:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "speedy.py").write_text(textwrap.dedent(source))
    result = engine.grade(sub, tmp_path / "out", Options(seed=1))
    assert not result.error, result.error
    return {t.name: t for t in result.tests}


def test_engine_partial_speed_points_with_details(speedy: Engine, tmp_path: Path) -> None:
    # A quarter of the baseline's loop, about 4× (less the cost of a call): part of the points.
    # CPU time still moves with other load on the machine (caches, a busy sibling core).
    tests = _grade(speedy, tmp_path, """
        def spin(n):
            q = n // 4
            total = 0
            for i in range(q):
                total += i
            return total + (n * (n - 1) - q * (q - 1)) // 2
    """)
    t = tests["test_spin_speed"]
    assert t.outcome == "passed", t.message
    details = t.details["speed"]
    # About 4× on a quiet machine; CPU time still moves with other load (caches, a busy sibling
    # core), so only what the points need is asserted: strictly between the thresholds.
    assert 1.5 < details["scored_ratio"] < 12, details
    assert t.score == pytest.approx(4 * details["fraction"], abs=1e-3) and 0 < t.score < 4
    assert details["clock"] == "cpu" and details["device"] == "cpu"
    assert {"median_s", "spread", "cpu_median_s", "wall_median_s"} <= set(details["student"])
    assert "of the speed points" in t.message and t.message.endswith("Use the formula.")


def test_engine_baseline_copy_gets_correctness_points_only(speedy: Engine,
                                                           tmp_path: Path) -> None:
    tests = _grade(speedy, tmp_path, BASELINE)
    assert tests["test_spin_small"].score == 1
    t = tests["test_spin_speed"]
    assert t.outcome == "failed" and t.score == 0 and t.max_score == 4
    assert "as fast as the public baseline" in t.message
    # The same code on both sides: about 1× (less on a busy machine), below the 1.5× where
    # speed points start.
    assert t.details["speed"]["scored_ratio"] <= 1.5, t.details


def test_engine_fast_but_wrong_gets_no_speed_points(speedy: Engine, tmp_path: Path) -> None:
    tests = _grade(speedy, tmp_path, """
        def spin(n):
            return n * (n - 1) // 2 + (n > 100)  # right on small inputs only
    """)
    assert tests["test_spin_small"].score == 1
    t = tests["test_spin_speed"]
    assert t.outcome == "failed" and t.score == 0 and "should be" in t.message
    assert "speed" not in t.details


def test_engine_work_in_a_thread_is_still_charged(speedy: Engine, tmp_path: Path) -> None:
    # The baseline's loop, run in a thread that ends before the call returns: its CPU time
    # escapes the live-thread readings but not the process tree's, and it is no faster.
    tests = _grade(speedy, tmp_path, BASELINE + """
import threading

_loop = spin

def spin(n):
    box = []
    t = threading.Thread(target=lambda: box.append(_loop(n)))
    t.start()
    t.join()
    return box[0]
""")
    t = tests["test_spin_speed"]
    speed = t.details["speed"]
    # Charged from the worker's cgroup where it has one, else from its process tree.
    assert speed["clock"] == "cpu_tree" or "whole process tree" in speed["clock_note"], speed
    assert t.outcome == "failed", t.details
    assert speed["clock"] != "cpu_tree" or "processes" in t.message, t.details
    # Charged, thread start-up included: about 0.8× on a quiet machine, an escape tens of ×.
    # Only that is asserted here. Whether the thread is charged once rather than twice is a
    # question of arithmetic, asserted on known readings without timing anything
    # (test_work_outside_the_worker_threads_is_charged_from_the_process_tree): through the
    # engine, other load moves this ratio by as much as a double charge would (0.46 seen on a
    # busy 2-core machine).
    assert t.details["speed"]["ratio"] < 3, t.details


def test_engine_formula_earns_full_speed_points(speedy: Engine, tmp_path: Path) -> None:
    tests = _grade(speedy, tmp_path, "def spin(n):\n    return n * (n - 1) // 2\n")
    t = tests["test_spin_speed"]
    assert t.outcome == "passed" and t.score == 4 and "full speed points" in t.message


# ------------------------------------------------------------------------------ GPU workers' sandbox

def test_gpu_device_paths_are_the_nvidia_files(tmp_path: Path) -> None:
    for name in ("nvidia0", "nvidiactl", "nvidia-uvm", "null", "dri"):
        (tmp_path / name).touch()
    assert sandbox.gpu_device_paths(str(tmp_path)) == tuple(
        str(tmp_path / n) for n in ("nvidia-uvm", "nvidia0", "nvidiactl"))
    assert sandbox.gpu_device_paths(str(tmp_path / "missing")) == ()
    assert all(os.path.exists(p) for p in sandbox.gpu_read_paths())
    assert not any(p in ("/proc", "/sys") for p in sandbox.gpu_read_paths())


# Runs in a fresh interpreter: A enters the namespaces, B is restricted and reports.
_POLICY_SCRIPT = '''
import json, os, resource, sys
from grader.isolation import sandbox
cfg = json.loads(sys.argv[1])
policy = sandbox.Policy(read_paths=sandbox.default_read_paths(), write_paths=(cfg["work"],),
                        limits=sandbox.Limits(memory_mb=512, gpu=cfg["gpu"]),
                        devices=tuple(cfg["devices"]))
sandbox.probe()
r, w = os.pipe()
a = os.fork()
if a == 0:
    sandbox.enter_namespaces(policy)
    b = os.fork()
    if b == 0:
        inherited = sandbox._data_bytes()
        sandbox.restrict(policy)
        report = {"as": resource.getrlimit(resource.RLIMIT_AS)[0],
                  "data": resource.getrlimit(resource.RLIMIT_DATA)[0] - inherited}
        try:
            with open("/dev/full", "wb", buffering=0) as f:
                f.write(b"x")
        except OSError as exc:
            report["device"] = type(exc).__name__ + ":" + str(exc.errno)
        os.write(w, json.dumps(report).encode())
        os._exit(0)
    os.waitpid(b, 0)
    sandbox.leave_namespaces()  # as the launcher does: the worker's cgroup goes with it
    os._exit(0)
os.close(w)
os.waitpid(a, 0)
print(os.read(r, 4096).decode())
'''


def _policy_run(tmp_path: Path, gpu: bool, devices: tuple[str, ...]) -> dict[str, Any]:
    statuses = {s.name: s for s in sandbox.probe()}
    if not (statuses["landlock"].available and statuses["rlimits"].available):
        pytest.skip("Landlock or rlimits unavailable here")
    cfg = json.dumps({"work": str(tmp_path), "gpu": gpu, "devices": list(devices)})
    proc = subprocess.run([sys.executable, "-c", _POLICY_SCRIPT, cfg], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          check=False)
    assert proc.stdout.strip(), proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_gpu_policy_opens_device_files_and_lifts_the_address_space_cap(tmp_path: Path) -> None:
    # /dev/full stands in for an NVIDIA device: opening it for writing works, writing says ENOSPC.
    default = _policy_run(tmp_path, gpu=False, devices=())
    gpu = _policy_run(tmp_path, gpu=True, devices=("/dev/full",))
    assert default["device"] == "PermissionError:13", "without a device rule Landlock denies it"
    assert gpu["device"] == "OSError:28", "a device rule should allow opening it read-write"
    assert default["as"] != resource.RLIM_INFINITY and gpu["as"] == resource.RLIM_INFINITY
    # The data limit stays, beyond what the process inherited; a GPU worker's leaves room for a
    # CUDA context on top.
    mb = 2**20
    assert abs(default["data"] - 512 * mb) < 8 * mb, default["data"] / mb
    assert abs(gpu["data"] - (512 + sandbox.CUDA_DATA_MB) * mb) < 8 * mb, gpu["data"] / mb


def test_gpu_limits_travel_from_the_worker_spec_to_the_sandbox(tmp_path: Path) -> None:
    import torch

    from grader.grading import device

    if torch.version.cuda and not device._decide(True, 120).cuda:  # (asked in a fresh process)
        pytest.skip("a GPU worker without a GPU starts only with torch's CPU build (this torch "
                    "is built for CUDA and finds no GPU)")
    (tmp_path / "probe_limits.py").write_text(
        "import resource\n\ndef limits():\n"
        "    return [resource.getrlimit(resource.RLIMIT_AS)[0],"
        " resource.getrlimit(resource.RLIMIT_DATA)[0]]\n")
    zygote = Zygote()
    try:
        got = {}
        for gpu in (False, True):
            limits: dict[str, Any] = {"memory_mb": 768, **({"gpu": True} if gpu else {})}
            spec = WorkerSpec(tmp_dir=str(tmp_path), module_name="probe_limits",
                              module_path=str(tmp_path / "probe_limits.py"),
                              student_dir=str(tmp_path), sandbox=True,
                              read_paths=(*sandbox.default_read_paths(), str(ROOT / "grader")),
                              limits=limits)
            session = StudentModule(zygote, spec)
            got[gpu] = StudentProxy(session, time.monotonic() + 60).limits()
            session.close()
    finally:
        zygote.close()
    # Workers forked alike inherit alike: the GPU worker's data limit is higher by exactly the
    # room for a CUDA context, and both leave the whole 768 MB beyond what torch holds.
    assert got[True][1] - got[False][1] == sandbox.CUDA_DATA_MB * 2**20
    assert got[False][1] > 768 * 2**20
    assert got[False][0] != resource.RLIM_INFINITY and got[True][0] == resource.RLIM_INFINITY
