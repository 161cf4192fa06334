"""Bans by what they are: the audit hook never runs student code, banned libraries are absent from
their topics' workers, decompositions go with the operators they decompose, and autograd is taken
away where the exercise is a gradient written by hand.

Each case is student code run in a real worker of its topic (forked from the zygote of the
topic's ban profile, sandboxed as grading is, with the topic's bans), called the way a hidden
test calls it; a few cases are graded whole, beside an honest submission that keeps its grade.
"""

from __future__ import annotations

import importlib.util
import os
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.course import Course
from grader.grading.engine import Options
from grader.grading.plugin import TopicRun, worker_spec
from grader.grading.remote import (BannedCallError, StudentError, StudentModule, StudentProxy)
from grader.isolation import profiles

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
SEED = 20261125


def run(engine: Any, topic: str, source: str, fn: str, *args: Any, tmp: Path,
        before: str | None = None, provides: tuple[str, ...] = ()) -> Any:
    """Call ``fn`` of ``source``, handed in as the module of ``topic``, in a worker of that
    topic (after ``before()``, whatever it does); what ``fn`` returned, or the StudentError /
    BannedCallError it raised. ``provides``: the packages the course offers, where the worker
    is to go without the others (as a grading's does)."""
    folder = tmp / f"{topic}-{fn}-{time.monotonic_ns()}"
    folder.mkdir()
    path = folder / f"{topic}.py"
    path.write_text(textwrap.dedent(source))
    spec = worker_spec(topic, TopicRun(module_path=str(path), config=COURSE.config(topic),
                                       solution=None),
                       str(folder), engine.sandboxed, engine.read_paths, provides)
    session = StudentModule(engine.zygote, spec)
    try:
        if before is not None:
            try:
                StudentProxy(session, time.monotonic() + 60).call(before)
            except (StudentError, BannedCallError):
                pass
        return StudentProxy(session, time.monotonic() + 60).call(fn, *args)
    except (StudentError, BannedCallError) as exc:
        return exc
    finally:
        session.close()


def _grade(engine: Any, topic: str, source: str, tmp: Path) -> Any:
    sub = tmp / "submission"
    sub.mkdir(parents=True)
    (sub / f"{topic}.py").write_text(source)
    result = engine.grade(sub, tmp / "out", Options(topics=(topic,), seed=SEED))
    assert not result.error, result.error
    return result


def _with(topic: str, override: str) -> str:
    return COURSE.solution(topic).read_text() + "\n\n" + textwrap.dedent(override)


# ------------------------------------------------------------- the hook never runs student code

# Objects whose every method that the old hook called (str(), ==, hash, a property read,
# isinstance's __class__) records that it ran. A spoofed event hands them to the hook.
SPOOF = '''
import gc, sys
RAN = []

class Name(str):
    def __str__(self):
        RAN.append("__str__"); return "numpy"
    def __eq__(self, other):
        RAN.append("__eq__"); return True
    def __hash__(self):
        RAN.append("__hash__"); return 0
    def startswith(self, *args):
        RAN.append("startswith"); return False
    def split(self, *args):
        RAN.append("split"); return ["numpy"]

class Thing:
    @property
    def __code__(self):
        RAN.append("__code__"); return None
    @property
    def f_code(self):
        RAN.append("f_code"); return None
    @property
    def __class__(self):
        RAN.append("__class__"); return type
    @property
    def __dict__(self):
        RAN.append("__dict__"); return {}
    def __getattr__(self, name):
        RAN.append(name); return None
    def __eq__(self, other):
        RAN.append("__eq__"); return True
    def __hash__(self):
        RAN.append("__hash__"); return 0
    def __len__(self):
        RAN.append("__len__"); return 0
    def __iter__(self):
        RAN.append("__iter__"); return iter(())

EVENTS = ["import", "object.__setattr__", "object.__delattr__", "object.__getattr__",
          "sys._getframe", "exec", "compile", "function.__new__", "marshal.loads", "open",
          "grader.gate", "grader.take", "grader.refused", "grader.attribute", "grader.describe",
          "grader.sweep", "grader.thread", "grader.create", "grader.loading", "builtins.id",
          "ctypes.dlsym"]

def spoof(x):
    for event in EVENTS:
        for args in ((Name("torch"),), (Thing(), Name("__code__")), (Thing(), "__code__"),
                     (Thing(),), (Name("x"), Name("y"), Thing()), (1, [], Thing()),
                     (Thing(), Thing(), Thing(), Thing(), Thing())):
            try:
                sys.audit(event, *args)
            except BaseException:
                pass
    refused = []
    for name, attempt in (("gc", lambda: gc.get_objects()),
                          ("settrace", lambda: sys.settrace(lambda *a: None)),
                          ("frames", lambda: sys._current_frames()),
                          # a hook of the student's would see every event after the grader's
                          # own, the trip-wire's box with an original in it included
                          ("a hook of its own", lambda: sys.addaudithook(lambda *a: None))):
        try:
            attempt()
        except BaseException as exc:
            refused.append(name)
    return {"ran": sorted(set(RAN)), "refused": refused}
'''


@pytest.mark.parametrize("topic", ["activations", "performance", "transformer"])
def test_spoofed_events_never_run_student_code_and_the_hook_keeps_working(
        engine, topic: str, tmp_path: Path) -> None:
    got = run(engine, topic, SPOOF, "spoof", 0, tmp=tmp_path)
    assert not isinstance(got, Exception), got
    assert got["ran"] == [], f"the hook ran the student's {got['ran']}"
    assert got["refused"] == ["gc", "settrace", "frames", "a hook of its own"]


# A finaliser of the student's, timed to run inside the audit hook. The names it reports are the
# hook's frames it found itself in; ``LOCALS`` what those frames held.
FINALISERS = '''
import gc, sys, threading
SEEN = []
LOCALS = []

class Cycle:
    def __init__(self):
        self.me = self
    def __del__(self):
        frame = sys._getframe(1)
        while frame is not None:
            SEEN.append(frame.f_code.co_name)
            if frame.f_code.co_name in ("check", "hook", "inspect", "on_import"):
                LOCALS.extend(frame.f_locals)
            frame = frame.f_back

def _seen():
    gc.set_threshold(700, 10, 10)
    gc.collect()
    return sorted(set(SEEN) & {"check", "inspect", "hook", "on_import"}), sorted(set(LOCALS))

def collect_inside(x):
    # 3.12 and later: a collection that is due runs at the next function's entry, the hook's
    gc.enable()
    gc.set_threshold(1, 1, 1)
    for _ in range(200):
        Cycle()
        sys.audit("import", "numpy")  # the hook allocates: a collection would run here
        id(x)
    return _seen()

def _first_event(k):
    Cycle()  # garbage, collected by the k-th allocation from here
    gc.set_threshold(gc.get_count()[0] + k, 10, 10)
    sys.audit("import", "numpy")  # the hook's first event in this thread allocates its flag

def first_event_of_a_thread(x):
    # every version: the count read, the threshold set so that the collection falls on an
    # allocation the hook makes, in a new thread, whose first event the hook has not seen
    gc.enable()
    for k in range(40):
        thread = threading.Thread(target=_first_event, args=(k,))
        thread.start()
        thread.join()
    return _seen()
'''


# The trip-wire sweeps a module of a banned package loaded after the student's (inside the hook):
# a module of the student's own, handed to the trip-wire's loader, holds objects whose every
# attribute read would run the student's code there.
SWEEP = '''
import sys, types
RAN = []

class Lure:
    @property
    def __module__(self):
        RAN.append("__module__")
        frame = sys._getframe()
        while frame is not None:
            RAN.append(frame.f_code.co_name)
            frame = frame.f_back
        return "numpy"
    @property
    def __class__(self):
        RAN.append("__class__"); return types.FunctionType
    def __call__(self, *args):
        return 0

class Name(str):
    def __str__(self):
        RAN.append("__str__"); return "x"
    def __format__(self, spec):
        RAN.append("__format__"); return "x"

def lure(x):
    import torch
    finder = next(f for f in sys.meta_path if type(f).__name__ == "_Finder")
    spec = finder.find_spec("torch.func._random", torch.func.__path__)
    module = types.ModuleType("torch.func._random")
    module.__dict__.update({"polyfit": Lure(), Name("lure"): Lure(), "fit": Lure(),
                            "__package__": "torch.func"})
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        RAN.append("raised " + type(exc).__name__)
    return sorted(set(RAN))
'''


def test_a_module_handed_to_the_sweep_runs_none_of_its_objects_code(engine,
                                                                   tmp_path: Path) -> None:
    got = run(engine, "transformer", SWEEP, "lure", 0, tmp=tmp_path)  # it bans torch.func
    assert not isinstance(got, Exception), got
    assert [r for r in got if not r.startswith("raised")] == [], got


@pytest.mark.parametrize("timing", ["collect_inside", "first_event_of_a_thread"])
def test_no_finaliser_of_the_students_runs_inside_the_hook(engine, timing: str,
                                                          tmp_path: Path) -> None:
    """Timed to a collection inside the hook, with the collector switched back on as far as the
    student can, no finaliser of theirs runs there: the worker's collector never starts by
    itself (it found the hook's state, ``self`` and ``_check``, in the frames' locals)."""
    got = run(engine, "performance", FINALISERS, timing, 0, tmp=tmp_path)
    assert got == ([], []), got


GARBAGE = '''
import gc
FREED = []

class Cycle:
    def __init__(self):
        self.me = self
    def __del__(self):
        FREED.append(1)

def make(n):
    for _ in range(n):
        Cycle()
    return len(FREED)

def freed(x):
    return len(FREED)

def switch(on):
    (gc.enable if on else gc.disable)()
    return gc.isenabled()

def collect_now(n):
    make(n)
    gc.collect()
    return len(FREED)
'''


def test_garbage_is_collected_between_calls_and_when_the_student_asks(engine,
                                                                      tmp_path: Path) -> None:
    """The collector in a worker runs between calls, as Python's would have (a student's
    cyclic garbage does not pile up over a grading), and in the student's own frame when they
    ask; ``gc.disable()`` / ``gc.enable()`` / ``gc.isenabled()`` mean what they say about it."""
    folder = tmp_path / "w"
    folder.mkdir()
    path = folder / "performance.py"
    path.write_text(GARBAGE)
    spec = worker_spec("performance", TopicRun(module_path=str(path),
                                               config=COURSE.config("performance"), solution=None),
                       str(folder), engine.sandboxed, engine.read_paths)
    session = StudentModule(engine.zygote, spec)
    try:
        def call(fn: str, *args: Any) -> Any:
            return StudentProxy(session, time.monotonic() + 60).call(fn, *args)

        assert call("switch", True) is True
        made = call("make", 5000)
        assert made < 5000  # none ran by itself while the call ran (or only a few)
        assert call("freed", 0) == 5000  # collected before the next call
        assert call("collect_now", 10) == 5010  # the student's own gc.collect()
        assert call("switch", False) is False
        call("make", 5000)
        assert call("freed", 0) == 5010  # switched off: nothing collected between calls
        assert call("collect_now", 0) == 10010
    finally:
        session.close()


USER = '''
import getpass, os

def user(x):
    return getpass.getuser(), os.getuid()
'''


@pytest.mark.parametrize("topic", ["activations", "transformer"])
def test_a_library_asking_for_the_users_name_gets_one(engine, topic: str,
                                                      tmp_path: Path) -> None:
    """``getpass.getuser()`` (torch's caches ask it) answers in a worker, whose uid no
    /etc/passwd names where the grader runs as root."""
    got = run(engine, topic, USER, "user", 0, tmp=tmp_path)
    assert not isinstance(got, Exception), got
    assert got[0] == "student", got


# What a student module's spy asks: whether it runs inside the audit hook (the hook's frame
# below it). ``sys`` is imported and ``SHALLOW`` taken (``ValueError``) before it.
INSIDE_HOOK = """
def inside_hook():
    try:
        frame = sys._getframe(2)
    except SHALLOW:  # the top of a thread
        return False
    while frame is not None:
        code = frame.f_code
        if code.co_name == "hook" and code.co_filename.endswith("audit.py"):
            return True
        frame = frame.f_back
    return False
"""


# A name the hook looks up at run time, rebound by the student to a function of theirs.
# Every name the hook's code could look up where student code can write it, rebound to a spy
# that notes when it runs inside the hook: every builtin function, every function and method of
# the grader's worker modules, every function of the library modules the hook's code uses; and,
# around a spoofed event alone, every builtin (classes too). Then the worker does what reaches
# each of the hook's handlers and the trip-wire's: imports (a library's body, a module under a
# banned package, swept as it loads), opens, run-time code, functions made of code, attribute
# writes, a banned call through its wire, a refused call, a thread.
REBIND = """
import builtins, os, sys, types

FOUND = []
BUSY = []
# the exceptions this module catches, taken before the builtins are rebound
CAUGHT, SHALLOW = BaseException, ValueError
MODULES = ("grader.isolation.", "os", "posixpath", "genericpath", "stat", "threading", "re",
           "re._compiler", "re._parser", "fnmatch", "functools", "types", "signal", "enum",
           "importlib._bootstrap", "importlib._bootstrap_external", "contextlib", "io")

""" + INSIDE_HOOK + """

def spying(name, real):
    def spy(*args, **kwargs):
        if not BUSY:
            BUSY.append(1)
            try:
                if inside_hook():
                    FOUND.append(name)
            finally:
                BUSY.clear()
        return real(*args, **kwargs)
    return spy


# builtins that read their caller's frame: a spy would be their caller
FRAME_READERS = {"locals", "globals", "vars", "dir", "exec", "eval"}


def targets(classes):
    out = []
    for name, value in list(vars(builtins).items()):
        if name in FRAME_READERS:
            continue
        if type(value) is types.BuiltinFunctionType or (classes and isinstance(value, type)
                                                        and not name.startswith("__")):
            out.append((builtins, name, value))
    if classes:
        return out
    for modname, module in list(sys.modules.items()):
        if type(module) is not types.ModuleType or not (
                modname in MODULES or modname.startswith(MODULES[0])):
            continue
        for name, value in list(vars(module).items()):
            if type(value) in (types.FunctionType, types.BuiltinFunctionType):
                out.append((module, name, value))
            elif isinstance(value, type) and value.__module__ == modname:
                for attr, member in list(vars(value).items()):
                    if type(member) is types.FunctionType:
                        out.append((value, attr, member))
                if issubclass(value, BaseException) or modname.endswith("tripwire"):
                    # what making one runs (an exception's, a wire's), set on the class
                    out.append((value, "__init__", value.__init__))
    import signal  # what comparing or converting a handler runs (``signal.SIG_IGN``)
    out += [(signal.Handlers, name, getattr(signal.Handlers, name))
            for name in ("__eq__", "__hash__", "__int__", "__index__")]
    return out


def rebind(where):
    done = []
    for owner, name, value in where:
        try:
            setattr(owner, name, spying(getattr(owner, "__name__", "?") + "." + name, value))
        except CAUGHT:
            continue
        done.append((owner, name, value))
    return done


def restore(done):
    for owner, name, value in reversed(done):
        setattr(owner, name, value)


def note(what):
    if inside_hook():
        FOUND.append(what)


class Meta(type):
    def __hash__(cls):
        note("a metaclass's __hash__")
        return type.__hash__(cls)

    def __eq__(cls, other):
        note("a metaclass's __eq__")
        return type.__eq__(cls, other)


class Name(str):
    def __hash__(self):
        note("a str subclass's __hash__")
        return str.__hash__(self)

    def __eq__(self, other):
        note("a str subclass's __eq__")
        return str.__eq__(self, other)

    def startswith(self, *args):
        note("a str subclass's startswith")
        return str.startswith(self, *args)

    def endswith(self, *args):
        note("a str subclass's endswith")
        return str.endswith(self, *args)


def hostile_loader():
    import importlib.machinery

    class Mine(importlib.machinery.SourceFileLoader, metaclass=Meta):
        pass
    Mine("mine", __file__).source_to_code(b"w = 4", "<mine>")  # compile, with it in a frame


def raw_thread():
    import _thread, numpy, threading
    ended, hook = threading.Event(), sys.unraisablehook
    sys.unraisablehook = lambda unraisable: ended.set()  # the thread's refusal ends up here
    try:
        # no frame of the student's in that thread: list() calls polyfit through map()
        _thread.start_new_thread(list, (map(numpy.polyfit, [[0, 1]], [[0, 1]], [1]),))
        ended.wait(60)
    finally:
        sys.unraisablehook = hook


def work(topic):
    import gc, threading
    tried = []
    def attempt(what, *calls):
        for call in calls:
            try:
                call()
            except CAUGHT:
                pass
        tried.append(what)
    attempt("import event", lambda: sys.audit("import", "numpy"))
    if topic == "logistic_regression" and "scipy.fft" in sys.modules:
        tried.append("scipy.fft was loaded already: no sweep")
    attempt("import a library module", lambda: __import__("colorsys"))
    attempt("open a file", lambda: open(__file__).close())
    attempt("run-time code", lambda: exec(compile("x = 1", "<mine>", "exec"), {}))
    attempt("a function made of code",
            lambda: types.FunctionType(compile("y = 2", "<f>", "exec"), {}))
    attempt("an attribute written", lambda: setattr(work, "__defaults__", ()))
    attempt("a refused call", lambda: gc.get_objects())
    attempt("a thread", lambda: threading.Thread(target=lambda: None).start())
    import signal
    attempt("a handler set to its default", lambda: signal.signal(signal.SIGALRM, signal.SIG_IGN))
    if topic == "linear_regression":
        import numpy
        attempt("a banned call", lambda: numpy.polyfit([0, 1], [0, 1], 1))
        attempt("a banned call at the top of a thread threading did not start", raw_thread)
    if topic == "logistic_regression":
        attempt("a module of a banned package, swept as it loads",  # (scipy.special is
                lambda: __import__("scipy.fft"))  # loaded by the zygote, scipy.fft is not)
        attempt("a banned call", lambda: sys.modules["scipy.special"].softmax([0.0, 1.0]))
    return tried


RESULT = []


def rebound():
    topic = os.path.basename(__file__)[:-3]
    # objects whose type answers what the hook asks of them: read by exact type, or by id
    tried = []
    for what, call in (("code whose file name is a str subclass",
                        lambda: exec(compile("z = 3", Name("<mine>"), "exec"), {})),
                       ("a loader whose class has a metaclass", hostile_loader)):
        try:
            call()
        except CAUGHT:
            pass
        tried.append(what)
    RESULT.append(["types", len(tried), tried, sorted(set(FOUND))])
    FOUND.clear()
    done = rebind(targets(False))
    try:
        tried = work(topic)
    finally:
        restore(done)
    RESULT.append(["functions", len(done), tried, sorted(set(FOUND))])
    FOUND.clear()
    done = rebind(targets(True))
    failed = []
    try:
        for event, args in (("import", ("numpy",)), ("open", ("/dev/null", "r", 0)),
                            ("exec", (rebound.__code__,)), ("object.__setattr__",
                                                             (rebound, "__code__", None))):
            try:
                sys.audit(event, *args)
            except CAUGHT as exc:
                failed.append(event + ": " + exc.__class__.__name__)
    finally:
        restore(done)
    RESULT.append(["everything", len(done), failed, sorted(set(FOUND))])


def result(x):
    return RESULT


def handlers(x):
    import signal
    done = rebind([t for t in targets(False) if t[0] is signal.Handlers])
    try:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
    finally:
        restore(done)
    return len(done), FOUND
"""


