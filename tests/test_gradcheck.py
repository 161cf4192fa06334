"""Tests of grader.checks.gradcheck: central differences, batching, and the messages of a failed check."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.checks import gradcheck
from grader.checks.compare import CheckFailed
from grader.checks.gradcheck import check_gradient, numeric_gradient
from grader.isolation.wire import Handle


def check(analytic: Any, f_batch: Any, x: Any, **kwargs: Any) -> Any:
    """check_gradient with the forward pass taken as right (what these tests are not about)."""
    kwargs.setdefault("expected", lambda v: f_batch([v])[0])
    return check_gradient(analytic, f_batch, x, **kwargs)


def failure(*args: Any, **kwargs: Any) -> str:
    with pytest.raises(CheckFailed) as info:
        check(*args, **kwargs)
    return str(info.value)


class Affine:
    """sum((x @ W + b) · dout) and its gradients, as a student's forward pass is used."""

    def __init__(self, seed: int = 0, n: int = 4, d: int = 3, m: int = 3) -> None:
        rng = np.random.default_rng(seed)
        self.x, self.W, self.b = (
            rng.normal(size=(n, d)),
            rng.normal(size=(d, m)),
            rng.normal(size=m),
        )
        self.dout = rng.normal(size=(n, m))
        self.calls: list[int] = []

    def f_batch_W(self, Ws: list[Any]) -> list[float]:
        self.calls.append(len(Ws))
        return [float(np.sum((self.x @ W + self.b) * self.dout)) for W in Ws]

    @property
    def dW(self) -> np.ndarray:
        return self.x.T @ self.dout


# ------------------------------------------------------------------------- numeric_gradient


@settings(max_examples=30, deadline=None)
@given(
    x=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
        elements=st.floats(-3, 3),
    ),
    seed=st.integers(0, 2**16),
)
def test_numeric_gradient_of_a_smooth_function(x: np.ndarray, seed: int) -> None:
    c = np.random.default_rng(seed).normal(size=x.shape)

    def f_batch(xs: list[np.ndarray]) -> list[float]:
        return [float(np.sum(c * np.sin(v)) + 0.5 * np.sum(v**2)) for v in xs]

    np.testing.assert_allclose(
        numeric_gradient(f_batch, x), c * np.cos(x) + x, rtol=1e-6, atol=1e-7
    )


