"""Tests of grader.checks.compare: what passes, what fails, and what the student reads when it fails."""

from __future__ import annotations

import sys
import time
import types
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.checks.compare import (
    TOLERANCES,
    CheckFailed,
    Tol,
    assert_close,
    assert_equal,
    assert_finite,
    assert_no_warnings,
    assert_raises,
    assert_shape,
    expect_same,
    find_mismatch,
    tensors_for_ints,
    tolerance_for,
    tolerance_overrides,
)
from grader.isolation.wire import Handle


def failure(check: Any, *args: Any, **kwargs: Any) -> str:
    """The message a check gives; the test fails if the check passes."""
    with pytest.raises(CheckFailed) as info:
        check(*args, **kwargs)
    return str(info.value)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def M(rng: np.random.Generator) -> np.ndarray:
    """A (4, 3) float64 matrix with no zero entries."""
    return rng.uniform(0.5, 2.0, size=(4, 3)) * rng.choice([-1.0, 1.0], size=(4, 3))


small_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=5)
finite_floats = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


# ------------------------------------------------------------------------------- tolerances


def test_tolerance_table_has_one_entry_per_float_dtype() -> None:
    assert TOLERANCES["float64"] == Tol(rtol=1e-6, atol=1e-9)
    assert TOLERANCES["float32"] == Tol(rtol=1e-4, atol=1e-6)
    # Narrower types get looser tolerances, never tighter ones.
    order = ["float64", "float32", "float16", "bfloat16"]
    rtols = [TOLERANCES[name].rtol for name in order]
    assert rtols == sorted(rtols)


def test_tolerance_for_accepts_numpy_torch_and_names() -> None:
    assert tolerance_for(np.float32) == TOLERANCES["float32"]
    assert tolerance_for(torch.float32) == TOLERANCES["float32"]
    assert tolerance_for(torch.bfloat16) == TOLERANCES["bfloat16"]
    assert tolerance_for("torch.float64") == TOLERANCES["float64"]
    assert tolerance_for(np.complex128) == TOLERANCES["float64"]
    assert tolerance_for(np.int64) == Tol(0.0, 0.0)


def test_tol_rejects_negative_values() -> None:
    with pytest.raises(ValueError):
        Tol(rtol=-1e-6, atol=0.0)


def test_float64_default_rejects_an_error_float32_default_accepts() -> None:
    e = np.array([1.0, 2.0, 3.0])
    a = e * (1 + 1e-5)
    assert_close(a.astype(np.float32), e.astype(np.float32), name="f")
    msg = failure(assert_close, a, e, name="f")
    assert "rtol=1e-06" in msg and "float64" in msg


def test_float32_tensors_use_the_float32_entry() -> None:
    e = torch.tensor([1.0, 2.0, 3.0])
    assert_close(e * (1 + 5e-5), e, name="f")
    with pytest.raises(CheckFailed):
        assert_close(e.double() * (1 + 5e-5), e.double(), name="f")


def test_explicit_rtol_and_atol_override_the_table() -> None:
    e = np.array([1.0, 2.0])
    assert_close(e * 1.01, e, name="f", rtol=0.02)
    msg = failure(assert_close, e + 1e-7, e, name="f", rtol=0.0, atol=1e-8)
    assert "rtol=0" in msg and "atol=1e-08" in msg
    # Only rtol given: atol still comes from the table.
    assert_close(np.array([1e-10]), np.array([0.0]), name="f", rtol=0.0)


def test_overrides_apply_inside_the_block_only() -> None:
    e = np.array([1.0, 2.0])
    a = e * (1 + 1e-3)
    with pytest.raises(CheckFailed):
        assert_close(a, e, name="f")
    with tolerance_overrides({"float64": Tol(rtol=1e-2, atol=1e-9)}):
        assert_close(a, e, name="f")
        assert tolerance_for("float64") == Tol(rtol=1e-2, atol=1e-9)
    with pytest.raises(CheckFailed):
        assert_close(a, e, name="f")
    assert tolerance_for("float64") == TOLERANCES["float64"]


def test_overrides_can_tighten_and_nest() -> None:
    e = np.array([1.0])
    a = e * (1 + 1e-7)
    with tolerance_overrides({"float64": Tol(rtol=1e-3, atol=0.0)}):
        with tolerance_overrides({"float64": {"rtol": 1e-9}}):
            msg = failure(assert_close, a, e, name="f")
            assert "rtol=1e-09" in msg
        assert_close(a, e, name="f")


def test_overrides_accept_grading_toml_tables() -> None:
    table = {"float32": {"rtol": 3e-3, "reason": "summed over long sequences"}}
    with tolerance_overrides(table):
        # A partial table keeps the entry's other field.
        assert tolerance_for("float32") == Tol(rtol=3e-3, atol=TOLERANCES["float32"].atol)
        assert tolerance_for("float64") == TOLERANCES["float64"]


@pytest.mark.parametrize(
    "table",
    [{"flaot64": Tol(1e-6, 1e-9)}, {"float64": {"rtol": 1e-6, "tolerance": 1}}],
    ids=["unknown_dtype", "unknown_key"],
)
def test_overrides_reject_typos(table: dict[str, Any]) -> None:
    with pytest.raises(ValueError), tolerance_overrides(table):
        pass


@settings(max_examples=60, deadline=None)
@given(
    expected=hnp.arrays(np.float64, small_shapes, elements=finite_floats),
    data=st.data(),
)
def test_rule_is_numpy_isclose(expected: np.ndarray, data: st.DataObject) -> None:
    """|a - e| <= atol + rtol·|e| elementwise: assert_close passes exactly when isclose does."""
    noise = data.draw(hnp.arrays(np.float64, expected.shape, elements=st.floats(-3e-6, 3e-6)))
    actual = expected * (1 + noise) + data.draw(st.sampled_from([0.0, 5e-10, 3e-9]))
    if np.isclose(actual, expected, rtol=1e-6, atol=1e-9).all():
        assert_close(actual, expected, name="f")
    else:
        with pytest.raises(CheckFailed):
            assert_close(actual, expected, name="f")


# --------------------------------------------------------------------------- equal values pass


@settings(max_examples=60, deadline=None)
@given(
    value=hnp.arrays(
        st.sampled_from([np.float64, np.float32, np.int64, np.int32, np.bool_]),
        small_shapes,
    )
)
def test_equal_arrays_pass(value: np.ndarray) -> None:
    # NaN in the same places counts as equal.
    assert_close(value.copy(), value, name="f")
    assert_equal(value.copy(), value, name="f")


@settings(max_examples=30, deadline=None)
@given(value=hnp.arrays(np.float64, small_shapes, elements=finite_floats))
def test_equal_tensors_and_nested_outputs_pass(value: np.ndarray) -> None:
    t = torch.from_numpy(value)
    nested = {"w": (value, [t, 1.5]), "n": 3}
    assert_close({"w": (value.copy(), [t.clone(), 1.5]), "n": 3}, nested, name="f")
    assert_close(t.float(), t.float().clone(), name="f")


@pytest.mark.parametrize(
    "actual",
    [0.25, np.float64(0.25), np.array(0.25), 1 / 4],
    ids=["float", "numpy_scalar", "zero_d_array", "expression"],
)
def test_scalar_forms_are_all_accepted(actual: Any) -> None:
    assert_close(actual, 0.25, name="mse")
    assert_close(actual, np.float64(0.25), name="mse")


