"""The zygote: a clean process with NumPy and torch preloaded that forks a sandboxed worker on request.

Started once per grading run by the trusted side (``python -m grader.isolation.zygote SOCKET``) with an
emptied environment. It never imports ``reference/`` or hidden tests, so nothing secret is in
the memory its workers inherit. Forking it costs milliseconds where a fresh interpreter with
torch costs over a second.

Per request (a JSON config plus the worker's socket, passed as a file descriptor) it forks A;
A enters new namespaces and forks B, the worker proper, which is PID 1 of its own PID namespace
when sandboxed: killing B from outside kills everything the student started. A sends B's pid on
the worker socket, lets B go (in its own memory cgroup where the machine has one), waits for it,
removes the cgroup and exits.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import struct
import sys
from typing import Any

_LEN = struct.Struct("<I")


def _preload() -> None:
    import numpy  # noqa: F401
    import torch

    torch.set_num_threads(1)
    # Warm up once here so workers do not each read CPU information after Landlock is on.
    (torch.ones(4, 4) @ torch.ones(4, 4)).sum().item()
    import grader.isolation.sandbox
    import grader.isolation.worker  # noqa: F401

    grader.isolation.sandbox.probe()  # measured once here; every worker inherits the answer
    # A CUDA context does not survive fork: GPU workers must start CUDA themselves.
    if torch.cuda.is_initialized():
        raise RuntimeError("the zygote must never initialise CUDA")


def recv_request(conn: socket.socket) -> tuple[dict[str, Any], int] | None:
    """One request: a length-prefixed JSON config with the worker's socket attached."""
    msg, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 1)
    if not msg:
        for fd in fds:
            os.close(fd)
        return None
    (n,) = _LEN.unpack_from(msg)
    config = json.loads(msg[_LEN.size:_LEN.size + n])
    if len(fds) != 1:
        raise ValueError("a spawn request must carry exactly one socket")
    return config, fds[0]


def send_request(conn: socket.socket, config: dict[str, Any], fd: int) -> None:
    """Ask the zygote for a worker on socket ``fd``. The zygote answers with the pid of its
    child, which nobody needs (the worker sends its own): ``drain_replies`` drops them later."""
    body = json.dumps(config).encode()
    socket.send_fds(conn, [_LEN.pack(len(body)) + body], [fd])


def drain_replies(conn: socket.socket) -> None:
    """Read and drop the zygote's replies to earlier requests, as far as they have come."""
    while True:
        try:
            if not conn.recv(4096, socket.MSG_DONTWAIT):
                raise ConnectionError("the zygote closed the connection")
        except BlockingIOError:
            return


def _spawn(config: dict[str, Any], fd: int, keep_open: set[int]) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:
        _intermediate(config, fd, keep_open)
    except BaseException as exc:  # report to the trusted side rather than die silently
        try:
            from grader.isolation import wire

            msg = wire.encode_message({"op": "spawn_failed", "message": f"{type(exc).__name__}: {exc}"})
            os.write(fd, wire.frame(msg))
        finally:
            os._exit(70)
    os._exit(0)


