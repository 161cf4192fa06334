"""The zygote: a clean process with NumPy and torch preloaded that forks a sandboxed worker on request.

Started once per grading run by the trusted side (``python -m grader.isolation.zygote SOCKET``) with an
emptied environment. It never imports ``reference/`` or hidden tests, so nothing secret is in
the memory its workers inherit. Forking it costs milliseconds where a fresh interpreter with
torch costs over a second.

There is one zygote per ban profile the run needs (``grader.isolation.profiles``): the root,
which has imported NumPy and never torch (for topics that ban torch), forks the ``torch`` zygote
before it listens, which imports torch and forks the ``torch-no-autograd`` zygote; each of those
shares with its parent the pages it has not changed. The trusted side talks to the root alone:
a request for another profile's worker is passed on, socket and all, to that profile's zygote.

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
import shutil
import signal
import socket
import struct
import sys
import time
from typing import Any

from grader.isolation import profiles

_LEN = struct.Struct("<I")
# The profile of this zygote: the root's until a profile's zygote is forked from it.
_PROFILE = profiles.NUMPY
# The bans of the workers the run announced at start, planned with every module they name loaded.
_ANNOUNCED: set[tuple[str, ...]] = set()

# Every thread pool a worker could start, sized to the one thread grading promises, whatever the
# host has: set before NumPy and torch are first imported (the pools are sized then), in the
# zygote and again in each worker. A pool sized to a many-core host also reserves memory per
# thread (OpenBLAS: a buffer each), which a worker's memory limit would have to pay for.
THREAD_ENV = {name: "1" for name in (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "GOTO_NUM_THREADS")}


# The C allocator of every worker set once, before anything is allocated, so that what a worker
# ran before does not change what its later calls cost. glibc's default raises the size above
# which it maps fresh pages for a block (and gives them back when it is freed) to the largest
# block freed so far: a worker that once held a large tensor takes the inputs of each call, a
# few MB, from its heap, while a fresh one maps and faults in every page of them on each call,
# which made the public baseline's code timed in the student's worker 1.3× as fast as in the
# baseline's fresh worker (LSTM inputs of 3 MB). Fixed thresholds, which also turn the moving
# one off: blocks below 32 MB come from the heap, whose free top is kept up to 256 MB.
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 256 * 2**20


# What the processes of the zygote's tree are called in ps, top and /proc/PID/comm (at most 15
# bytes): the zygotes (a profile's is forked from the root and keeps its name), the launchers
# (process A) and the workers (process B, and whatever it starts without exec).
ZYGOTE, LAUNCHER, WORKER = "grader-zygote", "grader-launcher", "grader-worker"


def name_process(name: str) -> None:
    """Call this process ``name`` (see ``ZYGOTE``) where the platform lets it; nothing otherwise."""
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(name)
    except OSError:
        pass


def steady_allocator() -> bool:
    """Fix glibc's mmap and trim thresholds in this process and every process it forks from now
    on; False where the C library is not glibc."""
    import ctypes
    import ctypes.util

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def _preload(facts: dict[str, Any]) -> None:
    """Import what every worker needs, torch apart; ``facts``: what the trusted side decided
    for this run (its measure of the sandbox), taken as given rather than found out again."""
    import numpy  # noqa: F401

    import grader.isolation.sandbox
    import grader.isolation.treewatch  # noqa: F401 - every launcher's (``_intermediate``)
    import grader.isolation.worker  # noqa: F401

    if facts.get("probe") is not None:  # every worker inherits it
        grader.isolation.sandbox.adopt_probe(facts["probe"])
    grader.isolation.sandbox.GROUP_OWNER = os.getpid()  # workers' cgroups are named after it
    # Loaded here, before the other zygotes are forked, whichever topic's bans name them:
    # every worker then shares them (scipy.special, which a student of any topic may import,
    # costs a worker that imports it some 0.1 s and 20 MB of its own). Finding a module imports
    # the packages above it: torch's are left to the torch zygote.
    calls = [p for p in facts.get("calls") or () if p.split(".")[0] != "torch"]
    profiles.preload_modules(profiles.modules_named(calls), facts.get("absent") or ())
    _settle(profiles.NUMPY, facts)


def _settle(name: str, facts: dict[str, Any]) -> None:
    """In the zygote of profile ``name``: note what code is the libraries' and the grader's,
    before any student code exists; plan the trip-wires of the workers whose modules are this
    zygote's (``profiles.PLANNED_IN``, ``_plan_wires``); then freeze the garbage collector's view
    of it all (workers then never walk it). No collection runs until then: the plans make tens
    of thousands of objects, and each collection they set off would walk torch's again."""
    from grader.isolation import audit

    gc.disable()
    try:
        audit.record_library()
        for plan in facts.get("plans") or ():
            if plan and profiles.PLANNED_IN.get(plan[0]) == name:
                _plan_wires({"banned": plan[1:]}, freeze=False)
                _ANNOUNCED.add(tuple(plan[1:]))
    finally:
        gc.enable()
    gc.collect()
    gc.freeze()


