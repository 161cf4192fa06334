"""The worker's audit hook: the part of the bans that student code can neither reach, remove nor run inside.

``sys.addaudithook`` installs a hook for the rest of the process's life; no Python call lists,
replaces or removes it. The worker installs one just before the student's module is imported
(``arm``), and it does five things:

- **Refuses raw-memory and introspection routes**: every ``ctypes`` event (loading a native
  library fails as loading one that is not there does, with an ``OSError``), ``gc.get_objects``/
  ``get_referrers``/``get_referents``, ``sys._current_frames``, tracing and profiling, building
  code objects (``CodeType(...)``, ``code.replace``), assigning ``__code__``, making a function
  or running ``exec`` of the grader's own code.
- **Keeps the modules a topic bans out**: importing one (``[banned] libraries``, and the
  modules its worker's profile leaves out) is refused, whoever asks.
- **Lets a module run once**: a library file's body runs once in the process, a module of the
  trip-wire's packages only under its own name and through the trip-wire's loader, none that
  would join what a banned call names (``profiles.sealed``: ``torch.nn.attention.bias`` where
  ``torch.nn.attention`` is banned), and a module
  of compiled code is made once (``_maker``): run again, a module would make new, unwired twins
  of the functions the trip-wire guards (``importlib.reload``, a file loaded under another name,
  ``runpy``, ``_signal`` made again).
- **Reports code the student's module builds and runs at run time** (``exec``, ``eval``,
  ``compile``, a function made from a code object, ``marshal``, a module made by importlib from
  something other than a file), with its source or its code, for the dynamic-access note and
  the similarity comparison (``on_exec``).
- **Holds the trip-wire's state**: the worker's ``tripwire`` asks for an original through an
  audit event (``grader.gate``), which the hook answers only for the trip-wire's own code.

**The hook never runs student code.** It reads an event's arguments only where they are of an
exact built-in type (``type(x) is str``: never ``isinstance``, ``==``, ``str()`` or an attribute
read on anything else), so a spoofed event (``sys.audit("import", obj)``) whose arguments are the
student's objects cannot call their methods; an event it cannot read that way is refused. Any
event raised while it works is refused but for its own frame reads (``sys._getframe``,
``f_code``). Nor can student code start running while a frame of the grader's is in the middle
of its work, by any of the ways Python has of running code there unasked: the automatic garbage
collector is off in a worker (``grader.isolation.collector``: the worker collects between
calls), a signal handler cannot be installed (the trip-wire bans ``signal.signal`` in every
worker), ``sys.monitoring`` callbacks, tracing and profiling are refused, and so are the modules
that run code at the interpreter's next check (``_testcapi``'s pending calls) or in another
interpreter (``UNSAFE_MODULES``). Another thread of the student's cannot read the grader's
frames either: ``sys._current_frames`` and ``sys._current_exceptions`` are refused.

**It looks nothing up where student code can write.** The builtins, every module's globals
and attributes, every class's methods are the student's to change, without an audit event; so
the hook runs private copies of its code, of the trip-wire's handlers and of the library code
they call, over copies of those namespaces made when it is armed
(``grader.isolation.private``). What copying cannot cover it avoids: it makes its refusals with
``BaseException.__new__`` (no class's ``__init__`` runs), compares classes by ``id`` (a
metaclass answers ``hash`` and ``==``), and reads a loader's or a module's namespace by the
built-in lookup, key by key (``grader.isolation.bare``: a key of the student's with a name's
hash would have its ``__eq__`` called by a dict lookup).

**Nothing leads to its state.** The state lives in closures: the hook proper is a function that
only the interpreter's list of audit hooks refers to, and it refers to its checker (the private
copy) through a default argument that it deletes, with the event and its arguments, before it
raises a refusal. So the frame a refusal's traceback holds shows nothing but the refusal itself.

"Whose code is this" is decided by code objects, never by file names (``co_filename`` can be
forged): :func:`record_library` notes, in the zygote before any student code exists, the code
of every function then alive (and the code nested in it); modules imported later count as
library code when importlib's loader runs, as a module's body, what a file under the Python
installation compiles to (``genuine``: told by the file's ``.pyc``, where importlib would load
it; the hook never compiles anything, which would run code the student can reach). Which module
importlib runs is told by its frames' code, never by their variables (``running``). Everything
else (the student's files, code they exec, functions they build) is the student's.

What an audit hook cannot stop in-process is said in docs/design.md: raw memory. NumPy reads
and writes any address handed to it as an ``__array_interface__``, with no audited call, so
in-process state is a wall against every Python-level route, not against raw memory. Walls that
hold whatever happens inside the process are outside it: Landlock (a banned library's files are
not readable), the namespaces, seccomp and the limits.
"""

from __future__ import annotations

import gc
import marshal
import os
import re
import sys
import threading
import types
from typing import Any, Callable, Iterable, Sequence

from grader.isolation import bare, collector, private

# Filled by record_library() in the zygotes; emptied by arm() in the worker, whose hook keeps them.
_LIBRARY: set[int] = set()
_OURS: set[int] = set()
_KEEP: list[types.CodeType] = []
# The classes alive in the zygote (never freed: their modules hold them): an object of one of
# them, or of a built-in type, has no method of the student's (``tripwire`` reads only those).
LIBRARY_TYPES: set[int] = set()
# The modules loaded so far (``record_library``): the files whose bodies ran, by identity (device,
# inode: however the path is spelt), and the names of the modules made of compiled code (built
# in, or an extension's). Noted in the zygotes, handed to the worker's hook by ``arm``.
_RAN: set[tuple[int, int]] = set()
_MADE: set[str] = set()
_NOTED: set[str] = set()

