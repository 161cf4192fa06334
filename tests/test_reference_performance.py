"""Cross-checks of the performance reference and the public baseline against torch's own conv2d,
nn.LSTM and scaled_dot_product_attention, the memory the reference's attention holds, and the
banned-call list against what the reference, baseline and alternatives use."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.grading import banned
from grader.course import Course

ROOT = Path(__file__).resolve().parents[1]
COURSE = Course(ROOT)
TOL = {torch.float64: {"rtol": 1e-10, "atol": 1e-12}, torch.float32: {"rtol": 1e-5, "atol": 2e-5}}
DTYPES = [torch.float64, torch.float32]


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load(ROOT / "reference/performance/solution.py", "performance_reference")
base = _load(ROOT / "assignments/performance/baseline.py", "performance_baseline")
IMPLEMENTATIONS = [pytest.param(ref, id="reference"), pytest.param(base, id="baseline")]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,C,H,W,F_,KH,KW,stride,pad", [
    (2, 3, 7, 9, 4, 3, 2, 1, 0),
    (1, 2, 8, 7, 3, 3, 3, 2, 1),
    (3, 1, 10, 11, 2, 3, 2, 3, 2),
    (2, 4, 5, 4, 5, 5, 4, 1, 0),  # the kernel covers the input
    (1, 5, 4, 6, 3, 1, 1, 1, 0),
])
def test_conv2d_fast_matches_torch(impl, dtype, N, C, H, W, F_, KH, KW, stride, pad) -> None:
    g = torch.Generator().manual_seed(N * 100 + H)
    x = torch.randn(N, C, H, W, generator=g, dtype=dtype)
    w = torch.randn(F_, C, KH, KW, generator=g, dtype=dtype)
    b = torch.randn(F_, generator=g, dtype=dtype)
    got = impl.conv2d_fast(x, w, b, stride, pad)
    assert got.dtype == dtype
    torch.testing.assert_close(got, F.conv2d(x, w, b, stride, pad), **TOL[dtype])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T,B,I,H", [(7, 3, 5, 4), (1, 2, 3, 5), (6, 1, 2, 7), (40, 4, 6, 8)])
def test_lstm_sequence_fast_matches_nn_lstm(impl, dtype, T, B, I, H) -> None:
    torch.manual_seed(T + B)
    lstm = nn.LSTM(I, H).to(dtype)
    x = torch.randn(T, B, I, dtype=dtype)
    h0, c0 = torch.randn(B, H, dtype=dtype), torch.randn(B, H, dtype=dtype)
    with torch.no_grad():
        out, (h_T, c_T) = lstm(x, (h0[None], c0[None]))
        got, (got_h, got_c) = impl.lstm_sequence_fast(
            x, h0, c0, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
    torch.testing.assert_close(got, out, **TOL[dtype])
    torch.testing.assert_close(got_h, h_T[0], **TOL[dtype])
    torch.testing.assert_close(got_c, c_T[0], **TOL[dtype])


def test_lstm_sequence_fast_leaves_its_inputs_alone() -> None:
    args = [torch.randn(5, 2, 3), torch.randn(2, 4), torch.randn(2, 4), torch.randn(16, 3),
            torch.randn(16, 4), torch.randn(16), torch.randn(16)]
    copies = [a.clone() for a in args]
    ref.lstm_sequence_fast(*args)
    assert all(torch.equal(a, c) for a, c in zip(args, copies))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lead,Lq,Lk", [((2, 3), 5, 7), ((), 1, 9), ((2,), 700, 650),
                                        ((2,), 300, 1100), ((1,), 1100, 300)])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_fast_matches_torch(impl, dtype, lead, Lq, Lk, causal) -> None:
    g = torch.Generator().manual_seed(Lq + Lk)
    q = torch.randn(*lead, Lq, 16, generator=g, dtype=dtype)
    k = torch.randn(*lead, Lk, 16, generator=g, dtype=dtype)
    v = torch.randn(*lead, Lk, 8, generator=g, dtype=dtype)
    got = impl.attention_fast(q, k, v, causal)
    assert got.shape == (*lead, Lq, 8) and got.dtype == dtype
    torch.testing.assert_close(got, F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                               **TOL[dtype])


def test_attention_fast_reference_is_stable_for_large_scores() -> None:
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 600, 8, generator=g, dtype=torch.float64) for _ in range(3))
    got = ref.attention_fast(q * 300, k, v, True)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, F.scaled_dot_product_attention(q * 300, k, v, is_causal=True),
                               **TOL[torch.float64])


# Peak resident memory of one call in a fresh interpreter, above what it held before.
_PEAK_SCRIPT = '''
import importlib.util, json, sys, torch
def load(path):
    spec = importlib.util.spec_from_file_location("m", path)
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
impl = load(sys.argv[1])
torch.set_num_threads(1)
q, k, v = (torch.randn(2, 4096, 32) for _ in range(3))
impl.attention_fast(q[:, :64], k[:, :64], v[:, :64], True)  # allocator and kernels warmed up
before = hwm()
impl.attention_fast(q, k, v, True)
print(json.dumps(hwm() - before))
'''


def _peak_bytes(path: Path) -> int:
    proc = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(path)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_attention_fast_never_holds_the_whole_score_matrix() -> None:
    """On a CPU as on a GPU: the reference holds blocks of scores, the baseline all of them."""
    scores = 2 * 4096 * 4096 * 4  # 128 MiB of float32 scores
    reference_peak = _peak_bytes(ROOT / "reference/performance/solution.py")
    baseline_peak = _peak_bytes(ROOT / "assignments/performance/baseline.py")
    assert baseline_peak >= scores, "the baseline should hold the whole score matrix"
    # A factor of two below the whole matrix on both counts: the reference's blocks of scores
    # take a quarter of it, and the resident figure moves by a few MB with what the interpreter
    # pages in, so the bound is not drawn at the quarter itself.
    assert reference_peak <= scores / 2 and reference_peak <= baseline_peak / 2, \
        (reference_peak, baseline_peak, scores)


# ------------------------------------------------------------------------------ banned calls

def _banned() -> tuple[str, ...]:
    return COURSE.config("performance").banned_names


@pytest.mark.parametrize("path", [
    ROOT / "reference/performance/solution.py",
    ROOT / "assignments/performance/baseline.py",
    *COURSE.alternatives("performance"),
], ids=lambda p: p.stem)
def test_reference_baseline_and_alternatives_use_no_banned_call(path: Path) -> None:
    assert banned.scan(path.read_text(), _banned()) == []


@pytest.mark.parametrize("source,name", [
    ("import torch.nn.functional as F\ndef conv2d_fast(x, w, b):\n    return F.conv2d(x, w, b)",
     "torch.nn.functional.conv2d"),
    ("import torch\ndef conv2d_fast(x, w, b):\n    return torch.conv3d(x[:, :, None], w, b)",
     "torch.conv3d"),
    ("import torch\ndef lstm_sequence_fast(*a):\n    return torch._VF.lstm(*a)", "torch._VF.lstm"),
    (("from torch.nn.attention.flex_attention import flex_attention\n"
      "def attention_fast(q, k, v):\n    return flex_attention(q, k, v)"),
     "torch.nn.attention.flex_attention.flex_attention"),
    (("import torch\ndef attention_fast(q, k, v):\n"
      "    return torch.ops.aten._scaled_dot_product_flash_attention(q, k, v)[0]"),
     "torch.ops.aten._scaled_dot_product_flash_attention"),
])
def test_banned_list_catches_the_shortcuts(source: str, name: str) -> None:
    assert name in [f.name for f in banned.scan(source, _banned())]


def test_the_speed_report_says_how_time_grows_over_the_configured_sizes(
        engine, tmp_path: Path) -> None:
    """Each speed test with a sweep of sizes reports the student's and the baseline's time at
    every size of it, the graded size taken from the scored measurement, and says so."""
    import shutil

    from grader.grading.engine import Options

    sub = tmp_path / "sub"
    sub.mkdir()
    shutil.copyfile(COURSE.solution("performance"), sub / "performance.py")
    result = engine.grade(sub, tmp_path / "out", Options(topics=("performance",), seed=3))
    assert not result.error, result.error
    speed = COURSE.config("performance").extra["speed"]
    swept = {fn: spec["sweep"] for fn, spec in speed.items()
             if isinstance(spec, dict) and spec.get("sweep")}
    assert swept
    for fn, sweep in swept.items():
        [test] = [t for t in result.tests if t.name == f"test_{fn}_speed"]
        [(dimension, sizes)] = sweep.items()
        grown = test.details["speed"]["scaling"]
        assert grown["dimension"] == dimension and grown["sizes"] == sizes, grown
        assert all(t > 0 for t in grown["student_s"] + grown["baseline_s"]), grown
        where = ", ".join(str(n) for n in sizes)
        assert f"Over {dimension} = {where}, your time grows as {dimension}^" in test.message