def test_an_int_is_accepted_where_a_float_is_expected() -> None:
    assert_close(2, 2.0, name="count")


def test_none_text_and_handles_compare_equal() -> None:
    assert_close(None, None, name="f")
    assert_equal("sum", "sum", name="f")
    assert_close(Handle(3, "Cache"), Handle(7, "Cache"), name="f")


# ------------------------------------------------------------------------------------ kinds


def test_one_element_array_for_a_scalar_fails_with_the_fix() -> None:
    msg = failure(assert_close, np.array([0.5]), 0.5, name="mse(y_true, y_pred)")
    assert msg.startswith("mse(y_true, y_pred): ")
    assert "shape (1,)" in msg and "float(x)" in msg


def test_one_element_tensor_for_a_scalar_suggests_item() -> None:
    msg = failure(assert_close, torch.tensor([0.5]), 0.5, name="loss")
    assert "torch tensor" in msg and ".item()" in msg


def test_larger_array_for_a_scalar_fails() -> None:
    msg = failure(assert_close, np.ones(3), 1.0, name="mse")
    assert "shape (3,)" in msg and "single number" in msg


def test_none_suggests_a_missing_return() -> None:
    msg = failure(assert_close, None, np.ones(3), name="predict")
    assert "None" in msg and "return statement" in msg


def test_handle_where_an_array_is_expected(M: np.ndarray) -> None:
    msg = failure(assert_close, Handle(1, "LinearModel"), M, name="fit")
    assert "LinearModel" in msg and "shape (4, 3)" in msg


def test_tensor_where_an_array_is_expected_and_back(M: np.ndarray) -> None:
    msg = failure(assert_close, torch.from_numpy(M), M, name="f")
    assert "torch tensor" in msg and "NumPy array" in msg
    msg = failure(assert_close, M, torch.from_numpy(M), name="f")
    assert "return a tensor" in msg


def test_list_where_an_array_is_expected(M: np.ndarray) -> None:
    msg = failure(assert_close, M.tolist(), M, name="f")
    assert "a list of 4 values" in msg and "np.asarray" in msg


def test_tuple_with_too_many_outputs_names_the_expected_ones(M: np.ndarray) -> None:
    msg = failure(expect_same_like, (M[0], 1.0, 2.0), (M[0], 1.0), outputs=("w", "b"))
    assert "you returned 3 outputs, expected 2 (w, b)" in msg
    assert "your output [0] matches the expected w" in msg


def test_single_value_where_a_tuple_is_expected(M: np.ndarray) -> None:
    msg = failure(expect_same_like, M[0], (M[0], 1.0), outputs=("w", "b"))
    assert "expected a tuple of 2 values (w, b)" in msg
    assert "it is the expected w" in msg


def test_swapped_outputs_are_pointed_out(M: np.ndarray) -> None:
    msg = failure(expect_same_like, (M[1], M[0]), (M[0], M[1]), outputs=("mu1", "mu0"))
    assert msg.startswith("fit → mu1: ")
    assert "your mu1 and mu0 are swapped" in msg


def test_an_output_equal_to_another_expected_one(M: np.ndarray) -> None:
    msg = failure(expect_same_like, (M[1], M[1]), (M[0], M[1]), outputs=("mu1", "mu0"))
    assert "your mu1 is the expected mu0" in msg


def test_nested_paths_name_the_place(M: np.ndarray) -> None:
    grads = {"W1": M, "b1": M[0]}
    msg = failure(assert_close, (1.0, {"W1": M, "b1": M[0] + 1}), (1.0, grads), name="mlp_loss")
    assert msg.startswith('mlp_loss → output [1]["b1"]: ')
    msg = failure(assert_close, {"W1": M, "b1": 2 * M[0]}, grads, name="mlp_loss → grads")
    assert msg.startswith('mlp_loss → grads["b1"]: ')
    msg = failure(assert_close, [(M, M), (M, M + 1)], [(M, M), (M, M)], name="kfold")
    assert msg.startswith("kfold → item [1][1]: ")  # a list: folds, not outputs


def test_dict_keys_missing_extra_and_case(M: np.ndarray) -> None:
    msg = failure(assert_close, {"w1": M}, {"W1": M}, name="mlp_loss → grads")
    assert "missing key 'W1'" in msg and "unexpected key 'w1'" in msg and "case-sensitive" in msg


# ------------------------------------------------------------------------------------ shape


def test_shape_mismatch_reports_both_shapes(M: np.ndarray) -> None:
    msg = failure(assert_close, np.ones((2, 3)), M, name="f")
    assert "shape (2, 3), expected (4, 3)" in msg


def test_transposed_result_with_swapped_shape(M: np.ndarray) -> None:
    msg = failure(assert_close, M.T.copy(), M, name="f")
    assert "shape (3, 4), expected (4, 3)" in msg and "transposed" in msg


def test_swapped_last_axes_with_other_values() -> None:
    msg = failure(assert_close, np.ones((2, 3, 4)), np.zeros((2, 4, 3)), name="f")
    assert "last two axes are swapped" in msg


@pytest.mark.parametrize(
    "got, want, words",
    [
        ((5, 1), (5,), "extra axis of size 1"),
        ((5,), (5, 1), "missing an axis of size 1"),
        ((5, 5), (5,), "broadcasts to (5, 5)"),
        ((2, 6), (3, 4), "different arrangement"),
        ((2, 3, 0, 0), (2, 3, 5, 6), "x[p:-p] with p = 0 is x[0:0]"),  # dxp[:, :, p:-p, p:-p]
        ((0, 4), (3, 4), "an axis of yours is empty"),
    ],
)
def test_shape_hints(got: tuple[int, ...], want: tuple[int, ...], words: str) -> None:
    msg = failure(assert_close, np.zeros(got), np.ones(want), name="f")
    assert words in msg


# ------------------------------------------------------------------------------------ dtype


def test_float32_array_where_float64_is_expected(M: np.ndarray) -> None:
    msg = failure(assert_close, M.astype(np.float32), M, name="f")
    assert "dtype float32, expected float64" in msg
    assert_close(M.astype(np.float32), M, name="f", check_dtype=False)


def test_check_dtype_false_compares_at_the_lower_precision(M: np.ndarray) -> None:
    # float32 rounding alone exceeds the float64 tolerance; it is within float32's.
    assert_close((M / 3).astype(np.float32), M / 3, name="f", check_dtype=False)


def test_integer_widths_are_interchangeable_but_bool_is_not_int() -> None:
    labels = np.array([0, 1, 1, 0])
    assert_equal(labels.astype(np.int32), labels, name="predict")
    msg = failure(assert_equal, labels.astype(bool), labels, name="predict")
    assert "dtype bool" in msg and ".astype(int)" in msg


def test_integer_array_where_floats_are_expected() -> None:
    msg = failure(assert_close, np.zeros(3, dtype=np.int64), np.zeros(3), name="f")
    assert "dtype int64, expected float64" in msg and "integers" in msg


def test_tensor_dtype_mismatch_names_torch_dtypes() -> None:
    t = torch.ones(2, 3, dtype=torch.float64)
    msg = failure(assert_close, t.float(), t, name="rnn_cell")
    assert "torch.float32, expected torch.float64" in msg and "dtype=x.dtype" in msg