_REFUSED = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents",
                      "sys._current_frames", "sys._current_exceptions", "code.__new__",
                      "sys.setprofile", "sys.settrace", "sys._setprofileallthreads",
                      "sys._settraceallthreads", "sys.monitoring.register_callback",
                      "cpython.PyInterpreterState_New", "cpython.PyInterpreterState_Clear",
                      "cpython._PySys_ClearAuditHooks", "sys.addaudithook"})
# Modules of CPython's that no worker loads, whatever its topic: its own test helpers (pending
# calls that run a function at the interpreter's next check, from inside any frame; reads and
# writes of freed memory; the C API at large) and the interpreters beside this one (whose
# imports and calls no hook of this interpreter sees). Refused however they are loaded.
UNSAFE_MODULES = frozenset({
    "_testcapi", "_testinternalcapi", "_testlimitedcapi", "_testbuffer", "_testclinic",
    "_testclinic_limited", "_testimportmultiple", "_testmultiphase", "_testsinglephase",
    "_testexternalinspection", "_xxtestfuzz", "_ctypes_test", "_xxsubinterpreters",
    "_xxinterpchannels", "_xxinterpqueues", "_interpreters", "_interpchannels", "_interpqueues"})
# What the hook itself raises while it works (frames read, ids taken): the only events it lets
# pass while busy.
_OWN_EVENTS = frozenset({"sys._getframe", "builtins.id"})
_OWN_READS = frozenset({"f_code", "tb_frame", "__code__"})
_VERIFYING = frozenset({"open", "marshal.loads"})
# What makes the compiled copies of a folder's library files, which tell them apart (``genuine``).
COMPILE_COMMAND = "python -m compileall -q"
# How much of the source of one piece of run-time code is reported.
MAX_SOURCE = 128 * 1024
# Routes of run-time code, as the worker reports them (the trusted side words them).
ROUTES = ("string", "tree", "code", "function", "module")
# The names of the functions that run code: a library frame that names one runs code of its own.
_RUNNERS = frozenset({"exec", "eval", "compile"})
_BUILDERS = frozenset({"FunctionType", "LambdaType"})  # likewise for making a function of code


class AuditRefused(BaseException):
    """Raised by the hook in place of a refused operation. Not an ``Exception``."""


def _refused(message: str) -> AuditRefused:
    """A refusal, made without running any code of its class (``bare.refusal``)."""
    return bare.refusal(AuditRefused, message)


def _codes(code: types.CodeType) -> Iterable[types.CodeType]:
    yield code
    for const in code.co_consts:
        if type(const) is types.CodeType:
            yield from _codes(const)


def _add(codes: set[int], keep: list[types.CodeType], code: types.CodeType) -> None:
    for c in _codes(code):
        if id(c) not in codes:
            codes.add(id(c))
            keep.append(c)  # alive as long as the process: an id is never reused


def record_library() -> None:
    """Note every function's code alive now as library code, and the grader's own apart, every
    class alive (``LIBRARY_TYPES``), and every module (``_note``). Called in each zygote after
    its imports (again in a zygote forked from another, for what it imported since), before any
    worker is forked. What a zygote above froze (``gc.freeze``) is not walked again: it was
    noted there, and reading it here would copy its pages into this zygote."""
    for obj in gc.get_objects():
        if issubclass(type(obj), type):  # not isinstance: it would read __class__
            LIBRARY_TYPES.add(id(obj))
        elif type(obj) is types.FunctionType:
            code = obj.__code__
            if id(code) in _LIBRARY:
                continue
            _add(_LIBRARY, _KEEP, code)
            module = obj.__module__
            if isinstance(module, str) and module.startswith("grader."):
                _add(_OURS, _KEEP, code)
        elif type(obj) is types.ModuleType:
            _note(obj)


def _note(module: types.ModuleType, name: Any = None) -> None:
    """Note ``module`` (see ``_RAN``): the file it ran, or its name if made of compiled code."""
    namespace = vars(module)
    if name is None:
        name = namespace.get("__name__")
    if type(name) is not str:
        return
    _NOTED.add(name)
    path = namespace.get("__file__")
    if type(path) is str:
        ran = _identity(path)
        if ran is not None:
            _RAN.add(ran)
        if not path.endswith((".py", ".pyc")):
            _MADE.add(name)
    elif name in sys.builtin_module_names:
        _MADE.add(name)


def _note_since() -> None:
    """Note the modules loaded since the zygote noted its own: the newest entries of
    ``sys.modules``, read from its end (reading every entry would copy the pages of all the
    zygote's modules into the worker), up to a run of entries already noted."""
    noted = 0
    for name, module in reversed(sys.modules.items()):
        if name in _NOTED:
            noted += 1
            if noted == 32:
                return
            continue
        noted = 0
        if type(module) is types.ModuleType:
            _note(module, name)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _maker(kind: str) -> Callable[..., Any]:
    """What importlib calls in a worker in place of ``_imp.create_builtin`` (``kind``
    "builtin") or ``_imp.create_dynamic`` ("dynamic"), which make a module of compiled code and
    raise no audit event: it asks the hook (``grader.create``), which hands over the original only
    for a module not made before in this process. Made again, a module's functions would be new
    objects, none of them wired (``_signal.signal`` with them)."""
    def create(spec: Any, *file: Any) -> Any:
        name, origin = getattr(spec, "name", None), getattr(spec, "origin", None)
        box: list[Any] = []
        sys.audit("grader.create", kind, name, origin, box)
        # what the hook read, not the spec, which could answer differently a second time
        return box.pop()(_Spec(name, origin))
    return create


