"""The sandboxed worker: imports one student module and serves calls to it over the wire.

This is the only place student code runs. It holds no secrets: it is forked from the clean
zygote (NumPy and torch imported, nothing from ``reference/``), its environment is emptied,
and it talks to the trusted side through one socket using ``grader.isolation.wire`` (data only).
Objects that cannot travel stay here in a handle table; the trusted side refers to them by id.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import sys
import threading
import traceback
import warnings
from typing import Any, Callable

from grader.isolation import (audit, codelisting, collector, dispatch, profiles, sandbox, tripwire,
                              wire)

# How much of an exception message and traceback travels back; the rest is cut.
MAX_TEXT = 4000


class _Handles:
    """Objects returned by student code that stay in the worker, by id."""

    def __init__(self, generation: int) -> None:
        # Ids carry the worker's generation so a handle from a dead worker is never confused
        # with one from its replacement.
        self.base = generation << 32
        self.objects: dict[int, Any] = {}

    def make(self, obj: Any) -> wire.Handle:
        hid = self.base + len(self.objects) + 1
        self.objects[hid] = obj
        return wire.Handle(hid, wire.type_name(obj))

    def resolve(self, value: Any) -> Any:
        if type(value) is wire.Handle:
            if value.id not in self.objects:
                raise LookupError("a value from an earlier call is no longer available "
                                  "(the worker was restarted since)")
            return self.objects[value.id]
        if type(value) is list:
            return [self.resolve(v) for v in value]
        if type(value) is tuple:
            return tuple(self.resolve(v) for v in value)
        if type(value) is dict:
            return {k: self.resolve(v) for k, v in value.items()}
        return value


def _send(sock: socket.socket, meta: dict[str, Any], value: Any = None,
          handles: _Handles | None = None, max_bytes: int = wire.DEFAULT_LIMITS.max_bytes) -> None:
    try:
        msg = wire.encode_message(meta, value, handles.make if handles else None, framed=True)
    except (wire.WireError, RecursionError, ValueError, TypeError, MemoryError) as exc:
        msg = wire.encode_message(_error_meta(meta, "UnsendableResult",
                                              f"the value returned cannot be sent back: {exc}", ""),
                                  framed=True)
    size = len(msg) - wire.FRAME_HEADER_SIZE  # the message, as the trusted side limits it
    if size > max_bytes:
        mb = size / 2**20
        msg = wire.encode_message(_error_meta(
            meta, "ResultTooLarge",
            f"the value returned is {mb:.0f} MB, more than the grader accepts "
            f"({max_bytes / 2**20:.0f} MB)", ""), framed=True)
    sock.sendall(msg)


def _error_meta(meta: dict[str, Any], type_name: str, message: str, tb: str,
                mro: tuple[str, ...] = ()) -> dict[str, Any]:
    return {**{k: v for k, v in meta.items() if k in ("warnings", "banned", "executed")}, "ok": False,
            "error": {"type": type_name, "message": message[:MAX_TEXT], "traceback": tb[-MAX_TEXT:],
                      "mro": list(mro or (type_name,))}}


def _safe_str(exc: object) -> str:
    try:
        return str(exc)
    except Exception:  # a student exception whose __str__ raises
        return "<the exception's message could not be read>"


def describe_exception(exc: BaseException, student_dir: str) -> dict[str, Any]:
    """Type, message, base classes and the student's own traceback frames of ``exc``."""
    root = os.path.realpath(student_dir) + os.sep
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.realpath(f.filename).startswith(root)]
    tb = "".join(traceback.format_list(frames))
    if isinstance(exc, SyntaxError) and exc.filename and \
            os.path.realpath(exc.filename).startswith(root):
        tb += "".join(traceback.format_exception_only(type(exc), exc))
    mro = tuple(c.__name__ for c in type(exc).__mro__ if c not in (object, BaseException))
    return {"type": type(exc).__name__, "message": _safe_str(exc)[:MAX_TEXT],
            "traceback": tb[-MAX_TEXT:], "mro": list(mro)}


def _call(module: Any, handles: _Handles, fn: str, args: Any, kwargs: Any) -> Any:
    func = getattr(module, fn, None)
    if func is None or not callable(func):
        raise AttributeError(f"your module has no function named {fn!r}")
    return func(*handles.resolve(args), **handles.resolve(kwargs))


def _keep(result: Any, keep: list[int], handles: _Handles) -> Any:
    if not keep:
        return result
    if type(result) is not tuple:
        return handles.make(result) if 0 in keep else result
    return tuple(handles.make(v) if i in keep else v for i, v in enumerate(result))


