"""The sandbox layers block what they claim, and what a student may do still works.

Every attack runs in a fresh interpreter (tests/sandbox_scripts/attack.py) that forks A,
enters the namespaces, forks B, restricts B and attacks from B, so this process is never
restricted. A "none" control runs the same attack without the sandbox, to show that the
attack itself works and the test could fail.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import pytest

from grader.isolation import sandbox

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).parent / "sandbox_scripts" / "attack.py"
STATUSES = {s.name: s for s in sandbox.probe()}
# Handed to attack.py so that it need not probe again; the probe itself is tested below.
PROBE = {
    "strategy": sandbox._probe().strategy,
    "statuses": [[s.name, s.available, s.detail] for s in STATUSES.values()],
    "memory": list(astuple(sandbox.memory_bound())),
}


def skip_where_proc_cannot_be_mounted(report: Report) -> None:
    """A GPU worker mounts a /proc of its PID namespace; a kernel may refuse that (a user
    namespace in a container whose /proc is partly masked), and then no GPU worker starts here."""
    crash = str(report.lines.get("result", {}).get("crash", ""))
    if "mount /proc" in crash:
        pytest.skip(f"a GPU worker cannot start here: {crash}")


def needs(*layers: str) -> pytest.MarkDecorator:
    missing = [STATUSES[name] for name in layers if not STATUSES[name].available]
    reason = "; ".join(f"{s.name} unavailable here: {s.detail}" for s in missing)
    return pytest.mark.skipif(bool(missing), reason=reason)


@dataclass
class Report:
    """What attack.py printed: B's result and layers, A's view of how B ended."""

    lines: dict[str, Any]
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        assert "result" in self.lines, f"B reported no result; stderr:\n{self.stderr}"
        return dict(self.lines["result"])

    @property
    def blocked(self) -> bool:
        result = self.result
        assert "crash" not in result, f"the sandbox set-up failed: {result['crash']}"
        return not result["ok"]


def _script_env(pythonpath: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(pythonpath)}


def _parse(stdout: str) -> dict[str, Any]:
    lines: dict[str, Any] = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            lines.update(json.loads(line))
    return lines


def run_attack(attack: str, *, layers: str = "all", **cfg: Any) -> Report:
    config = json.dumps({"attack": attack, "layers": layers, "probe": PROBE, **cfg})
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), config],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=_script_env(ROOT),
    )
    return Report(_parse(proc.stdout), proc.stderr)


@dataclass
class Dirs:
    secret: Path  # stands for reference/: must stay unreadable
    work: Path  # the worker's private temp dir
    outside: Path  # somewhere else, not writable
    submission: Path  # read-only for the worker


def make_dirs(base: Path) -> Dirs:
    dirs = Dirs(*(base / name for name in ("reference", "work", "outside", "submission")))
    for path in (dirs.secret, dirs.work, dirs.outside, dirs.submission):
        path.mkdir(mode=0o755)
    (dirs.secret / "solution.py").write_text("ANSWER = 42\n")
    (dirs.submission / "student.py").write_text("def f():\n    return 1\n")
    return dirs


@pytest.fixture
def dirs(tmp_path: Path) -> Dirs:
    return make_dirs(tmp_path)


# ---------------------------------------------------------------------------------------
# probe, missing_layers, default_read_paths


def _process_fingerprint() -> tuple[object, ...]:
    with open("/proc/self/status") as f:
        status = [line for line in f if line.startswith(("Cap", "NoNewPrivs", "Seccomp"))]
    return (
        os.getresuid(),
        os.getsid(0),
        status,
        os.readlink("/proc/self/ns/net"),
        os.readlink("/proc/self/ns/pid"),
        resource.getrlimit(resource.RLIMIT_NPROC),
        resource.getrlimit(resource.RLIMIT_DATA),
    )


def test_probe_names_every_layer_and_leaves_the_caller_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _process_fingerprint()
    monkeypatch.setattr(sandbox, "_PROBE_CACHE", None)
    statuses = sandbox.probe()
    assert [s.name for s in statuses] == list(sandbox.LAYERS)
    assert all(s.detail for s in statuses)
    assert _process_fingerprint() == before
    assert sandbox.probe() == statuses  # cached


def test_probe_works_where_sigchld_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # The zygote ignores SIGCHLD; the probe's interpreter inherits that through exec.
    monkeypatch.setattr(sandbox, "_PROBE_CACHE", None)
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        statuses = sandbox.probe()
    finally:
        signal.signal(signal.SIGCHLD, previous)
    assert [(s.name, s.available) for s in statuses] == [
        (s.name, s.available) for s in STATUSES.values()
    ]


@needs("landlock")
def test_probe_reports_the_landlock_abi_in_use() -> None:
    abi, _ = sandbox._landlock_abi()
    assert STATUSES["landlock"].detail.startswith(f"Landlock ABI {abi}:")


def test_everything_is_missing_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_LINUX", False)
    monkeypatch.setattr(sandbox, "_PROBE_CACHE", None)
    statuses = sandbox.probe()
    assert sandbox.missing_layers(statuses) == statuses
    assert all("needs Linux" in s.detail for s in statuses)
    policy = sandbox.Policy(read_paths=(), write_paths=())
    assert sandbox.restrict(policy) == []


def test_missing_layers_keeps_only_the_unavailable_ones() -> None:
    statuses = [
        sandbox.LayerStatus("landlock", True, "Landlock ABI 7"),
        sandbox.LayerStatus("network", False, "no namespaces (EPERM)"),
    ]
    assert sandbox.missing_layers(statuses) == [statuses[1]]


def test_the_layers_warning_names_what_is_missing_and_nothing_when_all_are_in_use() -> None:
    memory_line = "memory: bounded by the worker's cgroup"
    assert sandbox.layers_warning((*sandbox.LAYERS, memory_line)) is None
    without = tuple(n for n in sandbox.LAYERS if n not in ("seccomp", "landlock"))
    warning = sandbox.layers_warning((*without, memory_line))
    assert warning is not None and warning.endswith("missing: landlock, seccomp")
    assert memory_line not in warning
    assert sandbox.layers_warning(()) == ("warning: sandbox layers in use: none; missing: "
                                          + ", ".join(sandbox.LAYERS))


def test_default_read_paths_cover_python_but_not_the_project() -> None:
    paths = [os.path.realpath(p) for p in sandbox.default_read_paths()]
    assert all(os.path.exists(p) for p in paths)
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    assert any(stdlib == p or stdlib.startswith(p + "/") for p in paths)
    assert "/dev/null" in paths
    for secret in (str(ROOT), os.path.realpath(os.getcwd())):
        assert not any(secret == p or secret.startswith(p + "/") for p in paths), secret


def test_policy_defaults_are_the_course_defaults() -> None:
    policy = sandbox.Policy(read_paths=("/usr/lib",), write_paths=("/tmp/w",))
    assert policy.limits == sandbox.Limits(
        memory_mb=1024, cpu_seconds=120, max_processes=32, max_file_mb=64, max_open_files=256,
        max_disk_mb=256, max_files=4096,
    )


# ---------------------------------------------------------------------------------------
# restrict: what it reports and refuses


def test_restrict_reports_every_available_layer(dirs: Dirs) -> None:
    report = run_attack("list_dir", target=str(dirs.work), write=[str(dirs.work)])
    available = {name for name, s in STATUSES.items() if s.available}
    assert set(report.lines["applied"]) == available
    assert report.result == {"ok": True, "value": []}


@needs("landlock")
def test_restrict_raises_when_an_available_layer_fails(dirs: Dirs) -> None:
    report = run_attack("list_dir", target="/", read=[str(dirs.work / "missing")])
    assert report.result["crash"].startswith("SandboxError: sandbox layer landlock")


def test_restrict_refuses_a_multithreaded_process() -> None:
    report = run_attack("list_dir", target="/", layers="threaded")
    assert "single-threaded" in report.result["crash"]


# ---------------------------------------------------------------------------------------
# Files


@needs("landlock")
@pytest.mark.parametrize(
    ("layers", "readable"), [("all", False), ("landlock", False), ("none", True)]
)
def test_reading_outside_the_allowed_paths(dirs: Dirs, layers: str, readable: bool) -> None:
    report = run_attack(
        "read_file", layers=layers, target=str(dirs.secret / "solution.py"), write=[str(dirs.work)]
    )
    assert report.blocked is not readable
    if not readable:
        assert report.result["error"] == "PermissionError"


@needs("landlock")
def test_listing_the_root_directory_is_denied() -> None:
    report = run_attack("list_dir", target="/")
    assert report.blocked and report.result["error"] == "PermissionError"


@needs("landlock")
@pytest.mark.parametrize("attack", ["proc_parent_mem", "proc_init_environ"])
def test_proc_of_the_trusted_side_is_out_of_reach(attack: str) -> None:
    assert run_attack(attack).blocked


@needs("landlock")
def test_writing_outside_the_work_dir_is_denied(dirs: Dirs) -> None:
    target = dirs.outside / "planted.py"
    report = run_attack("write_file", target=str(target), write=[str(dirs.work)])
    assert report.blocked and report.result["error"] == "PermissionError"
    assert not target.exists()


@needs("landlock")
def test_executing_programs_is_denied() -> None:
    report = run_attack("exec_shell")
    assert report.blocked and report.result["error"] == "PermissionError"


@needs("landlock")
def test_the_work_dir_the_submission_and_the_stdlib_stay_usable(dirs: Dirs) -> None:
    report = run_attack("allowed_work", write=[str(dirs.work)], read=[str(dirs.submission)])
    assert report.result == {
        "ok": True,
        "scratch": "scratch",
        "work_listing": ["notes.txt"],
        "submission": "def f():\n    return 1\n",
        "fraction": "1/2",
    }
    if STATUSES["disk_quota"].available:  # the work dir was the worker's own tmpfs
        assert list(dirs.work.iterdir()) == []
    else:
        assert (dirs.work / "notes.txt").read_text() == "scratch"


def test_numpy_and_torch_work_after_restrict(dirs: Dirs) -> None:
    np = pytest.importorskip("numpy")
    report = run_attack(
        "allowed_work", torch=True, write=[str(dirs.work)], read=[str(dirs.submission)]
    )
    result = report.result
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    assert result["ok"], result
    assert result["torch_matmul"] == (x @ x.T).tolist()
    assert result["torch_relu"] == [0.0, 2.0]
    assert result["numpy_matmul"] == (a @ a.T).tolist()
    assert result["numpy_inv"] == [[0.5, 0.0], [0.0, 0.25]]
    assert "cpuinfo" not in report.stderr and "Traceback" not in report.stderr


# ---------------------------------------------------------------------------------------
# Network and other ways out


@pytest.fixture
def tcp_listener() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.setblocking(False)
        yield server


def _was_contacted(server: socket.socket) -> bool:
    try:
        conn, _ = (server.accept() if server.type in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET)
                   else server.recvfrom(64))
    except BlockingIOError:
        return False
    if isinstance(conn, socket.socket):
        conn.close()
    return True


@pytest.mark.parametrize(
    ("layers", "errno_name"),
    [
        pytest.param("all", None, marks=needs("network", "landlock")),
        pytest.param("landlock", "EACCES", marks=needs("landlock")),
        pytest.param("namespaces", "ENETUNREACH", marks=needs("network")),
        ("none", None),
    ],
)
def test_tcp_connect_to_a_local_listener(
    tcp_listener: socket.socket, layers: str, errno_name: str | None
) -> None:
    port = tcp_listener.getsockname()[1]
    report = run_attack("tcp_connect", layers=layers, port=port)
    time.sleep(0.05)
    if layers == "none":
        assert not report.blocked and _was_contacted(tcp_listener)
        return
    assert report.blocked and not _was_contacted(tcp_listener)
    if errno_name:
        assert report.result["errno"] == errno_name


@pytest.mark.parametrize("layers", [pytest.param("all", marks=needs("network")), "none"])
def test_udp_send_to_a_local_socket(layers: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.setblocking(False)
        report = run_attack("udp_send", layers=layers, port=server.getsockname()[1])
        time.sleep(0.05)
        assert _was_contacted(server) is (layers == "none")
    assert report.blocked is (layers != "none")


@pytest.mark.parametrize("layers", [pytest.param("all", marks=needs("seccomp")), "none"])
def test_connecting_to_a_unix_socket_outside(tmp_path: Path, layers: str) -> None:
    path = str(tmp_path / "daemon.sock")  # like /var/run/docker.sock
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        server.setblocking(False)
        report = run_attack("unix_connect", layers=layers, target=path)
        assert _was_contacted(server) is (layers == "none")
    assert report.blocked is (layers != "none")
    if layers == "all":
        assert report.result["errno"] == "EPERM"


@needs("seccomp", "landlock")
@pytest.mark.parametrize("gpu", [False, True])
def test_unix_sockets_reach_nothing_outside_even_in_a_gpu_worker(dirs: Dirs, gpu: bool) -> None:
    # A GPU worker may make the one kind of unix socket CUDA needs (SOCK_SEQPACKET, on which it
    # listens under an abstract name), but connects to nothing: not to a daemon's socket, not to
    # an abstract name outside, and it cannot make a pathname socket for others to connect to.
    stream, seqpacket = str(dirs.outside / "daemon.sock"), str(dirs.outside / "seq.sock")
    abstract = f"\0grader-test-{os.getpid()}"
    servers = []
    for kind, address in ((socket.SOCK_STREAM, stream), (socket.SOCK_SEQPACKET, seqpacket),
                          (socket.SOCK_SEQPACKET, abstract)):
        server = socket.socket(socket.AF_UNIX, kind)
        server.bind(address)
        server.listen(1)
        server.setblocking(False)
        servers.append(server)
    try:
        report = run_attack("unix_reach", limits={"gpu": gpu}, write=[str(dirs.work)],
                            targets=[stream, seqpacket, abstract])
        assert all(not _was_contacted(server) for server in servers)
    finally:
        for server in servers:
            server.close()
    skip_where_proc_cannot_be_mounted(report)
    assert "landlock" in report.lines["applied"] and "seccomp" in report.lines["applied"]
    got = report.result["value"]
    assert got["make_stream"] == got["make_dgram"] == "EPERM"
    if not gpu:
        assert got["make_seqpacket"] == "EPERM"
        return
    assert got["make_seqpacket"] == got["make_seqpacket_cloexec"] == "ok"
    for target in (stream, seqpacket, abstract):
        assert got[f"connect {target}"] == "EPERM", got
        assert got[f"send {target}"] == "ENOTCONN", got
    assert got["listen_abstract"] == "ok"  # what CUDA does; scoped to the worker (Landlock ABI 6)
    assert got["bind_pathname"] == "EACCES"


@needs("landlock", "pid_namespace")
@pytest.mark.parametrize("gpu", [False, True])
def test_only_a_gpu_worker_names_its_own_threads(gpu: bool) -> None:
    # CUDA names the threads it starts through /proc/self/task/<tid>/comm, by their ids in the
    # worker's PID namespace: a GPU worker has a /proc of that namespace, and may write there.
    report = run_attack("name_thread", limits={"gpu": gpu})
    skip_where_proc_cannot_be_mounted(report)
    if gpu:
        assert report.result == {"ok": True, "value": "renamed"}, report
        assert "a /proc of its own" in report.lines["applied_detail"]["pid_namespace"]
    else:
        assert report.blocked, report
    # Another process's memory stays out of reach either way.
    assert run_attack("proc_parent_mem", limits={"gpu": gpu}).blocked


@pytest.mark.parametrize(
    "layers",
    [
        pytest.param("all", marks=needs("pid_namespace")),
        pytest.param("landlock", marks=needs("landlock")),
        "none",
    ],
)
def test_signalling_the_parent(layers: str) -> None:
    if layers == "landlock" and "signals scoped" not in STATUSES["landlock"].detail:
        pytest.skip(f"Landlock here does not scope signals: {STATUSES['landlock'].detail}")
    report = run_attack("signal_parent", layers=layers)
    delivered = report.lines["a_signals"] == ["SIGUSR1"]
    assert delivered is (layers == "none")
    assert report.blocked is (layers != "none")


@needs("seccomp")
@pytest.mark.parametrize("attack", ["memfd", "shmget"])
def test_memory_outside_the_data_limit_cannot_be_created(attack: str) -> None:
    report = run_attack(attack)
    assert report.blocked and report.result["errno"] == "EPERM"


@needs("capabilities")
def test_root_cannot_be_regained() -> None:
    assert run_attack("regain_root").blocked


# ---------------------------------------------------------------------------------------
# Resources

SMALL_MEMORY = {"memory_mb": 128}


@needs("rlimits")
def test_a_huge_allocation_fails() -> None:
    report = run_attack("memory_huge", limits=SMALL_MEMORY)
    assert report.blocked and report.result["error"] == "MemoryError"


@needs("rlimits")
def test_gradual_touched_growth_stops_at_the_memory_limit() -> None:
    report = run_attack("memory_gradual", limits=SMALL_MEMORY)
    assert report.blocked and report.result["error"] == "MemoryError"
    assert 32 <= report.result["reached_mb"] < 128


@needs("rlimits")
def test_shared_mappings_stop_at_the_address_space_backstop() -> None:
    report = run_attack("memory_shared", limits=SMALL_MEMORY)
    if report.lines.get("oom_kills"):
        # Sooner still: the worker's memory cgroup killed it at 128 MB for all its memory.
        assert report.lines["b_exit"] == -9 and "result" not in report.lines
        return
    assert report.blocked
    # RLIMIT_DATA does not count these; the address-space cap (in use + 2 x memory_mb) does.
    assert 32 <= report.result["reached_mb"] < 3 * 128


@needs("rlimits")
def test_the_cpu_limit_kills_the_worker() -> None:
    start = time.monotonic()
    report = run_attack("cpu_burn", limits={"cpu_seconds": 1})
    assert report.lines["b_exit"] == -signal.SIGKILL
    assert "result" not in report.lines
    assert time.monotonic() - start < 20


@needs("rlimits")
def test_writes_beyond_the_file_size_limit_fail(dirs: Dirs) -> None:
    target = dirs.work / "big.bin"
    report = run_attack(
        "file_size", target=str(target), cap_mb=8, write=[str(dirs.work)], limits={"max_file_mb": 2}
    )
    assert report.blocked and report.result["errno"] == "EFBIG"
    assert report.result["written_mb"] == 2


@needs("disk_quota")
@pytest.mark.parametrize("layers", ["all", "none"])
def test_files_together_cannot_fill_the_disk(dirs: Dirs, layers: str) -> None:
    limits = {"max_disk_mb": 8, "max_file_mb": 2}
    report = run_attack("fill_disk", layers=layers, target=str(dirs.work), cap_mb=12,
                        write=[str(dirs.work)], limits=limits)
    if layers == "none":  # the control: every file fits under the per-file limit alone
        assert report.result["ok"] and report.result["written_mb"] == 12
        return
    assert report.blocked and report.result["errno"] == "ENOSPC", report.result
    assert 4 <= report.result["written_mb"] <= 8
    assert list(dirs.work.iterdir()) == []  # gone with the worker; never on the grader's disk


@needs("disk_quota")
def test_the_number_of_files_is_bounded(dirs: Dirs) -> None:
    report = run_attack("many_files", target=str(dirs.work), cap=1000, write=[str(dirs.work)],
                        limits={"max_files": 64})
    assert report.blocked and report.result["errno"] == "ENOSPC", report.result
    assert report.result["made"] < 64


@needs("rlimits")
def test_open_files_are_limited() -> None:
    report = run_attack("open_files", limits={"max_open_files": 64})
    assert report.blocked and report.result["errno"] == "EMFILE"
    assert report.result["opened"] < 64


# ---------------------------------------------------------------------------------------
# Processes: fork bomb, killing, parent death


def processes_in_pid_namespace_of(pid: int) -> int:
    """Live processes in ``pid``'s PID namespace, counted from outside through /proc."""
    try:
        target = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return 0
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.readlink(f"/proc/{entry}/ns/pid") == target
            except OSError:
                pass  # gone, a zombie, or not ours to look at
    return count


