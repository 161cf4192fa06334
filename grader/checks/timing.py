"""Speed tests the grader can trust: the student's code against the public baseline, timed from outside.

Both run in sandboxed workers forked from the same zygote; this module only ever sees their
proxies. Each sample is one remote round trip (``proxy.batch``: fresh inputs there, every result
back in host memory) timed with ``time.perf_counter()`` in the trusted process; nothing the worker
says about time or memory is used. The procedure:

1. warm up each side and calibrate how many calls make a sample of at least ``min_sample_s``;
2. alternate samples A/B, B/A, … so that a slow phase of the machine hits both sides alike;
3. stop once the ratio's interval is narrow or lies wholly beyond a threshold; while it holds
   a threshold (the points would depend on where in it the ratio truly is), keep sampling, and
   when a round's samples or time are spent, pause and sample another round (a busy spell of
   the machine passes), up to ``Settings.rounds``, pooling every round's pairs;
4. check every result the student returned against the reference (correctness gates speed, and
   a function that notices it is being timed cannot return garbage);
5. score the median over sample pairs of ``baseline / student`` (per call; a pair is the two
   samples taken back to back, so a busy spell of the machine that slows both cancels out) on a
   log scale between two thresholds set per device in ``grading.toml``. Per-call medians,
   extremes, every sample and the spread are recorded alongside.

On a CPU each call is charged the CPU time the kernel accounted to the worker: where the worker
has a cgroup of its own (``grader.isolation.cgroup``), that of every process and thread ever in
it, which no chain of forks and no child reaped by the kernel escapes; elsewhere that of the
worker process's live threads, read from ``/proc``. Either is barely moved by other load on the
machine and cannot be shrunk by extra threads; the wall-clock times are kept alongside. Without
a cgroup the grader also reads the CPU time of the worker's process tree over the whole
sampling (threads that ended, child processes it reaped); when that exceeds what its live
threads show, the student is charged the tree's CPU time per call. Workers of speed-graded
topics may start threads but no process (``Limits.new_processes``), so /proc sees all their
work; a worker that could start processes and whose calls take far more wall time than the
CPU clock it is charged on shows, live threads or whole tree alike (it may have waited on a
child the kernel reaped, whose time the tree shows only in part), is charged the wall time: a
clock that cannot see everything never favours the student.
On a GPU the wall clock is used: the reply carries the result back to the host, so unfinished
GPU work cannot be hidden.
"""

from __future__ import annotations

import functools
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from grader.grading import device as run_device
from grader.isolation import cgroup

# CPU time of a worker's process tree beyond that of its live threads, over the sampling, that
# is put down to the precision of the kernel's tick counts rather than to work done elsewhere.
ELSEWHERE_SLACK_S = 0.03
ELSEWHERE_SLACK = 0.2  # and as a share of the live threads' CPU time
# Without a whole-tree clock, a student whose calls take this much more wall time than the CPU
# time their live threads show is charged the wall time (see the module docstring).
WALL_FLOOR_RATIO = 1.3
WALL_FLOOR = True


@dataclass(frozen=True)
class Settings:
    """How a speed test samples; ``grading.toml`` ``[speed]`` overrides the defaults."""

    min_sample_s: float = 0.01  # a sample lasts at least this long: several calls if needed
    samples: int = 40  # samples per side at most, alternated
    min_samples: int = 8  # at least this many, whatever the interval or the time budget
    warmup: int = 2  # untimed batches per side before sampling
    max_calls: int = 200  # calls per sample at most
    budget_s: float = 20.0  # stop sampling after this long (at least ``min_samples``)
    # Sampling stops once the interval of the ratio is this narrow (its upper end at most this
    # much above its lower end); the ratio is scored on the interval's lower end.
    interval_width: float = 0.08
    confidence: float = 0.9  # of that interval
    # An interval that still holds a threshold when a round's samples or budget are spent
    # (its points would depend on a busy moment of the machine) is measured further, after a
    # pause, for up to this many rounds in all; the samples of every round are pooled.
    rounds: int = 3
    round_pause_s: float = 1.0

    @classmethod
    def from_config(cls, speed: Mapping[str, Any]) -> Settings:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: type(getattr(cls(), k))(v) for k, v in speed.items() if k in names})


