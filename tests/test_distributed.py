"""``grader batch`` on Dask: a LocalCluster of two processes grades the test course's small class
like a local batch, survives a worker killed mid-task, gives up on a submission that keeps
killing workers, and leaves no process behind."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import dask
import distributed  # noqa: F401 - registers its settings in dask.config, read below
import pandas as pd
import psutil
import pytest
from click.testing import CliRunner
from dask.utils import parse_timedelta

from grader.classroom import dask as gd
from grader.classroom.batch import Batch
from grader.course import Course
from grader.results.model import load_result
from shared_engine import SharedEngine

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "course"
TOY = (FIXTURE / "reference" / "toy" / "solution.py").read_text()
OTHER = (FIXTURE / "reference" / "other" / "solution.py").read_text()
SCALE_WRONG = TOY.replace("return c * x", "return c * x + 1")
# Correct, but add() takes long enough for a worker to be killed while grading it.
SLOW = TOY.replace("def add(a, b):\n", "def add(a, b):\n    import time\n    time.sleep(2.5)\n")
SEED = 1234
LOST_WORKER_TIMEOUT = "distributed.deploy.lost-worker-timeout"


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def small_class(dest: Path) -> Path:
    """good (folder), partial (.zip: a mistake, a topic missing), malformed (not a zip),
    slow (correct, slow enough to be killed in flight)."""
    subs = dest / "subs"
    write(subs / "good", {"toy.py": TOY, "other.py": OTHER})
    with zipfile.ZipFile(subs / "partial.zip", "w") as zf:
        zf.writestr("toy.py", SCALE_WRONG)
    (subs / "malformed.zip").write_bytes(b"this is not a zip archive")
    write(subs / "slow", {"toy.py": SLOW, "other.py": OTHER})
    return subs


def run_batch(subs: Path, out: Path, engine: Any, jobs: int) -> tuple[Any, str]:
    said = io.StringIO()
    batch = Batch(course=Course(FIXTURE), submissions=subs, out=out, jobs=jobs, seed=SEED,
                  echo=lambda s: said.write(s + "\n"), progress_stream=said, tty=False,
                  engine_factory=lambda *a, **k: SharedEngine(engine))
    return batch.run(), said.getvalue()


class InThread:
    """A batch run in a thread, so that the test can kill workers while it grades."""

    def __init__(self, *args: Any) -> None:
        self.outcome: tuple[Any, str] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=args, daemon=True)
        self.thread.start()

    def _run(self, *args: Any) -> None:
        try:
            self.outcome = run_batch(*args)
        except BaseException as exc:  # noqa: BLE001 - reported by join()
            self.error = exc

    def join(self, timeout: float = 300) -> tuple[Any, str]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the batch did not finish"
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome


# ------------------------------------------------------------------------------ the cluster


def tree(pid: int) -> set[psutil.Process]:
    """A process and all its descendants (psutil tells a reused pid from the process we saw)."""
    try:
        proc = psutil.Process(pid)
        return {proc, *proc.children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def gone(procs: set[psutil.Process], within: float = 20.0) -> list[str]:
    """Those still running (zombies count as gone) after waiting up to ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        alive = []
        for p in procs:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{p.pid}: {' '.join(p.cmdline())[:200]}")
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


