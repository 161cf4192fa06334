"""The worker's audit hook: libraries a topic bans are not importable, raw-memory and
introspection routes are refused, run-time exec is noted, and honest code keeps its grade.

Each case is a submission graded by the real engine: the reference solution of a topic with one
function replaced by what the case tries.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grader.course import Course
from grader.grading.engine import Options

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
SEED = 20261121


def _grade(engine, topic: str, source: str, tmp_path: Path):
    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / f"{topic}.py").write_text(source)
    result = engine.grade(sub, tmp_path / "out", Options(topics=(topic,), seed=SEED))
    assert not result.error, result.error
    return result


def _with(topic: str, override: str) -> str:
    return COURSE.solution(topic).read_text() + "\n\n" + textwrap.dedent(override)


def _failed(result, function: str) -> list:
    return [t for t in result.tests if t.outcome != "passed" and
            (function in t.functions or function in t.name)]


# ------------------------------------------------------------- a library banned altogether

TORCH_ROUTES = {
    "import_in_the_function": """
        def relu(x):
            import torch
            return torch.relu(torch.from_numpy(x)).numpy()
        """,
    "dunder_import_of_a_built_name": """
        def relu(x):
            t = __import__("to" + "rch")
            return t.relu(t.from_numpy(x)).numpy()
        """,
    "importlib": """
        def relu(x):
            import importlib
            t = importlib.import_module("torch.nn.functional")
            return t.relu(__import__("torch").from_numpy(x)).numpy()
        """,
    "sys_modules": """
        def relu(x):
            import sys
            t = sys.modules["torch"]
            return t.relu(t.from_numpy(x)).numpy()
        """,
    "any_module_that_holds_it": """
        def relu(x):
            import sys, types
            for m in list(sys.modules.values()):
                for v in list(vars(m).values()) if isinstance(m, types.ModuleType) else ():
                    if isinstance(v, types.ModuleType) and v.__name__.split(".")[0] == "torch":
                        return v.relu(v.from_numpy(x)).numpy()
            raise LookupError("no torch anywhere")
        """,
}


@pytest.mark.parametrize("route", sorted(TORCH_ROUTES))
def test_a_topic_that_bans_torch_has_no_torch_to_reach(engine, route: str,
                                                        tmp_path: Path) -> None:
    result = _grade(engine, "activations", _with("activations", TORCH_ROUTES[route]), tmp_path)
    hit = _failed(result, "relu")
    assert hit, f"{route}: relu kept its points"
    assert not [t for t in result.tests if t.outcome == "error"]
    others = [t for t in result.tests if "relu" not in t.functions and "relu" not in t.name]
    assert others and all(t.outcome == "passed" for t in others), \
        [(t.name, t.message[:200]) for t in others if t.outcome != "passed"]


def test_importing_a_banned_library_at_the_top_says_it_is_not_available(engine,
                                                                       tmp_path: Path) -> None:
    source = "from scipy.signal import correlate2d\n" + COURSE.solution("conv").read_text()
    result = _grade(engine, "conv", source, tmp_path)
    assert result.topic("conv").score == 0
    assert any("scipy.signal is not available in this exercise" in t.message or
               "scipy.signal" in t.message for t in result.tests)


def test_the_autograd_topic_cannot_borrow_torchs_engine(engine, tmp_path: Path) -> None:
    source = _with("autograd", """
        def run_program(program, inputs, *args, **kwargs):
            import torch
            engine = torch._C._ImperativeEngine()
            raise RuntimeError(str(engine))
        """)
    result = _grade(engine, "autograd", source, tmp_path)
    hit = _failed(result, "")
    assert hit and any("torch is not available in this exercise" in t.message for t in hit), \
        [t.message[:200] for t in hit][:3]


# --------------------------------------------------------------- introspection and raw memory

INTROSPECTION = {
    "gc_walk": """
        def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
            import gc
            gc.get_objects()
            return _reference_lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh)
        """,
    "gc_referrers": """
        def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
            import gc
            gc.get_referrers(x)
            return _reference_lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh)
        """,
    "object_from_an_address": """
        def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
            import _ctypes
            _ctypes.PyObj_FromPtr(id(x))
            return _reference_lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh)
        """,
    "ctypes_from_address": """
        def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
            import ctypes
            ctypes.py_object.from_address(id(x))
            return _reference_lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh)
        """,
    "code_object_forged": """
        def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
            import torch
            f = lambda: None
            f.__code__ = f.__code__.replace(co_filename=torch.__file__)
            return _reference_lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh)
        """,
    "frames_of_other_threads": """
        def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
            import sys
            sys._current_frames()
            return _reference_lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh)
        """,
    "a_trace_function": """
        def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
            import sys
            sys.settrace(lambda *a: None)
            return _reference_lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh)
        """,
}


@pytest.mark.parametrize("route", sorted(INTROSPECTION))
def test_raw_memory_and_introspection_routes_are_refused(engine, route: str,
                                                         tmp_path: Path) -> None:
    source = COURSE.solution("rnn").read_text() + "\n_reference_lstm_cell = lstm_cell\n" + \
        textwrap.dedent(INTROSPECTION[route])
    result = _grade(engine, "rnn", source, tmp_path)
    hit = _failed(result, "lstm_cell")
    assert hit, f"{route}: lstm_cell kept its points"
    assert any("not available while grading" in t.message for t in hit), \
        [t.message[:300] for t in hit][:2]


def test_honest_uses_of_the_same_modules_keep_full_marks(engine, tmp_path: Path) -> None:
    """Frames of one's own, a dataclass and a namedtuple (exec inside the standard library),
    sys._getframe(0), inspect of one's own function: none is refused."""
    source = COURSE.solution("rnn").read_text() + textwrap.dedent("""
        import collections, dataclasses, inspect, sys
        _reference_lstm_cell = lstm_cell
        Pair = collections.namedtuple("Pair", "h c")
        @dataclasses.dataclass
        class _State:
            h: object
            c: object
        def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
            assert sys._getframe(0).f_code.co_name == "lstm_cell"
            assert inspect.signature(_reference_lstm_cell).parameters
            s = _State(*_reference_lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh))
            return tuple(Pair(s.h, s.c))
        """)
    result = _grade(engine, "rnn", source, tmp_path)
    t = result.topic("rnn")
    assert t.score == t.max_score, [(x.name, x.message[:200]) for x in result.tests
                                    if x.outcome != "passed"]


