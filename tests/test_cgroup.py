"""Worker cgroups: cgroup v2 delegation on a fake tree (with the kernel's rules it meets), the
v2 group's files, and the real thing where this machine has cgroup v2 with memory."""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

import pytest

from grader.isolation import cgroup


def _words(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


class FakeV2:
    """A cgroup v2 hierarchy in a folder, with the rules of the kernel that delegation meets:
    a group holding processes cannot enable controllers for its children (EBUSY), a controller
    its parent does not offer cannot be enabled (ENOENT), a process is in one group at a time,
    and a process that has exited cannot be moved (ESRCH)."""

    def __init__(self, root: Path, procs: list[int], controllers: str = "cpuset memory pids",
                 gone: tuple[int, ...] = (), writable: bool = True,
                 joining: list[int] | None = None) -> None:
        self.own = root / "container"
        self.own.mkdir(parents=True)
        (self.own / "cgroup.controllers").write_text(controllers + "\n")
        (self.own / "cgroup.subtree_control").write_text("\n")
        (self.own / "cgroup.procs").write_text("".join(f"{p}\n" for p in procs))
        self.gone = set(gone)
        self.writable = writable
        self.joining = list(joining or [])  # processes that keep arriving in the group
        self.root = root

    def write(self, path: str, text: str, optional: bool = False) -> None:
        target = Path(path)
        group = target.parent
        if not self.writable:
            raise PermissionError(errno.EACCES, "Permission denied")
        if target.name == "cgroup.subtree_control":
            controller = text.removeprefix("+")
            if controller not in _words(group / "cgroup.controllers"):
                raise FileNotFoundError(errno.ENOENT, "No such file or directory")
            if _words(group / "cgroup.procs"):
                if self.joining:  # one more process forked into the group meanwhile
                    self.joining.pop()
                raise OSError(errno.EBUSY, "Device or resource busy")
            target.write_text(" ".join(_words(target) + [controller]) + "\n")
        elif target.name == "cgroup.procs":
            for procs in self.root.rglob("cgroup.procs"):
                kept = [p for p in _words(procs) if p != text]
                procs.write_text("".join(f"{p}\n" for p in kept))
            if int(text) in self.gone:  # it exited, and left its group as it did
                raise ProcessLookupError(errno.ESRCH, "No such process")
            target.write_text("".join(f"{p}\n" for p in _words(target) + [text]))
            if self.joining and group != self.own:
                own = self.own / "cgroup.procs"
                own.write_text("".join(f"{p}\n" for p in _words(own) + ["999"]))
        else:
            target.write_text(text)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    made: list[FakeV2] = []

    def make(*args, **kwargs) -> FakeV2:
        tree = FakeV2(tmp_path, *args, **kwargs)
        monkeypatch.setattr(cgroup, "_write", tree.write)
        made.append(tree)
        return tree

    return make


def test_a_group_holding_processes_moves_them_into_a_leaf_and_enables_memory(fake) -> None:
    tree = fake([101, 102, 103])
    base, why = cgroup.delegate_v2(str(tree.own))
    assert base == cgroup.Base(2, str(tree.own), str(tree.own)) and why == ""
    leaf = tree.own / cgroup.LEAF
    assert _words(leaf / "cgroup.procs") == ["101", "102", "103"]
    assert _words(tree.own / "cgroup.procs") == []
    assert "memory" in _words(tree.own / "cgroup.subtree_control")


def test_a_process_gone_while_being_moved_is_skipped(fake) -> None:
    tree = fake([101, 102, 103], gone=(102,))
    base, _ = cgroup.delegate_v2(str(tree.own))
    assert base is not None
    assert _words(tree.own / cgroup.LEAF / "cgroup.procs") == ["101", "103"]


def test_an_empty_group_enables_memory_without_moving_anything(fake) -> None:
    tree = fake([])
    base, _ = cgroup.delegate_v2(str(tree.own))
    assert base is not None and not (tree.own / cgroup.LEAF).exists()


def test_a_grader_already_in_the_leaf_works_beside_it(fake) -> None:
    tree = fake([7])
    assert cgroup.delegate_v2(str(tree.own))[0] is not None
    base, _ = cgroup.delegate_v2(str(tree.own / cgroup.LEAF))  # a later process, in the leaf
    assert base == cgroup.Base(2, str(tree.own), str(tree.own))


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"controllers": "cpuset pids"}, "memory controller is not delegated"),
    ({"writable": False}, "cannot enable memory"),
    ({"joining": [1] * 10}, "kept gaining processes"),
], ids=["memory-not-offered", "not-writable", "processes-keep-arriving"])
def test_where_delegation_cannot_be_had_it_says_why(fake, kwargs, reason: str) -> None:
    tree = fake([101], **kwargs)
    base, why = cgroup.delegate_v2(str(tree.own))
    assert base is None and reason in why, why


def test_a_v2_worker_group_is_limited_and_read_through_v2_files(fake) -> None:
    tree = fake([])
    base, _ = cgroup.delegate_v2(str(tree.own))
    assert base is not None
    group = cgroup.Group.create(base, "grader-1-2", 200 << 20)
    assert (Path(group.memory) / "memory.max").read_text() == str(200 << 20)
    assert (Path(group.memory) / "memory.swap.max").read_text() == "0"
    (Path(group.cpu) / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
    (Path(group.memory) / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.cpu_seconds() == 2.5 and group.oom_kills() == 1


def test_turning_cgroups_off_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cgroup.NO_CGROUP_VARIABLE, "1")
    base, why = cgroup.find_base()
    assert base is None and cgroup.NO_CGROUP_VARIABLE in why


# ------------------------------------------------------------------------------------ for real

def _v2_with_memory() -> str:
    paths = cgroup._own_paths()
    directory = cgroup._directory("", paths.get("", "")) if "" in paths else None
    if directory is None:
        return "this machine has no cgroup v2 hierarchy"
    if "memory" not in _words(Path(directory) / "cgroup.controllers") and \
            os.path.basename(directory) != cgroup.LEAF:
        return "cgroup v2 here offers no memory controller (the controllers are on v1)"
    if os.geteuid() != 0:
        return "only root may delegate cgroups here"
    return ""


@pytest.mark.skipif(bool(_v2_with_memory()), reason=f"needs cgroup v2 with memory: "
                    f"{_v2_with_memory()}")
def test_cgroup_v2_bounds_a_worker_tree_for_real() -> None:
    base, why = cgroup.find_base()
    assert base is not None and base.version == 2, why
    group = cgroup.Group.create(base, cgroup.group_name(os.getpid(), 1), 64 << 20)
    try:
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.read(go_r, 1)
            _hog = bytearray(256 << 20)
            os._exit(0)
        group.attach(pid)
        os.write(go_w, b"x")
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        assert group.oom_kills() >= 1 and group.cpu_seconds() is not None
    finally:
        assert group.remove()
