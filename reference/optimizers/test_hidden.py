"""Hidden tests for optimizers: several steps from state {}, checking w after every step."""

import numpy as np
import pytest

from grader.checks.steps import adam_factors, assert_step_close


def _call(student, fn: str, w, grad, state, lr: float, hyper: dict):
    """One student step; the state passed back is exactly what the student returned."""
    out = getattr(student, fn)(w, grad, state, lr, **hyper)
    assert isinstance(out, (tuple, list)) and len(out) == 2, (
        f"{fn} should return a pair (w, state), you returned {type(out).__name__}"
        + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "")
    )
    return out[0], out[1]


def _label(fn: str, lrs: list[float], hyper: dict) -> str:
    lr = f"lr={lrs[0]:g}" if len(set(lrs)) == 1 else "lr=" + "/".join(f"{x:g}" for x in lrs)
    return f"{fn}(" + ", ".join([lr] + [f"{k}={v:g}" for k, v in hyper.items()]) + ")"


def _check_w(w_stu, w_ref, w_before, name: str, fn: str, hyper: dict, t: int) -> None:
    """w after step t; a failure says what the step did (w_before: w before it, the same for both
    since the earlier steps matched)."""
    known = adam_factors(t, hyper.get("beta1", 0.9), hyper.get("beta2", 0.999)) if fn == "adam" else {}
    assert_step_close(w_stu, w_ref, w_before, name=name, step=t, known=known)


def _run(student, reference, fn: str, w, grads, lrs, **hyper) -> None:
    """Take len(grads) steps from state {} and compare w with the reference after each step."""
    label = _label(fn, list(lrs), hyper)
    w_ref, s_ref = w, {}
    w_stu, s_stu = w, {}
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        w_before = w_ref
        w_ref, s_ref = getattr(reference, fn)(w_ref, g, s_ref, lr, **hyper)
        w_stu, s_stu = _call(student, fn, w_stu, g, s_stu, lr, hyper)
        _check_w(w_stu, w_ref, w_before, f"{label} → w after step {t}", fn, hyper, t)


def _grads(rng: np.random.Generator, steps: int, shape, scale: float = 1.0) -> list[np.ndarray]:
    # Different sizes from step to step, so a wrong accumulation cannot cancel out. Every entry
    # is at least a tenth of the scale: where eps goes then matters only in the tests about it
    # (tiny gradients), never by the chance of a near-zero draw.
    def one() -> np.ndarray:
        size = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 2.0, size=shape)
        return scale * rng.uniform(0.3, 3.0) * size
    return [one() for _ in range(steps)]


# --- sgd_momentum ------------------------------------------------------------------------


@pytest.mark.points(2)
def test_sgd_momentum_several_steps(student, reference, rng):
    w = rng.normal(size=(3, 4))
    _run(student, reference, "sgd_momentum", w, _grads(rng, 6, (3, 4)), [0.05] * 6)


@pytest.mark.points(1)
def test_sgd_momentum_custom_momentum(student, reference, rng):
    w = rng.normal(size=5)
    _run(student, reference, "sgd_momentum", w, _grads(rng, 4, 5), [0.1] * 4, momentum=0.5)


@pytest.mark.points(1)
def test_sgd_momentum_learning_rate_schedule(student, reference, rng):
    # The velocity holds gradients only: a new lr applies to the whole accumulated velocity.
    w = rng.normal(size=(2, 3))
    _run(student, reference, "sgd_momentum", w, _grads(rng, 4, (2, 3)), [0.1, 0.05, 0.02, 0.01])


# --- adagrad -----------------------------------------------------------------------------


@pytest.mark.points(2)
def test_adagrad_several_steps(student, reference, rng):
    w = rng.normal(size=(4, 3))
    _run(student, reference, "adagrad", w, _grads(rng, 6, (4, 3)), [0.1] * 6)