def _profile_zygotes(wanted: list[str], facts: dict[str, Any],
                     ) -> tuple[dict[str, socket.socket], list[int]]:
    """Fork the zygotes of the profiles ``wanted`` that are not the root's; a connection to
    each, once it is ready (see the module's docstring), and their pids."""
    need = [p for p in profiles.ALL if p != profiles.NUMPY and
            any(p in profiles.lineage(w) for w in wanted)]
    ends = {p: socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for p in need}
    ours = {p: pair[0] for p, pair in ends.items()}
    theirs = {p: pair[1] for p, pair in ends.items()}
    for name in need:
        if profiles.PARENT[name] == profiles.NUMPY and os.fork() == 0:
            for sock in ours.values():
                sock.close()
            _profile_zygote(name, theirs, facts)
    for sock in theirs.values():
        sock.close()
    pids = []
    for name, sock in ours.items():
        said = _read_exact(sock, _READY.size)
        if len(said) != _READY.size or said[:1] != b"r":
            raise RuntimeError(f"the {name} zygote failed to start")
        pids.append(_READY.unpack(said)[1])
    return ours, pids


_READY = struct.Struct("<cI")  # what a profile's zygote says once ready: b"r" and its pid


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n and (chunk := sock.recv(n - len(data))):
        data += chunk
    return data


def _profile_zygote(name: str, ends: dict[str, socket.socket], facts: dict[str, Any]) -> None:
    """A profile's zygote, from its fork to its exit: never returns. ``ends``: the sockets
    toward the root of this profile and of the profiles forked from it, and maybe others'."""
    global _PROFILE
    code = 0
    try:
        _die_with_parent()
        mine = ends[name]
        below = {p: s for p, s in ends.items() if name in profiles.lineage(p) and p != name}
        for p, sock in ends.items():
            if p != name and p not in below:
                sock.close()
        profiles.preload(name)
        _PROFILE = name
        if name == profiles.TORCH:
            from grader.isolation import dispatch

            # What workers will refuse in torch's dispatcher, worked out once for the course.
            dispatch.prepare(facts.get("ops") or ())
            # Torch's own, the rest being the root's; checked as the root's were (torch apart).
            profiles.preload_modules(profiles.modules_named(facts.get("calls") or ()),
                                     [a for a in facts.get("absent") or ()
                                      if a.split(".")[0] != "torch"])
        _settle(name, facts)
        for child, sock in below.items():
            if profiles.PARENT[child] == name and os.fork() == 0:
                mine.close()
                _profile_zygote(child, below, facts)
        for sock in below.values():
            sock.close()
        mine.sendall(_READY.pack(b"r", os.getpid()))
        _serve_requests(mine)
    except BaseException:
        code = 70
    finally:
        os._exit(code)


def _serve_requests(conn: socket.socket) -> None:
    """A profile zygote's loop: fork a worker per request passed on by the root, until the root
    goes away (then its launchers go too)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # A processes are reaped by the kernel
    launchers: list[int] = []
    while True:
        try:
            req = recv_request(conn)
        except (OSError, ValueError):
            req = None
        if req is None:
            _end_launchers(launchers)
            _wait_children()
            return
        config, fd = req
        pid = _spawn(config, fd, {conn.fileno()})
        launchers = [p for p in launchers if _alive(p)] + [pid]
        os.close(fd)


def recv_request(conn: socket.socket) -> tuple[dict[str, Any], int] | None:
    """One request: a length-prefixed JSON config with the worker's socket attached; None
    where the other side has closed the connection. The socket comes with the request's first
    bytes; the kernel may hand the rest over in later reads (a config of more than some 32 KB:
    a worker's read paths, where a banned library lies deep in a large folder), which are read
    here up to the request's length, and no further."""
    msg, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 1)
    if not msg:
        for fd in fds:
            os.close(fd)
        return None
    try:
        msg = _more(conn, msg, _LEN.size)
        (n,) = _LEN.unpack_from(msg)
        if n > MAX_REQUEST:
            raise ValueError(f"a spawn request of {n} bytes")
        msg = _more(conn, msg, _LEN.size + n)
        config = json.loads(msg[_LEN.size:_LEN.size + n])
        if len(fds) != 1:
            raise ValueError("a spawn request must carry exactly one socket")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return config, fds[0]