def test_one_batch_of_perturbed_float64_copies() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    seen: list[list[Any]] = []

    def f_batch(xs: list[Any]) -> list[float]:
        seen.append(xs)
        return [float(v.sum()) for v in xs]

    grad = numeric_gradient(f_batch, x, h=1e-3)
    assert len(seen) == 1 and len(seen[0]) == 12
    assert all(v.dtype == np.float64 and v.shape == (2, 3) for v in seen[0])
    # Copy 2i moves element i up, copy 2i + 1 moves it down; x itself is left alone.
    np.testing.assert_allclose(seen[0][2] - x, [[0, 1e-3, 0], [0, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(seen[0][3] - x, [[0, -1e-3, 0], [0, 0, 0]], atol=1e-12)
    np.testing.assert_array_equal(x, np.arange(6).reshape(2, 3))
    np.testing.assert_allclose(grad, np.ones((2, 3)))


def test_large_inputs_are_split_over_several_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gradcheck, "_BATCH_BYTES", 1000)
    problem = Affine(n=5, d=6, m=7)
    grad = numeric_gradient(problem.f_batch_W, problem.W)
    assert len(problem.calls) > 1 and sum(problem.calls) == 2 * problem.W.size
    np.testing.assert_allclose(grad, problem.dW, rtol=1e-6, atol=1e-8)


def test_tensor_inputs_are_perturbed_as_float64_tensors() -> None:
    x = torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=torch.float32)
    kinds: set[tuple[type, torch.dtype]] = set()

    def f_batch(xs: list[torch.Tensor]) -> list[torch.Tensor]:
        kinds.update((type(v), v.dtype) for v in xs)
        return [(v**3).sum() for v in xs]  # 0-d tensors count as numbers

    grad = numeric_gradient(f_batch, x)
    assert kinds == {(torch.Tensor, torch.float64)}
    np.testing.assert_allclose(grad, 3 * x.double().numpy() ** 2, rtol=1e-6)


def test_scalar_inputs_are_perturbed_as_floats() -> None:
    def f_batch(bs: list[Any]) -> list[float]:
        assert all(isinstance(b, float) for b in bs)
        return [b**2 for b in bs]

    assert numeric_gradient(f_batch, 1.5) == pytest.approx(3.0)


def test_f_batch_must_answer_every_input() -> None:
    with pytest.raises(ValueError, match="2 values for 4 inputs"):
        numeric_gradient(lambda xs: [0.0, 0.0], np.zeros(2))


def test_h_must_be_positive() -> None:
    with pytest.raises(ValueError):
        numeric_gradient(lambda xs: [0.0] * len(xs), np.zeros(2), h=0.0)


# --------------------------------------------------------------------------- check_gradient


def test_correct_gradients_pass_and_the_numeric_one_is_returned() -> None:
    problem = Affine()
    numeric = check(
        problem.dW, problem.f_batch_W, problem.W, name="affine_backward → dW", wrt="W"
    )
    np.testing.assert_allclose(numeric, problem.dW, rtol=1e-6)


def test_torch_gradients_pass() -> None:
    problem = Affine(seed=3)
    x, dout = torch.from_numpy(problem.x), torch.from_numpy(problem.dout)

    def f_batch(Ws: list[torch.Tensor]) -> list[float]:
        return [float(((x @ W) * dout).sum()) for W in Ws]

    check(
        torch.from_numpy(problem.dW), f_batch, torch.from_numpy(problem.W), name="g", wrt="W"
    )


def test_scalar_parameter() -> None:
    check(6.0, lambda bs: [3 * b * b for b in bs], 1.0, name="bce_grad → db", wrt="b")
    msg = failure(5.0, lambda bs: [3 * b * b for b in bs], 1.0, name="bce_grad → db", wrt="b")
    assert msg.startswith("bce_grad → db: expected 6.0")


def test_failure_message_has_the_key_facts() -> None:
    problem = Affine()
    dW = problem.dW.copy()
    dW[2, 0] += 0.5
    dW[0, 1] -= 0.25
    msg = failure(dW, problem.f_batch_W, problem.W, name="affine_backward → dW", wrt="W")
    first = msg.splitlines()[0]
    assert first.startswith(
        f"affine_backward → dW: at index (0, 1) expected {problem.dW[0, 1]:.6g} "
        "(central difference of your forward pass in W), got "
    )
    assert first.endswith("; 2 of 9 entries differ")
    assert "largest absolute error 0.5" in msg and "rtol=1e-05, atol=1e-07" in msg


def test_one_dimensional_index() -> None:
    problem = Affine()

    def f_batch(bs: list[np.ndarray]) -> list[float]:
        return [float(np.sum((problem.x @ problem.W + b) * problem.dout)) for b in bs]

    db = problem.dout.sum(axis=0)
    db[2] = 0.0
    assert "at index 2 expected" in failure(
        db, f_batch, problem.b, name="affine_backward → db", wrt="b"
    )


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda g: 2 * g, "factor of 2"),
        (lambda g: -g, "wrong sign"),
        (lambda g: g / 4, "factor of 1/4"),
        (lambda g: g.T.copy(), "transposed"),
    ],
    ids=["double", "sign", "divided_by_n", "transposed"],
)
def test_failure_hints(wrong: Any, hint: str) -> None:
    problem = Affine(n=4, d=3, m=3)
    msg = failure(
        wrong(problem.dW), problem.f_batch_W, problem.W, name="affine_backward → dW", wrt="W"
    )
    assert hint in msg


def test_wrong_shape_fails_before_any_forward_call() -> None:
    problem = Affine(n=4, d=3, m=2)
    msg = failure(
        problem.dW.T.copy(), problem.f_batch_W, problem.W, name="affine_backward → dW", wrt="W"
    )
    assert "your gradient has shape (2, 3), expected (3, 2) (the shape of W)" in msg
    assert problem.calls == []


