"""The optimizers reference takes the same steps as torch.optim (SGD, Adagrad, RMSprop, Adam) in float64."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

_PATH = Path(__file__).resolve().parents[1] / "reference" / "optimizers" / "solution.py"
_spec = importlib.util.spec_from_file_location("optimizers_solution", _PATH)
solution = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(solution)

CASES = [
    ("sgd_momentum", torch.optim.SGD, {"momentum": 0.9}, {}),
    ("sgd_momentum", torch.optim.SGD, {"momentum": 0.5}, {"momentum": 0.5}),
    ("adagrad", torch.optim.Adagrad, {}, {}),
    ("adagrad", torch.optim.Adagrad, {"eps": 0.1}, {"eps": 0.1}),
    ("rmsprop", torch.optim.RMSprop, {"alpha": 0.99, "eps": 1e-8}, {}),
    ("rmsprop", torch.optim.RMSprop, {"alpha": 0.8, "eps": 1e-3}, {"rho": 0.8, "eps": 1e-3}),
    ("adam", torch.optim.Adam, {}, {}),
    (
        "adam",
        torch.optim.Adam,
        {"betas": (0.8, 0.95), "eps": 1e-6},
        {"beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
    ),
]


@pytest.mark.parametrize("fn, opt_cls, torch_kw, our_kw", CASES)
@pytest.mark.parametrize("grad_scale", [1.0, 1e-6])
def test_matches_torch_optim(fn, opt_cls, torch_kw, our_kw, grad_scale):
    rng = np.random.default_rng(len(fn) + int(grad_scale * 10))
    w0 = rng.normal(size=(3, 4))
    param = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = opt_cls([param], lr=0.05, **torch_kw)
    w, state = w0, {}
    for _ in range(7):
        g = grad_scale * rng.uniform(0.3, 3.0) * rng.normal(size=w0.shape)
        param.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        w, state = getattr(solution, fn)(w, g, state, 0.05, **our_kw)
        np.testing.assert_allclose(w, param.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_momentum_with_a_learning_rate_schedule_matches_torch():
    rng = np.random.default_rng(7)
    w0 = rng.normal(size=5)
    param = torch.nn.Parameter(torch.tensor(w0))
    opt = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    w, state = w0, {}
    for lr in [0.1, 0.05, 0.02, 0.01]:
        for group in opt.param_groups:
            group["lr"] = lr
        g = rng.normal(size=5)
        param.grad = torch.tensor(g)
        opt.step()
        w, state = solution.sgd_momentum(w, g, state, lr)
        np.testing.assert_allclose(w, param.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_reference_does_not_modify_its_inputs():
    w, g = np.ones(3), np.full(3, 0.5)
    _, state = solution.adam(w, g, {}, 0.1)
    snapshot = {k: np.copy(v) for k, v in state.items()}
    solution.adam(w, g, state, 0.1)
    np.testing.assert_array_equal(w, 1.0)
    for k, v in snapshot.items():
        np.testing.assert_array_equal(state[k], v)
