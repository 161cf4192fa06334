"""The GPU path: decided once without asking CUDA where workers are forked from, handed down as
data, measured from the trusted side. Without a GPU, stand-ins show each part acts as it should;
the tests marked for a GPU run where CUDA is."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from grader.checks import gpu, timing
from grader.course import TopicConfig
from grader.grading import device
from grader.grading.plugin import TopicRun, on_gpu, worker_spec

# Asked in a fresh interpreter: this process forks engines, and a CUDA it had asked would be
# lost to every child.
CUDA_HERE = device._decide(True, 120).cuda
NEEDS_GPU = pytest.mark.skipif(not CUDA_HERE, reason="needs a GPU (CUDA is not available)")
# A stand-in GPU decision sends GPU work to a worker that does not start CUDA where torch is a
# CPU build; a CUDA build with no GPU starts it for real in that worker, and fails there.
STAND_IN_GPU = pytest.mark.skipif(
    bool(torch.version.cuda) and not CUDA_HERE,
    reason="a stand-in GPU needs torch's CPU build (this torch is built for CUDA and finds no GPU)")


@pytest.fixture
def undecided(monkeypatch: pytest.MonkeyPatch):
    """A process that has not decided yet; restored afterwards."""
    monkeypatch.setattr(device, "_DECIDED", None)
    yield
    device._DECIDED = None


def _never_ask_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    def asked(*_: Any, **__: Any) -> Any:
        raise AssertionError("CUDA was asked in the grading process: no fork of it could use it")

    for name in ("is_available", "device_count", "init", "_lazy_init", "get_device_name",
                 "get_device_properties"):
        monkeypatch.setattr(torch.cuda, name, asked)


def _stand_in_machine(monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any]) -> list[Any]:
    """A CUDA build of torch and NVIDIA devices, and a fresh interpreter that answers ``answer``."""
    runs: list[Any] = []
    monkeypatch.setattr(device, "_absent", lambda: "")

    def run(cmd: list[str], **kwargs: Any) -> Any:
        runs.append(cmd)
        return SimpleNamespace(stdout=json.dumps(answer) + "\n", returncode=0)

    monkeypatch.setattr(subprocess, "run", run)
    return runs


def test_the_decision_asks_cuda_only_in_a_fresh_interpreter(undecided, monkeypatch) -> None:
    _never_ask_cuda(monkeypatch)
    runs = _stand_in_machine(monkeypatch, {"available": True, "names": ["NVIDIA H100 80GB HBM3"],
                                           "memory": [85 << 30], "l2": [50 << 20]})
    decided = device.decide(enabled=True)
    assert decided == device.Device(True, "", ("NVIDIA H100 80GB HBM3",), 85 << 30, 50 << 20)
    assert len(runs) == 1 and "is_available" in runs[0][-1]
    # Decided once: asking again (a grading child forked from here, say) asks nothing.
    assert device.current() is decided and timing.gpu_grading() and len(runs) == 1
    assert timing.grading_device() == "cuda"
    assert timing.describe_device("cuda:0") == "NVIDIA H100 80GB HBM3"


def test_off_or_absent_nothing_is_asked_and_the_reason_is_given(undecided, monkeypatch) -> None:
    _never_ask_cuda(monkeypatch)
    runs = _stand_in_machine(monkeypatch, {"available": True, "names": ["x"], "memory": [1],
                                           "l2": [1]})
    assert device.decide(enabled=False) == device.Device(False, device.NO_GPU_WORKERS)
    assert runs == []  # off: not even the fresh interpreter
    device._DECIDED = None
    monkeypatch.setattr(device, "_absent", lambda: "no NVIDIA GPU device")
    assert device.decide(enabled=True).reason == "no CUDA on this machine (no NVIDIA GPU device)"
    assert runs == [] and timing.grading_device() == "cpu"


def test_cuda_that_answers_no_gpu_is_no_gpu(undecided, monkeypatch) -> None:
    _stand_in_machine(monkeypatch, {"available": False})
    decided = device.decide(enabled=True)
    assert not decided.cuda and "reports no usable GPU" in decided.reason


def test_this_machine_is_decided_without_cuda(undecided) -> None:
    # The real decision here: a CPU build of torch, or no NVIDIA device, says so.
    decided = device.decide()
    if not CUDA_HERE:
        assert not decided.cuda and decided.reason.startswith("no CUDA on this machine (")
    else:  # on a GPU machine the switch decides
        assert decided.cuda is device.CUDA_WORKERS
    assert not torch.cuda.is_initialized()


@pytest.mark.parametrize("switch", [False, True])
@pytest.mark.parametrize("cuda", [False, True])
def test_the_gpu_path_follows_the_one_decision(undecided, monkeypatch, switch: bool,
                                               cuda: bool) -> None:
    """Off (or without CUDA), no part of the GPU path acts: no sandbox relaxation for a GPU
    worker, speed graded on the CPU, GPU tests not graded with the reason; on with CUDA, all of
    it together."""
    _stand_in_machine(monkeypatch, {"available": cuda, "names": ["GPU"] if cuda else [],
                                    "memory": [1], "l2": [1]})
    monkeypatch.setattr(device, "CUDA_WORKERS", switch)
    run = TopicRun(module_path="/x/performance.py", solution=None,
                   config=TopicConfig(extra={"device": {"gpu_workers": True}}))
    spec = worker_spec("performance", run, "/x", True, ())
    on = switch and cuda
    assert timing.gpu_grading() is on and on_gpu(run.config) is on
    assert ("gpu" in spec.limits) is on
    assert timing.grading_device() == ("cuda" if on else "cpu")
    assert (timing.gpu_not_graded_reason() == "") is on
    plain = TopicRun(module_path="/x/metrics.py", solution=None, config=TopicConfig())
    assert "gpu" not in worker_spec("metrics", plain, "/x", True, ()).limits


def test_the_worker_is_told_whether_it_grades_on_the_gpu(toy_engine, tmp_path: Path) -> None:
    # The decision reaches the worker as data in its start-up configuration (``gpu``); a worker
    # without it refuses a tensor from the GPU rather than moving it to the CPU in silence.
    from grader.grading.remote import GraderFault, StudentModule, StudentProxy, WorkerSpec

    (tmp_path / "echo.py").write_text("def echo(x):\n    return x\n")
    spec = WorkerSpec(tmp_dir=str(tmp_path), module_name="echo", module_path=str(tmp_path / "echo.py"),
                      student_dir=str(tmp_path), sandbox=True,
                      read_paths=toy_engine.read_paths, limits={"memory_mb": 1024})
    session = StudentModule(toy_engine.zygote, spec)
    try:
        proxy = StudentProxy(session, time.monotonic() + 60)
        assert str(proxy.echo(torch.ones(2)).device) == "cpu"
        with pytest.raises(GraderFault, match="meta"):
            proxy.echo(torch.empty(2, device="meta"))  # stands in for a GPU tensor
    finally:
        session.close()


def test_a_cuda_that_cannot_start_in_a_worker_is_said_with_cudas_words(monkeypatch) -> None:
    # What a GPU worker runs before the student's code: CUDA's failure becomes the worker's
    # start-up failure (the grader's), with CUDA's own message; a CPU build is left alone.
    from grader.isolation import worker

    def refuse(*args, **kwargs):
        raise RuntimeError("Unexpected error from cudaGetDeviceCount(). Error 304: OS call failed")

    monkeypatch.setattr(torch, "zeros", refuse)
    monkeypatch.setattr(torch.version, "cuda", None)
    worker.start_cuda()  # a CPU build: nothing to start
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    with pytest.raises(RuntimeError, match=r"CUDA could not start in the sandboxed worker: "
                                           r"RuntimeError: .*Error 304"):
        worker.start_cuda()


def test_a_gpu_worker_whose_cuda_cannot_start_is_the_graders_failure(toy_engine,
                                                                       tmp_path: Path) -> None:
    # A GPU worker starts CUDA before the student's module runs: where CUDA cannot start there
    # (no GPU, or a sandbox it cannot work under), grading says so as its own failure, with
    # CUDA's words, instead of a worker that dies at the first tensor sent to the GPU and reads
    # as the student's crash ("exit code 71 ... Look for code that ends the process").
    if CUDA_HERE or not torch.version.cuda:
        pytest.skip("needs a CUDA build of torch where CUDA cannot start (here: "
                    f"{'CUDA starts' if CUDA_HERE else 'a CPU build'}); start_cuda's own test "
                    "covers the message")
    from grader.grading.remote import GraderFault, StudentModule, StudentProxy, WorkerSpec

    (tmp_path / "echo.py").write_text("def echo(x):\n    return x\n")
    spec = WorkerSpec(tmp_dir=str(tmp_path), module_name="echo", module_path=str(tmp_path / "echo.py"),
                      student_dir=str(tmp_path), sandbox=True, read_paths=toy_engine.read_paths,
                      limits={"memory_mb": 1024, "gpu": True})
    session = StudentModule(toy_engine.zygote, spec)
    try:
        proxy = StudentProxy(session, time.monotonic() + 60)
        with pytest.raises(GraderFault, match="CUDA could not start in the sandboxed worker"):
            proxy.echo(1)
    finally:
        session.close()


# ------------------------------------------------------------------- GPU memory, from outside

def test_a_memory_watch_keeps_the_peak_seen_during_a_call() -> None:
    readings = iter([100, 100, 400, 900, 300] + [200] * 10_000)
    with gpu.MemoryWatch(lambda: next(readings), interval_s=0.001) as watch:
        time.sleep(0.05)
    assert watch.before == 100 and watch.peak == 900 and watch.rise == 800


def test_a_memory_watch_acts_on_each_reading_past_its_limit() -> None:
    readings = iter([1000, 1100, 1600, 3000, 1500, 900] + [900] * 10_000)
    seen: list[int] = []
    with gpu.MemoryWatch(lambda: next(readings), interval_s=0.001, limit=500,
                         on_over=seen.append) as watch:
        time.sleep(0.05)
    assert seen == [1600, 3000] and watch.over == 1600


COUNTER = "import os\n\nN = {start}\n\ndef bump():\n    global N\n    N += 1\n    return N\n"
FRESH_HIDDEN = """
from grader.checks import timing