def absent(libraries: tuple[str, ...], unoffered: tuple[str, ...], student_dir: str = "",
           ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The modules a worker goes without, and which of them the course does not offer:
    ``libraries`` (its topic's banned libraries, never loaded by its zygote) and the packages
    of ``unoffered`` (``grader.environment.unoffered``) that this process has not loaded. What
    a zygote loaded stays (torch imports pynvml where it is installed, and uses it): a package
    the course does not offer, which a library it offers loads by itself, is that library's.
    So does a name the student's own files hold (a helper ``example.py``, which one of those
    packages also installs): their module comes first on the search path."""
    kept = tuple(u for u in unoffered if u not in sys.modules and not (student_dir and (
        os.path.isfile(os.path.join(student_dir, u + ".py")) or
        os.path.isdir(os.path.join(student_dir, u)))))
    return (*libraries, *kept), kept


def arm(student_dir: str, banned: tuple[str, ...] = (), ops: tuple[str, ...] = (),
        libraries: tuple[str, ...] = (), unoffered: tuple[str, ...] = ()) -> None:
    """Put the topic's bans in place, below the student's reach, before their module runs:
    the trip-wires on banned library functions (``tripwire``), banned operators refused in
    torch's dispatcher (``dispatch``), the import of the modules this worker goes without
    (``libraries``: never loaded by its zygote, ``grader.isolation.profiles``; and the
    packages the course does not offer, ``absent``) refused, and the audit hook (``audit``)
    that holds the trip-wire's state from now on."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # no Python-level handler runs, ever
    threading.excepthook = _thread_ended
    sys.unraisablehook = _unraisable
    wires = tripwire.install(banned, student_dir, audit.LIBRARY_TYPES)
    wires.serving.add(_call.__code__)
    dispatch.refuse(ops, lambda op: f"{op} is not allowed in this exercise")
    forget((*libraries, *audit.UNSAFE_MODULES))
    gone, unavailable = absent(libraries, unoffered, student_dir)
    audit.arm(student_dir=student_dir, libraries=gone, unoffered=unavailable,
              files=sandbox.module_files(gone) if gone else (), on_exec=wires.note_exec,
              gates=wires.handlers(), roots=wires.roots, wiring=tripwire.WIRING, told=wires,
              sealed=[(p, tripwire.compiled(p)) for p in profiles.sealed(banned)])


# What Python prints by itself (a thread ended by an exception, one raised in a finaliser),
# printed by the traceback module rather than the interpreter's own printer: that printer parses
# each line it shows (where the carets go) with no frame of its own above the student's, so the
# audit hook took each parse for code the student built at run time (``audit._Checker.whose``).
# These frames are the grader's, which the hook passes over. The student may set their own.

def _thread_ended(args: Any) -> None:
    """``threading.excepthook``: the default's words, on stderr (the test's captured output)."""
    if args.exc_type is SystemExit:  # a thread's sys.exit ends it quietly, as by default
        return
    try:
        name = args.thread.name if args.thread is not None else threading.get_ident()
        print(f"Exception in thread {name}:", file=sys.stderr, flush=True)
        traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback,
                                  file=sys.stderr)
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - a report that cannot be printed is left out
        pass


def _unraisable(unraisable: Any) -> None:
    """``sys.unraisablehook``: the default's words, on stderr."""
    try:
        where = unraisable.err_msg or "Exception ignored in"
        shown = f": {unraisable.object!r}" if unraisable.object is not None else ""
        print(f"{where}{shown}", file=sys.stderr, flush=True)
        traceback.print_exception(unraisable.exc_type, unraisable.exc_value,
                                  unraisable.exc_traceback, file=sys.stderr)
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass


def forget(libraries: tuple[str, ...]) -> None:
    """Drop the already imported modules of ``libraries``, and every module's attribute that
    holds one. A worker's zygote never loads them (``grader.isolation.profiles``); this is for
    a worker started as a fresh interpreter, where nothing is preloaded but what the grader's own
    start-up imported."""
    # A package is loaded before any module under it: where none of ``libraries`` is loaded
    # (a forked worker), reading every entry of sys.modules to be sure would write the reference
    # counts of all the zygote's module names, copying their pages into the worker (3 MB).
    if not any(library in sys.modules for library in libraries):
        return
    gone = {id(sys.modules[n]) for n in list(sys.modules)
            if audit.banned_library(n, libraries)}
    if not gone:
        return  # none of them is loaded (the import hook keeps them out)
    for name in [n for n in sys.modules if audit.banned_library(n, libraries)]:
        del sys.modules[name]
    module_type = type(sys)
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None) if type(module) is module_type else None
        if namespace is None:
            continue
        held = [attr for attr, value in namespace.items()
                if type(value) is module_type and id(value) in gone]
        for attr in held:
            del namespace[attr]


