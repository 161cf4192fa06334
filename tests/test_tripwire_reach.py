"""Trip-wires reach banned calls made on the student's behalf, and cannot be unwrapped.

Each check runs a small student module in a fresh interpreter with the trip-wires installed, as
the worker does, and prints what each of its functions met: ``ok`` or the ``BannedCall``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BANS = ["numpy.polyfit", "numpy.linalg.lstsq", "torch.nn.functional.conv2d", "torch.conv2d",
        "torch._VF", "torch.nn.functional.relu", "torch.nn.LSTMCell"]

RUNNER = r'''
import json, sys, threading
import numpy, torch  # loaded before the bans, as in the worker
from grader.isolation import audit, tripwire, worker

def run_all(student):  # library code: defined before the audit hook notes what is whose
    out = {}
    for name in sorted(n for n in dir(student) if n.startswith(("attack_", "honest_", "unwrap_"))):
        try:
            got = getattr(student, name)()
            out[name] = "ok" if got is None else "ok:" + str(got)
        except tripwire.BannedCall as exc:
            out[name] = "banned:" + str(exc)
        except audit.AuditRefused as exc:
            out[name] = "refused:" + str(exc)
        except BaseException as exc:
            out[name] = "error:" + type(exc).__name__ + ":" + str(exc)[:200]
        fired = tripwire.fired()[0]
        if fired and out[name].startswith("ok"):
            out[name] = "banned(caught):" + fired[0]["name"]
    return out

audit.record_library()
if sys.argv[4] == "planned":  # as a zygote does: the wires planned before the worker, with others
    tripwire.plan(["numpy.fft"], audit.LIBRARY_TYPES)
    tripwire.plan(tuple(json.loads(sys.argv[2])), audit.LIBRARY_TYPES)
worker.arm(sys.argv[1], tuple(json.loads(sys.argv[2])), tuple(json.loads(sys.argv[3])))
sys.path.insert(0, sys.argv[1])
import student
print(json.dumps(run_all(student)))
'''


def run_student(tmp_path: Path, source: str, bans: list[str] = BANS,
                ops: list[str] = (),  # type: ignore[assignment]
                planned: bool = False) -> dict[str, str]:
    """``planned``: the wires planned before the worker arms, as a zygote plans them for the
    workers it forks (``tripwire.plan``), rather than swept by the worker itself."""
    import json

    (tmp_path / "student.py").write_text(source)
    out = subprocess.run([sys.executable, "-c", RUNNER, str(tmp_path), json.dumps(bans),
                          json.dumps(list(ops)), "planned" if planned else "swept"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


# -------------------------------------------------------------- banned calls through library frames

REACH = '''
import functools, threading
from concurrent.futures import ThreadPoolExecutor
import numpy as np
import torch
import torch.nn.functional as F

X = np.array([[0.0, 1.0, 2.0], [0.0, 2.0, 4.0]])
IMG = torch.ones(1, 1, 4, 4)
K = torch.ones(1, 1, 2, 2)

def fit(row):
    return getattr(np, "poly" + "fit")(np.arange(3.0), row, 1)

def attack_apply_along_axis():
    np.apply_along_axis(getattr(np, "polyfit"), 1, X, X[0], 1)

def attack_apply_along_axis_lambda():
    # the lambda is the student's: its frame calls the banned function
    np.apply_along_axis(lambda r: getattr(np, "polyfit")(np.arange(3.0), r, 1), 1, X)

def attack_vectorize():
    np.vectorize(getattr(F, "conv2d"), signature="(a,b,c,d),(e,f,g,h)->(i,j,k,l)")(IMG, K)

def attack_map():
    list(map(getattr(np, "polyfit"), [X[0]], [X[1]], [1]))

def attack_reduce():
    functools.reduce(getattr(F, "conv2d"), [IMG, K])

def attack_sorted_key():
    sorted([X[0], X[1]], key=functools.partial(getattr(np, "polyfit"), np.arange(3.0), deg=1))

def attack_partial():
    functools.partial(getattr(np, "polyfit"), deg=1)(X[0], X[1])

def attack_singledispatch():
    f = functools.singledispatch(lambda a, b: None)
    f.register(torch.Tensor, getattr(torch, "conv2d"))
    f(IMG, K)

class Apply:
    def __call__(self, row):
        return getattr(np, "polyfit")(np.arange(3.0), row, 1)

def attack_class_call():
    np.apply_along_axis(Apply(), 1, X)

def attack_thread_pool():
    with ThreadPoolExecutor(2) as pool:
        return pool.submit(getattr(F, "conv2d"), IMG, K).result().shape

def attack_thread_pool_map():
    with ThreadPoolExecutor(2) as pool:
        return len(list(pool.map(getattr(torch, "_V" + "F").lstm_cell,
                                 [torch.ones(1, 2)], [(torch.ones(1, 3), torch.ones(1, 3))],
                                 [torch.ones(12, 2)], [torch.ones(12, 3)])))

def attack_thread():
    done = []
    t = threading.Thread(target=lambda: done.append(getattr(np, "polyfit")))
    t.start(); t.join()
    box = []
    t = threading.Thread(target=getattr(F, "conv2d"), args=(IMG, K))
    t.start(); t.join()

def attack_thread_caught():
    # the thread swallows the exception: the call still counts
    box = []
    def work():
        try:
            getattr(F, "conv2d")(IMG, K)
        except BaseException:
            box.append(1)
    t = threading.Thread(target=work)
    t.start(); t.join()
    return len(box)

def honest_conv_module():
    return tuple(torch.nn.Conv2d(1, 1, 2)(IMG).shape)

def honest_norm_uses_vf():
    return float(torch.norm(torch.ones(4)))

def honest_conv_module_in_a_thread():
    with ThreadPoolExecutor(2) as pool:
        return tuple(pool.submit(torch.nn.Conv2d(1, 1, 2), IMG).result().shape)

def honest_lstm_layer_in_a_thread():
    out = []
    t = threading.Thread(target=lambda: out.append(torch.nn.LSTM(2, 3)(torch.ones(4, 1, 2))[0].shape))
    t.start(); t.join()
    return tuple(out[0])

def honest_apply_along_axis():
    return np.apply_along_axis(np.sum, 1, X).tolist()
'''


@pytest.mark.parametrize("planned", [False, True], ids=["swept", "planned"])
def test_banned_calls_handed_to_library_frames_and_threads_fire(tmp_path: Path,
                                                                planned: bool) -> None:
    got = run_student(tmp_path, REACH, planned=planned)
    attacks = {k: v for k, v in got.items() if k.startswith("attack_")}
    assert len(attacks) == 13
    for name, outcome in attacks.items():
        assert outcome.startswith(("banned", "error:BannedCall")) or "not allowed" in outcome, \
            (name, outcome)
    assert "numpy.polyfit is not allowed here (student.py, line" in got["attack_apply_along_axis"]
    lambda_line = next(i for i, line in enumerate(REACH.splitlines(), 1) if "(lambda r:" in line)
    assert f"student.py, line {lambda_line})" in got["attack_apply_along_axis_lambda"]
    # a thread's firing names where the student started it
    assert "student.py, line" in got["attack_thread_pool"], got["attack_thread_pool"]
    for name in ("honest_conv_module", "honest_norm_uses_vf", "honest_conv_module_in_a_thread",
                 "honest_lstm_layer_in_a_thread", "honest_apply_along_axis"):
        assert got[name].startswith("ok"), (name, got[name])


def test_an_allowed_function_using_a_banned_one_inside_passes(tmp_path: Path) -> None:
    source = '''
import numpy as np
from concurrent.futures import ThreadPoolExecutor
def honest_polyfit():
    return len(np.polyfit([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], 1))   # calls lstsq inside
def honest_polyfit_in_a_thread():
    with ThreadPoolExecutor(1) as pool:
        return len(pool.submit(np.polyfit, [0.0, 1.0], [0.0, 1.0], 1).result())
def attack_lstsq():
    np.apply_along_axis(lambda c: 0, 0, np.ones(2))
    return np.linalg.lstsq(np.eye(2), np.ones(2))
def attack_lstsq_in_a_thread():
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(getattr(np.linalg, "lstsq"), np.eye(2), np.ones(2)).result()
'''
    got = run_student(tmp_path, source, ["numpy.linalg.lstsq"])
    assert got["honest_polyfit"] == got["honest_polyfit_in_a_thread"] == "ok:2", got
    assert "numpy.linalg.lstsq is not allowed" in got["attack_lstsq"]
    assert "numpy.linalg.lstsq is not allowed" in got["attack_lstsq_in_a_thread"]


# ------------------------------------------------------------------------------- unwrapping a wire

UNWRAP = '''
import copy, functools, gc, pickle, types
import numpy as np
import torch
import torch.nn.functional as F

TARGETS = {"polyfit": ("numpy", "polyfit"), "conv2d": ("torch.nn.functional", "conv2d"),
           "relu": ("torch.nn.functional", "relu"), "vf": ("torch._VF", "lstm_cell")}

def wires():
    import importlib
    return {k: getattr(importlib.import_module(m), a) for k, (m, a) in TARGETS.items()}

def reachable(start, limit=20000):
    """Everything reachable from ``start`` through referents, attributes and closures, short
    of modules (and their namespaces) and classes, which lead everywhere."""
    namespaces = {id(vars(m)) for m in list(__import__("sys").modules.values())
                  if isinstance(m, types.ModuleType)}
    seen, todo, out = set(), [start], []
    while todo and len(seen) < limit:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, (types.ModuleType, type)) or id(obj) in namespaces:
            continue
        seen.add(id(obj))
        out.append(obj)
        todo.extend(gc.get_referents(obj))
        for attr in ("__wrapped__", "__self__", "__func__", "_tw_target", "__closure__",
                     "__defaults__", "__kwdefaults__", "__dict__", "func", "args"):
            try:
                todo.append(getattr(obj, attr))
            except BaseException:
                pass
    return out

def unwrap_by_attributes():
    found = []
    for key, w in wires().items():
        for attr in ("_tw_target", "__wrapped__", "__self__", "__func__", "__dict__",
                     "__closure__", "__defaults__", "_tw_tw", "_tw_call"):
            try:
                value = getattr(w, attr)
            except BaseException:
                continue
            if callable(value) and getattr(value, "__name__", "") == getattr(w, "__name__", "?") \\
                    and value is not w and not _is_wire(value):  # (what it wrapped: wired too)
                found.append(f"{key}.{attr}")
    return ",".join(found) or None

def unwrap_by_reference_walk():
    import numpy, torch
    originals = {id(np.polyfit)}  # the wire: what the original is, by its implementation
    impl = []
    for key, w in wires().items():
        for obj in reachable(w):
            name = getattr(obj, "__name__", None) if not isinstance(obj, str) else None
            if callable(obj) and name in ("polyfit", "conv2d", "relu", "lstm_cell", "_polyfit") \\
                    and not _is_wire(obj):
                impl.append(f"{key}->{type(obj).__name__}:{name}")
    return ",".join(sorted(set(impl))) or None

def _is_wire(obj):
    # a wire is a _Wire, or a function whose closure holds its number alone (its code is not
    # for reading: the audit hook refuses that)
    cells = getattr(obj, "__closure__", None) or ()
    return type(obj).__name__ == "_Wire" or (
        len(cells) == 1 and isinstance(cells[0].cell_contents, int))

def unwrap_by_reduce_and_copy():
    out = []
    for key, w in wires().items():
        for how in (lambda: w.__reduce_ex__(2), lambda: pickle.dumps(w), lambda: copy.copy(w)):
            try:
                got = how()
            except BaseException:
                continue
            if not _is_wire(got) and not isinstance(got, bytes):
                out.append(key)
    return ",".join(out) or None

def unwrap_by_calling_the_gate():
    import sys
    w = F.relu
    held = [c.cell_contents for c in w.__closure__]
    assert all(isinstance(h, int) for h in held), held  # a number, nothing else
    box = []
    sys.audit("grader.gate", held[0], box)  # not raised by a wire's code: refused
    return box

def unwrap_by_the_trip_wire_state():
    # the wire holds no trip-wire: no attribute, slot or closure leads to one
    import sys
    for w in (F.relu, F.conv2d, np.polyfit):
        for attr in ("_tw_tw", "_tw_call", "__closure__", "__self__"):
            try:
                value = getattr(w, attr)
            except BaseException:
                continue
            for v in (value if isinstance(value, tuple) else (value,)):
                v = getattr(v, "cell_contents", v)
                if type(v).__name__ == "Tripwire" or hasattr(v, "check"):
                    return "reached:" + attr
    return sys.modules["grader.isolation.tripwire"].fired()

def unwrap_by_module_state():
    """A trip-wire (or a table of them) held by any module, a level of containers down."""
    import sys
    for name, module in list(sys.modules.items()):
        try:
            items = list(vars(module).items())
        except TypeError:
            continue
        for attr, value in items:
            inner = list(value.values()) if type(value) is dict else \
                list(value) if type(value) in (list, tuple, set) else []
            for v in [value, *inner]:
                if type(v).__name__ == "Tripwire":
                    return "reached:" + name + "." + attr
    return None

def unwrap_by_raw_memory():
    import _ctypes
    return _ctypes.PyObj_FromPtr(id(F.relu))

def unwrap_by_rebuilding_from_code():
    w = F.relu
    rebuilt = types.FunctionType(w.__code__, {}, "again", None, w.__closure__)
    return rebuilt(torch.ones(2))  # the gate checks the rebuilt function's caller: the student

def unwrap_by_overload_attribute():
    w = getattr(torch.ops.aten, "conv2d")
    for attr in ("default", "padding", "__call__"):  # every overload meets the dispatcher
        try:
            getattr(w, attr)(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2))
            return attr
        except BaseException as exc:
            if "not allowed" not in str(exc):
                return attr + ":" + str(exc)
    return None

def honest_relu_name_and_repr():
    return F.relu.__name__ + "|" + F.conv2d.__name__ + "|" + repr(np.polyfit)[:9]
'''


@pytest.mark.parametrize("planned", [False, True], ids=["swept", "planned"])
def test_nothing_reachable_from_a_wire_leads_back_to_the_original(tmp_path: Path,
                                                                   planned: bool) -> None:
    got = run_student(tmp_path, UNWRAP, BANS, ["aten::conv2d"], planned=planned)
    # no module holds a trip-wire, its own or one its zygote planned for other workers
    assert got["unwrap_by_module_state"] == "ok", got["unwrap_by_module_state"]
    assert got["unwrap_by_attributes"] == "ok", got["unwrap_by_attributes"]
    # the walk itself is refused (gc.get_referents): nothing to find either way
    assert got["unwrap_by_reference_walk"] in ("ok", "refused:gc.get_referents is not available "
                                               "while grading"), got["unwrap_by_reference_walk"]
    assert got["unwrap_by_reduce_and_copy"] == "ok", got["unwrap_by_reduce_and_copy"]
    assert got["unwrap_by_calling_the_gate"].startswith("refused:"), got
    assert got["unwrap_by_the_trip_wire_state"].startswith("banned:what the grader recorded"), got
    assert got["unwrap_by_raw_memory"].startswith("refused:ctypes.PyObj_FromPtr"), got
    # reading a wire's code is refused; so is a function made of it
    assert got["unwrap_by_rebuilding_from_code"].startswith("refused:"), got
    assert got["unwrap_by_overload_attribute"] == "banned(caught):aten::conv2d", got
    assert got["honest_relu_name_and_repr"] == "ok:relu|conv2d|<function", got


@pytest.mark.parametrize("route", ["getattr(w, '_tw_target')", "w.__wrapped__",
                                   "w.__closure__[1].cell_contents", "vars(w)['__wrapped__']"])
def test_the_old_unwrap_routes_are_closed(tmp_path: Path, route: str) -> None:
    source = f'''
import torch.nn.functional as F
import numpy as np
def attack_route():
    for w in (F.conv2d, F.relu, np.polyfit):
        try:
            got = {route}
        except (AttributeError, IndexError, TypeError, KeyError):
            continue
        if callable(got) and got is not w and getattr(got, "__name__", "") in ("conv2d", "relu", "polyfit"):
            # what a wire shows of its original's (what a decorator wrapped) is a wire too: a
            # _Wire, or a function whose closure holds its number alone
            cells = getattr(got, "__closure__", None) or ()
            if type(got).__name__ == "_Wire" or (
                    len(cells) == 1 and isinstance(cells[0].cell_contents, int)):
                continue
            return "unwrapped"
'''
    got = run_student(tmp_path, source)
    assert got["attack_route"] == "ok", got


# ------------------------------------------------------------------- a method of a class banned

METHOD = '''
import torch
import torch.nn.functional as F

def attack_method_call():
    x = torch.ones(3, requires_grad=True)
    (x * 2).sum().backward()

def attack_method_by_name():
    x = torch.ones(3, requires_grad=True)
    getattr((x * 2).sum(), "back" + "ward")()

def attack_method_through_the_class():
    x = torch.ones(3, requires_grad=True)
    torch.Tensor.backward((x * 2).sum())

def attack_method_in_a_thread_pool():
    from concurrent.futures import ThreadPoolExecutor
    x = torch.ones(3, requires_grad=True)
    with ThreadPoolExecutor(1) as pool:
        pool.submit((x * 2).sum().backward).result()

def honest_other_methods_of_the_class():
    x = torch.ones(3)
    return float(x.sum().item() + F.relu(-x).sum().item())
'''


def test_a_banned_method_fires_on_every_instance_and_leaves_the_rest_of_its_class(
        tmp_path: Path) -> None:
    """A pattern naming a method of a class (the transformer topic bans torch.Tensor.backward,
    so a hand-written backward cannot hand its work to autograd) is wired on the class: a call
    through an instance, by name, through the class or in a thread meets it."""
    got = run_student(tmp_path, METHOD, ["torch.Tensor.backward"])
    for name in ("attack_method_call", "attack_method_by_name", "attack_method_through_the_class",
                 "attack_method_in_a_thread_pool"):
        assert got[name].startswith(("banned:", "banned(caught)")), (name, got[name])
        assert "torch.Tensor.backward" in got[name]
    assert got["honest_other_methods_of_the_class"] == "ok:3.0"


@pytest.mark.parametrize("served", [
    "scale = getattr(__import__('num' + 'py'), 'poly' + 'fit')",
    "import functools\nscale = functools.partial(getattr(__import__('numpy'), 'poly' + 'fit'))",
], ids=["the-function-itself", "a-partial-of-it"])
def test_a_banned_function_served_as_the_students_own_fires(toy_engine, tmp_path: Path,
                                                            served: str) -> None:
    """The module's attribute is the banned function (or a library wrapper of it): the worker
    calls it directly, with no student frame on the stack, and it still fires."""
    from test_hostile import REFERENCE, grade

    result, _ = grade(toy_engine, tmp_path, REFERENCE + "\n" + served + "\n")
    tests = {t.name: t for t in result.tests}
    scale = tests["test_scale"]
    assert scale.outcome == "failed" and "banned" in scale.flags, (scale.flags, scale.message)
    assert "polyfit is not allowed here (a function of your module)" in scale.message
    assert tests["test_add"].outcome == "passed", tests["test_add"].message


# --------------------------------------------------------- wires planned in the zygote, put in place

SAME_WIRES = r'''
import json, os, sys, types
from pathlib import Path
import numpy, torch  # loaded before the bans, as in the zygote
from grader.course import Course
from grader.isolation import audit, profiles, tripwire

course = Course(Path(sys.argv[1]))
bans = {}
for topic in course.topics():
    c = course.config(topic)
    bans[topic] = profiles.calls(c.banned, c.banned_libraries, c.banned_ops, c.banned_capabilities)
profiles.preload_modules(profiles.modules_named(sorted({p for b in bans.values() for p in b})), ())
audit.record_library()

def key_of(value):
    if type(value) is tripwire._Wire:
        return object.__getattribute__(value, "_tw_key")
    if type(value) is types.FunctionType and \
            value.__code__ in (tripwire._CALL_CODE, tripwire._SIGNAL_CALL_CODE):
        return value.__closure__[0].cell_contents
    return None

def placed(tw):
    """Where each wire is, and the name it tells: module attributes, classes' __init__, tables."""
    out = []
    for name, module in sorted(sys.modules.items()):
        if name.split(".")[0] not in tw.roots:
            continue
        for attr, value in list(vars(module).items()):
            for where, v in [(attr, value)] + (
                    [(f"{attr}.__init__", vars(value).get("__init__"))] if isinstance(value, type)
                    else [(f"{attr}[{k!r}]", x) for k, x in list(value.items())]
                    if type(value) is dict else []):
                key = key_of(v)
                if key is not None:
                    out.append(f"{name}.{where} -> {tw._info[key][0]}")
    return sorted(set(out))

