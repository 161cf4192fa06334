"""The performance topic's ladder of solutions (reference/performance/ladder, graded for speed by
bench/bench_ladder.py): every rung says which rung it is, computes what torch's own conv2d, LSTM
and attention compute in float32 and float64, and uses no banned call."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.course import Course
from grader.grading import banned

ROOT = Path(__file__).resolve().parents[1]
LADDER = ROOT / "reference" / "performance" / "ladder"
FUNCTIONS = ("conv2d_fast", "lstm_sequence_fast", "attention_fast")
RUNGS = [pytest.param(fn, p, id=f"{fn}-{p.stem}") for fn in FUNCTIONS
         for p in sorted((LADDER / fn).glob("*.py"))]
TOL = {torch.float64: {"rtol": 1e-10, "atol": 1e-12}, torch.float32: {"rtol": 1e-5, "atol": 2e-5}}
DTYPES = [torch.float64, torch.float32]


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"rung_{path.parent.name}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_function_has_a_full_ladder() -> None:
    for fn in FUNCTIONS:
        names = [p.stem for p in sorted((LADDER / fn).glob("*.py"))]
        assert names[0] == "1_baseline" and names[1] == "2_baseline_rearranged", names
        assert names[-1].endswith("classic_win") and len(names) >= 4, names


@pytest.mark.parametrize(("fn", "path"), RUNGS)
def test_each_rung_says_which_rung_it_is(fn: str, path: Path) -> None:
    first = path.read_text().splitlines()[0]
    number = path.stem.split("_")[0]
    assert first.startswith(f'"""Rung {number}, '), first
    assert banned.scan(path.read_text(), Course(ROOT).config("performance").banned_names) == []


def _conv(impl: ModuleType, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(5)
    for N, C, H, W, Fo, KH, KW, stride, pad in [(2, 3, 7, 9, 4, 3, 2, 1, 0),
                                                 (1, 2, 8, 7, 3, 3, 3, 2, 1),
                                                 (3, 1, 10, 11, 2, 3, 2, 3, 2)]:
        x = torch.randn(N, C, H, W, generator=g, dtype=dtype)
        w = torch.randn(Fo, C, KH, KW, generator=g, dtype=dtype)
        b = torch.randn(Fo, generator=g, dtype=dtype)
        got = impl.conv2d_fast(x, w, b, stride, pad)
        assert got.dtype == dtype
        torch.testing.assert_close(got, F.conv2d(x, w, b, stride, pad), **TOL[dtype])


def _lstm(impl: ModuleType, dtype: torch.dtype) -> None:
    for T, B, I, H in [(7, 3, 5, 4), (1, 2, 3, 5)]:
        torch.manual_seed(T + B)
        lstm = nn.LSTM(I, H).to(dtype)
        x = torch.randn(T, B, I, dtype=dtype)
        h0, c0 = torch.randn(B, H, dtype=dtype), torch.randn(B, H, dtype=dtype)
        with torch.no_grad():
            out, (h_T, c_T) = lstm(x, (h0[None], c0[None]))
            got, (got_h, got_c) = impl.lstm_sequence_fast(
                x, h0, c0, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
                lstm.bias_hh_l0)
        for a, e in ((got, out), (got_h, h_T[0]), (got_c, c_T[0])):
            torch.testing.assert_close(a, e, **TOL[dtype])


def _attention(impl: ModuleType, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(7)
    for lead, Lq, Lk in [((2,), 700, 650), ((2,), 300, 1100), ((1,), 1100, 300)]:
        q = torch.randn(*lead, Lq, 16, generator=g, dtype=dtype)
        k = torch.randn(*lead, Lk, 16, generator=g, dtype=dtype)
        v = torch.randn(*lead, Lk, 8, generator=g, dtype=dtype)
        for causal in (False, True):
            torch.testing.assert_close(
                impl.attention_fast(q, k, v, causal),
                F.scaled_dot_product_attention(q, k, v, is_causal=causal), **TOL[dtype])


CHECKS = {"conv2d_fast": _conv, "lstm_sequence_fast": _lstm, "attention_fast": _attention}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("fn", "path"), RUNGS)
def test_every_rung_is_correct(fn: str, path: Path, dtype: torch.dtype) -> None:
    CHECKS[fn](_load(path), dtype)


def _bench_ladder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_ladder", ROOT / "bench" / "bench_ladder.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_ladder", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("chosen", [["attention_fast"], ["conv2d_fast", "lstm_sequence_fast"]])
def test_the_ladder_grades_only_the_chosen_functions_tests(chosen: list[str]) -> None:
    # A rung's grading runs only its function's hidden tests (on a GPU host each attention rung
    # would otherwise pay the conv and LSTM speed tests); the tests kept are whole, decorators
    # and all, and the helpers stay.
    import ast

    ladder = _bench_ladder()
    source = (ROOT / "reference" / "performance" / "test_hidden.py").read_text()
    kept = ladder.tests_of(source, chosen)

    def tests(text: str) -> dict[str, str]:
        tree = ast.parse(text)
        return {n.name: ast.unparse(n) for n in tree.body
                if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}

    shorts = {ladder.SHORT[fn] for fn in chosen}
    before, after = tests(source), tests(kept)
    assert after == {name: code for name, code in before.items()
                     if any(name.startswith(f"test_{s}") for s in shorts)}
    assert after and all(any(name.startswith(f"test_{s}") for s in shorts) for name in after)
    helpers = {n.name for n in ast.parse(source).body
               if isinstance(n, ast.FunctionDef) and not n.name.startswith("test_")}
    assert helpers <= {n.name for n in ast.parse(kept).body if isinstance(n, ast.FunctionDef)}
    assert ladder.tests_of(source, list(ladder.FUNCTIONS)) == source
