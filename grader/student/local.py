"""The student's own module, imported in-process for the public tests on the student's own machine.

This is the ``student`` fixture of plain pytest (``grader.student.plugin``): the student runs
their own code on their own laptop, so there is no sandbox and no worker, and a debugger or an
IDE's breakpoints reach their code directly. Calls behave as they do in grading where that
matters to the result: arguments and results are copied as the wire copies them (a function
that changes its inputs in place does not change the test's), warnings are recorded per call,
and the course's banned calls are looked for in the file. Grading itself never uses this
module: there, student code runs only in a sandboxed worker.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.abc
import importlib.util
import linecache
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from grader.checks import unpacking
from grader.checks.describe import not_implemented, returned_unusable, stub_raised
from grader.results import definitions, library_errors, recursion, top_level
from grader.grading import banned, encoding

if TYPE_CHECKING:  # imported where a notebook is read: most sessions hold none
    from grader.grading.notebook import NotebookModule
    from grader.grading.remote import StudentError

MAX_TEXT = 4000  # characters of an exception message or traceback, as the worker keeps


class ModuleDoesNotImport(Exception):
    """The student's module could not be imported; ``str`` is the message for the student."""

    def __init__(self, topic: str, message: str) -> None:
        super().__init__(message)
        self.topic = topic


class MissingFunction(AttributeError):
    """The module has no function the test called, at its top level; ``str`` is the message for
    the student, in grading's words, with where the module has it instead (``source``: a
    notebook's code cells, as staged, whose lines ``LocalModule.tell`` gives as cells)."""

    def __init__(self, fn: str, file: Path, source: str | None = None) -> None:
        where = definitions.hint_in(source, fn) if source is not None else \
            definitions.hint(file, fn) if file.suffix == ".py" else ""
        super().__init__(f"there is no function {fn} at the top level of {file.name}" +
                         (f"\n  Hint: {where}" if where else ""))


def topic_file(folder: Path, topic: str) -> Path:
    """The student's file of ``topic`` in ``folder``: ``<topic>.py``, else ``<topic>.ipynb``
    (as grading chooses), else the ``.py`` that is missing."""
    module = folder / f"{topic}.py"
    notebook = folder / f"{topic}.ipynb"
    return notebook if not module.is_file() and notebook.is_file() else module


def read_notebook_module(path: Path) -> NotebookModule:
    """The notebook at ``path`` as grading stages it (its code cells, IPython lines dropped),
    its source registered for tracebacks. Raises ValueError when it cannot be read."""
    from grader.grading.notebook import convert

    module = convert(path)
    linecache.cache[str(path)] = (len(module.source), None, module.source.splitlines(True),
                                  str(path))
    return module