def in_child(work):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            got = work()
        except BaseException:
            import traceback
            got = {"error": traceback.format_exc()}
        os.write(w, json.dumps(got).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 20):
        data += chunk
    os.waitpid(pid, 0)
    return json.loads(data)

for pats in bans.values():
    tripwire.plan(pats, audit.LIBRARY_TYPES)
result = {}
for topic, pats in bans.items():
    planned = in_child(lambda: placed(tripwire.install(pats, "/tmp", audit.LIBRARY_TYPES)))
    def swept():
        tripwire._PLANS.clear()
        return placed(tripwire.install(pats, "/tmp", audit.LIBRARY_TYPES))
    result[topic] = {"planned": planned, "swept": in_child(swept)}
print(json.dumps(result))
'''


def _wires_by_topic(script: str) -> dict:
    """What ``script`` (run in a fresh interpreter over this course) printed last, as JSON."""
    import json

    out = subprocess.run([sys.executable, "-c", script, str(ROOT)], capture_output=True,
                         text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_worker_forked_with_its_zygotes_plan_has_the_wires_it_would_have_swept() -> None:
    """A zygote plans each topic's wires once (``tripwire.plan``) and every worker it forks puts
    them in place: each topic's worker has the same wires, in the same places, telling the same
    names, as a worker that swept for itself, with every topic's plan made in the zygote."""
    result = _wires_by_topic(SAME_WIRES)
    assert len(result) == 19
    for topic, got in result.items():
        assert got["planned"] == got["swept"], (topic, set(got["planned"]) ^ set(got["swept"]))
        assert any(line.startswith("signal.signal ->") for line in got["planned"]), topic
    # decompositions wired where a topic bans operators (rnn) or autograd (backprop)
    for topic in ("rnn", "backprop", "transformer"):
        assert sum("torch._decomp" in line for line in result[topic]["planned"]) > 100, topic


SHARED_WIRES = SAME_WIRES.split("for pats in bans.values():")[0] + r'''
for pats in bans.values():
    tripwire.plan(pats, audit.LIBRARY_TYPES)
