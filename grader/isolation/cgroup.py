"""A cgroup per worker: its whole process tree's memory bounded and its CPU time counted (v1 or v2).

RLIMIT_DATA bounds one process; a worker that forks children, each just under the limit, holds
the limit times the process cap in all. A memory cgroup bounds the tree, and the kernel counts
the CPU time of every process ever in the group (``cpuacct.usage``, ``cpu.stat``), children it
reaped itself included, which ``/proc/<pid>/stat`` misses.

Groups are made by trusted processes only (the zygote's intermediate process A, which moves the
worker B into its group before B runs any student code), under the cgroup the creating process
is in, named ``grader-<zygote pid>-<A pid>``. A removes its group once the worker's processes
are gone; the trusted side removes what is left of a zygote's groups when it closes the zygote
(:func:`sweep`). The worker cannot leave its group: Landlock keeps it away from ``/sys``.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass

__all__ = ["PREFIX", "Base", "Group", "find_base", "group_of", "sweep"]

PREFIX = "grader-"
_ROOT = "/sys/fs/cgroup"


@dataclass(frozen=True)
class Base:
    """Where worker groups are made: one directory per hierarchy used, and the cgroup version."""

    version: int  # 1 or 2
    memory: str  # directory of the memory controller (v2: the one unified directory)
    cpu: str  # directory with cpuacct (v1) or cpu.stat (v2)

    def describe(self) -> str:
        return f"cgroup v{self.version}"


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount point, root inside the hierarchy, fs type, super options) of cgroup mounts."""
    found = []
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        found.append((fields[4], fields[3], tail[0], set(tail[2].split(","))))
    return found


def _own_paths(pid: int | str = "self") -> dict[str, str]:
    """Controller (or "" for v2) -> cgroup path of process ``pid``."""
    paths: dict[str, str] = {}
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return paths
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            paths[controller] = parts[2]
    return paths


def _directory(controller: str, path: str) -> str | None:
    """The directory of cgroup ``path`` in the hierarchy of ``controller`` ("" for v2)."""
    for mount_point, root, fstype, options in _mounts():
        if (fstype == "cgroup2") != (controller == "") or \
                (controller and controller not in options):
            continue
        if root != "/" and not (path == root or path.startswith(root.rstrip("/") + "/")):
            continue
        rel = path[len(root):] if root != "/" else path
        directory = os.path.normpath(mount_point + "/" + rel.lstrip("/"))
        if os.path.isdir(directory):
            return directory
    return None


# The leaf a grader moves the processes of its own cgroup v2 group into, so that the group may
# enable controllers for its children (v2's "no internal processes" rule); worker groups are
# made beside it.
LEAF = "grader.engine"  # not PREFIX: never taken for a worker's group


