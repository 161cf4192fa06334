"""Benchmark of ``grader batch``: a synthetic class graded with --jobs 2, against one fresh
interpreter per submission (``grader grade``), in the same run.

    python bench/bench_batch.py                       # 200 submissions, both layouts
    python bench/bench_batch.py --layout course --n 40 --topic metrics --fresh-sample 6
    python bench/bench_batch.py --layout assignment --topic rnn --unnamed  # one assignment, no --topic

Two layouts of the class, each covering every topic of the course: ``course``, where each
submission holds every topic (a whole course handed in at once, so the hidden tests' own compute
weighs most), and ``assignment``, where each submission is one assignment (one topic's module,
the topics taking turns across the class); its other topics are not submitted.

Prints submissions per minute for both designs, the per-submission overhead above the tests'
own compute (a result's duration minus the sum of its tests' durations), the peak memory of the
batch (its whole process tree: batch, zygotes, grading children, launchers and workers, as PSS
so that pages shared by forked processes count once; at the peak and over the run, by role),
what was being graded at the peak (the submissions, their topics, the workers running) and
whether memory stays flat from the first 50 submissions to the last 50. The fresh-interpreter
design is timed on a sample of the same submissions, also two at a time, and its throughput
extrapolated.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

import make_class  # noqa: E402

from grader.course import Course  # noqa: E402
from grader.isolation.zygote import LAUNCHER, WORKER, ZYGOTE  # noqa: E402
from grader.results.model import load_result  # noqa: E402


def make_submissions(dest: Path, n: int, topics: list[str], layout: str = "course") -> list[Path]:
    """n submissions: perfect, typical, classic mistakes and stubs, mixed. In the ``course``
    layout each holds every chosen topic; in ``assignment`` one topic, the topics in turn."""
    src = make_class.Sources(Course(ROOT))
    src.topics = [t for t in src.topics if t in topics]
    weights = [{"alternative": 1}, {"solution": 5, "mutant": 2, "stub": 1},
               {"solution": 3, "mutant": 3, "alternative": 2}, {"mutant": 1},
               {"solution": 6, "stub": 1}]
    paths = []
    for i in range(n):
        modules = make_class.mixed(src, f"bench-{i}", weights[i % len(weights)])
        if layout == "assignment":
            topic = src.topics[i % len(src.topics)]
            modules = {topic: modules[topic]}
        if i % 10 == 9:  # one in ten as a .zip, as LMS exports mix them
            path = dest / f"s{i:03d}.zip"
            make_class.write_zip(path, make_class.flat(modules))
        else:
            path = dest / f"s{i:03d}"
            make_class.write_folder(path, make_class.flat(modules))
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------- process memory


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def pss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


ROLES = ("trusted side", "zygotes", "launchers", "workers")
_NAMED = {ZYGOTE: "zygotes", LAUNCHER: "launchers", WORKER: "workers"}


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def roles_mb(pid: int, zygote: int | None) -> dict[str, float]:
    """PSS of the tree of the batch process ``pid`` by role: the trusted side (the batch
    process, its grading children) and, below the zygote, each process by the name it gives
    itself; a process a worker started that runs another program counts as the worker's."""
    below = set(tree(zygote)) if zygote else set()
    out = dict.fromkeys(ROLES, 0.0)
    for p in tree(pid):
        role = _NAMED.get(comm(p), "workers") if p in below else "trusted side"
        out[role] += pss_mb(p)
    return out


def in_progress(pid: int, zygote: int | None) -> tuple[tuple[str, ...], int]:
    """The submissions the batch process ``pid`` is grading (by the name of their student
    folder, which each grading child writes its log into) and how many workers are running."""
    names, workers = [], 0
    for p in tree(pid):
        if comm(p) == WORKER:
            workers += 1
            continue
        if p == pid or p == zygote:
            continue
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                target = Path(os.readlink(f"/proc/{p}/fd/{fd}"))
                if target.name == "grading.log" and target.parent.parent.name == "students":
                    names.append(target.parent.name)
                    break
        except OSError:  # ended meanwhile, or not a process this user may read
            continue
    return tuple(sorted(names)), workers