def test_tensor_device_mismatch_is_reported_before_values() -> None:
    expected = torch.ones(2, 3)
    msg = failure(assert_close, torch.empty(2, 3, device="meta"), expected, name="attention")
    assert "your tensor is on meta, expected cpu" in msg and "device=x.device" in msg


def test_float32_scalar_where_a_float_is_expected() -> None:
    msg = failure(assert_close, np.float32(0.5), 0.5, name="mse")
    assert "float32" in msg and "float(x)" in msg


# ---------------------------------------------------------------------------------- NaN/Inf


def test_nan_count_and_first_position(M: np.ndarray) -> None:
    bad = M.copy()
    bad[2, 1] = bad[3, 0] = bad[3, 2] = np.nan
    msg = failure(assert_close, bad, M, name="softmax")
    assert "softmax: your output has 3 NaN values, first at [2, 1]" in msg


def test_nan_is_equal_to_nan_only(M: np.ndarray) -> None:
    e = M.copy()
    e[0, 0] = np.nan
    assert_close(e.copy(), e, name="f")
    msg = failure(assert_close, M, e, name="f")
    assert "expected nan" in msg


def test_infinities(M: np.ndarray) -> None:
    bad = M.copy()
    bad[1, 2] = np.inf
    msg = failure(assert_close, bad, M, name="f")
    assert "1 infinite value, first at [1, 2]" in msg and "overflow" in msg
    assert_close(bad.copy(), bad, name="f")  # the same infinity where one is expected


def test_nan_scalar() -> None:
    msg = failure(assert_close, float("nan"), 0.7, name="bce_loss")
    assert "you returned nan" in msg


# ----------------------------------------------------------------------------------- values


def test_value_message_has_the_key_facts(M: np.ndarray) -> None:
    bad = M.copy()
    bad[1, 2] += 0.5
    bad[3, 0] -= 2.0
    msg = failure(assert_close, bad, M, name="fit_linear(X, y) → w")
    first = msg.splitlines()[0]
    assert first.startswith("fit_linear(X, y) → w: 2 of 12 values differ")
    assert "rtol=1e-06, atol=1e-09" in first
    assert f"first at [1, 2]: expected {M[1, 2]:.6g}" in msg
    assert "largest absolute error 2 at [3, 0]" in msg
    assert "largest relative error" in msg


def test_expected_and_got_show_enough_digits_to_differ() -> None:
    msg = failure(assert_close, 1.0000213, 1.0000201, name="f")
    assert "expected 1.0000201, got 1.0000213" in msg


@settings(max_examples=20, deadline=None)
@given(size=st.integers(200, 5000))
def test_messages_stay_short_for_large_arrays(size: int) -> None:
    rng = np.random.default_rng(size)
    msg = failure(assert_close, rng.normal(size=size), rng.normal(size=size), name="f")
    assert len(msg.splitlines()) <= 12 and len(msg) < 1200


def test_scalar_value_message() -> None:
    msg = failure(assert_close, 0.75, 0.5, name="accuracy")
    assert "accuracy: expected 0.5, got 0.75" in msg
    assert "absolute error 0.25" in msg and "relative error 0.5" in msg


# ------------------------------------------------------------------------------------ hints


def test_hint_transposed_square(rng: np.random.Generator) -> None:
    S = rng.normal(size=(3, 3))
    msg = failure(assert_close, S.T.copy(), S, name="f")
    assert "equals the expected one transposed" in msg


def test_no_transposed_hint_for_symmetric_expected(rng: np.random.Generator) -> None:
    S = rng.normal(size=(3, 3))
    S = S + S.T
    msg = failure(assert_close, S + 1e-3 * rng.normal(size=(3, 3)), S, name="f")
    assert "transposed" not in msg


@settings(max_examples=40, deadline=None)
@given(
    factor=st.sampled_from([2.0, 3.0, 10.0, 0.5, 0.25, -2.0]),
    shape=st.sampled_from([(4, 5), (7,), (2, 3, 3)]),
    seed=st.integers(0, 2**16),
)
def test_hint_constant_factor(factor: float, shape: tuple[int, ...], seed: int) -> None:
    e = np.random.default_rng(seed).uniform(0.5, 2.0, size=shape)
    msg = failure(assert_close, factor * e, e, name="f")
    sign = "-" if factor < 0 else ""
    k = round(abs(factor)) if abs(factor) >= 1 else f"1/{round(1 / abs(factor))}"
    assert f"factor of {sign}{k} " in msg
    if factor < 0:
        assert "sign is wrong" in msg


def test_hint_arbitrary_factor_is_stated(M: np.ndarray) -> None:
    msg = failure(assert_close, 0.7071 * M, M, name="f")
    assert "factor of 0.7071" in msg


def test_hint_wrong_sign(M: np.ndarray) -> None:
    msg = failure(assert_close, -M, M, name="bce_grad → dw")
    assert "wrong sign" in msg


def test_scalar_factor_only_when_telling() -> None:
    assert "factor of 2" in failure(assert_close, 1.0, 0.5, name="mse")
    assert "factor" not in failure(assert_close, 0.7, 0.5, name="mse")


@pytest.mark.parametrize("got, want", [
    (-0.8 / 5333089, 0.8),  # a slope lost to cancellation: any two numbers differ by a factor
    (0.8 * 5333089, 0.8),
    (3.2e-9, 1.7),
])
def test_scalar_factor_is_never_an_absurd_one(got: float, want: float) -> None:
    msg = failure(assert_close, got, want, name="fit_univariate → a")
    assert "factor" not in msg and "sign is wrong" not in msg


def test_array_factor_only_when_plausible(M: np.ndarray) -> None:
    assert "factor" not in failure(assert_close, -M / 5333089, M, name="f")
    assert "factor" not in failure(assert_close, 1e-7 * M, M, name="f")
    assert "factor of 1/250 " in failure(assert_close, M / 250, M, name="f")


def test_hint_rows_versus_columns(rng: np.random.Generator) -> None:
    Z = rng.normal(size=(5, 3))
    rows = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    cols = np.exp(Z) / np.exp(Z).sum(axis=0, keepdims=True)
    msg = failure(assert_close, cols, rows, name="softmax(Z)")
    assert "your rows don't sum to 1 but your columns do" in msg and "axis=1" in msg


def test_hint_normalised_over_the_whole_array(rng: np.random.Generator) -> None:
    Z = rng.normal(size=(5, 3))
    rows = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    msg = failure(assert_close, np.exp(Z) / np.exp(Z).sum(), rows, name="softmax(Z)")
    assert "over the whole array" in msg


def test_hint_centred_along_the_wrong_axis(rng: np.random.Generator) -> None:
    X = rng.normal(3.0, 2.0, size=(6, 4))
    msg = failure(
        assert_close, X - X.mean(axis=1, keepdims=True), X - X.mean(axis=0), name="standardize"
    )
    assert "your columns don't sum to 0 but your rows do" in msg


def test_hint_constant_offset(M: np.ndarray) -> None:
    msg = failure(assert_close, M + 0.5, M, name="predict")
    assert "off by the same amount (+0.5)" in msg