@pytest.mark.points(1)
def test_adagrad_zero_gradient_entries(student, reference, rng):
    # A column that never gets a gradient (a dead unit): G stays 0 there and w must not move.
    grads = _grads(rng, 3, (3, 5))
    for g in grads:
        g[:, 2] = 0.0
    _run(student, reference, "adagrad", rng.normal(size=(3, 5)), grads, [0.5] * 3)


@pytest.mark.points(1)
def test_adagrad_small_gradients(student, reference, rng):
    # √G is about 1e-6 here, so eps = 1e-10 must be added to √G, not to G.
    w = rng.normal(size=6)
    _run(student, reference, "adagrad", w, _grads(rng, 3, 6, scale=1e-6), [0.01] * 3)


@pytest.mark.points(1)
def test_adagrad_custom_eps(student, reference, rng):
    w = rng.normal(size=(2, 2))
    _run(student, reference, "adagrad", w, _grads(rng, 3, (2, 2)), [0.1] * 3, eps=0.1)


# --- rmsprop -----------------------------------------------------------------------------


@pytest.mark.points(2)
def test_rmsprop_several_steps(student, reference, rng):
    w = rng.normal(size=(3, 4))
    _run(student, reference, "rmsprop", w, _grads(rng, 6, (3, 4)), [0.01] * 6)


@pytest.mark.points(1)
def test_rmsprop_custom_rho_eps(student, reference, rng):
    w = rng.normal(size=6)
    _run(student, reference, "rmsprop", w, _grads(rng, 4, 6), [0.02] * 4, rho=0.8, eps=1e-3)


@pytest.mark.points(1)
def test_rmsprop_small_gradients(student, reference, rng):
    # √s is about 1e-7 here, so eps = 1e-8 must be added to √s, not to s.
    w = rng.normal(size=(2, 3))
    _run(student, reference, "rmsprop", w, _grads(rng, 3, (2, 3), scale=1e-6), [0.01] * 3)


# --- adam --------------------------------------------------------------------------------


@pytest.mark.points(1)
def test_adam_first_step(student, reference, rng):
    # Without bias correction the first step is about 3x too large (0.1 / √0.001).
    w = rng.normal(size=(4, 3))
    _run(student, reference, "adam", w, _grads(rng, 1, (4, 3)), [0.1])


@pytest.mark.points(2)
def test_adam_several_steps(student, reference, rng):
    w = rng.normal(size=(2, 5))
    _run(student, reference, "adam", w, _grads(rng, 8, (2, 5)), [0.01] * 8)


@pytest.mark.points(2)
def test_adam_custom_hyperparameters(student, reference, rng):
    # Gradients of 1e-5 with eps = 1e-6: where eps goes changes the step by a large factor.
    w = rng.normal(size=(3, 2))
    grads = _grads(rng, 5, (3, 2), scale=1e-5)
    _run(student, reference, "adam", w, grads, [0.05] * 5, beta1=0.8, beta2=0.95, eps=1e-6)


@pytest.mark.points(1)
def test_adam_single_parameter(student, reference, rng):
    _run(student, reference, "adam", rng.normal(size=1), _grads(rng, 3, 1), [0.1] * 3)


# --- every optimizer ---------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", ["sgd_momentum", "adagrad", "rmsprop", "adam"])
def test_interleaved_states_are_independent(student, reference, rng, fn):
    # Two parameters, each with its own state, updated in turn: nothing may be shared between
    # them (e.g. a step counter kept in a global variable).
    ws = [rng.normal(size=3), rng.normal(size=(2, 2))]
    refs = [(w, {}) for w in ws]
    stus = [(w, {}) for w in ws]
    for t in range(1, 4):
        for i in range(2):
            (g,) = _grads(rng, 1, ws[i].shape)
            w_before = refs[i][0]
            refs[i] = getattr(reference, fn)(refs[i][0], g, refs[i][1], 0.05)
            stus[i] = _call(student, fn, stus[i][0], g, stus[i][1], 0.05, {})
            name = f"{fn}(lr=0.05) → parameter {i + 1} after step {t}"
            _check_w(stus[i][0], refs[i][0], w_before, name, fn, {}, t)