class _Spec:
    """The two attributes of a module's spec that making it of compiled code reads."""

    __slots__ = ("name", "origin")

    def __init__(self, name: Any, origin: Any) -> None:
        self.name, self.origin = name, origin


Gate = Callable[..., "BaseException | None"]
OnExec = Callable[[str, int, Any], None]


def arm(*, student_dir: str, libraries: Sequence[str] = (), unoffered: Sequence[str] = (),
        files: Sequence[str] = (),
        on_exec: OnExec | None = None, gates: dict[str, Gate] | None = None,
        roots: Iterable[str] = (), wiring: types.CodeType | None = None, told: Any = None,
        sealed: Iterable[tuple[str, re.Pattern[str]]] = ()) -> tuple[Callable[[types.CodeType], bool], Callable[[types.CodeType], bool]]:
    """Install the hook (once per process). ``libraries``: modules (and the packages under them)
    that may not be imported in this worker, of which ``unoffered`` are the packages the course
    does not offer (refused as if not installed); ``files``: the files and folders that hold
    them (``sandbox.module_files``), which may not be opened however the import is made
    (importlib raises no import event of its own). ``on_exec(route, line, payload)``: student code
    built and ran code at run time (``route`` one of ``ROUTES``; ``line`` in the student's
    module, or 0; ``payload`` the source text, or the code object to list). ``gates``: handlers
    of the grader's own events (``grader.*``), each called with the frame that raised the event
    and the event's arguments, only when the grader's own code raised it; a handler returns
    the exception to raise in its caller, or None. ``roots``: the packages whose modules the
    trip-wire wires as they load, by running them through the loader whose ``exec_module``
    has the code ``wiring``; ``sealed``: patterns of banned calls, each with what falls under it
    (``tripwire.compiled``), that no module loaded from now on may fall under
    (``profiles.sealed``). ``told``: an object (the trip-wire) whose ``is_student(code)`` and
    ``is_ours(code)`` become the hook's, which are also returned.

    The hook runs private copies of all that code (``grader.isolation.private``): the
    checker's methods, the handlers of ``gates`` and ``on_exec`` with the objects they are
    bound to, and whatever they call by name, over namespaces no student code reaches.

    From then on a module's body runs once in this process (see ``_Checker.on_library``), and
    a module of compiled code is made once (``_maker``)."""
    global _LIBRARY, _OURS, _KEEP, _RAN, _MADE
    import _imp

    collector.take_over()  # no collection starts by itself inside the hook, or anywhere
    _note_since()
    # The hook takes the zygote's records as they are (copying them would write to every page
    # they and the code objects sit on: memory the worker would be charged for), and the module
    # keeps none.
    checker = _Checker(student_dir=student_dir, banned=frozenset(libraries) | UNSAFE_MODULES,
                       files=tuple(files), unoffered=frozenset(unoffered),
                       on_exec=on_exec, gates=dict(gates or {}), library=_LIBRARY, ours=_OURS,
                       keep=_KEEP)
    checker.ran, checker.made, checker.roots = _RAN, _MADE, frozenset(roots)
    checker.sealed = tuple(sealed)
    checker.wiring = id(wiring) if wiring is not None else None
    _LIBRARY, _OURS, _KEEP, _RAN, _MADE = set(), set(), [], set(), set()
    checker.makers = {"builtin": _imp.create_builtin, "dynamic": _imp.create_dynamic}
    checker.gates["grader.create"] = checker.on_create
    checker.gates["grader.loading"] = checker.on_loading
    if told is not None:
        told.is_student, told.is_ours = checker.is_student, checker.is_ours
    copy = private.Copier().object(checker)  # the trip-wire's handlers with it
    _imp.create_builtin, _imp.create_dynamic = _maker("builtin"), _maker("dynamic")

    def hook(event: str, args: tuple[Any, ...], _check: Any = copy.check) -> None:
        refusal = _check(event, args)
        if refusal is not None:
            del _check, event, args  # the traceback's frame shows the refusal alone
            raise refusal

    sys.addaudithook(hook)
    return copy.is_student, copy.is_ours