MAX_REQUEST = 64 << 20  # bytes of a request's config: far above any worker's


def _more(conn: socket.socket, msg: bytes, size: int) -> bytes:
    """``msg`` read on to ``size`` bytes; ValueError where the connection ends first."""
    msg += _read_exact(conn, size - len(msg)) if size > len(msg) else b""
    if len(msg) < size:
        raise ValueError("a spawn request cut short")
    return msg


def send_request(conn: socket.socket, config: dict[str, Any], fd: int) -> None:
    """Ask the zygote for a worker on socket ``fd``, whatever the size of ``config``. The zygote
    answers with the pid of its child, which nobody needs (the worker sends its own):
    ``drain_replies`` drops them later."""
    body = json.dumps(config).encode()
    data = _LEN.pack(len(body)) + body
    sent = socket.send_fds(conn, [data], [fd])  # the socket goes with the first bytes sent
    if sent < len(data):
        conn.sendall(data[sent:])


def drain_replies(conn: socket.socket) -> None:
    """Read and drop the zygote's replies to earlier requests, as far as they have come."""
    while True:
        try:
            if not conn.recv(4096, socket.MSG_DONTWAIT):
                raise ConnectionError("the zygote closed the connection")
        except BlockingIOError:
            return


def _plan_wires(config: dict[str, Any], freeze: bool = True) -> None:
    """Work out the trip-wires of workers of these bans here, once for every worker of the same
    bans (``tripwire.plan``), so that each only puts them in place. A plan that cannot be made is
    left to the worker, which then makes its own.

    The zygotes plan every kind of worker the run announced at start (``_settle``), before
    they fork one another: a plan's sweep reads every object of the modules it walks, which
    writes their reference counts, so a sweep made later would copy those pages in each zygote
    that shares them (some 20 MB a profile). Made here, at the first request, are only the
    plans of workers no one announced (a worker that has to load more drops it: ``_catch_up``)."""
    from grader.isolation import audit, tripwire

    try:
        made = tripwire.plan(tuple(config.get("banned") or ()), audit.LIBRARY_TYPES)
    except Exception:  # noqa: BLE001 - the worker sweeps for itself, with the same result
        return
    if made and freeze:
        gc.freeze()  # kept by every worker forked from here: their collections never walk it


def _spawn(config: dict[str, Any], fd: int, keep_open: set[int]) -> int:
    if config.get("profile", profiles.NUMPY) == _PROFILE:
        _plan_wires(config)
        # The files of what the worker goes without, found here once for every worker alike.
        from grader.isolation import sandbox, worker

        gone = worker.absent(tuple(config.get("libraries", ())),
                             tuple(config.get("unoffered", ())), config.get("student_dir", ""))[0]
        if gone:
            sandbox.module_files(gone)
    pid = os.fork()
    if pid:
        return pid
    name_process(LAUNCHER)
    launch = _Launch(fd)
    code = 0
    try:
        _intermediate(config, launch, keep_open)
    except BaseException as exc:  # report to the trusted side rather than die silently
        code = 70
        try:
            launch.fail(f"{type(exc).__name__}: {exc}")
        finally:
            os._exit(code)
    os._exit(code)