def _start(attack: str, **cfg: Any) -> subprocess.Popen[str]:
    config = json.dumps({"attack": attack, "layers": "all", "probe": PROBE, **cfg})
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), config],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_script_env(ROOT),
    )


def _read_until(proc: subprocess.Popen[str], *keys: str) -> dict[str, Any]:
    """Read attack.py's lines until every key has been reported (A and B print in any order)."""
    assert proc.stdout is not None
    seen: dict[str, Any] = {}
    for line in proc.stdout:
        seen.update(json.loads(line))
        if all(key in seen for key in keys):
            return seen
    stderr = proc.stderr.read() if proc.stderr else ""
    raise AssertionError(f"attack.py ended before reporting {keys}: {stderr}")


def _wait_until(condition: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def check_fork_bomb(proc: subprocess.Popen[str], limit: int) -> None:
    try:
        seen = _read_until(proc, "bomb", "b_pid")
        b_pid = seen["b_pid"]
        peak = 0

        def saturated() -> bool:
            nonlocal peak
            peak = max(peak, processes_in_pid_namespace_of(b_pid))
            return peak >= limit

        _wait_until(saturated, 10)
        for _ in range(20):  # it stays there
            peak = max(peak, processes_in_pid_namespace_of(b_pid))
            time.sleep(0.02)
        assert peak == limit, f"{peak} processes in the worker's namespace, limit {limit}"
        os.kill(b_pid, signal.SIGKILL)
        assert _wait_until(lambda: processes_in_pid_namespace_of(b_pid) == 0, 5)
    finally:
        proc.kill()
        proc.communicate(timeout=10)


@needs("process_limit", "pid_namespace")
def test_a_fork_bomb_is_bounded_and_dies_with_the_worker() -> None:
    proc = _start("fork_bomb", limits={"max_processes": 8})
    check_fork_bomb(proc, 8)


@needs("parent_death_signal", "pid_namespace")
def test_the_worker_dies_with_its_parent() -> None:
    proc = _start("sleep")
    try:
        seen = _read_until(proc, "applied", "a_pid", "b_pid")
        os.kill(seen["a_pid"], signal.SIGKILL)
        assert _wait_until(lambda: processes_in_pid_namespace_of(seen["b_pid"]) == 0, 5)
    finally:
        proc.kill()
        proc.communicate(timeout=10)


# ---------------------------------------------------------------------------------------
# The same layers for an ordinary user (the "user" strategy), checked from root


NOBODY = 65534


@pytest.fixture(scope="module")
def unprivileged() -> Iterator[tuple[str, Path]]:
    """A Python that uid 65534 can run, and a copy of the sandbox it can import."""
    if os.geteuid() != 0:
        pytest.skip("already running as an ordinary user: the tests above cover that case")
    base = Path(tempfile.mkdtemp(prefix="sandbox-unprivileged-", dir="/tmp"))
    try:
        (base / "grader" / "isolation").mkdir(parents=True)
        (base / "grader" / "__init__.py").write_text("")
        (base / "grader" / "isolation" / "__init__.py").write_text("")
        for module in ("sandbox.py", "cgroup.py"):
            shutil.copy(ROOT / "grader" / "isolation" / module, base / "grader" / "isolation" / module)
        shutil.copy(SCRIPT, base / "attack.py")
        for path in [base, *base.rglob("*")]:
            path.chmod(0o755)
        candidates = [sys.executable, shutil.which("python3"), "/usr/bin/python3"]
        for python in dict.fromkeys(c for c in candidates if c):
            try:
                check = subprocess.run(
                    [python, "-c", "import sys; assert sys.version_info >= (3, 10)"],
                    check=False,
                    user=NOBODY,
                    group=NOBODY,
                    extra_groups=[],
                    capture_output=True,
                    cwd=base,
                )
            except OSError:  # e.g. the interpreter lives under /root
                continue
            if check.returncode == 0:
                yield python, base
                return
        pytest.skip("no Python interpreter here is readable by an unprivileged user")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _as_nobody(python: str, base: Path, attack: str, **cfg: Any) -> subprocess.Popen[str]:
    config = json.dumps({"attack": attack, "layers": "all", **cfg})
    return subprocess.Popen(
        [python, str(base / "attack.py"), config],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_script_env(base),
        cwd=base,
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
    )


def test_an_unprivileged_fork_bomb_is_bounded_too(unprivileged: tuple[str, Path]) -> None:
    python, base = unprivileged
    check_fork_bomb(_as_nobody(python, base, "fork_bomb", limits={"max_processes": 8}), 8)


def test_an_unprivileged_worker_is_sandboxed_too(unprivileged: tuple[str, Path]) -> None:
    python, base = unprivileged
    (base / "case").mkdir(mode=0o755)
    dirs = make_dirs(base / "case")
    for path in (dirs.secret, dirs.secret / "solution.py"):
        path.chmod(0o755)  # readable by anyone: only the sandbox stands in the way
    proc = _as_nobody(python, base, "read_file", target=str(dirs.secret / "solution.py"))
    stdout, stderr = proc.communicate(timeout=60)
    report = Report(_parse(stdout), stderr)
    assert set(report.lines["applied"]) >= {"network", "pid_namespace", "process_limit", "landlock",
                                            "disk_quota"}
    assert report.blocked and report.result["error"] == "PermissionError"


def test_an_unprivileged_gpu_worker_names_its_threads_too(unprivileged: tuple[str, Path]) -> None:
    # Inside a user namespace, B mounts the /proc of its PID namespace as root does.
    python, base = unprivileged
    proc = _as_nobody(python, base, "name_thread", limits={"gpu": True})
    stdout, stderr = proc.communicate(timeout=60)
    report = Report(_parse(stdout), stderr)
    skip_where_proc_cannot_be_mounted(report)
    assert "inside a new user namespace" in report.lines["applied_detail"]["pid_namespace"]
    assert report.result == {"ok": True, "value": "renamed"}, report
