"""Hidden tests of the conv topic: the size formula and its validation, convolution and pooling
forward and backward against the reference and against central differences of the student's
own forward pass, and the pooling backward passes once at a size where one taken by finite
differences cannot finish in time (a forward pass per entry). Not the convolution's: at any size
where that holds, element-by-element loops, which this topic's sizes let through, take seconds
too."""

from __future__ import annotations

import numpy as np
import pytest

from grader.checks import (CheckFailed, assert_close, assert_equal, assert_outputs, assert_raises,
                           assert_shape, beyond_differences, check_gradient, dot_with_output)

# ------------------------------------------------------------------------------------ helpers


def _forward(student, fn: str, *args) -> tuple:
    """(out, cache handle): the cache stays in the student's process."""
    return assert_outputs(student.call(fn, *args, keep=(1,)), ("out", "cache"), fn)


def _backward(student, fwd: str, bwd: str, args: tuple, dout, names: tuple[str, ...],
              max_elements: int | None = None) -> tuple:
    """The student's backward pass on the cache of their own forward pass. ``max_elements``: the
    most its reply may hold where that is more than dout calls for (the cache stays remote)."""
    _, cache = _forward(student, fwd, *args)
    got = student.call(bwd, dout, cache, max_elements=max_elements)
    return assert_outputs(got, names, bwd) if len(names) > 1 else (got,)


def _check_all(got: tuple, expected: tuple, names: tuple[str, ...], call: str) -> None:
    for name, g, e in zip(names, got, expected):
        assert_close(g, e, name=f"{call} → {name}")


def _dot_with(student, fn: str, make_args, dout, call: str):
    """f_batch for a gradient check: values ↦ sum(fn(*make_args(v))[0] · dout), batched."""

    def f_batch(values: list) -> list[float]:
        outs = student.batch(fn, [make_args(v) for v in values], select=0)
        for out in outs:
            assert_shape(out, dout.shape, name=f"{call} → out")
        return [float(np.sum(out * dout)) for out in outs]

    return f_batch


def _conv_inputs(rng, N, C, H, W, F, KH, KW) -> tuple:
    # Asymmetric random filters: a flipped kernel gives different outputs.
    return rng.normal(size=(N, C, H, W)), rng.normal(size=(F, C, KH, KW)), rng.normal(size=F)


