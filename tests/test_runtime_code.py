"""Code a module builds and runs at run time: flagged by what was done, whatever name reached the
runner, with the route; its source (or listing) kept for the similarity comparison; and nothing
flagged for what libraries do on their own or for code that is a literal of the module.

Each case is a toy submission whose ``scale`` is a classmate's, run from a string or a code object
by one route, graded by the real engine.
"""

from __future__ import annotations

import base64
import marshal
import textwrap
from pathlib import Path

import pytest

from grader.isolation.codelisting import MARK

from test_engine import REFERENCE, grade, with_function

COPIED = "def scale(x, c):\n    y = c * x\n    return y  # the classmate's\n"
ENCODED = base64.b64encode(COPIED.encode()).decode()
MARSHALLED = base64.b64encode(marshal.dumps(compile(COPIED, "<copied>", "exec"))).decode()
PRELUDE = f"import base64 as _b\n_SRC = _b.b64decode({ENCODED!r}).decode()\n"

# route name -> (module text added after the reference, what the flag says)
ROUTES = {
    "getattr_builtins_exec": (PRELUDE + "import builtins\n"
                              "getattr(builtins, 'ex' + 'ec')(_SRC, globals())\n",
                              "a string run as code"),
    "vars_builtins": (PRELUDE + "import builtins\nvars(builtins)['ex' + 'ec'](_SRC, globals())\n",
                      "a string run as code"),
    "dunder_builtins": (PRELUDE + "_b2 = __builtins__\n"
                        "(_b2['exec'] if isinstance(_b2, dict) else _b2.exec)(_SRC, globals())\n",
                        "a string run as code"),
    "a_frames_globals": (PRELUDE + "import sys\n_g = sys._getframe().f_globals\n"
                         "_r = _g['__builtins__']\n"
                         "(_r['exec'] if isinstance(_r, dict) else _r.exec)(_SRC, _g)\n",
                         "a string run as code"),
    "compile_then_eval": (PRELUDE + "eval(compile(_SRC, 'x', 'exec'))\n", "a string run as code"),
    "function_from_code": (PRELUDE + "import types\n"
                           "scale = types.FunctionType(compile(_SRC, 'x', 'exec').co_consts[0], "
                           "globals())\n", "a string run as code"),
    "marshal": (f"import base64 as _b, marshal as _m\n"
                f"exec(_m.loads(_b.b64decode({MARSHALLED!r})))\n", "a code object run"),
    "a_loader_of_its_own": (PRELUDE + textwrap.dedent("""
        import importlib.abc, importlib.util
        class _Loader(importlib.abc.SourceLoader):
            def get_filename(self, name):
                return "copied.py"
            def get_data(self, path):
                return _SRC.encode()
        _spec = importlib.util.spec_from_loader("copied", _Loader())
        _mod = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_mod)
        scale = _mod.scale
        """), "a module made at run time"),
    "in_a_call": (PRELUDE + "def scale(x, c):\n    ns = {}\n"
                  "    getattr(__import__('builtins'), 'exec')(_SRC, ns)\n"
                  "    return ns['scale'](x, c)\n", "a string run as code"),
    # A thread of the student's whose target is the runner: no frame of theirs is on its stack.
    "a_threads_target": (PRELUDE + "import threading\n_ns = {}\n"
                         "_t = threading.Thread(target=exec, args=(_SRC, _ns))\n"
                         "_t.start()\n_t.join()\nscale = _ns['scale']\n",
                         "a string run as code"),
}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_code_built_at_run_time_is_flagged_with_its_route_and_kept(toy_engine, route: str,
                                                                   tmp_path: Path) -> None:
    added, said = ROUTES[route]
    result = grade(toy_engine, tmp_path, with_function("scale", "") + "\n" + added)
    toy = result.topic("toy")
    assert toy.score == toy.max_score  # the copy works: no points lost for it by itself
    assert any(said in d for d in toy.dynamic), (toy.dynamic, toy.note)
    assert said in toy.note and "costs no points by itself" in toy.note
    if route in ("marshal",):
        assert any(c.startswith(MARK) and "BINARY_OP *" in c for c in toy.runtime_code), \
            toy.runtime_code
    else:
        assert any("the classmate's" in c for c in toy.runtime_code), toy.runtime_code


HONEST = {
    "a_literal_exec": "exec('def scale(x, c):\\n    return c * x\\n')\n",
    "library_code_generation": textwrap.dedent("""
        import collections, dataclasses
        Point = collections.namedtuple("Point", "x y")
        @dataclasses.dataclass
        class Box:
            width: float = 1.0
        def scale(x, c):
            return Box(float(Point(1, 2).x)).width * c * x
        """),
    "torchs_own_machinery": textwrap.dedent("""
        import torch
        def scale(x, c):
            t = torch.tensor(x, requires_grad=True)
            (g,) = torch.autograd.grad((t * c).sum(), t)
            torch.fx.symbolic_trace(torch.nn.Linear(2, 2))
            return g.numpy() * x
        """),
    # Python prints the traceback of an exception a thread ends with, and parses its lines
    # (where the carets go) as it does: the interpreter's doing, with only library frames above.
    "an_exception_that_ends_a_thread": textwrap.dedent("""
        import threading
        def _check(n):
            if n < 0:
                raise ValueError(f"n must be positive, got {n}")
        def scale(x, c):
            t = threading.Thread(target=_check, args=(-1,))
            t.start()
            t.join()
            return c * x
        """),
    # ... and that of an exception a finaliser raises, ignored.
    "an_exception_in_a_finaliser": textwrap.dedent("""
        class _Buffer:
            def __del__(self):
                raise RuntimeError("already closed")
        def scale(x, c):
            _Buffer()
            return c * x
        """),
}


@pytest.mark.parametrize("case", sorted(HONEST))
def test_nothing_is_flagged_for_literals_or_for_what_libraries_run(toy_engine, case: str,
                                                                   tmp_path: Path) -> None:
    result = grade(toy_engine, tmp_path, with_function("scale", "") + "\n" + HONEST[case])
    toy = result.topic("toy")
    assert toy.score == toy.max_score, [t.message for t in result.tests if t.outcome != "passed"]
    run_time = [d for d in toy.dynamic if "run" in d and "(line" in d or "built at" in d]
    assert not run_time and "built at run time" not in toy.note, (toy.dynamic, toy.note)
    assert toy.runtime_code == ()


def test_the_reference_itself_builds_nothing_at_run_time(toy_engine, tmp_path: Path) -> None:
    result = grade(toy_engine, tmp_path, REFERENCE)
    assert result.topic("toy").runtime_code == () and result.topic("toy").dynamic == ()
