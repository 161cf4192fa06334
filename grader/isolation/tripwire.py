"""Trip-wires on banned library callables in the worker: a call from the student's code is recorded and refused.

The static scan (``grader.grading.banned``) reads names; a name can be built at run time
(``getattr(torch, "conv" + "2d")``, ``exec``, ``sys.modules``, another submitted file). So before
the student's module is imported, every callable that a ``[banned] calls`` pattern names is
replaced, wherever a module holds it (matched by the object, not by the path), with a wire. A
wire called from a student frame records the call (name, file, line) and raises ``BannedCall``;
called from library code (torch's own modules call some of these legitimately) it passes
through to the original. The worker sends what fired with the reply of the current call, so a
student who catches the exception still loses the test.

A pattern that names a module (``sklearn``, ``torch.nn.modules.rnn``) bans what is defined
under it, not every name it imports (``torch.nn.modules.rnn.Module`` stays allowed). Forwarding
namespaces (``torch._VF``, ``torch._C._VariableFunctions``) hold the same objects as ``torch``:
a pattern on them wires the access through that path only. Classes are wired at ``__init__``
in place, so library subclasses and ``isinstance`` keep working. Packages imported later
(``sklearn``, ``scipy.signal``) are wired as they load.
"""

from __future__ import annotations

import fnmatch
import functools
import gc
import importlib.abc
import importlib.machinery
import os
import re
import sys
import types
from typing import Any, Callable, Iterator, Sequence

_HERE = __file__
MAX_FIRINGS = 20  # recorded per call; one is enough to fail the test


class BannedCall(BaseException):
    """Raised in place of a banned call. Not an ``Exception``: ``except Exception`` does not
    hide it (and the call is recorded whether or not it is caught)."""


def matches(name: str, pattern: str) -> bool:
    """Whether dotted ``name`` falls under ``pattern`` (the rule of ``grader.grading.banned``)."""
    return _compiled(pattern).fullmatch(name) is not None


@functools.lru_cache(maxsize=None)
def _compiled(*patterns: str) -> "re.Pattern[str]":
    """One regex for "some dotted prefix of the name matches one of ``patterns``"."""
    cores = [fnmatch.translate(p).removesuffix("\\Z") for p in patterns]
    return re.compile("(?:" + "|".join(cores) + r")(?:\..*)?", re.S)