@pytest.mark.parametrize("topic", ["activations", "linear_regression", "logistic_regression"])
def test_no_name_the_hook_looks_up_is_the_students_to_rebind(engine, topic: str,
                                                             tmp_path: Path) -> None:
    """The hook's code runs on private copies of the namespaces it reads
    (``grader.isolation.private``): rebinding any name in the shared ones, for every name the
    student can reach, runs nothing inside the hook, whatever the worker does meanwhile."""
    got = run(engine, topic, REBIND, "result", 0, before="rebound", tmp=tmp_path)
    assert isinstance(got, list) and len(got) == 3, got
    (*_, by_type), (_, functions, tried, found), (_, everything, failed, found_too) = got
    assert functions > 1000 and everything > 100, got
    assert "open a file" in tried and "a thread" in tried and "a refused call" in tried, got
    assert not any(t.endswith("no sweep") for t in tried), got
    assert found == [] and found_too == [] and by_type == [], got
    # spoofed events with the builtins rebound: read as ever (assigning __code__ refused)
    assert failed == ["object.__setattr__: AuditRefused"], got


def test_a_handler_read_by_the_hook_runs_nothing_of_its_class(engine, tmp_path: Path) -> None:
    """``signal.signal(..., signal.SIG_IGN)`` is let through by the wire's gate, which reads the
    handler: ``signal.Handlers`` is a class statement's (an enum), whose ``__int__`` and
    ``__eq__`` student code can set."""
    got = run(engine, "linear_regression", REBIND, "handlers", 0, tmp=tmp_path)
    assert got == (6, []), got


# What the hook reads by a name, in a namespace the student can write, or through a class of a
# library's: a key of the student's with the name's hash placed before the name's own (the name
# taken out and put back after it), a library class's ``__hash__`` and ``__eq__`` changed. Each
# spy notes when it runs inside the hook; the worker then does what makes the hook read there.
TWINS = """
import importlib.util, sys, threading, types

SHALLOW = ValueError
FOUND = []
""" + INSIDE_HOOK + """


class Twin:
    def __init__(self, of):
        self.of, self.hashed = of, hash(of)

    def __hash__(self):
        return self.hashed

    def __eq__(self, other):
        if inside_hook():
            FOUND.append(f"a key with the hash of {self.of!r}")
        return NotImplemented


def before(namespace, name):
    # the name's own entry moved after a twin of it: a lookup meets the twin first
    value = namespace.pop(name)
    namespace[Twin(name)] = None
    namespace[name] = value


def a_module_handed_over(candidates):
    # a module of the trip-wire's packages, loaded through its finder into a module object of
    # the student's: the hook reads the module's name and its loader's path, and which of the
    # modules its package's patterns name are loaded
    name = next(n for n in candidates if n not in sys.modules)
    root = name.split(".")[0]
    for loaded in [n for n in sys.modules if n.split(".")[0] == root]:
        before(sys.modules, loaded)
    finder = next(f for f in sys.meta_path if type(f).__name__ == "_Finder")
    parent = sys.modules[name.rpartition(".")[0]]
    spec = finder.find_spec(name, parent.__path__)
    module = importlib.util.module_from_spec(spec)
    before(vars(module), "__name__")
    before(vars(spec.loader.loader), "path")
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        return [name, "raised " + type(exc).__name__, sorted(set(FOUND))]
    return [name, "loaded", sorted(set(FOUND))]


def numpy_module(x):
    return a_module_handed_over(["numpy._configtool", "numpy.matlib", "numpy.rec"])


def torch_module(x):
    return a_module_handed_over(["torch.utils.show_pickle", "torch.utils.file_baton",
                                 "torch.utils.model_zoo"])


OUTCOME = []
# code whose file is none of the student's, called by the worker itself: a banned call there is
# placed by the thread it ran in, looked up in threading._active (the student's key first)
exec(compile('''
def elsewhere(x=None):
    before(threading._active, threading.get_ident())
    import numpy
    try:
        return numpy.polyfit([0, 1], [0, 1], 1)
    except BaseException as exc:
        OUTCOME.append(type(exc).__name__)
        raise
''', "/elsewhere/code.py", "exec"))


def found(x):
    return [OUTCOME, sorted(set(FOUND))]


class Name(str):
    def __eq__(self, other):
        if inside_hook():
            FOUND.append("a str subclass's __eq__")
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def a_file_name_of_their_class(x):
    # importlib's own loader, its get_code changed to compile the file under a str subclass
    import importlib.machinery
    if "colorsys" in sys.modules:
        return ["colorsys was loaded already: no file compiled"]
    kind = importlib.machinery.SourceFileLoader
    real = kind.get_code

    def get_code(self, fullname):
        path = self.get_filename(fullname)
        with open(path, "rb") as f:
            return compile(f.read(), Name(path), "exec", dont_inherit=True)
    kind.get_code = get_code
    try:
        import colorsys
    finally:
        kind.get_code = real
    return [colorsys.rgb_to_hsv(1.0, 0.0, 0.0), sorted(set(FOUND))]


def planted_in_the_loaders_frames(candidates):
    # importlib's loader changed to put, in the namespace of every frame of importlib's and of
    # the trip-wire's loader above it, a key of theirs before each name there: reading a frame's
    # variables (``f_locals``) writes them into that namespace by name, comparing its keys
    import importlib.machinery
    name = next(n for n in candidates if n not in sys.modules)
    kind = importlib.machinery.SourceFileLoader
    real = kind.get_code

    def get_code(self, fullname):
        frame = sys._getframe(1)
        while frame is not None:
            file = frame.f_code.co_filename
            namespace = frame.f_locals  # (from Python 3.13 a function's is a view, not a dict)
            if type(namespace) is dict and (file.startswith("<frozen importlib") or
                                            file.endswith("tripwire.py")):
                for key in [k for k in namespace if type(k) is str]:
                    before(namespace, key)
            frame = frame.f_back
        return real(self, fullname)
    kind.get_code = get_code
    try:
        __import__(name)
    except BaseException as exc:
        return [name, "raised " + type(exc).__name__ + ": " + str(exc), sorted(set(FOUND))]
    finally:
        kind.get_code = real
    return [name, "loaded", sorted(set(FOUND))]


def a_library_module_planted(x):
    return planted_in_the_loaders_frames(["colorsys", "netrc", "fractions", "wave"])


def a_torch_module_planted(x):
    return planted_in_the_loaders_frames(["torch.utils.show_pickle", "torch.utils.file_baton",
                                          "torch.utils.model_zoo"])


def decompositions_loaded_later(x):
    import torch._ops
    kind = torch._ops.OpOverload
    real = kind.__hash__

    def spy(self):
        if inside_hook():
            FOUND.append("OpOverload.__hash__")
        return real(self)
    kind.__hash__ = spy
    kind.__eq__ = lambda self, other: (FOUND.append("OpOverload.__eq__") if inside_hook()
                                       else None) or self is other
    try:
        import torch._decomp.decompositions_for_jvp
    except BaseException as exc:
        return ["raised " + type(exc).__name__ + ": " + str(exc), sorted(set(FOUND))]
    finally:
        kind.__hash__ = real
        del kind.__eq__
    return ["loaded", sorted(set(FOUND))]
"""


@pytest.mark.parametrize("topic, fn", [("linear_regression", "numpy_module"),
                                       ("rnn", "torch_module")])
def test_a_name_the_hook_reads_in_a_namespace_of_the_students_compares_no_key_of_theirs(
        engine, topic: str, fn: str, tmp_path: Path) -> None:
    """The hook reads a module's ``__name__`` and its loader's ``path`` from their namespaces, and
    names in ``sys.modules``, where the student can put a key of theirs of the same hash before
    the name's own (a dict lookup would call its ``__eq__``): read key by key, it compares none
    of theirs. The module still loads, wired as it loads."""
    got = run(engine, topic, TWINS, fn, 0, tmp=tmp_path)
    assert isinstance(got, list) and got[1:] == ["loaded", []], got


def test_a_modules_file_name_is_compared_only_as_a_str(engine, tmp_path: Path) -> None:
    """Which file a module's code came from: ``compile`` keeps a str subclass as the file name,
    which importlib's loader, changed by the student, hands to the hook with the code."""
    got = run(engine, "activations", TWINS, "a_file_name_of_their_class", 0, tmp=tmp_path)
    assert got == [(0.0, 1.0, 1.0), []], got


def test_the_running_thread_is_looked_up_comparing_no_key_of_the_students(
        engine, tmp_path: Path) -> None:
    """A banned call from code whose file is none of the student's is placed by the thread it ran
    in, looked up in ``threading._active``, where the student put a key of the thread's hash."""
    got = run(engine, "linear_regression", TWINS, "found", 0, before="elsewhere", tmp=tmp_path)
    assert got == [["BannedCall"], []], got


@pytest.mark.parametrize("topic, fn", [("activations", "a_library_module_planted"),
                                       ("linear_regression", "a_library_module_planted"),
                                       ("rnn", "a_torch_module_planted")])
def test_the_frames_of_a_modules_loading_are_read_comparing_no_key_of_the_students(
        engine, topic: str, fn: str, tmp_path: Path) -> None:
    """Which module importlib is running, and by which loader, the hook learns without reading
    the variables of importlib's frames: ``f_locals`` writes them by name into the frame's
    namespace, where the student's changed loader put a key of theirs before each name."""
    got = run(engine, topic, TWINS, fn, 0, tmp=tmp_path)
    assert isinstance(got, list) and got[1:] == ["loaded", []], got


@pytest.mark.parametrize("topic", ["rnn", "transformer"])
def test_a_module_of_torchs_decompositions_no_zygote_loaded_is_absent(engine, topic: str,
                                                                      tmp_path: Path) -> None:
    """Where torch's decompositions are banned, a module of theirs that no zygote loaded would
    register what it defines in tables keyed by operators, whose ``__hash__`` and ``__eq__``
    student code can change: wiring those entries would run them inside the hook. It does not
    load: refused before its body runs, and nothing of the student's runs in the hook."""
    got = run(engine, topic, TWINS, "decompositions_loaded_later", 0, tmp=tmp_path)
    assert isinstance(got, list) and got[1] == [], got
    assert got[0].startswith("raised ImportError") and "not available in this exercise" in got[0]


PATHS = """
import pathlib, sys

RAN = []

def opened(how):
    path = pathlib.Path(__file__)
    try:
        if how == "a spoofed event":  # its path's class changed: str(path) runs this
            spoof = pathlib.PurePosixPath(str(path))
            for name in ("__str__", "__fspath__", "__eq__", "__hash__"):
                real = getattr(pathlib.PurePath, name)
                def spy(*args, real=real, name=name):
                    RAN.append(name)
                    return real(*args)
                setattr(pathlib.PurePath, name, spy)
            sys.audit("open", spoof, "r", 0)
            return "let through, having run " + ", ".join(RAN)
        with open(path if how == "a path object" else str(path)) as f:
            return f.read().strip().splitlines()[0]
    except BaseException as exc:
        return "refused: " + str(exc) + (" having run " + ", ".join(RAN) if RAN else "")
"""


@pytest.mark.parametrize("topic, how, expected", [
    ("activations", "a str", "import pathlib"),
    ("activations", "a path object", "import pathlib"),
    ("activations", "a spoofed event", "refused: open() takes a path as a str or bytes"),
    ("seq2seq", "a spoofed event", "let through")])
def test_an_open_event_is_read_by_exact_type(engine, topic: str, how: str, expected: str,
                                              tmp_path: Path) -> None:
    """Where a topic's banned libraries have files the worker may not open, the hook reads the
    path of every ``open`` event. ``open()`` converts a path object before it raises the event;
    a spoofed event can hand the hook the object itself, which converts itself with its class's
    code (student code can change ``PurePath.__str__``): only str and bytes are read, the rest
    refused with what to write, and nothing of the path's class runs. Elsewhere the hook reads no
    path."""
    got = run(engine, topic, PATHS, "opened", how, tmp=tmp_path)
    assert isinstance(got, str) and got.startswith(expected) and "having run" not in got or \
        got == "let through, having run ", got


# Other ways into the middle of the grader's frames, or of reading them from another thread, and
# CPython's own helpers that reach below Python: each refused in every worker.
ASYNC = '''
import importlib.util, sys, threading

def attempt(route):
    try:
        if route == "current exceptions":
            sys._current_exceptions()
        elif route == "current exceptions from a thread":
            got = []
            thread = threading.Thread(target=lambda: got.append(sys._current_exceptions()))
            thread.start()
            thread.join()
            if got:
                return "ran"
            raise RuntimeError("refused in the thread")
        elif route == "monitoring callback":
            sys.monitoring.use_tool_id(3, "mine")
            sys.monitoring.register_callback(3, sys.monitoring.events.PY_START,
                                             lambda *a: None)
        elif route.startswith("import "):
            __import__(route.split()[1])
        elif route.startswith("file of "):
            found = importlib.util.find_spec(route.split()[2])
            if found is None or not found.origin:
                return "absent"
            spec = importlib.util.spec_from_file_location("mine." + route.split()[2],
                                                          found.origin)
            importlib.util.module_from_spec(spec)
        else:
            return "unknown route"
    except BaseException as exc:
        return "refused: " + type(exc).__name__ + ": " + str(exc)[:200]
    return "ran"

def loaded(x):
    return sorted(n for n in sys.modules if n.startswith(("_test", "_xx", "_interp")))
'''


@pytest.mark.parametrize("route", [
    "current exceptions", "current exceptions from a thread", "monitoring callback",
    "import _testcapi", "import _testinternalcapi", "import _xxsubinterpreters",
    "import _interpreters", "file of _testcapi"])