def _words(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []


def delegate_v2(own: str, attempts: int = 5) -> tuple[Base | None, str]:
    """Make the cgroup v2 group ``own`` (this process's) one whose children may have a memory
    limit; (where to make worker groups, "") or (None, why not).

    A v2 group that holds processes cannot enable controllers for its children (writing
    ``+memory`` to its ``cgroup.subtree_control`` fails with EBUSY). As container runtimes do,
    the grader then moves every process of its group into a leaf child (:data:`LEAF`), enables
    the memory controller on the group, and makes worker groups beside the leaf. A grader that
    is already in such a leaf (an earlier one moved it there) works beside it. CPU time is read
    from each group's ``cpu.stat``, which v2 keeps without the cpu controller.
    """
    if os.path.basename(own) == LEAF:
        parent = os.path.dirname(own)
        if "memory" in _words(os.path.join(parent, "cgroup.subtree_control")):
            return Base(2, parent, parent), ""
        own = parent  # moved there, but the controller was not enabled (yet): try again
    if "memory" not in _words(os.path.join(own, "cgroup.controllers")):
        return None, f"cgroup v2: the memory controller is not delegated to {own}"
    control = os.path.join(own, "cgroup.subtree_control")
    for _ in range(attempts):
        if "memory" in _words(control):
            return Base(2, own, own), ""
        try:
            _write(control, "+memory")
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                return None, f"cgroup v2: cannot enable memory for the children of {own} ({exc})"
        else:
            continue
        # "No internal processes": move this group's processes (ours) into a leaf of their own.
        leaf = os.path.join(own, LEAF)
        try:
            os.makedirs(leaf, exist_ok=True)
            for pid in _words(os.path.join(own, "cgroup.procs")):
                try:
                    _write(os.path.join(leaf, "cgroup.procs"), pid)
                except ProcessLookupError:  # gone since the listing
                    continue
        except OSError as exc:
            return None, f"cgroup v2: cannot move this group's processes into {leaf} ({exc})"
    return None, f"cgroup v2: {own} kept gaining processes while they were being moved"


def _v1_base(paths: dict[str, str]) -> Base | None:
    if "memory" not in paths or "cpuacct" not in paths:
        return None
    memory = _directory("memory", paths["memory"])
    cpu = _directory("cpuacct", paths["cpuacct"])
    if memory is None or cpu is None:
        return None
    return Base(1, memory, cpu)


# Set (to anything) to grade without worker cgroups where the machine has them: each worker's
# tree is then watched by its launcher instead (``grader.isolation.treewatch``).
NO_CGROUP_VARIABLE = "GRADER_NO_CGROUP"


def find_base() -> tuple[Base | None, str]:
    """The hierarchy to make worker groups in, or (None, why there is none): cgroup v2 with
    the memory controller (delegated to the grader's group as :func:`delegate_v2` does), else
    v1's memory and cpuacct."""
    if os.environ.get(NO_CGROUP_VARIABLE):
        return None, f"worker cgroups are turned off ({NO_CGROUP_VARIABLE} is set)"
    if not os.path.isdir(_ROOT) and not _mounts():
        return None, "no cgroup file system is mounted"
    paths = _own_paths()
    v2_why = ""
    if "" in paths and (directory := _directory("", paths[""])) is not None:
        base, v2_why = delegate_v2(directory)
        if base is not None:
            return base, ""
    base = _v1_base(paths)
    if base is None:
        return None, (v2_why or "no memory controller to use (neither cgroup v2 with memory "
                      "nor v1's memory and cpuacct)")
    return base, ""


class Group:
    """One worker's cgroup: its directories (one per hierarchy) and what the kernel counts there."""

    def __init__(self, version: int, memory: str, cpu: str) -> None:
        self.version = version
        self.memory = memory
        self.cpu = cpu

    @property
    def directories(self) -> list[str]:
        return list(dict.fromkeys((self.memory, self.cpu)))

    @classmethod
    def create(cls, base: Base, name: str, memory_bytes: int) -> Group:
        """Make the group ``name`` with a memory limit of ``memory_bytes`` for all its processes."""
        group = cls(base.version, os.path.join(base.memory, name), os.path.join(base.cpu, name))
        made = []
        try:
            for d in group.directories:
                os.mkdir(d, 0o755)
                made.append(d)
            if base.version == 1:
                _write(os.path.join(group.memory, "memory.limit_in_bytes"), str(memory_bytes))
                # Swap counts too where the kernel accounts it (set after the memory limit).
                _write(os.path.join(group.memory, "memory.memsw.limit_in_bytes"),
                       str(memory_bytes), optional=True)
            else:
                _write(os.path.join(group.memory, "memory.max"), str(memory_bytes))
                _write(os.path.join(group.memory, "memory.swap.max"), "0", optional=True)
                # Over the limit, the kernel kills the whole group, not its largest process.
                _write(os.path.join(group.memory, "memory.oom.group"), "1", optional=True)
        except OSError:
            for d in reversed(made):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            raise
        return group

    def attach(self, pid: int) -> None:
        """Move process ``pid`` (not yet running student code) into the group."""
        for d in self.directories:
            _write(os.path.join(d, "cgroup.procs"), str(pid))

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in self.directories:
            try:
                with open(os.path.join(d, "cgroup.procs")) as f:
                    found.update(int(p) for p in f.read().split())
            except (OSError, ValueError):
                continue
        return sorted(found)

    def cpu_seconds(self) -> float | None:
        """CPU time of every process that was ever in the group, to the nanosecond (v1)."""
        try:
            if self.version == 1:
                with open(os.path.join(self.cpu, "cpuacct.usage")) as f:
                    return int(f.read()) / 1e9
            with open(os.path.join(self.cpu, "cpu.stat")) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return int(value) / 1e6
        except (OSError, ValueError):
            return None
        return None

    def oom_kills(self) -> int:
        """How many of the group's processes the kernel killed for exceeding its memory limit."""
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            with open(os.path.join(self.memory, name)) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def wait_empty(self, wait_s: float = 5.0) -> None:
        """Until the group's processes are gone (those left after ``wait_s`` are killed)."""
        end = time.monotonic() + wait_s
        while (pids := self.pids()) and time.monotonic() < end:
            time.sleep(0.005)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def remove(self, wait_s: float = 5.0) -> bool:
        """Remove the group once its processes are gone; whether it is gone."""
        self.wait_empty(wait_s)
        return _rmdir_when_empty(self.directories, time.monotonic() + 2.0)


def _write(path: str, text: str, optional: bool = False) -> None:
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        if optional:
            return
        raise
    try:
        os.write(fd, text.encode())
    except OSError:
        if not optional:
            raise
    finally:
        os.close(fd)


def _rmdir_when_empty(directories: list[str], deadline: float) -> bool:
    left = [d for d in directories if os.path.isdir(d)]
    while left:
        for d in list(left):
            try:
                os.rmdir(d)
            except FileNotFoundError:
                left.remove(d)
            except OSError:  # EBUSY: a killed process has not finished exiting yet
                continue
            else:
                left.remove(d)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.005)
    return not left


