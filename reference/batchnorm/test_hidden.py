"""Hidden tests of the batchnorm topic: BatchNorm1d outputs and running statistics in both modes,
and the train-mode backward against the reference and central differences of the student's
own forward pass, and once at a size where a gradient taken by finite differences cannot finish
in time (a forward pass per entry), so that it must be worked out, not measured."""

from __future__ import annotations

import numpy as np
import pytest

from grader.checks import Mistakes, assert_close, assert_raises, assert_shape
from grader.checks import assert_outputs, beyond_differences, check_gradient, dot_with_output

FORWARD = ("out", "running_mean", "running_var", "cache")
BACKWARD = ("dx", "dgamma", "dbeta")


# ------------------------------------------------------------------------------------ helpers


def _forward(student, *args, **kwargs) -> tuple:
    """(out, running_mean, running_var, cache handle): the cache stays in the student's process."""
    got = student.call("batchnorm_forward", *args, keep=(3,), **kwargs)
    return assert_outputs(got, FORWARD, "batchnorm_forward")


def _mode(train: bool) -> str:
    return "in train mode (train=True)" if train else "in eval mode (train=False)"


def _compare_forward(student, reference, args: tuple, label: str, only: tuple[str, ...] = FORWARD,
                     **kwargs) -> tuple:
    """Compare out and both running statistics (or the `only` ones); return the student's
    (out, mean, var, cache)."""
    got = _forward(student, *args, **kwargs)
    expected = reference.batchnorm_forward(*args, **kwargs)
    for i, (name, g, e) in enumerate(zip(FORWARD[:3], got, expected)):
        if name in only:
            assert_close(g, e, name=f"batchnorm_forward {label} → {name}",
                         mistakes=_mistakes(reference, g, i, args, kwargs))
    return got


def _mistakes(reference, got, i: int, args: tuple, kwargs: dict) -> Mistakes:
    """Where to look for the classic mistake behind output i alone: the others (the cache stays
    in the worker) need not match the mutant's."""
    return Mistakes(reference, "batchnorm_forward", got, args, kwargs, select=i)


def _features(rng: np.random.Generator, N: int, D: int, std: float | np.ndarray) -> np.ndarray:
    # Every feature has its own offset, so a mean over the wrong axis shows.
    return rng.normal(size=D) * 3.0 + std * rng.normal(size=(N, D))


def _layer(rng: np.random.Generator, D: int) -> tuple:
    """gamma, beta and non-trivial running statistics (neither 0 nor 1), so each one matters."""
    return (
        rng.uniform(0.5, 2.0, size=D) * rng.choice([-1.0, 1.0], size=D),
        rng.normal(size=D),
        rng.normal(size=D),
        rng.uniform(0.5, 2.0, size=D),
    )


def _small_std(rng: np.random.Generator, D: int) -> np.ndarray:
    # σ² between 1e-7 and 1e-4 brackets the default eps = 1e-5: where eps goes changes the output.
    return 10.0 ** rng.uniform(-3.5, -2.0, size=D)


# ------------------------------------------------------------------------------ forward, train


@pytest.mark.points(2)
def test_train_output_small_variance_default_eps(student, reference, rng):
    x = _features(rng, 4, 5, _small_std(rng, 5))
    gamma, beta, rm, rv = _layer(rng, 5)
    args = (x, gamma, beta, rm, rv, True)
    got = _forward(student, *args)
    expected = reference.batchnorm_forward(*args)
    assert_close(got[0], expected[0], name=f"batchnorm_forward {_mode(True)} → out",
                 mistakes=_mistakes(reference, got[0], 0, args, {}))


@pytest.mark.points(1)
def test_train_output_unit_scale(student, reference, rng):
    x = _features(rng, 6, 3, 1.0)
    gamma, beta, rm, rv = _layer(rng, 3)
    args = (x, gamma, beta, rm, rv, True)
    got = _forward(student, *args)
    expected = reference.batchnorm_forward(*args)
    assert_close(got[0], expected[0], name=f"batchnorm_forward {_mode(True)} → out",
                 mistakes=_mistakes(reference, got[0], 0, args, {}))


@pytest.mark.points(2)
def test_train_running_statistics_batch_of_four(student, reference, rng):
    # N = 4: the unbiased variance is 4/3 of the biased one.
    x = _features(rng, 4, 6, 1.5)
    _compare_forward(student, reference, (x, *_layer(rng, 6), True), _mode(True))


@pytest.mark.points(1)
def test_train_custom_momentum(student, reference, rng):
    # 0.3, not 0.5: the two momentum conventions give different running statistics.
    x = _features(rng, 5, 4, 1.0)
    _compare_forward(
        student, reference, (x, *_layer(rng, 4), True), _mode(True) + " momentum=0.3", momentum=0.3
    )


@pytest.mark.points(1)
def test_train_custom_eps(student, reference, rng):
    x = _features(rng, 4, 3, _small_std(rng, 3))
    # eps moves only out: the running statistics are graded by the tests about them, where a
    # wrong variance shows whatever the draw (here the variance is too small for that).
    _compare_forward(
        student, reference, (x, *_layer(rng, 3), True), _mode(True) + " eps=1e-3", only=("out",),
        eps=1e-3,
    )


@pytest.mark.points(1)
def test_train_smallest_batch(student, reference, rng):
    x = _features(rng, 2, 3, 1.0)
    _compare_forward(student, reference, (x, *_layer(rng, 3), True), _mode(True) + " with N=2")