def test_hint_flipped_labels() -> None:
    labels = np.array([0, 1, 1, 0, 1])
    msg = failure(assert_equal, 1 - labels, labels, name="predict")
    assert "0s and 1s are swapped" in msg


def test_hint_all_zeros(M: np.ndarray) -> None:
    msg = failure(assert_close, np.zeros_like(M), M, name="f")
    assert "all zeros" in msg


def test_no_hint_for_unrelated_values(rng: np.random.Generator) -> None:
    msg = failure(assert_close, rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), name="f")
    assert "Hint" not in msg


# ------------------------------------------------------------------------------ assert_equal


def test_assert_equal_compares_ints_exactly() -> None:
    assert_equal(3, 3, name="conv_output_size")
    assert_equal(np.int64(3), 3, name="conv_output_size")
    msg = failure(assert_equal, 4, 3, name="conv_output_size(7, kernel=5)")
    assert msg == "conv_output_size(7, kernel=5): expected 3, got 4"
    # Beyond 2**53 a float comparison would call these equal.
    with pytest.raises(CheckFailed):
        assert_equal(2**60 + 1, 2**60, name="f")
    with pytest.raises(CheckFailed):
        assert_equal(np.array([2**60 + 1]), np.array([2**60]), name="f")


@pytest.mark.parametrize("actual", [True, 3.0, np.float64(3.0)], ids=["bool", "float", "np_float"])
def test_assert_equal_wants_an_int_for_an_int(actual: Any) -> None:
    msg = failure(assert_equal, actual, 3, name="n1")
    assert "expected an int" in msg and "int(x)" in msg


def test_assert_equal_floats_must_match_to_the_last_bit() -> None:
    x = np.array([0.1, 0.2])
    with pytest.raises(CheckFailed) as info:
        assert_equal(np.nextafter(x, 1.0), x, name="f")
    assert "compared exactly" in str(info.value)


def test_a_list_the_test_compares_holds_items_not_outputs() -> None:
    """A list compared as one value (greedy_decode's tokens) has items: "you returned 2 values",
    not "2 outputs"; a tuple of the function's outputs keeps its words."""
    msg = failure(assert_equal, [2, 3], [2, 3, 1], name="greedy_decode → tokens")
    assert msg.startswith("greedy_decode → tokens: you returned 2 values, expected 3"), msg
    assert "your item [0] matches the expected item [0]" in msg
    msg = failure(assert_close, (1.0,), (1.0, 2.0), name="f")
    assert msg.startswith("f: you returned 1 output, expected 2"), msg


def test_tensors_where_ints_are_expected_are_named() -> None:
    """0-d tensors print as their numbers, and are no ints to a dict lookup or a condition."""
    import torch

    msg = failure(assert_equal, [torch.tensor(2), torch.tensor(3)], [2, 3], name="tokens")
    assert msg.startswith("tokens → item [0]: you returned a torch tensor of shape ()"), msg
    assert "Hint: your list holds torch tensors where Python ints are expected: take int(t)" in msg
    assert "return a Python int" not in msg  # the one hint says it, with why
    msg = failure(assert_equal, [torch.tensor(2)], [2, 3], name="tokens")
    assert "Hint: your list holds torch tensors" in msg
    assert tensors_for_ints([2, 3], [2, 3]) is None and tensors_for_ints([2.0], [2]) is None


def test_assert_equal_on_folds() -> None:
    folds = [(np.array([2, 3]), np.array([0, 1])), (np.array([0, 1]), np.array([2, 3]))]
    assert_equal([(t.copy(), v.copy()) for t, v in folds], folds, name="kfold_indices(4, 2)")
    wrong = [folds[0], (np.array([0, 2]), np.array([1, 3]))]
    msg = failure(assert_equal, wrong, folds, name="kfold_indices(4, 2)")
    assert msg.startswith("kfold_indices(4, 2) → item [1][0]: 1 of 2 values differ")


# ------------------------------------------------------------------------------ expect_same


def expect_same_like(actual: Any, expected: Any, outputs: tuple[str, ...] | None = None) -> Any:
    """expect_same on a one-function student and reference returning fixed values."""
    student = types.SimpleNamespace(fit=lambda *a, **k: actual)
    reference = types.SimpleNamespace(fit=lambda *a, **k: expected)
    return expect_same(student, reference, "fit", outputs=outputs)


def _ref_mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean((y_true - y_pred) ** 2))  # REFERENCE-SOURCE-LINE


def test_expect_same_returns_the_students_value(M: np.ndarray) -> None:
    student = types.SimpleNamespace(
        mse=lambda y_true, y_pred: float(np.mean((y_true - y_pred) ** 2))
    )
    got = expect_same(student, types.SimpleNamespace(mse=_ref_mse), "mse", M[:, 0], M[:, 1])
    assert got == _ref_mse(M[:, 0], M[:, 1])


def test_expect_same_names_a_forgotten_mean_after_the_input(rng: np.random.Generator) -> None:
    y, p = rng.normal(size=50), rng.normal(size=50)
    student = types.SimpleNamespace(
        mse=lambda y_true, y_pred: float(np.sum((y_true - y_pred) ** 2))
    )
    msg = failure(expect_same, student, types.SimpleNamespace(mse=_ref_mse), "mse", y, p)
    assert msg.startswith("mse: expected ")
    assert "factor of 50" in msg and "y_true.shape[0]" in msg
    assert "mse(y_true=(50,) float64, y_pred=(50,) float64)" in msg
    assert "REFERENCE-SOURCE-LINE" not in msg and "np.mean" not in msg


def test_expect_same_names_n_minus_one(rng: np.random.Generator) -> None:
    y, p = rng.normal(size=8), rng.normal(size=8)
    student = types.SimpleNamespace(
        mse=lambda y_true, y_pred: float(np.sum((y_true - y_pred) ** 2) / 7)
    )
    msg = failure(expect_same, student, types.SimpleNamespace(mse=_ref_mse), "mse", y, p)
    assert "n − 1 instead of n" in msg


def test_expect_same_gives_the_reference_copies(M: np.ndarray) -> None:
    seen: list[np.ndarray] = []

    def mutating_reference(x: np.ndarray) -> np.ndarray:
        x *= 2  # in place, as some references do
        return x

    def student_fn(x: np.ndarray) -> np.ndarray:
        seen.append(x.copy())
        return 2 * x

    original = M.copy()
    expect_same(
        types.SimpleNamespace(double=student_fn),
        types.SimpleNamespace(double=mutating_reference),
        "double",
        M,
    )
    np.testing.assert_array_equal(seen[0], original)
    np.testing.assert_array_equal(M, original)


def test_expect_same_output_names_and_kwargs(M: np.ndarray) -> None:
    def ref(X: np.ndarray, y: np.ndarray, lam: float = 0.0) -> tuple[np.ndarray, float]:
        return X[0] * lam, 1.0

    def stu(X: np.ndarray, y: np.ndarray, lam: float = 0.0) -> tuple[np.ndarray, float]:
        return X[0] * lam, 1.5

    assert (
        expect_same(
            types.SimpleNamespace(fit_ridge=ref),
            types.SimpleNamespace(fit_ridge=ref),
            "fit_ridge",
            M,
            M[:, 0],
            lam=0.3,
            outputs=("w", "b"),
        )[1]
        == 1.0
    )
    msg = failure(
        expect_same,
        types.SimpleNamespace(fit_ridge=stu),
        types.SimpleNamespace(fit_ridge=ref),
        "fit_ridge",
        M,
        M[:, 0],
        lam=0.3,
        outputs=("w", "b"),
    )
    assert msg.startswith("fit_ridge → b: expected 1.0, got 1.5")
    assert "lam=0.3" in msg


