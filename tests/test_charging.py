"""One defect, one charge, one true message (docs/charging.md): the checks on their own, with the
course's own references and mutants, and whole gradings of the reference with one defect put in."""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

import numpy as np
import pytest

from grader.checks import CheckFailed, Mistakes, assert_close, check_gradient, charges
from grader.checks import dot_with_output, expect_same
from grader.course import Course
from grader.grading.engine import Options

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)


def _reference(topic: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"charging_reference_{topic}",
                                                  COURSE.solution(topic))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _message(check, *args, **kwargs) -> str:
    with pytest.raises(CheckFailed) as err:
        check(*args, **kwargs)
    return str(err.value)


@pytest.fixture
def book():
    """A grading's book of charges, as the plugin opens one per submission."""
    charges.open_book()
    charges.start_test("test_first")
    yield
    charges.close_book()


# ------------------------------------------------------------------ which mistake is named


def test_a_mistake_that_changes_nothing_on_the_inputs_is_not_named() -> None:
    activations = _reference("activations")
    x = np.array([[-1.5, 0.25, 2.0], [3.0, -0.5, 1e-9]])  # no exact zero: 1 at 0 changes nothing
    right_values = types.SimpleNamespace(relu_grad=lambda v: np.int64(v > 0))
    msg = _message(expect_same, right_values, activations, "relu_grad", x)
    assert "dtype int64, expected float64" in msg, msg
    assert "classic mistake" not in msg, msg
    # The same mistake where it does change the result (an exact zero) is named.
    z = np.array([0.0, -1.0, 2.0])
    at_zero = types.SimpleNamespace(relu_grad=lambda v: (v >= 0).astype(np.float64))
    msg = _message(expect_same, at_zero, activations, "relu_grad", z)
    assert "classic mistake: relu_grad is 1 at x = 0" in msg, msg


def test_a_dtype_only_failure_shows_no_hint_about_values() -> None:
    activations = _reference("activations")
    zeros = np.zeros((2, 3))
    student = types.SimpleNamespace(relu_grad=lambda v: np.int64(v > 0))
    msg = _message(expect_same, student, activations, "relu_grad", zeros,
                   hint="at x = 0 the course uses PyTorch's convention")
    assert "dtype int64" in msg and "convention" not in msg and "classic" not in msg, msg
    # With wrong values the test's own hint is what it is about.
    student = types.SimpleNamespace(relu_grad=lambda v: np.ones_like(v))
    msg = _message(expect_same, student, activations, "relu_grad", zeros,
                   hint="at x = 0 the course uses PyTorch's convention")
    assert "convention" in msg, msg


def test_a_shape_only_failure_names_no_mistake() -> None:
    activations = _reference("activations")
    z = np.array([0.0, -1.0, 2.0, 0.0])
    # 1 at 0 (the mutant's values) would be named; the reference's values as a column are not.
    student = types.SimpleNamespace(relu_grad=lambda v: (v > 0).astype(np.float64)[:, None])
    msg = _message(expect_same, student, activations, "relu_grad", z)
    assert "shape (4, 1), expected (4,)" in msg and "classic mistake" not in msg, msg


def test_a_mistake_is_matched_on_the_wrong_output_alone() -> None:
    batchnorm = _reference("batchnorm")
    mutant = importlib.util.spec_from_file_location(
        "charging_unbiased", ROOT / "reference/batchnorm/mutants/unbiased_normalisation.py")
    unbiased = importlib.util.module_from_spec(mutant)
    mutant.loader.exec_module(unbiased)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 3))
    args = (x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), True)

    def forward(*a, **k):
        # Karpathy's makemore BatchNorm1d: the unbiased variance, statistics kept as (1, D).
        out, mean, var, cache = unbiased.batchnorm_forward(*a, **k)
        return out, mean[None, :], var[None, :], cache[:2]

    student = types.SimpleNamespace(batchnorm_forward=forward)
    msg = _message(expect_same, student, batchnorm, "batchnorm_forward", *args,
                   outputs=("out", "running_mean", "running_var", "cache"))
    assert "classic mistake: batchnorm_forward normalises the batch with the unbiased variance" \
        in msg, msg
    # assert_close of one output, given that output's index.
    got = forward(*args)
    msg = _message(assert_close, got[0], batchnorm.batchnorm_forward(*args)[0], name="out",
                   mistakes=Mistakes(batchnorm, "batchnorm_forward", got[0], args, select=0))
    assert "unbiased variance" in msg, msg


# ------------------------------------------------------------------------ charged once


def test_a_wrong_dtype_with_right_values_is_charged_once_per_function(book) -> None:
    x = np.array([1.0, -2.0])
    wrong_dtype = np.int64(x > 0)
    msg = _message(assert_close, wrong_dtype, (x > 0).astype(float), name="relu_grad")
    assert "dtype int64, expected float64" in msg, msg
    charges.start_test("test_second")
    assert_close(wrong_dtype, (x > 0).astype(float), name="relu_grad")  # not charged again
    assert charges.take_notes() == [
        "relu_grad: your array has dtype int64, expected float64 (charged once, in test_first)"]
    # Wrong values are charged wherever they are met, and the dtype is said with them.
    msg = _message(assert_close, np.int64([0, 0]), (x > 0).astype(float), name="relu_grad")
    assert "dtype int64" in msg, msg
    # Another function's dtype is its own defect.
    with pytest.raises(CheckFailed):
        assert_close(wrong_dtype, (x > 0).astype(float), name="leaky_relu_grad")