plans = {topic: tripwire._PLANS[tuple(pats)] for topic, pats in bans.items()}
decomposition = sys.modules["torch._decomp"].decomposition_table
def shown(topic):
    tw = plans[topic]
    return {repr(k): id(tw._wires[id(v)]) for k, v in list(decomposition.items())
            if id(v) in tw._wires}
rnn, backprop = shown("rnn"), shown("backprop")
print(json.dumps({"rnn": len(rnn), "backprop": len(backprop),
                  "same": sum(rnn[k] == backprop.get(k) for k in rnn),
                  "keys": len({k for tw in plans.values() for k in tw._originals}),
                  "wires": sum(len(tw._originals) for tw in plans.values())}))
'''


def test_the_plans_share_the_wires_they_have_in_common() -> None:
    """Torch's decompositions are banned in most of the torch zygote's plans: each is wired once,
    the same wire (one number, one object) in every plan that bans it."""
    got = _wires_by_topic(SHARED_WIRES)
    assert got["rnn"] > 100 and got["same"] == got["rnn"] == got["backprop"], got
    assert got["keys"] < got["wires"] / 3, got


EVERY_MODULE = SAME_WIRES.split("for pats in bans.values():")[0] + r'''
# Beside each topic's bans, wildcards before, inside and after a module's name.
bans.update({"wild1": ("*.softmax", "numpy.poly*"), "wild2": ("torch.nn.functional.conv*",),
             "wild3": ("torch.*.lstm*", "scipy.spec?al.log_softmax"), "wild4": ("torch.n[n].Conv*",)})