def topics_in(submission: Path) -> list[str]:
    """The topics a submission of make_submissions holds: its modules' names."""
    if submission.suffix == ".zip":
        with zipfile.ZipFile(submission) as z:
            names = [PurePosixPath(n) for n in z.namelist()]
    else:
        names = [p.relative_to(submission) for p in submission.rglob("*")]  # type: ignore[misc]
    return sorted({n.stem for n in names if n.suffix == ".py"})


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time of process ``pid`` itself (not its children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def zygote_of(pid: int) -> int | None:
    """The worker zygote the batch process ``pid`` started, once it has."""
    for kid in _children().get(pid, []):
        try:
            if b"grader.isolation.zygote" in Path(f"/proc/{kid}/cmdline").read_bytes():
                return kid
        except OSError:
            continue
    return None


class Sampler(threading.Thread):
    """Samples the batch's tree memory, how many submissions are done, and the CPU time of the
    batch process and of its zygote (the two processes every submission passes through), every
    0.25 s."""

    def __init__(self, pid: int, state: Path) -> None:
        super().__init__(daemon=True)
        self.pid, self.state = pid, state
        self.samples: list[tuple[int, float, float]] = []  # (done, tree PSS MB, batch RSS MB)
        self.roles: list[dict[str, float]] = []  # the tree's PSS by role, at each sample
        # The submissions being graded and the workers running, at each sample.
        self.gradings: list[tuple[tuple[str, ...], int]] = []
        self.cpu: dict[str, float] = {}  # last reading: "batch", "zygote"
        self.cpu_at_first: dict[str, float] = {}  # the reading when the first result came
        self.first_done: float | None = None  # seconds from the start to the first result
        self.t0 = time.monotonic()
        self.stop = threading.Event()

    def run(self) -> None:
        zygote = None
        while not self.stop.wait(0.25):
            try:
                done = len(json.loads(self.state.read_text()).get("students", {}))
            except (OSError, ValueError):
                done = 0
            if done and self.first_done is None:
                self.first_done = time.monotonic() - self.t0
            zygote = zygote or zygote_of(self.pid)
            roles = roles_mb(self.pid, zygote)
            self.roles.append(roles)
            self.gradings.append(in_progress(self.pid, zygote))
            self.samples.append((done, sum(roles.values()), rss_mb(self.pid)))
            for name, pid in (("batch", self.pid), ("zygote", zygote)):
                value = cpu_seconds(pid) if pid else None
                if value is not None:
                    self.cpu[name] = value
                    if done == 0 or name not in self.cpu_at_first:
                        self.cpu_at_first[name] = value


# --------------------------------------------------------------------------------- the designs


def run_batch(subs: Path, out: Path, jobs: int, topics: list[str] | None) -> dict[str, float]:
    cmd = [sys.executable, "-m", "grader", "batch", str(subs), "--out", str(out),
           "--jobs", str(jobs), "--seed", "1"]
    for t in topics or ():
        cmd += ["--topic", t]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    sampler = Sampler(proc.pid, out / "batch.json")
    sampler.start()
    output, _ = proc.communicate()
    wall = time.monotonic() - t0
    sampler.stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"grader batch failed:\n{output[-3000:]}")
    return {"wall": wall, "samples": sampler.samples, "output": output,  # type: ignore[dict-item]
            "roles": sampler.roles, "gradings": sampler.gradings,
            "cpu": sampler.cpu, "cpu_at_first": sampler.cpu_at_first,
            "first_done": sampler.first_done}


