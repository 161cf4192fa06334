"""Banned APIs: the static scan (names resolved through imports, findings tied to functions) and
the worker's trip-wires (a call from the student's code, however its name was reached)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from grader.grading.banned import (affected, describe, dynamic_access, matches, propagate,
                                   scan)


@pytest.mark.parametrize(("name", "pattern", "hit"), [
    ("numpy.polyfit", "numpy.polyfit", True),
    ("sklearn.linear_model.Ridge", "sklearn", True),
    ("torch.nn.LSTMCell", "torch.nn.LSTM*", True),
    ("torch.nn.Linear", "torch.nn.LSTM*", False),
    ("numpy.linalg.solve", "numpy.polyfit", False),
    ("torch.nn.functional.linear", "torch.nn.functional.scaled_dot_product_attention", False),
    ("torchvision", "torch", False),
    ("torch.nn", "torch.nn", True),
    ("torch.nn.functional.relu", "torch.nn", True),
    ("torch.nnx.f", "torch.nn", False),
    ("torch", "torch.nn", False),
    ("numpy.linalg.lstsq", "numpy.*.lstsq", True),
    ("numpy.linalg.solve", "numpy.*.lstsq", False),
    ("torch.nn.GRUCell.forward", "torch.nn.GRU?ell", True),
])
def test_patterns(name: str, pattern: str, hit: bool) -> None:
    assert matches(name, pattern) is hit


SOURCE = '''
import numpy as np
import torch.nn.functional as F
from torch import nn
from sklearn.linear_model import Ridge as R
import importlib

def fit(x, y):
    return np.polyfit(x, y, 1)

def attend(q, k, v):
    return F.scaled_dot_product_attention(q, k, v)

def ok(x):
    return np.linalg.solve(x, x) + F.linear(x, x).sum() + np.pad(x, 1)

def cells():
    return nn.LSTMCell(3, 4)

def sneaky():
    return importlib.import_module("sklearn.linear_model")

model = R()
'''

PATTERNS = ("numpy.polyfit", "sklearn", "torch.nn.functional.scaled_dot_product_attention",
            "torch.nn.LSTM*")


def test_scan_resolves_aliases_and_names_the_function() -> None:
    found = {(f.name, f.function) for f in scan(SOURCE, PATTERNS)}
    assert ("numpy.polyfit", "fit") in found
    assert ("torch.nn.functional.scaled_dot_product_attention", "attend") in found
    assert ("torch.nn.LSTMCell", "cells") in found
    assert ("sklearn.linear_model", "sneaky") in found
    assert ("sklearn.linear_model.Ridge", None) in found  # the import at module level
    assert not any(f.function == "ok" for f in scan(SOURCE, PATTERNS))


def test_scans_of_one_module_for_other_names_do_not_mix() -> None:
    # A grading scans the same module several times (the topic's bans, torch's compiler): each
    # scan finds what its own patterns name, whichever ran before it.
    alone = scan(SOURCE, ("numpy.polyfit",))
    every = scan(SOURCE, PATTERNS)
    assert [(f.name, f.function) for f in alone] == [("numpy.polyfit", "fit")]
    assert scan(SOURCE, ("numpy.polyfit",)) == alone
    assert {f.name for f in every} > {f.name for f in alone}
    assert scan(SOURCE, ("torch.compile",)) == []


def test_only_tests_calling_an_offending_function_are_affected() -> None:
    findings = [f for f in scan(SOURCE, PATTERNS) if f.function is not None]
    assert {f.function for f in affected(findings, ["fit"])} == {"fit"}
    assert affected(findings, ["ok"]) == []
    module_level = scan(SOURCE, PATTERNS)
    assert any(f.function is None for f in affected(module_level, ["ok"]))


def test_message_names_call_and_line() -> None:
    f = next(f for f in scan(SOURCE, PATTERNS) if f.function == "fit")
    text = describe(f)
    assert "numpy.polyfit" in text and f"line {f.line}" in text and "fit" in text


def test_syntax_errors_and_empty_lists_find_nothing() -> None:
    assert scan("def f(:\n", PATTERNS) == []
    assert scan(SOURCE, ()) == []


def test_functions_reaching_a_banned_call_through_the_module_lose_their_tests_too() -> None:
    source = """