profiles.preload_modules(profiles.modules_named(["scipy.special"]), ())
result = {}
for topic, pats in bans.items():
    skipping = in_child(lambda: placed(tripwire.install(pats, "/tmp", audit.LIBRARY_TYPES)))
    def everywhere():
        tripwire.Tripwire._may_name = lambda self, name: type(name) is str
        return placed(tripwire.install(pats, "/tmp", audit.LIBRARY_TYPES))
    result[topic] = {"skipping": skipping, "everywhere": in_child(everywhere)}
print(json.dumps(result))
'''


def test_a_sweep_walks_only_modules_a_pattern_can_name_and_finds_all_it_would_find() -> None:
    """A sweep reads only the modules through which a pattern can name something (its name and
    a dot start with the pattern's text before any wildcard, or are the start of it): what it
    wires, and where, is what a sweep of every loaded module wires, for every topic's bans and
    for wildcards at the start, inside and at the end of a module's name."""
    result = _wires_by_topic(EVERY_MODULE)
    assert len(result) == 23
    for topic, got in result.items():
        assert "error" not in got["skipping"], got["skipping"]
        assert got["skipping"] == got["everywhere"], (
            topic, set(got["skipping"]) ^ set(got["everywhere"]))
    assert any("conv2d" in line for line in result["wild2"]["skipping"])
    assert any("numpy.polyfit" in line for line in result["wild1"]["skipping"])
    assert any(line.endswith("-> scipy.special.log_softmax") for line in result["wild3"]["skipping"])


# ------------------------------------------------------ what a wire shows of an original it guards

SHOWN_RUNNER = r'''
import json, sys
sys.path.insert(0, sys.argv[2])
import shown  # a library module, loaded before the bans
from grader.isolation import audit, worker
audit.record_library()
worker.arm(sys.argv[1], ("shown.fit", "shown.bound"), ())
sys.path.insert(0, sys.argv[1])
import student
print(json.dumps(student.look()))
'''
SHOWN_LIBRARY = '''
import functools

