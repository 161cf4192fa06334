"""The worker's audit hook: the part of the bans that student code can neither reach nor remove.

``sys.addaudithook`` installs a hook for the rest of the process's life; no Python call lists,
replaces or removes it. The worker installs one just before the student's module is imported
(``arm``), and it does four things:

- **Refuses raw-memory and introspection routes**: every ``ctypes`` event (``PyObj_FromPtr``,
  ``from_address``, ``dlsym``...), ``gc.get_objects``/``get_referrers``/``get_referents``,
  ``sys._current_frames``, building code objects (``CodeType(...)``, ``code.replace``),
  assigning ``__code__``, reading the code of the grader's own functions or making a function
  of it, and ``sys._getframe`` into the grader's own frames from student code.
- **Keeps the libraries a topic bans altogether out**: importing one (``[banned] libraries``)
  is refused, whoever asks.
- **Records run-time ``exec``/``compile`` by student code** for the dynamic-access note.
- **Holds the trip-wire's state**: the worker's ``tripwire`` asks for an original through an
  audit event (``grader.gate``), and the hook answers only the trip-wire's own code. The
  ``Tripwire`` object lives in the hook's closure, so no student object leads to it.

"Whose code is this" is decided by code objects, never by file names (``co_filename`` can be
forged): :func:`record_library` notes, in the zygote before any student code exists, the code
of every function then alive (and the code nested in it); modules imported later count as
library code when importlib executes them from a file under the Python installation.
Everything else (the student's files, code they exec, functions they build) is the student's.

What an audit hook cannot stop in-process is listed in docs/design.md: attribute reads that
raise no event (``__globals__``, ``__closure__``, ``f_back``, ``f_locals``) and ctypes'
classes, which stay reachable through ``object.__subclasses__()`` once any library has loaded
ctypes (NumPy and torch do).
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import types
from typing import Any, Callable, Iterable, Sequence

# Filled by record_library() in the zygote; emptied by arm() in the worker, whose hook keeps them.
_LIBRARY: set[int] = set()
_OURS: set[int] = set()
_KEEP: list[types.CodeType] = []

_REFUSED = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents",
                      "sys._current_frames", "code.__new__", "sys.setprofile", "sys.settrace",
                      "sys._setprofileallthreads", "sys._settraceallthreads"})


class AuditRefused(BaseException):
    """Raised by the hook in place of a refused operation. Not an ``Exception``."""


def _codes(code: types.CodeType) -> Iterable[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _add(codes: set[int], code: types.CodeType) -> None:
    for c in _codes(code):
        if id(c) not in codes:
            codes.add(id(c))
            _KEEP.append(c)  # alive as long as the process: an id is never reused


def record_library() -> None:
    """Note every function's code alive now as library code, and the grader's own apart.
    Called once in the zygote, after its imports and before any worker is forked."""
    for obj in gc.get_objects():
        if type(obj) is types.FunctionType:
            code = obj.__code__
            _add(_LIBRARY, code)
            module = obj.__module__
            if isinstance(module, str) and module.startswith("grader."):
                _add(_OURS, code)


def arm(*, student_dir: str, libraries: Sequence[str] = (),
        on_exec: Callable[[str, int], None] | None = None,
        gates: dict[str, Callable[[types.FrameType, tuple[Any, ...]], None]] | None = None,
        ) -> tuple[Callable[[types.CodeType], bool], Callable[[types.CodeType], bool]]:
    """Install the hook (once per process). ``libraries``: roots of the packages this topic
    bans altogether. ``on_exec(what, line)``: student code ran exec/compile at ``line`` of its
    file. ``gates``: handlers of the grader's own events (``grader.*``), each called with the
    frame that raised the event and the event's arguments, and only when the grader's own
    code raised it. Returns ``is_student(code)`` and ``is_ours(code)`` for the grader's use."""
    global _LIBRARY, _OURS, _KEEP
    hook = _Hook(student_dir, libraries, on_exec, gates or {})
    # The hook takes the zygote's records as they are (copying them would write to every page
    # they and the code objects sit on: memory the worker would be charged for), and the module
    # keeps none.
    _LIBRARY, _OURS, _KEEP = set(), set(), []
    sys.addaudithook(hook)
    return hook.is_student, hook.is_ours


