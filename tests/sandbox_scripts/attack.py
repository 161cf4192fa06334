"""Run one attack in a sandboxed worker (fork A, enter namespaces, fork B, restrict) and report.

Usage: ``python attack.py CONFIG_JSON``. The configuration names the attack and the layers
to put in place: "all", "landlock" alone, "namespaces" alone, "none" (a control showing
the attack works without the sandbox) or "threaded" (restrict() called with a second thread).
Every report is one JSON line on stdout: A prints ``a_pid``, ``b_pid`` and, once B is
gone, ``b_exit`` (negative: killed by that signal) and the signals A received; B prints
``applied`` (the layers in effect) and ``result`` (``{"ok": ..., "error": ..., ...}``).
Only the standard library is imported unless the configuration asks for torch.
"""

from __future__ import annotations

import ctypes
import errno
import json
import mmap
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

Result = dict[str, Any]


def emit(obj: dict[str, Any]) -> None:
    # One write() per line: A and B share the pipe, and a line must not be split.
    os.write(1, (json.dumps(obj) + "\n").encode())


def attempt(action: Callable[[], Any]) -> Result:
    try:
        value = action()
    except OSError as exc:
        code = errno.errorcode.get(exc.errno) if exc.errno is not None else None
        return {"ok": False, "error": type(exc).__name__, "errno": code}
    except MemoryError:
        return {"ok": False, "error": "MemoryError"}
    return {"ok": True, "value": value}


def read_file(cfg: dict[str, Any], a_pid: int) -> Result:
    def read() -> str:
        with open(cfg["target"]) as f:
            return f.read()

    return attempt(read)


def list_dir(cfg: dict[str, Any], a_pid: int) -> Result:
    return attempt(lambda: sorted(os.listdir(cfg["target"])))


def write_file(cfg: dict[str, Any], a_pid: int) -> Result:
    def write() -> None:
        with open(cfg["target"], "w") as f:
            f.write("written from the sandbox")

    return attempt(write)


def proc_parent_mem(cfg: dict[str, Any], a_pid: int) -> Result:
    def read() -> int:
        with open(f"/proc/{a_pid}/mem", "rb") as f:
            return len(f.read(1))

    return attempt(read)


def proc_init_environ(cfg: dict[str, Any], a_pid: int) -> Result:
    def read() -> int:
        with open("/proc/1/environ", "rb") as f:
            return len(f.read())

    return attempt(read)


def tcp_connect(cfg: dict[str, Any], a_pid: int) -> Result:
    return attempt(lambda: socket.create_connection(("127.0.0.1", cfg["port"]), timeout=3).close())


def udp_send(cfg: dict[str, Any], a_pid: int) -> Result:
    def send() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            return s.sendto(b"from the sandbox", ("127.0.0.1", cfg["port"]))

    return attempt(send)


def unix_connect(cfg: dict[str, Any], a_pid: int) -> Result:
    def connect() -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(cfg["target"])

    return attempt(connect)


def unix_reach(cfg: dict[str, Any], a_pid: int) -> Result:
    """Every way a new unix socket could reach a process outside: which types can be made, then
    with a SOCK_SEQPACKET one connect to the pathname listeners and the abstract name given,
    a send to an address, and a pathname socket made in the write directory."""
    def code(action: Callable[[], Any]) -> str:
        result = attempt(action)
        return "ok" if result["ok"] else str(result.get("errno") or result["error"])

    def make(kind: int) -> Callable[[], None]:
        return lambda: socket.socket(socket.AF_UNIX, kind).close()

    report = {f"make_{name}": code(make(kind)) for name, kind in
              (("stream", socket.SOCK_STREAM), ("dgram", socket.SOCK_DGRAM),
               ("seqpacket", socket.SOCK_SEQPACKET),
               ("seqpacket_cloexec", socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC))}
    if report["make_seqpacket"] != "ok":
        return {"ok": True, "value": report}

    def with_socket(action: Callable[[socket.socket], Any]) -> Callable[[], None]:
        def run() -> None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
                action(s)
        return run

    for target in cfg["targets"]:
        report[f"connect {target}"] = code(with_socket(lambda s: s.connect(target)))
        report[f"send {target}"] = code(with_socket(lambda s: s.sendto(b"hi", target)))
    report["listen_abstract"] = code(with_socket(
        lambda s: (s.bind("\0grader-test-listener"), s.listen(1))))
    report["bind_pathname"] = code(with_socket(
        lambda s: s.bind(os.path.join(cfg["write"][0], "made.sock"))))
    return {"ok": True, "value": report}


def name_thread(cfg: dict[str, Any], a_pid: int) -> Result:
    """Name a second thread through its /proc comm file, as CUDA does with the threads it starts."""
    import threading

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()

    def rename() -> str:
        # By the thread's id as the C library knows it: its id in the worker's PID namespace.
        with open(f"/proc/self/task/{thread.native_id}/comm", "w") as f:
            f.write("renamed")
        with open(f"/proc/self/task/{thread.native_id}/comm") as f:
            return f.read().strip()

    try:
        return attempt(rename)
    finally:
        stop.set()


