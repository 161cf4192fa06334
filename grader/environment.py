"""The course's grading environment: the packages student code may import, pinned by the lock.

``course.toml`` at the course's root declares them::

    [environment]
    packages = ["numpy", "scipy", "torch"]
    lock = "requirements/lock.txt"

``./run``, ``grader export gradescope``'s setup.sh, ``grader release`` and the Dask workers'
set-up install exactly these, at the lock's versions; ``grader grade`` and ``grader batch``
check at start, inside a sandboxed worker, that each of them imports.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shlex
import sys
import sysconfig
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from grader.course import Course, CourseError
from grader.errors import GraderError

COURSE_FILE = "course.toml"
# A course without course.toml lets its students import what the grader itself runs on.
DEFAULT_PACKAGES = ("numpy", "torch")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


class EnvironmentIncomplete(GraderError):
    """A declared package does not import where student code runs; grading would be unfair."""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Environment:
    """What student code may import besides the standard library, and at which versions."""

    packages: tuple[str, ...]  # distribution names, as course.toml lists them
    versions: dict[str, str]  # canonical name -> version in the lock ({} without a lock)
    lock: Path | None

    def requirements(self) -> list[str]:
        """``name==version`` per package (a bare name where the lock has none)."""
        return [f"{p}=={self.versions[_canonical(p)]}" if _canonical(p) in self.versions else p
                for p in self.packages]

    def import_names(self) -> list[str]:
        """The name each package is imported by (its distribution name, ``-`` read as ``_``)."""
        return [p.replace("-", "_") for p in self.packages]

    def install_hint(self) -> str:
        """The command that installs the environment at its locked versions."""
        pins = " ".join(self.requirements())
        return f"pip install {pins}" if self.lock is None else \
            f"pip install -c {self.lock} {pins}"

    def incomplete(self, missing: list[str]) -> EnvironmentIncomplete:
        """The one-line refusal for packages of this environment that did not import (each
        ``"name (Error: message)"``). A package installed here whose import fails only in the
        sandbox is not cured by installing it again: that one is said apart."""
        from grader.isolation.audit import COMPILE_COMMAND

        absent = [m for m in missing if importlib.util.find_spec(m.split(" ", 1)[0]) is None]
        # a library file the sandbox cannot verify without its compiled copy: the refusal names
        # the command that makes it (``audit._unverified``)
        uncompiled = [m for m in missing if m not in absent and COMPILE_COMMAND in m]
        refused = [m for m in missing if m not in absent and m not in uncompiled]
        parts = []
        if absent:
            parts.append(f"{'; '.join(absent)} did not import in a sandboxed worker. course.toml "
                         f"lets student code import {self.describe()}: install them with "
                         f"`{self.install_hint()}`")
        if uncompiled:
            parts.append(f"{'; '.join(uncompiled)}: installed here, but its import fails in a "
                         "sandboxed worker until it is compiled where it is installed: run the "
                         "command named above, then grade again")
        if refused:
            parts.append(f"{'; '.join(refused)}: installed here, but its import fails in a "
                         "sandboxed worker, where student code runs (the sandbox refuses "
                         "something the package does while importing), so it cannot be offered "
                         "to student code as it is: take it out of course.toml's packages")
        return EnvironmentIncomplete("the grading environment is incomplete: " + ". ".join(parts))

    def uncompiled(self) -> EnvironmentIncomplete | None:
        """The refusal where the standard library or an offered package (with what it
        requires) is installed without most of its compiled copies (``uncompiled``), which a
        sandboxed worker needs to load any of its modules: said before any grading, with the
        command that makes them, rather than to the students whose code imports one."""
        from grader.isolation.audit import COMPILE_COMMAND  # (the command its refusals name)

        offered = tuple(self.import_names())
        if offered in _COMPILED:
            return None
        found = _by_folder(uncompiled(offered))
        if not found:
            _COMPILED.add(offered)  # (copies are not taken away while a grader runs)
            return None
        folders = " ".join(shlex.quote(folder) for _, folder, _, _ in found)
        command, aside = COMPILE_COMMAND, ""
        if sys.pycache_prefix:  # (PYTHONPYCACHEPREFIX, -X pycache_prefix): compileall would
            # write the copies there, where a worker, whose environment is emptied, never looks
            command = f"env -u PYTHONPYCACHEPREFIX {command}"
            aside = (f" (without PYTHONPYCACHEPREFIX, which sends compiled copies to "
                     f"{sys.pycache_prefix}, where a worker does not look for them)")
        listed = "; ".join(f"{what} at {folder} ({lacking:,} of {total:,} modules have none)"
                           for what, folder, lacking, total in found)
        return EnvironmentIncomplete(
            f"the grading environment is incomplete: a sandboxed worker loads a library module "
            f"only by its compiled copy (__pycache__/*.pyc), which tells it from student code "
            f"run under its name, and these were installed without them: {listed}. Some "
            f"installations leave the copies out (uv installs packages without them unless "
            f"asked to compile; the official Python container images delete the standard "
            f"library's). Make them once, as the installation's owner (in a "
            f"container image, a RUN line of its Dockerfile){aside}: `{command} {folders}`, "
            f"then grade again")

    def describe(self) -> str:
        """For students: ``numpy, scipy and torch``."""
        names = list(self.import_names())
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


@functools.lru_cache(maxsize=32)
def unoffered(offered: tuple[str, ...], banned: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The top-level modules installed beside the grader that student code may not import: what
    no package of ``offered`` (import names) needs, once the libraries ``banned`` (a topic's
    [banned] libraries) are left out of them. The grader runs in the environment it grades in,
    whose own packages (pandas, scikit-learn, ...) would otherwise be there for student code too,
    though course.toml does not offer them: a worker goes without them, as a topic's banned
    libraries."""
    installed = _installed()
    needed = _requirements(tuple(o for o in offered if o not in banned))
    # An offered package a topic bans is that topic's to refuse, with its own message.
    keep = {_canonical(d) for o in offered for d in installed.get(o, (o,))}
    keep |= {_canonical(d) for d in installed.get("grader", ())}  # the grader's own
    shipped = _vendored(tuple(name for name, dists in installed.items()
                              if {_canonical(d) for d in dists} & needed))
    out = []
    for name, dists in installed.items():
        if not name.isidentifier() or name.startswith("__") or name in sys.stdlib_module_names \
                or name in shipped:
            continue
        found = {_canonical(d) for d in dists}
        if not found & (keep | needed):
            out.append(name)
    return tuple(sorted(out))