class _Wire:
    """A wire around a callable that does not bind as a method (a builtin, an op packet)."""

    __slots__ = ("_tw_guard", "_tw_call", "_tw_target", "_tw_name")

    def __init__(self, guard: "_Guard", target: Any, name: str) -> None:
        object.__setattr__(self, "_tw_guard", guard)
        object.__setattr__(self, "_tw_call", guard.guard(target, name))
        object.__setattr__(self, "_tw_target", target)
        object.__setattr__(self, "_tw_name", name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._tw_call(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._tw_target, attr)
        if callable(value) and not attr.startswith("__") and not isinstance(value, type):
            # aten.conv2d.default: the overloads of a banned op are banned too
            return _Wire(self._tw_guard, value, self._tw_name)
        return value

    def __repr__(self) -> str:
        return repr(self._tw_target)


class _Guard:
    """Makes the checking callable of a wire; bound to the trip-wire that records."""

    def __init__(self, tw: "Tripwire") -> None:
        self.tw = tw

    def guard(self, original: Any, name: str) -> Callable[..., Any]:
        tw = self.tw

        def call(*args: Any, **kwargs: Any) -> Any:
            tw.check(name)
            return original(*args, **kwargs)
        return call


class Tripwire:
    """The wires of one worker, and what fired since the last reply."""

    def __init__(self, patterns: Sequence[str], student_dir: str) -> None:
        self.patterns = tuple(patterns)
        self.roots = {p.split(".")[0] for p in self.patterns}
        self._any = _compiled(*self.patterns)
        self.root = os.path.realpath(student_dir) + os.sep
        self.fired: list[dict[str, Any]] = []
        self._guards = _Guard(self)
        self._student: dict[str, bool] = {}
        self._banned: dict[int, str] = {}  # id(original) -> the name a student is told
        self._keep: list[Any] = []  # originals, so that their ids stay theirs
        self._wired: set[int] = set()  # ids of wires and of classes already wired
        self._wires: dict[int, Any] = {}  # id(original) -> its wire
        self._modules: list[Any] = []  # swept, in order
        self._seen: set[int] = set()  # namespaces swept

    # -- recording ------------------------------------------------------------------------------

    def check(self, name: str) -> None:
        """Raise ``BannedCall`` when the wire's caller is the student's code; else return."""
        frame: types.FrameType | None = sys._getframe(2)
        # Past the wire's own frames; code run by exec/eval of a string has no file: its caller
        # is who ran it.
        while frame is not None and (frame.f_code.co_filename == _HERE or
                                     frame.f_code.co_filename.startswith("<")):
            frame = frame.f_back
        if frame is None or not self._is_student(frame.f_code.co_filename):
            return
        where = f"{os.path.basename(frame.f_code.co_filename)}, line {frame.f_lineno}"
        if len(self.fired) < MAX_FIRINGS:
            self.fired.append({"name": name, "file": os.path.basename(frame.f_code.co_filename),
                               "line": frame.f_lineno})
        raise BannedCall(f"{name} is not allowed here ({where})")

    def take(self) -> list[dict[str, Any]]:
        """What fired since the last call of ``take``."""
        fired, self.fired = self.fired, []
        return fired

    def _is_student(self, filename: str) -> bool:
        known = self._student.get(filename)
        if known is None:
            known = self._student[filename] = os.path.realpath(filename).startswith(self.root)
        return known

    # -- wiring ---------------------------------------------------------------------------------

    def install(self) -> None:
        """Wire what is loaded now, and what loads later under a banned pattern's package."""
        if not self.patterns:
            return
        # The index is tens of thousands of small objects: collections during it would walk all
        # of torch's objects again and again.
        enabled = gc.isenabled()
        gc.disable()
        try:
            self.sweep(self._loaded())
            sys.meta_path.insert(0, _Finder(self))
            if "torch" in self.roots and "torch" in sys.modules:
                self._wire_torch_namespaces()
        finally:
            if enabled:
                gc.enable()

    def _loaded(self) -> list[tuple[str, Any]]:
        return [(name, m) for name, m in list(sys.modules.items())
                if isinstance(m, types.ModuleType) and name.split(".")[0] in self.roots]

    def sweep(self, modules: list[tuple[str, Any]]) -> None:
        """Find the banned callables of ``modules`` and wire them in every module swept."""
        found: list[tuple[Any, str]] = []
        for modname, module in modules:
            if id(module) in self._seen:
                continue
            self._seen.add(id(module))
            self._modules.append(module)
            for attr, value in _items(module):
                if callable(value) and id(value) not in self._wired and \
                        id(value) not in self._banned and self._names(f"{modname}.{attr}", value):
                    found.append((value, f"{modname}.{attr}"))
        if not found:
            return
        found.sort(key=lambda vn: len(vn[1]))  # torch.nn.LSTM rather than torch.nn.modules.rnn.LSTM
        for value, name in found:
            if id(value) not in self._banned:
                self._banned[id(value)] = name
                self._keep.append(value)
                if isinstance(value, type):
                    self._wire_class(value)
        for module in self._modules:  # a second pass: every place that holds one of them
            for attr, value in _items(module):
                key = id(value)
                if key in self._banned and not isinstance(value, type):
                    self._set(module, attr, self._wire_of(key, value))

    def _names(self, path: str, value: Any) -> bool:
        """Whether ``path`` to ``value`` is banned: the path names it, or it is defined under a
        banned module the path goes through."""
        if self._any.fullmatch(path) is None:  # most paths: one regex
            return False
        defined = getattr(value, "__module__", None)
        for p in self.patterns:
            if not matches(path, p):
                continue
            module_path = path.rsplit(".", 1)[0]
            if not matches(module_path, p):  # the pattern names this attribute itself
                return True
            if not isinstance(defined, str) or matches(defined, p):
                return True
        return False

    def _wire_of(self, key: int, value: Any) -> Any:
        if key not in self._wires:  # one wire per object: F.conv2d is torch.conv2d still
            self._wires[key] = self.wire(value, self._banned[key])
        return self._wires[key]

    def wire(self, value: Any, name: str) -> Any:
        """A wire around ``value``: a function where it would bind as a method, else a _Wire."""
        w: Any
        if isinstance(value, types.FunctionType):
            w = functools.wraps(value)(self._guards.guard(value, name))
            del w.__wrapped__  # the original stays out of easy reach
        else:
            w = _Wire(self._guards, value, name)
        self._wired.add(id(w))
        self._keep.append(w)
        return w

    def _wire_class(self, cls: type) -> None:
        if id(cls) in self._wired:
            return
        self._wired.add(id(cls))
        init = cls.__dict__.get("__init__")
        if not isinstance(init, types.FunctionType):
            return  # a C type or an inherited __init__: the static scan covers its name
        name = self._banned.get(id(cls), f"{cls.__module__}.{cls.__qualname__}")
        wired = self.wire(init, name)
        try:
            cls.__init__ = wired  # type: ignore[misc]
        except (TypeError, AttributeError):
            pass

    @staticmethod
    def _set(namespace: Any, attr: str, value: Any) -> None:
        try:
            setattr(namespace, attr, value)
        except (TypeError, AttributeError):
            pass

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
        self._wire_ops(torch)

    def _wire_forwarding(self, target: Any, path: str, source: Any, names: list[str]) -> bool:
        """Set a wire on ``target`` for each of ``names`` (forwarded from ``source``) that is
        banned as an object or through ``path``; whether any was."""
        any_wired = False
        for attr in names:
            value = getattr(source, attr, None)
            if value is None or not callable(value):
                continue
            name = self._banned.get(id(value))
            if name is None and any(matches(f"{path}.{attr}", p) for p in self.patterns):
                name = f"{path}.{attr}"
            if name is not None:
                self._set(target, attr, self.wire(value, name))
                any_wired = True
        return any_wired

    def _wire_ops(self, torch: Any) -> None:
        """``torch.ops.aten.X`` is banned with ``torch.X`` / ``torch.nn.functional.X``, or by its
        own path; the namespaces create their op packets on first use, so the lookup is wired."""
        try:
            from torch._ops import _OpNamespace
        except ImportError:
            return
        tw = self
        functional = sys.modules.get("torch.nn.functional")
        nn_c = getattr(torch._C, "_nn", None)

        def banned_op(namespace: str, op: str, packet: Any) -> str | None:
            path = f"torch.ops.{namespace}.{op}"
            if any(matches(path, p) for p in tw.patterns):
                return path
            if namespace == "aten":
                for home in (torch, functional, nn_c):
                    twin = home.__dict__.get(op) if home is not None else None
                    if twin is not None and (id(twin) in tw._wired or id(twin) in tw._banned):
                        return tw._banned.get(id(twin), path)
            return None

        for ns in list(vars(torch.ops).values()):
            if isinstance(ns, _OpNamespace):
                for op, packet in list(vars(ns).items()):
                    if callable(packet) and id(packet) not in self._wired and \
                            (name := banned_op(ns.name, op, packet)) is not None:
                        self._set(ns, op, self.wire(packet, name))
        original = _OpNamespace.__getattr__

        def lookup(ns: Any, op: str) -> Any:
            packet = original(ns, op)
            name = banned_op(ns.name, op, packet)
            if name is None:
                return packet
            wired = tw.wire(packet, name)
            object.__setattr__(ns, op, wired)  # cached like the packet was
            return wired
        _OpNamespace.__getattr__ = lookup  # type: ignore[method-assign]


def _items(module: Any) -> Iterator[tuple[str, Any]]:
    try:
        return iter(list(vars(module).items()))
    except TypeError:
        return iter(())


class _PatchingLoader(importlib.abc.Loader):
    """Runs a module's loader, then wires what it defined."""

    def __init__(self, loader: Any, tw: Tripwire) -> None:
        self.loader = loader
        self.tw = tw

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self.loader.exec_module(module)
        self.tw.sweep([(module.__name__, module)])

    def __getattr__(self, attr: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self.loader, attr)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds modules of the banned packages with the other finders and wraps their loaders."""

    def __init__(self, tw: Tripwire) -> None:
        self.tw = tw
        self.busy = False

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if self.busy or fullname.split(".")[0] not in self.tw.roots:
            return None
        self.busy = True
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _PatchingLoader(spec.loader, self.tw)
                    return spec
            return None
        finally:
            self.busy = False


def install(patterns: Sequence[str], student_dir: str) -> Tripwire:
    """Wire every callable ``patterns`` ban; call before the student's module is imported."""
    tw = Tripwire(patterns, student_dir)
    tw.install()
    return tw
