"""The trusted side of a worker: spawning it, calling into it with deadlines, killing it.

Nothing here executes student code. Calls go over the wire as data; replies are decoded with
bounded limits. Deadlines are enforced from outside: when a call runs past its time the worker's
whole PID namespace is killed with SIGKILL and a fresh worker serves the next call.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from grader.checks import unpacking
from grader.errors import GraderError
from grader.grading import encoding, replies
from grader.isolation import cgroup, sandbox, wire
from grader.isolation import profiles as isolation_profiles
from grader.isolation.zygote import THREAD_ENV, drain_replies, send_request

# How much of the student's printed output is kept per test.
MAX_OUTPUT = 16 * 1024
# Replies are read in chunks of up to this size; larger ones go straight into their own buffer.
MAX_TIMEOUTS_PER_FUNCTION = 2
# How long closing waits to learn the pid of a worker launched ahead and never used.
SPAWN_WAIT = 10.0


class StudentError(Exception):
    """The student's code raised an exception during a call."""

    def __init__(self, function: str, type_name: str, message: str, traceback: str,
                 mro: tuple[str, ...]) -> None:
        super().__init__(f"{function} raised {type_name}: {message}")
        self.function = function
        self.type_name = type_name
        self.message = message
        self.traceback = traceback
        self.mro = mro


class ImportFailed(Exception):
    """The student's module could not be imported; every later call fails the same way at once."""

    def __init__(self, module: str, kind: str, message: str, traceback: str = "") -> None:
        super().__init__(message)
        self.module = module
        self.kind = kind  # not_submitted | syntax | exception | banned | exit | timeout | crash
        self.message = message
        self.traceback = traceback


class BannedCallError(Exception):
    """The student's code called a banned API (a trip-wire in the worker fired), whether or not
    it caught the exception that the call raised there."""

    def __init__(self, function: str, calls: list[dict[str, Any]]) -> None:
        self.function = function
        self.calls = calls
        super().__init__("\n".join(describe_banned_call(c) for c in calls))


def describe_banned_call(call: dict[str, Any]) -> str:
    where = f"{call['file']}, line {call['line']}" if call.get("line") else \
        "a function of your module" if call["file"] == "your code" else str(call["file"])
    return (f"{call['name']} is not allowed here ({where}): "
            "write it with basic array operations instead")


def refusal_texts(calls: list[dict[str, Any]]) -> set[str]:
    """The texts with which a worker refuses the checked banned ``calls``, as
    ``grader.isolation.tripwire`` (a function, class or module) and the dispatcher (an
    operator) word them: made here from the checked name and place, so that none of them
    carries anything the student's code chose beyond what the description shows anyway."""
    out: set[str] = set()
    for c in calls:
        name, file, line = c["name"], c["file"], c["line"]
        if name == "a banned function":
            continue
        out |= {f"{name} is not allowed here ({file}, line {line})",
                f"{name} is not allowed here ({file})", f"{name} is not allowed in this exercise"}
    return out


def banned_calls(reply: dict[str, Any], spec: "WorkerSpec | None" = None) -> list[dict[str, Any]]:
    """The trip-wire firings a worker reported, checked: the reply is the student's to shape.
    With ``spec``, a name that no banned pattern covers and a file that is not one of the
    submission's are told as "a banned function" and "your code": their text is not carried."""
    from grader.isolation.dispatch import GRADIENT_OPERATORS
    from grader.isolation.dispatch import matches as operator_matches
    from grader.isolation.tripwire import ALWAYS, matches

    raw = reply.get("banned")
    out: list[dict[str, Any]] = []
    # The operators the worker refuses: its topic's, and where its profile takes autograd away,
    # those that only compute a gradient (refused in that profile's zygote).
    ops = (*spec.ops, *(GRADIENT_OPERATORS if spec.profile == isolation_profiles.NO_AUTOGRAD
                        else ())) if spec is not None else ()
    for c in raw if isinstance(raw, list) else []:
        if isinstance(c, dict) and isinstance(c.get("name"), str) and \
                isinstance(c.get("file"), str) and type(c.get("line")) is int:
            name, file = c["name"][:200], c["file"][:200]
            if spec is not None:
                if not any(matches(name, p) for p in (*spec.banned, *ALWAYS)) and \
                        not any(operator_matches(name, p) for p in ops):
                    name = "a banned function"
                if file != THREAD_ORIGIN and not _submitted_file(spec.student_dir, file):
                    file = "your code"
            out.append({"name": name, "file": file, "line": c["line"]})
    return out[:20]


