"""Cross-checks the conv reference against torch's conv2d and pooling, with autograd gradients."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

_PATH = Path(__file__).resolve().parents[1] / "reference" / "conv" / "solution.py"


def _load():
    spec = importlib.util.spec_from_file_location("conv_reference", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load()


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("n", [1, 2, 5, 7, 10])
@pytest.mark.parametrize("kernel", [1, 2, 3, 4])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("dilation", [1, 2])
def test_conv_output_size_matches_torch(
    n: int, kernel: int, stride: int, padding: int, dilation: int
) -> None:
    x = torch.zeros(1, 1, n, 1)
    w = torch.zeros(1, 1, kernel, 1)
    try:
        expected = F.conv2d(
            x, w, stride=(stride, 1), padding=(padding, 0), dilation=(dilation, 1)
        ).shape[2]
    except RuntimeError:
        expected = None  # torch refuses: the window does not fit
    if expected is None or expected < 1:
        with pytest.raises(ValueError):
            ref.conv_output_size(n, kernel, stride, padding, dilation)
    else:
        got = ref.conv_output_size(n, kernel, stride, padding, dilation)
        assert type(got) is int and got == expected


@pytest.mark.parametrize(
    "args",
    [(5, 0), (5, 3, 0), (5, 3, 1, -1), (5, 3, 1, 0, 0), (0, 1), (5, 2.0), (5, True), (2, 3, 2)],
)
def test_conv_output_size_rejects_invalid_arguments(args: tuple) -> None:
    with pytest.raises(ValueError):
        ref.conv_output_size(*args)


@pytest.mark.parametrize(
    "N,C,H,W,F_,KH,KW,stride,pad",
    [(2, 3, 7, 6, 4, 3, 3, 2, 1), (1, 1, 5, 5, 2, 2, 3, 1, 0), (3, 2, 8, 9, 3, 3, 2, 3, 2)],
)
def test_conv2d_matches_torch(N, C, H, W, F_, KH, KW, stride, pad) -> None:
    rng = np.random.default_rng(H * W + stride)
    x = rng.normal(size=(N, C, H, W))
    w = rng.normal(size=(F_, C, KH, KW))
    b = rng.normal(size=F_)
    out, cache = ref.conv2d_forward(x, w, b, stride, pad)
    dout = rng.normal(size=out.shape)
    dx, dw, db = ref.conv2d_backward(dout, cache)

    xt, wt, bt = _t(x), _t(w), _t(b)
    out_t = F.conv2d(xt, wt, bt, stride=stride, padding=pad)
    out_t.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "H,W,kernel,stride", [(6, 6, 2, 2), (7, 5, 3, 2), (5, 6, 3, 1), (4, 7, 2, 3)]
)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool_matches_torch(H: int, W: int, kernel: int, stride: int, ties: bool) -> None:
    rng = np.random.default_rng(H * 10 + W + ties)
    if ties:
        x = rng.integers(0, 3, size=(2, 3, H, W)).astype(np.float64)  # many tied maxima
    else:
        x = rng.normal(size=(2, 3, H, W))
    out, cache = ref.max_pool_forward(x, kernel, stride)
    dout = rng.normal(size=out.shape)
    dx = ref.max_pool_backward(dout, cache)

    xt = _t(x)
    out_t = F.max_pool2d(xt, kernel, stride)
    out_t.backward(torch.from_numpy(dout))
    np.testing.assert_array_equal(out, out_t.detach().numpy())
    # torch's CPU kernel also keeps the first maximum in row-major order.
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "H,W,kernel,stride", [(6, 6, 2, 2), (7, 5, 3, 2), (5, 6, 3, 1), (4, 7, 2, 3)]
)
def test_avg_pool_matches_torch(H: int, W: int, kernel: int, stride: int) -> None:
    rng = np.random.default_rng(H * 10 + W)
    x = rng.normal(size=(2, 3, H, W))
    out, cache = ref.avg_pool_forward(x, kernel, stride)
    dout = rng.normal(size=out.shape)
    dx = ref.avg_pool_backward(dout, cache)

    xt = _t(x)
    out_t = F.avg_pool2d(xt, kernel, stride)
    out_t.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


_TOPIC = Path(__file__).resolve().parents[1] / "reference" / "conv"


def test_banned_calls_spare_the_reference_and_alternatives() -> None:
    from grader.grading.banned import scan
    from grader.course import load_topic_config

    banned = load_topic_config(_TOPIC / "grading.toml").banned_names
    assert {"torch", "scipy.signal"} <= set(banned)
    for module in [_PATH, *sorted((_TOPIC / "alternatives").glob("*.py"))]:
        assert scan(module.read_text(), banned) == [], module.name  # np.pad etc. stay allowed


@pytest.mark.parametrize(
    "source,name",
    [
        (
            "import torch.nn.functional as F\ndef conv2d_forward(x):\n    return F.conv2d(x)\n",
            "torch.nn.functional.conv2d",
        ),
        (
            "def conv2d_forward(x):\n    from scipy.signal import correlate\n    return correlate(x)\n",
            "scipy.signal.correlate",
        ),
    ],
)
def test_banned_calls_are_found_and_named(source: str, name: str) -> None:
    from grader.grading.banned import scan
    from grader.course import load_topic_config

    findings = scan(source, load_topic_config(_TOPIC / "grading.toml").banned_names)
    assert name in {f.name for f in findings}
    assert all(f.function in (None, "conv2d_forward") for f in findings)
