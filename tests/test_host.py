"""The same grade on any host: a worker's memory room does not depend on what the zygote holds,
on the host's cores or on earlier gradings; thread pools are one thread; the tree is bounded
with or without a cgroup; no temporary folder outlives the grading that made it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from grader.isolation import cgroup, sandbox

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "course"
REFERENCE = (FIX / "reference" / "toy" / "solution.py").read_text()
OTHER = (FIX / "reference" / "other" / "solution.py").read_text()
MB = 2**20


# ------------------------------------------------------------------------------- arithmetic

@pytest.mark.parametrize("inherited_mb", [120, 746, 3000], ids=["cpu-torch", "cuda-torch", "3GB"])
@pytest.mark.parametrize("processes", [4, 32, 512])
def test_a_process_gets_the_whole_limit_beyond_what_it_inherited(inherited_mb: int,
                                                                  processes: int) -> None:
    # Never a share of what the zygote left over: neither its size nor the process cap (or the
    # cores behind it) changes the room the student's code has.
    limits = sandbox.Limits(memory_mb=1024, max_processes=processes)
    room = sandbox.data_limit_bytes(inherited_mb * MB, limits) - inherited_mb * MB
    assert room == 1024 * MB


def test_a_gpu_worker_has_room_for_a_cuda_context() -> None:
    # A CUDA context holds about 1.5 GB of data; CUDA does not start under 1 GB, does under 2.
    cpu, gpu = sandbox.Limits(memory_mb=2048), sandbox.Limits(memory_mb=2048, gpu=True)
    assert sandbox.data_limit_bytes(0, gpu) - sandbox.data_limit_bytes(0, cpu) >= 2048 * MB
    assert sandbox.address_space_limit_bytes(10 * MB, gpu) == 0  # no cap: CUDA reserves lots
    assert sandbox.address_space_limit_bytes(10 * MB, cpu) == 10 * MB + 2 * 2048 * MB


# The sandbox applied by hand (as process A and B do), with a process B that inherited a large
# data segment and starts many threads, then allocates and touches 400 MB under a 1024 MB limit.
_ROOM_SCRIPT = '''
import json, mmap, os, sys, threading
from grader.isolation import sandbox
cfg = json.loads(sys.argv[1])
ballast = [mmap.mmap(-1, cfg["ballast_mb"] << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
           for _ in range(1 if cfg["ballast_mb"] else 0)]  # counted as data, never touched
policy = sandbox.Policy(read_paths=sandbox.default_read_paths(), write_paths=(cfg["work"],),
                        limits=sandbox.Limits(memory_mb=1024))
sandbox.probe()
r, w = os.pipe()
a = os.fork()
if a == 0:
    sandbox.enter_namespaces(policy)
    b = os.fork()
    if b == 0:
        sandbox.restrict(policy)
        report = {}
        try:
            stop = threading.Event()
            threads = [threading.Thread(target=stop.wait) for _ in range(cfg["threads"])]
            for t in threads:
                t.start()
            data = bytearray(400 << 20)
            data[::4096] = b"x" * len(data[::4096])
            stop.set()
            report["allocated"] = True
        except MemoryError:
            report["allocated"] = False
        os.write(w, json.dumps(report).encode())
        os._exit(0)
    os.waitpid(b, 0)
    sandbox.leave_namespaces()
    os._exit(0)
os.close(w)
os.waitpid(a, 0)
print(os.read(r, 4096).decode())
'''


@pytest.mark.parametrize(("ballast_mb", "threads"), [(0, 0), (3000, 0), (0, 24), (1500, 24)],
                         ids=["plain", "large-data-at-fork", "many-threads", "both"])
@pytest.mark.parametrize("cgroups", [True, False], ids=["cgroup", "no-cgroup"])
def test_correct_code_has_its_memory_whatever_the_worker_inherited(
        tmp_path: Path, ballast_mb: int, threads: int, cgroups: bool) -> None:
    statuses = {s.name: s for s in sandbox.probe()}
    if not statuses["rlimits"].available:
        pytest.skip("rlimits are unavailable here")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not cgroups:
        env[cgroup.NO_CGROUP_VARIABLE] = "1"
    cfg = json.dumps({"work": str(tmp_path), "ballast_mb": ballast_mb, "threads": threads})
    proc = subprocess.run([sys.executable, "-c", _ROOM_SCRIPT, cfg], capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    assert proc.stdout.strip(), proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"allocated": True}


# ------------------------------------------------------------------ engines, with and without

@pytest.fixture(scope="module")
def watched_engine(toy_course):
    """An engine on a machine without worker cgroups: each launcher watches its worker's tree."""
    from grader.grading.engine import Engine

    saved = sandbox._PROBE_CACHE
    os.environ[cgroup.NO_CGROUP_VARIABLE] = "1"
    sandbox._PROBE_CACHE = None
    try:
        with Engine(toy_course) as engine:
            os.environ.pop(cgroup.NO_CGROUP_VARIABLE)
            yield engine
    finally:
        os.environ.pop(cgroup.NO_CGROUP_VARIABLE, None)
        sandbox._PROBE_CACHE = saved


