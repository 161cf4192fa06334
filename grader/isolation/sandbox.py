"""Linux sandbox layers for the worker that runs student code: namespaces, identity, limits, Landlock.

How the engine uses this module
-------------------------------
A clean zygote (NumPy and torch imported, ``OMP_NUM_THREADS=1``) calls :func:`probe` once, so
every worker inherits the cached answer, then forks a child **A** per worker. A is
single-threaded; it calls :func:`enter_namespaces` and forks **B**. B calls :func:`restrict`
and only then imports the student's module. A reports B's pid to the trusted side and waits
for it; the trusted side kills B with SIGKILL on a timeout, which takes every process B
started with it (B is PID 1 of its own PID namespace).

Layers (names as in :data:`LAYERS`)
-----------------------------------
- ``network``: a new network namespace; it holds only ``lo``, which is down, so no TCP, UDP or
  abstract unix socket reaches anything outside.
- ``pid_namespace``: B is PID 1 of a new PID namespace. It sees no process outside, and when it
  dies the kernel kills everything inside (fork-bomb children included), which ``killpg``
  alone does not do.
- ``disk_quota``: B's write directory is a private tmpfs in a new mount namespace, at most
  ``max_disk_mb`` and ``max_files`` files (nosuid, nodev, noexec): RLIMIT_FSIZE bounds one
  file, this bounds them all, so a submission cannot fill the grader's disk. It disappears
  with the worker.
- ``process_limit``: RLIMIT_NPROC, made to count (see below).
- ``rlimits``: RLIMIT_DATA (``memory_mb``), a looser RLIMIT_AS backstop (see below),
  RLIMIT_CPU (soft = hard, so the kernel sends SIGKILL), RLIMIT_FSIZE (writes fail with EFBIG),
  RLIMIT_NOFILE and RLIMIT_CORE = 0.
- ``capabilities``: the bounding, ambient, permitted and effective sets are emptied.
- ``no_new_privs``: PR_SET_NO_NEW_PRIVS, required by seccomp and Landlock.
- ``seccomp``: a small filter: ``socket()`` only for AF_INET/AF_INET6 (pathname unix sockets
  such as ``/var/run/docker.sock`` are outside both Landlock ABI 7 and the network namespace),
  and no ``memfd_create``, ``shmget`` or io_uring (memory that RLIMIT_DATA does not count and
  that can outlive the worker; io_uring would bypass the filter). A GPU worker's filter differs
  (see "GPU workers").
- ``landlock``: read-only ``policy.read_paths``, read-write ``policy.write_paths``, nothing
  else (no listing ``/``, no ``/proc``, no execute); with ABI >= 4 TCP bind and connect are
  denied, with ABI >= 6 abstract unix sockets and signals to processes outside the sandbox.
  The best ABI the kernel offers is used; :func:`applied_layers` tells which rights were.
- ``process_group``: ``setsid()``.
- ``parent_death_signal``: PR_SET_PDEATHSIG = SIGKILL, set after every credential change
  (they clear it), then a pipe from A tells whether A already died before it was set.

Bounding the number of processes (measured on kernel 6.18, as root and as ``nobody``)
-----------------------------------------------------------------------------------
The kernel skips RLIMIT_NPROC when the task's *real* user is root (the ``INIT_USER``
struct, i.e. kernel uid 0) or when it has CAP_SYS_RESOURCE or CAP_SYS_ADMIN in the initial
user namespace. Hence, with a limit of 4:

- root, no namespace: 20 of 20 forks succeeded (not bounded);
- root inside a new user namespace mapping 0 -> 0: 20 of 20 (not bounded: it has no
  capabilities outside, but its real uid is still kernel uid 0);
- root who gave B its own uid: 3 forks, then EAGAIN (bounded: B + 3);
- ``nobody`` inside a new user namespace mapping its own uid: 2 forks, then EAGAIN
  (bounded; the count is per user namespace and includes A).

So there are two strategies, chosen by :func:`probe`:

- ``"root"`` (euid 0 in the initial user namespace with CAP_SYS_ADMIN): A creates the network
  and PID namespaces directly; B sets its real, effective and saved uid to
  ``WORKER_UID_BASE + pid of A`` (unique among live workers, owning no files) and keeps a
  filesystem uid of 0, so it can still read the Python installation under ``/root`` (mode
  700) as its owner; then every capability is dropped. ``kill()`` is checked against the
  real and effective uids, so B cannot signal root's processes either (``/proc`` and ptrace
  use the filesystem uid: Landlock and the PID namespace keep B away from those).
- ``"user"`` (anyone else): A unshares a new user namespace together with the others and maps
  its own uid and gid; RLIMIT_NPROC is set to ``max_processes + 1`` because A is counted.

Either way ``Limits.max_processes`` bounds B and its descendants together (threads count as
processes). The probe measures the bound with real forks and reports ``process_limit`` as
missing where it does not hold; the PID namespace plus SIGKILL of B from outside remains
the backstop.

Memory: RLIMIT_DATA does not count shared mappings: with a 256 MB data limit a 2 GB
``mmap.mmap(-1, ...)`` and a 1 GB memfd were both filled without error. Hence the seccomp
rules above and an RLIMIT_AS backstop of the address space in use at :func:`restrict` plus
twice ``memory_mb``. Rlimits never replace the trusted side's wall-clock timeout.

Each process's data limit is what it inherited at fork plus the whole ``memory_mb``
(:func:`data_limit_bytes`): never a share that depends on what the zygote allocated or on
the host's cores, so correct code gets the same room everywhere. Rlimits bound one process
each, though; a worker whose children each allocate just under them would hold
``max_processes`` times ``memory_mb``. The whole tree is bounded apart from them: where the
probe could make a memory cgroup and see it kill a child over its limit
(:func:`memory_bound`), :func:`enter_namespaces` makes one per worker in A
(``grader.isolation.cgroup``), A moves B into it before B runs (:func:`attach_worker`) and
removes it once B's processes are gone (:func:`leave_namespaces`): ``memory_mb`` is then the
whole tree's, counted by the kernel. Elsewhere A watches the tree while it waits for B
(``grader.isolation.treewatch``): the memory its processes hold privately, polled, and the
whole worker killed once that is over ``memory_mb``.

GPU workers (``Limits.gpu``)
----------------------------
CUDA cannot start in the default sandbox. With ``Limits.gpu`` the worker gets, besides every
other layer (measured on an H100 host, kernel 6.18, torch 2.11 built for CUDA 13, by taking the
layers away one at a time):

- read, write and ioctl rights on the NVIDIA device files that exist
  (:func:`gpu_device_paths`; Landlock denies them, and ioctls on them from ABI 5), read-only
  access to the driver's ``/proc`` and ``/sys`` entries and to its own ``/proc/self``
  (:func:`gpu_read_paths`; never the rest of ``/proc``);
- a ``/proc`` of its own PID namespace, in a mount namespace of its own
  (:func:`_mount_own_proc`), and the right to write its threads' entries there: CUDA names the
  threads it starts through ``/proc/self/task/<tid>/comm``, by their ids in the namespace, which
  the host's ``/proc`` does not have;
- unix sockets of type SOCK_SEQPACKET (CUDA will not start without the one it listens on,
  under an abstract name) and no ``connect()`` at all: such a socket sends nothing before it is
  connected, and the abstract name is scoped to the worker's network namespace and Landlock
  domain, so no unix socket the worker makes reaches anything outside;
- no RLIMIT_AS (the driver reserves tens of GB it never touches) and room for a CUDA context in
  RLIMIT_DATA (:data:`CUDA_DATA_MB`).

CUDA is started by the worker itself, after :func:`restrict` and before the student's code
(``grader.isolation.worker.start_cuda``), so its threads inherit every layer; the zygote never
touches CUDA. Writing its threads' ``/proc`` entries lets the worker write its own memory
through ``/proc/self/task/<tid>/mem``, which adds nothing to what raw memory already gives
in-process (docs/design.md).
"""