@dataclass(frozen=True)
class Thresholds:
    """Speed points, as a fraction, from the ratio baseline_time / student_time."""

    zero: float  # at or below this ratio: no speed points
    full: float  # at or above this ratio: all of them

    def __post_init__(self) -> None:
        if not 0 < self.zero < self.full:
            raise ValueError(f"speed thresholds need 0 < zero < full, got {self.zero}, {self.full}")

    def inside(self, lo: float, hi: float) -> bool:
        """Whether a threshold lies inside the interval [lo, hi] of a ratio, so that where in
        it the ratio truly is decides the points: full points need ``lo >= full``, none
        ``hi <= zero``."""
        return lo < self.full <= hi or lo <= self.zero < hi

    def settled(self, lo: float, hi: float) -> bool:
        """Whether the points are the same wherever in [lo, hi] the ratio is: all or none."""
        return lo >= self.full or (0 < hi <= self.zero)

    def fraction(self, ratio: float) -> float:
        """0 up to ``zero``, 1 from ``full``, linear in log(ratio) between."""
        if not ratio > self.zero:  # also NaN
            return 0.0
        if ratio >= self.full:
            return 1.0
        return math.log(ratio / self.zero) / math.log(self.full / self.zero)


def thresholds_for(config: Mapping[str, Any], fn: str, device: str) -> Thresholds:
    """``[speed.<fn>] <device> = {zero = …, full = …}`` from a topic's grading.toml (``extra``)."""
    device_kind = device.split(":")[0]
    try:
        entry = config["speed"][fn][device_kind]
    except KeyError:
        raise KeyError(f"grading.toml has no [speed.{fn}] {device_kind} thresholds") from None
    return Thresholds(float(entry["zero"]), float(entry["full"]))


# ------------------------------------------------------------------------------ measuring

@dataclass(frozen=True)
class Side:
    """Per-call times of one side: one value per sample (the sample's time / its calls)."""

    calls_per_sample: int
    wall: tuple[float, ...]  # seconds per call, perf_counter around the round trip
    cpu: tuple[float, ...] | None  # CPU seconds of the worker per call, or None if unknown
    # CPU seconds of the worker's whole process tree over the sampling (threads that ended and
    # child processes included; to the kernel's tick), or None if unknown.
    tree: float | None = None
    # ``cpu`` covers every process the worker started (its cgroup's CPU time), so nothing is
    # done where it cannot see.
    whole_tree: bool = False
    # The worker could start no process (only threads): everything it did shows in ``tree``.
    single_process: bool = False
    rounds: int = 1  # rounds of sampling (``Settings.rounds``), pooled into these samples

    @property
    def elsewhere(self) -> float | None:
        """CPU seconds the process tree used beyond what the live threads' readings show."""
        if self.tree is None or self.cpu is None:
            return None
        return max(0.0, self.tree - sum(self.cpu) * self.calls_per_sample)

    def times(self, clock: str) -> tuple[float, ...]:
        """Per-call times, one per sample; ``cpu_tree`` spreads the tree's total evenly."""
        if clock == "wall":
            return self.wall
        if self.cpu is None or (clock.startswith("cpu_tree") and self.tree is None):
            raise ValueError("no CPU times were measured")
        if clock.endswith("_or_wall"):  # the CPU clock, floored by each sample's wall time
            return tuple(max(c, w) for c, w in zip(self.times(clock[:-len("_or_wall")]),
                                                   self.wall))
        if clock == "cpu_tree":
            per_call = float(self.tree or 0.0) / (len(self.cpu) * self.calls_per_sample)
            return (per_call,) * len(self.cpu)
        return self.cpu

    def median(self, clock: str) -> float:
        return statistics.median(self.times(clock))

    def spread(self, clock: str) -> float:
        """Interquartile range relative to the median (0.1: the middle half within 10 %)."""
        return _relative_iqr(self.times(clock))

    def summary(self, clock: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "median_s": _sig(self.median(clock)),
            "spread": _sig(self.spread(clock)),
            "min_s": _sig(min(self.times(clock))),
            "max_s": _sig(max(self.times(clock))),
            "samples": len(self.wall),
            "calls_per_sample": self.calls_per_sample,
            "rounds": self.rounds,
            "wall_median_s": _sig(self.median("wall")),
        }
        if self.cpu is not None:
            out["cpu_median_s"] = _sig(self.median("cpu"))
        if self.elsewhere is not None:
            out["cpu_elsewhere_s"] = _sig(self.elsewhere, 2)  # ended threads, child processes
        out["per_call_s"] = [_sig(t, 3) for t in self.times(clock)]  # every sample, in order
        return out