def without(names: Sequence[str], banned: Sequence[str]) -> list[str]:
    """The packages of ``names`` (import names) a worker going without the libraries ``banned``
    (a topic's [banned] libraries) may import: none of them, nor one that requires one of them,
    all the way down, as installed here (a submodule's ban, ``scipy.ndimage``, leaves the
    package)."""
    gone = {_canonical(b) for b in banned if "." not in b}
    return [n for n in names if _canonical(n) not in gone and not _requirements((n,)) & gone]


def unavailable(file: str, package: str, offered: Sequence[str], lacks: str) -> str:
    """What a student reads where their ``file`` imports ``package``, which student code cannot
    import where it is graded: ``lacks`` is "offer" where it is installed beside the grader but
    the course does not offer it (``unoffered``), "have" where it is not installed."""
    listed = (", ".join(offered[:-1]) + " and " + offered[-1] if len(offered) > 1
              else offered[0] if offered else "no package beyond it")
    return (f"{file} imports {package}, which the grading environment does not {lacks}. "
            f"Student code may use Python's standard library and {listed}: write this without "
            f"{package}, or ask your instructor whether it may be added to the course.")


# The offered packages (import names) found with their compiled copies, and the standard
# library with them, in this process (``Environment.uncompiled``): one scan per process.
_COMPILED: set[tuple[str, ...]] = set()
# Above this share of its modules without a compiled copy, a folder was installed without them.
# A complete installation lacks a few: test data that does not compile (1.6% of the modules of
# a standard library built by pyenv, under test/ and lib2to3/tests/data/), a module for a newer
# Python (torch's py312_intrinsics).
UNCOMPILED_SHARE = 0.1