from __future__ import annotations

import ctypes
import functools
import errno
import json
import os
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

if __name__ == "__main__":  # the probe runs this file as a script, in isolated mode
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from grader.isolation import cgroup  # noqa: E402

if sys.platform != "win32":
    import resource  # imported here, not in B: an import there costs a millisecond per worker

__all__ = [
    "LAYERS",
    "WORKER_UID_BASE",
    "LayerStatus",
    "Limits",
    "Policy",
    "SandboxError",
    "applied_layers",
    "default_read_paths",
    "attach_worker",
    "enter_namespaces",
    "leave_namespaces",
    "gpu_device_paths",
    "gpu_read_paths",
    "adopt_probe",
    "memory_bound",
    "missing_layers",
    "probe_report",
    "tree_bounded",
    "layers_warning",
    "probe",
    "restrict",
]

LAYERS: tuple[str, ...] = (
    "landlock",
    "network",
    "pid_namespace",
    "disk_quota",
    "process_limit",
    "rlimits",
    "capabilities",
    "no_new_privs",
    "seccomp",
    "process_group",
    "parent_death_signal",
)

# Above the ranges that container tools hand out (systemd-nspawn stops at 0x6FFF0000) and
# below 2**31, which some tools still treat as signed.
WORKER_UID_BASE = 2_000_000_000
# The root zygote's pid, set there and inherited by every zygote forked from it: each
# launcher's cgroup is named after it, so that the trusted side sweeps every zygote's at once.
GROUP_OWNER: int | None = None

_LINUX = sys.platform.startswith("linux")
_MIB = 1024 * 1024


class SandboxError(RuntimeError):
    """A sandbox layer that should be available could not be applied."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker; the defaults are the course defaults."""

    memory_mb: int = 1024  # RLIMIT_DATA; torch alone needs ~230 MB
    cpu_seconds: int = 120  # CPU time of the worker process, not wall-clock time
    max_processes: int = 32  # the worker and its descendants, threads included
    max_file_mb: int = 64  # largest file the worker may write
    max_disk_mb: int = 256  # all files in its write directory together (a tmpfs)
    max_files: int = 4096  # files and directories in its write directory
    max_open_files: int = 256
    gpu: bool = False  # NVIDIA devices usable and no address-space cap (see "GPU workers")
    # False: the worker may start threads but no process (seccomp). Speed-graded topics: all
    # their work is then in one process, whose CPU time the grader reads whole.
    new_processes: bool = True


@dataclass(frozen=True)
class Policy:
    """What the worker may read and write, and its limits."""

    read_paths: tuple[str, ...]  # read-only, files or directories
    write_paths: tuple[str, ...]  # read-write: the worker's private temp dir
    limits: Limits = field(default_factory=Limits)
    devices: tuple[str, ...] = ()  # device files opened read-write with ioctls (GPU workers)
    list_paths: tuple[str, ...] = ()  # folders listed, not read (``listable``)


@dataclass(frozen=True)
class LayerStatus:
    """Whether one sandbox layer works here, and what it does or why it is missing."""

    name: str
    available: bool
    detail: str


# ---------------------------------------------------------------------------------------
# Read paths


def _contains(parent: str, child: str) -> bool:
    return child == parent or child.startswith(parent.rstrip("/") + "/")


def _checkout_root() -> str | None:
    """The project checkout this module runs from (where ``reference/`` lives), if any."""
    # grader/isolation/sandbox.py: three levels up is the checkout.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    if os.path.basename(root) in ("site-packages", "dist-packages"):
        return None
    return root


def default_read_paths() -> tuple[str, ...]:
    """Paths the worker needs to read to run Python, NumPy and torch; only those that exist.

    The Python installation (prefixes), the site-packages and ``sys.path`` directories that
    belong to it, the system libraries, ``/etc/ld.so.cache`` and three harmless devices.
    Never the current directory or the project checkout: where a prefix contains one of
    them, only the prefix's ``lib`` directories are given.
    """
    import site

    secret = [os.path.realpath(os.getcwd())]
    checkout = _checkout_root()
    if checkout:
        secret.append(checkout)

    def exposes_secret(path: str) -> bool:
        return any(_contains(path, s) for s in secret)

    prefixes = []
    for prefix in dict.fromkeys(
        (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    ):
        real = os.path.realpath(prefix)
        if not exposes_secret(real):
            prefixes.append(real)
        else:
            prefixes += [os.path.join(real, lib) for lib in ("lib", "lib64")]

    site_dirs = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    user_site = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if user_site and user_site in sys.path:
        site_dirs.append(user_site)
    installation = [os.path.realpath(p) for p in prefixes + site_dirs]

    def belongs_to_installation(path: str) -> bool:
        return any(_contains(base, path) for base in installation) or path.endswith(
            ("site-packages", "dist-packages")
        )

    from_sys_path = [os.path.realpath(p) for p in sys.path if p and os.path.isabs(p)]
    candidates = prefixes + site_dirs + [p for p in from_sys_path if belongs_to_installation(p)]
    candidates += [
        "/usr/lib",
        "/lib",
        "/lib64",
        "/usr/lib64",
        "/usr/local/lib",
        "/etc/ld.so.cache",
        "/dev/null",
        "/dev/urandom",
        "/dev/zero",
    ]
    paths: dict[str, None] = {}
    for path in candidates:
        real = os.path.realpath(path)
        if os.path.exists(real) and not exposes_secret(real):
            paths.setdefault(path, None)
    return tuple(paths)


def gpu_device_paths(dev: str = "/dev") -> tuple[str, ...]:
    """The NVIDIA device files present under ``dev`` that a GPU worker opens (control, GPUs, UVM, caps)."""
    try:
        names = sorted(os.listdir(dev))
    except OSError:
        return ()
    return tuple(os.path.join(dev, n) for n in names if n.startswith("nvidia"))


def gpu_read_paths() -> tuple[str, ...]:
    """Read-only paths the CUDA driver consults, those that exist: its /proc and /sys entries.

    ``/proc/self`` is opened when Landlock's rules are made, in the worker, so it names the
    worker's own directory (PCI device links lead into ``/sys/devices``); the rest of ``/proc``
    stays out of reach, since it shows other processes.
    """
    candidates = ("/proc/driver/nvidia", "/proc/self", "/sys/module/nvidia", "/sys/bus/pci",
                  "/sys/devices")
    return tuple(p for p in candidates if os.path.exists(p))


# ---------------------------------------------------------------------------------------
# Raw system interfaces (ctypes)

_PR_SET_PDEATHSIG = 1
_PR_GET_PDEATHSIG = 2
_PR_SET_KEEPCAPS = 8
_PR_SET_SECCOMP = 22
_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_GET_NO_NEW_PRIVS = 39
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000

_CAP_SETUID = 7
_CAP_SETPCAP = 8
_CAP_SYS_ADMIN = 21

_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x2, 0x4, 0x8
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc_handle: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL:
    global _libc_handle
    if _libc_handle is None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
        libc.prctl.restype = ctypes.c_int
        libc.syscall.restype = ctypes.c_long
        libc.unshare.argtypes = [ctypes.c_int]
        libc.capget.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        libc.capset.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        libc.setfsuid.argtypes = [ctypes.c_uint]
        libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                               ctypes.c_ulong, ctypes.c_char_p]
        _libc_handle = libc
    return _libc_handle


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    return _check(_libc().prctl(option, a2, a3, a4, a5), f"prctl({option})")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _capget() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of the calling thread, as 64-bit masks."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc().capget(ctypes.byref(header), data), "capget")
    effective, permitted, inheritable = (
        getattr(data[0], f) | (getattr(data[1], f) << 32)
        for f in ("effective", "permitted", "inheritable")
    )
    return effective, permitted, inheritable