def _intermediate(config: dict[str, Any], fd: int, keep_open: set[int]) -> None:
    """Process A: namespaces, fork B, report B's pid, wait for B."""
    from grader.isolation import sandbox, wire

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _die_with_parent()
    for other in keep_open:
        os.close(other)
    out = os.open(config["output_file"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.close(null)
    policy = sandbox_policy(config) if config["sandbox"] else None
    if policy is not None:
        sandbox.enter_namespaces(policy)
    go_r, go_w = os.pipe()
    # B says here, not on its socket, why it could not start: the socket is the student's too
    # once their code runs, and a message on it is taken as theirs.
    fault_r, fault_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(go_w)
        os.close(fault_r)
        os.read(go_r, 1)  # wait until A has told the trusted side our pid
        os.close(go_r)
        _worker(config, fd, policy, fault_w)
        os._exit(0)
    os.close(go_r)
    os.close(fault_w)
    if policy is not None:
        try:
            sandbox.attach_worker(child)  # B waits above: no student code has run yet
        except BaseException:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            sandbox.leave_namespaces()
            raise
    os.write(fd, wire.frame(wire.encode_message({"op": "spawned", "pid": child})))
    os.write(go_w, b"x")
    os.close(go_w)
    os.close(fd)
    _, status = os.waitpid(child, 0)
    # The cgroup goes once the last of B's processes has; the trusted side learns from here
    # whether the kernel killed any for going over the memory limit of them all.
    oom_kills = sandbox.leave_namespaces() if policy is not None else 0
    if oom_kills and policy is not None and config.get("memory_file"):
        fd = os.open(config["memory_file"], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                     0o600)
        os.write(fd, json.dumps({"oom_kills": oom_kills,
                                 "limit_mb": policy.limits.memory_mb}).encode())
        os.close(fd)
    fault = os.read(fault_r, 4096)  # B closed its end before any student code ran
    if fault and config.get("fault_file"):
        fd = os.open(config["fault_file"], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                     0o600)
        os.write(fd, fault)
        os.close(fd)
    # The trusted side reads how the worker ended from here to explain a crash.
    fd = os.open(config["status_file"], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.write(fd, str(status).encode())
    os.close(fd)


def _die_with_parent() -> None:
    """A dies with the zygote (and B, the worker, with A), so closing the zygote ends every worker."""
    from grader.isolation import sandbox

    if sys.platform.startswith("linux"):
        sandbox.die_with_parent()
        if os.getppid() == 1:  # the zygote was already gone before the line above
            os._exit(0)


def sandbox_policy(config: dict[str, Any]) -> Any:
    from grader.isolation import sandbox

    p = config["policy"]
    limits = sandbox.Limits(**p["limits"])
    if not limits.gpu:
        return sandbox.Policy(read_paths=tuple(p["read_paths"]),
                              write_paths=tuple(p["write_paths"]), limits=limits)
    # A GPU worker drives the NVIDIA devices itself; CUDA starts in it after restrict().
    return sandbox.Policy(read_paths=(*p["read_paths"], *sandbox.gpu_read_paths()),
                          write_paths=tuple(p["write_paths"]), limits=limits,
                          devices=sandbox.gpu_device_paths())


def _worker(config: dict[str, Any], fd: int, policy: Any, fault_w: int = -1) -> None:
    """Process B: close everything but the socket, apply the sandbox, serve the student's module."""
    from grader.isolation import sandbox, wire, worker

    os.chdir(config["workdir"])
    os.environ.clear()
    os.environ.update({"HOME": config["workdir"], "TMPDIR": config["workdir"], "LANG": "C.UTF-8",
                       "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"})
    import tempfile

    tempfile.tempdir = config["workdir"]
    import torch

    torch.set_num_threads(1)
    sock = socket.socket(fileno=fd)
    if policy is not None:
        try:
            sandbox.restrict(policy)
        except Exception as exc:
            message = f"the sandbox could not be applied: {exc}"
            if fault_w >= 0:
                os.write(fault_w, message.encode()[:4096])
            sock.sendall(wire.frame(wire.encode_message({"op": "spawn_failed",
                                                         "message": message})))
            return
    if fault_w >= 0:
        os.close(fault_w)
    # Nothing but the socket and stdio stays open for student code (the sandbox has closed
    # the descriptors it needed by now).
    os.closerange(3, fd)
    os.closerange(fd + 1, 1 << 16)
    worker.serve(sock, config["module_name"], config["module_path"], config["student_dir"],
                 config["generation"], config["max_reply_bytes"],
                 tuple(config.get("banned", ())))
    sys.stdout.flush()


def serve(path: str) -> None:
    """Accept connections on the unix socket ``path``; fork a worker per request."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # A processes are reaped by the kernel
    conns: list[socket.socket] = []
    launchers: list[int] = []
    print("ready", flush=True)
    while True:
        readable: list[Any] = select.select([srv, sys.stdin, *conns], [], [])[0]
        for r in readable:
            if r is sys.stdin:
                if not os.read(0, 1):  # the trusted side went away (it may have been killed)
                    _end_launchers(launchers)
                    return
            elif r is srv:
                conns.append(srv.accept()[0])
            else:
                try:
                    req = recv_request(r)
                except (OSError, ValueError):
                    req = None
                if req is None:
                    conns.remove(r)
                    r.close()
                    continue
                config, fd = req
                keep = {srv.fileno(), *(c.fileno() for c in conns)}
                keep.discard(fd)
                pid = _spawn(config, fd, keep)
                launchers = [p for p in launchers if _alive(p)] + [pid]
                os.close(fd)
                r.sendall(json.dumps({"pid": pid}).encode() + b"\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _end_launchers(launchers: list[int]) -> None:
    """Kill the launchers (their workers die with them) and remove their cgroups: no one else
    will when the trusted side was killed."""
    from grader.isolation import cgroup

    for pid in launchers:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    cgroup.sweep(os.getpid())


def spawned(port: int) -> None:
    """A worker started as a fresh interpreter (no fork here): connect back, then serve."""
    from grader.isolation import wire, worker

    config = json.loads(sys.stdin.buffer.read())
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(config["token"].encode() + b"\n")
    out = os.open(config["output_file"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    import tempfile

    tempfile.tempdir = config["workdir"]
    sock.sendall(wire.frame(wire.encode_message({"op": "spawned", "pid": os.getpid()})))
    worker.serve(sock, config["module_name"], config["module_path"], config["student_dir"],
                 config["generation"], config["max_reply_bytes"],
                 tuple(config.get("banned", ())))


def main() -> None:
    if sys.argv[1] == "--spawn":
        spawned(int(sys.argv[2]))
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _preload()
    gc.collect()
    gc.freeze()  # pytest and the worker no longer walk torch's objects on every collection
    serve(sys.argv[1])


if __name__ == "__main__":
    main()