# How the trusted side tells each route of run-time code (``grader.isolation.audit.ROUTES``).
RUNTIME_ROUTES = {
    "string": "a string run as code (exec, eval or compile)",
    "tree": "a syntax tree compiled at run time",
    "code": "a code object run at run time (marshal, or code taken from elsewhere)",
    "function": "a function made from a code object (types.FunctionType)",
    "module": "a module made at run time (importlib, from something other than a file)",
}
MAX_RUNTIME_TEXT = 128 * 1024  # of one piece of run-time code, as kept


@dataclass(frozen=True)
class RuntimeCode:
    """Code the student's module built and ran at run time, as the worker reported it."""

    route: str  # a key of RUNTIME_ROUTES
    line: int  # in the student's module, 0 where not known
    text: str  # its source, or its listing (grader.isolation.codelisting), or ""


def executed_at(reply: dict[str, Any]) -> list[RuntimeCode]:
    """The code the worker's audit hook saw the student's module build and run. The reply is
    the student's to shape: a route is one of ours or dropped, text is bounded."""
    raw = reply.get("executed")
    out: list[RuntimeCode] = []
    for item in raw[:80] if isinstance(raw, list) else []:
        if isinstance(item, list) and len(item) == 3 and item[0] in RUNTIME_ROUTES and \
                type(item[1]) is int and isinstance(item[2], str):
            out.append(RuntimeCode(item[0], max(item[1], 0), item[2][:MAX_RUNTIME_TEXT]))
    return out


THREAD_ORIGIN = "a thread your code started"  # the trip-wire's place for a thread's call


def _submitted_file(folder: str, name: str) -> bool:
    return os.path.basename(name) == name and name.endswith(".py") and \
        os.path.isfile(os.path.join(folder, name))


def _not_python_text(spec: "WorkerSpec", traceback: str) -> str:
    """Why the student's module, or a file staged beside it that the syntax error's
    ``traceback`` names (or any, where it names none), is not text Python reads: what it is
    instead, and the file's name where it is not the module; "" where each is. Read from the
    files' bytes, on a syntax error only: that is how Python reports such a file."""
    paths = [spec.module_path] if spec.module_path else []
    with contextlib.suppress(OSError):
        paths += sorted(p for n in os.listdir(spec.student_dir)
                        if n.endswith(".py") and (p := os.path.join(spec.student_dir, n))
                        not in paths and (not traceback.strip() or f"{os.sep}{n}\"" in traceback))
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read(encoding.MAX_READ)
        except OSError:
            continue
        if why := encoding.not_python_text(data):
            return why if path == spec.module_path else f"{os.path.basename(path)}, which it " \
                f"imports: {why}"
    return ""


def worker_strings(value: Any, depth: int = 0, limit: int = 2000) -> set[str]:
    """The strings in ``value``, as sent by a worker: str values and dict keys, and the type
    names of handles (a class's name is the student's to choose)."""
    out: set[str] = set()
    todo: list[tuple[Any, int]] = [(value, depth)]
    seen = 0
    while todo and len(out) < limit and seen < 100_000:
        v, d = todo.pop()
        seen += 1
        if isinstance(v, str):
            if v:
                out.add(v)
        elif isinstance(v, wire.Handle):
            out.add(v.type_name)
        elif d < 8 and isinstance(v, dict):
            todo.extend((x, d + 1) for kv in v.items() for x in kv)
        elif d < 8 and isinstance(v, (list, tuple)) and len(v) <= 10_000:
            todo.extend((x, d + 1) for x in v)
    return out


class WorkerGone(Exception):
    """The worker stopped answering: it crashed or ran out of time."""


class WorkerCrashed(WorkerGone):
    pass


class WorkerTimeout(WorkerGone):
    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds
        # What running out of time means in the test that called, where the test knows better
        # than "an infinite loop" (``grader.checks.gradcheck.beyond_differences``).
        self.hint = ""


class GraderFault(GraderError):
    """Something on the grader's side broke (not the student's fault)."""