def test_a_single_number_in_another_precision_is_charged_once(book) -> None:
    value = np.float32(0.25)
    assert "expected a float64 value" in _message(assert_close, value, 0.25, name="Tensor.exp")
    charges.start_test("test_second")
    assert_close(value, 0.25, name="Tensor.exp: another input")
    assert charges.take_notes() == [
        "Tensor.exp: another input: you returned a NumPy float32 scalar (0.25); expected a "
        "float64 value (charged once, in test_first)"]


def test_without_a_grading_every_check_charges_what_it_finds() -> None:
    x = np.array([1.0, -2.0])
    for _ in range(2):
        with pytest.raises(CheckFailed):
            assert_close(np.int64(x > 0), (x > 0).astype(float), name="relu_grad")


# ------------------------------------------------------------- gradient checks, gated


@pytest.mark.parametrize(("wrt", "gated"), [("dx", True), ("dgamma", True), ("dbeta", False)])
def test_a_wrong_forward_gates_only_the_gradients_that_depend_on_it(wrt: str, gated: bool) -> None:
    batchnorm = _reference("batchnorm")
    spec = importlib.util.spec_from_file_location(
        "charging_unbiased_grad", ROOT / "reference/batchnorm/mutants/unbiased_normalisation.py")
    unbiased = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(unbiased)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(5, 3)) * 2 + 1
    gamma, beta = rng.uniform(0.5, 2, size=3), rng.normal(size=3)
    rm, rv = np.zeros(3), np.ones(3)
    dout = rng.normal(size=(5, 3))
    make = {"dx": lambda v: (v, gamma, beta, rm, rv, True),
            "dgamma": lambda v: (x, v, beta, rm, rv, True),
            "dbeta": lambda v: (x, gamma, v, rm, rv, True)}[wrt]
    cache = unbiased.batchnorm_forward(x, gamma, beta, rm, rv, True)[3]
    grads = dict(zip(("dx", "dgamma", "dbeta"), unbiased.batchnorm_backward(dout, cache)))
    value = {"dx": x, "dgamma": gamma, "dbeta": beta}[wrt]

    def f_batch(values):
        return [float(np.sum(unbiased.batchnorm_forward(*make(v))[0] * dout)) for v in values]

    def check():
        check_gradient(grads[wrt], f_batch, value, name=f"batchnorm_backward → {wrt}",
                       wrt=wrt[1:], expected=dot_with_output(batchnorm.batchnorm_forward, make,
                                                             dout))

    if gated:
        assert "fix it first" in _message(check)
    else:
        check()  # dbeta = sum(dout) whatever the variance: exact, and its check counts


def test_a_right_gradient_is_not_charged_for_a_forward_too_coarse_to_difference() -> None:
    # A float32 forward pass: right at x within the check's tolerance, but its central
    # differences with h = 1e-6 are noise. The gradient is the right one: the check counts.
    rng = np.random.default_rng(8)
    x = rng.normal(size=(3, 4))
    dout = rng.normal(size=(3, 4))

    def f_batch(values):
        return [float(np.sum(np.tanh(v.astype(np.float32)) * dout)) for v in values]

    expected = dot_with_output(np.tanh, lambda v: (v,), dout, select=None)
    check_gradient((1 - np.tanh(x) ** 2) * dout, f_batch, x, name="tanh_grad(x)", wrt="x",
                   expected=expected)
    # A wrong gradient is still charged.
    assert "central difference" in _message(check_gradient, (1 - np.tanh(x)) * dout, f_batch, x,
                                            name="tanh_grad(x)", wrt="x", expected=expected)


# ------------------------------------------------------------ whole gradings, one defect


def _grade(engine, topic: str, source: str, tmp_path: Path, seed: int = 1):
    sub = tmp_path / f"submission-{topic}"
    sub.mkdir()
    (sub / f"{topic}.py").write_text(source)
    result = engine.grade(sub, tmp_path / f"out-{topic}", Options(topics=(topic,), seed=seed))
    assert not result.error, result.error
    return result


def _with(topic: str, old: str, new: str) -> str:
    source = COURSE.solution(topic).read_text()
    assert old in source, f"{old!r} is not in the {topic} solution"
    return source.replace(old, new)


def test_an_int64_relu_grad_with_right_values_costs_one_test(engine, tmp_path: Path) -> None:
    source = _with("activations", "return (x > 0).astype(np.float64)", "return np.int64(x > 0)")
    result = _grade(engine, "activations", source, tmp_path)
    failed = [t for t in result.tests if t.outcome != "passed"]
    assert len(failed) == 1 and failed[0].score == 0, [(t.name, t.message) for t in failed]
    assert "relu_grad: your array has dtype int64, expected float64" in failed[0].message
    assert "classic mistake" not in failed[0].message and "convention" not in failed[0].message
    noted = [t for t in result.tests if t.outcome == "passed" and "dtype int64" in t.message]
    assert noted and all(f"charged once, in {failed[0].name}" in t.message for t in noted)
    assert result.topic("activations").score == result.topic("activations").max_score - 1


def test_an_unbiased_batchnorm_keeps_the_exact_dbetas_points(engine, tmp_path: Path) -> None:
    source = _with("batchnorm", "inv_std = 1.0 / np.sqrt(var + eps)  # (D,)",
                   "inv_std = 1.0 / np.sqrt(var * N / (N - 1) + eps)  # (D,)")
    tests = {t.name: t for t in _grade(engine, "batchnorm", source, tmp_path).tests}
    assert tests["test_backward_gradient_check[dbeta]"].outcome == "passed"
    for wrt in ("dx", "dgamma"):
        assert "fix it first" in tests[f"test_backward_gradient_check[{wrt}]"].message
    out = tests["test_train_output_unit_scale"].message
    assert "classic mistake: batchnorm_forward normalises the batch with the unbiased variance" \
        in out, out