def _capset(effective: int, permitted: int, inheritable: int = 0) -> None:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in (0, 1):
        data[i].effective = (effective >> (32 * i)) & 0xFFFFFFFF
        data[i].permitted = (permitted >> (32 * i)) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> (32 * i)) & 0xFFFFFFFF
    _check(_libc().capset(ctypes.byref(header), data), "capset")


def _thread_count() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 1


def _require_single_thread(caller: str) -> None:
    threads = _thread_count()
    if threads != 1:
        raise SandboxError(
            f"{caller} must run in a single-threaded process (this one has {threads} threads): "
            "call it in a freshly forked child"
        )


def _in_initial_user_namespace() -> bool:
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return False


def _choose_strategy() -> str:
    """``"root"`` when namespaces can be made directly and B can be given its own uid."""
    if os.geteuid() != 0 or not _in_initial_user_namespace():
        return "user"
    effective = _capget()[0]
    needed = (1 << _CAP_SYS_ADMIN) | (1 << _CAP_SETUID) | (1 << _CAP_SETPCAP)
    return "root" if effective & needed == needed else "user"


# ---------------------------------------------------------------------------------------
# Namespaces (in A)


@dataclass
class _Entered:
    """What enter_namespaces did in A; B inherits it through fork."""

    strategy: str
    namespaces: tuple[str, ...]  # subset of ("network", "pid_namespace", "disk_quota")
    parent_pid: int  # A's pid, outside the new PID namespace
    death_read_fd: int  # B sees EOF here once A has exited
    death_write_fd: int  # held open by A only
    quota: tuple[str, int, int] | None = None  # the tmpfs: path, MB, files
    group: cgroup.Group | None = None  # the worker's cgroup, bounding its tree's memory
    memory_mb: int = Limits().memory_mb  # the limit of the worker's tree


_ENTERED: _Entered | None = None


def _unshare_namespaces(strategy: str, namespaces: tuple[str, ...]) -> None:
    flags = 0
    if "network" in namespaces:
        flags |= _CLONE_NEWNET
    if "pid_namespace" in namespaces:
        flags |= _CLONE_NEWPID
    if "disk_quota" in namespaces:
        flags |= _CLONE_NEWNS
    if not flags:
        return
    uid, gid = os.geteuid(), os.getegid()
    if strategy == "user":
        flags |= _CLONE_NEWUSER
    _check(_libc().unshare(flags), "unshare")
    if strategy == "user":
        # An unprivileged process may map exactly its own uid and gid, and a gid map
        # needs setgroups denied first.
        for name, content in (
            ("setgroups", "deny"),
            ("uid_map", f"{uid} {uid} 1"),
            ("gid_map", f"{gid} {gid} 1"),
        ):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(content)


def _mount_quota(path: str, limits: Limits) -> tuple[str, int, int]:
    """Mount a size-limited tmpfs on ``path``, seen only in this (new) mount namespace."""
    libc = _libc()
    # Private first: with shared propagation the mount would show in the grader's namespace.
    _check(libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "mount (make / private)")
    options = f"size={limits.max_disk_mb}m,nr_inodes={limits.max_files},mode=0700"
    _check(libc.mount(b"grader-worker", os.fsencode(path), b"tmpfs",
                      _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, options.encode()), "mount tmpfs")
    return path, limits.max_disk_mb, limits.max_files


def _mount_own_proc() -> None:
    """In B, PID 1 of its PID namespace: a /proc of that namespace, in a mount namespace of B's
    own (A's stays as it is: A reads B's tree in the host's /proc).

    The host's /proc names B's threads by their ids outside the namespace, so a thread that
    names another by its id (``/proc/self/task/<tid>/comm``, as CUDA does) finds no such
    entry. In this /proc, B is 1 and sees no process but its own.
    """
    libc = _libc()
    _check(libc.unshare(_CLONE_NEWNS), "unshare (mount namespace)")
    # Private first: with shared propagation the mount would show in the grader's namespace.
    _check(libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "mount (make / private)")
    _check(libc.mount(b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None),
           "mount /proc")


def _own_proc(limits: Limits) -> str:
    """In B, in its PID namespace: a GPU worker's own /proc (:func:`_mount_own_proc`)."""
    if not limits.gpu:
        return ""
    _mount_own_proc()
    return "; a /proc of its own (GPU worker)"


def _enter(strategy: str, namespaces: tuple[str, ...], quota_dir: str | None = None,
           limits: Limits | None = None) -> None:
    """Unshare ``namespaces``; with "disk_quota", mount the tmpfs on ``quota_dir``."""
    global _ENTERED
    if "disk_quota" in namespaces and quota_dir is None:
        namespaces = tuple(n for n in namespaces if n != "disk_quota")
    read_fd, write_fd = os.pipe()
    try:
        _unshare_namespaces(strategy, namespaces)
        quota = _mount_quota(quota_dir, limits or Limits()) \
            if "disk_quota" in namespaces and quota_dir is not None else None
    except BaseException:
        os.close(read_fd)
        os.close(write_fd)
        raise
    _ENTERED = _Entered(strategy, namespaces, os.getpid(), read_fd, write_fd, quota)


def enter_namespaces(policy: Policy) -> None:
    """Put the calling process A into new network, PID and mount namespaces (those available).

    Call it in a single-threaded child, then fork B: B becomes PID 1 of the new PID
    namespace. A must keep running until B exits (B is killed when A dies). Where the
    process is not root, a new user namespace is created along with them. With the
    ``disk_quota`` layer, the policy's one write directory becomes a size-limited tmpfs.
    """
    if not _LINUX:
        return
    found = _probe()
    namespaces = tuple(
        s.name for s in found.statuses
        if s.available and s.name in ("network", "pid_namespace", "disk_quota")
    )
    quota_dir = policy.write_paths[0] if len(policy.write_paths) == 1 else None
    if namespaces:
        _require_single_thread("enter_namespaces()")
    group = _worker_group(found, policy.limits)
    try:
        _enter(found.strategy, namespaces, quota_dir, policy.limits)
    except OSError as exc:
        if group is not None:
            group.remove()
        raise SandboxError(f"could not create the {' and '.join(namespaces)}: {exc}") from exc
    assert _ENTERED is not None
    _ENTERED.group = group
    _ENTERED.memory_mb = policy.limits.memory_mb


def _worker_group(found: _Probe, limits: Limits) -> cgroup.Group | None:
    """A's cgroup for B, made before any user namespace (which would take the right away)."""
    if not found.memory.available:
        return None
    base, why = cgroup.find_base()
    try:
        if base is None:
            raise OSError(why)
        return cgroup.Group.create(base, cgroup.group_name(GROUP_OWNER or os.getppid(),
                                                            os.getpid()),
                                   limits.memory_mb * _MIB)
    except OSError as exc:
        raise SandboxError(f"could not create the worker's memory cgroup: {exc}") from exc


def tree_bounded() -> bool:
    """In A, after :func:`enter_namespaces`: whether a cgroup bounds the worker's tree (else the
    launcher watches it, ``grader.isolation.treewatch``)."""
    return _ENTERED is not None and _ENTERED.group is not None


def memory_check(worker: int) -> Callable[[], int]:
    """In A: what tells, while it waits for B, that B's tree went over its memory limit (a
    non-zero figure): the kernel's count of processes it killed in B's cgroup, else the tree's
    private memory over ``memory_mb`` (``grader.isolation.treewatch``)."""
    from grader.isolation import treewatch

    group = _ENTERED.group if _ENTERED is not None else None
    if group is not None:
        return group.oom_kills
    limit = (_ENTERED.memory_mb if _ENTERED is not None else Limits().memory_mb) * _MIB
    return lambda: treewatch.tree_over(worker, limit)