@pytest.fixture(params=["cgroup-or-watch", "watch"])
def any_engine(request, toy_engine, watched_engine):
    return toy_engine if request.param == "cgroup-or-watch" else watched_engine


def grade(engine, tmp_path: Path, toy: str):
    from grader.grading.engine import Options

    sub = tmp_path / "sub"
    sub.mkdir(parents=True, exist_ok=True)
    (sub / "toy.py").write_text(toy)
    (sub / "other.py").write_text(OTHER)
    return engine.grade(sub, tmp_path / "out", Options(seed=7))


def _in_scale(body: str) -> str:
    return REFERENCE.replace("def scale(x, c):", "def scale(x, c):\n" + textwrap.indent(
        textwrap.dedent(body).strip("\n"), "    ") + "\n", 1)


def test_the_watch_is_named_in_the_report(watched_engine, tmp_path: Path) -> None:
    result = grade(watched_engine, tmp_path, REFERENCE)
    assert result.topic("toy").score == result.topic("toy").max_score
    assert "memory: watched by the launcher (whole tree, no cgroup)" in result.sandbox


def test_a_tree_over_the_limit_is_killed_and_told_so(any_engine, tmp_path: Path) -> None:
    # Four children of 150 MB each under the topic's 400 MB: the kernel (cgroup) or the
    # launcher's watch ends the worker, and the student reads why.
    result = grade(any_engine, tmp_path, _in_scale("""
        import os, time
        kids = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                data = bytearray(150 << 20)
                data[::4096] = b"x" * len(data[::4096])
                time.sleep(30)
                os._exit(0)
            kids.append(pid)
        for pid in kids:
            os.waitpid(pid, 0)
        """))
    tests = {t.name: t for t in result.tests}
    assert tests["test_scale"].outcome == "error", tests["test_scale"].message
    assert "used more than 400 MB in all its processes together" in tests["test_scale"].message
    assert tests["test_add"].outcome == "passed"
    assert result.topic("other").score == result.topic("other").max_score


def test_one_process_within_the_limit_keeps_its_memory(any_engine, tmp_path: Path) -> None:
    # 300 MB touched in the worker itself, under the topic's 400 MB: correct code, full marks.
    result = grade(any_engine, tmp_path, _in_scale("""
        data = bytearray(300 << 20)
        data[::4096] = b"x" * len(data[::4096])
        del data
        """))
    assert result.topic("toy").score == result.topic("toy").max_score, \
        [(t.name, t.message) for t in result.tests if t.outcome != "passed"]