class Model:
    def __repr__(self):
        return "Model()"

    def fit(self, x):
        return type(self).__name__

def _fit(model, x):
    return x

fit = functools.partial(_fit, Model())  # a banned callable whose repr shows what it holds
bound = Model().fit

def use(x):
    return bound(x)  # the library's own use: the original, bound to its own object
'''
SHOWN_STUDENT = '''
import sys
RAN = []

def spy(self):
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "hook":
            RAN.append("inside the hook")
        frame = frame.f_back
    return "Theirs()"

def look():
    import shown
    shown.Model.__repr__ = spy  # a library class's repr: the student's
    return [repr(shown.fit), repr(shown.bound), RAN, shown.use(1)]
'''


def test_a_wire_shows_its_original_running_nothing_of_the_students(tmp_path: Path) -> None:
    """A wire's repr is told inside the hook: a partial's repr (and a bound method's) would show
    the object it holds by that object's class's repr, which student code can change; a wire is
    told by the name banned. The library's own call of a banned bound method reaches the
    method bound to its own object."""
    library, student = tmp_path / "library", tmp_path / "student"
    library.mkdir()
    student.mkdir()
    (library / "shown.py").write_text(SHOWN_LIBRARY)
    (student / "student.py").write_text(SHOWN_STUDENT)
    out = subprocess.run([sys.executable, "-c", SHOWN_RUNNER, str(student), str(library)],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == ["<function shown.fit>", "<function shown.bound>", [], "Model"], got


LOADED_SINCE = SAME_WIRES.split("for pats in bans.values():")[0] + r'''
pkg = Path(sys.argv[2])
(pkg / "fakelib").mkdir()
(pkg / "fakelib" / "__init__.py").write_text("def banned():\n    return 1\n")
(pkg / "fakelib" / "later.py").write_text("from fakelib import banned as again\n")
sys.path.insert(0, str(pkg))
import fakelib
pats = ("fakelib.banned",)
result = {"first": tripwire.plan(pats, audit.LIBRARY_TYPES),
          "same": tripwire.plan(pats, audit.LIBRARY_TYPES)}