def signal_parent(cfg: dict[str, Any], a_pid: int) -> Result:
    return attempt(lambda: os.kill(a_pid, signal.SIGUSR1))


def exec_shell(cfg: dict[str, Any], a_pid: int) -> Result:
    return attempt(lambda: os.execv("/bin/sh", ["sh", "-c", "true"]))


def regain_root(cfg: dict[str, Any], a_pid: int) -> Result:
    return attempt(lambda: os.setuid(0))


def memfd(cfg: dict[str, Any], a_pid: int) -> Result:
    return attempt(lambda: os.close(os.memfd_create("bomb")))


def shmget(cfg: dict[str, Any], a_pid: int) -> Result:
    libc = ctypes.CDLL(None, use_errno=True)

    def get() -> int:
        segment = libc.shmget(0, 1 << 20, 0o600)  # IPC_PRIVATE
        if segment < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        libc.shmctl(segment, 0, None)  # IPC_RMID
        return int(segment)

    return attempt(get)


def memory_huge(cfg: dict[str, Any], a_pid: int) -> Result:
    return attempt(lambda: len(bytearray(30 << 30)))


def _grow(allocate: Callable[[], object], chunk_mb: int, cap_mb: int) -> Result:
    """Allocate and touch ``chunk_mb`` at a time until refused or ``cap_mb`` is reached."""
    kept: list[object] = []

    def grow() -> None:
        for _ in range(cap_mb // chunk_mb):
            kept.append(allocate())

    result = attempt(grow)
    result.pop("value", None)
    result["reached_mb"] = len(kept) * chunk_mb
    return result


def memory_gradual(cfg: dict[str, Any], a_pid: int) -> Result:
    chunk = 8 << 20
    return _grow(lambda: b"\x01" * chunk, 8, cfg.get("cap_mb", 8192))


def memory_shared(cfg: dict[str, Any], a_pid: int) -> Result:
    chunk = 32 << 20

    def allocate() -> mmap.mmap:
        m = mmap.mmap(-1, chunk)  # MAP_SHARED | MAP_ANONYMOUS: not counted by RLIMIT_DATA
        m.write(b"\x01" * chunk)
        return m

    return _grow(allocate, 32, cfg.get("cap_mb", 8192))


def cpu_burn(cfg: dict[str, Any], a_pid: int) -> Result:
    end = time.monotonic() + 30
    while time.monotonic() < end:
        pass
    return {"ok": True}


def file_size(cfg: dict[str, Any], a_pid: int) -> Result:
    written = 0

    def write() -> None:
        nonlocal written
        fd = os.open(cfg["target"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            block = b"\0" * (1 << 20)
            for _ in range(cfg["cap_mb"]):
                written += os.write(fd, block)
        finally:
            os.close(fd)

    result = attempt(write)
    result["written_mb"] = written / (1 << 20)
    return result


def fill_disk(cfg: dict[str, Any], a_pid: int) -> Result:
    """Write 1 MB files (each under the file size limit) into the work dir until refused."""
    written = files = 0

    def write() -> None:
        nonlocal written, files
        block = b"\1" * (1 << 20)
        for i in range(cfg["cap_mb"]):
            with open(os.path.join(cfg["target"], f"f{i}.bin"), "wb", buffering=0) as f:
                files += 1
                written += f.write(block)

    result = attempt(write)
    result["written_mb"] = written / (1 << 20)
    result["files"] = files
    return result


def many_files(cfg: dict[str, Any], a_pid: int) -> Result:
    """Create empty files in the work dir until refused."""
    made = 0

    def create() -> None:
        nonlocal made
        for i in range(cfg["cap"]):
            os.close(os.open(os.path.join(cfg["target"], f"e{i}"), os.O_CREAT | os.O_WRONLY, 0o600))
            made += 1

    result = attempt(create)
    result["made"] = made
    return result


def open_files(cfg: dict[str, Any], a_pid: int) -> Result:
    fds: list[int] = []

    def open_many() -> None:
        for _ in range(4096):
            fds.append(os.open(os.devnull, os.O_RDONLY))

    result = attempt(open_many)
    result.pop("value", None)
    result["opened"] = len(fds)
    return result


def fork_bomb(cfg: dict[str, Any], a_pid: int) -> Result:
    emit({"bomb": "started"})
    end = time.monotonic() + 30
    while time.monotonic() < end:  # every child keeps forking too
        try:
            os.fork()
        except OSError:
            time.sleep(0.005)
    os._exit(0)


def sleep(cfg: dict[str, Any], a_pid: int) -> Result:
    time.sleep(30)
    return {"ok": True}


def allowed_work(cfg: dict[str, Any], a_pid: int) -> Result:
    """What a student may do: files in the work dir, the submission, new stdlib imports."""
    work, submission = cfg["write"][0], cfg["read"][0]
    path = os.path.join(work, "notes.txt")
    with open(path, "w") as f:
        f.write("scratch")
    with open(path) as f:
        scratch = f.read()
    with open(os.path.join(submission, "student.py")) as f:
        source = f.read()
    import fractions  # not imported before restrict: the standard library stays readable

    report: Result = {
        "ok": True,
        "scratch": scratch,
        "work_listing": sorted(os.listdir(work)),
        "submission": source,
        "fraction": str(fractions.Fraction(3, 6)),
    }
    if cfg.get("torch"):
        import numpy as np
        import torch
        import torch.nn.functional as F

        x = torch.arange(12, dtype=torch.float64).reshape(3, 4)
        a = np.arange(6, dtype=np.float64).reshape(2, 3)
        report["torch_matmul"] = (x @ x.T).tolist()
        report["torch_relu"] = F.relu(torch.tensor([-1.0, 2.0])).tolist()
        report["numpy_matmul"] = (a @ a.T).tolist()
        report["numpy_inv"] = np.linalg.inv(np.diag([2.0, 4.0])).tolist()
    return report


ATTACKS: dict[str, Callable[[dict[str, Any], int], Result]] = {
    f.__name__: f
    for f in (
        read_file,
        list_dir,
        write_file,
        proc_parent_mem,
        proc_init_environ,
        tcp_connect,
        udp_send,
        unix_connect,
        unix_reach,
        name_thread,
        signal_parent,
        exec_shell,
        regain_root,
        memfd,
        shmget,
        memory_huge,
        memory_gradual,
        memory_shared,
        cpu_burn,
        file_size,
        fill_disk,
        many_files,
        open_files,
        fork_bomb,
        sleep,
        allowed_work,
    )
}


def run_b(cfg: dict[str, Any], sandbox: Any, policy: Any, a_pid: int) -> None:
    try:
        layers = cfg.get("layers", "all")
        if layers == "all":
            applied = sandbox.restrict(policy)
        elif layers == "landlock":  # Landlock on its own, to show what it blocks by itself
            sandbox._apply_no_new_privs()
            sandbox._apply_landlock(policy.read_paths, policy.write_paths)
            applied = ["no_new_privs", "landlock"]
        elif layers == "threaded":  # a mistake restrict() must refuse
            import threading

            threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
            applied = sandbox.restrict(policy)
        else:  # "namespaces" (entered by A) or "none"
            applied = []
        emit({"applied": applied,
              "applied_detail": {s.name: s.detail for s in sandbox.applied_layers()}})
        result = ATTACKS[cfg["attack"]](cfg, a_pid)
    except BaseException as exc:  # noqa: BLE001 - report, never fall back into A's code
        result = {"ok": False, "crash": f"{type(exc).__name__}: {exc}"}
    emit({"result": result})
    os._exit(0)


def run_a(cfg: dict[str, Any], sandbox: Any, policy: Any) -> None:
    received: list[str] = []
    signal.signal(signal.SIGUSR1, lambda signum, frame: received.append("SIGUSR1"))
    if cfg.get("layers", "all") in ("all", "namespaces", "threaded"):
        sandbox.enter_namespaces(policy)
    a_pid = os.getpid()
    emit({"a_pid": a_pid})
    go_r, go_w = os.pipe()
    b_pid = os.fork()
    if b_pid == 0:
        os.close(go_w)
        os.read(go_r, 1)  # as in the zygote: B waits until A has put it in its cgroup
        os.close(go_r)
        run_b(cfg, sandbox, policy, a_pid)
    os.close(go_r)
    sandbox.attach_worker(b_pid)
    os.write(go_w, b"x")
    os.close(go_w)
    emit({"b_pid": b_pid})
    _, status = os.waitpid(b_pid, 0)
    oom_kills = sandbox.leave_namespaces()
    emit({"b_exit": os.waitstatus_to_exitcode(status), "a_signals": received,
          "oom_kills": oom_kills})
    os._exit(0)


def main() -> None:
    cfg = json.loads(sys.argv[1])
    if cfg.get("torch"):
        # As the zygote does: one thread, torch imported and warmed up before any fork.
        os.environ["OMP_NUM_THREADS"] = "1"
        import numpy  # noqa: F401
        import torch

        torch.set_num_threads(1)
        torch.ones(2, 2) @ torch.ones(2, 2)
    from grader.isolation import sandbox

    policy = sandbox.Policy(
        read_paths=sandbox.default_read_paths() + tuple(cfg.get("read", ())),
        write_paths=tuple(cfg.get("write", ())),
        limits=sandbox.Limits(**cfg.get("limits", {})),
    )
    if "probe" in cfg:  # the caller's probe, to spare a second interpreter start per attack
        statuses = tuple(sandbox.LayerStatus(*entry) for entry in cfg["probe"]["statuses"])
        memory = sandbox.LayerStatus(*cfg["probe"].get("memory", ["memory", False, "not given"]))
        sandbox._PROBE_CACHE = sandbox._Probe(statuses, cfg["probe"]["strategy"], memory)
    sandbox.probe()  # cached here, inherited by A and B, as in the zygote
    a_pid = os.fork()
    if a_pid == 0:
        run_a(cfg, sandbox, policy)
    os.waitpid(a_pid, 0)
    # As the trusted side does when it closes the zygote: a group A could not remove (an
    # attack killed it) goes here.
    from grader.isolation import cgroup

    cgroup.sweep(os.getpid())


if __name__ == "__main__":
    main()
