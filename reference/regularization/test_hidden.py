"""Hidden tests for regularization: dropout at p = 0.3, the u == p rule in one test, Xavier graded
statistically; dropout's and the L2 penalty's gradients also at a size where one taken by finite
differences cannot finish in time (a forward pass per entry)."""

import numpy as np
import pytest

from grader.checks import CheckFailed, assert_close, assert_equal, assert_shape, expect_same
from grader.checks import beyond_differences, check_gradient

P = 0.3  # not 0.5, where dividing by p and by 1 − p agree


def _uniform(rng: np.random.Generator, shape, p: float) -> np.ndarray:
    """Uniform [0, 1) draws with no entry exactly p: the tie rule is graded once, in its own test."""
    u = rng.random(shape)
    return np.where(u == p, np.nextafter(p, 1.0), u)


def _forward(student, reference, x, p: float, train: bool, u) -> None:
    out, _ = student.call("dropout_forward", x, p, train, u, keep=(1,))
    expected, _ = reference.dropout_forward(x, p, train, u)
    assert_close(out, expected, name=f"dropout_forward(x, p={p}, train={train}, u) → out")


def _backward(student, reference, x, p: float, train: bool, u, dout) -> None:
    # The mask stays in the worker: the student's backward gets back exactly what it returned.
    _, mask = student.call("dropout_forward", x, p, train, u, keep=(1,))
    dx = student.dropout_backward(dout, mask, p, train)
    _, ref_mask = reference.dropout_forward(x, p, train, u)
    expected = reference.dropout_backward(dout, ref_mask, p, train)
    assert_close(dx, expected, name=f"dropout_backward(dout, mask, p={p}, train={train}) → dx")


# --- dropout -----------------------------------------------------------------------------


@pytest.mark.points(2)
def test_dropout_forward_train(student, reference, rng):
    x = rng.normal(size=(6, 9))
    _forward(student, reference, x, P, True, _uniform(rng, x.shape, P))


@pytest.mark.points(1)
def test_dropout_forward_u_equal_to_p_is_kept(student, reference, rng):
    x = rng.normal(size=(4, 5))
    # u is exactly p (kept), the float just below p (dropped) or well above p (kept and scaled):
    # "everything else matches" is then said of entries both dropped and kept, never of
    # dropped entries alone, which a dropout without the 1/(1 − p) scaling gets right too.
    tie = rng.random(x.shape) < 0.4
    above = rng.random(x.shape) < 0.5
    tie.flat[0], tie.flat[1], above.flat[1], above.flat[2] = True, False, True, False
    tie.flat[2] = False
    u = np.where(tie, P, np.where(above, rng.uniform(P + 0.1, 1.0, size=x.shape),
                                  np.nextafter(P, 0.0)))
    out, _ = student.call("dropout_forward", x, P, True, u, keep=(1,))
    expected, _ = reference.dropout_forward(x, P, True, u)
    name = f"dropout_forward(x, p={P}, train=True, u) with entries of u exactly equal to p"
    if isinstance(out, np.ndarray) and out.shape == x.shape:
        dropped_ties = np.all(out[tie] == 0) and not np.all(expected[tie] == 0)
        if dropped_ties and np.allclose(out[~tie], expected[~tie], rtol=1e-6, atol=1e-9):
            raise CheckFailed(
                f"{name}: you drop the entries with u == p. The statement keeps an entry when"
                " u >= p (keep = (u >= p): an entry with u exactly equal to p is kept), so"
                " write u >= p, not u > p. Everything else about your dropout matches here"
                " (the entries with u above p, kept and scaled, and just below p, dropped)."
            )
    assert_close(out, expected, name=name)


@pytest.mark.points(1)
def test_dropout_forward_eval_is_identity(student, reference, rng):
    x = rng.normal(size=(5, 7))
    _forward(student, reference, x, P, False, _uniform(rng, x.shape, P))


@pytest.mark.points(1)
def test_dropout_forward_p_zero_keeps_everything(student, reference, rng):
    x = rng.normal(size=(3, 4))
    _forward(student, reference, x, 0.0, True, rng.random(x.shape))


