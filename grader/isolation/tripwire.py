"""Trip-wires on banned library callables in the worker: a call from the student's code is recorded and refused.

The static scan (``grader.grading.banned``) reads names; a name can be built at run time
(``getattr(torch, "conv" + "2d")``, ``exec``, ``sys.modules``, another submitted file). So before
the student's module is imported, every callable that a ``[banned] calls`` pattern names is
replaced, wherever a module holds it (matched by the object, not by the path), with a wire. A
wire called from a student frame records the call (name, file, line) and raises ``BannedCall``;
called from library code (torch's own modules call some of these legitimately) it passes
through to the original. The worker sends what fired with the reply of the current call, so a
student who catches the exception still loses the test.

**Whose call is it.** A banned function is often called by a library frame on the student's
behalf: ``np.apply_along_axis(getattr(np, "polyfit"), ...)``, ``map``-like helpers,
``functools.partial``, a ``ThreadPoolExecutor`` worker, ``threading.Thread.run``. The rule, from
the wire's caller up the stack (frames of the trip-wire itself and of code without a file, run
by ``exec``/``eval``, are skipped):

- a frame of the student's files: the call is the student's, it fires there;
- a library frame whose code *names* the function (a global, an attribute or an import of that
  name: ``_VF.lstm(...)``, ``F.conv2d(...)``, ``lstsq(...)``): the library's own use, it passes;
- a frame of a banned function itself (one reached unwired, from a registry of torch's that held
  it: ``fake_impls.op_implementations_dict``): the call is whoever's call that function was, so
  look at its caller with that function's names in place of the wire's;
- a library frame that calls it without naming it (``func1d(...)``, ``self.fn(...)``,
  ``dispatch(cls)(...)``) was handed the callable by someone: look at its caller, and so on;
- the top of the stack: in a thread started after the trip-wire was installed (only student
  code runs then, so the student started it, directly or through a library) it fires, naming
  where the thread was started when a student frame started it; in the worker's own threads it
  passes.

So a banned callable the student fetched and handed to any chain of library frames, in any
thread, fires; an allowed function that uses a banned one internally names it and passes. So a
library function that wraps a banned one and hands its work back is banned with it where it would
do an exercise (``numpy.ma.polyfit`` beside ``numpy.polyfit``; the functional optimizers of
``torch.distributed.optim``, absent where ``torch.optim`` is banned), and
``grader.publish.wrappers`` finds every such caller for a test to hold against the bans. The
cost: a library that stored a banned function under another name and calls it without naming
it, inside an allowed call, is taken for the student's (none in the course's bans).

**Nothing leads back to the original, nor to the trip-wire.** A wire holds its number and its
name, nothing else: not the callable it guards, not the ``Tripwire``. It asks for the original
through an audit event (``grader.gate``), which only the worker's audit hook answers
(``grader.isolation.audit``); the ``Tripwire`` lives in that hook's closure, which no Python call
reaches, and the hook answers only the trip-wire's own code, after the check. The same goes for
what a wire shows of its original's attributes, for the import hook that wires packages loaded
later and for the record of threads the student starts. Raw-memory routes (``ctypes``, ``gc``)
are refused by the same hook.

**Whose code is it** is decided by code objects, never by a file name: the audit hook knows
every function's code that existed before the student's module was imported, and the code of
library modules imported since; any other code is the student's (``is_student``). Code run by
``exec`` is the student's when the student ran it.

A pattern that names a module (``sklearn``, ``torch.nn.modules.rnn``) bans what is defined
under it, not every name it imports (``torch.nn.modules.rnn.Module`` stays allowed). Forwarding
namespaces (``torch._VF``, ``torch._C._VariableFunctions``) hold the same objects as ``torch``:
a pattern on them wires the access through that path only. Classes are wired at ``__init__``
in place, so library subclasses and ``isinstance`` keep working. Packages imported later
(``sklearn``, ``scipy.signal``) are wired as they load.
"""

from __future__ import annotations

import collections
import contextlib
import fnmatch
import functools
import gc
import itertools
import threading
import importlib.abc
import importlib.machinery
import os
import re
import signal
import sys
import types
from typing import Any, Callable, Iterator, Sequence

from grader.isolation import bare

MAX_FIRINGS = 20  # recorded per call; one is enough to fail the test
# Banned in every worker, with a Python handler: a Python signal handler is the one way for
# student code to run in the middle of the grader's own code in the worker (the audit hook's,
# say). Ignoring a signal or restoring its default (SIG_IGN, SIG_DFL) stays allowed.
ALWAYS = ("signal.signal", "_signal.signal")


class BannedCall(BaseException):
    """Raised in place of a banned call. Not an ``Exception``: ``except Exception`` does not
    hide it (and the call is recorded whether or not it is caught)."""


def _banned_call(message: str) -> BannedCall:
    """A refusal made inside the audit hook without running code of its class
    (``bare.refusal``)."""
    return bare.refusal(BannedCall, message)


def matches(name: str, pattern: str) -> bool:
    """Whether dotted ``name`` falls under ``pattern`` (the rule of ``grader.grading.banned``)."""
    return compiled(pattern).fullmatch(name) is not None


@functools.lru_cache(maxsize=None)
def compiled(*patterns: str) -> "re.Pattern[str]":
    """One regex for "some dotted prefix of the name matches one of ``patterns``"."""
    cores = [fnmatch.translate(p).removesuffix("\\Z") for p in patterns]
    return re.compile("(?:" + "|".join(cores) + r")(?:\..*)?", re.S)