class Cluster:
    """The module's DaskEngine on a LocalCluster, and what its workers started."""

    def __init__(self, engine: gd.DaskEngine) -> None:
        self.engine = engine
        self.client = engine.client
        self.seen: set[psutil.Process] = set()  # every worker, host, zygote and grading process met
        self.bases: set[str] = set()  # every engine host's private folder

    def observe(self) -> dict[str, int]:
        """The workers' pids by address; records their process trees and hosts' folders."""
        pids = self.client.run(os.getpid, on_error="ignore")
        for pid in pids.values():
            self.seen |= tree(pid)
        for info in self.client.run(gd._worker_info, self.engine.plugin,
                                    on_error="ignore").values():
            if info:
                self.bases.add(info["base"])
        return pids

    def whole(self, timeout: float = 120.0) -> None:
        """Wait until both workers are up again with their grader set up: one killed by an
        earlier test takes seconds to come back, more on a busy machine."""
        deadline = time.monotonic() + timeout
        while True:
            infos = self.client.run(gd._worker_info, self.engine.plugin, on_error="ignore")
            if len(infos) == 2 and all(infos.values()):
                self.observe()
                return
            assert time.monotonic() < deadline, f"the cluster did not get its workers back: {infos}"
            time.sleep(0.2)

    def kill_when_running(self, student: str, timeout: float = 120.0) -> set[psutil.Process]:
        """SIGKILL the worker process grading ``student`` while it does; its process tree."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # The scheduler's view: no round trip to a worker that may have just died.
            for address, keys in self.client.processing().items():
                if any(str(k).startswith(f"grade-{student}-") for k in keys):
                    time.sleep(0.5)  # well into grading, which takes 2.5 s or more
                    pid = self.client.run(os.getpid, workers=[address])[address]
                    doomed = tree(pid)
                    self.seen |= doomed
                    os.kill(pid, signal.SIGKILL)
                    while address in self.client.nthreads():  # until the scheduler knows
                        time.sleep(0.05)
                    return doomed
            time.sleep(0.05)
        raise AssertionError(f"{student} was never seen grading on a worker")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory, toy_engine: Any) -> dict[str, Any]:
    """The class graded by a local batch (before any cluster exists in this process)."""
    base = tmp_path_factory.mktemp("dask-class")
    subs = small_class(base)
    summary, _ = run_batch(subs, base / "local", toy_engine, jobs=2)
    return {"subs": subs, "base": base, "out": base / "local", "summary": summary}


@pytest.fixture(scope="module")
def cluster(local_run: dict[str, Any]) -> Any:
    # After the local batch: its engine forks grading children, which must not happen in a
    # process that runs a cluster's threads.
    before = set(psutil.Process().children(recursive=True))
    lost_before = dask.config.get(LOST_WORKER_TIMEOUT)
    # One failure allowed: the second worker that dies under a submission gives it up.
    engine = gd.DaskEngine(Course(FIXTURE), scheduler="local", processes=2, allowed_failures=1)
    c = Cluster(engine)
    try:
        c.client.wait_for_workers(2, timeout=120)
        c.observe()
        yield c
    finally:
        engine.close()
    assert dask.config.get(LOST_WORKER_TIMEOUT) == lost_before, \
        "closing the engine did not restore distributed.deploy.lost-worker-timeout"
    assert not gone(c.seen, within=30), "processes of the cluster outlived it"
    assert not [b for b in c.bases if Path(b).exists()], "an engine host left its folder"
    # multiprocessing's resource tracker serves this process until it exits, cluster or not.
    left = {p for p in set(psutil.Process().children(recursive=True)) - before
            if "resource_tracker" not in " ".join(p.cmdline())}
    assert not gone(left), "the cluster left processes behind"


def without_durations(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False).drop(columns=["duration"])


# -------------------------------------------------------------------------------- the tests


def test_a_dask_batch_equals_a_local_batch_and_survives_a_killed_worker(
        local_run: dict[str, Any], cluster: Cluster) -> None:
    out = local_run["base"] / "dask"
    batch = InThread(local_run["subs"], out, cluster.engine, gd.HANDED_OVER)
    doomed = cluster.kill_when_running("slow")
    summary, said = batch.join()

    # Every file a local batch writes, with the same content.
    local = local_run["out"]
    for table in ("gradebook.csv", "canvas.csv"):
        assert (out / table).read_text() == (local / table).read_text(), table
    pd.testing.assert_frame_equal(without_durations(out / "tests.csv"),
                                  without_durations(local / "tests.csv"))
    for student in ("good", "partial", "slow"):
        mine, theirs = (load_result(o / "students" / student / "result.json")
                        for o in (out, local))
        assert [(t.nodeid, t.outcome, t.score, t.message) for t in mine.tests] == \
            [(t.nodeid, t.outcome, t.score, t.message) for t in theirs.tests]
        assert mine.sandbox == theirs.sandbox and mine.seed == theirs.seed == SEED
        for name in ("results.json", "report.html", "grading.log"):
            assert (out / "students" / student / name).is_file(), (student, name)
    assert load_result(out / "students" / "slow" / "result.json").score == 8.0

    # The killed worker's task ran again elsewhere and its result arrived once.
    assert summary.graded_now == 4 and summary.errors == local_run["summary"].errors
    assert said.count("] slow: ") == 1 and "[4/4]" in said
    assert not gone(doomed), "the killed worker's engine host or its children live on"


def test_a_submission_that_keeps_killing_workers_becomes_an_error_row(
        tmp_path: Path, cluster: Cluster) -> None:
    subs = tmp_path / "subs"
    write(subs / "killer", {"toy.py": SLOW, "other.py": OTHER})
    cluster.whole()
    batch = InThread(subs, tmp_path / "out", cluster.engine, gd.HANDED_OVER)
    for _ in range(2):  # allowed_failures=1: the second death is the last try
        cluster.kill_when_running("killer")
    summary, _ = batch.join()
    assert summary.errors.keys() == {"killer"}
    assert "died 2 times" in summary.errors["killer"]
    book = pd.read_csv(tmp_path / "out" / "gradebook.csv", keep_default_na=False)
    assert book.loc[0, "status"] == "error" and book.loc[0, "score"] == 0


def test_a_local_cluster_waits_minutes_for_a_dead_worker_while_the_engine_lives(
        cluster: Cluster) -> None:
    # Read by the LocalCluster at each worker's death: the 15 s default would let a restart
    # slowed by a loaded machine cost the batch that worker for good (the tests that kill
    # workers rely on it).
    waits = parse_timedelta(dask.config.get(LOST_WORKER_TIMEOUT))
    assert waits >= 600, f"{LOST_WORKER_TIMEOUT} is {waits} s while the engine's local " \
                         "cluster runs; a worker slow to restart would be closed for good"


def test_grader_batch_scheduler_grades_on_the_cluster(tmp_path: Path, cluster: Cluster,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.commands.main import main

    made: list[dict[str, Any]] = []

    def factory(scheduler: str, **kwargs: Any) -> Any:
        made.append({"scheduler": scheduler, **kwargs})
        return lambda *a, **k: SharedEngine(cluster.engine)

    monkeypatch.setattr(gd, "dask_engine", factory)
    subs = tmp_path / "subs"
    write(subs / "good", {"toy.py": TOY, "other.py": OTHER})
    address = cluster.engine.cluster.scheduler_address
    result = CliRunner().invoke(main, ["batch", str(subs), "--out", str(tmp_path / "out"),
                                       "--course", str(FIXTURE), "--scheduler", address,
                                       "--jobs", "3", "--topic", "toy"])
    assert result.exit_code == 0, result.output
    assert made == [{"scheduler": address, "topics": ("toy",), "processes": 3,
                     "echo": made[0]["echo"]}]
    assert load_result(tmp_path / "out" / "students" / "good" / "result.json").score == 6.0
    assert "1 students: 1 graded now" in result.output


def test_a_worker_that_cannot_start_the_grader_stops_the_batch_with_its_reason(
        tmp_path: Path, cluster: Cluster) -> None:
    broken = tmp_path / "course"
    shutil.copytree(FIXTURE, broken)
    (broken / "reference" / "toy" / "solution.py").write_text(
        "raise RuntimeError('the reference cannot be imported')\n")
    cluster.whole()  # not a worker still restarting after the tests that kill them
    with pytest.raises(gd.DistributedError) as caught:
        gd.DaskEngine(Course(broken), scheduler=cluster.engine.cluster.scheduler_address)
    assert str(caught.value).startswith("the Dask workers could not start the grader: on ")
    assert "RuntimeError: the reference cannot be imported" in str(caught.value)
    assert "\n" not in str(caught.value)


# ------------------------------------------------------------------------- without a cluster


def test_a_folder_travels_as_bytes_and_is_rebuilt_whole(tmp_path: Path) -> None:
    sub = write(tmp_path / "ada", {"toy.py": TOY, "notes.txt": "x" * (2 << 20)})
    (sub / "assignments" / "other").mkdir(parents=True)
    (sub / "assignments" / "other" / "other.py").write_text(OTHER)
    (sub / "empty").mkdir()
    (sub / "link.py").symlink_to("/etc/passwd")
    data, is_folder = gd.pack_submission(sub)
    assert is_folder
    rebuilt = gd.unpack_submission("ada", data, True, tmp_path / "worker")
    assert rebuilt.name == "ada"
    files = sorted(p.relative_to(rebuilt).as_posix() for p in rebuilt.rglob("*"))
    assert files == ["assignments", "assignments/other", "assignments/other/other.py", "empty",
                     "link.py", "notes.txt", "toy.py"]
    # The link travels as a link to nothing, for the worker's staging to name it.
    assert (rebuilt / "link.py").is_symlink() and not (rebuilt / "link.py").exists()
    assert (rebuilt / "notes.txt").read_text() == "x" * (2 << 20)  # stored, not refused as a bomb
    archive = tmp_path / "bob.zip"
    archive.write_bytes(b"PK not really")
    assert gd.pack_submission(archive) == (b"PK not really", False)
    assert gd.unpack_submission("../bob.zip", b"PK", False, tmp_path / "w2") == \
        tmp_path / "w2" / "bob.zip"


def test_the_course_sent_to_workers_holds_tests_and_references_only(tmp_path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(gd.pack_course(Course(FIXTURE), ["toy"]))) as zf:
        names = set(zf.namelist())
    assert {"assignments/toy/toy.py", "assignments/toy/test_public.py",
            "reference/toy/solution.py", "reference/toy/test_hidden.py",
            "reference/toy/grading.toml"} <= names
    assert not [n for n in names if n.split("/")[1] != "toy" or "mutants" in n]


def test_an_unreachable_scheduler_is_a_one_line_error() -> None:
    with pytest.raises(gd.DistributedError, match="cannot reach the Dask scheduler at "
                                                  "tcp://127.0.0.1:9"):
        gd.DaskEngine(Course(FIXTURE), scheduler="tcp://127.0.0.1:9", connect_timeout=1)


def test_a_lost_scheduler_stops_the_batch_without_error_rows(tmp_path: Path) -> None:
    from distributed import LocalCluster

    from grader.classroom.layout import BatchError

    subs = tmp_path / "subs"
    write(subs / "good", {"toy.py": TOY, "other.py": OTHER})
    # A scheduler without workers: the submission waits there until the scheduler goes.
    cluster = LocalCluster(n_workers=0, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR)
    said: list[str] = []
    lost_before = dask.config.get(LOST_WORKER_TIMEOUT)
    try:
        engine = gd.DaskEngine(Course(FIXTURE), scheduler=cluster.scheduler_address,
                               connect_timeout=2, echo=said.append)
        # Not the engine's cluster: its lost-worker-timeout is the user's business.
        assert dask.config.get(LOST_WORKER_TIMEOUT) == lost_before
        batch = InThread(subs, tmp_path / "out", engine, gd.HANDED_OVER)
        deadline = time.monotonic() + 60
        while not cluster.scheduler.tasks:
            assert time.monotonic() < deadline, "the submission never reached the scheduler"
            time.sleep(0.05)
    finally:
        cluster.close()
    with pytest.raises(BatchError, match="--resume"):
        batch.join(timeout=60)
    engine.close()
    assert any("lost the Dask scheduler" in s for s in said)
    state = json.loads((tmp_path / "out" / "batch.json").read_text())
    assert state["students"] == {}  # not graded, not an error: --resume grades it