@pytest.mark.points(1)
@pytest.mark.parametrize("shape", [(1, 5), (7,), (2, 3, 4)], ids=["batch1", "vector", "3d"])
def test_dropout_forward_any_shape(student, reference, rng, shape):
    x = rng.normal(size=shape)
    _forward(student, reference, x, 0.6, True, _uniform(rng, shape, 0.6))


@pytest.mark.points(2)
def test_dropout_backward_train(student, reference, rng):
    x = rng.normal(size=(5, 8))
    u = _uniform(rng, x.shape, P)
    _backward(student, reference, x, P, True, u, rng.normal(size=x.shape))


@pytest.mark.points(1)
def test_dropout_backward_eval(student, reference, rng):
    x = rng.normal(size=(4, 6))
    u = _uniform(rng, x.shape, P)
    _backward(student, reference, x, P, False, u, rng.normal(size=x.shape))


@pytest.mark.points(1)
def test_dropout_backward_batch_of_one(student, reference, rng):
    x = rng.normal(size=(1, 10))
    u = _uniform(rng, x.shape, 0.45)
    _backward(student, reference, x, 0.45, True, u, rng.normal(size=x.shape))


@pytest.mark.points(1)
def test_dropout_backward_at_scale(student, reference, rng):
    x = rng.normal(size=(1024, 512))  # 524,288 entries, each a pass over all of them by differences
    u = _uniform(rng, x.shape, P)
    with beyond_differences("x", x.size):
        _backward(student, reference, x, P, True, u, rng.normal(size=x.shape))


# --- xavier_uniform ----------------------------------------------------------------------


def _xavier(student, fan_in: int, fan_out: int, seed: int) -> np.ndarray:
    # Its inputs are sizes: the reply may hold fan_in × fan_out values, more than the default.
    W = student.call("xavier_uniform", fan_in, fan_out, seed, max_elements=fan_in * fan_out)
    assert_shape(W, (fan_in, fan_out), name=f"xavier_uniform({fan_in}, {fan_out}, seed={seed})")
    return W


def _bound(fan_in: int, fan_out: int) -> float:
    return float(np.sqrt(6.0 / (fan_in + fan_out)))


@pytest.mark.points(1)
@pytest.mark.parametrize("fan_in, fan_out", [(3, 7), (7, 3)])
def test_xavier_shape_and_dtype(student, seed, fan_in, fan_out):
    W = _xavier(student, fan_in, fan_out, seed)
    assert W.dtype == np.float64, (
        f"xavier_uniform({fan_in}, {fan_out}, seed) should return float64, you returned {W.dtype}"
    )


@pytest.mark.points(2)
def test_xavier_bounds(student, seed):
    fan_in, fan_out = 400, 300
    W = _xavier(student, fan_in, fan_out, seed)
    a = _bound(fan_in, fan_out)
    name = f"xavier_uniform({fan_in}, {fan_out}, seed={seed})"
    outside = int(np.sum(np.abs(W) > a))
    assert outside == 0, (
        f"{name}: {outside} of {W.size} entries lie outside [−a, a] with a = √(6/(fan_in + fan_out))"
        f" = {a:.4g}; your largest |w| is {np.abs(W).max():.4g}. Draw from a uniform distribution"
        " on [−a, a]."
    )
    # 120 000 uniform draws come within 0.5 % of both ends with overwhelming probability.
    assert W.max() > 0.995 * a and W.min() < -0.995 * a, (
        f"{name}: your entries span [{W.min():.4g}, {W.max():.4g}], but U(−a, a) with"
        f" a = √(6/(fan_in + fan_out)) = {a:.4g} reaches close to ±a. Check the bound."
    )