def test_expect_same_exact(M: np.ndarray) -> None:
    with pytest.raises(CheckFailed):
        expect_same(
            types.SimpleNamespace(f=lambda: M + 1e-12),
            types.SimpleNamespace(f=lambda: M),
            "f",
            exact=True,
        )
    expect_same(types.SimpleNamespace(f=lambda: M + 1e-12), types.SimpleNamespace(f=lambda: M), "f")


def test_expect_same_rejects_outputs_that_do_not_fit_the_reference() -> None:
    with pytest.raises(ValueError):
        expect_same_like(1.0, 1.0, outputs=("w", "b"))


# ----------------------------------------------------------------------- assert_no_warnings


@pytest.mark.parametrize(
    "warning, hint",
    [
        ("overflow encountered in exp", "never exponentiates a large positive number"),
        ("invalid value encountered in log", "produced NaN"),
        ("divide by zero encountered in log", "log(0)"),
        ("overflow encountered in square", "largest float"),
    ],
)
def test_warnings_fail_with_a_hint(warning: str, hint: str) -> None:
    student = types.SimpleNamespace(last_warnings=[("RuntimeWarning", warning)])
    msg = failure(assert_no_warnings, student, name="sigmoid")
    assert msg.startswith(f"sigmoid raised RuntimeWarning: {warning} — ")
    assert hint in msg


def test_repeated_warnings_are_listed_once() -> None:
    warnings = [("RuntimeWarning", "overflow encountered in exp")] * 3 + [
        ("DeprecationWarning", "np.foo is deprecated, use np.bar")
    ]
    msg = failure(assert_no_warnings, types.SimpleNamespace(last_warnings=warnings), name="f")
    assert msg.count("overflow encountered in exp") == 1
    assert "also DeprecationWarning: np.foo is deprecated" in msg


def test_no_warnings_passes() -> None:
    assert_no_warnings(types.SimpleNamespace(last_warnings=[]), name="sigmoid")


# ---------------------------------------------------------------------------- assert_raises


class StandInStudentError(Exception):
    """Same attributes as grader.grading.remote.StudentError: the student's exception, as data."""

    def __init__(self, type_name: str, message: str, mro: tuple[str, ...]) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.traceback = "Traceback (most recent call last): ..."
        self.mro = mro


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> type[StandInStudentError]:
    module = types.ModuleType("grader.grading.remote")
    module.StudentError = StandInStudentError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "grader.grading.remote", module)
    return StandInStudentError


def raising(type_name: str, *bases: str, message: str = "kernel larger than input") -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise StandInStudentError(
            type_name, message, (type_name, *bases, "Exception", "BaseException")
        )

    return call


def test_raises_passes_and_returns_the_error(stand_in: type) -> None:
    err = assert_raises("ValueError", raising("ValueError"), 3, kernel=5, name="conv_output_size")
    assert isinstance(err, stand_in) and err.type_name == "ValueError"


def test_raises_accepts_subclasses_tuples_and_classes(stand_in: type) -> None:
    assert_raises("ArithmeticError", raising("ZeroDivisionError", "ArithmeticError"), name="f")
    assert_raises(("TypeError", "ValueError"), raising("ValueError"), name="f")
    assert_raises(ValueError, raising("ValueError"), name="f")


def test_raises_fails_when_another_error_is_raised(stand_in: type) -> None:
    msg = failure(
        assert_raises,
        "ValueError",
        raising("TypeError", message="unsupported operand"),
        3,
        kernel=5,
        name="conv_output_size(3, kernel=5)",
    )
    assert msg.startswith(
        "conv_output_size(3, kernel=5) should raise ValueError, but raised TypeError"
    )
    assert "unsupported operand" in msg


def test_raises_fails_when_the_call_returns(stand_in: type) -> None:
    msg = failure(
        assert_raises,
        "ValueError",
        lambda *a, **k: 0,
        3,
        kernel=5,
        name="conv_output_size(3, kernel=5)",
    )
    assert msg == "conv_output_size(3, kernel=5) should raise ValueError, but returned 0"
    msg = failure(assert_raises, "ValueError", lambda: np.zeros(2), name="f")
    assert "returned a NumPy array of shape (2,)" in msg


def test_raises_passes_not_implemented_through(stand_in: type) -> None:
    with pytest.raises(StandInStudentError):
        assert_raises("ValueError", raising("NotImplementedError", "RuntimeError"), name="f")


def test_raises_does_not_swallow_grader_errors(stand_in: type) -> None:
    def broken() -> None:
        raise ValueError("an error of the grading side, not the student's")

    with pytest.raises(ValueError):
        assert_raises("ValueError", broken, name="f")


# --------------------------------------------------------------------- assert_finite / shape


def test_assert_finite_walks_nested_outputs() -> None:
    assert_finite((1.0, {"W1": np.ones(3), "b1": torch.zeros(2)}), name="mlp_loss")
    msg = failure(assert_finite, (1.0, {"W1": np.array([1.0, np.inf])}), name="mlp_loss")
    assert msg.startswith('mlp_loss → output [1]["W1"]: your output has 1 infinite value')
    assert "you returned nan" in failure(assert_finite, float("nan"), name="loss")
    assert "NaN" in failure(assert_finite, torch.tensor([0.0, float("nan")]), name="out")


def test_assert_finite_needs_numbers() -> None:
    assert "Cache" in failure(assert_finite, Handle(1, "Cache"), name="f")


def test_assert_shape() -> None:
    assert_shape(np.zeros((3, 4)), (3, 4), name="out")
    assert_shape(torch.zeros(2, 5), (None, 5), name="out")
    assert_shape(1.5, (), name="loss")
    msg = failure(assert_shape, np.zeros((4, 3)), (3, 4), name="affine_forward → out")
    assert msg.startswith("affine_forward → out: your output has shape (4, 3), expected (3, 4)")
    assert "(any, 3)" in failure(assert_shape, np.zeros((3, 4)), (None, 3), name="out")
    assert "float" in failure(assert_shape, 1.5, (3,), name="out")


# ------------------------------------------------------------------------------ find_mismatch


def test_find_mismatch_locates_the_largest_errors() -> None:
    e = np.array([[1.0, 2.0], [3.0, 0.0]])
    a = np.array([[1.0, 2.5], [6.0, 1e-3]])
    m = find_mismatch(a, e, Tol(rtol=1e-6, atol=1e-9))
    assert m is not None
    assert (m.count, m.total, m.first_index) == (3, 4, (0, 1))
    assert m.max_abs_index == (1, 0) and m.max_abs == pytest.approx(3.0)
    assert m.max_rel_index == (1, 1) and m.max_rel == float("inf")
    assert find_mismatch(e, e.copy(), Tol(0.0, 0.0)) is None