class _Hook:
    """The hook proper; only the interpreter's list of audit hooks refers to it."""

    def __init__(self, student_dir: str, libraries: Sequence[str],
                 on_exec: Callable[[str, int], None] | None,
                 gates: dict[str, Callable[[types.FrameType, tuple[Any, ...]], None]]) -> None:
        self.library, self.ours, self.keep = _LIBRARY, _OURS, _KEEP
        self.banned = frozenset(libraries)
        self.on_exec = on_exec
        self.gates = dict(gates)
        # Where library code is read from: the Python installation, its site-packages and the
        # grader's own package (an editable install keeps it outside both).
        grader_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.prefixes = tuple(sorted({os.path.realpath(p) + os.sep for p in (
            sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, grader_root,
            *(p for p in sys.path if "site-packages" in p or "dist-packages" in p))}))
        self.student_root = os.path.realpath(student_dir) + os.sep
        self.busy = threading.local()
        self.importlib = {id(c) for c in _importlib_codes()}

    def is_student(self, code: types.CodeType) -> bool:
        return id(code) not in self.library

    def is_ours(self, code: types.CodeType) -> bool:
        return id(code) in self.ours

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if getattr(self.busy, "on", False):
            return  # an event raised by the hook's own work
        self.busy.on = True
        try:
            self.check(event, args)
        finally:
            self.busy.on = False

    @staticmethod
    def raiser() -> types.FrameType | None:
        """The frame that raised the event (0: this, 1: check, 2: __call__, 3: it; a C
        function's event has no frame of its own, so it is its Python caller's)."""
        try:
            return sys._getframe(3)
        except ValueError:
            return None

    def check(self, event: str, args: tuple[Any, ...]) -> None:
        if event.startswith("ctypes.") or event in _REFUSED:
            raise AuditRefused(f"{event} is not available while grading")
        if event == "import":
            library = banned_library(str(args[0]), self.banned)
            if library is not None:
                raise ModuleNotFoundError(
                    f"{library} is not available in this exercise: write it without {library}",
                    name=str(args[0]))
        elif event == "object.__setattr__" and args[1] == "__code__":
            raise AuditRefused("assigning a function's __code__ is not available while grading")
        elif event == "object.__getattr__" and args[1] == "__code__":
            code = getattr(args[0], "__code__", None)  # the hook is busy: no event again
            if isinstance(code, types.CodeType) and id(code) in self.ours:
                self.own_code_only()
        elif event == "function.__new__":
            if id(args[0]) in self.ours:
                raise AuditRefused("the grader's own code is not available while grading")
        elif event == "sys._getframe":
            if args[0] is not None and id(args[0].f_code) in self.ours:
                self.own_code_only()
        elif event == "exec":
            self.executed(args[0])
        elif event == "compile":
            self.note(self.raiser(), "compile()")
        elif event.startswith("grader."):
            handler = self.gates.get(event)
            frame = self.raiser()
            if handler is None or frame is None or id(frame.f_code) not in self.ours:
                raise AuditRefused(f"{event} is the grader's own event")
            handler(frame, args)

    def own_code_only(self) -> None:
        """Refuse unless the grader's own code raised the event."""
        try:
            frame = sys._getframe(3)  # 0 this, 1 check, 2 __call__, 3 the raiser
        except ValueError:
            return
        if id(frame.f_code) not in self.ours:
            raise AuditRefused("the grader's own code and frames are not available while "
                               "grading")

    def executed(self, code: Any) -> None:
        if not isinstance(code, types.CodeType):
            return
        if id(code) in self.ours:
            raise AuditRefused("the grader's own code is not available while grading")
        frame = self.raiser_of_executed()
        if id(code) not in self.library and self.library_module(frame, code):
            for c in _codes(code):
                if id(c) not in self.library:
                    self.library.add(id(c))
                    self.keep.append(c)
            return
        self.note(frame, "exec()")

    @staticmethod
    def raiser_of_executed() -> types.FrameType | None:
        try:
            return sys._getframe(4)  # 0 this, 1 executed, 2 check, 3 __call__, 4 the raiser
        except ValueError:
            return None

    def library_module(self, frame: types.FrameType | None, code: types.CodeType) -> bool:
        """Whether ``code``, about to be executed by ``frame``, is a module's body that
        importlib read from a file of the Python installation."""
        while frame is not None and id(frame.f_code) in self.importlib:
            loader = frame.f_locals.get("self")
            if type(loader).__name__ in ("SourceFileLoader", "SourcelessFileLoader") and \
                    type(loader).__module__.startswith("importlib") and \
                    isinstance(frame.f_locals.get("module"), types.ModuleType):
                path = getattr(loader, "path", None)
                real = os.path.realpath(str(path))
                return real.startswith(self.prefixes) and \
                    not real.startswith(self.student_root) and code.co_filename == path
            frame = frame.f_back
        return False

    def note(self, frame: types.FrameType | None, what: str) -> None:
        if self.on_exec is None or frame is None or id(frame.f_code) in self.library:
            return  # a library's own exec (dataclasses, namedtuple): not the student's
        self.on_exec(what, frame.f_lineno)


def banned_library(module: str, libraries: Iterable[str]) -> str | None:
    """The library of ``libraries`` that ``module`` belongs to (``scipy.signal`` holds
    ``scipy.signal.windows``), or None."""
    for library in libraries:
        if module == library or module.startswith(library + "."):
            return library
    return None


def _importlib_codes() -> list[types.CodeType]:
    """The code of importlib's steps between an import and the module's body."""
    import importlib._bootstrap as bootstrap
    import importlib._bootstrap_external as external

    return [getattr(bootstrap, "_call_with_frames_removed").__code__,
            getattr(external, "_LoaderBasics").exec_module.__code__]