def test_every_thread_pool_of_a_worker_is_one_thread(toy_engine, tmp_path: Path) -> None:
    # Whatever the host's cores: BLAS (NumPy's and SciPy's OpenBLAS start their threads as they
    # load), OpenMP and torch's pools. Counted from outside, in the kernel's view of the worker.
    from grader.grading.remote import StudentModule, StudentProxy, WorkerSpec

    (tmp_path / "pools.py").write_text(textwrap.dedent("""
        import numpy as np, scipy.linalg, torch

        def work():
            a = np.ones((300, 300))
            torch.ones(300, 300) @ torch.ones(300, 300)
            return float((a @ a).sum() + scipy.linalg.lu_factor(a + np.eye(300))[0].sum())
        """))
    spec = WorkerSpec(tmp_dir=str(tmp_path), module_name="pools", module_path=str(tmp_path / "pools.py"),
                      student_dir=str(tmp_path), sandbox=True,
                      read_paths=toy_engine.read_paths, limits={"memory_mb": 1024})
    session = StudentModule(toy_engine.zygote, spec)
    try:
        StudentProxy(session, time.monotonic() + 60).work()
        assert session.worker is not None
        status = Path(f"/proc/{session.worker.pid}/status").read_text()
    finally:
        session.close()
    threads = int(next(line.split()[1] for line in status.splitlines()
                       if line.startswith("Threads:")))
    assert threads == 1, status


# ------------------------------------------------------------------------ temporary folders