class _Launch:
    """What process A has told the trusted side, and where it reports a failure of its own.

    Before A has sent the worker's pid, a failure goes on the worker's socket (nothing of the
    student's has run yet, so it cannot be forged there); after, it goes to the fault file,
    which only the launcher can write.
    """

    def __init__(self, sock_fd: int) -> None:
        self.sock_fd = sock_fd
        self.spawned = False
        self.files: dict[str, int] = {}  # status, fault, memory: opened before the worker runs

    def open_files(self, config: dict[str, Any]) -> None:
        # Made now, before the worker runs, and written through these descriptors later: the
        # trusted side may remove the folder as soon as it is done with the worker, and a file
        # made after that would leave the folder behind.
        for name in ("status", "fault", "memory"):
            path = config.get(f"{name}_file")
            if path:
                self.files[name] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                                           | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)

    def write(self, name: str, data: bytes) -> None:
        fd = self.files.pop(name, -1)
        if fd >= 0:
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

    def fail(self, message: str) -> None:
        if not self.spawned:
            from grader.isolation import wire

            msg = wire.encode_message({"op": "spawn_failed", "message": message})
            os.write(self.sock_fd, wire.frame(msg))
        else:
            self.write("fault", message.encode()[:4096])
            self.write("status", str(70 << 8).encode())


# B's exit code when it could not start (the launcher writes why to the fault file).
WORKER_SETUP_FAILED = 71
# What B writes on its fault pipe just before the student's code first runs: a worker that
# ends without having written it (or a reason) ended before, through no doing of the student's.
STUDENT_CODE_STARTED = b"\0"


def _read_all(fd: int, limit: int = 4096) -> bytes:
    data = b""
    while len(data) < limit and (chunk := os.read(fd, limit)):
        data += chunk
    return data[:limit]


def _status_text(status: int, memory: int) -> str:
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        return f"killed by {name}" + (", over its memory limit" if memory else "")
    return f"exit code {os.WEXITSTATUS(status)}" if os.WIFEXITED(status) else f"status {status}"


def _intermediate(config: dict[str, Any], launch: _Launch, keep_open: set[int]) -> None:
    """Process A: namespaces, fork B, report B's pid, wait for B (watching its memory where no
    cgroup bounds it), then report how B ended."""
    from grader.isolation import sandbox, treewatch, wire

    fd = launch.sock_fd
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
    launch.open_files(config)
    policy = sandbox_policy(config) if config["sandbox"] else None
    if policy is not None:
        sandbox.enter_namespaces(policy)
    go_r, go_w = os.pipe()
    # B says here, not on its socket, why it could not start: the socket is the student's too
    # once their code runs, and a message on it is taken as theirs.
    fault_r, fault_w = os.pipe()
    child = os.fork()
    if child == 0:
        _run_worker(config, fd, policy, go_r, go_w, fault_r, fault_w, launch)
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
    launch.spawned = True
    os.write(go_w, b"x")
    os.close(go_w)
    os.close(fd)
    if policy is not None:
        verdict = treewatch.wait_watching(child, sandbox.memory_check(child))
        status, over = verdict.status, verdict.over
    else:
        _, status = os.waitpid(child, 0)
        over = 0
    # The cgroup goes once the last of B's processes has; the trusted side learns from here
    # whether the kernel (or the watch) killed any for going over the memory limit of them all.
    oom_kills = sandbox.leave_namespaces() if policy is not None else 0
    if (oom_kills or over) and policy is not None:
        launch.write("memory", json.dumps({"oom_kills": oom_kills, "over": over,
                                           "limit_mb": policy.limits.memory_mb}).encode())
    said = _read_all(fault_r)
    if said != STUDENT_CODE_STARTED:  # B failed before any student code ran: the grader's fault
        launch.write("fault", said or f"the worker ended before running the student's code "
                     f"({_status_text(status, over or oom_kills)})".encode())
    # The trusted side reads how the worker ended from here to explain a crash; written last.
    launch.write("status", str(status).encode())


def _run_worker(config: dict[str, Any], fd: int, policy: Any, go_r: int, go_w: int,
                fault_r: int, fault_w: int, launch: _Launch) -> None:
    """Process B, from its fork to its exit: never returns into the launcher's code."""
    code = 0
    fault = [fault_w]
    try:
        name_process(WORKER)
        os.close(go_w)
        os.close(fault_r)
        for other in launch.files.values():
            os.close(other)
        os.read(go_r, 1)  # wait until A has told the trusted side our pid
        os.close(go_r)
        _worker(config, fd, policy, fault)
    except BaseException as exc:
        code = WORKER_SETUP_FAILED
        if fault[0] >= 0:  # before any student code: the grader's own failure, said as such
            try:
                os.write(fault[0], f"the worker could not start: {type(exc).__name__}: "
                                   f"{exc}".encode()[:4096])
            except BaseException:
                pass
    finally:
        os._exit(code)


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
    listed = tuple(p.get("list_paths", ()))
    if not limits.gpu:
        return sandbox.Policy(read_paths=tuple(p["read_paths"]),
                              write_paths=tuple(p["write_paths"]), limits=limits,
                              list_paths=listed)
    # A GPU worker drives the NVIDIA devices itself; CUDA starts in it after restrict().
    return sandbox.Policy(read_paths=(*p["read_paths"], *sandbox.gpu_read_paths()),
                          write_paths=tuple(p["write_paths"]), limits=limits,
                          devices=sandbox.gpu_device_paths(), list_paths=listed)


