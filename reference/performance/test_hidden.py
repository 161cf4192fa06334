"""Hidden tests of the performance topic: each function first against the reference (float32 and
float64, several shapes), then its speed against the public baseline, timed from the trusted side
(grader.checks.timing), and on a GPU the peak memory of attention_fast for long sequences."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grader.checks import assert_close, expect_same, gpu, timing
from grader.course import load_topic_config
from grader.results.model import NOT_GRADED_GPU

CONFIG = load_topic_config(Path(__file__).with_name("grading.toml"))
SETTINGS = timing.Settings.from_config(CONFIG.extra.get("speed", {}))
DTYPES = [pytest.param(torch.float64, id="float64"), pytest.param(torch.float32, id="float32")]
CONV, LSTM, ATTN = "conv2d_fast", "lstm_sequence_fast", "attention_fast"
MEMORY = CONFIG.extra["memory"][ATTN]
# The inputs each speed test times: grading.toml's [speed.<function>] shape, chosen from the
# ladder of solutions measured by bench/bench_ladder.py (the reasoning is there).
SHAPE = {fn: {k: int(v) for k, v in CONFIG.extra["speed"][fn]["shape"].items()}
         for fn in (CONV, LSTM)}
# And the sizes timed after the points are decided, for the report only: how the student's time
# grows against the baseline's ([speed.<function>] sweep: one dimension and its sizes).
# A grading.toml without it (the seed sweep's quick course) times no sweep.
SWEEP = {fn: next(iter(CONFIG.extra["speed"][fn]["sweep"].items()))
         for fn in (CONV, LSTM) if CONFIG.extra["speed"][fn].get("sweep")}
HEADS = 4
LSTM_OUT = ("outputs", "(h_T, c_T)")

HINTS = {
    CONV: "Loops over output positions cost a Python step each: turn every window into a column "
          "(unfold or as_strided) and do one matmul, or loop only over the KH·KW kernel offsets.",
    LSTM: "Hoist the input projection: every step's x[t] W_ihᵀ + b_ih in one matrix product "
          "before the loop; then keep each step to one matrix product (h W_hhᵀ added to that "
          "step's projection, e.g. with addmm), the gates split, and their sigmoids and tanh.",
    ATTN: "Work one block of queries (or of keys, with a running softmax) at a time, and skip "
          "blocks that the causal mask hides entirely.",
}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(g: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64,
           std: float = 1.0) -> torch.Tensor:
    # Drawn in the dtype asked for: the speed tests make fresh inputs for every timed call, and
    # a float32 draw costs a sixth of a float64 one cast down (4 ms against 23 ms for W_ih).
    return torch.randn(*shape, generator=g, dtype=dtype).mul_(std)


# ---------------------------------------------------------------------------- conv2d_fast

def _conv_inputs(g, N, C, H, W, F, KH, KW, dtype=torch.float64):
    # Asymmetric random filters: a flipped kernel gives different outputs.
    return _randn(g, N, C, H, W, dtype=dtype), _randn(g, F, C, KH, KW, dtype=dtype), \
        _randn(g, F, dtype=dtype)


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_no_padding_non_square(student, reference, seed, dtype):
    x, w, b = _conv_inputs(_gen(seed), 2, 3, 7, 9, 4, 3, 2, dtype)
    expect_same(student, reference, CONV, x, w, b, 1, 0)


@pytest.mark.points(2)
@pytest.mark.parametrize("pad", [1, 2])
def test_conv_zero_padding(student, reference, seed, pad):
    x, w, b = _conv_inputs(_gen(seed), 2, 2, 6, 5, 3, 3, 3)
    expect_same(student, reference, CONV, x, w, b, 1, pad)


@pytest.mark.points(2)
@pytest.mark.parametrize("stride,pad,H,W", [(2, 1, 8, 7), (3, 0, 10, 11), (2, 2, 5, 9)],
                         ids=["s2p1", "s3p0", "s2p2"])
def test_conv_stride_not_dividing(student, reference, seed, stride, pad, H, W):
    x, w, b = _conv_inputs(_gen(seed), 3, 2, H, W, 4, 3, 2)
    expect_same(student, reference, CONV, x, w, b, stride, pad)


@pytest.mark.points(1)
def test_conv_batch_one_one_by_one_kernel(student, reference, seed):
    x, w, b = _conv_inputs(_gen(seed), 1, 5, 4, 6, 3, 1, 1)
    expect_same(student, reference, CONV, x, w, b, 1, 0)


@pytest.mark.points(1)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_kernel_as_large_as_input(student, reference, seed, dtype):
    x, w, b = _conv_inputs(_gen(seed), 2, 3, 5, 4, 6, 5, 4, dtype)
    expect_same(student, reference, CONV, x, w, b, 1, 0)


# ---------------------------------------------------------------------- lstm_sequence_fast

def _lstm_inputs(g, T, B, I, H, dtype=torch.float64, ih_std=0.4):
    return (_randn(g, T, B, I, dtype=dtype), _randn(g, B, H, dtype=dtype, std=0.5),
            _randn(g, B, H, dtype=dtype, std=0.5), _randn(g, 4 * H, I, dtype=dtype, std=ih_std),
            _randn(g, 4 * H, H, dtype=dtype, std=0.4), _randn(g, 4 * H, dtype=dtype, std=0.3),
            _randn(g, 4 * H, dtype=dtype, std=0.3))


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_sequence(student, reference, seed, dtype):
    expect_same(student, reference, LSTM, *_lstm_inputs(_gen(seed), 7, 3, 5, 4, dtype),
                outputs=LSTM_OUT)


@pytest.mark.points(1)
def test_lstm_single_step(student, reference, seed):
    expect_same(student, reference, LSTM, *_lstm_inputs(_gen(seed), 1, 2, 3, 5), outputs=LSTM_OUT)


@pytest.mark.points(1)
def test_lstm_batch_one_hidden_larger_than_input(student, reference, seed):
    expect_same(student, reference, LSTM, *_lstm_inputs(_gen(seed), 6, 1, 2, 7), outputs=LSTM_OUT)


@pytest.mark.points(1)
def test_lstm_long_sequence_float32(student, reference, seed):
    expect_same(student, reference, LSTM, *_lstm_inputs(_gen(seed), 40, 4, 6, 8, torch.float32),
                outputs=LSTM_OUT)


# -------------------------------------------------------------------------- attention_fast

def _qkv(g, lead, Lq, Lk, d, dv, dtype=torch.float64):
    return (_randn(g, *lead, Lq, d, dtype=dtype), _randn(g, *lead, Lk, d, dtype=dtype),
            _randn(g, *lead, Lk, dv, dtype=dtype))


@pytest.mark.points(1)
@pytest.mark.parametrize("dtype", DTYPES)
def test_attention_small(student, reference, seed, dtype):
    expect_same(student, reference, ATTN, *_qkv(_gen(seed), (2, 3), 5, 7, 8, 4, dtype))


@pytest.mark.points(1)
def test_attention_no_batch_dims_single_query(student, reference, seed):
    expect_same(student, reference, ATTN, *_qkv(_gen(seed), (), 1, 9, 6, 3))


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", DTYPES)
def test_attention_long_sequences(student, reference, seed, dtype):
    # Longer than any reasonable block, and not a multiple of one.
    expect_same(student, reference, ATTN, *_qkv(_gen(seed), (2,), 700, 650, 16, 8, dtype))


@pytest.mark.points(2)
@pytest.mark.parametrize("Lq,Lk", [(700, 700), (300, 700), (700, 300)],
                         ids=["square", "Lq<Lk", "Lq>Lk"])
def test_attention_causal_across_blocks(student, reference, seed, Lq, Lk):
    expect_same(student, reference, ATTN, *_qkv(_gen(seed), (2,), Lq, Lk, 8, 4), True)


@pytest.mark.points(1)
def test_attention_causal_float32(student, reference, seed):
    expect_same(student, reference, ATTN,
                *_qkv(_gen(seed), (2, 2), 600, 600, 16, 16, torch.float32), True)


@pytest.mark.points(1)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_attention_large_scores_stay_finite(student, reference, seed, causal):
    q, k, v = _qkv(_gen(seed), (2,), 600, 600, 8, 4)
    # Scores in the thousands: exp without a running row maximum overflows.
    expect_same(student, reference, ATTN, q * 300, k, v, causal)


# ----------------------------------------------------------------------------------- speed

def _verify(reference, fn: str, outputs: tuple[str, ...] | None = None):
    """Checks each result of a timed call against the reference: correctness gates speed."""

    def verify(args: tuple, got) -> None:
        expected = getattr(reference, fn)(*args)
        try:
            if outputs is not None:
                assert isinstance(got, (tuple, list)) and len(got) == len(outputs), (
                    f"{fn} should return ({', '.join(outputs)})")
            assert_close(got, expected, name=f"{fn} on an input of the speed test")
        except AssertionError as exc:
            raise AssertionError(f"speed not graded: {fn} must be correct first. {exc}") from None

    return verify


def _speed(student, baseline, reference, record_property, fn, make_args, device,
           outputs=None, sized=None, graded=None) -> timing.Speed:
    """``sized(size, i)``: the inputs of call ``i`` with the sweep's dimension at ``size``;
    ``graded``: that dimension's size in the scored inputs (timed once, not again)."""
    scaling = None
    if sized is not None and fn in SWEEP:
        dimension, sizes = SWEEP[fn]
        scaling = timing.Sweep(dimension, tuple(int(n) for n in sizes), sized, graded)
    return timing.grade_speed(
        student, baseline, fn, make_args, verify=_verify(reference, fn, outputs),
        thresholds=timing.thresholds_for(CONFIG.extra, fn, device), device=device,
        record=record_property, hint=HINTS[fn], settings=SETTINGS, scaling=scaling)


