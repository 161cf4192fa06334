"""Hidden tests of the backprop topic: layer outputs, gradients against the reference and against
central differences of the student's own forward pass, and the two-layer loss. Each gradient is
also asked for once at a size where one taken by finite differences cannot finish in time (a
forward pass per entry), so that a gradient must be worked out, not measured."""

from __future__ import annotations

import numpy as np
import pytest

from grader.checks import assert_close, assert_finite, assert_no_warnings, assert_shape
from grader.checks import assert_outputs, beyond_differences, check_gradient, dot_with_output

PARAMS = ("W1", "b1", "W2", "b2")


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


def _affine(rng: np.random.Generator, n: int, d: int, m: int) -> tuple:
    return rng.normal(size=(n, d)), rng.normal(size=(d, m)), rng.normal(size=m)


def _away_from_zero(rng: np.random.Generator, shape, margin: float = 0.05) -> np.ndarray:
    # Central differences straddle the ReLU kink when an input is within h of 0.
    x = rng.normal(size=shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * (margin + np.abs(x)), x)


def _mlp(rng: np.random.Generator, n: int, d: int, h: int, k: int, w2_scale: float = 1.0):
    """Parameters and data with every hidden pre-activation at least 1e-3 away from the kink."""
    while True:
        params = {
            "W1": rng.normal(size=(d, h)),
            "b1": rng.normal(size=h),
            "W2": w2_scale * rng.normal(size=(h, k)),
            "b2": rng.normal(size=k),
        }
        X = rng.normal(size=(n, d))
        if np.abs(X @ params["W1"] + params["b1"]).min() > 1e-3:
            # Uneven labels, and not all classes present, so a wrong index shows.
            return params, X, rng.integers(0, k, size=n)


# ------------------------------------------------------------------------------------- affine


@pytest.mark.points(1)
@pytest.mark.parametrize("n,d,m", [(5, 3, 4), (1, 4, 2)], ids=["n5_d3_m4", "batch_one"])
def test_affine_forward(student, reference, rng, n, d, m):
    x, W, b = _affine(rng, n, d, m)
    out, _ = _forward(student, "affine_forward", x, W, b)
    assert_close(out, reference.affine_forward(x, W, b)[0], name="affine_forward(x, W, b) → out")


@pytest.mark.points(2)
@pytest.mark.parametrize("n,d,m", [(6, 4, 3), (1, 3, 5)], ids=["n6_d4_m3", "batch_one"])
def test_affine_backward_matches_reference(student, reference, rng, n, d, m):
    x, W, b = _affine(rng, n, d, m)
    dout = rng.normal(size=(n, m))
    names = ("dx", "dW", "db")
    got = _backward(student, "affine_forward", "affine_backward", (x, W, b), dout, names)
    expected = reference.affine_backward(dout, reference.affine_forward(x, W, b)[1])
    _check_all(got, expected, names, "affine_backward(dout, cache)")


@pytest.mark.points(2)
def test_affine_backward_gradient_check(student, reference, rng):
    x, W, b = _affine(rng, 4, 5, 3)
    dout = rng.normal(size=(4, 3))
    dx, dW, db = _backward(
        student, "affine_forward", "affine_backward", (x, W, b), dout, ("dx", "dW", "db")
    )
    call = "affine_forward(x, W, b)"
    check_gradient(
        dx,
        _dot_with(student, "affine_forward", lambda v: (v, W, b), dout, call),
        x,
        name="affine_backward → dx",
        wrt="x",
        expected=dot_with_output(reference.affine_forward, lambda v: (v, W, b), dout),
    )
    check_gradient(
        dW,
        _dot_with(student, "affine_forward", lambda v: (x, v, b), dout, call),
        W,
        name="affine_backward → dW",
        wrt="W",
        expected=dot_with_output(reference.affine_forward, lambda v: (x, v, b), dout),
    )
    check_gradient(
        db,
        _dot_with(student, "affine_forward", lambda v: (x, W, v), dout, call),
        b,
        name="affine_backward → db",
        wrt="b",
        expected=dot_with_output(reference.affine_forward, lambda v: (x, W, v), dout),
    )


@pytest.mark.points(2)
def test_affine_backward_at_scale(student, reference, rng):
    # W has 393,216 entries: by hand three matrix products, by differences ~10^5 times as long;
    # a batch of 4, so that even loops over every element (4.7 million steps) take seconds, not
    # minutes. Not square, so a transposed dW reads as such, as in the tests above.
    x, W, b = _affine(rng, 4, 512, 768)
    dout = rng.normal(size=(4, 768))
    names = ("dx", "dW", "db")
    with beyond_differences("W", W.size):
        got = _backward(student, "affine_forward", "affine_backward", (x, W, b), dout, names,
                        max_elements=2 * (x.size + W.size + b.size))
    expected = reference.affine_backward(dout, reference.affine_forward(x, W, b)[1])
    _check_all(got, expected, names, "affine_backward(dout, cache) for W of shape (512, 768)")


# --------------------------------------------------------------------------------------- relu


@pytest.mark.points(1)
def test_relu_forward_with_exact_zeros(student, reference, rng):
    x = rng.integers(-3, 4, size=(4, 6)).astype(np.float64) * rng.uniform(0.5, 2.0, size=(4, 6))
    out, _ = _forward(student, "relu_forward", x)
    assert_close(out, reference.relu_forward(x)[0], name="relu_forward(x) → out")


@pytest.mark.points(2)
def test_relu_backward_no_gradient_at_zero(student, reference, rng):
    # About a seventh of the inputs are exactly 0: their derivative is 0 by convention.
    x = rng.integers(-3, 4, size=(5, 7)).astype(np.float64)
    dout = rng.normal(size=x.shape)
    (dx,) = _backward(student, "relu_forward", "relu_backward", (x,), dout, ("dx",))
    expected = reference.relu_backward(dout, reference.relu_forward(x)[1])
    assert_close(dx, expected, name="relu_backward(dout, cache) → dx (inputs with exact zeros)")