@pytest.mark.points(2)
def test_xavier_mean_and_variance(student, seed):
    fan_in, fan_out = 300, 500
    W = _xavier(student, fan_in, fan_out, seed)
    a = _bound(fan_in, fan_out)
    target = 2.0 / (fan_in + fan_out)
    name = f"xavier_uniform({fan_in}, {fan_out}, seed={seed})"
    # Standard errors over 150 000 draws: mean 0.0015·a, variance 0.25 % relative.
    assert abs(W.mean()) < 0.01 * a, (
        f"{name}: the mean of your entries is {W.mean():.4g}; it should be close to 0"
        f" (within {0.01 * a:.2g}). Centre the distribution on 0."
    )
    assert abs(W.var() / target - 1) < 0.03, (
        f"{name}: the variance of your entries is {W.var():.4g}, expected about"
        f" 2/(fan_in + fan_out) = {target:.4g} (ratio {W.var() / target:.3f}). Check the bound a."
    )


@pytest.mark.points(1)
def test_xavier_is_uniform(student, seed):
    fan_in, fan_out = 250, 400
    W = _xavier(student, fan_in, fan_out, seed)
    a = _bound(fan_in, fan_out)
    inner = float(np.mean(np.abs(W) < a / 2))
    # For U(−a, a) half the draws fall in (−a/2, a/2); a normal of the same variance puts 61 % there.
    assert abs(inner - 0.5) < 0.015, (
        f"xavier_uniform({fan_in}, {fan_out}, seed={seed}): {inner:.1%} of your entries lie in"
        " (−a/2, a/2); a uniform distribution on [−a, a] puts 50 % there."
    )


@pytest.mark.points(1)
def test_xavier_same_seed_same_matrix(student, seed):
    W1 = _xavier(student, 6, 4, seed)
    W2 = _xavier(student, 6, 4, seed)
    assert_equal(W2, W1, name=f"xavier_uniform(6, 4, seed={seed}) called twice with the same seed")


@pytest.mark.points(1)
def test_xavier_different_seeds_differ(student, seed):
    W1 = _xavier(student, 6, 4, seed)
    W2 = _xavier(student, 6, 4, seed + 1)
    assert not np.array_equal(W1, W2), (
        f"xavier_uniform(6, 4, seed) gave the same matrix for seeds {seed} and {seed + 1}:"
        " draw from a generator seeded with seed, e.g. np.random.default_rng(seed)."
    )


# --- l2_penalty and weight_decay_step -----------------------------------------------------


@pytest.mark.points(2)
def test_l2_penalty_matrix(student, reference, rng):
    w = rng.normal(size=(4, 3))
    expect_same(student, reference, "l2_penalty", w, 0.3, outputs=("value", "grad"))


@pytest.mark.points(1)
def test_l2_penalty_vector(student, reference, rng):
    expect_same(
        student, reference, "l2_penalty", rng.normal(size=7), 2.5, outputs=("value", "grad")
    )


@pytest.mark.points(1)
def test_l2_penalty_gradient_matches_value(student, reference, rng):
    # The grad you return must be the derivative of the value you return.
    w = rng.normal(size=(3, 5))
    _, grad = student.l2_penalty(w, 0.7)
    values = lambda ws: student.batch("l2_penalty", [(wi, 0.7) for wi in ws], select=0)
    check_gradient(grad, values, w, name="l2_penalty(w, lam=0.7) → grad", wrt="w",
                   expected=lambda v: reference.l2_penalty(v, 0.7)[0])


@pytest.mark.points(1)
def test_l2_penalty_gradient_at_scale(student, reference, rng):
    w = rng.normal(size=(1024, 1024))  # 1,048,576 entries, each a pass over all of them by
    # differences
    with beyond_differences("w", w.size):
        expect_same(student, reference, "l2_penalty", w, 0.3, outputs=("value", "grad"))


@pytest.mark.points(2)
def test_weight_decay_step(student, reference, rng):
    w, grad = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    expect_same(student, reference, "weight_decay_step", w, grad, 0.1, 0.05)


@pytest.mark.points(1)
def test_weight_decay_step_strong_decay(student, reference, rng):
    w, grad = rng.normal(size=8), rng.normal(size=8)
    expect_same(student, reference, "weight_decay_step", w, grad, 0.5, 0.4)


@pytest.mark.points(1)
def test_weight_decay_step_no_decay(student, reference, rng):
    w, grad = rng.normal(size=(2, 6)), rng.normal(size=(2, 6))
    expect_same(student, reference, "weight_decay_step", w, grad, 0.2, 0.0)