@settings(max_examples=40, deadline=None)
@given(value=hnp.arrays(np.float64, small_shapes, elements=finite_floats), data=st.data())
def test_find_mismatch_counts_what_isclose_rejects(value: np.ndarray, data: st.DataObject) -> None:
    other = data.draw(hnp.arrays(np.float64, value.shape, elements=finite_floats))
    bad = ~np.isclose(other, value, rtol=1e-6, atol=1e-9)
    m = find_mismatch(other, value, Tol(1e-6, 1e-9))
    assert (m.count if m else 0) == int(bad.sum())


def test_string_arrays_compare_element_by_element() -> None:
    assert_equal(np.array(["sum", "mean"]), np.array(["sum", "mean"]), name="f")
    msg = failure(assert_close, np.array(["sum", "max"]), np.array(["sum", "mean"]), name="f")
    assert "1 of 2 values differ" in msg and "expected 'mean', got 'max'" in msg


def test_expect_same_names_the_standard_deviation_ddof(rng: np.random.Generator) -> None:
    X = rng.normal(2.0, 3.0, size=(17, 4))

    def ref(X: np.ndarray) -> np.ndarray:
        return (X - X.mean(axis=0)) / X.std(axis=0)

    def stu(X: np.ndarray) -> np.ndarray:
        return (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)

    msg = failure(
        expect_same, types.SimpleNamespace(scale=stu), types.SimpleNamespace(scale=ref), "scale", X
    )
    assert "n = 17 (X.shape[0])" in msg and "ddof=1" in msg


# ------------------------------------------------------------- every wrong output, classic mistakes


def test_every_wrong_output_of_a_tuple_is_reported() -> None:
    msg = failure(assert_close, (np.array([1.0, 2.0]), 0.0), (np.array([1.5, 2.0]), 1.0),
                  name="fit_linear", outputs=("w", "b"))
    assert msg.startswith("fit_linear → w: 1 of 2 values differ")
    assert "Also wrong: fit_linear → b: expected 1.0, got 0.0" in msg


# Mutants of the toy topic of ``_course_topic``, by file name.
TOY_MUTANTS = {
    "same": '"""Mutant: another function only."""\n'
            "def _centre(x):\n    return x - x.mean()\n\n\n"
            "def fit(x):\n    \"\"\"Other doc.\"\"\"\n    return float(_centre(x).std()), float(x.mean())\n\n\n"
            "def other():\n    return 1\n",
    "helper_changed": '"""Mutant: the centring is forgotten in the helper."""\n'
                      "def _centre(x):\n    return x\n\n\n"
                      "def fit(x):\n    return float(_centre(x).std()), float(x.mean())\n",
    "no_mean": '"""Mutant: fit forgets the mean and returns b = 0."""\n'
               "def fit(x):\n    return float((x - x.mean()).std()), 0.0\n",
}