def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_no_temporary_folder_outlives_its_grading(toy_course, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.grading.engine import Engine

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    with Engine(toy_course) as engine:
        # A plain grading, a worker that crashes, one that times out, one that writes files.
        grade(engine, tmp_path / "a", REFERENCE)
        grade(engine, tmp_path / "b", _in_scale("import os\nos._exit(3)"))
        grade(engine, tmp_path / "c", _in_scale("while True:\n    pass"))
        grade(engine, tmp_path / "d", _in_scale(
            "import tempfile\nfor i in range(50):\n    tempfile.mkstemp()"))
        assert [p for p in _left(tmp) if not p.startswith("grader-run-")] == []
        run = next(tmp.iterdir())
        assert [p for p in _left(run) if not p.startswith("grader-zygote-")] == []
    assert _left(tmp) == []


def test_a_killed_grader_leaves_no_temporary_folder(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "toy.py").write_text(_in_scale("import time\ntime.sleep(60)"))
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(sub), "--course",
                             str(FIX), "--out", str(tmp_path / "out"), "--seed", "1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        # Killed while a test runs: its worker is there, sleeping, and the grading child that
        # talks to it (it opens grading.log first).
        _until(lambda: (tmp_path / "out" / "grading.log").exists()
               and any("grader-worker-" in p for p in _walk(tmp)), 120,
               lambda: ("no worker started", _walk(tmp), proc.poll()))
        os.kill(proc.pid, signal.SIGKILL)  # that process alone, as the OOM killer does
        proc.wait()
        # Its grading child ends with it: left running, it went on grading, and writing into
        # the run's folder while the zygote removed it.
        _until(lambda: not running_in_group(proc.pid), 60,
               lambda: ("the grader's children run on", running_in_group(proc.pid)))
        # The zygote sees its trusted side gone and removes the run's folder.
        _until(lambda: _left(tmp) == [], 60, lambda: ("left", _walk(tmp)))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert _left(tmp) == []


def running_in_group(pgid: int) -> list[str]:
    """The command lines of the processes of group ``pgid`` that still run: an ended one that
    whatever adopted it has not reaped yet (a zombie; a container's first process may never
    reap) is not counted."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # "pid (name) state ppid pgrp ...": the name may hold spaces and parentheses.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            pass  # it ended while it was read
    return found


def _walk(folder: Path) -> list[str]:
    """Every path under ``folder`` now, while gradings make and remove folders in it: one that
    goes while it is listed is left out (os.walk passes over what it can no longer read)."""
    return [os.path.join(top, name) for top, dirs, files in os.walk(folder)
            for name in dirs + files]


def _until(condition: Any, limit_s: float, what: Any) -> None:
    end = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < end, f"not within {limit_s} s: {what()}"
        time.sleep(0.05)


# ------------------------------------------------------------- the grader's faults are its own

def _start(engine, tmp_path: Path, **changes: Any):
    from grader.grading.remote import StudentModule, StudentProxy, WorkerSpec

    (tmp_path / "toy.py").write_text(REFERENCE)
    spec = WorkerSpec(tmp_dir=str(tmp_path), **{"module_name": "toy", "module_path": str(tmp_path / "toy.py"),
                         "student_dir": str(tmp_path), "sandbox": True,
                         "read_paths": engine.read_paths, "limits": {"memory_mb": 400},
                         "banned": ("numpy.polyfit",), **changes})
    session = StudentModule(engine.zygote, spec)
    try:
        return StudentProxy(session, time.monotonic() + 60).add(1.0, 2.0)
    finally:
        session.close()


def test_a_worker_that_fails_before_the_students_code_runs_is_a_grader_fault(
        toy_engine, tmp_path: Path) -> None:
    # The worker's own set-up fails (the sandbox cannot be applied): never the student's doing.
    from grader.grading.remote import GraderFault

    with pytest.raises(GraderFault, match="the worker could not start.*sandbox"):
        _start(toy_engine, tmp_path, read_paths=(*toy_engine.read_paths, "/no/such/folder"))


def test_a_worker_killed_before_the_students_code_runs_is_a_grader_fault(
        toy_engine, tmp_path: Path) -> None:
    # With a memory cgroup the kernel kills the worker in its own set-up, before the student's
    # module is imported, when its limit leaves no room at all.
    from grader.grading.remote import GraderFault

    if not sandbox.memory_bound().available:
        pytest.skip(f"needs a memory cgroup: {sandbox.memory_bound().detail}")
    with pytest.raises(GraderFault, match="ended before running the student's code.*memory"):
        _start(toy_engine, tmp_path, limits={"memory_mb": 1})
    assert _start(toy_engine, tmp_path) == 3.0  # the control: the same with room enough


_FAULTY_TESTS = '''

def test_inputs_fail_before_the_student_is_called(student, reference):
    raise RuntimeError("Cannot re-initialize CUDA in forked subprocess")


def test_a_result_fails_to_be_used_after_the_call(student, reference):
    got = student.add(1.0, 2.0)
    got.shape  # a float has none: the student returned the wrong kind of value


def test_a_key_the_result_lacks(student, reference):
    import numpy as np
    _, cache = student.make_cache(np.ones(2))
    cache["mean"]
'''


def test_an_error_before_any_call_of_the_students_code_is_a_grader_error(tmp_path: Path) -> None:
    import shutil

    from grader.course import Course
    from grader.grading.engine import Engine

    root = tmp_path / "course"
    shutil.copytree(FIX, root)
    hidden = root / "reference" / "toy" / "test_hidden.py"
    hidden.write_text(hidden.read_text() + _FAULTY_TESTS)
    with Engine(Course(root)) as engine:
        result = grade(engine, tmp_path, REFERENCE)
    tests = {t.name: t for t in result.tests}
    before = tests["test_inputs_fail_before_the_student_is_called"]
    assert before.outcome == "error" and "grader_error" in before.flags, before
    assert "not your mistake" in before.message and "re-initialize CUDA" in before.message
    after = tests["test_a_result_fails_to_be_used_after_the_call"]
    assert after.outcome == "failed" and "grader_error" not in after.flags
    assert after.message.startswith("what add returned is a number (float) (or holds one) where "
                                    "the test reads its .shape"), after.message
    key = tests["test_a_key_the_result_lacks"]
    assert key.outcome == "failed" and key.message == (
        "what make_cache returned has no key 'mean', which the test reads: return a dict with "
        "the keys the statement names"), key.message