@pytest.mark.points(1)
def test_train_one_sample_raises(student, rng):
    x = _features(rng, 1, 4, 1.0)
    assert_raises(
        "ValueError",
        student.batchnorm_forward,
        x,
        *_layer(rng, 4),
        True,
        name="batchnorm_forward in train mode on a batch of one sample",
    )


# ------------------------------------------------------------------------------- forward, eval


@pytest.mark.points(2)
def test_eval_uses_running_statistics(student, reference, rng):
    x = _features(rng, 4, 5, 0.5)
    _compare_forward(student, reference, (x, *_layer(rng, 5), False), _mode(False))


@pytest.mark.points(1)
def test_eval_small_running_variance(student, reference, rng):
    x = _features(rng, 3, 4, 0.01)
    gamma, beta, rm, _ = _layer(rng, 4)
    rv = _small_std(rng, 4) ** 2
    _compare_forward(student, reference, (x, gamma, beta, rm, rv, False), _mode(False))


@pytest.mark.points(2)
def test_several_train_steps_then_eval(student, reference, rng):
    D = 4
    gamma, beta, rm0, rv0 = _layer(rng, D)
    batches = [_features(rng, n, D, rng.uniform(0.2, 2.0)) for n in (4, 3, 5)]
    s_mean, s_var, r_mean, r_var = rm0, rv0, rm0, rv0
    for step, x in enumerate(batches, start=1):
        _, s_mean, s_var, _ = _forward(student, x, gamma, beta, s_mean, s_var, True, 0.2)
        _, r_mean, r_var, _ = reference.batchnorm_forward(x, gamma, beta, r_mean, r_var, True, 0.2)
        assert_close(
            s_var,
            r_var,
            name=f"batchnorm_forward after train step {step} (momentum=0.2) → running_var",
        )
        assert_close(
            s_mean,
            r_mean,
            name=f"batchnorm_forward after train step {step} (momentum=0.2) → running_mean",
        )
    x = _features(rng, 6, D, 1.0)
    got = _forward(student, x, gamma, beta, s_mean, s_var, False)
    assert_close(
        got[0],
        reference.batchnorm_forward(x, gamma, beta, r_mean, r_var, False)[0],
        name=f"batchnorm_forward {_mode(False)} after three train steps → out",
    )


# ------------------------------------------------------------------------------------ backward


def _backward(student, x, gamma, beta, dout) -> tuple:
    D = x.shape[1]
    *_, cache = _forward(student, x, gamma, beta, np.zeros(D), np.ones(D), True)
    return assert_outputs(student.call("batchnorm_backward", dout, cache), BACKWARD, "batchnorm_backward")


@pytest.mark.points(2)
@pytest.mark.parametrize(
    "N,D,std",
    [(4, 5, "small"), (7, 3, 1.0), (2, 4, 1.0)],
    ids=["batch4_small_std", "batch7", "batch2"],
)
def test_backward_matches_reference(student, reference, rng, N, D, std):
    x = _features(rng, N, D, _small_std(rng, D) if std == "small" else std)
    gamma, beta, _, _ = _layer(rng, D)
    dout = rng.normal(size=(N, D))
    got = _backward(student, x, gamma, beta, dout)
    cache = reference.batchnorm_forward(x, gamma, beta, np.zeros(D), np.ones(D), True)[3]
    for name, g, e in zip(BACKWARD, got, reference.batchnorm_backward(dout, cache)):
        assert_close(g, e, name=f"batchnorm_backward(dout, cache) → {name}")


@pytest.mark.points(2)
def test_backward_at_scale(student, reference, rng):
    N, D = 512, 384  # x has 196,608 entries, each a pass over all of them by differences
    x = _features(rng, N, D, 1.0)
    gamma, beta, _, _ = _layer(rng, D)
    dout = rng.normal(size=(N, D))
    with beyond_differences("x", x.size):
        got = _backward(student, x, gamma, beta, dout)
    cache = reference.batchnorm_forward(x, gamma, beta, np.zeros(D), np.ones(D), True)[3]
    for name, g, e in zip(BACKWARD, got, reference.batchnorm_backward(dout, cache)):
        assert_close(g, e, name=f"batchnorm_backward(dout, cache) → {name} for x of shape "
                                f"({N}, {D})")


@pytest.mark.points(1)
@pytest.mark.parametrize("wrt", BACKWARD)
def test_backward_gradient_check(student, reference, rng, wrt):
    N, D = 5, 3
    # A spread of 100: where eps goes (its own tests, with tiny variances) moves the forward
    # pass by about 1e-7 here, far inside the check's tolerance, whatever the draw.
    x = _features(rng, N, D, 100.0)
    gamma, beta, rm, rv = _layer(rng, D)
    dout = rng.normal(size=(N, D))
    grads = dict(zip(BACKWARD, _backward(student, x, gamma, beta, dout)))
    make = {
        "dx": lambda v: (v, gamma, beta, rm, rv, True),
        "dgamma": lambda v: (x, v, beta, rm, rv, True),
        "dbeta": lambda v: (x, gamma, v, rm, rv, True),
    }[wrt]

    def f_batch(values: list) -> list[float]:
        outs = student.batch("batchnorm_forward", [make(v) for v in values], select=0)
        for out in outs:
            assert_shape(out, (N, D), name=f"batchnorm_forward {_mode(True)} → out")
        return [float(np.sum(out * dout)) for out in outs]

    value = {"dx": x, "dgamma": gamma, "dbeta": beta}[wrt]
    check_gradient(grads[wrt], f_batch, value, name=f"batchnorm_backward → {wrt}", wrt=wrt[1:],
                   expected=dot_with_output(reference.batchnorm_forward, make, dout))