class _Checker:
    """The hook's state and its reading of events. The hook runs a private copy of it
    (``arm``), to which only the hook's default argument refers (the hook deletes it before it
    raises); its methods never run while student code can."""

    def __init__(self, *, student_dir: str, banned: frozenset[str], files: tuple[str, ...],
                 on_exec: OnExec | None, gates: dict[str, Gate], library: set[int],
                 ours: set[int], keep: list[types.CodeType],
                 unoffered: frozenset[str] = frozenset()) -> None:
        self.banned, self.on_exec, self.gates = banned, on_exec, gates
        self.unoffered = unoffered  # of ``banned``: what the course does not offer
        # The files of the banned modules, each with its module's name (the folder's last parts)
        self.files = tuple((os.path.realpath(f), _module_of(f, banned)) for f in files)
        self.library, self.ours, self.keep = library, ours, keep
        # Where library code is read from: the Python installation, its site-packages and the
        # grader's own package (an editable install keeps it outside both).
        grader_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.prefixes = tuple(sorted({os.path.realpath(p) + os.sep for p in (
            sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, grader_root,
            *(p for p in sys.path if "site-packages" in p or "dist-packages" in p))}))
        self.student_root = os.path.realpath(student_dir) + os.sep
        # What names a library file's compiled copy and what its header holds (``cached``)
        import _imp
        from importlib import _bootstrap_external as external

        self.cache_tag = sys.implementation.cache_tag
        self.opt = f".opt-{sys.flags.optimize}" if sys.flags.optimize else ""
        self.magic = bytes(external.MAGIC_NUMBER)
        self.raw_magic = int.from_bytes(self.magic, "little")
        self.source_hash = _imp.source_hash
        self.local = threading.local()
        self.machinery = frozenset(id(c) for c in _importlib_codes())
        # importlib running a module's body, or compiling its source: ``_LoaderBasics.
        # exec_module`` and ``SourceLoader.source_to_code`` call exec and compile through
        # ``_call_with_frames_removed`` (known by their code: which module and loader a frame
        # runs is never read from its variables, see ``running``)
        self.runs_body = _body_runner_codes()
        self.student_codes: set[int] = set()  # the code of the student's own module files
        self.compiled: set[str] = set()  # file names given to compile() of code reported
        self.own_threads = frozenset(t.ident for t in threading.enumerate()
                                     if t.ident is not None)
        # Set by ``arm``: the modules loaded (``_RAN``, ``_MADE``), the originals of ``_maker``,
        # the trip-wire's packages and the code of the loader that wires them.
        self.ran: set[tuple[int, int]] = set()
        self.made: set[str] = set()
        self.makers: dict[str, Any] = {}
        self.roots: frozenset[str] = frozenset()
        self.sealed: tuple[tuple[str, re.Pattern[str]], ...] = ()
        self.wiring: int | None = None
        # The name of the module each frame of the trip-wire's loader runs, as it said before
        # running it (``on_loading``), by the frame's id (a frame that reuses an id says again)
        self.announced: dict[int, Any] = {}
        # Where modules are found, longest first: a library file's own name is its path below
        # one of them (the search path as it was before any student code). A folder of the
        # search path that is itself one of the prefixes counts (site-packages outside the
        # installation: the user's, or one a .pth file adds), not only those below them.
        self.search = tuple(sorted({os.path.realpath(p) + os.sep for p in sys.path
                                    if type(p) is str and p and
                                    (os.path.realpath(p) + os.sep).startswith(self.prefixes)},
                                   key=len, reverse=True))
        # The package folders of the installations a worker can read that are not on the search
        # path (a virtual environment's base installation, the system's): a library file there
        # is another installation's copy, not this environment's, and neither its body nor its
        # extension modules run in a worker (``elsewhere``). With every folder of the search
        # path, longest first: one outside the installation (``PYTHONPATH``, a project folder a
        # .pth file adds, the grader's checkout) is this environment's, never another's.
        from grader.isolation import sandbox

        # The folders of the search path in the order imports look in them: a package in one
        # of them that an earlier one holds too (the base installation's numpy behind a
        # virtual environment's own, where it sees the system's site-packages) is a copy that
        # no import loads (``elsewhere``).
        self.order = tuple(dict.fromkeys(os.path.realpath(p) + os.sep for p in sys.path
                                         if type(p) is str and os.path.isabs(p)))
        on_path = set(self.order)
        others = {os.path.realpath(p) + os.sep for p in sandbox.package_folders()
                  if os.path.isabs(p)} - on_path
        self.places = tuple(sorted(on_path | others, key=len, reverse=True))
        self.others = frozenset(others)
        self.handlers = {"import": self.on_import, "object.__setattr__": self.on_setattr,
                         "object.__delattr__": self.on_setattr,
                         "function.__new__": self.on_function, "exec": self.on_exec_event,
                         "compile": self.on_compile}
        if self.files:
            self.handlers["open"] = self.on_open

    def is_student(self, code: types.CodeType) -> bool:
        return id(code) not in self.library

    def is_ours(self, code: types.CodeType) -> bool:
        return id(code) in self.ours

    def check(self, event: str, args: tuple[Any, ...]) -> BaseException | None:
        """The refusal to raise for ``event``, or None. Never raises."""
        local = self.local
        if getattr(local, "busy", False):
            if event in _OWN_EVENTS or (
                    event == "object.__getattr__" and len(args) > 1 and type(args[1]) is str
                    and args[1] in _OWN_READS) or (
                    event in _VERIFYING and getattr(local, "verifying", False)):
                return None  # the hook reading frames, or a library file (``genuine``)
            return _refused(f"{event} is not available while grading")
        local.busy = True
        try:
            return self.inspect(event, args, _frame(2))  # 0 this, 1 the hook, 2 the raiser
        except RecursionError:  # the student's code was at the limit: theirs to be told
            return RecursionError("maximum recursion depth exceeded")
        except MemoryError:
            return MemoryError()
        except BaseException:  # anything else the hook could not read is refused
            return _refused(f"{event} is not available while grading")
        finally:
            local.busy = False

    def inspect(self, event: str, args: tuple[Any, ...],
                raiser: types.FrameType | None) -> BaseException | None:
        if event == "ctypes.dlopen":
            return _not_loaded(args)
        if event in _REFUSED or event.startswith("ctypes."):
            return _refused(f"{event} is not available while grading")
        handler = self.handlers.get(event)
        if handler is not None:
            return handler(args, raiser)
        if event.startswith("grader."):
            gate = self.gates.get(event)
            if gate is None or raiser is None or id(raiser.f_code) not in self.ours:
                return _refused(f"{event} is the grader's own event")
            return gate(raiser, args)
        return None

    # -- one method per event the hook reads; ``args`` are read only where of an exact type ----

    def on_import(self, args: tuple[Any, ...], raiser: types.FrameType | None,
                  ) -> BaseException | None:
        name = args[0] if args else None
        if type(name) is not str:
            return _refused("an import of something that is not a module's name")
        library = banned_library(name, self.banned)
        if library is None:
            return None
        return absent(library, name, library in self.unoffered, self.importing(raiser, library))

    def importing(self, frame: types.FrameType | None, library: str) -> str | None:
        """The library module whose import, by the student's code, led to this import of
        ``library`` (``scipy.stats``, whose modules import ``scipy.ndimage``), or None where the
        student imported ``library`` itself or the import is not the student's. Read from the
        frames' code alone (its file and name, exact strs): the outermost module body of a
        library file above ``frame``, below the student's own frame. A file name decides
        nothing here but the words of a refusal that is made either way: a student who forges
        ``co_filename`` (``code.replace``) only changes the module their own message names."""
        top: str | None = None
        for _ in range(1000):
            if frame is None:
                return None
            code = frame.f_code
            path, name = code.co_filename, code.co_name
            if type(path) is str and type(name) is str:
                real = os.path.realpath(path)
                if real.startswith(self.student_root):
                    break
                if name == "<module>" and real.startswith(self.prefixes):
                    top = _dotted(real, self.search) or top
            frame = frame.f_back
        else:
            return None
        if top is None or banned_library(top, (library,)) is not None:
            return None
        return top

    def on_open(self, args: tuple[Any, ...], raiser: types.FrameType | None,
                ) -> BaseException | None:
        path = args[0] if args else None
        if type(path) is int:
            return None  # a descriptor already open
        if type(path) is bytes:
            path = os.fsdecode(path)
        if type(path) is not str:
            # a path object converts itself with its class's code, which the student can change
            # (and which would run in here): open(str(path)) says what will be opened
            return _refused("open() takes a path as a str or bytes in this exercise: "
                            "open(str(path))")
        if not os.path.isabs(path) and os.path.normpath(path).split(os.sep)[0] == os.pardir:
            # relative to a descriptor of a folder beside theirs (``dir_fd``), ``..`` would reach
            # their files by a path the open event shows as if it were in the current folder
            return _refused("a relative path that leaves its folder (..) is not available "
                            "while grading: open files by their full paths")
        real = os.path.realpath(path)
        above = real if real.endswith(os.sep) else real + os.sep
        for folder, library in self.files:
            if real == folder or real.startswith(folder + os.sep):
                return absent(library, library, library in self.unoffered,
                               self.importing(raiser, library))
            if folder.startswith(above):
                # a folder above theirs: its descriptor would open their files by a relative
                # path (``dir_fd``), which the open event does not tell apart from one in the cwd
                return _refused(f"opening the folder {real} itself is not available while "
                                "grading: open the files you need by their paths")
        return None

    def on_setattr(self, args: tuple[Any, ...], raiser: types.FrameType | None,
                   ) -> BaseException | None:
        name = args[1] if len(args) > 1 else None
        if type(name) is not str:
            return _refused("setting an attribute whose name is not a string is not "
                                "available while grading")
        if name == "__code__":
            return _refused("assigning a function's __code__ is not available while grading")
        return None

    def on_function(self, args: tuple[Any, ...], raiser: types.FrameType | None,
                    ) -> BaseException | None:
        code = args[0] if args else None
        if id(code) in self.ours:
            return _refused("the grader's own code is not available while grading")
        if type(code) is not types.CodeType:
            return _refused("a function made of something that is not code")
        if id(code) not in self.library and id(code) not in self.student_codes:
            self.report("function", raiser, code, _BUILDERS)
        return None

    def on_compile(self, args: tuple[Any, ...], raiser: types.FrameType | None,
                   ) -> BaseException | None:
        source = args[0] if args else None
        if type(source) is bytes:
            source = source[:MAX_SOURCE].decode("utf-8", "replace")
        name = args[1] if len(args) > 1 else None
        if self.running(raiser, self.runs_body[2]) is not None:
            # importlib compiling a module's source for a loader: a file's, as it is on disk,
            # or one made at run time (a loader's of the student's, or one they changed)
            if type(name) is str and type(args[0]) is bytes and self.on_disk(name) == args[0]:
                return None
            route, through = "module", True
        else:
            route, through = ("string" if type(source) is str else "tree"), False
        text = source[:MAX_SOURCE] if type(source) is str else ""
        if self.report(route, raiser, text, _RUNNERS, through_importlib=through) \
                and type(name) is str:
            self.compiled.add(name)
        return None

    def on_exec_event(self, args: tuple[Any, ...], raiser: types.FrameType | None,
                      ) -> BaseException | None:
        code = args[0] if args else None
        if type(code) is not types.CodeType:
            return _refused("running something that is not code")
        if id(code) in self.ours:
            return _refused("the grader's own code is not available while grading")
        if id(code) in self.library or id(code) in self.student_codes:
            return None
        above = self.running(raiser)
        kind = self.module_body(above, code)
        if kind == "" and code.co_name == "<module>" and self.library_file(code.co_filename) \
                and self.genuine(code) is not False:  # (or may be: refused all the same)
            # a library file's body run by hand (``runpy``, ``exec(loader.get_code(...))``):
            # its functions would be new, unwired, and no import system would see it
            name = _dotted(os.path.realpath(code.co_filename), self.search) or "a library module"
            return ImportError(f"{name} runs only by an import while grading, not by hand",
                               name=name)
        verdict = self.genuine(code) if kind == "library" and above is not None else False
        if verdict is None:
            return _unverified(os.path.realpath(code.co_filename), self.search)
        if verdict and above is not None:
            refusal = self.elsewhere(os.path.realpath(code.co_filename)) or \
                self.on_library(above, code)
            if refusal is not None:
                return refusal
            _add(self.library, self.keep, code)
        elif kind == "student":
            _add(self.student_codes, self.keep, code)
        elif type(code.co_filename) is not str or code.co_filename not in self.compiled:
            # (else its source was reported already). A "library" body that is not what its
            # file compiles to: importlib was made to run other code under a library's name
            if kind:
                self.report("module", raiser, code, _RUNNERS, through_importlib=True)
            else:
                self.report("code", raiser, code, _RUNNERS)
        return None

    # -- whose code ---------------------------------------------------------------------------

    def elsewhere(self, real: str) -> BaseException | None:
        """The refusal of a file (its real path) of another installation's packages (see
        ``places``), or of a package on the search path behind another copy of it that imports
        load (``order``); None where the folder nearest above it is on the search path and
        holds the copy imports load, or where no folder holds it."""
        behind = None
        for folder in self.places:  # the nearest first
            if not real.startswith(folder):
                continue
            name = real[len(folder):].split(os.sep)[0]
            if folder in self.others:
                return ImportError(f"{real} is another Python installation's copy of {name}: "
                                   f"only this environment's libraries load while grading",
                                   name=name)
            top = name.split(".")[0]
            if not top.isidentifier():
                continue  # no import names it from here (site-packages in the standard library's)
            first = self.first_holder(top)
            if first is None or first == folder:
                return None  # (a folder further up may hold it as a package's: a vendored copy)
            behind = behind or ImportError(
                f"{real} is a copy of {top} that no import loads here (imports load "
                f"{first}{top}): only the copy imports load runs while grading", name=top)
        return behind

    def first_holder(self, name: str) -> str | None:
        """The folder of the search path whose package ``name`` an import loads (the first that
        holds it as a package), or None."""
        for folder in self.order:
            if os.path.isfile(folder + name + os.sep + "__init__.py"):
                return folder
        return None

    def library_file(self, path: Any) -> bool:
        """Whether ``path`` is a file of the libraries (not the student's)."""
        if type(path) is not str or not path.endswith((".py", ".pyc")):
            return False
        real = os.path.realpath(path)
        return real.startswith(self.prefixes) and not real.startswith(self.student_root)

    def genuine(self, code: types.CodeType) -> bool | None:
        """Whether ``code`` is what its library file compiles to; None where that cannot be
        told. A student can patch importlib's loaders (their classes, their module's functions)
        to run code of their own under a library file's name, which would then count as library
        code; the file's compiled copy tells the two apart (``cached``: the ``.pyc`` beside the
        file, where importlib would load it in place of the source, and so where importlib's own
        code comes from; what the source compiles to wherever importlib compiles it instead).

        The hook never compiles the file itself: compiling runs code the student can reach. The
        compiler's warnings (an invalid escape sequence, ``is`` with a literal) go through the
        ``warnings`` module's filters, ``warnings._showwarnmsg`` and ``sys.stderr``; a source in
        an encoding other than UTF-8 is decoded by the codec's Python code, found by the codec
        registry's search function, over their modules' globals; a name beyond ASCII is
        normalised by the parser through an import of ``unicodedata``. Each is the student's to
        replace, and would run inside the hook. Without a compiled copy that matches, None."""
        # (the file itself, not a link to it in a folder of the student's, beside which the
        # compiled copy would be theirs)
        real = os.path.realpath(code.co_filename)
        cached = self.cached(real)
        if cached is None:
            return None if self.on_disk(real) is not None else False  # (no such file: not it)
        return bool(cached == code)

    def cached(self, path: str) -> types.CodeType | None:
        """The code of the library file ``path`` (its real path) as its ``.pyc`` in the
        ``__pycache__`` folder beside it holds it, where importlib would load it in place of the
        source: of this interpreter (the magic number and the cache tag) and of the source as it
        is (its modification time and size, or its hash, in the header). Else None. That folder
        is the library's, which no worker may write to (``sandbox``): the copy is as much the
        library's as its source."""
        folder, name = os.path.split(path)
        stem, dot, suffix = name.rpartition(".")
        if not dot or suffix != "py" or not stem:
            return None
        if type(self.cache_tag) is not str:  # (an interpreter that caches no bytecode)
            return None
        tag = f"{stem}.{self.cache_tag}{self.opt}.pyc"
        data = self.on_disk(os.path.join(folder, "__pycache__", tag))
        if data is None or len(data) < 16 or data[:4] != self.magic:
            return None
        flags = int.from_bytes(data[4:8], "little")
        if flags & 1:  # by the source's hash, checked here whatever the .pyc asks
            source = self.on_disk(path)
            if source is None or data[8:16] != self.source_hash(self.raw_magic, source):
                return None
        elif flags:
            return None
        else:
            try:
                st = os.stat(path)
            except (OSError, ValueError):
                return None
            if int.from_bytes(data[8:12], "little") != int(st.st_mtime) & 0xFFFFFFFF or \
                    int.from_bytes(data[12:16], "little") != st.st_size & 0xFFFFFFFF:
                return None
        self.local.verifying = True
        try:
            code = marshal.loads(data[16:])
        except (EOFError, ValueError, TypeError):
            return None
        finally:
            self.local.verifying = False
        return code if type(code) is types.CodeType else None

    def on_disk(self, path: str) -> bytes | None:
        """What the file ``path`` holds (the hook's own read), or None."""
        self.local.verifying = True
        try:
            with open(path, "rb") as f:
                return f.read()
        except (OSError, ValueError):
            return None
        finally:
            self.local.verifying = False

    def on_loading(self, raiser: types.FrameType, args: tuple[Any, ...]) -> BaseException | None:
        """The trip-wire's loader, about to run ``module`` (``args[0]``): the frame that will
        run it and the module's name, noted for ``on_library``."""
        module = args[0] if args else None
        if id(raiser.f_code) != self.wiring or type(module) is not types.ModuleType:
            return _refused("grader.loading is the trip-wire's own event")
        self.announced[id(raiser)] = bare.get(bare.own_dict(module), "__name__")
        return None

    def on_create(self, raiser: types.FrameType, args: tuple[Any, ...]) -> BaseException | None:
        """``_maker``'s question: may a module of compiled code named ``name`` (from the file
        ``origin``, for an extension) be made? Once per name, and per file."""
        kind, name, origin, box = args
        if type(name) is not str or type(box) is not list or type(kind) is not str or \
                kind not in self.makers or \
                (kind == "dynamic" and type(origin) is not str):
            return _refused("making a module of something that is not a module's spec is "
                                "not available while grading")
        library = banned_library(name, self.banned) or \
            banned_library(name.rpartition(".")[2], UNSAFE_MODULES)
        if library is not None:  # under another name, its init function is still its own
            return absent(library, name, library in self.unoffered,
                           self.importing(raiser, library))
        if name in self.made:
            return _again(name)
        if kind == "dynamic":
            refusal = self.elsewhere(os.path.realpath(origin))
            if refusal is not None:
                return refusal
            ran = _identity(origin)
            if ran is None or ran in self.ran:
                return _again(name)
            self.ran.add(ran)
        self.made.add(name)
        box.append(self.makers[kind])
        return None

    def on_library(self, above: types.FrameType, code: types.CodeType) -> BaseException | None:
        """A library file's body (``code``, what the file compiles to) about to be run by
        importlib's loader (whose frame is ``above``, see ``running``): it runs once in this
        process, none joins a sealed package, and a module of the trip-wire's packages runs
        under its own name, through the loader that wires it (``arm``'s ``wiring``), which said
        which module it runs (``on_loading``). Else the functions it defines would be new
        objects that no wire guards, whose code counts as the library's:
        ``importlib.reload(numpy.lib._polynomial_impl).polyfit``, a banned module's file run
        under another name, ``signal.py`` run again for a ``signal.signal`` that passes its wire
        as library code. (The student's own copy of a library's code is theirs: its calls fire.)"""
        real = os.path.realpath(code.co_filename)
        own = _dotted(real, self.search)
        ran = _identity(real)
        if ran is not None and ran in self.ran:
            return _again(own or real)
        for pattern, under in self.sealed:
            if own is not None and under.fullmatch(own) is not None:  # (before its body runs)
                return ImportError(f"{own} is not available in this exercise: what {pattern} "
                                   f"defines is banned here", name=own)
        if own is not None and own.split(".")[0] in self.roots:
            caller = above.f_back
            if caller is None or id(caller.f_code) != self.wiring:
                return ImportError(f"{own} loads only by an import while grading (not by a "
                                   f"loader called by hand, nor past a changed sys.meta_path)",
                                   name=own)
            name = self.announced.get(id(caller))  # (an int key: compared as such)
            if type(name) is not str or name != own:  # (a str's == only)
                return ImportError(f"{own} runs under its own name while grading, not as "
                                   f"another module", name=own)
        if ran is not None:
            self.ran.add(ran)
        return None

    def running(self, raiser: types.FrameType | None, caller: int | None = None,
                ) -> types.FrameType | None:
        """The frame of importlib's ``exec_module`` that runs a module's body by the exec that
        raised the event at ``raiser`` (``caller``: the id of another function's code that calls
        ``_call_with_frames_removed``, ``source_to_code``'s for a compilation), or None. Known
        by the frames' code alone: a frame's variables (``f_locals``) are read by writing them,
        by name, into the frame's own namespace, where code of the student's run by a loader
        they changed can put a key of theirs whose ``__eq__`` that write would call."""
        if raiser is None or id(raiser.f_code) != self.runs_body[0]:
            return None
        above = raiser.f_back
        wanted = self.runs_body[1] if caller is None else caller
        return above if above is not None and id(above.f_code) == wanted else None

    def module_body(self, above: types.FrameType | None, code: types.CodeType) -> str:
        """Whether ``code``, about to be run by importlib's loader at ``above`` (see
        ``running``), is the body of a module: "library" (from a file of the Python
        installation: whether it is what that file compiles to is ``genuine``'s to say),
        "student" (from a file of the submission), "made" (anything else: a module made at run
        time), or "" (not a module's body)."""
        if above is None:
            return ""
        path = code.co_filename
        if type(path) is not str:  # (compile keeps a str subclass: its methods are the student's)
            return "made"
        real = os.path.realpath(path)
        if real.startswith(self.student_root):
            return "student"
        if real.startswith(self.prefixes) and path.endswith((".py", ".pyc")):
            return "library"
        return "made"

    def report(self, route: str, raiser: types.FrameType | None, payload: Any,
               runners: frozenset[str], through_importlib: bool = False) -> bool:
        """Tell ``on_exec`` of run-time code when the student's code ran it; whether it did.
        ``through_importlib``: importlib made a module of it, for whoever imported it."""
        if self.on_exec is None or self.whose(raiser, runners, through_importlib) is None:
            return False
        self.on_exec(route, self.line(raiser), payload)
        return True

    def whose(self, frame: types.FrameType | None, runners: frozenset[str],
              through_importlib: bool = False) -> str | None:
        """Whether the code being built or run at ``frame`` is the student's doing: "yes" when
        their frame ran it or handed the runner to library code that does not name it, None when
        library code runs code of its own (it names one of ``runners``, or importlib runs a
        library's module). ``through_importlib``: importlib made a module of it at run time,
        which is the doing of whoever imported that module (its frames are passed over)."""
        while frame is not None:
            code = frame.f_code
            if id(code) in self.machinery:
                if not through_importlib and self.running(frame) is not None:
                    return None  # importlib running a module's body, its file's: library code
            elif id(code) in self.ours:
                return None
            elif id(code) not in self.library:
                return "yes"
            elif not runners.isdisjoint(code.co_names):
                return None
            frame = frame.f_back
        return None if threading.get_ident() in self.own_threads else "yes"

    def line(self, frame: types.FrameType | None) -> int:
        """The line of the student's own module file nearest ``frame``, or 0."""
        while frame is not None:
            if id(frame.f_code) in self.student_codes:
                return frame.f_lineno
            frame = frame.f_back
        return 0