def uncompiled(offered: Sequence[str]) -> list[tuple[str, str, int, int]]:
    """The library folders a worker loads from that were installed without most of their
    compiled copies: the standard library, and the top-level packages of the distributions
    ``offered`` (import names) and of what they require, as installed here. Each as (what,
    folder, modules without a copy, modules). A module's copy is the ``.pyc`` of this
    interpreter (its cache tag, not optimised: a worker's) in the ``__pycache__`` beside it,
    the only one the worker's audit hook reads. Listing the folders of the standard library,
    numpy, scipy and torch takes some 0.2 s (0.6 s where the disk's cache is cold)."""
    if sys.implementation.cache_tag is None:  # (an interpreter that caches no bytecode)
        return []
    stdlib = sysconfig.get_paths()["stdlib"]
    found = []
    lacking, total = _without_copies(stdlib, skip=("site-packages", "dist-packages"))
    if total and lacking > UNCOMPILED_SHARE * total:
        found.append(("the standard library", stdlib, lacking, total))
    installed = _installed()
    needed = _requirements(tuple(offered))
    for name in sorted((n for n, dists in installed.items()  # (the offered ones first)
                        if n.isidentifier() and {_canonical(d) for d in dists} & needed),
                       key=lambda n: (n not in offered, n)):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        for folder in spec.submodule_search_locations or ():
            lacking, total = _without_copies(folder)
            if total and lacking > UNCOMPILED_SHARE * total:
                found.append((name, folder, lacking, total))
        if spec.submodule_search_locations is None and spec.origin and \
                spec.origin.endswith(".py") and _without_copies(spec.origin) == (1, 1):
            found.append((name, spec.origin, 1, 1))
    return found


def _by_folder(found: list[tuple[str, str, int, int]]) -> list[tuple[str, str, int, int]]:
    """``uncompiled``'s packages that lie in one folder (a site-packages: the offered ones and
    what they require) said as that folder, which one command compiles whole."""
    parents: dict[str, list[tuple[str, str, int, int]]] = {}
    for entry in found:
        parents.setdefault(os.path.dirname(entry[1]), []).append(entry)
    out = []
    for entry in found:
        parent = os.path.dirname(entry[1])
        group = parents.pop(parent, None)
        if group is None:
            continue  # (said with its folder)
        if len(group) == 1:  # (the standard library's folder holds no other)
            out.extend(group)
            continue
        names = [what for what, _, _, _ in group]
        what = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        out.append((what, parent, sum(g[2] for g in group), sum(g[3] for g in group)))
    return out


def _without_copies(root: str, skip: tuple[str, ...] = ()) -> tuple[int, int]:
    """How many of the ``.py`` files under ``root`` have no compiled copy (see
    ``uncompiled``), and how many there are; folders named in ``skip`` left out."""
    tag = sys.implementation.cache_tag
    if os.path.isfile(root):  # a module of one file
        folder, name = os.path.split(root)
        copy = os.path.join(folder, "__pycache__", f"{name[:-3]}.{tag}.pyc")
        return int(not os.path.isfile(copy)), 1
    lacking = total = 0
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [d for d in subfolders if d != "__pycache__" and d not in skip]
        sources = [f for f in files if f.endswith(".py")]
        if not sources:
            continue
        try:
            copies = set(os.listdir(os.path.join(folder, "__pycache__")))
        except OSError:
            copies = set()
        total += len(sources)
        lacking += sum(f"{f[:-3]}.{tag}.pyc" not in copies for f in sources)
    return lacking, total


_VENDOR = ("_vendor", "vendor", "_vendored", "vendored")


@functools.cache
def _installed() -> Mapping[str, list[str]]:
    """Top-level module -> the distributions installed here that provide it: read once (some
    80 ms), for every topic's ``unoffered``."""
    import importlib.metadata  # 40-80 ms: not for a student's check that never needs it

    return importlib.metadata.packages_distributions()