def _worker(config: dict[str, Any], fd: int, policy: Any, fault: list[int]) -> None:
    """Process B: close everything but the socket, apply the sandbox, serve the student's module.

    ``fault``: the pipe to the launcher, open until just before the student's code first runs;
    an exception raised while it is open is the grader's failure, not the student's.
    """
    from grader.isolation import sandbox, worker

    os.chdir(config["workdir"])
    os.environ.clear()
    # A user's name for getpass.getuser(), which libraries call (torch's caches): the worker's
    # uid is one no /etc/passwd names, and without LOGNAME it raises instead.
    os.environ.update({"HOME": config["workdir"], "TMPDIR": config["workdir"], "LANG": "C.UTF-8",
                       "LOGNAME": "student", "USER": "student", **THREAD_ENV,
                       "PYTHONHASHSEED": "0"})
    import tempfile

    tempfile.tempdir = config["workdir"]
    _catch_up(config)
    torch = sys.modules.get("torch")  # not in a zygote of the numpy profile
    if torch is not None:
        torch.set_num_threads(1)
    sock = socket.socket(fileno=fd)
    if policy is not None:
        try:
            sandbox.restrict(policy)
        except Exception as exc:
            raise RuntimeError(f"the sandbox could not be applied: {exc}") from None
    # Nothing but the socket, the fault pipe and stdio stays open for student code (the
    # sandbox has closed the descriptors it needed by now); the worker closes the pipe itself.
    keep = sorted({fd, fault[0]} - {-1})
    low = 3
    for k in keep:
        os.closerange(low, k)
        low = k + 1
    os.closerange(low, 1 << 16)

    def student_code_starts() -> None:
        os.write(fault[0], STUDENT_CODE_STARTED)
        os.close(fault[0])
        fault[0] = -1

    worker.serve(sock, config["module_name"], config["module_path"], config["student_dir"],
                 config["generation"], config["max_reply_bytes"],
                 tuple(config.get("banned", ())), ops=tuple(config.get("ops", ())),
                 libraries=tuple(config.get("libraries", ())),
                 unoffered=tuple(config.get("unoffered", ())), gpu=bool(config.get("gpu")),
                 before_student_code=student_code_starts)
    sys.stdout.flush()


def _catch_up(config: dict[str, Any]) -> None:
    """In a worker whose bans the run did not announce at start (``_settle``), before the sandbox
    and any student code: do what its zygote would have done. Where its profile's zygote was not
    started, it is forked from the nearest zygote above: import what the zygotes between add.
    Then load the modules its banned calls name (``profiles.modules_named``). What that loads is
    noted as the libraries', and a plan its zygote made without it is dropped: the worker then
    plans its own trip-wires, with everything loaded."""
    from grader.isolation import audit, tripwire

    chain = profiles.lineage(config.get("profile", profiles.NUMPY))
    behind = chain[chain.index(_PROFILE) + 1:] if _PROFILE in chain else []
    banned = tuple(config.get("banned") or ())
    if not behind and banned in _ANNOUNCED:
        return  # its zygote did all this
    loaded = len(sys.modules)
    for name in behind:
        profiles.preload(name)
    profiles.preload_modules(profiles.modules_named(banned), config.get("libraries") or ())
    if len(sys.modules) != loaded:
        audit.record_library()
        tripwire.drop_plan(banned)