def _not_loaded(args: tuple[Any, ...]) -> OSError:
    """The refusal of a native library's loading (``ctypes.CDLL``): the ``OSError`` of a library
    that is not there, not a refusal of the grader's kind, so that library code probing for an
    optional one takes the way it takes on a machine without it (torch's count of GPUs asks
    NVML's library, and counts them otherwise where that fails), where a refusal that no
    ``except OSError`` catches would fail the student's import. Nothing is loaded either way:
    a student's code that catches it has no library to call."""
    name = args[0] if args else None
    shown = name if type(name) is str else "this library"
    return OSError(f"{shown}: cannot open shared object file: no native library is loaded "
                   "while grading")


def absent(library: str, name: str, unoffered: bool = False,
           needs: str | None = None) -> ModuleNotFoundError:
    """The refusal of module ``name``, which belongs to ``library``, absent from this worker;
    ``unoffered``: a package the course does not offer, refused as a package not installed
    (whose refusal the grader explains with what the course offers); ``needs``: the module the
    student imported, which imports ``name`` (``scipy.stats``, which needs ``scipy.ndimage``).
    The student's own check refuses in the same words (``grader.student.local.BannedFinder``)."""
    if unoffered:
        return ModuleNotFoundError(f"No module named '{library}': the course does not offer it "
                                   f"to student code", name=name)
    if needs is not None:
        return ModuleNotFoundError(f"{needs} needs {library}, which is not available in this "
                                   f"exercise: write it without {needs}", name=name)
    return ModuleNotFoundError(f"{library} is not available in this exercise: write it without "
                               f"{library}", name=name)