import fakelib.later  # loaded after the plan, as a zygote below the planning one loads its own
install = lambda: placed(tripwire.install(pats, "/tmp", audit.LIBRARY_TYPES))
result["applied"] = in_child(install)
result["again"] = tripwire.plan(pats, audit.LIBRARY_TYPES)
result["replanned"] = in_child(install)
print(json.dumps(result))
'''


def test_a_module_loaded_after_a_plan_is_wired_whether_the_plan_is_made_again_or_not(
        tmp_path: Path) -> None:
    """A plan is made again by a zygote that loaded modules since it was made (a zygote below
    the one that made it), so that its workers read nothing of sys.modules to catch up; a worker
    that puts a plan in place with a module loaded since still wires it; nothing loaded since,
    the plan is the same."""
    import json

    out = subprocess.run([sys.executable, "-c", LOADED_SINCE, str(ROOT), str(tmp_path)],
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert (got["first"], got["same"], got["again"]) == (True, False, True), got
    assert "fakelib.later.again -> fakelib.banned" in got["applied"], got
    assert got["replanned"] == got["applied"], got


FORGET = r'''
import sys
import grader.isolation.worker as worker
import json.decoder, email.message
holder = type(sys)("holder")
holder.json, holder.decoder = json, json.decoder
sys.modules["holder"] = holder
worker.forget(("json", "not_loaded"))
worker.forget(("not_loaded_either",))  # nothing of it loaded: nothing changes
print(sorted(n for n in sys.modules if n == "json" or n.startswith(("json.", "email"))))
print(sorted(vars(holder)))
'''


def test_a_fresh_interpreters_banned_library_is_forgotten_with_what_holds_it() -> None:
    """A worker started as a fresh interpreter drops what the grader's start-up loaded of a
    library its topic goes without: the package, the modules under it, and every module's
    attribute holding one of them; other libraries stay."""
    out = subprocess.run([sys.executable, "-c", FORGET], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    modules, attrs = out.stdout.strip().splitlines()[-2:]
    assert "json" not in modules and "email.message" in modules, modules
    assert "json" not in attrs and "decoder" not in attrs and "__name__" in attrs, attrs