def group_of(pid: int) -> Group | None:
    """The worker group process ``pid`` is in, or None where it is in none of ours."""
    paths = _own_paths(pid)
    if "" in paths and os.path.basename(paths[""]).startswith(PREFIX):
        d = _directory("", paths[""])
        return Group(2, d, d) if d else None
    memory, cpu = paths.get("memory", ""), paths.get("cpuacct", "")
    if not os.path.basename(memory).startswith(PREFIX) or \
            not os.path.basename(cpu).startswith(PREFIX):
        return None
    memory_dir, cpu_dir = _directory("memory", memory), _directory("cpuacct", cpu)
    if memory_dir is None or cpu_dir is None:
        return None
    return Group(1, memory_dir, cpu_dir)


def group_name(zygote_pid: int, intermediate_pid: int) -> str:
    return f"{PREFIX}{zygote_pid}-{intermediate_pid}"


def leftovers(zygote_pid: int) -> list[str]:
    """Directories of worker groups of the zygote ``zygote_pid`` that still exist."""
    base, _ = find_base()
    if base is None:
        return []
    found = []
    for parent in dict.fromkeys((base.memory, base.cpu)):
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        found += [os.path.join(parent, n) for n in names
                  if n.startswith(f"{PREFIX}{zygote_pid}-")]
    return sorted(found)


def sweep(zygote_pid: int, wait_s: float = 5.0) -> list[str]:
    """Remove the groups of a zygote that has ended (its workers die with it); those left.

    Waits first for the zygote's process group (its launchers, killed with it) to be gone: a
    launcher killed while making its group finishes that ``mkdir`` before it dies. The zygote
    itself calls it on its way out, once it has killed its launchers.
    """
    end = time.monotonic() + wait_s
    while zygote_pid != os.getpid() and time.monotonic() < end:
        try:
            os.killpg(zygote_pid, 0)
        except ProcessLookupError:
            break
        except OSError:
            break
        time.sleep(0.005)
    directories = leftovers(zygote_pid)
    if not directories:
        return []
    _rmdir_when_empty(directories, time.monotonic() + wait_s)
    return [d for d in directories if os.path.isdir(d)]