def _unverified(real: str, search: Sequence[str]) -> ImportError:
    """The refusal of a library file whose body cannot be told from the student's code under
    its name (``genuine``): no compiled copy of it matches the file as it is."""
    name = _dotted(real, search) or real
    folder = os.path.dirname(real)
    return ImportError(
        f"{name} cannot be loaded while grading: the grading machine's installation has no "
        f"compiled copy of it ({folder}{os.sep}__pycache__ holds none that matches it), by which "
        f"the grader tells a library file from code run under its name. Not a fault of the code "
        f"that imports it: whoever installed it makes the copies once with "
        f"{COMPILE_COMMAND} {folder}, then grades again", name=name)


def _again(name: str) -> ImportError:
    return ImportError(f"{name} is loaded already: a module is loaded once while grading "
                       f"(importlib.reload and loading its file again are not available)",
                       name=name)


def _dotted(real: str, search: Sequence[str]) -> str | None:
    """The module a file's real path names below the first folder of ``search`` that holds it
    (``.../site-packages/scipy/special/_logsumexp.py``: ``scipy.special._logsumexp``)."""
    for folder in search:
        if real.startswith(folder):
            parts = real[len(folder):].split(os.sep)
            parts[-1] = parts[-1].split(".")[0]
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join(parts) if parts and all(parts) else None
    return None