@pytest.mark.parametrize("topic", ["activations", "transformer"])
def test_no_route_into_the_graders_frames_from_elsewhere(engine, topic: str, route: str,
                                                         tmp_path: Path) -> None:
    """``_testcapi.pending_threadfunc`` runs a function at the interpreter's next check, inside
    whatever frame is running; another interpreter sees none of this one's hooks;
    ``sys._current_exceptions()`` hands another thread's exception, and its frames;
    a ``sys.monitoring`` callback runs at the start of every function (3.12 and later)."""
    import importlib.util
    import sys

    if route == "monitoring callback" and sys.version_info < (3, 12):
        pytest.skip("sys.monitoring is Python 3.12's and later's")
    module = route.split()[-1]
    if route.startswith(("import ", "file of ")) and importlib.util.find_spec(module) is None:
        pytest.skip(f"this Python has no {module}")
    got = run(engine, topic, ASYNC, "attempt", route, tmp=tmp_path)
    assert isinstance(got, str) and got.startswith("refused"), got
    if route.startswith(("import ", "file of ")):
        assert f"{module} is not available" in got, got
    assert run(engine, topic, ASYNC, "loaded", 0, tmp=tmp_path) == []


SIGNALS = '''
import _signal, signal
def ignore(x):
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    _signal.signal(signal.SIGTERM, _signal.SIG_DFL)
    return "ignored"

def handler_installed(route):
    install = signal.signal if route == "signal" else _signal.signal
    install(signal.SIGALRM, lambda *a: None)
    return "installed"
'''


@pytest.mark.parametrize("route", ["signal", "_signal"])
def test_student_code_cannot_install_a_signal_handler(engine, route: str, tmp_path: Path) -> None:
    got = run(engine, "transformer", SIGNALS, "handler_installed", route, tmp=tmp_path)
    assert isinstance(got, BannedCallError) and "signal.signal" in str(got), got
    assert run(engine, "transformer", SIGNALS, "ignore", 0, tmp=tmp_path) == "ignored"


# What any frame or traceback of the student's holds, one level down: the types of the values
# of every frame's locals and globals up the stack, and of the attributes of those values.
REACHABLE = '''
import sys

def _types(frame, seen):
    while frame is not None:
        for scope in (frame.f_locals, frame.f_globals):
            for value in list(scope.values()):
                seen.add(type(value).__qualname__)
                for inner in list(getattr(value, "__dict__", {}).values())[:200]:
                    seen.add(type(inner).__qualname__)
                for inner in (getattr(value, "__self__", None), getattr(value, "__closure__", None)):
                    if inner is not None:
                        seen.add(type(inner).__qualname__)
        frame = frame.f_back
    return seen

def _traceback_types(exc, seen):
    tb = exc.__traceback__
    while tb is not None:
        _types(tb.tb_frame, seen)
        tb = tb.tb_next
    return seen

CAUGHT = []

def attempt():
    for route in (lambda: __import__("sklearn"), lambda: __import__("gc").get_objects(),
                  lambda: sys.audit("grader.gate", 1, []), ATTEMPT):
        try:
            route()
        except BaseException as exc:
            CAUGHT.append(exc)

def reach(x):
    seen = _types(sys._getframe(), set())
    for exc in CAUGHT:
        _traceback_types(exc, seen)
    return sorted(seen) if len(CAUGHT) == 4 else CAUGHT
'''
GRADER_STATE = {"Tripwire", "_Checker", "_Hook", "_Finder", "_PatchingLoader"}


@pytest.mark.parametrize("topic,attempt", [
    ("linear_regression", "lambda: __import__('numpy').polyfit([0, 1, 2], [0, 1, 2], 1)"),
    ("performance", "lambda: __import__('torch').ops.aten.conv2d(__import__('torch').ones(1, 1, "
                    "3, 3), __import__('torch').ones(1, 1, 2, 2))"),
    ("activations", "lambda: __import__('torch')"),
])
def test_no_frame_or_traceback_leads_to_the_graders_state(engine, topic: str, attempt: str,
                                                          tmp_path: Path) -> None:
    got = run(engine, topic, REACHABLE.replace("ATTEMPT", attempt), "reach", 0, tmp=tmp_path,
              before="attempt")
    assert isinstance(got, list), got
    assert not GRADER_STATE & set(got), GRADER_STATE & set(got)


FORGED_LIBRARY = '''
import importlib.machinery, importlib.util, os
import numpy

def through_a_forged_library_module(x):
    # importlib made to run the student's code under a library file's name, so that the code
    # would count as the library's and its banned call pass as the library's own
    path = os.path.join(os.path.dirname(numpy.__file__), "_helpers_of_mine.py")
    source = "import numpy\\ndef fit(x, y):\\n    return numpy.polyfit(x, y, 1)\\n"
    loader = importlib.machinery.SourceFileLoader("numpy._helpers_of_mine", path)
    loader.get_code = lambda name: compile(source, path, "exec")
    spec = importlib.util.spec_from_loader("numpy._helpers_of_mine", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.fit([0.0, 1.0, 2.0], [1.0, 3.0, 5.0])
'''


def test_importlib_made_to_run_student_code_as_a_library_gains_nothing(engine,
                                                                       tmp_path: Path) -> None:
    got = run(engine, "linear_regression", FORGED_LIBRARY, "through_a_forged_library_module", 0,
              tmp=tmp_path)
    assert isinstance(got, BannedCallError) and "numpy.polyfit" in str(got), got


# What the hook's verification of a library file could run of the student's, were it to compile
# the file in the worker: the compiler's warnings go through the ``warnings`` module's filters (a
# filter's ``match``) and its display (``warnings._showwarnmsg``, ``sys.stderr``); a source
# declaring an encoding other than UTF-8 is decoded by the codec the codec registry finds (a
# search function registered by the student, the codec module's globals). Each spy notes when it
# runs inside the hook; the worker then runs code of its own under the name of a library file that
# warns when compiled, and of one in another encoding, through importlib's loader.
COMPILED_INSIDE = """
import codecs, importlib.machinery, importlib.util, os, sys, warnings

SHALLOW = ValueError
FOUND = []
""" + INSIDE_HOOK + """


class Spy:
    def match(self, text):
        if inside_hook():
            FOUND.append("a warnings filter's match")
        return False


def show(*args, **kwargs):
    if inside_hook():
        FOUND.append("warnings._showwarnmsg")


def forged(path):
    # importlib's loader made to run other code under the library file's name
    name = "mine_" + os.path.basename(path)[:-3]
    code = compile("x = 1", path, "exec", dont_inherit=True)
    loader = importlib.machinery.SourceFileLoader(name, path)
    loader.get_code = lambda fullname: code
    spec = importlib.util.spec_from_loader(name, loader)
    try:
        loader.exec_module(importlib.util.module_from_spec(spec))
    except BaseException as exc:
        return type(exc).__name__
    return "ran"


def through_warnings(x):
    # an invalid escape sequence in the source: a warning when compiled
    path = os.path.join(os.path.dirname(os.__file__), "test", "test_syntax.py")
    warnings.filters.insert(0, ("default", Spy(), Warning, None, 0))
    warnings._showwarnmsg = show
    return [forged(path), sorted(set(FOUND))]


CLOCK = os.path.join(os.path.dirname(os.__file__), "turtledemo", "clock.py")  # coding: cp1252


def through_a_codec(x):
    # the source decoded by the codec's Python code, which finds charmap_decode among its
    # module's globals
    import types
    import encodings.cp1252 as codec
    codecs.lookup("cp1252")  # found now: the codec is the one the registry hands over
    real = codecs.charmap_decode

    def charmap_decode(*args):
        if inside_hook():
            FOUND.append("a codec's module globals")
        return real(*args)
    codec.codecs = types.SimpleNamespace(charmap_decode=charmap_decode,
                                         charmap_encode=codecs.charmap_encode)
    return [forged(CLOCK), sorted(set(FOUND))]


def through_a_codec_search(x):
    # the codec not looked up yet: the registry's search function runs, and reads its globals
    import encodings
    real = encodings.normalize_encoding

    def normalize_encoding(name):
        if inside_hook():
            FOUND.append("the codec search function's globals")
        return real(name)
    encodings._cache.pop("cp1252", None)
    encodings.normalize_encoding = normalize_encoding
    return [forged(CLOCK), sorted(set(FOUND))]
"""


# The standard library's files each route forges the loading of (some distributions leave out
# the test package and turtledemo): one that warns when compiled under 3.11, one in cp1252.
FORGED = {"through_warnings": ("test", "test_syntax.py"),
          "through_a_codec": ("turtledemo", "clock.py"),
          "through_a_codec_search": ("turtledemo", "clock.py")}


@pytest.mark.parametrize("route", sorted(FORGED))
def test_verifying_a_library_file_runs_nothing_of_the_students(engine, route: str,
                                                               tmp_path: Path) -> None:
    stdlib = Path(os.__file__).parent
    if not stdlib.joinpath(*FORGED[route]).is_file():
        pytest.skip(f"this Python installation has no {'/'.join(FORGED[route])} to forge")
    got = run(engine, "linear_regression", COMPILED_INSIDE, route, 0, tmp=tmp_path)
    # the forged body runs as the student's code (not the library's), or is refused
    assert isinstance(got, list) and got[0] in ("ran", "ImportError") and got[1] == [], got


PLANTED_COMPILED_COPY = '''
import importlib.machinery, importlib.util, marshal, os, sys, tempfile

def through_a_planted_compiled_copy(x):
    # the hook tells a library file's body by the file's compiled copy (``.pyc``): one of the
    # student's, beside their link to a library file, with the header that file's time and size
    # make, holding their code
    name = next(n for n in ("colorsys", "netrc", "wave", "fractions") if n not in sys.modules)
    target = importlib.util.find_spec(name).origin
    folder = tempfile.mkdtemp()
    link = os.path.join(folder, name + ".py")
    os.symlink(target, link)
    source = "import numpy\\ndef fit(x, y):\\n    return numpy.polyfit(x, y, 1)\\n"
    code = compile(source, link, "exec", dont_inherit=True)
    st = os.stat(target)
    header = importlib.util.MAGIC_NUMBER + bytes(4) + \\
        (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + \\
        (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    os.mkdir(os.path.join(folder, "__pycache__"))
    with open(importlib.util.cache_from_source(link), "wb") as f:
        f.write(header + marshal.dumps(code))
    loader = importlib.machinery.SourceFileLoader(name, link)
    loader.get_code = lambda fullname: code
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.fit([0.0, 1.0, 2.0], [1.0, 3.0, 5.0])
'''


def test_a_compiled_copy_planted_beside_a_link_to_a_library_file_gains_nothing(
        engine, tmp_path: Path) -> None:
    got = run(engine, "linear_regression", PLANTED_COMPILED_COPY,
              "through_a_planted_compiled_copy", 0, tmp=tmp_path)
    assert isinstance(got, BannedCallError) and "numpy.polyfit" in str(got), got


# ---------------------------------------------------------------- a banned library is absent

ABSENT = '''
import os, sys
import numpy as np

def _classes():
    todo, seen = [object], set()
    while todo:
        cls = todo.pop()
        try:
            subs = type.__subclasses__(cls)
        except TypeError:
            continue
        for sub in subs:
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    return seen

def where_is_torch(site):
    # site: the folder that holds torch where the grader runs (told by the trusted side: not
    # always numpy's, as in a virtual environment that sees another one's torch)
    found = []
    if any(str(getattr(c, "__module__", "")).split(".")[0] == "torch" for c in _classes()):
        found.append("a class")
    for fn in (np.mean, np.linalg.solve, os.path.join, _classes):
        g = getattr(fn, "__globals__", {})
        if any(getattr(v, "__name__", "").split(".")[0] == "torch" for v in list(g.values())):
            found.append("globals")
    if any(name.split(".")[0] == "torch" for name in sys.modules):
        found.append("sys.modules")
    frame = sys._getframe()
    while frame is not None:
        if any(getattr(v, "__name__", "") == "torch" for v in list(frame.f_globals.values())):
            found.append("a frame")
        frame = frame.f_back
    for path in (os.path.join(site, "torch", "__init__.py"), os.path.join(site, "torch")):
        try:
            with open(path, "rb") as f:
                f.read(1)
            found.append("its files")
        except IsADirectoryError:
            try:
                os.listdir(path)
                found.append("its files")
            except OSError:
                pass
        except BaseException:  # refused by the hook, or unreadable (Landlock)
            pass
    import importlib.util, pickle
    spec = importlib.util.spec_from_file_location("torch", os.path.join(site, "torch", "__init__.py"))
    for route in (lambda: __import__("torch"),
                  lambda: __import__("importlib").import_module("torch.nn"),
                  lambda: pickle.loads(b"ctorch.nn.functional\\nconv2d\\n."),
                  lambda: spec.loader.exec_module(importlib.util.module_from_spec(spec))):
        try:
            route()
            found.append("an import")
        except ImportError:
            pass
    return found
'''


TORCH_SITE = str(Path(str(importlib.util.find_spec("torch").origin)).resolve().parent.parent)


@pytest.mark.parametrize("topic", ["activations", "conv", "autograd", "logistic_regression",
                                   "embeddings"])
def test_a_topic_that_bans_torch_never_has_it_in_its_worker(engine, topic: str,
                                                            tmp_path: Path) -> None:
    got = run(engine, topic, ABSENT, "where_is_torch", TORCH_SITE, tmp=tmp_path)
    assert got == [], f"torch found in a {topic} worker through: {got}"


# A package a topic bans part of (conv: scipy.signal), or whose folder holds a banned library
# (site-packages holds torch): its other modules import as anywhere else, though their folder is
# listed and not read as a whole, and the installed packages' metadata reads (numpy.testing
# reads numpy's as it imports).
BESIDE_A_BAN = '''
import importlib
import importlib.metadata

def load(names):
    out = []
    for name in names:
        try:
            importlib.import_module(name)
            out.append("imported")
        except BaseException as exc:
            out.append(f"{type(exc).__name__}: {exc}")
    return out

def version():
    return importlib.metadata.version("numpy")
'''


@pytest.mark.parametrize("topic", ["conv", "activations", "embeddings"])
def test_what_a_topic_leaves_beside_a_library_it_bans_imports(topic: str,
                                                               tmp_path: Path) -> None:
    """In an engine for that topic alone, whose zygote loads none of them before."""
    from grader.grading.engine import Engine

    names = ["scipy", "scipy.special", "scipy.linalg", "numpy.testing"]
    with Engine(COURSE, topics=(topic,)) as engine:
        _beside_a_ban(engine, topic, names, tmp_path)


def _beside_a_ban(engine: Any, topic: str, names: list[str], tmp_path: Path) -> None:
    got = run(engine, topic, BESIDE_A_BAN, "load", names, tmp=tmp_path)
    assert got == ["imported"] * len(names), dict(zip(names, got))
    assert run(engine, topic, BESIDE_A_BAN, "version", tmp=tmp_path) == np.__version__
    if topic == "conv":
        [refused] = run(engine, topic, BESIDE_A_BAN, "load", ["scipy.signal"], tmp=tmp_path)
        assert "scipy.signal is not available in this exercise" in refused, refused


# Another copy of a banned library, in an installation the worker can read but whose packages are
# not on its import path (a virtual environment's base Python, the system's): an extension module
# of it, loaded by its path under another name, would compute what the ban forbids.
OTHER_COPY = '''
import glob, importlib.util, os

def load_the_other_copy(folder):
    found = sorted(glob.glob(os.path.join(folder, "_sigtools*.so")))
    out = [len(found)]
    for path in [*found, os.path.join(folder, "_sigtools.cpython-311-x86_64-linux-gnu.so")][:1]:
        try:
            spec = importlib.util.spec_from_file_location("mine._sigtools", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            out.append(sorted(n for n in vars(module) if not n.startswith("__")))
        except BaseException as exc:
            out.append(type(exc).__name__)
    return out
'''