def connect_unix(path: str) -> socket.socket:
    """A connection to the unix socket at ``path``, however long the path: one longer than a
    socket address allows (108 bytes) is reached through its folder's descriptor."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if len(os.fsencode(path)) < 100 or not os.path.isdir("/proc/self/fd"):
            conn.connect(path)
            return conn
        folder = os.open(os.path.dirname(path), os.O_PATH)
        try:
            conn.connect(f"/proc/self/fd/{folder}/{os.path.basename(path)}")
        finally:
            os.close(folder)
    except BaseException:
        conn.close()
        raise
    return conn


def remove_tree(path: str, wait_s: float = 2.0) -> bool:
    """Remove a temporary folder, trying again while processes that are being killed (a
    worker's children) may still write into it; whether it is gone."""
    end = time.monotonic() + wait_s
    while True:
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path) or time.monotonic() >= end:
            return not os.path.lexists(path)
        time.sleep(0.01)


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker serves and how it is confined."""

    module_name: str
    module_path: str | None  # None: the student did not submit this module
    student_dir: str
    sandbox: bool
    read_paths: tuple[str, ...] = ()
    limits: dict[str, int] = field(default_factory=dict)
    max_reply_bytes: int = 256 * 1024 * 1024
    banned: tuple[str, ...] = ()  # grading.toml's [banned] calls, wired in the worker
    ops: tuple[str, ...] = ()  # [banned] ops: operators refused in torch's dispatcher
    # The modules the worker goes without: not importable, their files not readable
    # (the topic's [banned] libraries and what its profile leaves out).
    libraries: tuple[str, ...] = ()
    # The packages installed beside the grader that the course does not offer (course.toml):
    # refused to the worker as its banned libraries are, but for what its zygote loaded.
    unoffered: tuple[str, ...] = ()
    profile: str = isolation_profiles.TORCH  # the zygote it is forked from
    tmp_dir: str | None = None  # where the worker's folders go (default: tempfile's)


class Zygote:
    """A running zygote process (see ``grader.isolation.zygote``) and the way to reach it."""

    # Each worker's launcher writes how the worker ended (its status file), last of all.
    writes_status = True

    def __init__(self, python: str | None = None, *, wait: bool = True,
                 root: str | None = None, sandboxed: bool = True,
                 ops: tuple[str, ...] = (),
                 profiles: tuple[str, ...] = (isolation_profiles.TORCH,),
                 calls: tuple[str, ...] = (), absent: tuple[str, ...] = (),
                 plans: tuple[tuple[str, ...], ...] = ()) -> None:
        """Start the zygote; with ``wait=False`` its start overlaps the caller's own work until
        ``wait_ready`` (it imports torch too, which is most of either start). ``root``: the
        grading run's temporary folder, which holds the zygote's and which the zygote removes
        if the trusted side dies without doing so. ``sandboxed``: whether its workers will be;
        the zygote then takes this process's measure of the sandbox (``sandbox.probe``).
        ``ops``: every ``[banned] ops`` pattern of the course, worked out once by the zygote.
        ``profiles``: the ban profiles whose zygotes to start (``grader.isolation.profiles``);
        a worker of another profile cannot be had from it. ``calls``: the course's banned calls,
        whose modules the zygotes load (``profiles.modules_named``); ``absent``: every library
        a topic bans, which no zygote may load. ``plans``: a profile followed by the banned
        calls of a worker of that profile, for each kind of worker the run will ask for: the
        zygotes plan their trip-wires at start (``tripwire.plan``)."""
        import subprocess
        import sys

        # What the zygote is told rather than finds out for itself: decided once, here.
        facts = {"probe": sandbox.probe_report() if sandboxed else None, "ops": list(ops),
                 "profiles": list(profiles), "calls": list(calls), "absent": list(absent),
                 "plans": [list(p) for p in plans]}

        self.dir = tempfile.mkdtemp(prefix="grader-zygote-", dir=root)
        self.path = os.path.join(self.dir, "zygote.sock")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **THREAD_ENV,
               "LANG": "C.UTF-8", "HOME": self.dir, "TMPDIR": root or self.dir}
        if "PYTHONPATH" in os.environ:  # how this interpreter found the grader, if not installed
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        self.proc = subprocess.Popen(
            [python or sys.executable, "-m", "grader.isolation.zygote", self.path,
             root or self.dir],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=self.dir,
            start_new_session=True)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(facts).encode() + b"\n")
        self.proc.stdin.flush()
        self._owner = os.getpid()  # the process whose close ends the zygote
        self._conn: socket.socket | None = None
        self._conn_pid = -1
        self._ready = False
        self.profile_pids: tuple[int, ...] = ()
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        if self._ready:
            return
        assert self.proc.stdout is not None
        words = self.proc.stdout.readline().split()
        if not words or words[0] != b"ready":
            self.close()
            raise GraderFault("the worker zygote failed to start")
        # The zygotes of the other ban profiles, forked by this one: they live as long as it.
        self.profile_pids = tuple(int(w) for w in words[1:])
        self._ready = True

    def launch(self, config: dict[str, Any]) -> socket.socket:
        """A new sandboxed worker (forked by the zygote); returns the socket to talk to it."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # The reply (the pid of the zygote's child) is not needed: the worker sends its own
            # pid on its socket, so this process goes on while the zygote forks.
            conn = self.connect()
            drain_replies(conn)
            send_request(conn, config, theirs.fileno())
        except OSError as exc:
            ours.close()
            raise GraderFault(f"the worker zygote is gone ({exc})") from None
        finally:
            theirs.close()
        return ours

    def kill(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def leave(self) -> None:
        """In a process forked from the one that started the zygote: let go of the root's stdin,
        so that the starter's ``close`` ends the zygotes in order without waiting for this one."""
        if self.proc.stdin is not None and self._owner != os.getpid():
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def connect(self) -> socket.socket:
        # One connection per process: a forked trusted child must not share its parent's.
        if self._conn is None or self._conn_pid != os.getpid():
            self._conn = connect_unix(self.path)
            self._conn_pid = os.getpid()
        return self._conn

    # How long ``close`` lets the zygotes end in order before it kills them all.
    CLOSE_WAIT_S = 5.0

    def close(self) -> None:
        """End the zygotes and every worker: in order where they can (closing the root's stdin,
        each zygote ends its launchers and waits for the zygotes it forked), else killed. Killed
        at once, the zygotes forked by the root would be orphans left for the machine's init to
        reap, which can take a second or more (or forever, in a container whose PID 1 reaps
        nothing), and ``cgroup.sweep`` waits for the process group to be gone."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=self.CLOSE_WAIT_S)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        # Workers die with the zygote; the cgroups their launchers had no time to remove go here.
        cgroup.sweep(self.proc.pid)
        remove_tree(self.dir)


class Spawner:
    """Workers as fresh interpreters, for platforms without fork (Windows): slower, no sandbox.

    Each worker connects back over loopback TCP and proves itself with a one-time token.
    """

    writes_status = False  # no launcher: nothing says how a worker ended

    def __init__(self, python: str | None = None) -> None:
        import sys

        self.python = python or sys.executable
        self.procs: dict[int, Any] = {}

    def launch(self, config: dict[str, Any]) -> socket.socket:
        import json
        import secrets
        import subprocess

        token = secrets.token_hex(16)
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(120)
            port = listener.getsockname()[1]
            env = {**os.environ, **THREAD_ENV}
            proc = subprocess.Popen(
                [self.python, "-m", "grader.isolation.zygote", "--spawn", str(port)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env=env, cwd=config["workdir"])
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({**config, "token": token}).encode())
            proc.stdin.close()
            while True:
                try:
                    conn, _ = listener.accept()
                except socket.timeout:
                    proc.kill()
                    raise GraderFault("a worker process did not start within 120 s") from None
                conn.settimeout(10)
                try:
                    got = conn.recv(len(token) + 1)
                except OSError:
                    got = b""
                if got == token.encode() + b"\n":
                    conn.settimeout(None)
                    self.procs[proc.pid] = proc
                    return conn
                conn.close()  # someone else on this machine: ignore

    def kill(self, pid: int) -> None:
        proc = self.procs.pop(pid, None)
        if proc is not None:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        for pid in list(self.procs):
            self.kill(pid)


class Worker:
    """One live worker process serving one student module."""

    def __init__(self, zygote: "Zygote | Spawner", spec: WorkerSpec, generation: int,
                 deadline: float | None) -> None:
        """Launch a worker; with a ``deadline``, wait until it has started (``started``), else
        leave that for later, so that the worker starts while this process does other work."""
        self.launcher = zygote
        self.spec = spec
        self.generation = generation
        # Whether this worker grades on the GPU, as the trusted side decided: tensors travel
        # on ``cuda`` both ways then, and only then.
        self.gpu = bool(spec.limits.get("gpu"))
        self.devices = wire.Devices(cuda=self.gpu)
        # The worker may write only in workdir. Its output file and exit status live in a
        # separate folder it cannot reach (it gets the output as an open descriptor), so it can
        # neither plant a link there for the trusted side to follow nor fake its exit status.
        self.workdir = tempfile.mkdtemp(prefix="grader-worker-", dir=spec.tmp_dir)
        self.private = tempfile.mkdtemp(prefix="grader-private-", dir=spec.tmp_dir)
        self.output_path = os.path.join(self.private, "output")
        # Created here and read through this descriptor; the launcher appends to the same file.
        self._out_fd = os.open(self.output_path, os.O_RDONLY | os.O_CREAT | os.O_EXCL
                               | getattr(os, "O_NOFOLLOW", 0), 0o600)
        self._out_pos = 0
        self.pid = -1
        self.kill_reason = ""  # set where the trusted side kills the worker for a reason
        config = {
            "module_name": spec.module_name, "module_path": spec.module_path,
            "student_dir": spec.student_dir, "workdir": self.workdir,
            "output_file": self.output_path, "status_file": os.path.join(self.private, "exit"),
            "fault_file": os.path.join(self.private, "fault"),
            "memory_file": os.path.join(self.private, "memory"),
            "sandbox": spec.sandbox, "generation": generation, "gpu": self.gpu,
            "max_reply_bytes": spec.max_reply_bytes, "banned": list(spec.banned),
            "ops": list(spec.ops), "libraries": list(spec.libraries),
            "unoffered": list(spec.unoffered), "profile": spec.profile,
            "policy": {"read_paths": [*sandbox.readable(spec.read_paths, spec.libraries),
                                      spec.student_dir],
                       "list_paths": list(sandbox.listable(spec.read_paths, spec.libraries)),
                       "write_paths": [self.workdir], "limits": spec.limits},
        }
        self.sock: Any = None
        self._spawned = False
        try:
            self.sock = zygote.launch(config)
            self._reader = wire.FrameReader(self.sock)
            if deadline is not None:
                self.started(deadline)
        except BaseException:
            self.close()
            raise

    def forget(self) -> None:
        """Close this process's descriptors of a worker that a forked child now owns."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self._out_fd >= 0:
            os.close(self._out_fd)
            self._out_fd = -1

    def started(self, deadline: float) -> None:
        """Wait for the launcher's word that the worker process exists (its pid)."""
        if self._spawned:
            return
        self._spawned = True
        try:
            meta, _ = self._recv(deadline, "starting the worker")
            if meta.get("op") != "spawned":
                raise GraderFault(f"the worker could not start: {meta.get('message', meta)}")
            self.pid = int(meta["pid"])
        except BaseException:
            self.close()
            raise

    # -- I/O with deadlines --------------------------------------------------------------------

    def _wait(self, deadline: float, doing: str) -> None:
        """Until the worker has bytes for us; a timeout kills it."""
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self.sock], [], [], left)[0]:
            self.kill()
            raise WorkerTimeout(f"{doing} did not finish within the time limit", left)

    def _died(self, doing: str) -> WorkerCrashed:
        status = self._exit_status()
        self.kill()
        if self.kill_reason:  # the trusted side ended it, and says why
            return WorkerCrashed(f"the worker process was stopped while {doing}: "
                                 f"{self.kill_reason}")
        return WorkerCrashed(f"the worker process died while {doing}{status}")

    def _read_exact(self, n: int, deadline: float, doing: str) -> bytearray:
        try:
            return self._reader.read_exact(n, lambda: self._wait(deadline, doing))
        except EOFError:
            raise self._died(doing) from None

    def _recv(self, deadline: float, doing: str,
              budget: tuple[str, int] | None = None) -> tuple[dict[str, Any], Any]:
        """The next message; ``budget`` (function, elements): a reply frame too large to hold
        that many elements is refused before its bytes are read, and the worker killed."""
        prefix = self._read_exact(wire.FRAME_HEADER_SIZE, deadline, doing)
        try:
            n = wire.frame_length(prefix)
        except wire.WireError as exc:
            self.kill()
            raise WorkerCrashed(f"{doing}: {exc}") from None
        if budget is not None and n > replies.byte_budget(budget[1]):
            self.kill()
            raise replies.too_large(budget[0], n, budget[1])
        data = self._read_exact(n, deadline, doing)
        try:
            return wire.decode_message(data, tensor_device=self.devices)
        except wire.WireError as exc:
            self.kill()
            raise WorkerCrashed(f"{doing}: the worker sent a malformed reply ({exc})") from None

    def send(self, meta: dict[str, Any], value: Any = None, deadline: float | None = None,
             doing: str = "sending a call") -> None:
        try:
            data = wire.encode_message(meta, value, devices=self.devices, framed=True)
        except wire.WireError as exc:
            raise GraderFault(f"the grader could not send this call to the worker: {exc}") \
                from None
        try:
            if deadline is None:
                self.sock.sendall(data)
            else:
                self._send_within(data, deadline, doing)
        except OSError:
            status = self._exit_status()
            self.kill()
            raise WorkerCrashed(f"the worker process is gone{status}") from None

    def _send_within(self, data: bytes, deadline: float, doing: str) -> None:
        """Send ``data`` by ``deadline``: a worker that stops reading its socket would hold a
        blocking send (and the whole grading session) once the socket's buffer is full."""
        view = memoryview(data)
        left = 0.0
        try:
            while view:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.sock.settimeout(left)  # each send waits at most until the deadline
                view = view[self.sock.send(view):]
        except TimeoutError:
            self.kill()
            raise WorkerTimeout(f"{doing} did not finish within the time limit (the worker "
                                "stopped reading what it was sent)", left) from None
        self.sock.settimeout(None)

    def request(self, meta: dict[str, Any], value: Any, deadline: float,
                doing: str, budget: int | None = None) -> tuple[dict[str, Any], Any]:
        self.send(meta, value, deadline, doing)
        return self._recv(deadline, doing, None if budget is None else (str(meta.get("fn")), budget))

    def read_output(self) -> str:
        """What the student printed since the last read (capped), also after the worker died."""
        if self._out_fd < 0:
            return ""
        try:
            end = os.fstat(self._out_fd).st_size
            if end <= self._out_pos:
                return ""
            data = os.pread(self._out_fd, MAX_OUTPUT, self._out_pos)
        except OSError:
            return ""
        text = data.decode("utf-8", "replace")
        more = end - self._out_pos - len(data)
        self._out_pos = max(end, self._out_pos + len(data))
        if more > 0:
            text += f"\n[output cut: {more} more bytes]"
        return text

    def kill(self) -> None:
        """Kill the worker; sandboxed, it is PID 1 of its namespace, so everything in it dies."""
        if self.pid > 0:
            self.launcher.kill(self.pid)
            self.pid = -1
        if self.sock is not None:
            self.sock.close()

    def _ended_status(self, wait_s: float) -> int | None:
        """B's wait status as the launcher wrote it once B was gone (the last thing it writes),
        waiting up to ``wait_s`` for it; None where it has not come."""
        path = os.path.join(self.private, "exit")
        end = time.monotonic() + wait_s
        while True:
            try:
                with open(path) as f:
                    text = f.read().strip()
            except OSError:
                text = ""
            if text or time.monotonic() >= end:
                break
            time.sleep(0.005)
        try:
            return int(text)
        except ValueError:
            return None

    def _exit_status(self) -> str:
        status = self._ended_status(0.5)
        if status is None and self._ended():
            # B is gone, or a zombie its launcher has yet to reap: on a busy machine the
            # launcher writes how it ended a little later, and the message should say it.
            status = self._ended_status(5.0)
        if status is None:
            return ""
        if os.WIFSIGNALED(status):
            return f" (killed by {signal.Signals(os.WTERMSIG(status)).name}{self._memory_note()})"
        if os.WIFEXITED(status):
            return f" (exit code {os.WEXITSTATUS(status)})"
        return ""

    def _ended(self) -> bool:
        """Whether B's process has ended: gone, or a zombie (its launcher has not reaped it)."""
        if self.pid <= 0 or not self.launcher.writes_status:
            return False
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
        except (OSError, IndexError):
            return True

    def _memory_note(self) -> str:
        # Written by the launcher before the exit status when the kernel (or the launcher's
        # watch, where there is no cgroup) killed processes of the worker for going over the
        # memory limit of them all.
        try:
            with open(os.path.join(self.private, "memory")) as f:
                limit = int(json.load(f)["limit_mb"])
        except (OSError, ValueError, KeyError, TypeError):
            return ""
        return f": your code used more than {limit} MB in all its processes together"

    def fault(self, wait_s: float = 5.0) -> str:
        """Why the worker could not start, as the launcher wrote it (after the worker ended)
        where the worker cannot write; "" when nothing failed before the student's code ran.
        Kills the worker."""
        self.kill()
        self._ended_status(wait_s)  # the fault is written before the status
        try:
            with open(os.path.join(self.private, "fault"), "rb") as f:
                return f.read(4096).decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self) -> None:
        if not self._spawned and self.sock is not None:
            # Launched and never used: learn its pid so that it is killed, not left running.
            with contextlib.suppress(Exception):
                self.started(time.monotonic() + SPAWN_WAIT)
        if self.pid > 0:
            try:  # never waits: a worker that stops reading is killed below anyway
                self.sock.settimeout(0)
                self.sock.send(wire.frame(wire.encode_message({"op": "bye"})))
            except OSError:
                pass
        self.kill()
        if self._out_fd >= 0:
            os.close(self._out_fd)
            self._out_fd = -1
        remove_tree(self.workdir)
        remove_tree(self.private)