@pytest.mark.points(1)
def test_relu_backward_three_dimensional(student, reference, rng):
    x = rng.normal(size=(2, 3, 4))
    dout = rng.normal(size=x.shape)
    (dx,) = _backward(student, "relu_forward", "relu_backward", (x,), dout, ("dx",))
    expected = reference.relu_backward(dout, reference.relu_forward(x)[1])
    assert_close(dx, expected, name="relu_backward(dout, cache) → dx for a (2, 3, 4) input")


@pytest.mark.points(1)
def test_relu_backward_gradient_check(student, reference, rng):
    x = _away_from_zero(rng, (3, 5))
    dout = rng.normal(size=x.shape)
    (dx,) = _backward(student, "relu_forward", "relu_backward", (x,), dout, ("dx",))
    check_gradient(
        dx,
        _dot_with(student, "relu_forward", lambda v: (v,), dout, "relu_forward(x)"),
        x,
        name="relu_backward → dx",
        wrt="x",
        expected=dot_with_output(reference.relu_forward, lambda v: (v,), dout),
    )


@pytest.mark.points(1)
def test_relu_backward_at_scale(student, reference, rng):
    x = rng.normal(size=(512, 1024))  # 524,288 entries, each a pass over all of them by differences
    dout = rng.normal(size=x.shape)
    with beyond_differences("x", x.size):
        (dx,) = _backward(student, "relu_forward", "relu_backward", (x,), dout, ("dx",))
    expected = reference.relu_backward(dout, reference.relu_forward(x)[1])
    assert_close(dx, expected, name="relu_backward(dout, cache) → dx for a (512, 1024) input")


# ----------------------------------------------------------------------------------- mlp_loss


def _mlp_result(student, params, X, y) -> tuple:
    loss, grads = assert_outputs(student.mlp_loss(params, X, y), ("loss", "grads"), "mlp_loss")
    return loss, grads


@pytest.mark.points(1)
def test_mlp_loss_value(student, reference, rng):
    params, X, y = _mlp(rng, 7, 4, 6, 3)
    loss, _ = _mlp_result(student, params, X, y)
    assert_close(loss, reference.mlp_loss(params, X, y)[0], name="mlp_loss(params, X, y) → loss")


@pytest.mark.points(2)
def test_mlp_loss_gradients_match_reference(student, reference, rng):
    params, X, y = _mlp(rng, 7, 4, 6, 3)
    _, grads = _mlp_result(student, params, X, y)
    assert_close(grads, reference.mlp_loss(params, X, y)[1], name="mlp_loss(params, X, y) → grads")


@pytest.mark.points(1)
def test_mlp_loss_batch_one(student, reference, rng):
    params, X, y = _mlp(rng, 1, 3, 5, 4)
    got = _mlp_result(student, params, X, y)
    _check_all(got, reference.mlp_loss(params, X, y), ("loss", "grads"), "mlp_loss for one sample")


@pytest.mark.points(1)
@pytest.mark.parametrize("key", PARAMS)
def test_mlp_loss_gradient_check(student, reference, rng, key):
    params, X, y = _mlp(rng, 5, 4, 6, 3)
    _, grads = _mlp_result(student, params, X, y)
    assert isinstance(grads, dict) and key in grads, (
        f'mlp_loss should return grads as a dict with the key "{key}"'
    )

    def f_batch(values: list) -> list[float]:
        return student.batch("mlp_loss", [({**params, key: v}, X, y) for v in values], select=0)

    check_gradient(grads[key], f_batch, params[key], name=f'mlp_loss → grads["{key}"]', wrt=key,
                   expected=lambda v: reference.mlp_loss({**params, key: v}, X, y)[0])


@pytest.mark.points(2)
def test_mlp_loss_gradients_at_scale(student, reference, rng):
    n, d, h, k = 4, 512, 768, 10  # as for affine_backward
    params = {"W1": rng.normal(size=(d, h)) / 16, "b1": rng.normal(size=h),
              "W2": rng.normal(size=(h, k)) / 16, "b2": rng.normal(size=k)}
    X, y = rng.normal(size=(n, d)), rng.integers(0, k, size=n)
    with beyond_differences('params["W1"]', params["W1"].size):
        _, grads = _mlp_result(student, params, X, y)
    assert_close(grads, reference.mlp_loss(params, X, y)[1],
                 name="mlp_loss(params, X, y) with W1 of shape (512, 768) → grads")


@pytest.mark.points(2)
def test_mlp_loss_large_scores_stay_finite(student, reference, rng):
    # Scores around 1e3: exp overflows unless the row maximum is subtracted first, and the log of
    # a softmax that underflowed to 0 is -inf: only the log-softmax form stays finite.
    params, X, y = _mlp(rng, 6, 4, 5, 3, w2_scale=400.0)
    # Every score above 1e3 whatever the seed (a shift softmax ignores): exp of it overflows, so
    # the mistake fails here at every seed, not only where the random scores reach that far.
    params["b2"] = params["b2"] + 1000.0
    loss, grads = _mlp_result(student, params, X, y)
    assert_no_warnings(student, name="mlp_loss with scores around 1e3")
    assert_finite(loss, name="mlp_loss with scores around 1e3 → loss")
    assert_finite(grads, name="mlp_loss with scores around 1e3 → grads")
    expected = reference.mlp_loss(params, X, y)
    _check_all((loss, grads), expected, ("loss", "grads"), "mlp_loss with scores around 1e3")