def _on(device: str, tensors: tuple) -> tuple:
    return tuple(t.to(device) if isinstance(t, torch.Tensor) else t for t in tensors)


@pytest.mark.points(3)
@pytest.mark.timeout(120)  # sampling: up to 3 rounds of 20 s; then the sweep of sizes
def test_conv2d_fast_speed(student, baseline, reference, seed, record_property):
    device = timing.grading_device()

    def sized(size: int | None, i: int) -> tuple:
        g = _gen(seed + 7919 * (i + 1))
        s = SHAPE[CONV]
        H, W = (s["H"], s["W"]) if size is None else (size, size)  # the sweep: square images
        return _on(device, (*_conv_inputs(g, s["N"], s["C"], H, W, s["F"], s["KH"], s["KW"],
                                          torch.float32), s["stride"], s["pad"]))

    s = SHAPE[CONV]
    _speed(student, baseline, reference, record_property, CONV, lambda i: sized(None, i), device,
           sized=sized, graded=s["H"] if s["H"] == s["W"] else None)


@pytest.mark.points(3)
@pytest.mark.timeout(120)  # sampling: up to 3 rounds of 20 s; then the sweep of sizes
def test_lstm_sequence_fast_speed(student, baseline, reference, seed, record_property):
    # Timed on the CPU on every host, a GPU one too: on a GPU each step's few small kernels cost
    # their launch whatever they compute, so the count of kernels per step decides the ratio and
    # hoisting the input projection, what the statement teaches, barely shows (grading.toml).
    device = "cpu"

    def sized(T: int | None, i: int) -> tuple:
        s = {**SHAPE[LSTM], **({} if T is None else {"T": T})}
        # Input weights of std 1/√I, as torch.nn.LSTM's initialisation: each gate's input
        # projection of order one however wide the input, so that float32 sums over I terms
        # taken in another order than the reference's stay within the tolerance (with a fixed
        # std every gate saturates and the public baseline itself would be told it is wrong).
        return _on(device, _lstm_inputs(_gen(seed + 7919 * (i + 1)), s["T"], s["B"], s["I"],
                                        s["H"], torch.float32, ih_std=s["I"] ** -0.5))

    _speed(student, baseline, reference, record_property, LSTM, lambda i: sized(None, i), device,
           LSTM_OUT, sized=sized, graded=SHAPE[LSTM]["T"])