def test_fresh_workers_have_no_history(student, fresh_worker):
    assert student.bump() == 1 and student.bump() == 2
    fresh = fresh_worker("student")
    assert fresh.bump() == 1, "a fresh worker imports the module anew"
    assert timing.worker_pid(fresh) != timing.worker_pid(student)
    assert fresh_worker("baseline").bump() == 101


def test_the_topics_own_worker_kept_its_state(student):
    assert student.bump() == 3
"""


def test_a_fresh_worker_serves_one_test_and_ends_with_it(tmp_path: Path) -> None:
    # The GPU memory test measures in workers started for it: memory reserved by an earlier call
    # (PyTorch's allocator keeps it) would hide a call's own. A fresh worker imports the module
    # anew and runs beside the topic's own worker without touching its state.
    from grader.course import Course
    from grader.grading.engine import Engine, Options

    root = tmp_path / "course"
    for folder in ("assignments/count", "reference/count"):
        (root / folder).mkdir(parents=True)
    (root / "assignments/count/count.py").write_text(COUNTER.format(start=0))
    (root / "assignments/count/baseline.py").write_text(COUNTER.format(start=100))
    (root / "reference/count/solution.py").write_text(COUNTER.format(start=0))
    (root / "reference/count/test_hidden.py").write_text(FRESH_HIDDEN)
    (root / "reference/count/grading.toml").write_text("[grading]\ntimeout = 30\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "count.py").write_text(COUNTER.format(start=0))
    with Engine(Course(root)) as engine:
        result = engine.grade(sub, tmp_path / "out", Options(seed=1))
    assert [(t.name, t.outcome) for t in result.tests] == [
        ("test_fresh_workers_have_no_history", "passed"),
        ("test_the_topics_own_worker_kept_its_state", "passed")], result.tests


def test_gpu_memory_is_unknown_without_nvml() -> None:
    try:
        import pynvml  # noqa: F401
    except ImportError:
        assert gpu.process_used_bytes(1) is None and gpu.device_used_bytes() is None
        assert gpu.memory_reader(1) is None


def test_a_device_is_held_by_one_test_at_a_time() -> None:
    order: list[str] = []
    with gpu.exclusive(index=99):
        with pytest.raises(OSError):  # a second holder waits; with no time to wait, it fails
            with gpu.exclusive(index=99, timeout_s=0.1):
                order.append("second inside")
        order.append("first inside")
    with gpu.exclusive(index=99, timeout_s=0.1):  # released with the first
        order.append("second inside")
    assert order == ["first inside", "second inside"]


# ------------------------------------------------------------------------------ on a real GPU

@NEEDS_GPU
def test_a_worker_can_use_cuda_after_the_trusted_side_decided(undecided, toy_course,
                                                              tmp_path: Path) -> None:
    from grader.grading.engine import Engine
    from grader.grading.remote import StudentModule, StudentProxy, WorkerSpec

    decided = device.decide(enabled=True)
    assert decided.cuda and not torch.cuda.is_initialized()
    (tmp_path / "on_gpu.py").write_text(
        "import torch\n\ndef double(x):\n    return (x * 2).to(x.device)\n")
    with Engine(toy_course) as engine:
        spec = WorkerSpec(tmp_dir=str(tmp_path), module_name="on_gpu", module_path=str(tmp_path / "on_gpu.py"),
                          student_dir=str(tmp_path), sandbox=True, read_paths=engine.read_paths,
                          limits={"memory_mb": 2048, "gpu": True})
        session = StudentModule(engine.zygote, spec)
        try:
            got = StudentProxy(session, time.monotonic() + 120).double(
                torch.ones(3, device="cuda"))
        finally:
            session.close()
    assert str(got.device) == "cuda:0" and got.sum().item() == 6.0


@pytest.mark.parametrize(("text", "expected"), [
    ("__version__ = '2.13.0+cpu'\ncuda: Optional[str] = None\n", (None, "2.13.0+cpu")),
    ("__version__ = '2.14.1+cu130'\ncuda: Optional[str] = '13.0'\n", ("13.0", "2.14.1+cu130")),
    ("__version__ = '2.11.0'\ncuda = '12.8'\n", ("12.8", "2.11.0")),
])
def test_torch_is_known_for_a_cuda_build_without_being_imported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: tuple) -> None:
    import importlib.machinery
    import importlib.util

    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "version.py").write_text(text)
    spec = importlib.machinery.ModuleSpec("torch", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path / "torch")]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    assert device._torch_build() == expected


class FakeNvml:
    """Stands in for ``pynvml`` on a machine with no NVIDIA driver: one GPU whose used memory
    is what ``used`` says, and whose driver lists ``processes`` (pid → bytes), or none at all as
    in many VMs and containers."""

    class NVMLError(Exception):
        pass

    def __init__(self, used: int, processes: dict[int, int]) -> None:
        self.used, self.processes = used, processes

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, i: int) -> str:
        return f"gpu{i}"

    def nvmlDeviceGetComputeRunningProcesses(self, handle: str) -> list[Any]:
        return [SimpleNamespace(pid=p, usedGpuMemory=b) for p, b in self.processes.items()]

    def nvmlDeviceGetMemoryInfo(self, handle: str) -> Any:
        return SimpleNamespace(used=self.used, total=80 << 30)


@pytest.fixture
def nvml(monkeypatch: pytest.MonkeyPatch):
    def install(used: int, processes: dict[int, int]) -> FakeNvml:
        fake = FakeNvml(used, processes)
        monkeypatch.setitem(gpu._NVML, __import__("os").getpid(), fake)
        return fake

    return install


def test_gpu_memory_is_the_drivers_figure_for_the_worker_where_it_keeps_one(nvml) -> None:
    fake = nvml(used=5 << 30, processes={4321: 700 << 20, 99: 3 << 30})
    read, what = gpu.memory_reader(4321)
    assert read() == 700 << 20 and "the worker's process" in what
    fake.processes[4321] = 900 << 20
    assert read() == 900 << 20


def test_gpu_memory_is_the_devices_where_the_driver_lists_no_process(nvml) -> None:
    # As in many VMs: no per-process figures. The test holds the GPU alone, so the device's
    # used memory is its workers'.
    fake = nvml(used=2 << 30, processes={})
    read, what = gpu.memory_reader(4321)
    assert read() == 2 << 30 and "had the GPU to itself" in what
    fake.used = 3 << 30
    with gpu.MemoryWatch(read, interval_s=0.001) as watch:
        fake.used = 4 << 30
        time.sleep(0.02)
        fake.used = 3 << 30
    assert watch.rise == 1 << 30


GPU_TOPIC_TEST = '''
import pytest


@pytest.mark.timeout(20)
def test_hog(student):
    assert student.hog() == 1.0


def test_plain(student):
    assert student.plain() == 2.0
'''


@STAND_IN_GPU
def test_a_gpu_test_holds_the_device_and_a_worker_taking_too_much_is_stopped(
        undecided, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # GPU grading decided on (a stand-in GPU); the device's memory read through a stand-in that
    # rises past the topic's limit once the student's call has run for a moment.
    import shutil

    from grader.course import Course
    from grader.grading.engine import Engine, Options

    monkeypatch.setattr(device, "_DECIDED", device.Device(True, "", ("Stand-in GPU",), 1, 1))
    start: list[float] = []

    def used() -> int:
        start.append(start[0] if start else time.monotonic())
        return (1 << 30) + ((600 << 20) if time.monotonic() - start[0] > 0.5 else 0)

    monkeypatch.setattr(gpu, "device_used_bytes", used)
    root = tmp_path / "course"
    for folder in ("assignments/hog", "reference/hog"):
        (root / folder).mkdir(parents=True)
    (root / "assignments" / "hog" / "hog.py").write_text("def hog():\n    return 0.0\n")
    (root / "reference" / "hog" / "test_hidden.py").write_text(GPU_TOPIC_TEST)
    (root / "reference" / "hog" / "grading.toml").write_text(
        "[device]\ngpu_workers = true\ngpu_memory_mb = 512\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "hog.py").write_text(
        "import time\n\ndef hog():\n    time.sleep(10)\n    return 1.0\n\n"
        "def plain():\n    return 2.0\n")
    with Engine(Course(root)) as engine:
        result = engine.grade(sub, tmp_path / "out", Options(seed=1))
    shutil.rmtree(root)
    tests = {t.name: t for t in result.tests}
    hog = tests["test_hog"]
    assert hog.outcome == "error" and "took more than 512 MB of GPU memory" in hog.message, hog
    assert tests["test_plain"].outcome == "passed"  # a fresh worker serves the next test


@STAND_IN_GPU
def test_the_lstm_speed_is_timed_on_the_cpu_where_speed_is_graded_on_a_gpu(
        undecided, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # GPU grading decided on (a stand-in GPU, so what goes to the GPU fails here): the LSTM's
    # speed test still times on the CPU, with the CPU thresholds, since on a GPU the count of
    # kernels per step decides its ratio (reference/performance/grading.toml).
    from grader.course import Course
    from grader.grading.engine import Engine, Options

    root = Path(__file__).resolve().parent.parent
    monkeypatch.setattr(device, "_DECIDED", device.Device(True, "", ("Stand-in GPU",), 1, 1))
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "performance.py").write_text(
        (root / "reference" / "performance" / "solution.py").read_text())
    with Engine(Course(root)) as engine:
        result = engine.grade(sub, tmp_path / "out", Options(topics=("performance",), seed=1))
    tests = {t.name: t for t in result.tests}
    lstm = tests["test_lstm_sequence_fast_speed"]
    assert lstm.outcome == "passed", lstm.message
    assert lstm.details["speed"]["device"] == "cpu"
    cpu = timing.thresholds_for(Course(root).config("performance").extra, "lstm_sequence_fast",
                                "cpu")
    assert lstm.details["speed"]["thresholds"] == {"zero": cpu.zero, "full": cpu.full}
    assert tests["test_conv2d_fast_speed"].outcome != "passed"  # sent to the stand-in GPU