def test_a_native_library_is_not_there_as_on_a_machine_without_it(engine,
                                                                    tmp_path: Path) -> None:
    """Loading a native library fails with the ``OSError`` of one that is not there, so code
    that probes for an optional one goes on without it, as on a machine without it: a CUDA
    build's ``torch.cuda.device_count()`` asks NVML's library, and a refusal no ``except
    OSError`` catches failed every test of the module. Nothing is loaded either way, and the
    ``OSError`` is the built-in one, whatever the student puts in ``builtins``."""
    source = COURSE.solution("rnn").read_text() + textwrap.dedent("""
        import builtins, ctypes, torch
        GPUS = torch.cuda.device_count()
        try:
            NVML, WHY = ctypes.CDLL("libnvidia-ml.so.1"), ""
        except OSError as exc:
            NVML, WHY = None, str(exc)
        _reference_lstm_cell = lstm_cell
        RAN = []

        class _Mine(OSError):
            def __init__(self, *args):
                RAN.append(args)

        def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
            assert NVML is None and GPUS == 0, (NVML, GPUS)
            assert "no native library is loaded while grading" in WHY, WHY
            real = builtins.OSError
            builtins.OSError = _Mine
            try:
                ctypes.CDLL(None)
                raise AssertionError("the process itself was loaded")
            except real as exc:
                assert type(exc) is real, type(exc)
            finally:
                builtins.OSError = real
            assert not RAN, RAN
            return _reference_lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh)
        """)
    result = _grade(engine, "rnn", source, tmp_path)
    t = result.topic("rnn")
    assert t.score == t.max_score, [(x.name, x.message[:300]) for x in result.tests
                                    if x.outcome != "passed"]


# ------------------------------------------------------------------------ run-time exec noted

@pytest.mark.parametrize("run", [
    "exec(_src, ns)",
    # importlib's own runner, which the hook knows by its code: called by the student, theirs
    "__import__('importlib._bootstrap')._bootstrap._call_with_frames_removed(exec, _src, ns)",
])
def test_code_run_from_an_encoded_string_is_noted_for_review(engine, run: str,
                                                             tmp_path: Path) -> None:
    import base64

    hidden = base64.b64encode(textwrap.dedent("""
        def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
            return _reference_lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh)
        """).encode()).decode()
    source = COURSE.solution("rnn").read_text() + "\n_reference_lstm_cell = lstm_cell\n" + \
        f"import base64 as _b\n_src = _b.b64decode({hidden!r})\n" + \
        f"def lstm_cell(*args):\n    ns = dict(globals())\n    {run}\n" + \
        "    return ns['lstm_cell'](*args)\n"
    result = _grade(engine, "rnn", source, tmp_path)
    t = result.topic("rnn")
    assert t.score == t.max_score  # no points lost for it by itself
    assert any("a string run as code" in d for d in t.dynamic), (t.dynamic, t.note)
    assert any("return _reference_lstm_cell(" in code for code in t.runtime_code), \
        t.runtime_code  # the decoded source, for the similarity comparison
    assert "a string run as code" in t.note


def test_a_library_in_site_packages_outside_the_installation_keeps_its_module_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Torch in the user's site-packages, or in another environment's that a .pth file adds (as
    # `GRADER_KEEP_TORCH=1 ./run` does for an interpreter that is a virtual environment): its
    # files are the library's, named by their path below that folder. Unnamed, a module under
    # a banned call (torch.optim._multi_tensor where torch.optim is banned) loaded in the worker.
    import os

    from grader.isolation import audit

    site = tmp_path / "elsewhere" / "site-packages"
    (site / "pkgx").mkdir(parents=True)
    for name in ("__init__.py", "sub.py"):
        (site / "pkgx" / name).write_text("")
    monkeypatch.syspath_prepend(str(site))
    checker = audit._Checker(student_dir=str(tmp_path / "student"), banned=frozenset(), files=(),
                             on_exec=None, gates={}, library=set(), ours=set(), keep=[])
    sub = os.path.realpath(site / "pkgx" / "sub.py")
    assert checker.library_file(sub)
    assert audit._dotted(sub, checker.search) == "pkgx.sub"
    assert audit._dotted(os.path.realpath(site / "pkgx" / "__init__.py"), checker.search) == "pkgx"