class NotebookLoader(importlib.abc.Loader):
    """Imports a notebook's code cells as a module whose ``__file__`` is the notebook."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def create_module(self, spec: Any) -> None:
        return None  # the default module

    def exec_module(self, module: ModuleType) -> None:
        try:
            converted = read_notebook_module(self.path)
        except ValueError as exc:
            from grader.grading.notebook import unreadable

            raise ImportError(f"{self.path.name}: {unreadable(str(exc))}") from None
        code = compile(converted.source, str(self.path), "exec", dont_inherit=True)
        exec(code, module.__dict__)  # the student's own code, on their own machine


class TopicFinder(importlib.abc.MetaPathFinder):
    """``import <topic>`` finds ``assignments/<topic>/<topic>.py`` (or, where there is none,
    the code cells of ``<topic>.ipynb``), and the student's ``import helpers`` the
    ``helpers.py`` beside one of their modules (their own topic's first), as the flat folder of
    a staged submission does in grading (model_selection may import linear_regression; a
    module's sibling files are staged with it, but tests and ``SKIPPED``). A folder ``helpers/``
    beside their module fails as it does in grading, which stages no folder."""

    def __init__(self, assignments: Path) -> None:
        self.assignments = assignments

    def find_spec(self, name: str, path: Sequence[str] | None, target: Any = None) -> Any:
        if path is not None or "." in name:
            return None
        file = topic_file(self.assignments / name, name)
        if not file.is_file():
            found = self._helper(name)
            if found is None:
                return None
            file = found
        if file.suffix == ".ipynb":
            return importlib.util.spec_from_file_location(name, file,
                                                          loader=NotebookLoader(file))
        return importlib.util.spec_from_file_location(name, file)

    def _helper(self, name: str) -> Path | None:
        """``<name>.py`` beside a module of the student's, where their own file imports it."""
        importer = _importing_file()
        if importer is None or name.startswith("test_") or \
                not _is_students(importer, self.assignments):
            return None
        from grader.grading.submission import SKIPPED

        if f"{name}.py" in SKIPPED:
            return None
        own = Path(importer).parent
        try:
            folders = [own, *sorted(p for p in self.assignments.iterdir() if p != own)]
        except OSError:
            return None
        for folder in folders:
            if (folder / f"{name}.py").is_file():
                return folder / f"{name}.py"
        if (own / name).is_dir() and any((own / name).rglob("*.py")) and \
                _only_there(name, own / name):  # as grading would
            from grader.grading.submission import folder_not_staged

            raise ModuleNotFoundError(f"No module named '{name}': " + folder_not_staged(
                Path(importer).name, name), name=name)
        return None


def _only_there(name: str, folder: Path) -> bool:
    """Whether ``import name`` finds nothing but ``folder`` on the search path: an installed
    package of that name is what grading imports, the folder being left out there."""
    import importlib.machinery

    spec = importlib.machinery.PathFinder.find_spec(name)
    if spec is None:
        return True
    where = [os.path.realpath(p) for p in (spec.submodule_search_locations or ())]
    return os.path.realpath(folder) in where


def install_finder(assignments: Path) -> None:
    """Put a finder for ``assignments`` first on the import path (once per folder)."""
    for finder in sys.meta_path:
        if isinstance(finder, TopicFinder) and finder.assignments == assignments:
            return
    sys.meta_path.insert(0, TopicFinder(assignments))


# The frames of the import machinery, between an import statement and a finder.
_IMPORTING = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>",
              importlib.__file__)


def _importing_file() -> str | None:
    """The file whose code asked for the import a finder is looking for: the innermost frame
    outside the import machinery (an ``import`` statement, ``importlib.import_module``)."""
    frame: Any = sys._getframe(1)
    while frame is not None and (frame.f_code.co_filename in _IMPORTING or
                                 frame.f_code.co_filename == __file__):
        frame = frame.f_back
    return None if frame is None else frame.f_code.co_filename


def _is_students(file: str, assignments: Path) -> bool:
    """Whether ``file`` is one of the student's modules in ``assignments`` (not a test). A file
    name decides no trust here: this is the student's own process, and it only keeps their
    check in step with grading, whose walls decide by code objects (docs/design.md)."""
    real = os.path.realpath(file)
    base = os.path.basename(real)
    if not real.startswith(os.path.join(os.path.realpath(assignments), "")) or \
            base.startswith("test_"):
        return False
    from grader.grading.submission import SKIPPED  # what grading does not stage (35 ms)

    return base not in SKIPPED


class UnofferedFinder(importlib.abc.MetaPathFinder):
    """The student's own ``import pandas`` fails here as it does where their code is graded: a
    package installed on this machine that the course does not offer (what none of the packages
    of course.toml needs, ``grader.environment.unoffered``) is absent from the grading worker, so
    a module importing it at its top scores nothing there. Asked only for top-level names not
    loaded yet, and refuses only an import made by the student's own file (a module of
    ``assignments``, not a test): pytest's, the grader's and the libraries' own imports are
    theirs."""

    def __init__(self, assignments: Path, offered: Callable[[], tuple[str, ...] | None]) -> None:
        self.assignments = assignments
        self.offered = offered  # read at the first import that needs it

    def find_spec(self, name: str, path: Sequence[str] | None, target: Any = None) -> Any:
        if path is not None or "." in name or name in sys.stdlib_module_names:
            return None
        if not self._by_student() or any(self.assignments.glob(f"*/{name}.py")) or \
                any(self.assignments.glob(f"*/{name}/")):  # a file of their own by that name
            return None
        offered = self.offered()
        if offered is None or name in offered:
            return None
        from grader import environment

        if name in environment.unoffered(offered):
            raise ModuleNotFoundError(f"No module named '{name}': the course does not offer it "
                                      "to student code", name=name)
        return None

    def _by_student(self) -> bool:
        importer = _importing_file()
        return importer is not None and _is_students(importer, self.assignments)


def refuse_unoffered(assignments: Path, offered: Callable[[], tuple[str, ...] | None]) -> None:
    """Put an ``UnofferedFinder`` for ``assignments`` first on the import path (once)."""
    for finder in sys.meta_path:
        if isinstance(finder, UnofferedFinder) and finder.assignments == assignments:
            return
    sys.meta_path.insert(0, UnofferedFinder(assignments, offered))


class BannedFinder(importlib.abc.MetaPathFinder):
    """A library a topic bans is absent from the worker that grades it, and so is every module
    that imports one (``scipy.stats`` needs ``scipy.ndimage``, which conv bans): the student's
    own import of either fails here as it does there, in the same words. Refuses only where the
    student's code asked, through any library (their module's file, a helper beside it, under
    the bans of the topic whose code runs outermost); the tests' and the grader's own imports
    are theirs. Asked only for modules not loaded yet: one this session loaded already (for
    another topic's code, or the tests) is not refused again here, though grading refuses it.
    The frames' file names it reads decide no trust: this is the student's own process, and
    it only keeps their check in step with grading, whose walls decide by code objects."""

    def __init__(self, assignments: Path,
                 offered: Callable[[], tuple[str, ...] | None]) -> None:
        from grader.isolation.audit import absent, banned_library  # the worker's own words

        self.assignments = assignments
        self.offered = offered  # a library the course does not offer is UnofferedFinder's
        self.bans: dict[str, tuple[str, ...]] = {}  # topic: the libraries it bans
        self._absent, self._library = absent, banned_library

    def find_spec(self, name: str, path: Sequence[str] | None, target: Any = None) -> Any:
        banned_library = self._library
        if banned_library(name, {lib for libs in self.bans.values() for lib in libs}) is None:
            return None
        asked = self._asked()
        if asked is None:
            return None
        topic, needs = asked
        library = banned_library(name, self.bans.get(topic, ()))
        if library is None or self._unoffered(library.split(".")[0], self.bans[topic]):
            return None
        if needs is not None and banned_library(needs, (library,)) is not None:
            needs = None  # a module of the banned library itself: the library is what is refused
        raise self._absent(library, name, needs=needs)

    def _unoffered(self, top: str, bans: tuple[str, ...]) -> bool:
        """Whether grading refuses ``top`` as a package the course does not offer, in those
        words, rather than as a banned library."""
        offered = self.offered()
        if offered is None or top in offered:
            return False
        from grader import environment

        return top in environment.unoffered(offered, bans)

    def _asked(self) -> tuple[str, str | None] | None:
        """(the topic of the outermost frame of the student's code, the outermost library
        module whose body runs below it), or None where no code of the student's asked, or
        where torch's compiler did on its behalf: grading never runs it (``torch.compile`` is
        the function as written there, ``grader.isolation.compiled``), so what it imports is
        not refused here either."""
        topic = needs = None
        frame: Any = sys._getframe(2)
        while frame is not None:
            file = frame.f_code.co_filename
            if file not in _IMPORTING and file != __file__:
                if _is_students(file, self.assignments):
                    topic = Path(os.path.realpath(file)).parent.name
                elif topic is None:
                    module = str(frame.f_globals.get("__name__", ""))
                    if module.startswith(_COMPILER):
                        return None
                    if frame.f_code.co_name == "<module>":
                        needs = module or needs
            frame = frame.f_back
        return None if topic is None else (topic, needs)


# The modules of torch's compiler, which a worker never runs (see ``BannedFinder._asked``).
_COMPILER = ("torch._dynamo", "torch._inductor", "torch.compiler")


def refuse_banned(assignments: Path, topic: str, libraries: tuple[str, ...],
                  offered: Callable[[], tuple[str, ...] | None]) -> None:
    """Refuse in ``topic``'s code the libraries it bans (one ``BannedFinder`` per folder)."""
    finder = next((f for f in sys.meta_path
                   if isinstance(f, BannedFinder) and f.assignments == assignments), None)
    if finder is None:
        finder = BannedFinder(assignments, offered)
        sys.meta_path.insert(0, finder)
    finder.bans[topic] = libraries


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path`` as the student typed it: relative to the current folder when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if rel.startswith("..") else rel


def student_frames(tb: Any, file: Path) -> str:
    """The frames of ``tb`` in the student's ``file``, formatted like Python's traceback."""
    real = os.path.realpath(file)
    frames = [f for f in traceback.extract_tb(tb) if os.path.realpath(f.filename) == real]
    for f in frames:
        f.filename = shown_path(f.filename)
    return "".join(traceback.format_list(frames))[-MAX_TEXT:]


def _copy(value: Any) -> Any:
    """A copy of what the wire would carry (arrays, tensors, their containers); anything else
    (an opaque cache object) is passed as it is, as a worker's handle would be."""
    import numpy as np

    torch = sys.modules.get("torch")
    if isinstance(value, np.ndarray):
        return value.copy()
    if torch is not None and isinstance(value, torch.Tensor):
        copy = value.detach().clone()
        return copy.requires_grad_(value.requires_grad) if value.is_floating_point() else copy
    if type(value) is list:
        return [_copy(v) for v in value]
    if type(value) is tuple:
        return tuple(_copy(v) for v in value)
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    return value


@dataclass
class LocalModule:
    """One topic's module for a session: imported at its first call, once."""

    topic: str
    file: Path
    banned_patterns: tuple[str, ...] = ()
    # The packages the course offers student code (course.toml), read where a message needs them.
    provides: Callable[[], tuple[str, ...] | None] = lambda: ()
    autograd_banned: bool = False  # [banned] capabilities holds "autograd": gradients by hand
    module: ModuleType | None = None
    failure: str | None = None  # why it does not import, once known
    findings: list[banned.Finding] = field(default_factory=list)
    notebook: NotebookModule | None = None  # where ``file`` is the topic's notebook, once read

    @property
    def is_notebook(self) -> bool:
        return self.file.suffix == ".ipynb"

    def tell(self, text: str) -> str:
        """``text`` as the student reads it: for a notebook, with cells and lines of the
        notebook for lines of the module made from it, and the notebook's name for the module's."""
        if not self.is_notebook:
            return text
        from grader.grading.notebook import NotebookModule, relocate

        return relocate(text, self.topic, self.notebook or NotebookModule(self.file.name, "", ()))

    def where(self, line: int) -> str:
        """``line N`` of the student's file; for a notebook, ``cell C, line L``."""
        spot = self.notebook.locate(line) if self.notebook else None
        return f"cell {spot[0]}, line {spot[1]}" if spot else f"line {line}"

    def notes(self) -> list[str]:
        """What the student is told about how their file was read (a notebook's cells)."""
        return list(self.notebook.notes) if self.notebook else []

    def load(self) -> ModuleType:
        if self.failure is not None:
            raise ModuleDoesNotImport(self.topic, self.failure)
        if self.module is not None:
            return self.module
        if not self.file.is_file():
            self.failure = (f"{self.topic}.py (or {self.topic}.ipynb) was not found in "
                            f"{shown_path(self.file.parent)}")
            raise ModuleDoesNotImport(self.topic, self.failure)
        if self.is_notebook:
            try:
                self.notebook = read_notebook_module(self.file)
            except ValueError as exc:
                from grader.grading.notebook import unreadable

                self.failure = (f"{unreadable(str(exc))}: {shown_path(self.file)} could "
                                "not be read, so none of its code ran; open it in Jupyter and "
                                "save it again")
                raise ModuleDoesNotImport(self.topic, self.failure) from None
            source = self.notebook.source
        else:
            source = self.file.read_text(errors="replace")
        self.findings = banned.propagate(banned.scan(source, self.banned_patterns), source)
        sys.modules.pop(self.topic, None)  # a module of that name from elsewhere
        try:
            self.module = importlib.import_module(self.topic)
        except BaseException as exc:  # SystemExit at import too: the student is told, not pytest
            self.failure = self.tell(self._import_failure(exc))
            raise ModuleDoesNotImport(self.topic, self.failure) from None
        if os.path.realpath(str(getattr(self.module, "__file__", ""))) != \
                os.path.realpath(self.file):
            self.failure = (f"`import {self.topic}` found {self.module.__file__}, not your "
                            f"{shown_path(self.file)}: rename that other module")
            raise ModuleDoesNotImport(self.topic, self.failure)
        return self.module

    def _import_failure(self, exc: BaseException) -> str:
        name = f"{self.topic}.py"
        if isinstance(exc, SyntaxError):
            try:
                unread = encoding.not_python_text(Path(self.file).read_bytes()[:encoding.MAX_READ])
            except OSError:
                unread = ""
            if unread:
                return f"{name} has a syntax error: {unread}; then every test runs again"
            if exc.filename:
                exc.filename = shown_path(exc.filename)
            detail = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
            return f"{name} has a syntax error; fix it and every test runs again:\n{detail}"
        text = f"{name} raised {type(exc).__name__} while being imported: {_safe_str(exc)}"
        frames = student_frames(exc.__traceback__, self.file).rstrip()
        try:
            topics = [p.name for p in self.file.parent.parent.iterdir() if p.is_dir()]
        except OSError:
            topics = []
        if hint := top_level.topic_by_path(type(exc).__name__, _safe_str(exc), frames, topics):
            return f"{text}\n  Hint: {hint}" + (f"\nin your code:\n{frames}" if frames else "")
        if isinstance(exc, ModuleNotFoundError) and exc.name and \
                "the course does not offer it" in _safe_str(exc):  # UnofferedFinder's
            from grader import environment

            text = environment.unavailable(name, exc.name.split(".")[0],
                                           self.provides() or (), "offer") + "\n" + text
        if hint := top_level.hint(type(exc).__name__, _safe_str(exc), frames) or \
                library_errors.hint(_safe_str(exc), type(exc).__name__):
            text += f"\n  Hint: {hint}"
        return text + (f"\nin your code:\n{frames}" if frames else "")


class LocalStudent:
    """The ``student`` fixture on the student's machine: ``student.fit_linear(X, y)`` calls
    their function in this process, with copied arguments, and records what was called."""

    def __init__(self, local: LocalModule) -> None:
        self._local = local
        self.called: list[str] = []
        self.last_warnings: list[tuple[str, str]] = []
        self.output = ""  # printed output is captured by pytest, per test
        self.failed_call: str | None = None  # the function whose call raised, if one did

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def local(*args: Any, **kwargs: Any) -> Any:
            return self.call(name, *args, **kwargs)

        local.__name__ = name
        return local

    def call(self, fn: str, *args: Any, keep: tuple[int, ...] = (), **kwargs: Any) -> Any:
        """Call ``fn`` of the student's module (``keep`` is for the grading side's handles:
        here every value stays in this process anyway)."""
        if fn not in self.called:
            self.called.append(fn)
        self.failed_call = fn
        module = self._local.load()
        func = getattr(module, fn, None)
        if func is None or not callable(func):
            notebook = self._local.notebook
            raise MissingFunction(fn, self._local.file, notebook.source if notebook else None)
        fired: list[dict[str, Any]] = []
        refusing = _no_autograd(f"{self._local.topic}.py", self._local.file, fired) \
            if self._local.autograd_banned and "torch" in sys.modules else contextlib.nullcontext()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with refusing:
                    result = func(*_copy(list(args)), **_copy(kwargs))
            except BaseException as exc:
                if fired:  # refused, whether or not their code caught the refusal
                    raise _banned(fn, fired) from None
                _last_raised[:] = [(exc, fn, self._local.file)]
                raise
        if fired:  # caught by their code: refused all the same, as a worker's trip-wire is
            raise _banned(fn, fired)
        self.failed_call = None
        self.last_warnings = [(w.category.__name__, _safe_str(w.message)[:500])
                              for w in caught[:50]]
        unpacking.check_outputs(fn, result)
        return _copy(result)

    def batch(self, fn: str, arglist: list[tuple[Any, ...]],
              select: int | None = None) -> list[Any]:
        out = [self.call(fn, *args) for args in arglist]
        return [o[select] for o in out] if select is not None else out


def _banned(fn: str, fired: list[dict[str, Any]]) -> Exception:
    from grader.grading.remote import BannedCallError  # grading's own (140 ms): where one fired

    return BannedCallError(fn, fired)


class _Refused(BaseException):
    """Autograd called by the student's code where their topic bans it: not an ``Exception``,
    as the worker's trip-wire's is not, and recorded in any case."""


def _no_autograd(name: str, file: Path, fired: list[dict[str, Any]]) -> Any:
    """A torch function mode, for one call of the student's code, that refuses autograd's
    entry points in the words of a worker (``grader.grading.remote.describe_banned_call``).
    Where a topic bans autograd, its worker records no graph at all; this refuses those of the
    worker's refused calls that torch hands to a mode (``Tensor.backward``,
    ``torch.autograd.grad`` and what calls it, as ``torch.autograd.functional``), so that a
    gradient left to autograd fails the check as it fails grading; ``torch.func``'s transforms
    do not pass through a mode and are not refused here. It keeps an honest student from a
    surprise, and is no wall: their own machine runs their code as they like."""
    return _no_autograd_mode()(name, os.path.realpath(file), fired)


@functools.lru_cache(maxsize=1)
def _no_autograd_mode() -> Any:
    import pkgutil

    from torch.overrides import TorchFunctionMode

    from grader.isolation.profiles import AUTOGRAD  # what a worker's trip-wires refuse there

    names: dict[Any, str] = {}
    for name in AUTOGRAD:  # those torch hands to a mode: Tensor.backward, autograd.grad, ...
        try:
            found = pkgutil.resolve_name(name)
        except (ImportError, AttributeError, ValueError):
            continue  # one this torch does not have
        if callable(found):  # not a module
            names[found] = name

    class NoAutograd(TorchFunctionMode):
        def __init__(self, name: str, real: str, fired: list[dict[str, Any]]) -> None:
            super().__init__()
            self.name, self.real, self.fired = name, real, fired

        def __torch_function__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            banned = names.get(func)
            if banned is None:
                return func(*args, **(kwargs or {}))
            # The student's line, for the message's words only (their own process: no trust).
            frame: Any = sys._getframe(1)
            while frame is not None and os.path.realpath(frame.f_code.co_filename) != self.real:
                frame = frame.f_back
            call = {"name": banned, "file": self.name,
                    "line": frame.f_lineno if frame is not None else None}
            self.fired.append(call)
            from grader.grading.remote import describe_banned_call

            raise _Refused(describe_banned_call(call))

    return NoAutograd


# The exception that last came out of a student's function, with the function and its file.
_last_raised: list[tuple[BaseException, str, Path]] = []


def raised(exc: BaseException) -> StudentError | None:
    """``exc`` as grading reports an exception of the student's code (``StudentError``), where
    it is the one that last came out of a function of theirs; else None (the check's own, a
    module that does not import, a missing function). The shared checks (``assert_raises``, a
    hint that calls student code) read the student's exceptions so on both sides."""
    if not _last_raised or _last_raised[0][0] is not exc:
        return None
    from grader.grading.remote import StudentError

    _, fn, file = _last_raised[0]
    mro = tuple(c.__name__ for c in type(exc).__mro__ if c not in (object, BaseException))
    return StudentError(fn, type(exc).__name__, _safe_str(exc)[:MAX_TEXT],
                        student_frames(exc.__traceback__, file), mro)


def explain_local(exc: BaseException, student: LocalStudent | None, file: Path,
                  when: str) -> tuple[str, list[str]]:
    """(message for the student, flags) for an exception that ended a public test, with the
    wording grading uses (``grader.grading.plugin.explain``) and the student's own file and lines."""
    fn = (student.failed_call or (student.called[-1] if student.called else None)) \
        if student else None
    if isinstance(exc, ModuleDoesNotImport):
        return str(exc), ["import_failed"]
    if isinstance(exc, MissingFunction):
        return str(exc), []
    remote = sys.modules.get("grader.grading.remote")  # loaded where a call was refused
    if remote is not None and isinstance(exc, remote.BannedCallError):
        return str(exc), ["banned"]
    in_student = bool(student_frames(exc.__traceback__, file)) if student else False
    if in_student and isinstance(exc, NotImplementedError):
        innermost = None  # the student's own innermost frame: their stub
        for frame, line in traceback.walk_tb(exc.__traceback__):
            if os.path.realpath(frame.f_code.co_filename) == os.path.realpath(file):
                innermost = frame.f_code.co_name, linecache.getline(frame.f_code.co_filename, line)
        if innermost is None or stub_raised(innermost[1]):
            return (not_implemented(fn or "your code", innermost and innermost[0], _safe_str(exc)),
                    ["not_implemented"])
    if in_student or (student is not None and student.failed_call is not None):
        text = f"{fn} raised {type(exc).__name__}: {_safe_str(exc)[:MAX_TEXT]}"
        frames = student_frames(exc.__traceback__, file).rstrip()
        if isinstance(exc, RecursionError) and (hint := recursion.hint(frames)):
            text += f"\n  Hint: {hint}"
        elif hint := library_errors.hint(_safe_str(exc), type(exc).__name__):
            text += f"\n  Hint: {hint}"
        return text + (f"\nin your code:\n{frames}" if frames else ""), []
    if isinstance(exc, AssertionError):
        return str(exc) or f"a check of {fn or 'your code'} failed", []
    if when == "setup":
        return f"the test could not be set up: {type(exc).__name__}: {_safe_str(exc)}", \
            ["grader_error"]
    # The test could not use what the student returned (wrong type, wrong number of outputs).
    return returned_unusable(fn or "your function", exc), []


def describe_banned(findings: list[banned.Finding], file: Path,
                    where: Callable[[int], str] | None = None) -> list[str]:
    """One line per banned name, with every place it is used, instead of one per finding.
    ``where`` names a line of the scanned source (a notebook's cell and line)."""
    where = where or (lambda line: f"line {line}")
    by_name: dict[str, list[banned.Finding]] = {}
    for f in findings:
        by_name.setdefault(f.name, []).append(f)
    lines = []
    for name, found in by_name.items():
        places = []
        for f in sorted(found, key=lambda f: (f.line, f.via or "")):
            scope = f"in {f.via or f.function}" if f.function else "at the top level"
            through = f", which {f.function} calls" if f.via else ""
            place = f"{where(f.line)} {scope}{through}"
            if place not in places:
                places.append(place)
        lines.append(f"{name} is not allowed in this exercise ({shown_path(file)}: "
                     f"{'; '.join(places)}): write it with basic array operations instead")
    return lines


def _safe_str(exc: object) -> str:
    try:
        return str(exc)
    except Exception:  # a student exception whose __str__ raises
        return "<the exception's message could not be read>"