def attach_worker(pid: int) -> None:
    """In A, before B runs: put B (and so all it starts) into the worker's cgroup, if any."""
    if _ENTERED is not None and _ENTERED.group is not None:
        try:
            _ENTERED.group.attach(pid)
        except OSError as exc:
            raise SandboxError(f"could not move the worker into its cgroup: {exc}") from exc


def leave_namespaces() -> int:
    """In A, once B has ended: remove the worker's cgroup; how many of its processes the kernel
    killed for using more memory than the limit (0 without a cgroup)."""
    group = _ENTERED.group if _ENTERED is not None else None
    if group is None:
        return 0
    group.wait_empty()  # the PID namespace's last processes are gone, or killed now
    kills = group.oom_kills()
    group.remove()
    return kills


# ---------------------------------------------------------------------------------------
# Layers applied in B


def _become_worker_uid(uid: int) -> None:
    """Real, effective and saved uid ``uid``; filesystem uid 0 (files are read as root's)."""
    libc = _libc()
    _prctl(_PR_SET_KEEPCAPS, 1)
    os.setresuid(uid, uid, uid)
    permitted = _capget()[1]
    # setresuid cleared the effective set; raise what setfsuid and the later bounding-set
    # drop need.
    _capset((1 << _CAP_SETUID) | (1 << _CAP_SETPCAP), permitted)
    libc.setfsuid(0)
    if libc.setfsuid(0xFFFFFFFF) != 0:  # an invalid id only reports the current one
        raise SandboxError("could not keep filesystem uid 0 for the worker")
    _prctl(_PR_SET_KEEPCAPS, 0)


def _drop_capabilities() -> str:
    effective = _capget()[0]
    dropped_bounding = True
    if effective & (1 << _CAP_SETPCAP):
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                last = int(f.read())
        except OSError:
            last = 63
        for cap in range(last + 1):
            if _libc().prctl(_PR_CAPBSET_READ, cap, 0, 0, 0) == 1:
                _prctl(_PR_CAPBSET_DROP, cap)
    else:
        # Without CAP_SETPCAP the bounding set cannot shrink; with no capabilities and
        # no_new_privs the process cannot gain any either.
        dropped_bounding = False
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    _capset(0, 0, 0)
    if any(_capget()):
        raise SandboxError("capabilities are still held after dropping them")
    return "no capabilities" + ("" if dropped_bounding else " (bounding set left as it was)")


def _set_rlimit(which: int, value: int) -> int:
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))
    return value


def _address_space_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _data_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


# A CUDA context reserves about 1.5 GB of private data (VmData) that it mostly never touches:
# CUDA fails to start under a data limit of 1 GB and starts under 2 GB (measured on an H100 with
# torch 2.11). GPU workers get this much data on top of their memory limit; what they touch is
# bounded by the memory cgroup or the tree watch, not by this.
CUDA_DATA_MB = 2048


def data_limit_bytes(inherited: int, limits: Limits) -> int:
    """RLIMIT_DATA of a worker's process: what it inherited at fork plus the whole ``memory_mb``
    (plus room for a CUDA context in a GPU worker).

    Relative to what the process inherited, so the same code gets the same room whatever the
    zygote happened to allocate (a CUDA build of torch holds hundreds of MB more than the CPU
    build) and however many cores or processes the host has. The whole tree's memory is bounded
    apart from this: by the worker's cgroup, or else by the tree watch
    (``grader.isolation.treewatch``).
    """
    return inherited + limits.memory_mb * _MIB + (CUDA_DATA_MB * _MIB if limits.gpu else 0)


def address_space_limit_bytes(in_use: int, limits: Limits) -> int:
    """RLIMIT_AS backstop (shared mappings escape RLIMIT_DATA): what is mapped plus twice the
    memory limit; 0 (none) for a GPU worker, whose driver reserves tens of GB it never touches."""
    return 0 if limits.gpu else in_use + 2 * limits.memory_mb * _MIB


def _apply_rlimits(limits: Limits, address_space: int, data_in_use: int = 0,
                   tree_bounded: bool = True) -> str:
    """``tree_bounded``: a cgroup bounds the memory of the worker's processes together; without
    one, the tree watch in the launcher does (``grader.isolation.treewatch``)."""
    data = _set_rlimit(resource.RLIMIT_DATA, data_limit_bytes(data_in_use, limits))
    space_limit = address_space_limit_bytes(address_space, limits)
    space = _set_rlimit(resource.RLIMIT_AS, space_limit) if space_limit else 0
    cpu = _set_rlimit(resource.RLIMIT_CPU, limits.cpu_seconds)
    fsize = _set_rlimit(resource.RLIMIT_FSIZE, limits.max_file_mb * _MIB)
    nofile = _set_rlimit(resource.RLIMIT_NOFILE, limits.max_open_files)
    _set_rlimit(resource.RLIMIT_CORE, 0)
    where = "no address-space cap: GPU worker" if limits.gpu else \
        f"{space // _MIB} MB of address space"
    tree = "cgroup" if tree_bounded else "watched by the launcher"
    return (
        f"memory {(data - data_in_use) // _MIB} MB of data per process beyond what it "
        f"inherited ({where}; all processes together within {limits.memory_mb} MB, {tree}), "
        f"CPU {cpu} s, files up to {fsize // _MIB} MB, {nofile} open files, no core dumps"
    )


def _apply_process_limit(limits: Limits, entered: _Entered | None, strategy: str) -> str:
    if strategy == "root":
        parent = entered.parent_pid if entered else os.getpid()
        uid = WORKER_UID_BASE + parent
        _become_worker_uid(uid)
        limit = _set_rlimit(resource.RLIMIT_NPROC, limits.max_processes)
        return f"RLIMIT_NPROC {limit} for the worker's own uid ({WORKER_UID_BASE:,} + parent pid)"
    if entered is not None and entered.namespaces:
        # The count is per user namespace and includes A. Whether the kernel enforces it
        # (not for kernel uid 0) is measured by the probe.
        limit = _set_rlimit(resource.RLIMIT_NPROC, limits.max_processes + 1)
        return f"RLIMIT_NPROC {limit} in the worker's user namespace (its parent included)"
    raise SandboxError(
        "RLIMIT_NPROC would not bound the worker: it needs its own uid "
        "(root) or its own user namespace (call enter_namespaces() first)"
    )


def _apply_no_new_privs() -> str:
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    if _prctl(_PR_GET_NO_NEW_PRIVS) != 1:
        raise SandboxError("no_new_privs is not set")
    return "execve cannot grant privileges"


# seccomp -------------------------------------------------------------------------------

_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_SECCOMP_MODE_FILTER = 2
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_RET_K = 0x06
_IO_URING_SYSCALLS = (425, 426, 427)  # setup, enter, register: same number everywhere

