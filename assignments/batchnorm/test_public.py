"""Public sanity tests for batchnorm: small inputs whose answers you can check by hand."""

import numpy as np

from grader.checks import assert_close

# Feature 0 has mean 3 and biased variance 8/3; feature 1 has mean 1 and biased variance 2/3.
X = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 1.0]])
GAMMA = np.array([1.0, 2.0])
BETA = np.array([0.0, -1.0])


def test_train_output(student):
    out, _, _, _ = student.call(
        "batchnorm_forward", X, GAMMA, BETA, np.zeros(2), np.ones(2), True, keep=(3,)
    )
    x_hat = np.stack(
        [
            np.array([-2.0, 0.0, 2.0]) / np.sqrt(8 / 3 + 1e-5),
            np.array([-1.0, 1.0, 0.0]) / np.sqrt(2 / 3 + 1e-5),
        ],
        axis=1,
    )
    assert_close(
        out, GAMMA * x_hat + BETA, name="batchnorm_forward in train mode (train=True) → out"
    )


def test_train_running_statistics(student):
    _, mean, var, _ = student.call(
        "batchnorm_forward", X, GAMMA, BETA, np.zeros(2), np.ones(2), True, keep=(3,)
    )
    # momentum 0.1; the running variance takes the unbiased batch variance (4 and 1).
    assert_close(
        mean,
        np.array([0.3, 0.1]),
        name="batchnorm_forward in train mode (train=True) → running_mean",
    )
    assert_close(
        var, np.array([1.3, 1.0]), name="batchnorm_forward in train mode (train=True) → running_var"
    )


def test_eval_uses_running_statistics(student):
    out, mean, var, _ = student.call(
        "batchnorm_forward",
        X,
        GAMMA,
        BETA,
        np.array([3.0, 1.0]),
        np.array([4.0, 1.0]),
        False,
        keep=(3,),
    )
    expected = GAMMA * (X - np.array([3.0, 1.0])) / np.sqrt(np.array([4.0, 1.0]) + 1e-5) + BETA
    assert_close(out, expected, name="batchnorm_forward in eval mode (train=False) → out")
    assert_close(
        mean,
        np.array([3.0, 1.0]),
        name="batchnorm_forward in eval mode (train=False) → running_mean",
    )
    assert_close(
        var, np.array([4.0, 1.0]), name="batchnorm_forward in eval mode (train=False) → running_var"
    )


def test_backward_constant_upstream_gradient(student):
    # Adding a constant to every output of a feature cannot be undone by x: dx is zero.
    *_, cache = student.call(
        "batchnorm_forward", X, GAMMA, BETA, np.zeros(2), np.ones(2), True, keep=(3,)
    )
    dx, dgamma, dbeta = student.batchnorm_backward(np.tile([1.0, 2.0], (3, 1)), cache)
    assert_close(dx, np.zeros((3, 2)), name="batchnorm_backward(dout, cache) → dx")
    assert_close(dgamma, np.zeros(2), name="batchnorm_backward(dout, cache) → dgamma")
    assert_close(dbeta, np.array([3.0, 6.0]), name="batchnorm_backward(dout, cache) → dbeta")