def _course_topic(tmp_path, mutants: dict[str, str]) -> types.ModuleType:
    import importlib.util

    topic = tmp_path / "reference" / "toy"
    (topic / "mutants").mkdir(parents=True)
    (topic / "solution.py").write_text(
        "def _centre(x):\n    return x - x.mean()\n\n\n"
        "def fit(x):\n    \"\"\"Doc.\"\"\"\n    return float(_centre(x).std()), float(x.mean())\n")
    for name, source in mutants.items():
        (topic / "mutants" / f"{name}.py").write_text(source)
    spec = importlib.util.spec_from_file_location("toy_reference", topic / "solution.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_mutant_that_gives_the_students_value_is_named(tmp_path) -> None:
    reference = _course_topic(tmp_path, {
        "no_mean": TOY_MUTANTS["no_mean"],
        "helper_changed": TOY_MUTANTS["helper_changed"],
        "imports_a_module": '"""Mutant: never loaded."""\nimport toy\n'
                            "def fit(x):\n    return toy.fit(x)\n",
    })
    x = np.array([1.0, 2.0, 4.0])
    student = types.SimpleNamespace(fit=lambda v: (float((v - v.mean()).std()), 0.0))
    msg = failure(expect_same, student, reference, "fit", x, outputs=("s", "b"))
    assert "classic mistake: fit forgets the mean and returns b = 0" in msg, msg
    # A value no mutant gives names none.
    student = types.SimpleNamespace(fit=lambda v: (1.0, 2.0))
    assert "classic mistake" not in failure(expect_same, student, reference, "fit", x)
    # A mutant importing a module by name is never loaded: that name could be a student's module.
    from grader.checks.hints import _load_mutant

    assert _load_mutant(tmp_path / "reference" / "toy" / "mutants" / "imports_a_module.py") is None


def test_classic_mistakes_run_only_mutants_that_change_the_function(tmp_path) -> None:
    from grader.checks.hints import classic_mistakes

    reference = _course_topic(tmp_path, {
        "same": TOY_MUTANTS["same"],
        "helper_changed": TOY_MUTANTS["helper_changed"],
    })
    ran: list[Any] = []
    found = classic_mistakes(reference, "fit", (np.array([1.0, 5.0]),), {},
                             lambda v: ran.append(v) or True)
    assert found == ["the centring is forgotten in the helper"]
    assert len(ran) == 1


SLOW_MUTANT = ('"""Mutant: a mistake of cost (measured where it should be worked out)."""\n'
               "import time\n\n\n"
               "def fit(x):\n    time.sleep(120)\n    return float((x - x.mean()).std()), 0.0\n")


def test_a_mutant_slower_than_the_search_waits_for_is_given_up_and_the_others_named(
        tmp_path) -> None:
    """A mutant whose mistake is its cost (finite differences at a test's large size take
    minutes) is given up after its seconds; the search goes on to the others."""
    from grader.checks.hints import classic_mistakes

    reference = _course_topic(tmp_path, {"a_slow": SLOW_MUTANT, "no_mean": TOY_MUTANTS["no_mean"]})
    x = np.array([1.0, 2.0, 4.0])
    start = time.monotonic()
    found = classic_mistakes(reference, "fit", (x,), {}, lambda v: v[1] == 0.0, seconds=0.3)
    assert found == ["fit forgets the mean and returns b = 0"]
    assert time.monotonic() - start < 60
    # Through a check, each mutant may take 20 times the reference's time, at least a second.
    student = types.SimpleNamespace(fit=lambda v: (float((v - v.mean()).std()), 0.0))
    start = time.monotonic()
    msg = failure(expect_same, student, reference, "fit", x, outputs=("s", "b"))
    assert "classic mistake: fit forgets the mean and returns b = 0" in msg, msg
    assert time.monotonic() - start < 60


def test_a_test_past_its_limit_ends_the_search_with_what_it_found(tmp_path) -> None:
    """The watchdog of the test's own limit, firing while a mutant runs, ends the search (it is
    not taken for that mutant's failure, with the next one run unbounded): the failure being
    explained is already known."""
    from grader.checks.hints import classic_mistakes
    from grader.grading import bounds

    reference = _course_topic(tmp_path, {"a_slow": SLOW_MUTANT, "no_mean": TOY_MUTANTS["no_mean"]})
    ran: list[Any] = []
    start = time.monotonic()
    with bounds.watchdog(time.monotonic() - bounds.MIN_MARGIN + 0.3, 0.1):
        found = classic_mistakes(reference, "fit", (np.array([1.0, 5.0]),), {},
                                 lambda v: ran.append(v) or True)
    assert found == [] and ran == []
    assert time.monotonic() - start < 60


def test_a_bounded_block_inside_the_watchdog_keeps_the_watchdogs_deadline() -> None:
    from grader.grading import bounds

    start = time.monotonic()
    with pytest.raises(bounds.TestOverran):
        with bounds.watchdog(time.monotonic() - bounds.MIN_MARGIN + 1.0, 0.1):  # fires at 1 s
            with pytest.raises(bounds.OutOfTime):  # its own seconds come first
                with bounds.at_most(0.2):
                    time.sleep(30)
            time.sleep(30)  # the watchdog's timer, set again for what is left of it, fires
    assert time.monotonic() - start < 30
    start = time.monotonic()
    with pytest.raises(bounds.TestOverran):  # the watchdog's deadline comes first
        with bounds.watchdog(time.monotonic() - bounds.MIN_MARGIN + 0.3, 0.1):
            with bounds.at_most(30):
                time.sleep(30)
    assert time.monotonic() - start < 30
    time.sleep(0.3)  # disarmed: nothing fires afterwards


def test_classic_mistakes_prepared_ahead_are_named_without_loading_or_reading_anything(
        tmp_path, monkeypatch) -> None:
    """A batch and the service prepare every topic's mutants before they fork grading children
    (``Engine.prepare_children``): a child then names the same mistakes, loading no mutant and
    parsing no source."""
    import ast

    from grader.checks import hints

    reference = _course_topic(tmp_path, TOY_MUTANTS)
    hints.prepare(reference)
    read: list[Any] = []
    parse = ast.parse
    monkeypatch.setattr(ast, "parse", lambda *a, **k: (read.append(a[0]), parse(*a, **k))[1])
    monkeypatch.setattr(hints.importlib.util, "spec_from_file_location",
                        lambda *a, **k: read.append(a) or None)
    x = np.array([1.0, 5.0])
    for fn, student, named in (("fit", (2.0, 3.0), ["the centring is forgotten in the helper"]),
                               ("fit", (2.0, 0.0), ["fit forgets the mean and returns b = 0"]),
                               ("fit", (9.0, 9.0), [])):
        found = hints.classic_mistakes(reference, fn, (x,), {}, lambda v, s=student: v == s)
        assert found == named
    assert read == []
    # Unprepared, the first failing comparison loads and reads them (what each child did).
    monkeypatch.undo()
    other = _course_topic(tmp_path / "unprepared", {
        "no_mean": TOY_MUTANTS["no_mean"]})
    monkeypatch.setattr(ast, "parse", lambda *a, **k: (read.append(a[0]), parse(*a, **k))[1])
    assert hints.classic_mistakes(other, "fit", (x,), {}, lambda v: v == (2.0, 0.0)) == \
        ["fit forgets the mean and returns b = 0"]
    assert read


def _toy_module(folder, name: str, source: str) -> types.ModuleType:
    import importlib.util

    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(source)
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("change", ["moved", "comment", "const", "default", "wrapped",
                                    "closure"])
def test_the_bytecode_shortcut_says_same_only_where_the_sources_agree(tmp_path,
                                                                      change: str) -> None:
    """Whether a mutant changes a function is first asked of the bytecode (no source parsed);
    it says "the same" only where it can tell, and never where the sources differ."""
    from grader.checks import hints

    base = ("import functools\n\n\ndef wrap(f):\n    @functools.wraps(f)\n"
            "    def inner(*a):\n        return f(*a)\n    return inner\n\n\n"
            "def make(k):\n    def f(x):\n        return x * k\n    return f\n\n\n"
            "def fit(x, eps=1e-5):\n    return x * 2 + eps\n\n\n"
            "@wrap\ndef g(x):\n    return x + 1\n\n\nh = make(2)\n")
    other, changed = {
        "moved": ("\n\n\n" + base, None),  # the same code further down its file
        "comment": (base.replace("    return x * 2", "    # twice\n    return (x * 2)"), None),
        "const": (base.replace("x * 2 + eps", "x * 2.0 + eps"), "fit"),  # 1.0 is not 1
        "default": (base.replace("eps=1e-5", "eps=1e-8"), "fit"),  # not in the code object
        "wrapped": (base.replace("return x + 1", "return x - 1"), "g"),  # the wrapper is the same
        "closure": (base.replace("h = make(2)", "h = make(3)"), None),  # its cell, not its code
    }[change]
    one = _toy_module(tmp_path / "one", f"toy_one_{change}", base)
    two = _toy_module(tmp_path / "two", f"toy_two_{change}", other)
    for name in ("fit", "g", "h"):
        shortcut = hints._same_code(two, one, name)
        sources = hints._body_of(two, name) == hints._body_of(one, name)
        assert not shortcut or sources, name  # never "the same" where the sources differ
        assert sources == (name != changed), name
        # Only plain functions are told apart by their bytecode; wrappers and closures by
        # their sources.
        assert shortcut == (name == "fit" and changed != "fit"), name
        assert hints._changes(two, one, name) == (name == changed), name


def test_the_bytecode_shortcut_agrees_with_the_sources_on_every_mutant_of_the_course() -> None:
    """Where a mutant's function runs the same bytecode as the reference's, their sources are
    the same (without docstrings): the shortcut never hides a change that comparing sources sees."""
    import inspect
    from pathlib import Path

    from grader.checks import hints
    from grader.course import Course
    from grader.grading.plugin import load_reference

    course = Course(Path(__file__).resolve().parent.parent)
    compared = 0
    for topic in course.topics():
        reference = load_reference(topic, str(course.solution(topic)))
        for path in sorted((course.solution(topic).parent / "mutants").glob("*.py")):
            mutant = hints._load_mutant(path)
            assert mutant is not None, path
            for name, value in vars(mutant).items():
                if (inspect.isfunction(value) or inspect.isclass(value)) and \
                        value.__module__ == mutant.__name__ and \
                        hints._same_code(mutant, reference, name):
                    assert hints._body_of(mutant, name) == hints._body_of(reference, name), \
                        (topic, path.stem, name)
                    compared += 1
    assert compared > 500  # most of a mutant is the reference's code


def test_a_hint_that_finds_the_student_failing_gives_no_hint() -> None:
    from grader.grading.remote import StudentError

    def evidence() -> str:
        raise StudentError("f", "ZeroDivisionError", "division by zero", "", ("ZeroDivisionError",))

    msg = failure(assert_close, 1.0, 2.0, name="f", hint=evidence)
    assert msg.startswith("f: expected 2.0, got 1.0") and "Hint: off by a constant factor" in msg
    assert "Hint: centre x" in failure(assert_close, 1.0, 2.0, name="f", hint=lambda: "centre x")


# ------------------------------------------- classic mistakes from any check, hints that agree


def _class_topic(tmp_path) -> types.ModuleType:
    """A toy topic whose function builds its result with a class of the module, as autograd's
    run_program does with Tensor: a mutant that changes only the class changes the function."""
    import importlib.util

    topic = tmp_path / "reference" / "cls"
    (topic / "mutants").mkdir(parents=True)
    solution = ("import numpy as np\n\n\nclass Scaler:\n    def apply(self, x):\n"
                "        return x / len(x)\n\n\n"
                "def run(x, step):\n    return Scaler().apply(x), step(x)\n")
    (topic / "solution.py").write_text(solution)
    (topic / "mutants" / "not_divided.py").write_text(
        '"""Mutant: apply forgets to divide by len(x)."""\n'
        + solution.replace("return x / len(x)", "return x"))
    spec = importlib.util.spec_from_file_location("cls_reference", topic / "solution.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("check", [assert_close, assert_equal])
def test_any_check_names_the_classic_mistake_of_the_call_it_is_given(tmp_path, check) -> None:
    from grader.checks.compare import Mistakes

    reference = _class_topic(tmp_path)
    x = np.array([3.0, 6.0, 9.0])
    # The student's step is a handle in the worker; the mutants run with the reference's own.
    got = (x.copy(), 1.0)  # what the mutant gives: the whole result is compared
    mistakes = Mistakes(reference, "run", got, (x, lambda v: 1.0))
    msg = failure(check, got[0], x / 3, name="run → scaled", mistakes=mistakes)
    assert "classic mistake: apply forgets to divide by len(x)" in msg, msg
    # A guess from the values' pattern would only repeat it, or contradict it: left out.
    assert "factor" not in msg, msg
    # Part of the result matches, the rest does not: no mistake is named.
    other = Mistakes(reference, "run", (x.copy(), 2.0), (x, lambda v: 1.0))
    assert "classic mistake" not in failure(check, got[0], x / 3, name="run", mistakes=other)
    # select: only that item of the mutant's result is compared (the rest stays in the worker).
    picked = Mistakes(reference, "run", x.copy(), (x, lambda v: 1.0), select=0)
    assert "classic mistake" in failure(check, x.copy(), x / 3, name="run", mistakes=picked)


def test_a_specific_hint_leaves_out_the_guesses_that_contradict_it(rng) -> None:
    y = rng.normal(size=8)
    # Alone, the pattern of the values is worth a guess.
    assert "n − 1" in failure(assert_close, y * 8 / 7, y, name="loss")
    # With the test's own hint, or a classic mistake, the guess would contradict it: left out.
    msg = failure(assert_close, y * 8 / 7, y, name="loss", hint="average over the real tokens")
    assert "average over the real tokens" in msg and "n − 1" not in msg and "factor" not in msg
    msg = failure(assert_close, 8 / 7, 1.0, name="loss", hint="average over the real tokens")
    assert "factor" not in msg and "n − 1" not in msg
    # Hints about the kind of value are not guesses: they stay with the test's hint.
    msg = failure(assert_close, None, y, name="loss", hint="average over the real tokens")
    assert "return statement" in msg


def test_a_factor_is_named_as_a_size_only_where_one_axis_has_that_length() -> None:
    from grader.checks.hints import size_names

    # One axis: named.
    assert size_names([("X.shape[0]", 0, (5, 3)), ("X.shape[1]", 1, (5, 3))]) == \
        {5: "X.shape[0]", 3: "X.shape[1]"}
    # The same axis of arrays of one shape is one dimension: named once.
    assert size_names([("y_true.shape[0]", 0, (50,)), ("y_pred.shape[0]", 0, (50,))]) == \
        {50: "y_true.shape[0]"}
    # Two different axes of one length: which one the factor is cannot be told.
    names = size_names([("E.shape[0]", 0, (7, 3)), ("E.shape[1]", 1, (7, 3)),
                        ("contexts.shape[0]", 0, (5, 3)), ("contexts.shape[1]", 1, (5, 3))])
    assert names[7] == "E.shape[0]" and names[5] == "contexts.shape[0]"
    assert names[3].startswith("the length of more than one axis")
    assert "E.shape[1]" in names[3] and "contexts.shape[1]" in names[3]
    square = size_names([("the size of axis 0 of W", 0, (4, 4)),
                         ("the size of axis 1 of W", 1, (4, 4))])
    assert square[4].startswith("the length of more than one axis")


@pytest.mark.parametrize("D,n,named", [(3, 3, False), (4, 3, True), (3, 4, True)],
                         ids=["D_equals_n", "D_above_n", "D_below_n"])
def test_expect_same_names_a_factor_only_when_its_size_is_unambiguous(D, n, named) -> None:
    rng = np.random.default_rng(0)
    E, contexts = rng.normal(size=(7, D)), rng.integers(0, 7, size=(5, n))

    def ref(E: np.ndarray, contexts: np.ndarray) -> np.ndarray:
        return E[contexts].mean(axis=1)  # (N, D)

    def stu(E: np.ndarray, contexts: np.ndarray) -> np.ndarray:
        return E[contexts].sum(axis=1)  # not divided by n

    msg = failure(expect_same, types.SimpleNamespace(f=stu), types.SimpleNamespace(f=ref), "f",
                  E, contexts)
    assert f"factor of {n}" in msg, msg
    assert (f"{n} is contexts.shape[1]" in msg) == named, msg
    assert f"{n} is E.shape[1]" not in msg and f"{n} is the size of axis" not in msg, msg


@pytest.mark.parametrize(("called", "innermost", "message", "text"), [
    ("run_program", "sum", "Tensor.sum: not implemented yet",
     "Tensor.sum: not implemented (run_program calls it)"),
    ("run_program", "sum", "", "sum: not implemented (run_program calls it)"),
    ("run_program", "sum", "TODO", "sum: not implemented (run_program calls it)"),
    ("run_program", "helper", "Tensor.sum: not implemented yet",
     "helper: not implemented (run_program calls it)"),
    ("add", "add", "add: not implemented yet", "add: not implemented"),
    ("add", None, "add: not implemented yet", "add: not implemented"),
    ("fit", None, "", "fit: not implemented"),
    ("Model.fit", "fit", "", "Model.fit: not implemented"),
], ids=["named_by_its_message", "no_message", "message_names_nothing",
        "message_names_another_function", "the_called_function", "no_frames",
        "nothing_known", "method_called"])
def test_not_implemented_names_the_function_left_as_a_stub(called, innermost, message,
                                                           text) -> None:
    from grader.checks.describe import not_implemented

    assert not_implemented(called, innermost, message) == text


def test_a_result_the_test_could_not_use_is_told_by_what_the_test_read() -> None:
    from grader.checks.describe import returned_unusable

    assert returned_unusable("f", KeyError("E")) == (
        "what f returned has no key 'E', which the test reads: return a dict with the keys the "
        "statement names")
    nothing: Any = None
    try:
        nothing["E"]
    except TypeError as exc:
        said = returned_unusable("f", exc)
    assert said.startswith("what f returned holds None where the test reads a value") and \
        "missing return" in said, said
    assert returned_unusable("f", AttributeError("'float' object has no attribute 'shape'")) == (
        "what f returned is a number (float) (or holds one) where the test reads its .shape "
        "(AttributeError: 'float' object has no attribute 'shape'): return what the statement "
        "gives, as many outputs as it names")
    for error, use in ((TypeError("'int' object is not subscriptable"), "reads an item of it"),
                       (TypeError("list indices must be integers or slices, not str"),
                        "reads it as an array or a dict"),
                       (TypeError("cannot unpack non-iterable float object"),
                        "takes values out of it"),
                       (TypeError("object of type 'int' has no len()"), "measures its length")):
        assert f"where the test {use} (" in returned_unusable("f", error)
    assert returned_unusable("f", ValueError("x")) == (
        "what f returned could not be checked: ValueError: x. Check the return type and the "
        "number of outputs.")

    class Unreadable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert "could not be read" in returned_unusable("f", Unreadable())