def test_opaque_or_missing_gradient() -> None:
    problem = Affine()
    msg = failure(
        Handle(4, "Grad"), problem.f_batch_W, problem.W, name="affine_backward → dW", wrt="W"
    )
    assert "Grad" in msg and "gradient with respect to W" in msg and "(3, 3)" in msg
    assert "None" in failure(None, problem.f_batch_W, problem.W, name="f", wrt="W")


def test_nan_in_the_students_gradient() -> None:
    problem = Affine()
    dW = problem.dW.copy()
    dW[1, 2] = np.nan
    msg = failure(dW, problem.f_batch_W, problem.W, name="affine_backward → dW", wrt="W")
    assert "your gradient has 1 NaN value, first at [1, 2]" in msg
    assert problem.calls == []


def test_forward_pass_that_is_not_a_number() -> None:
    msg = failure(
        np.zeros(2), lambda xs: [np.ones(3)] * len(xs), np.zeros(2), name="bce_grad → dw", wrt="w"
    )
    assert msg.startswith(
        "bce_grad → dw: cannot check your gradient: your forward pass returned a NumPy array"
    )


def test_forward_pass_that_is_not_finite() -> None:
    with np.errstate(all="ignore"):
        msg = failure(
            np.ones(3),
            lambda ws: [float(np.sum(np.sqrt(w))) for w in ws],  # NaN below 0
            np.array([1.0, 0.0, 2.0]),
            name="f → dw",
            wrt="w",
        )
    assert "not finite when w[1] moves by ±1e-06" in msg


def test_tolerance_arguments_are_used() -> None:
    problem = Affine()
    off = problem.dW * (1 + 1e-3)
    with pytest.raises(CheckFailed):
        check(off, problem.f_batch_W, problem.W, name="g", wrt="W")
    check(off, problem.f_batch_W, problem.W, name="g", wrt="W", rtol=1e-2)


# ------------------------------------------------------------------ the forward pass comes first


def test_a_gradient_check_of_a_wrong_forward_pass_fails_however_well_the_gradient_matches() -> None:
    problem = Affine()
    zeros = lambda Ws: [0.0 for _ in Ws]  # a forward pass that returns zeros
    # Control: its zero gradient matches the central differences of its own zero forward pass.
    check(np.zeros_like(problem.W), zeros, problem.W, name="affine_backward → dW", wrt="W")
    expected = lambda W: problem.f_batch_W([W])[0]
    msg = failure(np.zeros_like(problem.W), zeros, problem.W, name="affine_backward → dW",
                  wrt="W", expected=expected)
    assert msg.startswith("affine_backward → dW: cannot check your gradient: your forward pass "
                          "is wrong at this input (it gives 0 where")
    assert "fix it first" in msg
    # A right forward pass with its right gradient passes the gate.
    check_gradient(problem.dW, problem.f_batch_W, problem.W, name="g", wrt="W", expected=expected)


def test_the_forward_gate_tolerates_rounding_but_not_a_small_error() -> None:
    problem = Affine()
    right = problem.f_batch_W([problem.W])[0]
    check_gradient(problem.dW, problem.f_batch_W, problem.W, name="g", wrt="W",
                   expected=lambda W: right * (1 + 1e-9))
    with pytest.raises(CheckFailed, match="forward pass is wrong"):
        check_gradient(problem.dW, problem.f_batch_W, problem.W, name="g", wrt="W",
                       expected=lambda W: right * 1.01 + 0.01)


# ------------------------------------------------------------ through the engine: doing nothing

ZEROS_BACKPROP = '''\
import numpy as np


def affine_forward(x, W, b):
    return np.zeros((x.shape[0], W.shape[1])), (x, W, b)


def affine_backward(dout, cache):
    x, W, b = cache
    return np.zeros_like(x), np.zeros_like(W), np.zeros_like(b)


def relu_forward(x):
    return np.zeros_like(x), x


def relu_backward(dout, cache):
    return np.zeros_like(cache)


def mlp_loss(params, X, y):
    return 0.0, {k: np.zeros_like(v) for k, v in params.items()}
'''