import torch

def lstm_cell(x):
    return torch.nn.LSTMCell(3, 4)(x)

def step(x):
    return lstm_cell(x)

def run_rnn(xs):
    return [step(x) for x in xs]

def unrelated(x):
    return x
"""
    found = propagate(scan(source, ("torch.nn.LSTM*",)), source)
    assert {f.function for f in found} == {"lstm_cell", "step", "run_rnn"}
    run = [f for f in affected(found, ["run_rnn"])]
    assert run and "which run_rnn calls" in describe(run[0]) and "in lstm_cell" in describe(run[0])
    assert affected(found, ["unrelated"]) == []



# Code that never runs while a module is graded (imported under its own name, its functions
# called): a self-check against the library under the main guard, imports for type hints only,
# annotations that are never evaluated, a fallback that binds the name to something else.
NEVER_RUN = {
    "main guard": 'if __name__ == "__main__":\n    import torch\n    print(torch.sigmoid(x))\n',
    "main guard, reversed": 'if "__main__" == __name__:\n    from numpy import polyfit\n',
    "type checking": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n",
    "typing.TYPE_CHECKING": "import typing\nif typing.TYPE_CHECKING:\n    import torch\n",
    "postponed annotations": ("from __future__ import annotations\nimport numpy\n"
                              "def f(x: numpy.polyfit) -> numpy.polyfit:\n    return x\n"
                              "y: numpy.polyfit = 0\n"),
    "string annotations": "def f(x: 'torch.Tensor') -> 'numpy.polyfit':\n    return x\n",
    "a name bound again": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                           "    import torch\ntorch = None\ndel torch\n"),
}
# The same code where the module can make it run after all: it is scanned (the line found).
MAY_RUN = {
    "__name__ rebound": ('__name__ = "__main__"\nif __name__ == "__main__":\n    import torch\n',
                         3),
    "__name__ set through the namespace": ('globals().update(x)\n'
                                           'if __name__ == "__main__":\n    import torch\n', 3),
    "code run from a string": ('exec(s)\nif __name__ == "__main__":\n    import torch\n', 3),
    "the module run as __main__": ('import runpy\nif __name__ == "__main__":\n'
                                   '    import torch\n', 3),
    "the module loaded again as __main__": ('from importlib import util\n'
                                            'if __name__ == "__main__":\n    import torch\n', 3),
    "TYPE_CHECKING set": ("import typing\ntyping.TYPE_CHECKING = True\n"
                          "if typing.TYPE_CHECKING:\n    import torch\n", 4),
    "the else branch": ('if __name__ == "__main__":\n    pass\nelse:\n    import torch\n', 4),
    "annotations evaluated": ("import torch as t\nimport numpy\n"
                              "def f(x: numpy.polyfit):\n    return x\n", 3),
    "a guard in a function": ('def f():\n    if __name__ == "__main__":\n'
                              '        import torch\n', 3),
}


@pytest.mark.parametrize("source", NEVER_RUN.values(), ids=list(NEVER_RUN))
def test_code_that_never_runs_while_graded_uses_nothing_banned(source: str) -> None:
    assert scan(source, ("torch", "numpy.polyfit")) == []


def test_code_that_never_runs_while_graded_reaches_nothing_dynamically() -> None:
    source = ('import numpy as np\nif __name__ == "__main__":\n    import inspect\n'
              '    print(getattr(np, name))\n')
    assert dynamic_access(source) == []
    assert [line for line, _ in dynamic_access(source.replace("__main__", "main"))] == [3, 4]


@pytest.mark.parametrize(("source", "line"), MAY_RUN.values(), ids=list(MAY_RUN))
def test_code_the_module_can_make_run_is_scanned(source: str, line: int) -> None:
    assert line in {f.line for f in scan(source, ("torch", "numpy.polyfit"))}



# A student's check of their work against what the topic bans, left in the module: by a banned
# function, a banned library and a banned operator (topic, the check).
SELF_CHECKS = {
    "function": ("linear_regression",
                 "import numpy as np\nx = np.arange(5.0)\nprint(np.polyfit(x, 2 * x + 1, 1))\n"),
    "library": ("activations", "import torch\nprint(torch.sigmoid(torch.zeros(3)))\n"),
    "operator": ("rnn", "import torch\nprint(torch.nn.LSTMCell(3, 4)(torch.zeros(1, 3)))\n"),
}


@pytest.mark.parametrize("guarded", [True, False], ids=["under the main guard", "at the top level"])
@pytest.mark.parametrize("kind", sorted(SELF_CHECKS))
def test_a_check_against_the_library_under_the_main_guard_costs_nothing(
        engine, tmp_path: Path, kind: str, guarded: bool) -> None:
    """Graded, the module is imported under its own name: the main guard's body never runs, so
    a check there uses nothing banned. The same check at the top level runs, and costs the
    topic's tests."""
    from grader.course import Course
    from grader.grading.engine import Options

    topic, check = SELF_CHECKS[kind]
    added = ('\nif __name__ == "__main__":\n' + textwrap.indent(check, "    ") if guarded
             else "\n" + check)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / f"{topic}.py").write_text(Course(ROOT).solution(topic).read_text() + added)
    result = engine.grade(tmp_path / "sub", tmp_path / "out", Options(topics=(topic,)))
    graded = result.topic(topic)
    failed = [t.message for t in result.tests if t.outcome != "passed"]
    if guarded:
        assert graded.score == graded.max_score, failed[:1]
        assert "banned" not in graded.flags
    else:
        assert graded.score == 0
        assert all("is not allowed in this exercise" in m for m in failed), failed[:1]