def process_cpu_seconds(pid: int) -> float | None:
    """CPU time of every live thread of process ``pid`` (the kernel's ``schedstat``), or None."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    total = 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended between the listing and the read
    return total / 1e9


def process_tree_cpu_seconds(pid: int) -> float | None:
    """CPU time of process ``pid`` and its descendants, ended threads and reaped children included.

    From ``/proc/<pid>/stat`` (user, system, children's user and system: the kernel's tick
    counts, so precise to about 10 ms) and the live children found under
    ``/proc/<pid>/task/*/children``; None where ``pid`` cannot be read.
    """
    tick = os.sysconf("SC_CLK_TCK")

    def tree(p: int, depth: int) -> float | None:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        total = sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
        if depth < 8:
            try:
                tids = os.listdir(f"/proc/{p}/task")
            except OSError:
                tids = []
            for tid in tids:
                try:
                    with open(f"/proc/{p}/task/{tid}/children") as f:
                        kids = [int(k) for k in f.read().split()]
                except (OSError, ValueError):
                    continue
                for kid in kids:
                    total += tree(kid, depth + 1) or 0.0
        return total

    return tree(pid, 0)


class WorkerClock:
    """The CPU time of the worker behind a ``StudentProxy``, read from outside it: its cgroup's
    where it has one, else ``/proc``."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._group: tuple[int, Any] | None = None  # (pid, its cgroup or None)

    def _pid(self) -> int | None:
        worker = self.session.worker
        return worker.pid if worker is not None and worker.pid > 0 else None

    def group(self) -> Any:
        """The worker's cgroup (``grader.isolation.cgroup.Group``), or None where it has none."""
        pid = self._pid()
        if pid is None:
            return None
        if self._group is None or self._group[0] != pid:
            self._group = (pid, cgroup.group_of(pid))
        return self._group[1]

    @property
    def whole_tree(self) -> bool:
        return self.group() is not None

    @property
    def single_process(self) -> bool:
        """Whether the worker was barred from starting processes (``Limits.new_processes``), so
        that /proc sees all of its work."""
        spec = self.session.spec
        return bool(spec.sandbox and spec.limits.get("new_processes") is False)

    def threads(self) -> float | None:
        """Read around each sample, to the nanosecond: the whole cgroup, else the live threads."""
        group = self.group()
        if group is not None:
            return group.cpu_seconds()
        pid = self._pid()
        return process_cpu_seconds(pid) if pid is not None else None

    def tree(self) -> float | None:
        """The whole process tree: read before and after the sampling (to the tick from /proc)."""
        group = self.group()
        if group is not None:
            return group.cpu_seconds()
        pid = self._pid()
        return process_tree_cpu_seconds(pid) if pid is not None else None


def worker_cpu_clock(proxy: Any) -> WorkerClock | None:
    """The CPU clock of the worker behind a ``StudentProxy``; None for anything else."""
    from grader.grading.remote import StudentProxy, module_of

    if not isinstance(proxy, StudentProxy) or not os.path.isdir("/proc/self/task"):
        return None
    return WorkerClock(module_of(proxy))


def measure(student: Any, baseline: Any, fn: str, make_args: Callable[[int], tuple[Any, ...]],
            *, verify: Callable[[tuple[Any, ...], Any], None] | None = None,
            settings: Settings = Settings(),
            clocks: tuple[Any, Any] | None = None,
            before_sample: Callable[[], None] | None = None,
            thresholds: Thresholds | None = None) -> tuple[Side, Side]:
    """Time ``fn`` in the student's worker and in the baseline's, alternating; (student, baseline).

    ``make_args(i)`` gives the inputs of call ``i`` (fresh for every call, so nothing can be
    served from a cache); ``verify(args, result)`` raises ``AssertionError`` when a student's
    result is wrong, and sees every one of them. ``clocks`` are the two workers' CPU clocks,
    objects with ``threads()`` and ``tree()`` like :class:`WorkerClock` (default: one for each
    real proxy). ``before_sample`` runs before each timed sample, untimed (the GPU's L2 cache
    flushed, :class:`grader.checks.gpu.L2Flush`). Samples are taken until the interval of the
    ratio is ``settings.interval_width`` narrow, ``settings.samples`` were taken or the time
    budget is spent, whichever comes first (never fewer than ``settings.min_samples``).

    With ``thresholds``, sampling also stops as soon as the interval lies wholly at or above
    ``full`` or at or below ``zero`` (more samples could not change the points), and it does not
    stop while the interval holds a threshold: when a round's samples or budget are spent with
    a threshold inside, it pauses ``settings.round_pause_s`` (a busy spell of the machine may
    pass) and samples another round, up to ``settings.rounds``; the rounds are one measurement.
    """
    proxies = (student, baseline)
    cpu_clocks = clocks if clocks is not None else tuple(worker_cpu_clock(p) for p in proxies)
    counter = iter(range(1 << 62))

    def run(side: int, calls: int) -> tuple[float, float | None]:
        args = [make_args(next(counter)) for _ in range(calls)]
        clock = cpu_clocks[side]
        c0 = clock.threads() if clock else None
        t0 = time.perf_counter()
        outs = proxies[side].batch(fn, args)
        wall = time.perf_counter() - t0
        c1 = clock.threads() if clock else None
        if side == 0 and verify is not None:
            for a, out in zip(args, outs):
                verify(a, out)
        cpu = c1 - c0 if c0 is not None and c1 is not None else None
        return wall / calls, (cpu / calls if cpu is not None else None)

    calls = []
    for side in (0, 1):
        run(side, 1)  # first call: lazy imports, allocator, CUDA context
        # Calibrated on the worker's CPU time where it is known: on a busy machine the wall
        # clock runs ahead of it, and a sample must hold enough of the clock that scores it.
        k = _calls_for(run(side, 1), settings)
        for _ in range(max(settings.warmup - 1, 0)):
            k = _calls_for(run(side, k), settings)
        calls.append(k)

    walls: tuple[list[float], list[float]] = ([], [])
    cpus: tuple[list[float | None], list[float | None]] = ([], [])
    trees = [c.tree() if c else None for c in cpu_clocks]
    start = time.monotonic()
    rounds = 1
    in_round = 0
    i = 0
    while True:
        for side in ((0, 1) if i % 2 == 0 else (1, 0)):
            if before_sample is not None:
                before_sample()  # outside the timed window
            wall, cpu = run(side, calls[side])
            walls[side].append(wall)
            cpus[side].append(cpu)
        i += 1
        in_round += 1
        enough = i >= settings.min_samples
        spent = in_round >= settings.samples or \
            (enough and time.monotonic() - start > settings.budget_s)
        if not (enough or spent):
            continue
        lo, hi = median_interval(_ratios_so_far(walls, cpus), settings.confidence)
        straddles = thresholds is not None and thresholds.inside(lo, hi)
        if enough and thresholds is not None and thresholds.settled(lo, hi):
            break
        if enough and not straddles and lo > 0 and hi / lo - 1 <= settings.interval_width:
            break
        if spent:
            if not straddles or rounds >= settings.rounds:
                break
            rounds += 1
            in_round = 0
            time.sleep(settings.round_pause_s)
            start = time.monotonic()
    sides = []
    for side in (0, 1):
        clock = cpu_clocks[side]
        tree_end = clock.tree() if clock else None
        cpu_values = cpus[side]
        known = None if any(c is None for c in cpu_values) else \
            tuple(float(c or 0.0) for c in cpu_values)
        elsewhere: float | None = None
        tree_start = trees[side]
        if known is not None and tree_start is not None and tree_end is not None:
            elsewhere = tree_end - tree_start
        sides.append(Side(calls[side], tuple(walls[side]), known, elsewhere,
                          whole_tree=bool(getattr(clock, "whole_tree", False)),
                          single_process=bool(getattr(clock, "single_process", False)),
                          rounds=rounds))
    return sides[0], sides[1]


def median_interval(values: Sequence[float], confidence: float = 0.9) -> tuple[float, float]:
    """A distribution-free interval of the median of ``values``: the order statistics
    ``x(j)`` and ``x(n+1-j)``, with the largest ``j`` whose coverage, 1 - 2·P(Bin(n, ½) < j), is
    at least ``confidence`` (the whole range where no narrower pair reaches it)."""
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        return math.nan, math.nan
    j = 1
    while j < (n + 1) // 2:
        # The next pair, x(j+1) and x(n-j), leaves out P(Bin(n, ½) <= j) on each side.
        tail = sum(math.comb(n, i) for i in range(j + 1)) / 2**n
        if 1 - 2 * tail < confidence:
            break
        j += 1
    return xs[j - 1], xs[n - j]


def _ratios_so_far(walls: tuple[list[float], list[float]],
                   cpus: tuple[list[float | None], list[float | None]]) -> list[float]:
    """The pair ratios baseline / student so far, on the CPU clock where every reading has
    one, else the wall clock."""
    use_cpu = all(c is not None and c > 0 for side in cpus for c in side)
    s_t = cpus[0] if use_cpu else walls[0]
    b_t = cpus[1] if use_cpu else walls[1]
    return [b / s for s, b in zip(s_t, b_t) if s and b]  # type: ignore[operator]


def _calls_for(times: tuple[float, float | None], settings: Settings) -> int:
    wall, cpu = times
    per_call = cpu if cpu is not None and cpu > 0 else wall
    if per_call <= 0:
        return settings.max_calls
    return max(1, min(settings.max_calls, math.ceil(settings.min_sample_s / per_call)))


# ------------------------------------------------------------------------------ scoring


@dataclass(frozen=True)
class Speed:
    """A scored speed comparison: what the test records and what the student reads."""

    fn: str
    device: str  # "cpu" or "cuda:0"
    device_name: str  # e.g. the CPU model or the GPU's name
    # "cpu": worker CPU time; "cpu_tree": its process tree's; "wall": perf_counter; "…_or_wall":
    # that CPU clock or the wall clock, whichever is longer, per sample
    clock: str
    clock_note: str
    ratio: float  # median over sample pairs of baseline / student, per call
    fraction: float  # share of the speed points, from the interval's lower end
    thresholds: Thresholds
    student: Side
    baseline: Side
    extra: dict[str, Any] = field(default_factory=dict)
    interval: tuple[float, float] = (math.nan, math.nan)  # of the ratio (``median_interval``)
    confidence: float = 0.9

    @property
    def scored(self) -> float:
        """The ratio the points are given for: the lower end of its interval (a regrade lands
        within the interval, and never earns more than what was measured for sure)."""
        return self.interval[0] if math.isfinite(self.interval[0]) else self.ratio

    def details(self) -> dict[str, Any]:
        """The figures for the results file: device, clock, medians, spread, ratio."""
        return {
            "function": self.fn, "device": self.device, "device_name": self.device_name,
            "clock": self.clock, "clock_note": self.clock_note, "ratio": _sig(self.ratio),
            "ratio_of_medians": _sig(self.baseline.median(_baseline_clock(self.clock))
                                     / self.student.median(self.clock)),
            "ratio_spread": _sig(_relative_iqr(pair_ratios(self.student, self.baseline,
                                                           self.clock))),
            "ratio_interval": [_sig(self.interval[0]), _sig(self.interval[1])],
            "interval_confidence": self.confidence, "scored_ratio": _sig(self.scored),
            "fraction": round(self.fraction, 4), "thresholds": asdict(self.thresholds),
            "student": self.student.summary(self.clock),
            "baseline": self.baseline.summary(_baseline_clock(self.clock)), **self.extra,
        }

    def message(self, hint: str = "") -> str:
        """What the student reads: the ratio, the times, the thresholds and, below full, a hint."""
        s_t = self.student.median(self.clock)
        b_t = self.baseline.median(_baseline_clock(self.clock))
        times = f"median {_duration(s_t)} against {_duration(b_t)} per call, {self.clock_label}"
        if self.student.rounds > 1:
            times += (f"; {len(self.student.wall)} sample pairs in {self.student.rounds} rounds, "
                      "as a threshold lay inside the interval")
        where = f"on {self.device_name}"
        th = self.thresholds
        lo, hi = self.interval
        if self.fraction >= 1.0:
            return f"{self.fn} is {self.ratio:.1f}× as fast as the public baseline {where} " \
                f"({lo:.1f}–{hi:.1f}×; {times}): full speed points."
        text = (f"{self.fn} is {self.ratio:.2f}× as fast as the public baseline {where} "
                f"({lo:.2f}–{hi:.2f}×, scored on {self.scored:.2f}×; {times}); ")
        if self.fraction <= 0.0:
            text += f"speed points start above {th.zero:g}× and are full from {th.full:g}×."
        else:
            text += f"{self.fraction:.0%} of the speed points (full from {th.full:g}×)."
        return text + (f" {hint}" if hint else "")

    @property
    def clock_label(self) -> str:
        return {"cpu": "CPU time of your worker",
                "cpu_or_wall": "CPU or wall-clock time of your worker, whichever is longer",
                "cpu_tree": "CPU time of your worker's threads and processes, "
                            "averaged over the measurement",
                "cpu_tree_or_wall": "CPU time of your worker's threads and processes, averaged "
                                    "over the measurement, or wall-clock time of each call, "
                                    "whichever is longer"}.get(self.clock, "wall-clock time")


def _baseline_clock(clock: str) -> str:
    # The baseline does its work in its own thread: its per-sample CPU readings stand.
    return "cpu" if clock.startswith("cpu") else clock


def choose_clock(student: Side, baseline: Side, device: str) -> tuple[str, str]:
    """(clock, why): CPU time on a CPU, wall-clock time on a GPU.

    ``cpu_tree`` when the student's worker did work its live threads do not show (threads that
    ended, child processes): it is charged its process tree's CPU time per call instead. Where
    the worker could start processes and no cgroup sees them all, a call taking far longer than
    the chosen CPU clock shows may have waited on work nothing here can see (a process the
    kernel reaped): each call is then charged its wall time where that is longer
    (``cpu_or_wall``, ``cpu_tree_or_wall``), whichever CPU clock was chosen.
    """
    if not device.startswith("cpu"):
        return "wall", "wall-clock time of each round trip, the result back in host memory"
    if student.cpu is None or baseline.cpu is None:
        return "wall", "the workers' CPU time could not be read here"
    s_cpu, b_cpu = student.median("cpu"), baseline.median("cpu")
    if s_cpu <= 0 or b_cpu <= 0:
        return "wall", "a worker's CPU time did not advance"
    if student.whole_tree:
        return "cpu", ("CPU time of each worker's whole process tree (every thread and process "
                       "it started, from its cgroup), read by the grader")
    threads_total = sum(student.cpu or ()) * student.calls_per_sample
    clock, why = "cpu", ""
    if student.elsewhere is not None and \
            student.elsewhere > max(ELSEWHERE_SLACK_S, ELSEWHERE_SLACK * threads_total):
        clock, why = "cpu_tree", (f"{student.elsewhere:.2f} s of CPU time went to threads that "
                                  "ended or to child processes, which each call's reading cannot "
                                  "see: the student is charged the CPU time of the worker's whole "
                                  "process tree per call")
    if WALL_FLOOR and not student.single_process and \
            student.median("wall") > WALL_FLOOR_RATIO * student.median(clock):
        floor = ("the student's calls took much longer than the CPU time of the worker's "
                 f"{'process tree' if why else 'threads'} shows, and work in processes it started "
                 "cannot all be seen here: each call is charged its wall-clock time where that is "
                 "longer")
        return clock + "_or_wall", (f"{why}; {floor}" if why else floor)
    if why:
        return clock, why
    threads = s_cpu / student.median("wall")
    note = "CPU time of each worker (all its threads), read by the grader from /proc"
    if threads > 1.3:
        note += f"; the student's calls used about {threads:.1f} CPUs at once, all charged"
    return "cpu", note


def pair_ratios(student: Side, baseline: Side, clock: str) -> list[float]:
    """baseline / student per call for each pair of samples taken back to back."""
    return [b / s if s > 0 else math.inf
            for s, b in zip(student.times(clock), baseline.times(_baseline_clock(clock)))]


def score(fn: str, student: Side, baseline: Side, thresholds: Thresholds, device: str,
          device_name: str | None = None, confidence: float = 0.9) -> Speed:
    """The median pair ratio baseline/student on the chosen clock, its interval, and the share
    of the points the interval's lower end earns."""
    clock, note = choose_clock(student, baseline, device)
    ratios = pair_ratios(student, baseline, clock)
    interval = median_interval(ratios, confidence)
    return Speed(fn=fn, device=device, device_name=device_name or describe_device(device),
                 clock=clock, clock_note=note, ratio=statistics.median(ratios),
                 fraction=thresholds.fraction(interval[0]), thresholds=thresholds,
                 student=student, baseline=baseline, interval=interval, confidence=confidence)


def grade_speed(student: Any, baseline: Any, fn: str, make_args: Callable[[int], tuple[Any, ...]],
                *, verify: Callable[[tuple[Any, ...], Any], None], thresholds: Thresholds,
                device: str, record: Callable[[str, Any], None], hint: str = "",
                settings: Settings = Settings(), scaling: Sweep | None = None) -> Speed:
    """Measure, score and record a speed test; raises ``AssertionError`` when it earns nothing.

    A wrong result anywhere fails the test before any speed is scored. ``record`` is pytest's
    ``record_property``: the plugin turns ``score_fraction`` into partial points, ``note`` into
    the message of a passing test and ``speed`` into the result's details. ``scaling``: a sweep
    of sizes timed after the points are decided, for the report only (:func:`sweep`); its
    figures go into the details and a sentence of them into the message.
    """
    flush = None
    if device.startswith("cuda"):
        from grader.checks.gpu import L2Flush

        flush = L2Flush(run_device.current().l2_bytes, int(device.partition(":")[2] or 0))
    s, b = measure(student, baseline, fn, make_args, verify=verify, settings=settings,
                   before_sample=flush, thresholds=thresholds)
    speed = score(fn, s, b, thresholds, device, confidence=settings.confidence)
    details = speed.details()
    message = speed.message(hint)
    if scaling is not None:
        try:
            grown = sweep(student, baseline, fn, scaling, device, before_sample=flush,
                          graded=(s, b))
        except Exception as exc:  # noqa: BLE001 - report only: the points are decided above
            details["scaling"] = {"dimension": scaling.dimension, "error": str(exc)[:300]}
            message += f" (How your time grows with {scaling.dimension} was not measured: " \
                f"{type(exc).__name__}.)"
        else:
            details["scaling"] = grown.details()
            message += " " + grown.message()
    record("speed", details)
    if speed.fraction <= 0.0:
        raise AssertionError(message)
    record("score_fraction", speed.fraction)
    record("note", message)
    return speed


# ------------------------------------------------------------------------------ scaling


@dataclass(frozen=True)
class Sweep:
    """Sizes to time a function at, beyond the one its points are given for: ``make_args(size,
    i)`` gives the inputs of call ``i`` at ``size`` of ``dimension`` (e.g. "T"). ``graded``:
    the size of the inputs the points are given for, where it is one of ``sizes``; that size is
    not timed again, its times are the scored measurement's."""

    dimension: str
    sizes: tuple[int, ...]
    make_args: Callable[[int, int], tuple[Any, ...]]
    graded: int | None = None


# Few short samples per size: the sweep is shown to the student, never scored.
SWEEP_SETTINGS = Settings(min_sample_s=0.005, samples=3, min_samples=3, warmup=1, budget_s=3.0,
                          rounds=1)


@dataclass(frozen=True)
class Scaling:
    """Per-call times of the student and the baseline over a sweep of sizes."""

    dimension: str
    sizes: tuple[int, ...]
    student_s: tuple[float, ...]
    baseline_s: tuple[float, ...]

    @property
    def ratios(self) -> tuple[float, ...]:
        return tuple(b / s if s > 0 else math.inf for s, b in zip(self.student_s, self.baseline_s))

    def details(self) -> dict[str, Any]:
        return {"dimension": self.dimension, "sizes": list(self.sizes),
                "student_s": [_sig(t, 3) for t in self.student_s],
                "baseline_s": [_sig(t, 3) for t in self.baseline_s],
                "ratios": [_sig(r, 3) for r in self.ratios],
                "student_exponent": _sig(fit_exponent(self.sizes, self.student_s), 3),
                "baseline_exponent": _sig(fit_exponent(self.sizes, self.baseline_s), 3)}

    def message(self) -> str:
        d = self.dimension
        sizes = ", ".join(str(n) for n in self.sizes)
        ratios = ", ".join(f"{r:.2f}×" for r in self.ratios)
        return (f"Over {d} = {sizes}, your time grows as {d}^"
                f"{fit_exponent(self.sizes, self.student_s):.2f} and the baseline's as {d}^"
                f"{fit_exponent(self.sizes, self.baseline_s):.2f} (ratio {ratios}; not scored).")


def fit_exponent(sizes: Sequence[float], times: Sequence[float]) -> float:
    """The least-squares slope of log(time) against log(size): time grows as size^slope."""
    xs = [math.log(n) for n in sizes]
    ys = [math.log(t) for t in times]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return math.nan
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var


def sweep(student: Any, baseline: Any, fn: str, plan: Sweep, device: str, *,
          settings: Settings = SWEEP_SETTINGS, clocks: tuple[Any, Any] | None = None,
          before_sample: Callable[[], None] | None = None,
          graded: tuple[Side, Side] | None = None) -> Scaling:
    """Time ``fn`` of both sides at every size of ``plan`` (alternated samples, as
    :func:`measure`, a few each); the results are not checked: nothing here is scored.
    ``graded``: the scored measurement (student, baseline), taken as the times at
    ``plan.graded``, which is then not timed again."""
    student_s, baseline_s = [], []
    for size in plan.sizes:
        if graded is not None and size == plan.graded:
            s, b = graded
        else:
            s, b = measure(student, baseline, fn, functools.partial(plan.make_args, size),
                           settings=settings, clocks=clocks, before_sample=before_sample)
        clock, _ = choose_clock(s, b, device)
        student_s.append(s.median(clock))
        baseline_s.append(b.median(_baseline_clock(clock)))
    return Scaling(plan.dimension, tuple(plan.sizes), tuple(student_s), tuple(baseline_s))


# ------------------------------------------------------------------------------ devices


def gpu_grading() -> bool:
    """Whether this run grades on a GPU (``grader.grading.device``: the GPU path is on and CUDA
    is present), as the engine decided before it forked anything."""
    return run_device.current().cuda


def gpu_not_graded_reason() -> str:
    """Why GPU tests are not graded here ("" where they are)."""
    return run_device.current().reason


def grading_device() -> str:
    """"cuda" where speed is graded on a GPU, "cpu" elsewhere."""
    return "cuda" if gpu_grading() else "cpu"


def describe_device(where: str) -> str:
    """A readable name: the GPU's, or the CPU model (speed results say which device graded them)."""
    if where.startswith("cuda"):
        names = run_device.current().names
        index = int(where.partition(":")[2] or 0)
        return names[index] if index < len(names) else "a GPU"
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU ({model}, one thread)"


# ------------------------------------------------------------------------------ workers


def worker_pid(proxy: Any) -> int | None:
    """The pid of the worker behind a ``StudentProxy`` (as this process sees it), once started."""
    from grader.grading.remote import StudentProxy, module_of

    if not isinstance(proxy, StudentProxy):
        return None
    worker = module_of(proxy).worker
    return worker.pid if worker is not None and worker.pid > 0 else None


# ------------------------------------------------------------------------------ formatting


def _relative_iqr(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    med = statistics.median(values)
    return (q3 - q1) / med if med > 0 else math.inf


def _sig(x: float, digits: int = 4) -> float:
    """``x`` to a few significant digits, for results files that people read."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


__all__ = [
    "Settings",
    "Scaling",
    "Side",
    "Speed",
    "Sweep",
    "Thresholds",
    "WorkerClock",
    "choose_clock",
    "describe_device",
    "fit_exponent",
    "grade_speed",
    "gpu_grading",
    "gpu_not_graded_reason",
    "grading_device",
    "measure",
    "median_interval",
    "pair_ratios",
    "process_cpu_seconds",
    "process_tree_cpu_seconds",
    "score",
    "sweep",
    "thresholds_for",
    "worker_cpu_clock",
    "worker_pid",
]