@functools.lru_cache(maxsize=32)
def _vendored(packages: tuple[str, ...]) -> frozenset[str]:
    """The top-level modules that ``packages`` (import names) ship copies of in a vendor folder
    of their own (``setuptools/_vendor/packaging``, ``torch/_vendor/packaging``): what they
    import by that name (setuptools puts its folder on the search path), and use the installed
    copy of where there is one. Those are part of what the package offers."""
    found: set[str] = set()
    for package in packages:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        for folder in (spec.submodule_search_locations or ()) if spec else ():
            for vendor in _VENDOR:
                try:
                    entries = os.listdir(os.path.join(folder, vendor))
                except OSError:
                    continue
                found |= {e.removesuffix(".py") for e in entries
                          if e.removesuffix(".py").isidentifier() and not e.startswith("_")}
    return frozenset(found)


@functools.lru_cache(maxsize=32)
def _requirements(names: tuple[str, ...]) -> frozenset[str]:
    """The canonical names of the distributions ``names`` and what they require, all the way
    down, as installed here (requirements of extras and of other platforms left out)."""
    import importlib.metadata

    from packaging.requirements import InvalidRequirement, Requirement

    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if _canonical(name) in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        seen.add(_canonical(name))
        for line in dist.requires or ():
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return frozenset(seen)


def read_lock(path: Path) -> dict[str, str]:
    """Canonical name -> version of every ``name==version`` line of a pip-compile'd lock."""
    versions = {}
    for line in path.read_text().splitlines():
        if m := _PIN.match(line.strip()):
            versions[_canonical(m.group(1))] = m.group(2)
    return versions


def python_floor(spec: str | None = None) -> tuple[int, int]:
    """The oldest Python (major, minor) that ``spec`` admits, a ``Requires-Python`` such as
    ">=3.11" (its ``>=``, ``>``, ``~=`` and ``==`` clauses); by default the grader's own, from
    the pyproject.toml beside the package: the oldest Python every locked package supports, which
    Gradescope's setup.sh asks for and a release's README names."""
    if spec is None:
        with open(Path(__file__).resolve().parent.parent / "pyproject.toml", "rb") as f:
            spec = str(tomllib.load(f)["project"]["requires-python"])
    floor = (0, 0)
    for clause in spec.split(","):
        if m := re.fullmatch(r"\s*(>=|>|~=|==)\s*(\d+)(?:\.(\d+))?[\w.*+!-]*\s*", clause):
            floor = max(floor, (int(m.group(2)), int(m.group(3) or 0)))
    return floor


def load_environment(course: Course) -> Environment:
    """The environment ``course.toml`` declares (the default one where there is no such file)."""
    path = course.root / COURSE_FILE
    if not path.is_file():
        return Environment(DEFAULT_PACKAGES, {}, None)
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CourseError(f"{path}: {exc}") from None
    env = data.get("environment", {})
    packages = env.get("packages", list(DEFAULT_PACKAGES))
    if not isinstance(packages, list) or not all(isinstance(p, str) and p for p in packages):
        raise CourseError(f"{path}: [environment] packages must be a list of package names")
    lock = None
    versions: dict[str, str] = {}
    if "lock" in env:
        lock = course.root / str(env["lock"])
        if not lock.is_file():
            raise CourseError(f"{path}: the lock file {env['lock']} does not exist")
        versions = read_lock(lock)
        unpinned = [p for p in packages if _canonical(p) not in versions]
        if unpinned:
            raise CourseError(f"{path}: {', '.join(unpinned)} not in the lock {env['lock']}; "
                              "add it to pyproject.toml and refresh the lock (./run lock)")
    return Environment(tuple(packages), versions, lock)


def environment_files(course: Course) -> list[Path]:
    """course.toml and the lock it names, relative to the course's root: what a copy of the
    course (a Dask worker's, a release, a Gradescope bundle) carries to declare the same
    environment."""
    env = load_environment(course)
    files = [Path(COURSE_FILE)] if (course.root / COURSE_FILE).is_file() else []
    if env.lock is not None:
        files.append(env.lock.relative_to(course.root))
    return files


# Run in a sandboxed worker as if it were a student's module: it imports each package there,
# under the sandbox's read rules, and reports the ones that fail as data.
PROBE = '''\
import importlib


def missing(names):
    out = []
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException as exc:  # a package that exits or breaks on import is missing too
            out.append(f"{name} ({type(exc).__name__}: {exc})")
    return out
'''