class StudentModule:
    """A student module in a worker, restarted after a crash or timeout, for one grading run."""

    def __init__(self, zygote: "Zygote | Spawner", spec: WorkerSpec, *,
                 launched: "Worker | None" = None) -> None:
        """``launched``: a worker already launched for ``spec`` (e.g. by the engine before it
        forked this process), used for the first call."""
        self.zygote = zygote
        self.spec = spec
        self.worker: Worker | None = None
        self.generation = 0
        self.import_failure: ImportFailed | None = None
        # Functions that ran out of time this often fail at once afterwards, so one infinite loop
        # does not cost its time limit in every test that calls it.
        self.timeouts: dict[str, int] = {}
        self.import_warnings: list[tuple[str, str]] = []
        self.import_banned: list[dict[str, Any]] = []  # banned calls made while importing
        self.import_executed: list[RuntimeCode] = []  # code built and run while importing
        self._last_output = ""
        self._launched: Worker | None = launched  # prestarted, not yet used
        if launched is not None:
            self.generation = launched.generation
        if spec.module_path is None:
            self.import_failure = ImportFailed(spec.module_name, "not_submitted",
                                               f"{spec.module_name}.py was not submitted")

    def _ensure(self, deadline: float) -> Worker:
        if self.import_failure is not None:
            f = self.import_failure  # a fresh exception: re-raising one object grows its traceback
            raise ImportFailed(f.module, f.kind, f.message, f.traceback) from None
        if self.worker is not None:
            return self.worker
        if self._launched is not None:
            w, self._launched = self._launched, None
            w.started(deadline)
        else:
            self.generation += 1
            w = Worker(self.zygote, self.spec, self.generation, deadline)
        try:
            meta, _ = w._recv(deadline, f"importing {self.spec.module_name}.py")
        except WorkerTimeout:
            fault = w.fault(1.0)  # the worker is killed: did the student's code ever start?
            w.close()
            if fault:  # still starting when time ran out (a machine far too busy): not theirs
                raise GraderFault(f"the worker did not start in time: {fault}") from None
            self.import_failure = ImportFailed(
                self.spec.module_name, "timeout",
                f"importing {self.spec.module_name}.py did not finish within the time limit: "
                "is there a loop or long computation at the top level of your module?")
            raise self.import_failure from None
        except WorkerCrashed as exc:
            fault = w.fault(1.0)
            out = w.read_output()
            w.close()
            if fault:  # the worker failed before the student's code ran
                raise GraderFault(fault) from None
            self.import_failure = ImportFailed(
                self.spec.module_name, "exit",
                f"the process ended while importing {self.spec.module_name}.py "
                f"({str(exc).split(' while ')[0].removeprefix('the worker process ')}): does your "
                "module call exit() or os._exit() at the top level?", out)
            raise self.import_failure from None
        if meta.get("op") == "spawn_failed":
            fault = w.fault()
            w.close()
            if fault:
                raise GraderFault(fault)
            # Not from the launcher: the student's code wrote it on the worker's socket.
            self.import_failure = ImportFailed(
                self.spec.module_name, "exception",
                f"{self.spec.module_name}.py sent a message of its own to the grader while being "
                "imported: your module must not write to the grader's connection")
            raise self.import_failure from None
        self.import_banned = banned_calls(meta, self.spec)
        self.import_executed = executed_at(meta)
        if meta.get("op") == "import_error":
            err = meta["error"]
            kind = "syntax" if err["type"] in ("SyntaxError", "IndentationError", "TabError") \
                else "exception"
            if self.import_banned:  # the module called a banned API at its top level
                kind = "banned"
            w.close()
            what = "has a syntax error" if kind == "syntax" else \
                f"raised {err['type']} while being imported: {err['message']}"
            tb = err["traceback"]
            if kind == "syntax" and (unread := _not_python_text(self.spec, tb)):
                what, tb = f"has a syntax error: {unread}", ""
            elif kind == "syntax" and not tb.strip():  # Python named no line: its own words
                what += f": {err['message']}"
            self.import_failure = ImportFailed(self.spec.module_name, kind,
                                               f"{self.spec.module_name}.py {what}", tb)
            raise self.import_failure
        self.import_warnings = [tuple(w_) for w_ in meta.get("warnings", [])]
        self.worker = w
        return w

    def prestart(self) -> None:
        """Launch the worker now, to be ready by the first call (which waits for it then)."""
        if self.worker is not None or self._launched is not None or \
                self.import_failure is not None:
            return
        self.generation += 1
        self._launched = Worker(self.zygote, self.spec, self.generation, None)

    def request(self, meta: dict[str, Any], value: Any, deadline: float,
                doing: str, budget: int | None = None) -> tuple[dict[str, Any], Any]:
        """``budget``: the most elements the reply may hold (``grader.grading.replies``)."""
        fn = str(meta.get("fn"))
        if self.timeouts.get(fn, 0) >= MAX_TIMEOUTS_PER_FUNCTION:
            raise WorkerTimeout(f"{fn} ran out of time in {self.timeouts[fn]} earlier tests, so "
                                "it was not run again", 0.0)
        w = self._ensure(deadline)
        try:
            return w.request(meta, value, deadline, doing, budget)
        except (WorkerGone, replies.ReplyRejected) as exc:  # the worker was killed: a fresh one
            if isinstance(exc, WorkerTimeout):
                self.timeouts[fn] = self.timeouts.get(fn, 0) + 1
            self.worker = None
            self._last_output = w.read_output()  # what the call printed before it died
            w.close()
            raise

    def read_output(self) -> str:
        out, self._last_output = self._last_output, ""
        return out + (self.worker.read_output() if self.worker is not None else "")

    def kill(self, reason: str) -> None:
        """End the running worker from another thread (its call then fails, saying ``reason``)."""
        worker = self.worker
        if worker is not None and worker.pid > 0:
            worker.kill_reason = reason
            worker.launcher.kill(worker.pid)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        if self._launched is not None:
            self._launched.close()
            self._launched = None