def serve(path: str, root: str | None = None,
          zygotes: dict[str, socket.socket] | None = None, pids: tuple[int, ...] = ()) -> None:
    """Accept connections on the unix socket ``path``; fork a worker per request, or pass it on
    to the zygote of its profile (``zygotes``). ``root``: the grading run's temporary folder,
    removed here if the trusted side goes away first."""
    zygotes = zygotes or {}
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # Bound relative to the folder the zygote runs in: a path under a long TMPDIR can be longer
    # than a unix socket's address allows (108 bytes).
    os.chdir(os.path.dirname(path) or ".")
    srv.bind(os.path.basename(path))
    srv.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # A processes are reaped by the kernel
    conns: list[socket.socket] = []
    launchers: list[int] = []
    print("ready", *pids, flush=True)  # the profile zygotes' pids: processes that stay
    while True:
        readable: list[Any] = select.select([srv, sys.stdin, *conns], [], [])[0]
        for r in readable:
            if r is sys.stdin:
                if not os.read(0, 1):  # the trusted side is done, or went away (killed)
                    for conn in zygotes.values():
                        conn.close()  # each ends its launchers and exits
                    _end_launchers(launchers)
                    _wait_children()
                    # Every zygote's launchers are gone now, and with them whatever was making
                    # a group: those left are removed here, for no one else will when the
                    # trusted side was killed (swept before, a group a launcher of another
                    # zygote was making as the root swept would stay).
                    from grader.isolation import cgroup, sandbox

                    cgroup.sweep(sandbox.GROUP_OWNER or os.getpid())
                    if root:
                        _remove(root)
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
                # Its profile's zygote; where the run did not start that one, the nearest
                # above it, whose worker then catches up (``_catch_up``).
                zygote = next((zygotes[p] for p in reversed(profiles.lineage(
                    config.get("profile", profiles.NUMPY))) if p in zygotes), None)
                if zygote is not None:
                    try:
                        send_request(zygote, config, fd)
                        pid = 0
                    except OSError:  # that zygote is gone: the worker never starts
                        pid = -1
                else:
                    keep = {srv.fileno(), *(c.fileno() for c in conns),
                            *(c.fileno() for c in zygotes.values())}
                    keep.discard(fd)
                    pid = _spawn(config, fd, keep)
                    launchers = [p for p in launchers if _alive(p)] + [pid]
                os.close(fd)
                r.sendall(json.dumps({"pid": pid}).encode() + b"\n")


def _remove(root: str, limit_s: float = 2.0) -> None:
    """Remove the run's folder. A file made in it while it is removed (by a process of the
    trusted side that has not ended yet) leaves its folder behind: removed again, for a while."""
    end = time.monotonic() + limit_s
    while True:
        shutil.rmtree(root, ignore_errors=True)
        if not os.path.lexists(root) or time.monotonic() > end:
            return
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _wait_children() -> None:
    """Return once every child of this zygote has ended: its launchers (killed) and the zygotes
    it forked (each ends when the root closes its connection). A zygote that left them behind
    would leave them to whatever process adopts orphans here, which may reap them late or
    never: the trusted side waits for the whole process group to be gone before it removes the
    cgroups (``cgroup.sweep``). SIGCHLD is ignored, so the kernel reaps each one."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def _end_launchers(launchers: list[int]) -> None:
    """Kill the launchers: their workers die with them."""
    for pid in launchers:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def spawned(port: int) -> None:
    """A worker started as a fresh interpreter (no fork here): connect back, then serve."""
    from grader.isolation import wire, worker

    name_process(WORKER)
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
    from grader.isolation import audit
    # Nothing is preloaded in a fresh interpreter; what a profile takes away must be taken now.
    if config.get("profile") == profiles.NO_AUTOGRAD:
        for name in profiles.lineage(profiles.NO_AUTOGRAD)[1:]:
            profiles.preload(name)
    audit.record_library()
    worker.serve(sock, config["module_name"], config["module_path"], config["student_dir"],
                 config["generation"], config["max_reply_bytes"],
                 tuple(config.get("banned", ())), ops=tuple(config.get("ops", ())),
                 libraries=tuple(config.get("libraries", ())),
                 unoffered=tuple(config.get("unoffered", ())))


def main() -> None:
    steady_allocator()
    if sys.argv[1] == "--spawn":
        spawned(int(sys.argv[2]))
        return
    name_process(ZYGOTE)
    os.environ.update(THREAD_ENV)
    facts = json.loads(sys.stdin.buffer.readline() or b"{}")
    _preload(facts)
    zygotes, pids = _profile_zygotes(list(facts.get("profiles") or [profiles.TORCH]), facts)
    serve(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None, zygotes, tuple(pids))
    os._exit(0)  # nothing left to flush or finalise: the trusted side waits for this exit


if __name__ == "__main__":
    main()