def run_fresh(subs: list[Path], out: Path, jobs: int, topics: list[str] | None) -> float:
    """One `grader grade` interpreter per submission, ``jobs`` at a time; returns the wall time."""
    t0 = time.monotonic()
    running: list[subprocess.Popen[bytes]] = []
    queue = list(subs)
    while queue or running:
        while queue and len(running) < jobs:
            sub = queue.pop(0)
            cmd = [sys.executable, "-m", "grader", "grade", str(sub), "--out",
                   str(out / sub.name.removesuffix(".zip")), "--seed", "1"]
            for t in topics or ():
                cmd += ["--topic", t]
            running.append(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
        for p in list(running):
            if p.poll() is not None:
                running.remove(p)
        time.sleep(0.05)
    return time.monotonic() - t0


def window(samples: list[tuple[int, float, float]], lo: int, hi: int) -> list[tuple[float, float]]:
    return [(tree_mb, rss) for done, tree_mb, rss in samples if lo <= done < hi]


def compute_of(path: Path) -> tuple[float, float]:
    """(duration, the tests' own compute) of one graded submission."""
    r = load_result(path)
    return r.duration, sum(t.duration for t in r.tests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="submissions in the class")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--layout", choices=("course", "assignment", "both"), default="both",
                        help="each submission the whole course, one assignment, or both in turn")
    parser.add_argument("--topic", action="append", default=None,
                        help="grade only this topic (repeatable; default: every topic)")
    parser.add_argument("--unnamed", action="store_true",
                        help="the class hands in --topic's topics only, but grader is not told "
                             "them: it grades every topic, finding which ones the class hands in")
    parser.add_argument("--fresh-sample", type=int, default=15,
                        help="submissions timed with one fresh interpreter each")
    parser.add_argument("--keep", type=Path, default=None, help="keep the class and outputs here")
    parser.add_argument("--scaling", default="",
                        help="comma-separated --jobs values: grade the same class with each "
                             "and print a jobs-scaling table (e.g. 1,2,4,8,14)")
    args = parser.parse_args()
    args.told = None if args.unnamed else args.topic  # the --topic options grader is given

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-batch-"))
    layouts = ("assignment", "course") if args.layout == "both" else (args.layout,)
    for layout in layouts:
        if args.scaling:
            bench_scaling(args, layout, work / layout)
        else:
            bench_layout(args, layout, work / layout)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_scaling(args: argparse.Namespace, layout: str, work: Path) -> None:
    """The same class graded with each --jobs value: throughput against jobs, and where the
    time goes that more jobs cannot share (the start before the first result; the CPU time of
    the batch process and of the zygote, which every submission passes through)."""
    topics = args.topic or Course(ROOT).topics()
    subs = work / "class"
    subs.mkdir(parents=True, exist_ok=True)
    make_submissions(subs, args.n, topics, layout)
    jobs_list = [int(j) for j in args.scaling.split(",")]
    print(f"\n== layout {layout}: {args.n} submissions, jobs {jobs_list}, {os.cpu_count()} cores, "
          f"load average {load()} before")
    header = ("jobs", "wall s", "per min", "speed-up", "start s", "grading s", "per min graded",
              "batch CPU ms/sub", "zygote CPU ms/sub")
    rows = []
    base = None
    for jobs in jobs_list:
        out = work / f"jobs{jobs}"
        got = run_batch(subs, out, jobs, args.told)
        wall = float(got["wall"])  # type: ignore[arg-type]
        start = float(got["first_done"] or 0.0)  # type: ignore[arg-type]
        cpu: dict[str, float] = got["cpu"]  # type: ignore[assignment]
        at_first: dict[str, float] = got["cpu_at_first"]  # type: ignore[assignment]
        graded = max(args.n - 1, 1)  # after the first result: the engine is up
        per_sub = {k: 1000 * (cpu.get(k, 0.0) - at_first.get(k, 0.0)) / graded for k in cpu}
        per_min = 60 * args.n / wall
        graded_per_min = 60 * args.n / max(wall - start, 1e-9)
        base = base or per_min
        rows.append((jobs, f"{wall:.1f}", f"{per_min:.1f}", f"{per_min / base:.2f}×",
                     f"{start:.1f}", f"{wall - start:.1f}", f"{graded_per_min:.1f}",
                     f"{per_sub.get('batch', 0):.0f}", f"{per_sub.get('zygote', 0):.0f}"))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in (header, *rows):
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths)))
    print(f"load average {load()} after. 'start' runs from the command to the first graded "
          "submission (the engine's start included); 'per min graded' leaves it out. CPU per "
          "submission is counted after the first result: the batch process's bounds the "
          "throughput at 60000 / that many per minute, whatever the jobs.")