TRIPWIRE_SCRIPT = r'''
import sys, torch
from grader.isolation import audit, tripwire, worker

def run_all(student):  # library code: defined before the audit hook notes what is whose
    out = []
    for name in ("vf", "tanh", "norm", "lstm", "library_lstm"):
        try:
            getattr(student, name)()
            out.append(name + ":ok")
        except tripwire.BannedCall as exc:
            out.append(name + ":" + str(exc))
    return out

audit.record_library()
worker.arm(sys.argv[1], ("torch._VF", "torch.lstm*", "torch.nn.LSTM*"))
sys.path.insert(0, sys.argv[1])
import student
print("|".join(run_all(student)))
'''
STUDENT = '''import torch
def vf():
    return getattr(torch, "_V" + "F").tanh(torch.ones(2))
def tanh():
    return torch.tanh(torch.ones(2))  # the same object as _VF.tanh: allowed by its own name
def norm():
    return torch.norm(torch.ones(2))  # torch's own code calls _VF.norm
def lstm():
    return torch.nn.LSTMCell(2, 3)
def library_lstm():
    return torch.nn.Sequential(torch.nn.Linear(2, 2))
'''


ROOT = Path(__file__).resolve().parents[1]


def test_trip_wires_fire_for_the_student_only(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "student.py").write_text(STUDENT)
    out = subprocess.run([sys.executable, "-c", TRIPWIRE_SCRIPT, str(tmp_path)],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    got = dict(part.split(":", 1) for part in out.stdout.strip().split("|"))
    assert got["vf"] == "torch._VF.tanh is not allowed here (student.py, line 3)", out.stderr
    assert got["tanh"] == got["norm"] == got["library_lstm"] == "ok"
    assert got["lstm"] == "torch.nn.LSTMCell is not allowed here (student.py, line 9)"