def test_a_backprop_module_that_returns_zeros_earns_nothing_from_gradient_checks(
        engine, tmp_path: Path) -> None:
    """Zeros of the right shape everywhere: its backward matches the central differences of its
    own (zero) forward pass, which earned points before the forward pass had to be right."""
    from grader.grading.engine import Options

    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "backprop.py").write_text(ZEROS_BACKPROP)
    result = engine.grade(sub, tmp_path / "out", Options(topics=("backprop",), seed=7))
    checks = [t for t in result.tests if t.topic == "backprop" and "gradient_check" in t.name]
    assert checks and all(t.score == 0 for t in checks)
    assert all("your forward pass is wrong at this input" in t.message for t in checks)
    assert result.topic("backprop").score == 0


# ------------------------------------------------------------------------- expect_worked_out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return x * 0.5 * (1.0 + erf(x / np.sqrt(2.0)))


_WORKED_OUT = {  # derivatives as formulas, each written another way than the reference's
    "sigmoid_grad": lambda x: _sigmoid(x) * _sigmoid(-x),
    "gelu_grad": lambda x: _gelu(x) / np.where(x == 0, 1.0, x) * (x != 0) + 0.5 * (x == 0)
    + x * np.exp(-x * x / 2.0) / np.sqrt(2.0 * np.pi),
    "sgd_step": lambda X, y, w, lr: w - lr * 2.0 * np.mean((X @ w - y)[:, None] * X, axis=0),
}
_REFERENCE = types.SimpleNamespace(
    sigmoid_grad=lambda x: _sigmoid(x) * (1.0 - _sigmoid(x)),
    gelu_grad=lambda x: 0.5 * (1.0 + __import__("scipy.special").special.erf(x / np.sqrt(2.0)))
    + x * np.exp(-x * x / 2.0) / np.sqrt(2.0 * np.pi),
    sgd_step=lambda X, y, w, lr: w - lr * (2.0 / len(y)) * (X.T @ (X @ w - y)),
)
_FORWARD = {"sigmoid_grad": _sigmoid, "gelu_grad": _gelu}


def _numerically(fn: str, how: str) -> Any:
    """The derivative ``fn`` taken numerically, in one of the ways a student might."""
    if fn == "sgd_step":
        def step(X: np.ndarray, y: np.ndarray, w: np.ndarray, lr: float) -> np.ndarray:
            loss = lambda v: float(np.mean((X @ v - y) ** 2))  # noqa: E731
            h = {"central": 1e-6, "forward": 1e-8, "scaled": 1e-5}[how]
            g = np.array([(loss(w + h * e) - loss(w - h * e)) / (2 * h) for e in np.eye(len(w))])
            return w - lr * g
        return step
    f = _FORWARD[fn]
    if how == "central":
        return lambda x: (f(x + 1e-6) - f(x - 1e-6)) / 2e-6
    if how == "forward":
        return lambda x: (f(x + 1e-8) - f(x)) / 1e-8
    from scipy.differentiate import derivative  # high order, steps chosen adaptively
    return lambda x: derivative(f, x, tolerances={"atol": 0.0, "rtol": 1e-15}).df


def _inputs(fn: str, rng: np.random.Generator) -> tuple[Any, ...]:
    if fn == "sgd_step":
        X = rng.normal(size=(40, 5))
        return X, X @ rng.normal(size=5) + rng.normal(size=40), rng.normal(size=5), 0.05
    x = rng.normal(scale=2.5, size=(6, 7))
    x[0] = [-1e4, -745.0, -40.0, -8.0, 8.0, 40.0, 1e4]
    return (x,)


@pytest.mark.parametrize("fn", sorted(_WORKED_OUT))
@pytest.mark.parametrize("seed", range(5))
def test_a_derivative_worked_out_another_way_passes_to_rounding(fn: str, seed: int) -> None:
    args = _inputs(fn, np.random.default_rng(seed))
    student = types.SimpleNamespace(**{fn: _WORKED_OUT[fn]})
    gradcheck.expect_worked_out(student, _REFERENCE, fn, *args)