def _distinct(rng, shape) -> np.ndarray:
    """Values at least 0.01 apart, so no window has a tie and max pooling is smooth within ±h."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.05 + rng.uniform(0, 0.04, size=n)).reshape(shape) - n * 0.025


# --------------------------------------------------------------------------- conv_output_size

SIZE_CASES = {
    # (n, kernel, stride, padding, dilation): chosen so floor, ceil and truncation disagree
    "stride_one": [(5, 3, 1, 0, 1), (7, 1, 1, 0, 1), (4, 4, 1, 0, 1)],
    "stride_not_dividing": [(8, 3, 2, 0, 1), (10, 4, 3, 0, 1), (7, 2, 4, 0, 1)],
    "padding": [(5, 3, 1, 1, 1), (6, 5, 2, 2, 1), (1, 3, 1, 1, 1)],
    "dilation": [(10, 3, 1, 0, 2), (9, 3, 2, 1, 3), (12, 2, 3, 2, 4)],
}


@pytest.mark.points(1)
@pytest.mark.parametrize("group", list(SIZE_CASES))
def test_conv_output_size(student, reference, group):
    for n, k, s, p, d in SIZE_CASES[group]:
        assert_equal(
            student.conv_output_size(n, k, s, p, d),
            reference.conv_output_size(n, k, s, p, d),
            name=f"conv_output_size(n={n}, kernel={k}, stride={s}, padding={p}, dilation={d})",
        )


@pytest.mark.points(1)
def test_conv_output_size_defaults(student, reference):
    assert_equal(
        student.conv_output_size(6, 3),
        reference.conv_output_size(6, 3),
        name="conv_output_size(6, 3) with default stride, padding and dilation",
    )


@pytest.mark.points(2)
@pytest.mark.parametrize(
    "args",
    [(3, 5, 1, 0, 1), (2, 3, 2, 0, 1), (4, 3, 2, 0, 2), (1, 2, 3, 0, 1)],
    ids=["kernel_larger", "stride2_short", "dilated_too_wide", "stride3_short"],
)
def test_conv_output_size_window_does_not_fit(student, args):
    n, k, s, p, d = args
    assert_raises(
        "ValueError",
        student.conv_output_size,
        n,
        k,
        s,
        p,
        d,
        name=f"conv_output_size(n={n}, kernel={k}, stride={s}, padding={p}, dilation={d}) "
        "(the window does not fit)",
    )


@pytest.mark.points(1)
@pytest.mark.parametrize(
    "args",
    [(5, 3, 0, 0, 1), (5, 0, 1, 0, 1), (5, 3, 1, -1, 1), (5, 3, 1, 0, 0)],
    ids=["stride0", "kernel0", "negative_padding", "dilation0"],
)
def test_conv_output_size_invalid_arguments(student, args):
    n, k, s, p, d = args
    assert_raises(
        "ValueError",
        student.conv_output_size,
        n,
        k,
        s,
        p,
        d,
        name=f"conv_output_size(n={n}, kernel={k}, stride={s}, padding={p}, dilation={d})",
    )


# ------------------------------------------------------------------------------------- conv2d

CONV_CASES = {
    # N, C, H, W, F, KH, KW, stride, pad
    "stride1_pad0": (2, 3, 5, 6, 4, 3, 3, 1, 0),
    "stride2_pad1_not_dividing": (2, 3, 7, 6, 4, 3, 3, 2, 1),
    "batch1_nonsquare_kernel_stride3_pad2": (1, 2, 8, 9, 3, 2, 3, 3, 2),
}


@pytest.mark.points(1)
@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv2d_forward(student, reference, rng, case):
    N, C, H, W, F, KH, KW, s, p = CONV_CASES[case]
    x, w, b = _conv_inputs(rng, N, C, H, W, F, KH, KW)
    out, _ = _forward(student, "conv2d_forward", x, w, b, s, p)
    assert_close(
        out,
        reference.conv2d_forward(x, w, b, s, p)[0],
        name=f"conv2d_forward(x, w, b, stride={s}, pad={p}) → out",
    )


@pytest.mark.points(1)
def test_conv2d_forward_default_stride_and_pad(student, reference, rng):
    x, w, b = _conv_inputs(rng, 1, 2, 4, 5, 2, 2, 2)
    out, _ = _forward(student, "conv2d_forward", x, w, b)
    assert_close(out, reference.conv2d_forward(x, w, b)[0], name="conv2d_forward(x, w, b) → out")


@pytest.mark.points(2)
@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv2d_backward_matches_reference(student, reference, rng, case):
    N, C, H, W, F, KH, KW, s, p = CONV_CASES[case]
    x, w, b = _conv_inputs(rng, N, C, H, W, F, KH, KW)
    out, cache = reference.conv2d_forward(x, w, b, s, p)
    dout = rng.normal(size=out.shape)
    names = ("dx", "dw", "db")
    got = _backward(student, "conv2d_forward", "conv2d_backward", (x, w, b, s, p), dout, names)
    _check_all(
        got,
        reference.conv2d_backward(dout, cache),
        names,
        f"conv2d_backward(dout, cache) after stride={s}, pad={p}",
    )


@pytest.mark.points(1)
@pytest.mark.parametrize("wrt", ["dx", "dw", "db"])
def test_conv2d_backward_gradient_check(student, reference, rng, wrt):
    x, w, b = _conv_inputs(rng, 2, 2, 6, 5, 3, 3, 2)
    s, p = 2, 1
    dout = rng.normal(size=reference.conv2d_forward(x, w, b, s, p)[0].shape)
    grads = dict(
        zip(
            ("dx", "dw", "db"),
            _backward(
                student,
                "conv2d_forward",
                "conv2d_backward",
                (x, w, b, s, p),
                dout,
                ("dx", "dw", "db"),
            ),
        )
    )
    make = {
        "dx": lambda v: (v, w, b, s, p),
        "dw": lambda v: (x, v, b, s, p),
        "db": lambda v: (x, w, v, s, p),
    }[wrt]
    value = {"dx": x, "dw": w, "db": b}[wrt]
    call = f"conv2d_forward(x, w, b, stride={s}, pad={p})"
    check_gradient(
        grads[wrt],
        _dot_with(student, "conv2d_forward", make, dout, call),
        value,
        name=f"conv2d_backward → {wrt}",
        wrt=wrt[1:],
        expected=dot_with_output(reference.conv2d_forward, make, dout),
    )


# ------------------------------------------------------------------------------------ pooling

POOL_CASES = {
    # H, W, kernel, stride
    "k2_s2": (6, 6, 2, 2),
    "k3_s2_overlap_not_dividing": (7, 6, 3, 2),
    "k3_s1_overlap": (5, 6, 3, 1),
    "k2_s3_gaps": (8, 7, 2, 3),
}


@pytest.mark.points(1)
@pytest.mark.parametrize("case", list(POOL_CASES))
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_forward(student, reference, rng, kind, case):
    H, W, k, s = POOL_CASES[case]
    x = rng.normal(size=(2, 3, H, W))
    fn = f"{kind}_pool_forward"
    out, _ = _forward(student, fn, x, k, s)
    assert_close(
        out, getattr(reference, fn)(x, k, s)[0], name=f"{fn}(x, kernel={k}, stride={s}) → out"
    )


# Ties and overlap are tested apart, so that a failure names the rule that was broken: the ties
# on windows that do not overlap, the adding up on overlapping windows without ties.
DISJOINT_POOL_CASES = [c for c, (_, _, k, s) in POOL_CASES.items() if s >= k]
OVERLAP_POOL_CASES = [c for c, (_, _, k, s) in POOL_CASES.items() if s < k]


@pytest.mark.points(2)
@pytest.mark.parametrize("case", DISJOINT_POOL_CASES)
def test_max_pool_backward_ties_go_to_first_maximum(student, reference, rng, case):
    # Small integers: most windows hold their maximum more than once; the windows do not overlap.
    H, W, k, s = POOL_CASES[case]
    x = rng.integers(0, 3, size=(2, 2, H, W)).astype(np.float64)
    out, cache = reference.max_pool_forward(x, k, s)
    dout = rng.normal(size=out.shape)
    (dx,) = _backward(student, "max_pool_forward", "max_pool_backward", (x, k, s), dout, ("dx",))
    assert_close(
        dx,
        reference.max_pool_backward(dout, cache),
        name=f"max_pool_backward(dout, cache) → dx with tied maxima (kernel={k}, stride={s})",
    )


@pytest.mark.points(2)
@pytest.mark.parametrize("case", OVERLAP_POOL_CASES)
def test_max_pool_backward_overlapping_windows_add_up(student, reference, rng, case):
    # Distinct values, so no tie: an input that is the maximum of several windows gets the sum of
    # their gradients. Max pooling passes every window's gradient on, so dx sums to what dout does.
    H, W, k, s = POOL_CASES[case]
    x = _distinct(rng, (2, 2, H, W))
    out, cache = reference.max_pool_forward(x, k, s)
    dout = rng.uniform(0.5, 1.5, size=out.shape)  # positive: lost gradient cannot cancel out
    (dx,) = _backward(student, "max_pool_forward", "max_pool_backward", (x, k, s), dout, ("dx",))
    name = f"max_pool_backward(dout, cache) → dx with overlapping windows (kernel={k}, stride={s})"
    try:
        assert_close(dx, reference.max_pool_backward(dout, cache), name=name)
    except CheckFailed as err:
        got, want = float(np.sum(dx)), float(np.sum(dout))
        if not np.isclose(got, want, rtol=1e-9):
            raise CheckFailed(
                f"{err}\n  Hint: your dx sums to {got:.6g} but dout sums to {want:.6g}: gradient "
                "is lost where windows overlap. An input that is the maximum of several windows "
                "gets the sum of their gradients: add (+=), do not assign (=)"
            ) from None
        raise


@pytest.mark.points(1)
@pytest.mark.parametrize("case", list(POOL_CASES))
def test_max_pool_backward_matches_reference(student, reference, rng, case):
    H, W, k, s = POOL_CASES[case]
    x = rng.normal(size=(2, 3, H, W))
    out, cache = reference.max_pool_forward(x, k, s)
    dout = rng.normal(size=out.shape)
    (dx,) = _backward(student, "max_pool_forward", "max_pool_backward", (x, k, s), dout, ("dx",))
    assert_close(
        dx,
        reference.max_pool_backward(dout, cache),
        name=f"max_pool_backward(dout, cache) → dx (kernel={k}, stride={s})",
    )


@pytest.mark.points(1)
@pytest.mark.parametrize("case", list(POOL_CASES))
def test_avg_pool_backward_matches_reference(student, reference, rng, case):
    H, W, k, s = POOL_CASES[case]
    x = rng.normal(size=(2, 3, H, W))
    out, cache = reference.avg_pool_forward(x, k, s)
    dout = rng.normal(size=out.shape)
    (dx,) = _backward(student, "avg_pool_forward", "avg_pool_backward", (x, k, s), dout, ("dx",))
    assert_close(
        dx,
        reference.avg_pool_backward(dout, cache),
        name=f"avg_pool_backward(dout, cache) → dx (kernel={k}, stride={s})",
    )


@pytest.mark.points(1)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_backward_at_scale(student, reference, rng, kind):
    x = rng.normal(size=(4, 16, 64, 64))  # 262,144 entries, each a whole pooling by differences
    fwd, bwd = f"{kind}_pool_forward", f"{kind}_pool_backward"
    out, cache = getattr(reference, fwd)(x, 2, 2)
    dout = rng.normal(size=out.shape)
    with beyond_differences("x", x.size):
        (dx,) = _backward(student, fwd, bwd, (x, 2, 2), dout, ("dx",), max_elements=2 * x.size)
    assert_close(dx, getattr(reference, bwd)(dout, cache),
                 name=f"{bwd}(dout, cache) → dx for x of shape (4, 16, 64, 64), kernel=2, stride=2")


@pytest.mark.points(1)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_backward_gradient_check(student, reference, rng, kind):
    x = _distinct(rng, (1, 2, 7, 6))
    k, s = 3, 2
    fwd, bwd = f"{kind}_pool_forward", f"{kind}_pool_backward"
    dout = rng.normal(size=getattr(reference, fwd)(x, k, s)[0].shape)
    (dx,) = _backward(student, fwd, bwd, (x, k, s), dout, ("dx",))
    check_gradient(
        dx,
        _dot_with(student, fwd, lambda v: (v, k, s), dout, f"{fwd}(x, {k}, {s})"),
        x,
        name=f"{bwd} → dx",
        wrt="x",
        expected=dot_with_output(getattr(reference, fwd), lambda v: (v, k, s), dout),
    )