def start_cuda() -> None:
    """Start CUDA in this (sandboxed) GPU worker before any student code runs, so that a CUDA the
    sandbox keeps from starting is the grader's failure, said as such, rather than a worker that
    dies at the first tensor sent to the GPU and reads as the student's crash."""
    import torch

    if not torch.version.cuda:  # a CPU build: only a stand-in decision sends it GPU work
        return
    try:
        torch.zeros(1, device="cuda")
    except Exception as exc:  # noqa: BLE001 (CUDA's errors have no common type)
        raise RuntimeError(f"CUDA could not start in the sandboxed worker: "
                           f"{type(exc).__name__}: {str(exc)[-300:]}") from None


def serve(sock: socket.socket, module_name: str, module_path: str, student_dir: str,
          generation: int, max_reply_bytes: int, banned: tuple[str, ...] = (), *,
          ops: tuple[str, ...] = (), libraries: tuple[str, ...] = (),
          unoffered: tuple[str, ...] = (), gpu: bool = False,
          before_student_code: Callable[[], None] | None = None) -> None:
    """Import the student's module, say whether that worked, then answer calls until EOF.

    ``banned``, ``ops``, ``libraries``: the topic's bans, and ``unoffered``: the packages the
    course does not offer, put in place before the import (``arm``).
    ``gpu``: whether this worker grades on the GPU (tensors sent from ``cuda`` are built there),
    as the trusted side decided. ``before_student_code`` is called just before the student's
    module starts running: what fails before that is the grader's failure.
    """
    handles = _Handles(generation)
    devices = wire.Devices(cuda=gpu)
    if gpu:
        start_cuda()
    arm(student_dir, banned, ops, libraries, unoffered)
    sys.path.insert(0, student_dir)
    if before_student_code is not None:
        before_student_code()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            spec = importlib.util.spec_from_file_location(module_name, module_path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {module_path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt at import too
        _send(sock, {"op": "import_error", "error": describe_exception(exc, student_dir),
                     **_fired()})
        return
    _send(sock, {"op": "ready", "warnings": _warnings(caught), **_fired()})

    reader = wire.FrameReader(sock)
    while True:
        collector.collect()  # between calls: the only place a collection runs (see collector)
        try:  # the frame is let go once decoded: the call runs beside its values, not two copies
            meta, value = wire.decode_message(
                reader.read_exact(wire.frame_length(reader.read_exact(wire.FRAME_HEADER_SIZE))),
                tensor_device=devices)
        except (EOFError, ConnectionError):
            return
        op = meta.get("op")
        if op == "release":
            for hid in meta.get("ids", []):
                handles.objects.pop(hid, None)
            continue
        if op == "bye":
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if op == "call":
                    args, kwargs = value
                    result = _keep(_call(module, handles, meta["fn"], args, kwargs),
                                   meta.get("keep", []), handles)
                elif op == "batch":
                    select = meta.get("select")
                    result = []
                    for args in value:
                        out = _call(module, handles, meta["fn"], args, {})
                        result.append(out[select] if select is not None else out)
                else:
                    raise ValueError(f"unknown operation {op!r}")
            except BaseException as exc:  # the student's SystemExit is an error like any other
                _flush_output()
                _send(sock, {"ok": False, "error": describe_exception(exc, student_dir),
                             "warnings": _warnings(caught), **_fired()})
                continue
        _flush_output()
        # A banned call the student caught still counts: it travels with this reply.
        _send(sock, {"ok": True, "warnings": _warnings(caught), **_fired()}, result,
              handles, max_reply_bytes)


def _fired() -> dict[str, Any]:
    """What fired since the last reply, and the code the student's module built and ran at run
    time ([route, line, source or listing]), for the reply."""
    banned, executed = tripwire.fired()
    if not executed:
        return {"banned": banned}
    return {"banned": banned, "executed": [
        [route, line, payload if type(payload) is str else _listing(payload)]
        for route, line, payload in executed]}


def _listing(code: Any) -> str:
    try:
        return codelisting.listing(code)
    except Exception:  # code the listing cannot read: the route is still told
        return ""


def _flush_output() -> None:
    """Push what the student printed to the output file before the trusted side reads it."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a student may have replaced or closed them; nothing to report
            pass


def _warnings(caught: list[warnings.WarningMessage]) -> list[list[str]]:
    return [[w.category.__name__, _safe_str(w.message)[:500]] for w in caught[:50]]