# machine -> (audit arch, {syscall: number}, has the x32 ABI to refuse)
_SECCOMP_TABLES: dict[str, tuple[int, dict[str, int], bool]] = {
    "x86_64": (0xC000003E, {"socket": 41, "connect": 42, "shmget": 29, "memfd_create": 319,
                            "clone": 56, "fork": 57, "vfork": 58, "clone3": 435}, True),
    "aarch64": (0xC00000B7, {"socket": 198, "connect": 203, "shmget": 194, "memfd_create": 279,
                             "clone": 220, "clone3": 435}, False),
}
_CLONE_THREAD = 0x00010000
_BPF_JSET_K = 0x45
_BPF_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K: A &= k
_SOCK_TYPE_MASK = 0xF  # socket()'s type without SOCK_NONBLOCK and SOCK_CLOEXEC


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _seccomp_program(new_processes: bool = True,
                     gpu: bool = False) -> list[tuple[int, int, int, int]]:
    """The BPF filter as (code, jt, jf, k); refuses what is listed in the module docstring, and
    with ``new_processes`` false any new process (threads stay allowed).

    With ``gpu``, unix sockets of type SOCK_SEQPACKET are allowed too (CUDA cannot start
    without the one it listens on, under an abstract name) and ``connect()`` is refused
    whatever the socket: a SOCK_SEQPACKET socket sends nothing before it is connected and
    ignores an address given to ``sendmsg``, so no new unix socket reaches anything, pathname
    sockets such as ``/var/run/docker.sock`` included.
    """
    machine = os.uname().machine
    if machine not in _SECCOMP_TABLES or struct.calcsize("P") != 8:
        raise SandboxError(
            f"no seccomp syscall table for {machine} ({struct.calcsize('P') * 8}-bit)"
        )
    arch, numbers, x32 = _SECCOMP_TABLES[machine]
    deny = _SECCOMP_RET_ERRNO | errno.EPERM
    nosys = _SECCOMP_RET_ERRNO | errno.ENOSYS
    # Instructions with symbolic jump targets, resolved below.
    code: list[tuple[int, str | int, str | int, int]] = [
        (_BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (_BPF_JEQ_K, 0, "nosys", arch),  # other ABIs (i386 via int 0x80) have other numbers
        (_BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    if x32:
        code.append((_BPF_JGE_K, "nosys", 0, 0x40000000))
    code.append((_BPF_JEQ_K, "family", 0, numbers["socket"]))
    if gpu:
        code.append((_BPF_JEQ_K, "deny", 0, numbers["connect"]))
    for nr in (numbers["shmget"], numbers["memfd_create"], *_IO_URING_SYSCALLS):
        code.append((_BPF_JEQ_K, "deny", 0, nr))
    if not new_processes:
        # clone3 passes its flags in memory the filter cannot read: ENOSYS makes the C library
        # fall back to clone, whose flags it can (a thread has CLONE_THREAD, a process not).
        code.append((_BPF_JEQ_K, "nosys", 0, numbers["clone3"]))
        for name in ("fork", "vfork"):
            if name in numbers:
                code.append((_BPF_JEQ_K, "deny", 0, numbers[name]))
        code.append((_BPF_JEQ_K, "clone", 0, numbers["clone"]))
    code.append((_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    labels = {"family": len(code)}
    code += [
        (_BPF_LD_W_ABS, 0, 0, 16),  # low word of args[0] (little-endian): the family
        (_BPF_JEQ_K, "allow", 0, socket.AF_INET),
        (_BPF_JEQ_K, "allow", "unix" if gpu else "deny", socket.AF_INET6),
    ]
    if gpu:
        labels["unix"] = len(code)
        code += [
            (_BPF_JEQ_K, 0, "deny", socket.AF_UNIX),
            (_BPF_LD_W_ABS, 0, 0, 24),  # low word of args[1]: the type, with its flags
            (_BPF_AND_K, 0, 0, _SOCK_TYPE_MASK),
            (_BPF_JEQ_K, "allow", "deny", socket.SOCK_SEQPACKET),
        ]
    if not new_processes:
        labels["clone"] = len(code)
        code += [
            (_BPF_LD_W_ABS, 0, 0, 16),  # low word of args[0]: clone's flags
            (_BPF_JSET_K, "allow", "deny", _CLONE_THREAD),
        ]
    labels["allow"] = len(code)
    code.append((_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    labels["deny"] = len(code)
    code.append((_BPF_RET_K, 0, 0, deny))
    labels["nosys"] = len(code)
    code.append((_BPF_RET_K, 0, 0, nosys))

    def offset(i: int, target: str | int) -> int:
        return target if isinstance(target, int) else labels[target] - i - 1

    return [(c, offset(i, jt), offset(i, jf), k) for i, (c, jt, jf, k) in enumerate(code)]


def _apply_seccomp(limits: Limits | None = None) -> str:
    new_processes = limits is None or limits.new_processes
    gpu = limits is not None and limits.gpu
    program = _seccomp_program(new_processes, gpu)
    filters = (_SockFilter * len(program))(*[_SockFilter(*ins) for ins in program])
    fprog = _SockFprog(len(program), filters)
    _prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
    try:
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
    except PermissionError:
        pass
    else:
        raise SandboxError("seccomp filter installed but AF_UNIX sockets can still be created")
    if gpu:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
            try:
                sock.connect("\0grader-seccomp-check")
            except PermissionError:
                pass
            else:
                raise SandboxError("seccomp filter installed but connect() still works")
        detail = ("socket() only for AF_INET/AF_INET6 and unix SOCK_SEQPACKET, no connect() "
                  "(GPU worker: CUDA listens on such a socket)")
    else:
        detail = "socket() only for AF_INET/AF_INET6"
    detail += "; no memfd_create, shmget or io_uring"
    return detail + ("" if new_processes else "; no new processes (threads allowed)")


# Landlock ------------------------------------------------------------------------------

_SYS_LANDLOCK_CREATE_RULESET = 444  # same number on every architecture
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1

_FS = {
    name: 1 << bit
    for bit, name in enumerate(
        (
            "execute",
            "write_file",
            "read_file",
            "read_dir",
            "remove_dir",
            "remove_file",
            "make_char",
            "make_dir",
            "make_reg",
            "make_sock",
            "make_fifo",
            "make_block",
            "make_sym",
            "refer",  # ABI 2
            "truncate",  # ABI 3
            "ioctl_dev",  # ABI 5
        )
    )
}
_FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
_FS_ALL_LATEST = (1 << 16) - 1
_FS_FILE_ONLY = (
    _FS["execute"] | _FS["write_file"] | _FS["read_file"] | _FS["truncate"] | _FS["ioctl_dev"]
)
_FS_READ = _FS["read_file"] | _FS["read_dir"]
_FS_WRITE = (
    _FS_READ
    | _FS["write_file"]
    | _FS["remove_dir"]
    | _FS["remove_file"]
    | _FS["make_dir"]
    | _FS["make_reg"]
    | _FS["make_sym"]
    | _FS["refer"]
    | _FS["truncate"]
)
# Device files a GPU worker drives: CUDA talks to the driver through ioctls on them.
_FS_DEVICE = _FS["read_file"] | _FS["write_file"] | _FS["ioctl_dev"]
# A GPU worker's own threads' /proc entries: CUDA names the threads it starts by writing their
# comm files (opened with O_TRUNC).
_FS_OWN_THREADS = _FS_READ | _FS["write_file"] | _FS["truncate"]
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2  # ABI 4
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1, 2  # ABI 6


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # __attribute__((packed)) in the kernel's header
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _landlock_abi() -> tuple[int, str]:
    """(ABI version, "") or (0, why Landlock is missing)."""
    result = _libc().syscall(
        ctypes.c_long(_SYS_LANDLOCK_CREATE_RULESET),
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION),
    )
    if result >= 0:
        return int(result), ""
    err = ctypes.get_errno()
    reason = {
        errno.ENOSYS: "kernel has no Landlock (ENOSYS)",
        errno.EOPNOTSUPP: "Landlock is built in but disabled at boot (EOPNOTSUPP)",
    }.get(err, f"Landlock unusable ({errno.errorcode.get(err, err)})")
    return 0, reason


def _landlock_description(abi: int) -> str:
    parts = ["read-only and read-write paths, nothing else, no execute"]
    parts.append("TCP bind and connect denied" if abi >= 4 else "TCP not covered (ABI < 4)")
    parts.append(
        "abstract unix sockets and signals scoped to the sandbox"
        if abi >= 6
        else "signals and abstract sockets not scoped (ABI < 6)"
    )
    return f"Landlock ABI {abi}: " + "; ".join(parts)


def _apply_landlock(read_paths: tuple[str, ...], write_paths: tuple[str, ...],
                    devices: tuple[str, ...] = (), own_threads: bool = False,
                    list_paths: tuple[str, ...] = ()) -> str:
    """``own_threads``: the calling process may write its threads' entries beneath
    ``/proc/self/task`` (a GPU worker: CUDA names its threads there). ``list_paths``: folders
    that may be listed, with every folder beneath them, and no file read (``listable``)."""
    abi, why = _landlock_abi()
    if not abi:
        raise SandboxError(why)
    libc = _libc()
    handled_fs = _FS_RIGHTS_BY_ABI.get(abi, _FS_ALL_LATEST)
    attr = _RulesetAttr(
        handled_fs,
        _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0,
        _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= 6 else 0,
    )
    ruleset = _check(
        libc.syscall(
            ctypes.c_long(_SYS_LANDLOCK_CREATE_RULESET),
            ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr)),
            ctypes.c_uint32(0),
        ),
        "landlock_create_ruleset",
    )
    try:
        rules = [(p, _FS_READ) for p in read_paths] + [(p, _FS_WRITE) for p in write_paths]
        rules += [(p, _FS_DEVICE) for p in devices]
        rules += [(p, _FS["read_dir"]) for p in list_paths]
        if own_threads:
            rules.append(("/proc/self/task", _FS_OWN_THREADS))  # opened here: this process's
        for path, rights in rules:
            try:
                path_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError as exc:
                raise SandboxError(f"cannot open sandbox path {path!r}: {exc.strerror}") from exc
            try:
                if not stat.S_ISDIR(os.fstat(path_fd).st_mode):
                    rights &= _FS_FILE_ONLY
                rule = _PathBeneathAttr(rights & handled_fs, path_fd)
                _check(
                    libc.syscall(
                        ctypes.c_long(_SYS_LANDLOCK_ADD_RULE),
                        ctypes.c_int(ruleset),
                        ctypes.c_int(_LANDLOCK_RULE_PATH_BENEATH),
                        ctypes.byref(rule),
                        ctypes.c_uint32(0),
                    ),
                    f"landlock_add_rule({path})",
                )
            finally:
                os.close(path_fd)
        _check(
            libc.syscall(
                ctypes.c_long(_SYS_LANDLOCK_RESTRICT_SELF),
                ctypes.c_int(ruleset),
                ctypes.c_uint32(0),
            ),
            "landlock_restrict_self",
        )
    finally:
        os.close(ruleset)
    if "/" not in read_paths and "/" not in write_paths and "/" not in list_paths:
        try:
            os.listdir("/")
        except PermissionError:
            pass
        else:
            raise SandboxError("Landlock was applied but '/' can still be listed")
    own = "; its own threads' /proc entries writable (GPU worker)" if own_threads else ""
    return _landlock_description(abi) + own


def die_with_parent(parent: int | None = None) -> bool:
    """Have the kernel SIGKILL this process when its parent dies (PR_SET_PDEATHSIG; Linux only).

    A parent gone before this call is not caught: given ``parent`` (the pid of the process that
    forked this one, read before the fork), returns whether it is still this one's parent; where
    it is not, no signal will come and the caller ends itself. "The parent" is the thread that
    forked: a child forked from a thread that then ends is killed with it.
    """
    if _LINUX:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    return parent is None or os.getppid() == parent


def _apply_parent_death_signal(entered: _Entered | None) -> str:
    if entered is not None and entered.parent_pid != os.getpid():
        os.close(entered.death_write_fd)
    die_with_parent()
    value = ctypes.c_int(0)
    _prctl(_PR_GET_PDEATHSIG, ctypes.addressof(value))
    if value.value != signal.SIGKILL:
        raise SandboxError("PR_SET_PDEATHSIG did not take effect")
    if entered is not None and entered.parent_pid != os.getpid():
        # A never writes: readable means end of file, i.e. A died before the signal was set.
        readable, _, _ = select.select([entered.death_read_fd], [], [], 0)
        if readable:
            os._exit(1)
        os.close(entered.death_read_fd)
        return "SIGKILL when the parent exits"
    return "SIGKILL when the parent exits (parent not checked: enter_namespaces() not called)"


# ---------------------------------------------------------------------------------------
# restrict


_APPLIED: list[LayerStatus] = []


def _apply_all(policy: Policy, wanted: set[str], strategy: str, strict: bool) -> list[LayerStatus]:
    """Apply the wanted layers in order; collect failures unless ``strict``."""
    _require_single_thread("restrict()")
    entered = _ENTERED
    address_space = _address_space_bytes()  # /proc is out of reach once Landlock is on
    data_in_use = _data_bytes()
    tree_bounded = entered is not None and entered.group is not None
    results: list[LayerStatus] = []

    def step(name: str, apply: Callable[[], str]) -> None:
        if name not in wanted:
            return
        try:
            detail = apply()
        except (OSError, SandboxError, ValueError) as exc:
            if strict:
                raise SandboxError(f"sandbox layer {name} could not be applied: {exc}") from exc
            results.append(LayerStatus(name, False, str(exc)))
        else:
            results.append(LayerStatus(name, True, detail))

    def process_group() -> str:
        if os.getsid(0) != os.getpid():
            os.setsid()
        return "own session and process group"

    def namespace(name: str, then: Callable[[], str] = lambda: "") -> Callable[[], str]:
        def check() -> str:
            if entered is None or name not in entered.namespaces:
                raise SandboxError("enter_namespaces() did not create it for this worker")
            if name == "pid_namespace" and os.getpid() != 1:
                raise SandboxError(f"the worker is pid {os.getpid()}, not PID 1 of the namespace")
            where = "inside a new user namespace" if entered.strategy == "user" else "as root"
            where += then()
            return {
                "network": f"new network namespace, only 'lo', down ({where})",
                "pid_namespace": f"the worker is PID 1 of a new PID namespace ({where})",
            }[name]

        return check

    def disk_quota() -> str:
        if not policy.write_paths:
            return "no write directory: nothing can be written"
        if entered is None or entered.quota is None or \
                (entered.quota[0],) != tuple(policy.write_paths):
            raise SandboxError("enter_namespaces() did not mount a tmpfs on this worker's one "
                               "write directory")
        path, mb, files = entered.quota
        st = os.statvfs(path)
        if st.f_blocks * st.f_frsize > (mb + 1) * _MIB:
            raise SandboxError(f"{path} is not the {mb} MB tmpfs mounted for it")
        return f"write directory: a private tmpfs of {mb} MB and {files} files at most"

    limits = policy.limits
    step("process_group", process_group)
    step("network", namespace("network"))
    step("pid_namespace", namespace("pid_namespace", lambda: _own_proc(limits)))
    step("disk_quota", disk_quota)
    step("process_limit", lambda: _apply_process_limit(limits, entered, strategy))
    step("rlimits", lambda: _apply_rlimits(limits, address_space, data_in_use, tree_bounded))
    step("capabilities", _drop_capabilities)
    step("no_new_privs", _apply_no_new_privs)
    step("seccomp", lambda: _apply_seccomp(limits))
    step("landlock", lambda: _apply_landlock(policy.read_paths, policy.write_paths,
                                             policy.devices, own_threads=limits.gpu,
                                             list_paths=policy.list_paths))
    step("parent_death_signal", lambda: _apply_parent_death_signal(entered))
    return results


def restrict(policy: Policy) -> list[str]:
    """Apply every layer :func:`probe` found available to the calling process B.

    Call it in B, single-threaded, after NumPy and torch are imported and before any
    student code runs. Returns the names of the layers in effect (namespace layers count
    when :func:`enter_namespaces` created them for this worker). Raises
    :class:`SandboxError` if a layer that :func:`probe` reported available fails, the
    namespace layers included when :func:`enter_namespaces` was not called in the parent.
    """
    if not _LINUX:
        return []
    found = _probe()
    wanted = {s.name for s in found.statuses if s.available}
    applied = _apply_all(policy, wanted, found.strategy, strict=True)
    _APPLIED[:] = applied
    return [s.name for s in applied]


def applied_layers() -> list[LayerStatus]:
    """The layers the last :func:`restrict` in this process applied, with what each enforces."""
    return list(_APPLIED)


# ---------------------------------------------------------------------------------------
# probe


@dataclass(frozen=True)
class _Probe:
    statuses: tuple[LayerStatus, ...]
    strategy: str  # "root" or "user", see the module docstring
    # How the memory of a worker's processes together is bounded: available, a cgroup per worker.
    memory: LayerStatus = LayerStatus("memory", False, "not probed")


_PROBE_CACHE: _Probe | None = None
_PROBE_LIMITS = Limits(memory_mb=256, cpu_seconds=10, max_processes=4)
_PROBE_FORK_ATTEMPTS = 12


def memory_bound() -> LayerStatus:
    """How the memory of all a worker's processes together is bounded here (measured by :func:`probe`).

    Available: a cgroup per worker holds the whole tree to ``memory_mb`` (its detail says
    which version). Not available: the worker's launcher watches the tree's memory instead
    (``grader.isolation.treewatch``), and the detail says why there is no cgroup. Not one of
    :data:`LAYERS`: either way the tree is bounded, so neither blocks grading.
    """
    return _probe().memory


def memory_bound_line(status: LayerStatus | None = None) -> str:
    """One line for reports: which memory bound applied."""
    status = status or memory_bound()
    if status.available:
        return f"memory: {status.detail.split(':')[0]} (whole tree)"
    return "memory: watched by the launcher (whole tree, no cgroup)"


def layers_warning(layers: Sequence[str]) -> str | None:
    """The one-line warning for a run whose sandbox lacks some of :data:`LAYERS` (``layers``:
    those in use, as an engine reports them), or None when every layer is in use."""
    missing = [name for name in LAYERS if name not in layers]
    if not missing:
        return None
    in_use = ", ".join(name for name in layers if name in LAYERS) or "none"
    return f"warning: sandbox layers in use: {in_use}; missing: {', '.join(missing)}"


def missing_layers(statuses: list[LayerStatus]) -> list[LayerStatus]:
    """The layers of ``statuses`` that are not available."""
    return [s for s in statuses if not s.available]


def probe() -> list[LayerStatus]:
    """Which layers work on this machine, one :class:`LayerStatus` per name in :data:`LAYERS`.

    Measured, not assumed: a fresh interpreter forks A and B, applies every layer and tries
    to exceed the process limit. The calling process is not changed (safe after importing
    torch), and the answer is cached for this process and the processes it forks.
    """
    return list(_probe().statuses)


def _probe() -> _Probe:
    global _PROBE_CACHE
    if _PROBE_CACHE is None:
        _PROBE_CACHE = _run_probe()
    return _PROBE_CACHE


def probe_report() -> dict[str, object]:
    """What :func:`probe` found, as JSON-ready data: the trusted side measures once and hands
    this to the zygote (:func:`adopt_probe`), so both agree on the layers and the memory bound."""
    found = _probe()
    return {"strategy": found.strategy,
            "layers": {s.name: [s.available, s.detail] for s in found.statuses},
            "memory": [found.memory.available, found.memory.detail]}


def adopt_probe(report: dict[str, object]) -> None:
    """Take the trusted side's :func:`probe_report` as this process's probe."""
    global _PROBE_CACHE
    _PROBE_CACHE = _read_report(report)


def _unavailable(reason: str, strategy: str = "user") -> _Probe:
    return _Probe(tuple(LayerStatus(name, False, reason) for name in LAYERS), strategy)


def _run_probe() -> _Probe:
    if not _LINUX:
        return _unavailable(f"the sandbox needs Linux; this is {sys.platform}")
    if not sys.executable:
        return _unavailable("no Python executable to run the sandbox probe with")
    command = [sys.executable, "-I", "-S", os.path.abspath(__file__), "--probe"]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return _unavailable("the sandbox probe did not finish in 30 s")
    try:
        report = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return _unavailable(f"the sandbox probe failed (exit {proc.returncode}): {tail[0]}")
    return _read_report(report)


def _read_report(report: dict[str, object]) -> _Probe:
    layers = report["layers"]
    assert isinstance(layers, dict)
    statuses = tuple(
        LayerStatus(name, bool(layers[name][0]), str(layers[name][1])) for name in LAYERS)
    memory = report.get("memory", [False, "not probed"])
    assert isinstance(memory, (list, tuple))
    return _Probe(statuses, str(report["strategy"]), LayerStatus("memory", bool(memory[0]),
                                                                 str(memory[1])))


def _count_forks(attempts: int) -> tuple[int, str]:
    """Fork children that wait; how many forks succeeded and how the first failure read."""
    read_fd, write_fd = os.pipe()
    children, failure = [], ""
    for _ in range(attempts):
        try:
            pid = os.fork()
        except OSError as exc:
            failure = errno.errorcode.get(exc.errno or 0, str(exc))
            break
        if pid == 0:
            os.close(write_fd)
            os.read(read_fd, 1)
            os._exit(0)
        children.append(pid)
    os.close(write_fd)
    os.close(read_fd)
    for pid in children:
        os.waitpid(pid, 0)
    return len(children), failure


def _probe_worker(strategy: str) -> dict[str, tuple[bool, str]]:
    """In B of the probe: apply everything with small limits, then try a fork bomb."""
    layers: dict[str, tuple[bool, str]] = {}
    entered = _ENTERED
    if entered is not None and "network" in entered.namespaces:
        names = [name for _, name in socket.if_nameindex()]
        if names != ["lo"]:
            entered.namespaces = tuple(n for n in entered.namespaces if n != "network")
            layers["network"] = (False, f"new network namespace still shows {names}")
    quota_dir = entered.quota[0] if entered is not None and entered.quota else None
    policy = Policy(read_paths=(), write_paths=(quota_dir,) if quota_dir else (),
                    limits=_PROBE_LIMITS)
    for status in _apply_all(policy, set(LAYERS), strategy, strict=False):
        layers.setdefault(status.name, (status.available, status.detail))
    if layers.get("process_limit", (False, ""))[0]:
        limit = _PROBE_LIMITS.max_processes
        created, failure = _count_forks(_PROBE_FORK_ATTEMPTS)
        if created < limit and failure == "EAGAIN":
            layers["process_limit"] = (
                True,
                (
                    f"{layers['process_limit'][1]}; measured: {created} forks, then EAGAIN "
                    f"(limit {limit}, the worker included)"
                ),
            )
        else:
            why = " (the worker's real uid is root's, which the kernel exempts)"
            layers["process_limit"] = (
                False,
                (
                    f"RLIMIT_NPROC is not enforced here{why if os.getuid() == 0 else ''}: "
                    f"{created} of {_PROBE_FORK_ATTEMPTS} forks succeeded under a limit of "
                    f"{limit}; only the PID namespace bounds a fork bomb"
                ),
            )
    return layers


def _run_child(body: Callable[[], dict[str, object]]) -> dict[str, object]:
    """Run ``body`` in a forked child and return what it returned (as JSON through a pipe)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            result = body()
        except BaseException as exc:  # noqa: BLE001 - a forked child must never return
            result = {"error": f"{type(exc).__name__}: {exc}"}
        data = json.dumps(result).encode()
        while data:
            data = data[os.write(write_fd, data) :]
        os._exit(0)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    try:
        return dict(json.loads(b"".join(chunks)))
    except ValueError:
        return {"error": "the probe child died without a report"}


def _probe_here() -> dict[str, object]:
    """The probe proper, run in a fresh interpreter (``python sandbox.py --probe``)."""
    strategy = _choose_strategy()

    import tempfile

    quota_dir = tempfile.mkdtemp(prefix="grader-probe-")

    def why(exc: OSError) -> str:
        return f"{errno.errorcode.get(exc.errno or 0, '')}: {exc}"

    def try_quota() -> dict[str, object]:
        try:
            _enter(strategy, ("disk_quota",), quota_dir, _PROBE_LIMITS)
        except OSError as exc:
            return {"error": f"cannot mount a tmpfs in a new mount namespace ({why(exc)})"}
        return {}

    quota_error = _run_child(try_quota).get("error")
    wanted = ("network", "pid_namespace") + (() if quota_error else ("disk_quota",))

    def in_a() -> dict[str, object]:
        extra = {"quota_error": quota_error} if quota_error else {}
        try:
            _enter(strategy, wanted, quota_dir, _PROBE_LIMITS)
        except OSError as exc:
            reason = f"cannot create namespaces ({why(exc)})"
            _enter(strategy, ())
            return {"namespace_error": reason, "quota_error": quota_error or reason,
                    **_run_child(lambda: dict(_probe_worker(strategy)))}
        return {**extra, **_run_child(lambda: dict(_probe_worker(strategy)))}

    try:
        found = _run_child(in_a)
    finally:
        os.rmdir(quota_dir)
    memory = _run_child(_probe_memory_group)
    layers: dict[str, list[object]] = {}
    for name in LAYERS:
        entry = found.get(name)
        if name in ("network", "pid_namespace") and "namespace_error" in found:
            layers[name] = [False, found["namespace_error"]]
        elif name == "disk_quota" and "quota_error" in found:
            layers[name] = [False, found["quota_error"]]
        elif isinstance(entry, list) and len(entry) == 2:
            layers[name] = entry
        else:
            layers[name] = [False, str(found.get("error", "the probe did not reach this layer"))]
    return {"strategy": strategy, "layers": layers,
            "memory": [bool(memory.get("available")), str(memory.get("detail") or
                                                           memory.get("error", ""))]}


_PROBE_GROUP_MB = 64


def _probe_memory_group() -> dict[str, object]:
    """Make a cgroup as A would, and check that it kills a child that goes over its limit."""
    base, why = cgroup.find_base()
    if base is None:
        return {"available": False, "detail": why}
    try:
        group = cgroup.Group.create(base, cgroup.group_name(os.getppid(), os.getpid()),
                                    _PROBE_GROUP_MB * _MIB)
    except OSError as exc:
        return {"available": False, "detail": f"cannot create a cgroup in {base.memory} ({exc})"}
    try:
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            os.read(go_r, 1)
            _hog = bytearray(4 * _PROBE_GROUP_MB * _MIB)  # touched: zero-filled
            os._exit(0)
        os.close(go_r)
        try:
            group.attach(pid)
        finally:
            os.write(go_w, b"x")
            os.close(go_w)
            _, status = os.waitpid(pid, 0)
        cpu = group.cpu_seconds()
    finally:
        group.remove()
    if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
        return {"available": False, "detail": f"a {base.describe()} memory limit of "
                f"{_PROBE_GROUP_MB} MB did not stop a child allocating {4 * _PROBE_GROUP_MB} MB"}
    if cpu is None:
        return {"available": False, "detail": f"no CPU accounting in the {base.describe()}"}
    return {"available": True, "detail": f"{base.describe()}: one group per worker bounds the "
            "memory of all its processes together and counts their CPU time; measured: a "
            f"child allocating {4 * _PROBE_GROUP_MB} MB under {_PROBE_GROUP_MB} MB was killed"}


if __name__ == "__main__" and sys.argv[1:] == ["--probe"]:
    # An ignored SIGCHLD survives exec (the zygote ignores it) and would make the kernel
    # reap the probe's children before waitpid() sees them.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    print(json.dumps(_probe_here()))


# ---------------------------------------------------------------------------------------
# What a worker may not read: the files of the modules it goes without


# Where a Python installation keeps its packages, below its prefix (or its lib folder).
_SITE_LAYOUTS = ("lib/python3*/site-packages", "lib/python3*/dist-packages",
                 "lib/python3/dist-packages", "lib64/python3*/site-packages",
                 "lib64/python3*/dist-packages", "python3*/site-packages",
                 "python3*/dist-packages", "python3/dist-packages")


def package_folders() -> list[str]:
    """The folders modules are found in: ``sys.path``, and the package folders of the Python
    installations a worker can read, whether or not they are on this ``sys.path`` (the base
    installation of a virtual environment, the system's ``/usr`` and ``/usr/local``): a copy of
    a banned library there is loadable by path (an extension module under another name)."""
    import glob

    roots = dict.fromkeys(os.path.realpath(p) for p in (
        sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, "/usr", "/usr/local"))
    found = [p for p in sys.path if p]
    for root in roots:
        for layout in _SITE_LAYOUTS:
            found += sorted(glob.glob(os.path.join(glob.escape(root), layout)))
    return list(dict.fromkeys(found))


def module_files(names: Sequence[str]) -> tuple[str, ...]:
    """The folders and files that hold the modules ``names`` (``scipy.signal``: its package
    folder; a module: its source, bytecode and extension files), every copy found along
    ``sys.path`` and in the installations' package folders (``package_folders``), without
    importing anything. Found once per tuple of names in a process (a zygote finds them for
    the workers it forks)."""
    return _module_files(tuple(names))


@functools.lru_cache(maxsize=16)
def _module_files(names: tuple[str, ...]) -> tuple[str, ...]:
    out: dict[str, None] = {}
    folders = [b for b in (package_folders() if names else []) if b and os.path.isdir(b)]
    listed: dict[str, dict[str, list[str]]] = {}  # a folder -> its entries by name before the dot

    def entries(folder: str) -> dict[str, list[str]]:
        if folder not in listed:
            by_stem: dict[str, list[str]] = {}
            try:
                for entry in os.listdir(folder):
                    by_stem.setdefault(entry.split(".", 1)[0], []).append(entry)
            except OSError:
                pass
            listed[folder] = by_stem
        return listed[folder]

    for name in names:
        parts = name.split(".")
        for base in folders:
            folder = os.path.join(base, *parts[:-1])
            for entry in entries(folder).get(parts[-1], ()):
                path = os.path.join(folder, entry)
                if entry == parts[-1]:
                    if os.path.isdir(path):
                        out.setdefault(os.path.realpath(path), None)
                elif entry.endswith((".py", ".pyc", ".so", ".pyd")):
                    out.setdefault(os.path.realpath(path), None)
    return tuple(out)


def readable(read_paths: tuple[str, ...], without: tuple[str, ...]) -> tuple[str, ...]:
    """``read_paths`` with the files of the modules ``without`` cut out (Landlock's rules only
    grant: a read path holding one of them is replaced by its entries, down to the one left
    out)."""
    return _cut(read_paths, without)[0]


def listable(read_paths: tuple[str, ...], without: tuple[str, ...]) -> tuple[str, ...]:
    """The folders ``readable`` replaced by their entries: listed, not read (Landlock's right to
    list a folder reaches every folder beneath it, and no file's content). A folder that holds
    a module cut out holds others too, which importing needs to list it to find (Python's path
    finder looks a module up in its folder's listing: ``scipy.special`` beside a banned
    ``scipy.signal``), as does reading the installed packages' metadata (``site-packages``
    beside a banned ``torch``). The names in a banned module's folder are all that gives."""
    return _cut(read_paths, without)[1]


@functools.lru_cache(maxsize=64)
def _cut(read_paths: tuple[str, ...], without: tuple[str, ...]
         ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    excluded = module_files(without)
    if not excluded:
        return read_paths, ()
    out: list[str] = []
    listed: list[str] = []

    def add(path: str) -> None:
        real = os.path.realpath(path)
        if real in excluded:
            return
        if not any(_contains(real, e) for e in excluded) or not os.path.isdir(real):
            out.append(path)
            return
        try:
            entries = sorted(os.listdir(real))
        except OSError:
            return
        listed.append(real)
        for entry in entries:
            add(os.path.join(real, entry))

    for path in read_paths:
        add(path)
    return tuple(dict.fromkeys(out)), tuple(dict.fromkeys(listed))