# ------------------------------------------------------------------------------------- GPU

def _cuda() -> str:
    """The GPU to grade on, or a skip that reports the test as not graded here (the gpu mark
    already skips where GPU grading is off; this keeps a test that lost its mark honest)."""
    if not timing.gpu_grading():
        pytest.skip(f"{NOT_GRADED_GPU} ({timing.gpu_not_graded_reason()})")
    return "cuda"


@pytest.mark.gpu
@pytest.mark.points(1)
def test_attention_fast_on_gpu(student, reference, seed):
    device = _cuda()
    q, k, v = _on(device, _qkv(_gen(seed), (2, 2), 1000, 900, 32, 16, torch.float32))
    # The reference's result is on the inputs' device: one elsewhere is told to follow them.
    assert_close(student.attention_fast(q, k, v, True), reference.attention_fast(q, k, v, True),
                 name=f"{ATTN}(q, k, v, causal=True) with q, k, v on the GPU")


def _fresh_peaks(fresh_worker, which: str, seed: int, device: str) -> tuple[int, int, str]:
    """One causal call at the memory test's length in a worker started for it (``which``: the
    student's module or the baseline), its GPU memory read from the grader's side: (the reading
    once CUDA and the allocator are up, the peak during the call), both above what was there
    before the worker, and what the figure is. A worker that served earlier calls would hide what
    it reserved then (PyTorch's allocator keeps it), so would memory its module's import reserved
    and freed: here both count. A skip where the GPU's memory cannot be read."""
    L = int(MEMORY["length"])
    q, k, v = _on(device, _qkv(_gen(seed), (1, HEADS), L, L, 64, 16, torch.float32))
    small = _on(device, _qkv(_gen(seed + 1), (1, HEADS), 64, 64, 64, 16, torch.float32))
    before_worker = gpu.device_used_bytes()
    proxy = fresh_worker(which)
    proxy.attention_fast(*small, True)  # the worker starts; CUDA context and allocator exist
    pid = timing.worker_pid(proxy)
    reader = gpu.memory_reader(pid) if pid is not None else None
    if reader is None:
        pytest.skip(f"{NOT_GRADED_GPU} (the grader cannot read the GPU's memory here: NVML or "
                    "the nvidia-ml-py package is missing)")
    read, what = reader
    # The driver's figure for the worker counts from nothing; the device's, from what it held.
    start = 0 if gpu.process_used_bytes(pid) is not None else (before_worker or 0)
    with gpu.MemoryWatch(read) as watch:
        proxy.attention_fast(q, k, v, True)
    return (watch.before or 0) - start, (watch.peak or 0) - start, what


