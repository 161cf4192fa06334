"""Cross-checks the batchnorm reference against torch.nn.BatchNorm1d: outputs, stats, gradients."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

_PATH = Path(__file__).resolve().parents[1] / "reference" / "batchnorm" / "solution.py"


def _load():
    spec = importlib.util.spec_from_file_location("batchnorm_reference", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load()


def _module(gamma, beta, running_mean, running_var, momentum, eps) -> torch.nn.BatchNorm1d:
    bn = torch.nn.BatchNorm1d(gamma.size, eps=eps, momentum=momentum).double()
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(gamma))
        bn.bias.copy_(torch.from_numpy(beta))
        bn.running_mean.copy_(torch.from_numpy(running_mean))
        bn.running_var.copy_(torch.from_numpy(running_var))
    return bn


@pytest.mark.parametrize(
    "N,D,std,momentum,eps",
    [
        (4, 5, 1e-3, 0.1, 1e-5),
        (2, 3, 1.0, 0.3, 1e-5),
        (16, 7, 3.0, 0.01, 1e-3),
        (5, 1, 1e-2, 0.5, 1e-5),
    ],
)
def test_train_steps_then_eval_match_batchnorm1d(N, D, std, momentum, eps) -> None:
    rng = np.random.default_rng(N * D)
    gamma, beta = rng.normal(size=D), rng.normal(size=D)
    running_mean, running_var = rng.normal(size=D), rng.uniform(0.5, 2.0, size=D)
    bn = _module(gamma, beta, running_mean, running_var, momentum, eps)
    bn.train()
    for _ in range(3):
        x = rng.normal(loc=rng.normal(size=D), scale=std, size=(N, D))
        out, running_mean, running_var, _ = ref.batchnorm_forward(
            x, gamma, beta, running_mean, running_var, True, momentum, eps
        )
        out_t = bn(torch.from_numpy(x))
        np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(running_mean, bn.running_mean.numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(running_var, bn.running_var.numpy(), rtol=1e-12, atol=1e-14)
    bn.eval()
    x = rng.normal(size=(N, D))
    out, eval_mean, eval_var, _ = ref.batchnorm_forward(
        x, gamma, beta, running_mean, running_var, False, momentum, eps
    )
    np.testing.assert_allclose(
        out, bn(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_array_equal(eval_mean, running_mean)
    np.testing.assert_array_equal(eval_var, running_var)


@pytest.mark.parametrize("N,D,std", [(4, 5, 1e-3), (2, 3, 1.0), (9, 6, 0.5)])
def test_train_backward_matches_autograd(N: int, D: int, std: float) -> None:
    rng = np.random.default_rng(N + D)
    gamma, beta = rng.normal(size=D), rng.normal(size=D)
    x = rng.normal(loc=1.0, scale=std, size=(N, D))
    dout = rng.normal(size=(N, D))
    _, _, _, cache = ref.batchnorm_forward(x, gamma, beta, np.zeros(D), np.ones(D), True)
    dx, dgamma, dbeta = ref.batchnorm_backward(dout, cache)

    bn = _module(gamma, beta, np.zeros(D), np.ones(D), 0.1, 1e-5).train()
    xt = torch.tensor(x, requires_grad=True)
    bn(xt).backward(torch.from_numpy(dout))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(dgamma, bn.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dbeta, bn.bias.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_training_on_one_sample_is_refused_like_torch() -> None:
    bn = torch.nn.BatchNorm1d(3).double().train()
    with pytest.raises(ValueError):
        bn(torch.zeros(1, 3, dtype=torch.float64))
    with pytest.raises(ValueError):
        ref.batchnorm_forward(
            np.zeros((1, 3)), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), True
        )