_SHOWN = frozenset({"__name__", "__qualname__", "__doc__", "__module__", "__text_signature__"})
# The special methods of a banned class that do its work, wired with its other methods; the rest
# (``__repr__``, ``__eq__``, ``__hash__``...) are how any code handles an object of it.
_RUNS_ITS_WORK = frozenset({"__call__", "__new__", "__torch_function__", "__torch_dispatch__"})
_PLAIN = (str, int, float, bool, type(None))
_CONTAINERS = (dict, list, tuple, set, frozenset)


class _Wire:
    """A wire around a callable that does not bind as a method (a builtin, an op packet)."""

    __slots__ = ("_tw_key", "_tw_call", "_tw_name")

    def __init__(self, key: int, call: Any, name: str) -> None:
        object.__setattr__(self, "_tw_key", key)
        object.__setattr__(self, "_tw_call", call)
        object.__setattr__(self, "_tw_name", name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._tw_call(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        box: list[Any] = []
        sys.audit("grader.attribute", self._tw_key, attr, box)
        return box[0]

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError(f"{self._tw_name} is read-only here")

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(f"{self._tw_name} cannot be copied or pickled here")

    def __repr__(self) -> str:
        box: list[str] = []
        sys.audit("grader.describe", self._tw_key, box)
        return box[0]


_OBJECT_NEW = object.__new__
_WIRE_SLOTS = tuple(_Wire.__dict__[name] for name in _Wire.__slots__)


def _new_wire(key: int, call: Any, name: str) -> _Wire:
    """A ``_Wire``, made (inside the audit hook, for a module loaded later) without running code
    of its class: its slots are set through their descriptors, taken from the class now."""
    wire: _Wire = _OBJECT_NEW(_Wire)
    for slot, value in zip(_WIRE_SLOTS, (key, call, name)):
        slot.__set__(wire, value)
    return wire


def _make_call(key: int) -> Callable[..., Any]:
    """A wire's function: its closure holds a number, never the original (which it takes out of
    the box before calling it, so that no frame holds it while it runs)."""
    def call(*args: Any, **kwargs: Any) -> Any:
        box: list[Any] = []
        sys.audit("grader.gate", key, box)
        return box.pop()(*args, **kwargs)
    return call


def _make_signal_call(key: int) -> Callable[..., Any]:
    """The wire of ``signal.signal``: as ``_make_call``'s, telling the gate the handler."""
    def call(*args: Any, **kwargs: Any) -> Any:
        box: list[Any] = []
        sys.audit("grader.gate", key, box, args[1] if len(args) > 1 else kwargs.get("handler"))
        return box.pop()(*args, **kwargs)
    return call


_CALL_CODE = _make_call(0).__code__
_SIGNAL_CALL_CODE = _make_signal_call(0).__code__


_HARMLESS = frozenset({int(signal.SIG_IGN), int(signal.SIG_DFL)})
_INT = int.__int__  # the built-in conversion: never a method of the Handlers enum's class


def _harmless_handler(handler: Any) -> bool:
    """SIG_IGN or SIG_DFL, read by exact type (never a comparison that runs student code)."""
    return (type(handler) is signal.Handlers or type(handler) is int) and \
        _INT(handler) in _HARMLESS


def fired() -> tuple[list[dict[str, Any]], list[list[Any]]]:
    """What fired since the last call (trip-wires and refused operators), and the code the
    student's module built and ran at run time ([route, line, source or code object]), from
    the audit hook."""
    box: list[dict[str, Any]] = []
    executed: list[list[Any]] = []
    sys.audit("grader.take", box, executed)
    return box, executed


class Tripwire:
    """The wires of one worker, and what fired since the last reply."""

    def __init__(self, patterns: Sequence[str], student_dir: str) -> None:
        self.patterns = tuple(patterns)
        self.roots = {p.split(".")[0] for p in self.patterns}
        self._any = compiled(*self.patterns)
        self._plain = tuple(p for p in self.patterns if not any(ch in p for ch in "*?["))
        # What a module's name and a dot must start with, or be the start of, for a pattern to
        # name something through it: a plain pattern and a dot, or a wildcard's text before
        # its first wildcard (every path through a module starts with its name and a dot).
        self._prefixes = tuple(p + "." if p in self._plain else re.split(r"[*?\[]", p, 1)[0]
                               for p in self.patterns)
        self._under: tuple[int, Any] = (-1, None)  # (len(sys.modules), regex) when computed
        self.root = os.path.realpath(student_dir) + os.sep
        self.fired: list[dict[str, Any]] = []
        # [route, line, source or code] of code the student's module built and ran at run time
        self.executed: list[list[Any]] = []
        self._executed_seen: set[Any] = set()  # what was reported: sources, ids of code
        # Set by the worker once the audit hook is armed: whose code a frame runs (by code object) and whether it is the grader's.
        self.is_student: Callable[[types.CodeType], bool] = lambda code: True
        self.is_ours: Callable[[types.CodeType], bool] = lambda code: False
        self._originals: dict[int, Any] = {}  # a wire's number -> its original
        self._banned: dict[int, str] = {}  # id(original) -> the name a student is told
        self._keep: list[Any] = []  # the wires
        # a wire's number -> (the name told, the names a library uses)
        self._info: dict[int, tuple[str, frozenset[str]]] = {}
        # id of a wired function's code -> (that code, the names a library calls it by): a frame
        # running it is banned code, however it was reached (``check``)
        self._banned_code: dict[int, tuple[types.CodeType, frozenset[str]]] = {}
        self._attr_wires: dict[int, Any] = {}  # address of an original's attribute -> its wire
        self._own_threads = {threading.get_ident()}  # the worker's; any later one is the student's
        # Where the student started a thread (id of the thread object -> file, line).
        self._origins: dict[int, tuple[str, int]] = {}
        self._threads: list[Any] = []  # those threads, kept so that their ids stay theirs
        # The worker's code that calls an attribute of the student's module: a wire reached from
        # there through frames that only passed it on was the attribute itself (``scale =
        # numpy.polyfit``, or a partial of it), so the student's choice.
        self.serving: set[types.CodeType] = set()
        self._wired: set[int] = set()  # ids of wires and of classes already wired
        self._wires: dict[int, Any] = {}  # id(original) -> its wire
        self._modules: list[Any] = []  # swept, in order
        self._seen: set[int] = set()  # namespaces swept
        self._types: set[int] | frozenset[int] = frozenset()  # classes of the zygote (inspectable)
        # While preparing (``prepare``): the wires to put in place, (namespace or table, attribute
        # or key, wire, whether it is a table's item); None once they are in place.
        self._changes: list[tuple[Any, Any, Any, bool]] | None = None
        # While a zygote plans (``plan``): the wires its plans share; the next wire's number.
        self._shared: dict[tuple[Any, ...], Any] | None = None
        self._next = 1
        self._prepared: dict[str, int] = {}  # the modules loaded when prepared: name -> id
        self._mark: tuple[int, str, int] | None = None  # sys.modules then (``_modules_mark``)
        self._kept: tuple[Any, ...] = ()  # what ``apply`` put in place from a plan
        self._failed: list[str] = []  # what a sweep could not wire (``_set``), by name

    # -- recording ------------------------------------------------------------------------------

    def handlers(self) -> dict[str, Callable[..., "BaseException | None"]]:
        """The handlers of the trip-wire's events, for the audit hook to hold: once the worker
        has handed them over, nothing but the hook refers to this object."""
        return {"grader.gate": self._on_gate, "grader.attribute": self._on_attribute,
                "grader.describe": self._on_describe, "grader.take": self._on_take,
                "grader.sweep": self._on_sweep, "grader.thread": self._on_thread,
                "grader.refused": self._on_refused}

    def _on_refused(self, frame: types.FrameType, args: tuple[Any, ...]) -> None:
        """A refused operator (``dispatch``): its kernel raised the event with the operator's
        name, in ``frame``."""
        if type(args[0]) is str:
            self.record(args[0], frame)

    def record(self, name: str, frame: types.FrameType | None) -> None:
        """A refused operator: recorded where the student's nearest frame above ``frame`` is."""
        frame = _skip(frame, self)
        while frame is not None and not self.is_student(frame.f_code):
            frame = frame.f_back
        if len(self.fired) < MAX_FIRINGS:
            file, line = self._place(frame)
            self.fired.append({"name": name, "file": file, "line": line})

    def _place(self, frame: types.FrameType | None) -> tuple[str, int]:
        """Where to tell the student a call was made from: the nearest frame of one of their
        files at or above ``frame`` (code run by exec has no file: its runner's line), else
        where the thread was started. Only a place to show: whose call it is was decided by
        code objects."""
        f = frame
        while f is not None:
            name = f.f_code.co_filename  # a str subclass's methods would be the student's
            if type(name) is str and not name.startswith("<") and \
                    os.path.realpath(name).startswith(self.root):
                return os.path.basename(name), f.f_lineno
            f = f.f_back
        origin = self._origins.get(id(_thread_now()))
        if origin:
            return origin
        if frame is not None and type(frame.f_code.co_filename) is str:
            return os.path.basename(frame.f_code.co_filename), frame.f_lineno
        return "a thread your code started", 0

    # Each handler runs inside the audit hook, which raises what a handler returns; none of them
    # reads anything of the student's objects but their identity (see ``audit``).

    def _on_gate(self, frame: types.FrameType, args: tuple[Any, ...]) -> BaseException | None:
        key, box = args[:2]
        code = frame.f_code
        if code is not _CALL_CODE and code is not _SIGNAL_CALL_CODE or type(key) is not int \
                or key not in self._info or type(box) is not list:
            return _banned_call("the trip-wire's gate opens only for its wires")
        harmless = code is _SIGNAL_CALL_CODE and len(args) == 3 and _harmless_handler(args[2])
        refusal = None if harmless else self.check(key, frame.f_back)
        if refusal is not None:
            return refusal
        box.append(self._originals[key])
        return None

    def _on_attribute(self, frame: types.FrameType, args: tuple[Any, ...]) -> BaseException | None:
        key, attr, box = args
        if type(key) is int and key in self._info and type(attr) is str and type(box) is list:
            try:
                box.append(self.attribute(key, attr, self._info[key][0]))
            except AttributeError as exc:
                return AttributeError(str(exc))
        return None

    def _on_describe(self, frame: types.FrameType, args: tuple[Any, ...]) -> None:
        key, box = args
        if type(key) is int and key in self._originals and type(box) is list:
            # by the name banned, never the original's repr: a class statement's is code its
            # class holds now, and other kinds show what they hold (a partial's arguments, a
            # bound method's object) by their classes' reprs; the student can change both
            box.append(f"<function {self._info[key][0]}>")

    def _on_take(self, frame: types.FrameType, args: tuple[Any, ...]) -> BaseException | None:
        caller = frame.f_back
        if caller is None or self.is_student(caller.f_code) or type(args[0]) is not list or \
                type(args[1]) is not list:
            return _banned_call("what the grader recorded is not for your code to read")
        args[0].extend(self.take())
        args[1].extend(self.executed)
        self.executed.clear()
        return None

    def note_exec(self, route: str, line: int, payload: Any) -> None:
        """The student's code built and ran code at run time (``audit``'s ``on_exec``): kept
        for the reply, each source or code object once."""
        seen = payload if type(payload) is str else id(payload)
        if len(self._executed_seen) < 4 * MAX_FIRINGS and seen not in self._executed_seen:
            self._executed_seen.add(seen)
            if type(payload) is not str:
                self._keep.append(payload)  # an id is never reused while it is remembered
            self.executed.append([route, line, payload])

    def _on_sweep(self, frame: types.FrameType, args: tuple[Any, ...]) -> BaseException | None:
        module = args[0]
        name = bare.get(bare.own_dict(module), "__name__") if type(module) is types.ModuleType \
            else None
        if type(name) is str:
            unwired = self.sweep([(name, module)])
            if unwired:  # the import fails: what the student could reach is refused
                return ImportError(f"{name} cannot be loaded while grading: {unwired[0]} is "
                                   f"kept where your code made it unsafe to guard", name=name)
        return None

    def _on_thread(self, frame: types.FrameType, args: tuple[Any, ...]) -> None:
        thread, = args
        caller: types.FrameType | None = frame.f_back
        while caller is not None and not self.is_student(caller.f_code):
            caller = caller.f_back
        if caller is not None:
            file = caller.f_code.co_filename
            self._origins[id(thread)] = (os.path.basename(file) if type(file) is str else
                                         "your code", caller.f_lineno)
            self._threads.append(thread)

    def check(self, key: int, frame: types.FrameType | None) -> BaseException | None:
        """The refusal when the call that reached ``frame`` is the student's (see the module's
        docstring for whose call it is), else None."""
        name, names = self._info[key]
        frame = _skip(frame, self)
        while frame is not None:
            if self.is_student(frame.f_code):
                return self._fire(name, *self._place(frame))
            if frame.f_code in self.serving:  # the worker called the module's attribute: that
                return self._fire(name, "a function of your module", 0)  # is the student's
            banned = self._banned_code.get(id(frame.f_code))
            if banned is not None and banned[0] is frame.f_code:
                # Called from a banned function (reached unwired: a registry of torch's held
                # it): the call is whoever's call that function was; its own names say nothing.
                names = banned[1]
            elif not names.isdisjoint(frame.f_code.co_names):
                return None  # the library names it: its own use
            frame = _skip(frame.f_back, self)  # handed to this frame: whose call was it?
        if threading.get_ident() in self._own_threads:
            return None
        origin = self._origins.get(id(_thread_now()))
        file, line = origin if origin else ("a thread your code started", 0)
        return self._fire(name, file, line)

    def _fire(self, name: str, file: str, line: int) -> BannedCall:
        if len(self.fired) < MAX_FIRINGS:
            self.fired.append({"name": name, "file": file, "line": line})
        return _banned_call(f"{name} is not allowed here ({file}, line {line})" if line else
                            f"{name} is not allowed here ({file})")

    def attribute(self, key: int, attr: str, name: str) -> Any:
        """An attribute of wire ``key``'s original, as the wire shows it: callables wired
        (``aten.conv2d.default``: the overloads of a banned op are banned too), other values as
        they are (what a decorator wrapped, ``__wrapped__``, among them), and never what may
        hold a callable (``__self__``, ``__dict__``, ``__closure__``, a table of overloads...)."""
        original = self._originals[key]
        if not bare.built_in(type(original)):  # its class's lookup is code the student can set
            raise AttributeError(f"{name} shows no attribute {attr!r} here")
        value = getattr(original, attr)
        # what ``value`` is, read by exact type: isinstance would read its __class__, a method
        # of the student's where they put the value there (``numpy.polyfit.x = theirs``)
        kind = type(value)
        if attr.startswith("__") and attr != "__wrapped__":
            if attr in _SHOWN and any(kind is plain for plain in _PLAIN):
                return value
        elif callable(value) and not issubclass(kind, type):
            if id(value) not in self._attr_wires:
                self._attr_wires[id(value)] = self.wire(value, name)
            return self._attr_wires[id(value)]
        elif not issubclass(kind, _CONTAINERS):
            return value
        elif any(kind is plain for plain in _CONTAINERS) and not any(
                callable(v) for v in (dict.values(value) if kind is dict else value)):
            return value
        raise AttributeError(f"{name} shows no attribute {attr!r} here")

    def _started(self) -> None:
        """Wrap ``threading.Thread.start`` so that a thread knows where the student started it
        (through the audit hook: the wrapper holds nothing of the trip-wire)."""
        threading.Thread.start = _thread_start(threading.Thread.start)  # type: ignore

    def take(self) -> list[dict[str, Any]]:
        """What fired since the last call of ``take``."""
        fired, self.fired = self.fired, []
        return fired


    # -- wiring ---------------------------------------------------------------------------------

    def install(self) -> None:
        """Wire what is loaded now, and what loads later under a banned pattern's package."""
        if self.patterns:
            self.prepare()
            self.apply()

    def prepare(self) -> None:
        """Find what to wire in what is loaded now and make the wires, changing nothing yet:
        where each wire goes is noted, for ``apply`` to put it there. A zygote prepares once for
        every worker it forks with these patterns (``plan``): objects keep their identities
        across a fork, so the plan holds in each of them."""
        self._changes = []
        self._prepared = {name: id(m) for name, m in list(sys.modules.items())}
        self._mark = _modules_mark()
        with _no_collection():
            self.sweep(self._loaded())
            self._wire_methods()
            if "torch" in self.roots and "torch" in sys.modules:
                self._wire_torch_namespaces()

    def apply(self) -> None:
        """Put the prepared wires in place, then wire what loads from now on: modules loaded
        since ``prepare`` at once, later ones as they load."""
        changes, self._changes = self._changes or [], None
        # What the plan noted stays (``_kept``) rather than being freed: freeing its thousands of
        # objects would write to every page they sit on, which each worker would copy (3 MB).
        self._kept = (changes, self._prepared)
        for target, attr, value, item in changes:  # (no student code exists yet: as they are)
            if item:
                target[attr] = value
                continue
            try:
                if issubclass(type(target), type):
                    type.__setattr__(target, attr, value)
                elif issubclass(type(target), types.ModuleType):
                    bare.own_dict(target)[attr] = value
                else:
                    setattr(target, attr, value)
            except (TypeError, AttributeError):
                pass
        self._own_threads = {threading.get_ident()} | {
            t.ident for t in threading.enumerate() if t.ident is not None}
        self._started()
        sys.meta_path.insert(0, _Finder(frozenset(self.roots)))
        prepared, mark = self._prepared, self._mark
        # Reading every entry of sys.modules would write the reference count of every module
        # the zygote loaded, copying their pages into each worker (5 MB in a torch worker): where
        # nothing was loaded since (a worker of the zygote that planned, with nothing to catch
        # up), its count and newest entry say so.
        since = [] if mark is not None and mark == _modules_mark() else [
            (name, m) for name, m in list(sys.modules.items()) if prepared.get(name) != id(m)
            and isinstance(m, types.ModuleType) and name.split(".")[0] in self.roots]
        if since:
            with _no_collection():
                self.sweep(since)

    def _loaded(self) -> list[tuple[str, Any]]:
        return [(name, m) for name, m in list(sys.modules.items())
                if isinstance(m, types.ModuleType) and name.split(".")[0] in self.roots]

    def sweep(self, modules: list[tuple[str, Any]]) -> list[str]:
        """Find the banned callables of ``modules`` and wire them in every module swept; the
        names of those that could not be wired (``_set``), if any."""
        self._failed = []
        found: list[tuple[Any, str]] = []
        new: list[Any] = []
        for modname, module in modules:
            if id(module) in self._seen:
                continue
            self._seen.add(id(module))
            self._modules.append(module)
            new.append(module)
            if not self._may_name(modname):
                continue
            for attr, value in _items(module):
                if type(attr) is str and self.inspectable(value) and callable(value) and \
                        id(value) not in self._wired and id(value) not in self._banned and \
                        self._names(f"{modname}.{attr}", value):
                    found.append((value, f"{modname}.{attr}"))
        found.sort(key=lambda vn: len(vn[1]))  # torch.nn.LSTM rather than torch.nn.modules.rnn.LSTM
        for value, name in found:
            if id(value) not in self._banned:
                self._banned[id(value)] = sys.intern(name)
                if issubclass(type(value), type):  # never its __class__
                    self._wire_class(value)
        # A second pass: every place that holds one of them (a module loaded later may hold
        # what an earlier one defined: torch.conv2d is torch.nn.functional.conv2d).
        for module in self._modules if found else new:
            tables = self._defined_under_ban(bare.get(bare.own_dict(module), "__name__"))
            for attr, value in _items(module):
                key = id(value)
                if key in self._banned and _dispatches(value):
                    self._wire_kernels(value)
                elif key in self._banned and not issubclass(type(value), type):
                    self._set(module, attr, self._wire_of(key, value))
                elif tables and (type(value) is dict or type(value) is collections.defaultdict):
                    self._wire_table(value, 2)
        failed, self._failed = self._failed, []
        return failed

    def _may_name(self, modname: Any) -> bool:
        """Whether a pattern can name something of module ``modname`` by a path through it:
        where it names the module, a package above it or something below it, or, for a
        wildcard, where the module's paths can start with the text before its wildcard."""
        if type(modname) is not str:
            return False
        through = modname + "."
        return any(through.startswith(p) or p.startswith(through) for p in self._prefixes)

    def inspectable(self, value: Any) -> bool:
        """Whether ``value``'s type is a built-in one or a class the zygote had: reading its
        attributes, ``isinstance`` and ``callable`` on it then run no code of the student's (the
        sweep of a module loaded later runs inside the audit hook, where none may run)."""
        kind = type(value)
        return bare.built_in(kind) or id(kind) in self._types

    def _defined_under_ban(self, name: Any) -> bool:
        """Whether what module ``name`` defines is banned (a pattern names the module or a
        package above it, ``torch._decomp``)."""
        if type(name) is not str:
            return False
        if self._under[0] != len(sys.modules):  # a module loaded since: patterns may name it
            # (sys.modules read key by key: a key of the student's of a pattern's hash, put
            # before the module's own, would be compared by ``p in sys.modules``)
            plain = frozenset(self._plain)
            loaded = tuple(k for k in dict.keys(sys.modules) if type(k) is str and k in plain)
            self._under = (len(sys.modules), compiled(*loaded) if loaded else None)
        under = self._under[1]
        return under is not None and under.fullmatch(name) is not None

    def _wire_table(self, table: dict[Any, Any], depth: int) -> None:
        """Wire the banned callables a banned module's table holds (torch's decomposition
        tables: an operator -> its Python implementation), and those it defined that no module
        holds by name (a wrapper made when it was registered)."""
        for k, v in list(table.items()):
            if not self.inspectable(v):
                continue
            if type(v) is dict or type(v) is collections.defaultdict:
                if depth > 1:
                    self._wire_table(v, depth - 1)
                continue
            if not callable(v) or issubclass(type(v), type) or id(v) in self._wired:
                continue
            if id(v) not in self._banned and \
                    self._defined_under_ban(_read(v, "__module__")):
                # (formatted from strs only: a key's or an attribute's class formats itself)
                self._banned[id(v)] = sys.intern(f"{_read(v, '__module__')}.{_label(v)}")
            if id(v) in self._banned:
                self._set_item(table, k, self._wire_of(id(v), v))

    def _wire_kernels(self, op: Any) -> None:
        """A banned operator that dispatches in Python (torch's higher-order operators: flex
        attention's) is kept as it is, so that torch's own code still finds what it registers
        (``isinstance`` checks, its flop counter); what it runs is wired instead, the kernels of
        its tables defined under a banned module: every route to the operator (``torch.ops.
        higher_order``, torch's registry of them) then ends in a wire."""
        if id(op) in self._wired:
            return
        self._wired.add(id(op))
        for table in bare.own_dict(op).values():
            if type(table) is dict:
                self._wire_table(table, 1)

    def _wire_methods(self) -> None:
        """A pattern naming a method of a class (``torch.Tensor.backward``) is wired on the class
        itself: a sweep sees what modules hold, and ``out.backward()`` reaches the method through
        its instance, never through a module."""
        for pattern in self.patterns:
            if any(ch in pattern for ch in "*?["):
                continue
            parts = pattern.split(".")
            for i in range(len(parts) - 2, 0, -1):  # the longest loaded module, then attributes
                owner: Any = sys.modules.get(".".join(parts[:i]))
                if owner is None:
                    continue
                for attr in parts[i:-1]:
                    owner = getattr(owner, attr, None)
                value = owner.__dict__.get(parts[-1]) if isinstance(owner, type) else None
                if isinstance(value, types.FunctionType) and id(value) not in self._wired:
                    self._banned.setdefault(id(value), pattern)
                    self._set(owner, parts[-1], self._wire_of(id(value), value))
                break

    def _names(self, path: str, value: Any) -> bool:
        """Whether ``path`` to ``value`` is banned: the path names it, or it is defined under a
        banned module the path goes through."""
        if self._any.fullmatch(path) is None:  # most paths: one regex
            return False
        defined = _read(value, "__module__")
        for p in self.patterns:
            if not matches(path, p):
                continue
            module_path = path.rsplit(".", 1)[0]
            if not matches(module_path, p):  # the pattern names this attribute itself
                return True
            if type(defined) is not str or matches(defined, p):
                return True
        return False

    def _wire_of(self, key: int, value: Any) -> Any:
        if key not in self._wires:  # one wire per object: F.conv2d is torch.conv2d still
            self._wires[key] = self.wire(value, self._banned[key])
        return self._wires[key]

    def wire(self, value: Any, name: str, named: bool = True) -> Any:
        """A wire around ``value``: a function where it would bind as a method, else a _Wire.
        While a zygote plans, the wire another plan made for the same object and name.
        ``named``: whether a library frame whose code names it calls it as its own use."""
        shared = self._shared.get((id(value), name)) if self._shared is not None else None
        if shared is not None and shared[0] is value:
            _, key, w, info = shared
        else:
            key = next(_NUMBERS) if self._shared is not None else self._next
            own = _read(value, "__name__")
            info = (name, frozenset(
                {name.rsplit(".", 1)[-1]} | ({own} if type(own) is str else set()))
                if named else frozenset())
            call = (_make_signal_call if name in ALWAYS else _make_call)(key)
            if type(value) is types.FunctionType:
                for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
                    got = getattr(value, attr, None)
                    if type(got) is str:
                        setattr(call, attr, got)
                # What a decorator wrapped (functools.wraps, contextmanager), which libraries
                # read on the functions they know (torch._dynamo, on sdpa_kernel): wired under
                # the same name, so that the wire reads as its original did and calls nothing.
                inner = bare.get(bare.own_dict(value), "__wrapped__")
                if inner is not None and callable(inner) and not issubclass(type(inner), type):
                    call.__wrapped__ = self.wire(inner, name)  # type: ignore[attr-defined]
                w = call
            else:
                w = _new_wire(key, call, name)
            if self._shared is not None:
                self._shared[(id(value), name)] = (value, key, w, info)
        self._next = max(self._next, key + 1)
        self._originals[key] = value
        self._info[key] = info
        if type(value) is types.FunctionType:
            code = value.__code__
            self._banned_code[id(code)] = (code, info[1])
        self._wired.add(id(w))
        self._keep.append(w)
        return w

    def _wire_class(self, cls: type) -> None:
        """A banned class: its constructor, and what else it defines that runs its work (its
        methods, static and class methods, ``__call__``, ``__new__``, torch's mode hooks); an
        object of it made without its constructor (``object.__new__``, or a stand-in of the
        student's passed as ``self``) would run them. A C type's (no Python code) is left to the
        static scan of its name."""
        if id(cls) in self._wired:
            return
        self._wired.add(id(cls))
        own = bare.class_dict(cls)  # not vars(): a metaclass's lookup is code the student can set
        module = bare.get(own, "__module__")
        name = self._banned.get(id(cls)) or (f"{module if type(module) is str else '?'}."
                                             f"{type.__dict__['__qualname__'].__get__(cls)}")
        init = bare.get(own, "__init__")
        if type(init) is types.FunctionType:
            self._set(cls, "__init__", self.wire(init, name))
        for attr, value in list(own.items()):
            if type(attr) is not str or attr == "__init__" or (
                    attr.startswith("__") and attr not in _RUNS_ITS_WORK):
                continue
            kind = type(value)
            function = value.__func__ if kind is staticmethod or kind is classmethod else value
            if type(function) is not types.FunctionType:
                continue
            # Named by no library: a method's name (``forward``) is every module's, and torch's
            # own code calls it for whatever object it is handed.
            wire = self.wire(function, f"{name}.{attr}", named=False)
            self._set(cls, attr, wire if function is value else kind(wire))

    def _change(self, target: Any, attr: Any, value: Any, item: bool,
                ) -> tuple[Any, Any, Any, bool]:
        """A change to note, the very one another plan noted where it is the same (a shared
        wire in the same place)."""
        change = (target, attr, value, item)
        if self._shared is None:
            return change
        key = (id(target), attr if type(attr) is str else id(attr), id(value), item)
        noted: tuple[Any, Any, Any, bool] | None = self._shared.get(key)
        if noted is not None and noted[0] is target and noted[1] is attr and noted[2] is value:
            return noted
        self._shared[key] = change
        return change

    def _set(self, namespace: Any, attr: str, value: Any) -> None:
        if self._changes is not None:  # preparing: noted for ``apply``
            self._changes.append(self._change(namespace, attr, value, False))
            return
        # (inside the audit hook, for a module loaded later: by the built-in setters, never a
        # module's or a metaclass's __setattr__ or descriptor, nor a dict lookup that compares
        # a key of the student's: ``bare``), else noted as not wired
        kind = type(namespace)
        if type(attr) is not str:
            self._failed.append(_label(value))
            return
        try:
            if issubclass(kind, type):
                if not bare.set_on_class(namespace, attr, value):
                    self._failed.append(f"{_label(namespace)}.{attr}")
            elif issubclass(kind, types.ModuleType):
                bare.put(bare.own_dict(namespace), attr, value, self._keep)
            else:
                setattr(namespace, attr, value)
        except (TypeError, AttributeError):
            pass

    def _set_item(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        if self._changes is not None:
            self._changes.append(self._change(table, key, value, True))
        elif bare.writable(table):
            table[key] = value
        else:  # its keys' classes would hash and compare them: code the student can set
            self._failed.append(_label(value))

    # -- torch's forwarding namespaces -----------------------------------------------------------

    def _wire_torch_namespaces(self) -> None:
        torch = sys.modules["torch"]
        vf_module = sys.modules.get("torch._VF")
        functions = getattr(torch._C, "_VariableFunctions", None)
        if functions is not None:
            names = [n for n in dir(functions) if not n.startswith("__")]
            if vf_module is not None:
                self._wire_forwarding(vf_module, "torch._VF", functions, names)
            proxy = types.ModuleType("torch._C._VariableFunctions")
            if self._wire_forwarding(proxy, "torch._C._VariableFunctions", functions, names):
                proxy.__getattr__ = functools.partial(getattr, functions)  # type: ignore
                self._set(torch._C, "_VariableFunctions", proxy)
        # torch.ops.aten.* and every other route to an operator: refused in the dispatcher
        # (grader.isolation.dispatch, a topic's [banned] ops), not here.

    def _wire_forwarding(self, target: Any, path: str, source: Any, names: list[str]) -> bool:
        """Set a wire on ``target`` for each of ``names`` (forwarded from ``source``) that is
        banned as an object or through ``path``; whether any was."""
        any_wired = False
        for attr in names:
            value = getattr(source, attr, None)
            if value is None or not callable(value):
                continue
            name = self._banned.get(id(value))
            if name is None and self._any.fullmatch(f"{path}.{attr}") is not None:
                name = f"{path}.{attr}"
            if name is not None:
                self._set(target, attr, self.wire(value, name))
                any_wired = True
        return any_wired


def _skip(frame: types.FrameType | None, tw: Tripwire) -> types.FrameType | None:
    """``frame`` or its nearest caller that is not the grader's own code (the wire, the hook),
    but for the worker's code that calls the module's attributes (``serving``)."""
    while frame is not None and tw.is_ours(frame.f_code) and frame.f_code not in tw.serving:
        frame = frame.f_back
    return frame


def _thread_now() -> Any:
    """The running thread's ``Thread``, or None for a thread ``threading`` did not start
    (``threading.current_thread()`` would make a ``_DummyThread`` there, running code its class
    holds now: student code can change it, and this runs inside the audit hook)."""
    return bare.get(threading._active, threading.get_ident())  # type: ignore[attr-defined]


def _thread_start(original: Callable[[threading.Thread], None]) -> Callable[..., None]:
    def start(thread: threading.Thread) -> None:
        sys.audit("grader.thread", thread)
        original(thread)
    return start


_MISSING = object()
_OF_CLASS = {"__module__": type.__dict__["__module__"].__get__,
             "__name__": type.__dict__["__name__"].__get__}


def _read(value: Any, attr: str) -> Any:
    """``value``'s ``__module__`` or ``__name__`` (``attr``), or None, read without running code
    that a class statement's class holds (student code can change any such class: its
    ``__getattribute__``, a property, its metaclass's): a class's from the class itself, by
    ``type``'s own descriptor; an object of a built-in type's by its own lookup; an instance of
    a class statement's from its own ``__dict__`` (its ``__module__``: its class's)."""
    kind = type(value)
    if issubclass(kind, type):
        return _OF_CLASS[attr](value)
    if bare.built_in(kind):
        return getattr(value, attr, None)
    own = bare.get(bare.own_dict(value), attr, _MISSING)
    if own is not _MISSING:
        return own
    return _OF_CLASS[attr](kind) if attr == "__module__" else None


def _label(value: Any) -> str:
    """What to call ``value`` in a message: its ``__name__`` where that is a str (``_read``)."""
    name = _read(value, "__name__")
    return name if type(name) is str else "a banned function"


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """No garbage collection meanwhile: a sweep makes tens of thousands of small objects, and
    collections during it would walk all of torch's objects again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _dispatches(value: Any) -> bool:
    """Whether ``value`` is one of torch's higher-order operators (``_wire_kernels``), told by the
    classes its class was made from, compared by identity (``issubclass`` would run its
    metaclass's code, ABCMeta's)."""
    ops = sys.modules.get("torch._ops")
    base = bare.get(bare.own_dict(ops), "HigherOrderOperator") if ops is not None else None
    return base is not None and any(c is base for c in bare.mro(type(value)))


def _items(module: Any) -> Iterator[tuple[str, Any]]:
    """A module's own namespace, item by item (``bare.own_dict``: ``vars`` would run a module
    class's ``__getattribute__``; torch has modules of classes of their own)."""
    return iter(list(bare.own_dict(module).items()))


class _PatchingLoader(importlib.abc.Loader):
    """Runs a module's loader, then wires what it defined."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        sys.audit("grader.loading", module)  # the module this frame runs, for the audit hook
        try:
            self.loader.exec_module(module)
        finally:  # what it defined before failing is wired too
            sys.audit("grader.sweep", module)

    def __getattr__(self, attr: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self.loader, attr)


# The code that runs a module of the banned packages and then wires it: the audit hook lets such
# a module's body run only from there (``audit.arm``'s ``wiring``).
WIRING = _PatchingLoader.exec_module.__code__


class _Finder(importlib.abc.MetaPathFinder):
    """Finds modules of the banned packages with the other finders and wraps their loaders."""

    def __init__(self, roots: frozenset[str]) -> None:
        self.roots = roots
        self.busy = False

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if self.busy or fullname.split(".")[0] not in self.roots:
            return None
        self.busy = True
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _PatchingLoader(spec.loader)
                    return spec
            return None
        finally:
            self.busy = False


# The trip-wires a zygote prepared (``plan``), by the patterns they ban: what each worker it
# forks takes its own from, and then forgets (``install``).
_PLANS: dict[tuple[str, ...], Tripwire] = {}
# What a zygote's plans share: the wires, by the object and the name they guard (with each: the
# object, as an id is only its while it lives, the wire's number, the wire, its ``_info``), and
# the changes that put them in place. Torch's decompositions, banned in most of the torch
# zygote's plans, are wired once rather than once a plan.
_SHARED: dict[tuple[Any, ...], Any] = {}
_NUMBERS = itertools.count(1)  # the numbers of the wires the plans make: one sequence for all


def plan(patterns: Sequence[str], library_types: set[int] | frozenset[int]) -> bool:
    """In a zygote, before forking a worker whose trip-wires ban ``patterns``: find what to wire
    and make the wires once (``Tripwire.prepare``), for this worker and every later one of the
    same patterns, which then only put them in place. Whether a plan was made now (False: one
    was made before). ``library_types``: as for ``install``."""
    key = tuple(patterns)
    made = _PLANS.get(key)
    if made is not None and made._mark == _modules_mark():
        return False
    # Made in a zygote above, before this one loaded its modules: made again here, so that a
    # worker of this zygote has none of them to sweep (nor all of sys.modules to read).
    tw = Tripwire((*key, *ALWAYS), "/")
    tw._types = library_types
    tw._shared = _SHARED
    try:
        tw.prepare()
    finally:
        tw._shared = None
    _PLANS[key] = tw
    return True


def drop_plan(patterns: Sequence[str]) -> None:
    """Let go of the plan for ``patterns``, made before modules it should have swept were loaded:
    the worker then makes its own (``install``)."""
    _PLANS.pop(tuple(patterns), None)


def _modules_mark() -> tuple[int, str, int]:
    """What tells whether a module was loaded since: the number of entries of ``sys.modules``
    and its newest entry (name and module). A module loaded later is entered last, so one loaded
    since changes the newest entry, or the count where it was dropped again. Only a module put in
    place of another under the same name goes unseen, which no code does between a plan and its
    ``apply`` (the zygote's and the worker's own, before any student code)."""
    newest = next(reversed(sys.modules))
    return len(sys.modules), newest, id(sys.modules[newest])


def _forget_plans() -> None:
    """Let go of the other plans, and of the wires they share, without freeing them (freeing
    their thousands of objects would cost a worker more than its plan saved): the last reference
    to them is a count, which no object holds, as for the dispatcher's registration handles;
    what could still find them (``gc``'s introspection, ``ctypes``) the audit hook refuses."""
    global _PLANS, _SHARED
    if _PLANS or _SHARED:
        import ctypes

        ctypes.pythonapi.Py_IncRef(ctypes.py_object(_PLANS))
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(_SHARED))
    _PLANS, _SHARED = {}, {}


def install(patterns: Sequence[str], student_dir: str,
            library_types: set[int] | frozenset[int] = frozenset()) -> Tripwire:
    """Wire every callable ``patterns`` ban, and those banned everywhere (``ALWAYS``); call
    before the student's module is imported. ``library_types``: the ids of the classes that
    existed before any student code (``audit.LIBRARY_TYPES``). A plan its zygote made for the
    same patterns (``plan``) is put in place rather than made again; the other plans are
    forgotten (``_forget_plans``): nothing leads to them from the worker."""
    tw = _PLANS.pop(tuple(patterns), None)
    _forget_plans()
    if tw is None or tw._types is not library_types:
        tw = Tripwire((*patterns, *ALWAYS), student_dir)
        tw._types = library_types
        tw.install()
        return tw
    tw.root = os.path.realpath(student_dir) + os.sep
    tw.apply()
    return tw