def _module_of(path: str, libraries: Iterable[str]) -> str:
    """Which of ``libraries`` the file or folder ``path`` holds (its name's dotted end)."""
    parts = os.path.realpath(path).split(os.sep)
    parts[-1] = parts[-1].split(".")[0]  # rnn.py, rnn.cpython-311-x86_64-linux-gnu.so: rnn
    for library in sorted(libraries, key=len, reverse=True):
        names = library.split(".")
        if parts[-len(names):] == names:
            return library
    return "this module"


def banned_library(module: str, libraries: Iterable[str]) -> str | None:
    """The library of ``libraries`` that ``module`` belongs to (``scipy.signal`` holds
    ``scipy.signal.windows``), or None."""
    for library in libraries:
        if module == library or module.startswith(library + "."):
            return library
    return None


def _frame(depth: int) -> types.FrameType | None:
    try:
        return sys._getframe(depth + 1)
    except ValueError:  # an event raised with fewer frames above it
        return None


def _body_runner_codes() -> tuple[int, int, int]:
    """The ids of the code of ``_call_with_frames_removed``, ``_LoaderBasics.exec_module`` and
    ``SourceLoader.source_to_code``: the frames of importlib's loaders that run a module's body
    and compile its source."""
    import importlib._bootstrap as bootstrap
    import importlib._bootstrap_external as external

    return (id(bootstrap._call_with_frames_removed.__code__),  # type: ignore[attr-defined]
            id(external._LoaderBasics.exec_module.__code__),  # type: ignore[attr-defined]
            id(external.SourceLoader.source_to_code.__code__))  # type: ignore[attr-defined]


def _importlib_codes() -> list[types.CodeType]:
    """The code of importlib's machinery: every function of its bootstrap modules."""
    import importlib._bootstrap as bootstrap
    import importlib._bootstrap_external as external

    out: list[types.CodeType] = []
    for module in (bootstrap, external):
        for value in list(vars(module).values()):
            members = list(vars(value).values()) if isinstance(value, type) else [value]
            for member in members:
                member = getattr(member, "__func__", member)
                if type(member) is types.FunctionType:
                    out.extend(_codes(member.__code__))
    return out