class StudentProxy:
    """The ``student`` fixture: attribute calls become remote calls into the student's module."""

    def __init__(self, session: StudentModule, deadline: float) -> None:
        self._session = session
        self._deadline = deadline
        self.called: list[str] = []
        self.last_warnings: list[tuple[str, str]] = []
        self.output = ""
        self.banned: list[dict[str, Any]] = []  # banned calls made by the student's code
        self.executed: list[RuntimeCode] = []  # code the student's module built and ran
        # Text the worker sent (names of returned types, strings returned, warnings, errors,
        # trip-wire records): a student copy of a hidden test withholds it wherever it shows.
        self.worker_text: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def remote(*args: Any, **kwargs: Any) -> Any:
            return self.call(name, *args, **kwargs)

        remote.__name__ = name
        return remote

    def call(self, fn: str, *args: Any, keep: tuple[int, ...] = (), like: Any = None,
             max_elements: int | None = None, **kwargs: Any) -> Any:
        """Call ``fn`` in the worker; outputs at positions ``keep`` stay there as handles.

        The reply is checked before it is returned (``grader.grading.replies``): with ``like``
        (an example of the expected result) it must have its structure, shapes and dtypes;
        without, it may hold at most a few times the elements of the largest input, or
        ``max_elements`` where the test says so."""
        budget = replies.call_budget(args, kwargs, max_elements, like)
        result = self._do({"op": "call", "fn": fn, "keep": list(keep)}, (list(args), kwargs), fn,
                          budget)
        if like is not None:
            replies.check_like(fn, result, like)
        unpacking.check_outputs(fn, result)
        return result

    def batch(self, fn: str, arglist: list[tuple[Any, ...]], select: int | None = None, *,
              like: Any = None, max_elements: int | None = None) -> list[Any]:
        """Many calls of ``fn`` in one round trip; ``select`` keeps only that output of each.
        ``like``/``max_elements``: as for :meth:`call`, for each call's (selected) result."""
        budget = sum(replies.call_budget(a, {}, max_elements, like) for a in arglist)
        results = self._do({"op": "batch", "fn": fn, "select": select},
                           [list(a) for a in arglist], fn, budget)
        if like is not None:
            for r in results if isinstance(results, list) else [results]:
                replies.check_like(fn, r, like)
        return results

    def _do(self, meta: dict[str, Any], value: Any, fn: str, budget: int | None = None) -> Any:
        if fn not in self.called:
            self.called.append(fn)
        try:
            reply, result = self._session.request(meta, value, self._deadline, f"running {fn}",
                                                  budget)
        finally:
            self.output += self._session.read_output()
        # Of an error, its type, message and base classes (the traceback's file and line entries
        # stay in a hidden test, see grader.results.visibility); trip-wire records are checked by
        # banned_calls instead.
        err = reply.get("error")
        err = [err.get(k) for k in ("type", "message", "mro")] if isinstance(err, dict) else None
        fired = [*self._session.import_banned, *banned_calls(reply, self._session.spec)]
        # A refusal's text that the trusted side writes itself from a checked record is the
        # grader's own words (what is banned, and where), not something the code chose.
        self.worker_text.update(worker_strings([err, reply.get("warnings"), result])
                                - refusal_texts(fired))
        if budget is not None and reply.get("ok"):
            replies.check_size(fn, result, budget)
        self.last_warnings = [(str(c), str(m)) for c, m in reply.get("warnings", [])]
        for code in [*self._session.import_executed, *executed_at(reply)]:
            if code not in self.executed:
                self.executed.append(code)
        if fired:
            self.banned.extend(c for c in fired if c not in self.banned)
            raise BannedCallError(fn, fired)
        if not reply.get("ok"):
            err = reply.get("error", {})
            raise StudentError(fn, str(err.get("type")), str(err.get("message")),
                               str(err.get("traceback", "")), tuple(err.get("mro", ())))
        return result


# The proxy's attributes are the student's functions, so what the trusted side needs to know of
# a proxy is asked through these, not through attributes of its own.

def module_of(proxy: StudentProxy) -> StudentModule:
    """The student module (and its worker) behind ``proxy``."""
    return proxy._session


def deadline_of(proxy: StudentProxy) -> float:
    """When ``proxy``'s calls run out of time (``time.monotonic()``)."""
    return proxy._deadline