def test_module_files_finds_every_copy_of_a_library_in_the_installations(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import sys

    from grader.isolation import sandbox

    base = tmp_path / "base"
    copy = base / "lib" / "python3.11" / "site-packages" / "scipy" / "signal"
    copy.mkdir(parents=True)
    (copy / "__init__.py").write_text("")
    monkeypatch.setattr(sys, "base_prefix", str(base))
    found = sandbox.module_files(["scipy.signal"])
    assert os.path.realpath(copy) in found
    assert found[0] == os.path.realpath(Path(importlib.util.find_spec("scipy").origin).parent
                                        / "signal")  # the one on the import path, first


def test_another_copy_of_a_banned_library_in_the_installation_is_as_absent(
        engine, tmp_path: Path) -> None:
    import glob
    import sys

    ours = str(Path(str(importlib.util.find_spec("scipy").origin)).resolve().parent / "signal")
    others = sorted({str(Path(f).resolve()) for root in (sys.base_prefix, "/usr", "/usr/local")
                     for layout in ("lib/python3*/site-packages", "lib/python3*/dist-packages",
                                    "lib/python3/dist-packages")
                     for f in glob.glob(f"{root}/{layout}/scipy/signal")} - {ours})
    if not others:
        pytest.skip("no other copy of scipy.signal in this machine's Python installations")
    for folder in others:
        got = run(engine, "conv", OTHER_COPY, "load_the_other_copy", folder, tmp=tmp_path)
        assert isinstance(got[1], str), (folder, got)  # listed, maybe; never read, nor loaded


# Another installation's copy of a library the worker does have (a virtual environment's base
# Python, the system's), or a copy on the search path behind the one imports load (where the
# environment sees the system's site-packages, as `GRADER_KEEP_TORCH` makes it): its modules, run
# from their files under another name, define functions that no trip-wire guards (numpy.polyfit
# where it is banned), and its extension modules compute what a banned call would
# (scipy.spatial.distance's).
ELSEWHERE = '''
import importlib.util
import os

def load_from(path, name):
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return sorted(n for n in vars(module) if not n.startswith("__"))
    except BaseException as exc:
        return f"{type(exc).__name__}: {exc}"
'''


def _other_copies(package: str, pattern: str) -> list[str]:
    """Files of ``package`` matching ``pattern`` in the package folders of installations other
    than this environment's (found here by the test, not by the grader)."""
    import glob
    import sys

    ours = Path(str(importlib.util.find_spec(package).origin)).resolve().parent
    return sorted({str(Path(f).resolve()) for root in (sys.base_prefix, "/usr", "/usr/local")
                   for layout in ("lib/python3*/site-packages", "lib/python3*/dist-packages",
                                  "lib/python3/dist-packages")
                   for f in glob.glob(f"{root}/{layout}/{package}/{pattern}")
                   if not Path(f).resolve().is_relative_to(ours)})


@pytest.mark.parametrize("topic, package, pattern, name", [
    ("linear_regression", "numpy", "lib/_polynomial_impl.py", "mine_polynomial"),
    ("linear_regression", "numpy", "polynomial/polynomial.py", "mine_polynomial"),
    ("embeddings", "scipy", "spatial/_distance_wrap*.so", "mine._distance_wrap"),
])
def test_another_installations_copy_of_a_library_runs_nothing_in_a_worker(
        engine, topic: str, package: str, pattern: str, name: str, tmp_path: Path) -> None:
    copies = _other_copies(package, pattern)
    if not copies:
        pytest.skip(f"no other installation's copy of {package}/{pattern} on this machine")
    got = run(engine, topic, ELSEWHERE, "load_from", copies[0], name, tmp=tmp_path)
    assert isinstance(got, str) and "ImportError" in got and (
        f"another Python installation's copy of {package}" in got
        or f"is a copy of {package} that no import loads here" in got), got


def test_a_copy_behind_the_one_imports_load_is_refused_as_another_installations(
        tmp_path: Path) -> None:
    """Where two folders of the search path hold a package, a file of the second copy is not
    this environment's library: only the first copy, the one imports load, is. A package's own
    vendored copy (a folder of the search path inside it) stays its own."""
    from types import SimpleNamespace

    from grader.isolation import audit

    root = tmp_path.resolve() / "lib"  # as the standard library's folder holds site-packages
    first, second = tmp_path.resolve() / "venv-site", root / "site-packages"
    vendor = first / "tool" / "_vendor"
    for folder in (first, second, vendor):
        (folder / "pkg" / "sub").mkdir(parents=True)
        (folder / "pkg" / "__init__.py").write_text("")
        (folder / "pkg" / "sub" / "mod.py").write_text("")
    (first / "tool" / "__init__.py").write_text("")
    (second / "alone").mkdir()
    (second / "alone" / "__init__.py").write_text("")
    order = tuple(f"{f}{os.sep}" for f in (root, first, second, vendor))
    hook = SimpleNamespace(places=tuple(sorted(order, key=len, reverse=True)),
                           others=frozenset(), order=order)
    hook.first_holder = lambda name: audit._Checker.first_holder(hook, name)
    refusal = audit._Checker.elsewhere(hook, f"{second}/pkg/sub/mod.py")
    assert isinstance(refusal, ImportError) and refusal.name == "pkg", refusal
    assert "is a copy of pkg that no import loads here" in str(refusal), refusal
    assert f"imports load {first}{os.sep}pkg" in str(refusal), refusal
    assert audit._Checker.elsewhere(hook, f"{first}/pkg/sub/mod.py") is None
    assert audit._Checker.elsewhere(hook, f"{second}/alone/__init__.py") is None  # only there
    assert audit._Checker.elsewhere(hook, f"{first}/single.py") is None
    assert audit._Checker.elsewhere(hook, f"{vendor}/pkg/sub/mod.py") is None  # tool's own


def test_this_environments_own_library_still_loads_by_an_import(engine, tmp_path: Path) -> None:
    # (a module of its that no zygote loads: loaded now, from this environment's package folder)
    source = textwrap.dedent("""
        import importlib, sys

        def f(x):
            for name in ("scipy.odr", "scipy.cluster.vq", "scipy.io.arff", "scipy.constants"):
                if name not in sys.modules:
                    return [name, importlib.import_module(name).__name__ == name]
            return None
        """)
    got = run(engine, "gaussian_classifier", source, "f", 0, tmp=tmp_path)
    assert got is not None and got[1] is True, got


def test_a_folder_on_the_search_path_outside_the_installation_is_this_environments(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # PYTHONPATH, a project folder a .pth file adds, the grader's checkout run without installing
    # it: none lies below the installation, all are where this environment finds its modules.
    # Only a package folder off the search path is another installation's.
    import os

    from grader.isolation import audit, sandbox

    checkout = tmp_path / "checkout"
    other = tmp_path / "base" / "lib" / "python3.11" / "site-packages"
    for folder in (checkout / "pkgy", other / "pkgy"):
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(checkout))
    listed = sandbox.package_folders()
    monkeypatch.setattr(sandbox, "package_folders", lambda: [*listed, str(other)])
    checker = audit._Checker(student_dir=str(tmp_path / "student"), banned=frozenset(), files=(),
                             on_exec=None, gates={}, library=set(), ours=set(), keep=[])
    assert checker.elsewhere(os.path.realpath(checkout / "pkgy" / "__init__.py")) is None
    refused = checker.elsewhere(os.path.realpath(other / "pkgy" / "__init__.py"))
    assert isinstance(refused, ImportError) and \
        "another Python installation's copy of pkgy" in str(refused)


@pytest.fixture(scope="module")
def checkout_engine():
    """An engine whose zygotes find the grader through ``PYTHONPATH`` (a checkout run without
    installing it), as on a host where the grader is not installed in the environment."""
    import os

    import grader
    from grader.grading.engine import Engine

    before = os.environ.get("PYTHONPATH")
    # (the folder of the grader this process runs: the checkout where it is installed editable)
    os.environ["PYTHONPATH"] = str(Path(grader.__file__).resolve().parent.parent)
    try:
        with Engine(COURSE, topics=("linear_regression",)) as e:
            yield e
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def test_the_grader_found_through_pythonpath_is_this_environments(
        checkout_engine, tmp_path: Path) -> None:
    # Its own folder on the worker's search path lies outside the installation: its modules
    # are the grader's, reloading one is refused as any library's, and grading is unchanged.
    got = run(checkout_engine, "linear_regression", ONCE, "the_graders_own_module_reloaded",
              np.ones((2, 3)), tmp=tmp_path)
    assert isinstance(got, StudentError) and "loaded once" in str(got) and \
        "another Python installation" not in str(got), got
    result = _grade(checkout_engine, "linear_regression",
                    COURSE.solution("linear_regression").read_text(), tmp_path)
    topic = result.topic("linear_regression")
    assert topic.score == topic.max_score, \
        [(t.name, t.message[:160]) for t in result.tests if t.outcome != "passed"]


def test_the_classic_subclasses_route_to_conv2d_scores_nothing(engine, tmp_path: Path) -> None:
    source = _with("conv", """
        def conv2d_forward(x, w, b, stride=1, pad=0):
            for cls in object.__subclasses__():
                for sub in [cls, *type.__subclasses__(cls)]:
                    if str(getattr(sub, "__module__", "")).startswith("torch"):
                        for value in vars(sub).values():
                            g = getattr(value, "__globals__", None)
                            if g and "torch" in g:
                                t = g["torch"]
                                out = t.nn.functional.conv2d(t.from_numpy(x), t.from_numpy(w),
                                                             t.from_numpy(b), stride, pad)
                                return out.numpy(), (x, w, b, stride, pad)
            raise LookupError("no torch here")
        """)
    result = _grade(engine, "conv", source, tmp_path)
    forward = [t for t in result.tests if "conv2d_forward" in t.functions]
    assert forward and all(t.outcome != "passed" for t in forward)
    others = [t for t in result.tests if not t.functions or
              not {"conv2d_forward", "conv2d_backward"} & set(t.functions)]
    assert others and all(t.outcome == "passed" for t in others), \
        [(t.name, t.message[:120]) for t in others if t.outcome != "passed"]


# -------------------------------------------------------- decompositions go with their operators

# torch loads its Python decompositions when it is imported, so they cannot be absent: each route
# to one of them (a table looked up by an operator's name, a helper by a built name) is refused.
DECOMPOSITION = '''
import importlib
import torch

def _table():
    return importlib.import_module("torch._meta_registrations").global_decomposition_table

def by_table(x):
    table = _table()["post_autograd"]
    fn = next(f for op, f in table.items() if str(op) == "aten.lstm.input")
    h = (torch.zeros(1, 2, 3), torch.zeros(1, 2, 3))
    out = fn(torch.ones(5, 2, 4), h, [torch.ones(12, 4), torch.ones(12, 3)], False, 1, 0.0,
             False, False, False)
    return float(out[0].sum())

def by_name(x):
    module = importlib.import_module("torch._decomp." + "decompositions")
    cell = getattr(module, "lstm" + "_cell")
    h, c = cell(torch.ones(2, 12), torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(12, 3),
                None, None, 1)
    return float(h.sum())

def by_reference(x):
    refs = importlib.import_module("torch._refs")
    out, mean, rstd = getattr(refs, "native_layer_norm")(torch.ones(2, 4), [4], None, None, 1e-5)
    return float(out.sum())
'''


@pytest.mark.parametrize("route", ["by_table", "by_name", "by_reference"])
@pytest.mark.parametrize("topic", ["rnn", "transformer", "seq2seq", "gnn", "backprop"])
def test_decompositions_are_refused_where_operators_or_autograd_are_banned(
        engine, topic: str, route: str, tmp_path: Path) -> None:
    got = run(engine, topic, DECOMPOSITION, route, 0, tmp=tmp_path)
    assert isinstance(got, BannedCallError) and "torch._" in str(got), got


@pytest.mark.parametrize("route", ["by_table", "by_name", "by_reference"])
def test_each_decomposition_route_is_real_where_nothing_is_banned(engine, route: str,
                                                                 tmp_path: Path) -> None:
    got = run(engine, "metrics", DECOMPOSITION, route, 0, tmp=tmp_path)
    assert isinstance(got, float), got


def test_a_decomposition_found_by_a_built_name_scores_nothing_in_rnn(engine, tmp_path: Path) -> None:
    source = _with("rnn", """
        def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
            import importlib
            module = importlib.import_module("torch._decomp." + "decompositions")
            return getattr(module, "lstm" + "_cell")(x @ W_ih.T + b_ih, h, c, W_hh, b_hh, None, 1)
        """)
    result = _grade(engine, "rnn", source, tmp_path)
    cells = [t for t in result.tests if t.functions == ("lstm_cell",)]
    assert cells and all(t.outcome != "passed" for t in cells)
    assert any("torch._decomp" in t.message and "not allowed" in t.message for t in cells), \
        cells[0].message


# --------------------------------------------------------------- a kernel called by its key

# A banned operator's kernel at a key that no call of it reaches by itself, called by that key
# (``OpOverload._op_dk``) or redispatched to it: functorch's decompositions, which compute from
# operators that are not banned, and the nested-tensor kernels registered for another backend.
BY_KEY = '''
import torch

DK = torch._C.DispatchKey
SDPA = torch.ops.aten._scaled_dot_product_attention_math.default


def _qkv():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(1, 2, 3, 4, generator=g) for _ in range(3)]


def attention_by_key(x):
    return float(SDPA._op_dk(DK.FuncTorchBatchedDecomposition, *_qkv())[0].abs().sum())


def attention_by_redispatch(x):
    keys = torch._C.DispatchKeySet(DK.FuncTorchBatched)
    return float(SDPA.redispatch(keys, *_qkv())[0].abs().sum())


def dropout_by_key(x):
    op = torch.ops.aten.dropout.default
    return float(op._op_dk(DK.FuncTorchBatchedDecomposition, torch.ones(4, 4), 0.5, True).sum())


def layer_norm_by_a_nested_kernel(x):
    nested = torch.nested.nested_tensor([torch.arange(12.0).reshape(3, 4)])
    out = torch.ops.aten.native_layer_norm.default._op_dk(
        DK.NestedTensorHPU, nested, [4], torch.ones(4), torch.zeros(4), 1e-5)[0]
    return float(out.to_padded_tensor(0.0).abs().sum())


def relu_gradient_by_a_nested_kernel(x):
    nested = torch.nested.nested_tensor([torch.arange(-1.0, 2.0)])
    out = torch.ops.aten.threshold_backward.default._op_dk(DK.NestedTensorHPU, nested, nested,
                                                            0.0)
    return float(out.to_padded_tensor(0.0).sum())
'''
NO_AUTOGRAD_TOPICS = ["backprop", "batchnorm", "gnn", "linear_regression", "regularization",
                      "transformer"]
# route -> (the operator it calls, the topics that ban it)
BY_KEY_ROUTES = {
    "attention_by_key": ("aten::_scaled_dot_product_attention_math",
                         ["attention", "transformer", "performance"]),
    "attention_by_redispatch": ("aten::_scaled_dot_product_attention_math", ["attention"]),
    "dropout_by_key": ("aten::dropout", ["regularization"]),
    "layer_norm_by_a_nested_kernel": ("aten::native_layer_norm", ["transformer"]),
    "relu_gradient_by_a_nested_kernel": ("aten::threshold_backward", NO_AUTOGRAD_TOPICS),
}


ATTENTION_BY_KEY = """
    def scaled_dot_product_attention(q, k, v, mask=None, causal=False):
        # torch's own attention, by the kernel functorch registered for it
        op = torch.ops.aten._scaled_dot_product_attention_math.default
        return op._op_dk(torch._C.DispatchKey.FuncTorchBatchedDecomposition, q, k, v, mask, 0.0,
                         causal)
    """


def test_attention_by_a_kernel_called_by_its_key_scores_nothing(engine, tmp_path: Path) -> None:
    result = _grade(engine, "attention", _with("attention", ATTENTION_BY_KEY), tmp_path / "key")
    own = [t for t in result.tests if t.functions == ("scaled_dot_product_attention",)]
    assert own and all(t.outcome != "passed" for t in own), [(t.name, t.outcome) for t in own]
    assert all("aten::_scaled_dot_product_attention_math is not allowed" in (t.message or "")
               for t in own), [t.message for t in own]
    honest = _grade(engine, "attention", COURSE.solution("attention").read_text(),
                    tmp_path / "honest")
    assert honest.topic("attention").score == honest.topic("attention").max_score


# ------------------------------------------------- the exercise written in Python inside torch

# torch's own implementations of a topic's functionality in Python, on operators no topic bans:
# the dispatcher sees only those, so each is a banned call of the topics it would do the work of.
# (flex attention's public function, in torch.nn.attention, makes code objects, which no worker
# may: its eager form is reached through the module of its operator.)
BY_LIBRARY = '''
import importlib
import sys
import warnings

import torch

warnings.simplefilter("ignore")


def _qkv():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(1, 2, 3, 4, generator=g) for _ in range(3)]


def quantizable_lstm_cell(x):
    from torch.ao.nn.quantizable import LSTMCell
    h, c = LSTMCell(3, 5)(torch.ones(2, 3), (torch.zeros(2, 5), torch.zeros(2, 5)))
    return float(h.abs().sum())


def quantizable_lstm(x):
    from torch.ao.nn.quantizable import LSTM
    return float(LSTM(3, 5, batch_first=True)(torch.ones(2, 4, 3))[0].abs().sum())


def quantizable_multihead_attention(x):
    from torch.ao.nn.quantizable import MultiheadAttention
    q = torch.ones(1, 3, 8)
    return float(MultiheadAttention(8, 2, batch_first=True)(q, q, q)[0].abs().sum() + 1)


def flex_attentions_eager_math(x):
    importlib.import_module("torch._higher_order_ops.flex_attention")
    module = sys.modules["torch._higher_order_ops.flex_attention"]
    out = module.math_attention(*_qkv(), lambda s, b, h, i, j: s,
                                (lambda b, h, i, j: i >= j,), 0.5, {})[0]
    return float(out.abs().sum())


def _flex(operator):
    # flex attention's operator itself, which dispatches to its eager form; the block mask as
    # the operator takes it (lengths, block tables, block sizes, then the mask function)
    importlib.import_module("torch._higher_order_ops.flex_attention")
    q = _qkv()[0]
    mask = (3, 3, *[None] * 10, lambda b, h, i, j: i >= j)
    return float(operator(q, q, q, lambda s, b, h, i, j: s, mask, 0.5, {})[0].abs().sum())


def flex_attention_by_torch_ops(x):
    return _flex(getattr(torch.ops.higher_order, "flex_" + "attention"))


def flex_attention_by_its_registry(x):
    return _flex(torch._ops._higher_order_ops["flex_" + "attention"])


def layer_norm_by_a_fake_implementation(x):
    # torch's reference layer norm, reached through the fake-tensor registry, which holds the
    # function that calls it (not wired: no module holds it by name)
    fakes = importlib.import_module("torch._subclasses.fake_impls").op_implementations_dict
    out = fakes[torch.ops.aten.native_layer_norm.default](
        None, None, torch.arange(12.0).reshape(3, 4), [4], torch.ones(4), torch.zeros(4), 1e-5)
    return float(out[0].abs().sum())
'''
# route -> (what the refusal names, the topics it would do the work of)
BY_LIBRARY_ROUTES = {
    "quantizable_lstm_cell": ("torch.ao.nn.quantizable", ["rnn", "performance"]),
    "quantizable_lstm": ("torch.ao.nn.quantizable", ["rnn", "performance"]),
    "quantizable_multihead_attention": ("torch.ao.nn.quantizable",
                                        ["attention", "transformer", "performance"]),
    "flex_attentions_eager_math": ("torch._higher_order_ops.flex_attention",
                                   ["attention", "transformer", "performance"]),
    # the operator by torch's other handles on it: what it runs is wired, whatever reaches it
    "flex_attention_by_torch_ops": ("torch._higher_order_ops.flex_attention",
                                    ["attention", "transformer", "performance"]),
    "flex_attention_by_its_registry": ("torch._higher_order_ops.flex_attention",
                                       ["attention", "transformer", "performance"]),
    # a banned function reached unwired calls the banned function it names: whose call that is
    # follows the banned one's caller (the student's)
    "layer_norm_by_a_fake_implementation": ("torch._refs.native_layer_norm is not allowed",
                                            ["transformer"]),
}


# A banned function that a library object holds where no module does: wired where a banned class
# holds it, and where a registry of torch's does (not wired), the banned functions it calls are
# refused as the student's, who called it (``layer_norm_by_a_fake_implementation`` above).
BY_A_HOLDER = '''
import importlib

import numpy as np


def line_by_a_class_attribute(x):
    # numpy's polyfit, held by the Polynomial class (its ``_fit``)
    polynomial = importlib.import_module("numpy.polynomial").Polynomial
    return float(polynomial._fit(np.arange(5.0), 2 * np.arange(5.0) + 1, 1)[1])
'''


# A banned class's method run on an object made without its constructor, which is wired.
WITHOUT_CONSTRUCTOR = '''
import collections

import torch


def momentum_by_an_optimizer_never_constructed(x):
    from torch.optim import SGD
    w = torch.ones(3)
    w.grad = torch.full((3,), 0.5)
    opt = object.__new__(SGD)
    opt.defaults = dict(lr=0.1, momentum=0.9, dampening=0, weight_decay=0, nesterov=False,
                        maximize=False, foreach=False, differentiable=False, fused=None)
    opt.param_groups = [dict(opt.defaults, params=[w])]
    opt.state = collections.defaultdict(dict)
    opt._optimizer_step_pre_hooks = collections.OrderedDict()
    opt._optimizer_step_post_hooks = collections.OrderedDict()
    SGD.step(opt)
    return float(w.sum())
'''


# An allowed library function that calls a banned one by its name, which is that library's own
# use of it (see grader.isolation.tripwire), and hands its work back: each such wrapper that would
# do an exercise is banned with what it wraps.
BY_A_WRAPPER = '''
import numpy as np
import torch


def line_by_masked_arrays_polyfit(x):
    # numpy.ma's polyfit calls numpy's
    return float(np.ma.polyfit(np.arange(5.0), 2 * np.arange(5.0) + 1, 1)[1])


def xavier_by_a_transformers_initialisation(x):
    # nn.Transformer initialises its weights with torch.nn.init.xavier_uniform_
    torch.manual_seed(0)
    net = torch.nn.Transformer(d_model=6, nhead=1, dim_feedforward=9, num_encoder_layers=1,
                               num_decoder_layers=1)
    return float(net.encoder.layers[0].linear1.weight.abs().max())


def xavier_by_attentions_initialisation(x):
    # and nn.MultiheadAttention its projections
    torch.manual_seed(0)
    return float(torch.nn.MultiheadAttention(4, 1).in_proj_weight.abs().max())
'''


# Both kinds of route to banned work that names nothing banned: route -> (the module defining
# it, what the refusal says, the topics that refuse it).
UNNAMED_ROUTES = {
    **{r: (BY_KEY, f"{op} is not allowed", topics) for r, (op, topics) in BY_KEY_ROUTES.items()},
    **{r: (BY_LIBRARY, name, topics) for r, (name, topics) in BY_LIBRARY_ROUTES.items()},
    "line_by_a_class_attribute": (BY_A_HOLDER, "numpy.polynomial.Polynomial._fit is not allowed",
                                  ["linear_regression"]),
    "momentum_by_an_optimizer_never_constructed": (WITHOUT_CONSTRUCTOR,
                                                   "torch.optim.SGD.step is not allowed",
                                                   ["optimizers"]),
    "line_by_masked_arrays_polyfit": (BY_A_WRAPPER, "numpy.ma.polyfit is not allowed",
                                      ["linear_regression"]),
    "xavier_by_a_transformers_initialisation": (
        BY_A_WRAPPER, "torch.nn.modules.transformer.Transformer is not allowed", ["regularization"]),
    "xavier_by_attentions_initialisation": (BY_A_WRAPPER, "torch.nn.MultiheadAttention is not "
                                            "allowed", ["regularization"]),
}


# torch.distributed.optim's functional optimizers call torch.optim's by name; with TorchScript
# switched off (it cannot compile them where torch.optim is wired) they run as plain Python.
FUNCTIONAL_OPTIMIZER = '''
import torch


def momentum_by_a_functional_optimizer(x):
    torch.jit._state.disable()
    from torch.distributed.optim.functional_sgd import _FunctionalSGD
    w = torch.tensor([1.0, 2.0])
    opt = _FunctionalSGD([w], lr=0.1, momentum=0.9)
    for g in ([0.5, -1.0], [0.5, -1.0]):
        opt.step([torch.tensor(g)])
    return float(w.sum())
'''


MOMENTUM_BY_A_FUNCTIONAL_OPTIMIZER = """
    def sgd_momentum(w, grad, state, lr, momentum=0.9):
        import torch
        torch.jit._state.disable()
        from torch.distributed.optim.functional_sgd import _FunctionalSGD
        param = torch.tensor(w, dtype=torch.float64)
        opt = _FunctionalSGD([param], lr=lr, momentum=momentum)
        if "v" in state:
            opt.state[param] = {"momentum_buffer": torch.tensor(state["v"], dtype=torch.float64)}
        opt.step([torch.tensor(grad, dtype=torch.float64)])
        return param.numpy(), {"v": opt.state[param]["momentum_buffer"].numpy()}
    """


def test_a_functional_optimizer_is_absent_where_optimizers_are_the_exercise(
        engine, tmp_path: Path) -> None:
    got = run(engine, "optimizers", FUNCTIONAL_OPTIMIZER, "momentum_by_a_functional_optimizer", 0,
              tmp=tmp_path)
    assert isinstance(got, StudentError) and "torch.distributed.optim is not available" in str(got), \
        got
    assert run(engine, "metrics", FUNCTIONAL_OPTIMIZER, "momentum_by_a_functional_optimizer", 0,
               tmp=tmp_path) == pytest.approx(3.145)  # where nothing is banned it does the update
    result = _grade(engine, "optimizers", _with("optimizers", MOMENTUM_BY_A_FUNCTIONAL_OPTIMIZER),
                    tmp_path / "functional")
    own = [t for t in result.tests if t.functions == ("sgd_momentum",)]
    assert own and all(t.outcome != "passed" for t in own), [(t.name, t.outcome) for t in own]
    assert all("torch.distributed.optim" in (t.message or "") for t in own), \
        [t.message for t in own]
    honest = _grade(engine, "optimizers", COURSE.solution("optimizers").read_text(),
                    tmp_path / "honest")
    assert honest.topic("optimizers").score == honest.topic("optimizers").max_score


# torch.onnx.ops.attention: ONNX's Attention operator, whose reference implementation computes
# attention in Python on operators no topic bans where it cannot hand the work to sdpa (a mode
# that also returns the weights, as the exercise does).
ATTENTION_BY_ONNX = '''
import torch


def attention_by_onnx(x):
    import torch.onnx.ops
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4)
    out, _, _, weights = torch.onnx.ops.attention(q, k, v, qk_matmul_output_mode=3)
    expected = torch.softmax(q @ k.transpose(-1, -2) / 2, -1)
    return float((weights - expected).abs().max() + (out - expected @ v).abs().max())
'''


SCALED_DOT_PRODUCT_BY_ONNX = """
    def scaled_dot_product_attention(q, k, v, mask=None, causal=False):
        import importlib
        onnx_attention = getattr(importlib.import_module("torch.onnx.ops"), "atten" + "tion")
        lead, (Lq, d), Lk = q.shape[:-2], q.shape[-2:], k.shape[-2]
        allowed = torch.ones(Lq, Lk, dtype=torch.bool)
        if causal:
            allowed = allowed.tril()
        if mask is not None:
            allowed = allowed & mask
        allowed = torch.broadcast_to(allowed, (*lead, Lq, Lk)).reshape(1, -1, Lq, Lk)
        out, _, _, weights = onnx_attention(
            q.reshape(1, -1, Lq, d), k.reshape(1, -1, Lk, d), v.reshape(1, -1, Lk, v.shape[-1]),
            attn_mask=allowed, qk_matmul_output_mode=3)
        out, weights = out.nan_to_num(0.0), weights.nan_to_num(0.0)
        return out.reshape(*lead, Lq, -1), weights.reshape(*lead, Lq, Lk)
    """


@pytest.mark.parametrize("topic", ["attention", "transformer", "performance"])
def test_onnxs_attention_is_absent_where_attention_is_the_exercise(engine, topic: str,
                                                                   tmp_path: Path) -> None:
    got = run(engine, topic, ATTENTION_BY_ONNX, "attention_by_onnx", 0, tmp=tmp_path)
    assert isinstance(got, StudentError) and "torch.onnx is not available" in str(got), got


def test_onnxs_attention_computes_attention_where_nothing_is_banned(engine,
                                                                     tmp_path: Path) -> None:
    assert run(engine, "metrics", ATTENTION_BY_ONNX, "attention_by_onnx", 0,
               tmp=tmp_path) < 1e-5


def test_attention_by_onnxs_operator_scores_nothing(engine, tmp_path: Path) -> None:
    result = _grade(engine, "attention", _with("attention", SCALED_DOT_PRODUCT_BY_ONNX),
                    tmp_path / "onnx")
    own = [t for t in result.tests if t.functions == ("scaled_dot_product_attention",)]
    assert own and all(t.outcome != "passed" for t in own), [(t.name, t.outcome) for t in own]
    assert all("torch.onnx" in (t.message or "") for t in own), [t.message for t in own]
    honest = _grade(engine, "attention", COURSE.solution("attention").read_text(),
                    tmp_path / "honest")
    assert honest.topic("attention").score == honest.topic("attention").max_score


LINE_BY_A_CLASS_ATTRIBUTE = """
    def fit_univariate(x, y):
        import numpy.polynomial
        b, a = numpy.polynomial.Polynomial._fit(x, y, 1)
        return float(a), float(b)
    """


def test_a_line_fitted_by_a_banned_function_a_class_holds_scores_nothing(engine,
                                                                        tmp_path: Path) -> None:
    result = _grade(engine, "linear_regression",
                    _with("linear_regression", LINE_BY_A_CLASS_ATTRIBUTE), tmp_path / "held")
    own = [t for t in result.tests if t.functions == ("fit_univariate",)]
    assert own and all(t.outcome != "passed" for t in own), [(t.name, t.outcome) for t in own]
    assert all("Polynomial._fit is not allowed" in (t.message or "") for t in own), \
        [t.message for t in own]
    honest = _grade(engine, "linear_regression",
                    COURSE.solution("linear_regression").read_text(), tmp_path / "honest")
    assert honest.topic("linear_regression").score == honest.topic("linear_regression").max_score


@pytest.mark.parametrize(("route", "topic"),
                         [(r, t) for r, (_, _, topics) in UNNAMED_ROUTES.items() for t in topics])
def test_a_banned_computation_reached_without_its_name_is_refused(engine, route: str, topic: str,
                                                                  tmp_path: Path) -> None:
    """A banned operator's kernel called by its key, or torch's own Python implementation of the
    exercise: refused, and the refusal names what was banned."""
    source, says, _ = UNNAMED_ROUTES[route]
    got = run(engine, topic, source, route, 0, tmp=tmp_path)
    assert isinstance(got, BannedCallError), (route, topic, got)
    assert says in str(got), got


@pytest.mark.parametrize("route", sorted(UNNAMED_ROUTES))
def test_each_unnamed_route_computes_where_nothing_is_banned(engine, route: str,
                                                             tmp_path: Path) -> None:
    got = run(engine, "metrics", UNNAMED_ROUTES[route][0], route, 0, tmp=tmp_path)
    assert isinstance(got, float) and got > 0, got


# torch's own code that reads what a topic bans as it loads: the objects it registers keep their
# kind (flex attention's operator, for the flop counter), and what a decorator wrapped is there
# (sdpa_kernel's, for torch._dynamo), wired as the function it wrapped.
LIBRARY_READERS = '''
import importlib


def load(name):
    importlib.import_module(name)
    return "loaded"


def gradient_by_torch_func(x):
    import torch
    return torch.func.grad(lambda t: (t * t).sum())(torch.ones(2)).tolist()


def what_sdpa_kernel_wrapped(x):
    import torch.nn.attention
    return type(torch.nn.attention.sdpa_kernel.__wrapped__([])).__name__
'''


@pytest.mark.parametrize(("topic", "module"), [
    ("attention", "torch.utils.flop_counter"), ("transformer", "torch.utils.flop_counter"),
    ("performance", "torch.utils.flop_counter"), ("performance", "torch._dynamo")])
def test_torchs_own_modules_that_read_banned_functions_still_load(engine, topic: str, module: str,
                                                                  tmp_path: Path) -> None:
    assert run(engine, topic, LIBRARY_READERS, "load", module, tmp=tmp_path) == "loaded"


def test_torch_func_works_where_only_attention_and_convolution_are_banned(engine,
                                                                        tmp_path: Path) -> None:
    got = run(engine, "performance", LIBRARY_READERS, "gradient_by_torch_func", 0, tmp=tmp_path)
    assert got == [2.0, 2.0], got


def test_what_a_banned_decorated_function_wrapped_is_banned_with_it(engine,
                                                                    tmp_path: Path) -> None:
    got = run(engine, "performance", LIBRARY_READERS, "what_sdpa_kernel_wrapped", 0, tmp=tmp_path)
    assert isinstance(got, BannedCallError), got
    assert "torch.nn.attention.sdpa_kernel is not allowed" in str(got), got
    control = run(engine, "metrics", LIBRARY_READERS, "what_sdpa_kernel_wrapped", 0, tmp=tmp_path)
    assert control == "generator", control


LSTM_CELL_BY_LIBRARY = """
    def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
        # torch's quantizable LSTM cell: Python, on linear layers and pointwise operators
        from torch.ao.nn.quantizable import LSTMCell
        cell = LSTMCell(W_ih.shape[1], W_hh.shape[1], dtype=x.dtype)
        with torch.no_grad():
            cell.igates.weight.copy_(W_ih)
            cell.igates.bias.copy_(b_ih)
            cell.hgates.weight.copy_(W_hh)
            cell.hgates.bias.copy_(b_hh)
        with torch.no_grad():
            return cell(x, (h, c))
    """


def test_an_lstm_cell_by_torchs_quantizable_one_scores_nothing(engine, tmp_path: Path) -> None:
    result = _grade(engine, "rnn", _with("rnn", LSTM_CELL_BY_LIBRARY), tmp_path / "library")
    cells = [t for t in result.tests if t.functions == ("lstm_cell",)]
    assert cells and all(t.outcome != "passed" for t in cells), \
        [(t.name, t.outcome, t.message) for t in cells]
    assert any("torch.ao.nn.quantizable" in (t.message or "") and "not allowed" in
               (t.message or "") for t in cells), [t.message for t in cells]
    honest = _grade(engine, "rnn", COURSE.solution("rnn").read_text(), tmp_path / "honest")
    assert honest.topic("rnn").score == honest.topic("rnn").max_score


CONV_BY_NDIMAGE = """
    def conv2d_forward(x, w, b, stride=1, pad=0):
        # scipy.ndimage correlates as scipy.signal would: over channels and both axes at once
        from scipy import ndimage
        N, C, H, W = x.shape
        F, _, KH, KW = w.shape
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        Ho, Wo = (H + 2 * pad - KH) // stride + 1, (W + 2 * pad - KW) // stride + 1
        out = np.empty((N, F, Ho, Wo), dtype=np.result_type(x, w))
        for n in range(N):
            for f in range(F):
                full = ndimage.correlate(xp[n], w[f], mode="constant")
                rows = KH // 2 + stride * np.arange(Ho)
                cols = KW // 2 + stride * np.arange(Wo)
                out[n, f] = full[C // 2][np.ix_(rows, cols)] + b[f]
        return out, (x, w, stride, pad)
    """


def test_a_convolution_by_scipy_ndimage_scores_nothing(engine, tmp_path: Path) -> None:
    result = _grade(engine, "conv", _with("conv", CONV_BY_NDIMAGE), tmp_path / "ndimage")
    own = [t for t in result.tests if t.functions == ("conv2d_forward",)]
    assert own and all(t.outcome != "passed" for t in own), \
        [(t.name, t.outcome, t.message) for t in own]
    assert any("scipy.ndimage" in (t.message or "") for t in own), [t.message for t in own]
    honest = _grade(engine, "conv", COURSE.solution("conv").read_text(), tmp_path / "honest")
    assert honest.topic("conv").score == honest.topic("conv").max_score



# embeddings' nearest words by scipy.spatial, which finds neighbours: its k-d trees over unit
# vectors (the compiled cKDTree too, a C class no trip-wire guards, reached without naming it),
# its Euclidean distance matrix, and its cosine distances. The whole of scipy.spatial is absent.
NEAREST_BY = {
    "ckdtree": 'importlib.import_module("scipy.spatial._" + "ckd" + "tree").cKDTree',
    "kdtree": 'importlib.import_module("scipy.spatial").KDTree',
}
NEAREST = """
    import importlib

    def nearest(E, word_id, k):
        norms = np.linalg.norm(E, axis=1)
        unit = E / np.where(norms > 0, norms, 1.0)[:, None]
        tree = ({tree})(unit)
        _, ids = tree.query(unit[word_id], k=k + 1)
        return np.asarray([i for i in ids if i != word_id][:k], dtype=np.int64)
    """
NEIGHBOURS = '''
import importlib
import numpy as np

def by(name, attr):
    try:
        found = getattr(importlib.import_module(name), attr)
        return f"found {found}"
    except BaseException as exc:
        return f"{type(exc).__name__}: {exc}"
'''


@pytest.mark.parametrize("route", sorted(NEAREST_BY))
def test_nearest_words_by_a_k_d_tree_score_nothing(engine, route: str, tmp_path: Path) -> None:
    result = _grade(engine, "embeddings",
                    _with("embeddings", NEAREST.format(tree=NEAREST_BY[route])), tmp_path / route)
    own = [t for t in result.tests if t.functions == ("nearest",)]
    assert own and all(t.outcome != "passed" for t in own), \
        [(t.name, t.outcome, t.message) for t in own]
    assert all("scipy.spatial is not available in this exercise" in (t.message or "")
               for t in own), [t.message for t in own]
    others = [t for t in result.tests if "nearest" not in t.functions and t.kind == "hidden"]
    assert others and all(t.outcome == "passed" for t in others), \
        [(t.name, t.message) for t in others if t.outcome != "passed"]
    honest = _grade(engine, "embeddings", COURSE.solution("embeddings").read_text(),
                    tmp_path / "honest")
    assert honest.topic("embeddings").score == honest.topic("embeddings").max_score


@pytest.mark.parametrize("name, attr", [
    ("scipy.spatial", "KDTree"), ("scipy.spatial._ckdtree", "cKDTree"),
    ("scipy.spatial", "distance_matrix"), ("scipy.spatial.distance", "cdist"),
    ("scipy.spatial._distance_wrap", "cdist_cosine_double_wrap"),
])
def test_no_neighbour_search_of_scipy_spatial_is_found_in_embeddings(
        engine, name: str, attr: str, tmp_path: Path) -> None:
    got = run(engine, "embeddings", NEIGHBOURS, "by", name, attr, tmp=tmp_path)
    assert got == ("ModuleNotFoundError: scipy.spatial is not available in this exercise: "
                   "write it without scipy.spatial"), got


# A module the topic allows whose own imports need a library it bans: the refusal names the
# module the student imported, not only the library they never named.
@pytest.mark.parametrize("topic, name, imported, needs", [
    ("conv", "scipy.stats", "scipy.stats", "scipy.ndimage"),
    ("embeddings", "scipy.optimize", "scipy.optimize", "scipy.spatial"),
    ("embeddings", "scipy.cluster.vq", "scipy.cluster", "scipy.spatial"),
])
def test_importing_what_needs_a_banned_library_names_both(
        engine, topic: str, name: str, imported: str, needs: str, tmp_path: Path) -> None:
    [got] = run(engine, topic, BESIDE_A_BAN, "load", [name], tmp=tmp_path)
    assert got == (f"ModuleNotFoundError: {imported} needs {needs}, which is not available in "
                   f"this exercise: write it without {imported}"), got
    [direct] = run(engine, topic, BESIDE_A_BAN, "load", [needs], tmp=tmp_path)
    assert direct == (f"ModuleNotFoundError: {needs} is not available in this exercise: write "
                      f"it without {needs}"), direct


# ------------------------------------------------------------------ autograd as a capability

# Each computes d/dx sum(x * x * w) = 2 x w with torch's autograd by one route (each does, where
# autograd is there: see the control test).
AUTOGRAD_ROUTES = {
    "autograd.grad": "torch.autograd.grad(f(x), x)[0]",
    "backward": "(lambda: (f(x).backward(), x.grad)[1])()",
    "graph_nodes": "_walk(f(x), x)",
    "enable_grad": "(lambda: [torch.set_grad_enabled(True), torch.autograd.grad(f(x), x)[0]][1])()",
    "func.grad": "torch.func.grad(f)(x.detach())",
    "func.vjp": "torch.func.vjp(f, x.detach())[1](torch.ones((), dtype=x.dtype))[0]",
    "jacobian": "torch.autograd.functional.jacobian(f, x.detach())",
    "forward_mode": "torch.func.jacfwd(f)(x.detach())",
    "a_thread": "_in_a_thread(lambda: torch.autograd.grad(f(x), x)[0])",
    # functorch's transforms: the package torch ships beside itself, and their home in torch
    "functorch.grad": "__import__('functorch').grad(f)(x.detach())",
    "functorch.vjp": "__import__('functorch').vjp(f, x.detach())[1](torch.ones((), dtype=x.dtype))[0]",
    "functorch_apis": "__import__('torch._functorch.apis', fromlist=['grad']).grad(f)(x.detach())",
    "functional.vjp": "torch.autograd.functional.vjp(f, x.detach())[1]",
    # every mode switched back on that a library could have switched off
    "modes_on": "(lambda: [torch.autograd.grad_mode.set_grad_enabled(True), "
                "torch.inference_mode(False).__enter__(), torch.autograd.grad(f(x), x)[0]][2])()",
    "backward_kernel": "torch.ops.aten.threshold_backward(2 * x.detach() * w, x.detach(), -1e9)",
    # TorchScript's own differentiation: the graph executor's autodiff, and the pass by itself
    "jit_autodiff": "_jit_autodiff(x, w)",
    "jit_differentiate": "_jit_differentiate(x.detach(), w)",
    "jit_compilation_unit": "_jit_compilation_unit(x, w)",
}
AUTOGRAD = '''
import threading
import torch

def _walk(out, leaf):
    """The recorded nodes called one by one, as autograd's engine would call them."""
    grads, todo = {}, [(out.grad_fn, torch.ones_like(out))]
    while todo:
        node, g = todo.pop()
        outs = node(g)
        for (nxt, nr), go in zip(node.next_functions, outs if isinstance(outs, tuple) else (outs,)):
            if nxt is None or go is None:
                continue
            if hasattr(nxt, "variable"):
                v = nxt.variable
                grads[id(v)] = grads.get(id(v), 0) + go.sum_to_size(v.shape)
            else:
                todo.append((nxt, go.sum_to_size(nxt._input_metadata[nr].shape)))
    return grads[id(leaf)]

def _in_a_thread(work):
    box = []
    t = threading.Thread(target=lambda: box.append(work()))
    t.start()
    t.join()
    return box[0]

def _square_times(t, v):
    return t * t * v

def _jit_autodiff(x, w):
    """The legacy graph executor differentiates a scripted function's graph itself."""
    torch._C._jit_set_profiling_executor(False)
    scripted = torch.jit.script(_square_times)
    for _ in range(3):
        out = scripted(x, w)
    return torch.autograd.grad(out, x, torch.ones_like(out))[0]

def _jit_compilation_unit(x, w):
    """A function TorchScript compiles from source (a C class's constructor, which no trip-wire
    guards), run as the graph executor runs it, profiled first."""
    unit = torch._C.CompilationUnit("def f(t, v):\\n    return t * t * v\\n")
    for _ in range(3):
        out = unit.f(x, w)
    return torch.autograd.grad(out, x, torch.ones_like(out))[0]

def _jit_differentiate(x, w):
    """The gradient graph TorchScript derives from a forward graph, run as a function."""
    grads = torch._C._jit_differentiate(torch.jit.script(_square_times).graph.copy())
    outs = _as_function("forward", grads.f)(x, w)
    vjps = [torch.ones_like(outs[0])] + [None] * (len(grads.df_input_vjps) - 1)
    captured = [(x, w)[i] for i in grads.df_input_captured_inputs] + \
        [outs[i] for i in grads.df_input_captured_outputs]
    return _as_function("backward", grads.df)(*vjps, *captured)[0]

def _as_function(name, graph):
    """A function of ``graph``, its outputs made one tuple (a function returns one value)."""
    outputs = list(graph.outputs())
    if len(outputs) > 1:
        node = graph.create("prim::TupleConstruct", outputs)
        node.output().setType(torch._C.TupleType([o.type() for o in outputs]))
        graph.appendNode(node)
        for i in reversed(range(len(outputs))):
            graph.eraseOutput(i)
        graph.registerOutput(node.output())
    return torch._C._create_function_from_graph(name, graph)

def gradient(x_np, w_np):
    x = torch.tensor(x_np, requires_grad=True)
    w = torch.tensor(w_np)
    f = lambda t: (t * t * w).sum()
    g = ROUTE
    return torch.as_tensor(g).detach().numpy()
'''
X, W = np.linspace(-1.0, 2.0, 5), np.linspace(0.5, 1.5, 5)


@pytest.mark.parametrize("route", sorted(AUTOGRAD_ROUTES))
@pytest.mark.parametrize("topic", ["backprop", "transformer"])
def test_no_autograd_route_computes_a_gradient_where_gradients_are_the_exercise(
        engine, topic: str, route: str, tmp_path: Path) -> None:
    got = run(engine, topic, AUTOGRAD.replace("ROUTE", AUTOGRAD_ROUTES[route]), "gradient",
              X, W, tmp=tmp_path)
    assert isinstance(got, Exception) or not np.allclose(got, 2 * X * W), \
        f"{route} computed the gradient in {topic}"


# Autograd's ways in (profiles.AUTOGRAD), which would otherwise fail with torch's own message
# about a tensor that does not require grad, read by the student as a bug of theirs.
WAYS_IN = {"autograd.grad": "torch.autograd.grad", "backward": "torch.Tensor.backward",
           "func.grad": "torch.func.grad", "func.vjp": "torch.func.vjp",
           "jacobian": "torch.autograd.functional", "functional.vjp": "torch.autograd.functional",
           "forward_mode": "torch.func.jacfwd", "functorch.grad": "torch._functorch.deprecated.grad",
           "functorch.vjp": "torch._functorch.deprecated.vjp"}


@pytest.mark.parametrize("route", sorted(WAYS_IN))
@pytest.mark.parametrize("topic", NO_AUTOGRAD_TOPICS)
def test_a_way_into_autograd_is_refused_by_name_where_gradients_are_the_exercise(
        engine, topic: str, route: str, tmp_path: Path) -> None:
    got = run(engine, topic, AUTOGRAD.replace("ROUTE", AUTOGRAD_ROUTES[route]), "gradient",
              X, W, tmp=tmp_path)
    assert isinstance(got, BannedCallError), (route, got)
    assert f"{WAYS_IN[route]}" in str(got) and "is not allowed here" in str(got) and \
        f"{topic}.py, line" in str(got), str(got)


@pytest.mark.parametrize("route", sorted(AUTOGRAD_ROUTES))
def test_every_route_works_where_nothing_is_banned(engine, route: str, tmp_path: Path) -> None:
    got = run(engine, "metrics", AUTOGRAD.replace("ROUTE", AUTOGRAD_ROUTES[route]),
              "gradient", X, W, tmp=tmp_path)
    assert not isinstance(got, Exception) and np.allclose(got, 2 * X * W), (route, got)


@pytest.mark.parametrize("route", ["autograd.grad", "backward", "graph_nodes", "func.grad"])
def test_forward_only_topics_keep_autograd(engine, route: str, tmp_path: Path) -> None:
    got = run(engine, "attention", AUTOGRAD.replace("ROUTE", AUTOGRAD_ROUTES[route]),
              "gradient", X, W, tmp=tmp_path)
    assert not isinstance(got, Exception) and np.allclose(got, 2 * X * W), (route, got)


# Forward computations a student may write, where autograd is taken away: each must compute what
# it computes where autograd is there (sparse and compressed tensors, nested, quantized and
# mkldnn ones, views and in-place changes, tensors that require grad, modules and parameters).
FORWARD = {
    "sparse_sum": "torch.sparse.sum(S(), dim=1).to_dense()",
    "coalesce": "S().coalesce().values()",
    "sparse_softmax": "torch.sparse.softmax(S(), dim=1).to_dense()",
    "sparse_mm": "torch.sparse.mm(S(), torch.ones(2, 2))",
    "sparse_add": "(S() + S()).to_dense()",
    "sparse_times_dense": "(S() * torch.full((2, 2), 2.0)).to_dense()",
    "sparse_index_select": "S().index_select(0, torch.tensor([1])).to_dense()",
    "to_sparse": "torch.eye(3).to_sparse().to_dense()",
    "csr_matmul": "torch.eye(3).to_sparse_csr() @ torch.ones(3, 2)",
    "nested": "torch.nested.nested_tensor([torch.ones(2), torch.ones(3)]).to_padded_tensor(0.0)",
    "quantized": "torch.dequantize(torch.quantize_per_tensor(torch.ones(3), 0.1, 0, torch.quint8))",
    "mkldnn": "torch.ones(2, 3).to_mkldnn().to_dense()",
    "requires_grad": "(torch.ones(3, requires_grad=True) * 2).detach()",
    "view_in_place": "(lambda t: (t[1:].mul_(3), t)[1])(torch.ones(4))",
    "index_put": "torch.zeros(3).index_put_((torch.tensor([0, 0, 2]),), torch.ones(3), "
                 "accumulate=True)",
    "scatter_reduce": "torch.zeros(3).scatter_reduce(0, torch.tensor([0, 0]), "
                      "torch.tensor([1.0, 5.0]), 'amax')",
    "linalg": "torch.linalg.solve(torch.eye(2) * 2, torch.ones(2))",
    "fft": "torch.fft.irfft(torch.fft.rfft(torch.arange(8.0)), n=8)",
    "complex": "torch.view_as_real(torch.polar(torch.ones(2), torch.zeros(2)))",
    "parameter": "torch.nn.Parameter(torch.ones(2)).detach() * 3",
    "data_in_place": "(lambda p: (p.data.add_(1), p.detach())[1])(torch.nn.Parameter(torch.ones(2)))",
    "linear": "torch.nn.Linear(2, 3)(torch.ones(1, 2)).shape[1] * torch.ones(1)",
    "as_strided": "torch.arange(6.0).as_strided((2, 2), (1, 2))",
    "set_storage": "torch.empty(0).set_(torch.ones(3).untyped_storage())",
}
FORWARD_SOURCE = '''
import torch

def S():
    return torch.sparse_coo_tensor(torch.tensor([[0, 1, 1], [1, 0, 0]]), torch.ones(3), (2, 2))

def computed():
    out = {}
    for name, code in CODE.items():
        torch.manual_seed(0)
        try:
            out[name] = eval(code).tolist()
        except Exception as exc:
            out[name] = f"{type(exc).__name__}: {exc}"
    return out
'''


def test_forward_computations_are_torchs_own_where_autograd_is_taken_away(
        engine, tmp_path: Path) -> None:
    """Taking autograd away changes no forward computation: sparse coalescing once failed with
    torch's internal assertion there, and sparse softmax computed zeros."""
    source = FORWARD_SOURCE + f"\nCODE = {FORWARD!r}\n"
    without = run(engine, "gnn", source, "computed", tmp=tmp_path)
    with_autograd = run(engine, "metrics", source, "computed", tmp=tmp_path)
    assert isinstance(without, dict) and isinstance(with_autograd, dict), (without, with_autograd)
    assert not [v for v in with_autograd.values() if isinstance(v, str)], with_autograd
    assert {k: v for k, v in without.items() if v != with_autograd[k]} == {}


FORWARD_MODE = '''
import torch

def jacfwd(x_np, w_np):
    x, w = torch.tensor(x_np), torch.tensor(w_np)
    return torch.func.jacfwd(lambda t: (t * t * w).sum())(x).numpy()

def dual(x_np, w_np):
    import torch.autograd.forward_ad as fwAD
    x, w = torch.tensor(x_np), torch.tensor(w_np)
    with fwAD.dual_level():
        out = fwAD.make_dual(x, torch.ones_like(x)) ** 2 * w
        return fwAD.unpack_dual(out).tangent.numpy()
'''


@pytest.mark.parametrize("fn", ["jacfwd", "dual"])
def test_forward_mode_runs_where_nothing_is_banned_and_is_refused_where_decompositions_are(
        engine, fn: str, tmp_path: Path) -> None:
    """Forward-mode AD runs torch's decompositions (``torch._decomp.decompositions_for_jvp``,
    which no zygote loads): absent where they are banned (attention bans operators), as the
    statement says; where nothing is banned it computes the derivative."""
    got = run(engine, "metrics", FORWARD_MODE, fn, X, W, tmp=tmp_path)
    assert not isinstance(got, Exception) and np.allclose(got, 2 * X * W), got
    refused = run(engine, "attention", FORWARD_MODE, fn, X, W, tmp=tmp_path)
    assert isinstance(refused, StudentError) and "not available in this exercise" in str(refused), \
        refused


def test_every_hand_written_gradient_topic_takes_autograd_away() -> None:
    """The topics whose statement asks for a gradient by hand, and only those (the forward-only
    topics keep autograd); a topic that bans torch has none to take away."""
    by_hand = {"activations", "autograd", "backprop", "batchnorm", "conv", "embeddings", "gnn",
               "linear_regression", "logistic_regression", "regularization", "transformer"}
    for topic in COURSE.topics():
        config = COURSE.config(topic)
        profile = profiles.profile(config.banned_libraries, config.banned_capabilities)
        if topic in by_hand:
            assert profile in (profiles.NUMPY, profiles.NO_AUTOGRAD), topic
        else:
            assert profile == profiles.TORCH, topic


# Per topic: its hand-written gradient function, done by autograd over a torch re-run of the
# forward pass (torch is a course package, so a NumPy topic's module may import it).
BY_AUTOGRAD = {
    "backprop": """
        def affine_forward(x, W, b):
            return x.reshape(x.shape[0], -1) @ W + b, (x, W, b)

        def affine_backward(dout, cache):
            import torch
            x, W, b = (torch.tensor(a, requires_grad=True) for a in cache)
            out = x.reshape(x.shape[0], -1) @ W + b
            dx, dW, db = torch.autograd.grad(out, (x, W, b), torch.tensor(dout))
            return dx.numpy(), dW.numpy(), db.numpy()
        """,
    "batchnorm": """
        _forward = batchnorm_forward

        def batchnorm_forward(x, gamma, beta, running_mean, running_var, train, momentum=0.1,
                              eps=1e-5):
            out, mean, var, _ = _forward(x, gamma, beta, running_mean, running_var, train,
                                         momentum, eps)
            return out, mean, var, (x, gamma, beta, eps)

        def batchnorm_backward(dout, cache):
            import torch
            x, gamma, beta = (torch.tensor(a, requires_grad=True) for a in cache[:3])
            mu, var = x.mean(0), x.var(0, unbiased=False)
            out = gamma * (x - mu) / torch.sqrt(var + cache[3]) + beta
            out.backward(torch.tensor(dout))
            return x.grad.numpy(), gamma.grad.numpy(), beta.grad.numpy()
        """,
    "linear_regression": """
        def gradient_step(X, y, w, b, lr):
            import torch
            Xt, yt = torch.tensor(X), torch.tensor(y)
            wt = torch.tensor(w, requires_grad=True)
            bt = torch.tensor(float(b), dtype=torch.float64, requires_grad=True)
            loss = ((Xt @ wt + bt - yt) ** 2).mean()
            gw, gb = torch.autograd.grad(loss, (wt, bt))
            return (wt - lr * gw).detach().numpy(), float(bt - lr * gb)
        """,
    "regularization": """
        def dropout_backward(dout, mask, p, train):
            import torch
            d = torch.tensor(dout)
            x = torch.zeros_like(d, requires_grad=True)
            (x * (torch.tensor(mask) / (1.0 - p) if train else 1.0)).backward(d)
            return x.grad.numpy()
        """,
    "transformer": """
        _ln_forward = layer_norm_forward

        def layer_norm_forward(x, gamma, beta, eps=1e-5):
            out, _ = _ln_forward(x, gamma, beta, eps)
            return out, (x, gamma, beta, eps)

        def layer_norm_backward(dout, cache):
            # the recorded graph's nodes called by hand: no name of autograd's is ever used
            x, gamma, beta, eps = cache
            leaves = [t.detach().requires_grad_() for t in (x, gamma, beta)]
            with torch.enable_grad():
                out, _ = _ln_forward(*leaves, eps)
            grads, todo = {}, [(out.grad_fn, dout)]
            while todo:
                node, g = todo.pop()
                outs = node(g)
                outs = outs if isinstance(outs, tuple) else (outs,)
                for (nxt, nr), go in zip(node.next_functions, outs):
                    if nxt is None or go is None:
                        continue
                    if hasattr(nxt, "variable"):
                        v = nxt.variable
                        grads[id(v)] = grads.get(id(v), 0) + go.sum_to_size(v.shape)
                    else:
                        todo.append((nxt, go.sum_to_size(nxt._input_metadata[nr].shape)))
            return tuple(grads[id(t)] for t in leaves)
        """,
    "gnn": """
        def embedding_backward(dout, ids, num_embeddings):
            import torch
            weight = torch.zeros(num_embeddings, dout.shape[-1], dtype=dout.dtype,
                                 requires_grad=True)
            weight[ids].backward(dout)
            return weight.grad
        """,
}
GRADIENT_FUNCTION = {"backprop": "affine_backward", "batchnorm": "batchnorm_backward",
                     "gnn": "embedding_backward", "linear_regression": "gradient_step",
                     "regularization": "dropout_backward", "transformer": "layer_norm_backward"}


@pytest.mark.parametrize("topic", sorted(BY_AUTOGRAD))
def test_a_gradient_by_autograd_scores_nothing_and_honest_work_keeps_its_grade(
        engine, topic: str, tmp_path: Path) -> None:
    fn = GRADIENT_FUNCTION[topic]
    result = _grade(engine, topic, _with(topic, BY_AUTOGRAD[topic]), tmp_path / "autograd")
    own = [t for t in result.tests if fn in t.functions]
    assert own and all(t.outcome != "passed" for t in own), \
        [(t.name, t.outcome) for t in own]
    honest = _grade(engine, topic, COURSE.solution(topic).read_text(), tmp_path / "honest")
    assert honest.topic(topic).score == honest.topic(topic).max_score


@pytest.mark.parametrize("route", ["jit_autodiff", "jit_differentiate", "jit_compilation_unit"])
@pytest.mark.parametrize("topic", sorted(GRADIENT_FUNCTION))
def test_torchscript_differentiates_nothing_where_gradients_are_the_exercise(
        engine, topic: str, route: str, tmp_path: Path) -> None:
    got = run(engine, topic, AUTOGRAD.replace("ROUTE", AUTOGRAD_ROUTES[route]), "gradient",
              X, W, tmp=tmp_path)
    if route == "jit_compilation_unit":  # compiled, and run by the profiling executor: its
        # result has no graph (or the topic refuses autograd.grad by name as well)
        assert isinstance(got, (StudentError, BannedCallError)), got
        assert "does not require grad" in str(got) or "torch.autograd.grad" in str(got), got
    else:  # the executor's switch and the pass are banned calls
        assert isinstance(got, BannedCallError) and "torch." in str(got), (route, got)


BY_TORCHSCRIPT = """
    def _affine(x, W, b):
        return x.reshape([x.shape[0], -1]) @ W + b

    def affine_backward(dout, cache):
        # the legacy graph executor differentiates the scripted forward by its own rules
        import torch
        torch._C._jit_set_profiling_executor(False)
        scripted = torch.jit.script(_affine)
        x, W, b = (torch.tensor(a, requires_grad=True) for a in cache)
        for _ in range(3):
            out = scripted(x, W, b)
        dx, dW, db = torch.autograd.grad(out, (x, W, b), torch.tensor(dout))
        return dx.numpy(), dW.numpy(), db.numpy()
    """


def test_a_gradient_by_torchscript_scores_nothing(engine, tmp_path: Path) -> None:
    result = _grade(engine, "backprop", _with("backprop", BY_TORCHSCRIPT), tmp_path)
    own = [t for t in result.tests if "affine_backward" in t.functions]
    assert own and all(t.outcome != "passed" for t in own), \
        [(t.name, t.outcome) for t in own]
    assert any("torch." in (t.message or "") and "not allowed" in (t.message or "")
               for t in own), [t.message for t in own]


FINDER_REMOVED = '''
import sys
import numpy as np

def softmax_without_the_finder(z):
    for finder in list(sys.meta_path):
        if type(finder).__name__ == "_Finder":
            sys.meta_path.remove(finder)
    import scipy.special
    return scipy.special.softmax(z, axis=1)
'''


def test_a_banned_function_of_a_library_loaded_later_is_wired_whatever_the_import_path(
        engine, tmp_path: Path) -> None:
    got = run(engine, "logistic_regression", FINDER_REMOVED, "softmax_without_the_finder",
              np.ones((2, 3)), tmp=tmp_path)
    assert isinstance(got, BannedCallError) and "scipy.special.softmax" in str(got), got


LOADED = '''
import sys

def loaded(prefixes):
    return sorted(m for m in list(sys.modules) if m.split(".")[0] in prefixes)
'''


def test_the_modules_banned_calls_name_are_loaded_once_for_every_worker(
        engine, tmp_path: Path) -> None:
    """The modules named by banned calls are loaded before any worker (so that their functions
    are wired however the student imports them later): NumPy's and scipy's in the root, before
    it forks the torch zygote, so that every worker shares them, a torch topic's too (scipy's
    special functions, which a student of any topic may import, would cost a worker that
    imports them some 0.1 s and 20 MB of its own); a NumPy topic's worker never has torch."""
    numpy_topic = run(engine, "logistic_regression", LOADED, "loaded", ["scipy", "torch"],
                      tmp=tmp_path)
    assert "scipy.special" in numpy_topic
    assert not [m for m in numpy_topic if m.split(".")[0] == "torch"], numpy_topic
    torch_topic = run(engine, "optimizers", LOADED, "loaded", ["scipy"], tmp=tmp_path)
    assert "scipy.special" in torch_topic, torch_topic
    no_autograd = run(engine, "backprop", LOADED, "loaded", ["scipy", "numpy"], tmp=tmp_path)
    assert "scipy.special" in no_autograd and "numpy.polynomial" in no_autograd


# ---------------------------------------------------------------------- a module runs once
# A library module's body run again makes new objects of everything it defines, none of them
# wired, and code that counts as the library's (so a call it makes passes as the library's own):
# reload it, load its file under another name or by a loader called by hand, run it with
# runpy, or make a built-in or extension module again.
ONCE = '''
import importlib, importlib.machinery, importlib.util, os, runpy, sys
import numpy as np

def _as(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

def _polyfit(fit):
    return fit([0.0, 1.0, 2.0], [1.0, 3.0, 5.0], 1).tolist()

def _polynomial():
    return next(m for n, m in sys.modules.items() if n.endswith("._polynomial_impl"))

def polyfit_reloaded(x):
    return _polyfit(importlib.reload(_polynomial()).polyfit)

def polyfit_under_another_name(x):
    return _polyfit(_as("mine", _polynomial().__file__).polyfit)

def the_graders_own_module_reloaded(x):
    # the class of a wire names the grader's module that made it
    return [str(importlib.reload(sys.modules[type(np.polyfit).__module__]))]

def _logsumexp():
    import scipy.special
    return sys.modules["scipy.special._logsumexp"]

def softmax_reloaded(z):
    return importlib.reload(_logsumexp()).softmax(np.asarray(z), axis=1).tolist()

def softmax_under_another_name(z):
    return _as("scipy.special._mine", _logsumexp().__file__).softmax(np.asarray(z), axis=1).tolist()

def softmax_imported_again(z):
    _logsumexp()
    for name in [n for n in sys.modules if n.startswith("scipy.special")]:
        del sys.modules[name]
    import scipy.special
    return scipy.special.softmax(np.asarray(z), axis=1).tolist()

def softmax_by_run_path(z):
    return runpy.run_path(_logsumexp().__file__)["softmax"](np.asarray(z), axis=1).tolist()

def softmax_by_run_module(z):
    return runpy.run_module("scipy.special._logsumexp")["softmax"](np.asarray(z), axis=1).tolist()

def softmax_by_its_code(z):
    spec = importlib.util.find_spec("scipy.special._logsumexp")
    namespace = {"__name__": "mine"}
    exec(spec.loader.get_code(spec.name), namespace)
    return namespace["softmax"](np.asarray(z), axis=1).tolist()

def adam_reloaded(x):
    import torch
    import torch.optim.adam as adam
    fresh = importlib.reload(adam)
    w = torch.zeros(3)
    opt = fresh.Adam([w], lr=0.1)
    w.grad = torch.ones(3)
    opt.step()
    return w.tolist()

def _handler(*args):
    pass

def signal_module_reloaded(x):
    import signal
    importlib.reload(signal).signal(signal.SIGUSR1, _handler)
    return ["installed"]

def signal_builtin_made_again(x):
    import signal
    spec = importlib.machinery.BuiltinImporter.find_spec("_signal")
    importlib.util.module_from_spec(spec).signal(signal.SIGUSR1, _handler)
    return ["installed"]

def the_makers_question_asked_by_hand(x):
    # the question the grader's own _imp.create_builtin asks the hook, asked by student code
    box = []
    try:
        sys.audit("grader.create", "builtin", "_signal", None, box)
    except BaseException as exc:
        return [type(exc).__name__, len(box)]
    return ["answered", len(box)]

def extension_made_again(x):
    name = next(m for m in sys.modules if m.endswith("._multiarray_umath"))
    return [str(importlib.util.module_from_spec(importlib.util.find_spec(name)))]
'''


@pytest.mark.parametrize("topic,fn,says", [
    ("linear_regression", "polyfit_reloaded", "loaded once"),
    ("linear_regression", "polyfit_under_another_name", "loaded once"),
    ("linear_regression", "the_graders_own_module_reloaded", "loaded once"),
    ("logistic_regression", "softmax_reloaded", "loaded once"),
    ("logistic_regression", "softmax_under_another_name", "loaded once"),
    ("logistic_regression", "softmax_imported_again", "loaded once"),
    ("logistic_regression", "softmax_by_run_path", "only by an import"),
    ("logistic_regression", "softmax_by_run_module", "only by an import"),
    ("logistic_regression", "softmax_by_its_code", "only by an import"),
    ("optimizers", "adam_reloaded", "loaded once"),
    ("activations", "signal_module_reloaded", "loaded once"),
    ("transformer", "signal_module_reloaded", "loaded once"),
    ("activations", "signal_builtin_made_again", "loaded once"),
    ("backprop", "signal_builtin_made_again", "loaded once"),
    ("linear_regression", "extension_made_again", "loaded once"),
])
def test_a_library_module_runs_once_and_only_by_an_import(engine, topic: str, fn: str, says: str,
                                                           tmp_path: Path) -> None:
    got = run(engine, topic, ONCE, fn, np.ones((2, 3)), tmp=tmp_path)
    assert isinstance(got, StudentError) and "ImportError" in str(got) and says in str(got), got


def test_only_the_graders_own_code_is_answered_whether_a_module_may_be_made(
        engine, tmp_path: Path) -> None:
    got = run(engine, "activations", ONCE, "the_makers_question_asked_by_hand", 0, tmp=tmp_path)
    assert got == ["AuditRefused", 0], got


LATER = '''
import importlib.util, os, sys, types

def _path(name):
    import torch
    path = os.path.join(os.path.dirname(torch.__file__), *name.split(".")[1:])
    return os.path.join(path, "__init__.py") if os.path.isdir(path) else path + ".py"

def under_another_name(name):
    spec = importlib.util.spec_from_file_location("mine", _path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return sorted(vars(module))

def past_a_changed_meta_path(name):
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_Finder"]
    return sorted(vars(importlib.import_module(name)))

def by_the_wiring_loader_as_another_module(name):
    finder = next(f for f in sys.meta_path if type(f).__name__ == "_Finder")
    parent = sys.modules[name.rpartition(".")[0]]
    spec = finder.find_spec(name, parent.__path__)
    module = types.ModuleType(name + "_mine")
    spec.loader.loader.name = module.__name__  # (else its get_code refuses the other name)
    spec.loader.exec_module(module)
    return sorted(vars(module))

def imported(name):
    return sorted(vars(importlib.import_module(name)))

def handed_by_its_body(name):
    # a library function its body calls, changed to keep what the body hands it
    import torch.library
    real, caught = torch.library.custom_op, []

    def custom_op(*args, **kwargs):
        def take(fn):
            caught.append(fn)
            return real(*args, **kwargs)(fn)
        return take
    torch.library.custom_op = custom_op
    try:
        importlib.import_module(name)
        outcome = "loaded"
    except BaseException as exc:
        outcome = type(exc).__name__
    finally:
        torch.library.custom_op = real
    return [outcome, [f"{f.__module__}.{f.__name__}" for f in caught]]

def honest_first_loads(x):
    import _lsprof, _statistics, csv, json
    return [json.dumps([1]), str(_statistics._normal_dist_inv_cdf(0.5, 0.0, 1.0))]
'''

# Modules under a banned call that no zygote loads (a package's __init__ does not import them)
UNDER = [("transformer", "torch.func._random", "torch.func"),
         ("performance", "torch.nn.attention.varlen", "torch.nn.attention"),
         ("performance", "torch.nn.attention.bias", "torch.nn.attention"),
         ("optimizers", "torch.optim._multi_tensor", "torch.optim")]


@pytest.mark.parametrize("topic, name, call", UNDER)
@pytest.mark.parametrize("fn", ["imported", "under_another_name", "past_a_changed_meta_path"])
def test_a_module_under_a_banned_call_that_no_zygote_loaded_is_absent(
        engine, topic: str, name: str, call: str, fn: str, tmp_path: Path) -> None:
    """Its body would define banned functions, and could hand them to code of the student's (a
    library function they changed, that the body calls) before they are wired: it is refused
    before its body runs, by its file's own name, however it is loaded."""
    import torch

    if importlib.util.find_spec(name) is None:  # (torch.func._random is not in torch 2.11)
        pytest.skip(f"this torch ({torch.__version__}) has no {name}: nothing to load")
    got = run(engine, topic, LATER, fn, name, tmp=tmp_path)
    assert isinstance(got, StudentError) and "ImportError" in str(got) and \
        f"{name} is not available in this exercise: what {call} defines is banned here" \
        in str(got), got


def test_a_module_under_a_banned_call_hands_nothing_it_defines_to_the_students_code(
        engine, tmp_path: Path) -> None:
    """``torch.nn.attention.varlen``'s body hands the functions it defines to
    ``torch.library.custom_op``, changed by the student to keep them: loaded, its body would
    hand them over before the trip-wire could wire them. It does not run."""
    got = run(engine, "performance", LATER, "handed_by_its_body", "torch.nn.attention.varlen",
              tmp=tmp_path)
    assert got == ["ImportError", []], got


@pytest.mark.parametrize("fn,says", [
    ("under_another_name", "only by an import"),
    ("past_a_changed_meta_path", "only by an import"),
    ("by_the_wiring_loader_as_another_module", "under its own name"),
])
def test_a_module_of_a_banned_package_loaded_later_runs_only_under_its_name_by_an_import(
        engine, fn: str, says: str, tmp_path: Path) -> None:
    """A module of torch's that no zygote loaded and no ban names (torch.utils.file_baton, in a
    topic whose trip-wire guards torch): by an import, it loads; any other way, it is refused."""
    name = "torch.utils.file_baton"
    got = run(engine, "transformer", LATER, fn, name, tmp=tmp_path)
    assert isinstance(got, StudentError) and says in str(got), got
    imported = run(engine, "transformer", LATER, "imported", name, tmp=tmp_path)
    assert isinstance(imported, list) and "FileBaton" in imported, imported


@pytest.mark.parametrize("topic", ["rnn", "logistic_regression", "activations"])
def test_modules_loaded_for_the_first_time_load_as_usual(engine, topic: str,
                                                         tmp_path: Path) -> None:
    assert run(engine, topic, LATER, "honest_first_loads", 0, tmp=tmp_path) == ["[1]", "0.0"]


BY_A_RELOADED_LIBRARY = {
    "optimizers": ("adam", """
        def adam(w, grad, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
            # torch.optim's own Adam, from a fresh run of its module: no wire on it
            import importlib
            import sys
            import torch
            fresh = importlib.reload(next(m for n, m in sys.modules.items()
                                          if n.endswith("m.adam")))
            p, g = torch.tensor(w, dtype=torch.float64), torch.tensor(grad, dtype=torch.float64)
            m = torch.tensor(state.get("m", np.zeros_like(w)), dtype=torch.float64)
            v = torch.tensor(state.get("v", np.zeros_like(w)), dtype=torch.float64)
            t = torch.tensor(float(state.get("t", 0)))
            fresh.adam([p], [g], [m], [v], [], [t], foreach=False, capturable=False,
                       differentiable=False, fused=None, grad_scale=None, found_inf=None,
                       has_complex=False, amsgrad=False, beta1=beta1, beta2=beta2, lr=lr,
                       weight_decay=0.0, eps=eps, maximize=False)
            return p.numpy(), {"m": m.numpy(), "v": v.numpy(), "t": int(t.item())}
        """),
    "linear_regression": ("fit_univariate", """
        def fit_univariate(x, y):
            import importlib, sys
            fresh = importlib.reload(next(m for n, m in sys.modules.items()
                                          if n.endswith("._polynomial_impl")))
            a, b = fresh.polyfit(np.asarray(x, dtype=float), np.asarray(y, dtype=float), 1)
            return float(a), float(b)
        """),
}


@pytest.mark.parametrize("topic", sorted(BY_A_RELOADED_LIBRARY))
def test_a_banned_function_from_a_reloaded_module_scores_nothing(engine, topic: str,
                                                                  tmp_path: Path) -> None:
    fn, source = BY_A_RELOADED_LIBRARY[topic]
    result = _grade(engine, topic, _with(topic, source), tmp_path / "reloaded")
    own = [t for t in result.tests if fn in t.functions]
    assert own and all(t.outcome != "passed" for t in own), \
        [(t.name, t.outcome) for t in own]


# ------------------------------------------ an engine started for some topics grades the others

@pytest.fixture(scope="module")
def attention_engine():
    """An engine told it grades the attention topic alone (as ``grader grade --topic``): its
    zygotes prepare that topic only, so no zygote of the no-autograd profile is started."""
    from grader.grading.engine import Engine

    with Engine(COURSE, topics=("attention",)) as e:
        yield e


def test_an_engine_for_some_topics_starts_only_their_zygotes(attention_engine) -> None:
    bans = attention_engine._zygote_bans(("attention",))
    assert bans["profiles"] == (profiles.TORCH,)
    assert [p[0] for p in bans["plans"]] == [profiles.TORCH]
    assert len(attention_engine.zygote.profile_pids) == 1  # the torch zygote; no other
    assert profiles.NO_AUTOGRAD in attention_engine._zygote_bans(("backprop",))["profiles"]


@pytest.mark.parametrize("route", ["autograd.grad", "graph_nodes", "a_thread", "enable_grad",
                                   "backward_kernel"])
def test_a_topic_the_engine_was_not_started_for_keeps_its_bans(attention_engine, route: str,
                                                                tmp_path: Path) -> None:
    """Its workers catch up on what their zygote would have done (``zygote._catch_up``):
    autograd taken away, decompositions and banned calls wired, torch absent where banned."""
    got = run(attention_engine, "backprop", AUTOGRAD.replace("ROUTE", AUTOGRAD_ROUTES[route]),
              "gradient", X, W, tmp=tmp_path)
    assert isinstance(got, Exception) or not np.allclose(got, 2 * X * W), route
    kept = run(attention_engine, "attention", AUTOGRAD.replace("ROUTE", AUTOGRAD_ROUTES[route]),
               "gradient", X, W, tmp=tmp_path)
    if route != "backward_kernel":
        assert not isinstance(kept, Exception) and np.allclose(kept, 2 * X * W), (route, kept)


def test_the_other_walls_hold_in_topics_the_engine_was_not_started_for(
        attention_engine, tmp_path: Path) -> None:
    got = run(attention_engine, "rnn", DECOMPOSITION, "by_table", 0, tmp=tmp_path)
    assert isinstance(got, BannedCallError) and "torch._" in str(got), got
    got = run(attention_engine, "conv", ABSENT, "where_is_torch", TORCH_SITE, tmp=tmp_path)
    assert got == [], f"torch found in a conv worker through: {got}"
    got = run(attention_engine, "logistic_regression", FINDER_REMOVED,
              "softmax_without_the_finder", np.ones((2, 3)), tmp=tmp_path)
    assert isinstance(got, BannedCallError) and "scipy.special.softmax" in str(got), got


def test_honest_work_in_a_topic_the_engine_was_not_started_for_keeps_its_grade(
        attention_engine, tmp_path: Path) -> None:
    for topic in ("backprop", "conv"):
        result = _grade(attention_engine, topic, COURSE.solution(topic).read_text(),
                        tmp_path / topic)
        assert result.topic(topic).score == result.topic(topic).max_score, topic


@pytest.fixture(scope="module")
def numpy_engine():
    """An engine told it grades conv alone (a class handing in that assignment), with the
    environment check: its workers, and the check's, go without torch."""
    from grader.environment import load_environment
    from grader.grading.engine import Engine

    with Engine(COURSE, topics=("conv",), environment=load_environment(COURSE)) as e:
        yield e


def test_an_engine_for_topics_that_ban_torch_starts_no_torch_zygote(numpy_engine) -> None:
    """Not even for the environment check: it runs in a worker going without what every topic
    graded bans, and tries only what such a worker may import."""
    bans = numpy_engine._zygote_bans(("conv",))
    assert bans["profiles"] == (profiles.NUMPY,)
    assert bans["check"] == ("scipy.ndimage", "scipy.signal", "torch")
    assert numpy_engine._zygote_bans(("conv", "activations"))["check"] == ("torch",)
    assert numpy_engine._zygote_bans(("conv", "attention"))["profiles"] == (
        profiles.NUMPY, profiles.TORCH)
    assert numpy_engine._zygote_bans(("conv", "attention"))["check"] == ()
    assert numpy_engine._zygote_bans(("backprop",))["profiles"] == (
        profiles.TORCH, profiles.NO_AUTOGRAD)
    assert numpy_engine.zygote.profile_pids == ()  # the root alone


def test_the_environment_check_of_such_an_engine_still_refuses_what_does_not_import() -> None:
    from grader.environment import Environment, EnvironmentIncomplete
    from grader.grading.engine import Engine

    environment = Environment(("numpy", "scipy", "torch", "no_such_package"), {}, None)
    with pytest.raises(EnvironmentIncomplete) as refused:
        Engine(COURSE, topics=("conv",), environment=environment)
    assert "no_such_package" in str(refused.value)
    assert "torch (" not in str(refused.value) and "scipy (" not in str(refused.value)


@pytest.mark.parametrize("route", ["autograd.grad", "graph_nodes", "a_thread"])
def test_in_such_an_engine_every_topic_is_graded_with_its_walls(numpy_engine, route: str,
                                                       tmp_path: Path) -> None:
    """Workers of the profiles it did not start are forked from the root, and catch up."""
    got = run(numpy_engine, "backprop", AUTOGRAD.replace("ROUTE", AUTOGRAD_ROUTES[route]),
              "gradient", X, W, tmp=tmp_path)
    assert isinstance(got, Exception) or not np.allclose(got, 2 * X * W), route
    kept = run(numpy_engine, "attention", AUTOGRAD.replace("ROUTE", AUTOGRAD_ROUTES[route]),
               "gradient", X, W, tmp=tmp_path)
    assert not isinstance(kept, Exception) and np.allclose(kept, 2 * X * W), (route, kept)
    got = run(numpy_engine, "conv", ABSENT, "where_is_torch", TORCH_SITE, tmp=tmp_path)
    assert got == [], f"torch found in a conv worker through: {got}"


def test_in_such_an_engine_honest_work_keeps_its_grade(numpy_engine, tmp_path: Path) -> None:
    for topic in ("conv", "rnn"):
        result = _grade(numpy_engine, topic, COURSE.solution(topic).read_text(),
                        tmp_path / topic)
        assert result.topic(topic).score == result.topic(topic).max_score, topic


# An operator of the student's own with no autograd kernel: torch's fallback for such operators
# (the one ``no_autograd`` leaves in place) runs its kernel on, whose operations record the graph
# where autograd is there (the control), and record nothing where it has been taken away.
OWN_OPERATOR = '''
import torch

_lib = torch.library.Library("student", "DEF")
_lib.define("cube(Tensor t, Tensor w) -> Tensor")
_lib.impl("cube", lambda t, w: t * t * w, "CPU")

def gradient(x_np, w_np, mode):
    if mode:
        torch._C._set_autograd_fallback_mode(mode)
    x = torch.tensor(x_np, requires_grad=True)
    y = torch.ops.student.cube(x, torch.tensor(w_np)).sum()
    return torch.autograd.grad(y, x)[0].numpy()
'''


@pytest.mark.parametrize("mode", ["", "nothing", "warn"])
@pytest.mark.parametrize("topic", ["backprop", "transformer", "metrics"])
def test_an_operator_without_an_autograd_kernel_records_nothing_where_autograd_is_banned(
        engine, topic: str, mode: str, tmp_path: Path) -> None:
    got = run(engine, topic, OWN_OPERATOR, "gradient", X, W, mode, tmp=tmp_path)
    if topic == "metrics":
        assert not isinstance(got, Exception) and np.allclose(got, 2 * X * W), (mode, got)
    else:
        assert isinstance(got, Exception) or not np.allclose(got, 2 * X * W), (mode, got)