def bench_layout(args: argparse.Namespace, layout: str, work: Path) -> None:
    course = Course(ROOT)
    topics = args.topic or course.topics()
    subs = work / "class"
    subs.mkdir(parents=True, exist_ok=True)
    paths = make_submissions(subs, args.n, topics, layout)
    what = "one topic each" if layout == "assignment" else f"{len(topics)} topics each"
    print(f"\n== layout {layout}: {args.n} submissions, {what}, --jobs {args.jobs}, in {work}")

    # The fresh-interpreter sample is spread over the class (every topic and kind of work in
    # turn) and runs half before and half after the batch, so that a machine whose load drifts
    # during the run weighs on both designs alike.
    # A stride prime to the number of topics, so that the sample's one-topic submissions are
    # of as many different topics as it has submissions.
    stride = max(1, args.n // args.fresh_sample)
    while stride > 1 and math.gcd(stride, len(topics)) != 1:
        stride -= 1
    sample = paths[::stride][: args.fresh_sample]
    half = len(sample) // 2
    fresh_wall = run_fresh(sample[:half], work / "fresh", args.jobs, args.told)
    batch = run_batch(subs, work / "batch", args.jobs, args.told)
    fresh_wall += run_fresh(sample[half:], work / "fresh", args.jobs, args.told)

    results = sorted((work / "batch" / "students").glob("*/result.json"))
    assert len(results) == args.n, f"{len(results)} results for {args.n} submissions"
    timings = [compute_of(p) for p in results]
    compute = [c for _, c in timings]
    overhead = [d - c for d, c in timings]
    wall = float(batch["wall"])  # type: ignore[arg-type]
    per_min = 60 * args.n / wall
    fresh_per_min = 60 * len(sample) / fresh_wall

    # The same submissions' own compute in both designs measures how loaded the machine was
    # during each; scaling by it compares the designs as if under the same load.
    names = [p.name.removesuffix(".zip") for p in sample]
    fresh_c = [compute_of(work / "fresh" / n / "result.json")[1] for n in names]
    batch_c = [compute_of(work / "batch" / "students" / n / "result.json")[1] for n in names]
    load = statistics.fmean(batch_c) / max(statistics.fmean(fresh_c), 1e-9)
    per_sub_batch = wall * args.jobs / args.n
    per_sub_fresh = fresh_wall * args.jobs / len(sample)
    fresh_overhead = per_sub_fresh - statistics.fmean(fresh_c)

    samples = batch["samples"]  # type: ignore[assignment]
    # From the first completion (the engine is up) to the 50th, against the last 50.
    span = min(50, max(1, args.n // 4))
    first = window(samples, 1, 1 + span)  # type: ignore[arg-type]
    last = window(samples, args.n - span, args.n)  # type: ignore[arg-type]
    peak_tree = max((s[1] for s in samples), default=0.0)  # type: ignore[union-attr]
    peak_batch = max((s[2] for s in samples), default=0.0)  # type: ignore[union-attr]

    def mean(xs: list[float]) -> float:
        return statistics.fmean(xs) if xs else float("nan")

    first_tree, last_tree = mean([t for t, _ in first]), mean([t for t, _ in last])
    first_rss, last_rss = mean([r for _, r in first]), mean([r for _, r in last])
    print()
    print(f"{'':44}{'grader batch':>14}{'fresh interpreter':>20}")
    print(f"{'submissions graded':44}{args.n:>14}{len(sample):>20}")
    print(f"{'wall time':44}{wall:>13.1f}s{fresh_wall:>19.1f}s")
    print(f"{'submissions per minute':44}{per_min:>14.1f}{fresh_per_min:>20.1f}")
    print(f"{'wall time per submission × jobs':44}{per_sub_batch:>13.2f}s{per_sub_fresh:>19.2f}s")
    print(f"{'  of which the tests own compute':44}{statistics.fmean(compute):>13.2f}s"
          f"{statistics.fmean(fresh_c):>19.2f}s")
    print(f"{'speed-up, as measured':44}{per_min / fresh_per_min:>13.1f}×")
    print(f"{'speed-up, at equal machine load':44}{per_sub_fresh * load / per_sub_batch:>13.1f}×"
          f"   (the sample's tests ran {load:.2f}× slower during the batch)")
    bound = per_sub_fresh * load / max(statistics.fmean(compute), 1e-9)
    print(f"{'  (limit with no overhead at all)':44}{bound:>13.1f}×"
          f"   (the fresh time over the tests' own compute)")
    print()
    print(f"overhead per submission above the tests' compute: batch {statistics.fmean(overhead):.2f} s "
          f"mean, {statistics.median(overhead):.2f} s median (inside its grading child); "
          f"fresh interpreter {fresh_overhead:.2f} s")
    print(f"peak memory: batch tree {peak_tree:.0f} MB PSS, batch process {peak_batch:.0f} MB RSS")
    roles: list[dict[str, float]] = batch["roles"]  # type: ignore[assignment]
    if roles:
        peak = max(range(len(roles)), key=lambda i: sum(roles[i].values()))
        print("  the tree by role, MB PSS: at its peak "
              + ", ".join(f"{k} {roles[peak][k]:.0f}" for k in ROLES) + "; median over the run "
              + ", ".join(f"{k} {statistics.median(r[k] for r in roles):.0f}" for k in ROLES))
        # What was being graded then: a topic whose grading holds more than one worker (the
        # speed topic's public baseline runs in one of its own) or much memory sets the peak.
        names, workers = batch["gradings"][peak]  # type: ignore[index]
        held = {p.name.removesuffix(".zip"): p for p in paths}
        being = [f"{n} ({', '.join(topics_in(held[n])) if n in held else '?'})" for n in names]
        print(f"  at its peak: {workers} worker{'s' * (workers != 1)} running, grading "
              + (", ".join(being) or "nothing (the engine starting or the class's "
                                      "comparison)"))
    drift = last_tree - first_tree
    flat = abs(drift) <= max(50.0, 0.1 * first_tree) and last_rss - first_rss <= 50.0
    print(f"memory, first {span} vs last {span} submissions: tree {first_tree:.0f} → "
          f"{last_tree:.0f} MB PSS, batch process {first_rss:.0f} → {last_rss:.0f} MB RSS: "
          f"{'flat' if flat else 'GROWING'}")


if __name__ == "__main__":
    main()