@pytest.mark.parametrize("fn", sorted(_WORKED_OUT))
@pytest.mark.parametrize("how", ["central", "forward", "scaled"])
def test_a_derivative_taken_numerically_fails_and_says_so(fn: str, how: str) -> None:
    args = _inputs(fn, np.random.default_rng(7))
    student = types.SimpleNamespace(**{fn: _numerically(fn, how)})
    with np.errstate(all="ignore"):
        with pytest.raises(CheckFailed) as info:
            gradcheck.expect_worked_out(student, _REFERENCE, fn, *args)
    text = str(info.value)
    # Either close enough to pass the dtype's tolerance, then told it was measured; or further
    # off (a one-sided difference), then failed as any wrong value is.
    assert "taken numerically" in text or "values differ (tolerance for float64" in text, text


def test_a_derivative_within_the_dtype_tolerance_but_not_to_rounding_is_told_it_was_measured(
) -> None:
    args = _inputs("sigmoid_grad", np.random.default_rng(3))
    student = types.SimpleNamespace(sigmoid_grad=_numerically("sigmoid_grad", "central"))
    with pytest.raises(CheckFailed) as info:
        gradcheck.expect_worked_out(student, _REFERENCE, "sigmoid_grad", *args)
    assert "agrees with the exact result only to" in str(info.value)
    assert "Work the derivative out by hand" in str(info.value)


def test_a_wrong_derivative_fails_as_a_wrong_value_not_as_a_measured_one() -> None:
    args = _inputs("sigmoid_grad", np.random.default_rng(3))
    student = types.SimpleNamespace(sigmoid_grad=lambda x: _sigmoid(x) * (1.0 - x))
    with pytest.raises(CheckFailed) as info:
        gradcheck.expect_worked_out(student, _REFERENCE, "sigmoid_grad", *args)
    assert "taken numerically" not in str(info.value)


def test_only_float64_results_are_held_to_rounding() -> None:
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    reference = types.SimpleNamespace(g=lambda v: (_sigmoid(v) * (1 - _sigmoid(v))).astype(np.float32))
    x64 = lambda v: v.astype(np.float64)  # noqa: E731
    student = types.SimpleNamespace(g=lambda v: ((_sigmoid(x64(v) + 1e-6) - _sigmoid(x64(v) - 1e-6))
                                                 / 2e-6).astype(np.float32))
    gradcheck.expect_worked_out(student, reference, "g", x)  # float32's own tolerance decides


def test_rounding_is_measured_against_the_size_of_the_values() -> None:
    x = np.random.default_rng(0).normal(size=50) * 1e6
    reference = types.SimpleNamespace(g=lambda v: 3.0 * v * v)
    student = types.SimpleNamespace(g=lambda v: v * v * 3.0 + v * (v * 0.0))
    gradcheck.expect_worked_out(student, reference, "g", x)


def test_a_float32_reply_of_a_float64_derivative_is_charged_once_and_not_told_it_was_measured(
) -> None:
    """A wrong dtype with right values is the dtype's charge (docs/charging.md), made by the
    first comparison; rounding to float32 is no measurement."""
    x = np.random.default_rng(0).normal(size=(4, 5))
    student = types.SimpleNamespace(
        sigmoid_grad=lambda v: _WORKED_OUT["sigmoid_grad"](v).astype(np.float32))
    with pytest.raises(CheckFailed) as info:  # outside a grading, no book of charges: charged
        gradcheck.expect_worked_out(student, _REFERENCE, "sigmoid_grad", x)
    assert "dtype float32, expected float64" in str(info.value)
    assert "taken numerically" not in str(info.value)
    assert not gradcheck._all_float64((x, x.astype(np.float32))) and gradcheck._all_float64(
        (x, 1.0, np.float64(2.0)))


def test_a_formula_wrong_only_where_the_values_are_tiny_is_not_told_it_was_measured() -> None:
    """GELU's derivative without its x·φ(x) term: within the dtype's tolerance at x = ±8 and
    beyond (that term is some 4e-14 there), wrong to rounding where the exact value is tiny."""
    from scipy.special import ndtr

    x = np.array([-40.0, -8.0, 8.0, 40.0])
    student = types.SimpleNamespace(gelu_grad=ndtr)
    with pytest.raises(CheckFailed) as info:
        gradcheck.expect_worked_out(student, _REFERENCE, "gelu_grad", x)
    text = str(info.value)
    assert "taken numerically" not in text
    assert "not where the exact ones are tiny" in text and "missing or wrong" in text