def _memory_rises(fresh_worker, seed: int, device: str) -> tuple[dict[str, int], str]:
    """How far the student's code and the baseline raise the GPU memory above a worker that has
    CUDA started and one small call made (the baseline's, which reserves nothing at import):
    each in a worker of its own, started for this test."""
    ready, baseline_peak, what = _fresh_peaks(fresh_worker, "baseline", seed, device)
    _, student_peak, _ = _fresh_peaks(fresh_worker, "student", seed, device)
    return {"student": max(0, student_peak - ready), "baseline": max(0, baseline_peak - ready)}, what


def _memory_limit() -> tuple[int, int]:
    """(bytes of the whole float32 score matrix at the memory test's length, bytes allowed)."""
    L = int(MEMORY["length"])
    scores = HEADS * L * L * 4
    return scores, int(float(MEMORY["fraction_of_scores"]) * scores)


@pytest.mark.gpu
@pytest.mark.points(2)
@pytest.mark.timeout(120)
def test_attention_fast_speed_gpu(student, baseline, reference, seed, record_property,
                                  fresh_worker):
    device = _cuda()
    # On a GPU the baseline's whole score matrix fits and is fast: speed counts only for a call
    # that keeps within the memory limit, as the exercise teaches.
    rises, what = _memory_rises(fresh_worker, seed, device)
    rise = rises["student"]
    scores, allowed = _memory_limit()
    if rise > allowed:
        mb = 2**20
        raise AssertionError(
            f"speed not graded: {ATTN}(q, k, v, causal=True) with L = {MEMORY['length']} raised "
            f"the GPU memory by {rise / mb:.0f} MB ({what}), above the {allowed / mb:.0f} MB "
            f"allowed; speed is graded only for a call that never holds every score at once. "
            f"{HINTS[ATTN]}")

    def make_args(i: int) -> tuple:
        q, k, v = _qkv(_gen(seed + 7919 * (i + 1)), (1, HEADS), 4096, 4096, 64, 16,
                       torch.float32)
        return (*_on(device, (q, k, v)), True)

    _speed(student, baseline, reference, record_property, ATTN, make_args, device)


@pytest.mark.gpu
@pytest.mark.points(3)
@pytest.mark.timeout(120)
def test_attention_fast_peak_gpu_memory(student, seed, record_property, fresh_worker):
    device = _cuda()
    rises, what = _memory_rises(fresh_worker, seed, device)
    scores, allowed = _memory_limit()
    mb = 2**20
    record_property("gpu_memory", {"device": timing.describe_device(device),
                                   "length": int(MEMORY["length"]), "measured": what,
                                   "student_peak_bytes": rises["student"],
                                   "baseline_peak_bytes": rises["baseline"],
                                   "score_matrix_bytes": scores, "allowed_bytes": allowed})
    rise = rises["student"]
    assert rise <= allowed, (
        f"{ATTN}(q, k, v, causal=True) with L = {MEMORY['length']} raised the GPU memory of "
        f"your worker by {rise / mb:.0f} MB at its peak (the baseline's: "
        f"{rises['baseline'] / mb:.0f} MB); the whole score matrix takes {scores / mb:.0f} MB "
        f"and the limit is {allowed / mb:.0f} MB. Never hold every score at once: {HINTS[ATTN]}")
