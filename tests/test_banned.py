"""Banned APIs: the static scan (names resolved through imports, findings tied to functions) and
the worker's trip-wires (a call from the student's code, however its name was reached)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.grading.banned import affected, describe, matches, propagate, scan


@pytest.mark.parametrize(("name", "pattern", "hit"), [
    ("numpy.polyfit", "numpy.polyfit", True),
    ("sklearn.linear_model.Ridge", "sklearn", True),
    ("torch.nn.LSTMCell", "torch.nn.LSTM*", True),
    ("torch.nn.Linear", "torch.nn.LSTM*", False),
    ("numpy.linalg.solve", "numpy.polyfit", False),
    ("torch.nn.functional.linear", "torch.nn.functional.scaled_dot_product_attention", False),
    ("torchvision", "torch", False),
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
