"""The regularization reference agrees with torch: F.dropout, nn.init.xavier_uniform_, autograd, SGD decay."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

_PATH = Path(__file__).resolve().parents[1] / "reference" / "regularization" / "solution.py"
_spec = importlib.util.spec_from_file_location("regularization_solution", _PATH)
solution = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(solution)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.6])
def test_dropout_matches_torch_dropout(p):
    gen = torch.Generator().manual_seed(int(p * 10))
    x = torch.randn(6, 9, dtype=torch.float64, generator=gen, requires_grad=True)
    torch.manual_seed(int(p * 10))
    out_t = F.dropout(x, p, training=True)
    dout = torch.randn(6, 9, dtype=torch.float64, generator=gen)
    (out_t * dout).sum().backward()
    # Rebuild a u that keeps exactly the entries torch kept (x has no zeros almost surely).
    kept = (out_t != 0).detach().numpy()
    r = np.random.default_rng(0).random(kept.shape)
    u = np.where(kept, p + (1 - p) * r, p * r)
    out, mask = solution.dropout_forward(x.detach().numpy(), p, True, u)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-15, atol=0)
    dx = solution.dropout_backward(dout.numpy(), mask, p, True)
    np.testing.assert_allclose(dx, x.grad.numpy(), rtol=1e-15, atol=0)


def test_dropout_eval_matches_torch():
    x = torch.randn(4, 5, dtype=torch.float64)
    out, mask = solution.dropout_forward(x.numpy(), 0.3, False, np.zeros((4, 5)))
    np.testing.assert_array_equal(out, F.dropout(x, 0.3, training=False).numpy())
    np.testing.assert_array_equal(solution.dropout_backward(np.ones((4, 5)), mask, 0.3, False), 1.0)


@pytest.mark.parametrize("fan_in, fan_out", [(400, 300), (50, 1000)])
def test_xavier_uniform_has_torch_distribution(fan_in, fan_out):
    ours = solution.xavier_uniform(fan_in, fan_out, seed=3)
    assert ours.shape == (fan_in, fan_out)
    # torch stores a Linear weight as (out, in): fan_in is its second dimension.
    theirs = torch.nn.init.xavier_uniform_(
        torch.empty(fan_out, fan_in, dtype=torch.float64),
        generator=torch.Generator().manual_seed(3),
    ).numpy()
    a = np.abs(theirs).max()
    assert np.abs(ours).max() == pytest.approx(a, rel=2e-3)
    assert ours.var() == pytest.approx(theirs.var(), rel=0.03)
    assert stats.ks_2samp(ours.ravel(), theirs.ravel()).pvalue > 1e-4


def test_xavier_uniform_is_deterministic_per_seed():
    np.testing.assert_array_equal(
        solution.xavier_uniform(5, 3, 11), solution.xavier_uniform(5, 3, 11)
    )
    assert not np.array_equal(solution.xavier_uniform(5, 3, 11), solution.xavier_uniform(5, 3, 12))


def test_l2_penalty_matches_autograd():
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    value_t = 0.3 / 2 * (w**2).sum()
    value_t.backward()
    value, grad = solution.l2_penalty(w.detach().numpy(), 0.3)
    assert isinstance(value, float)
    assert value == pytest.approx(value_t.item(), rel=1e-14)
    np.testing.assert_allclose(grad, w.grad.numpy(), rtol=1e-15)


@pytest.mark.parametrize("lr, lam", [(0.1, 0.05), (0.5, 0.4), (0.2, 0.0)])
def test_weight_decay_step_matches_sgd_weight_decay(lr, lam):
    w0 = torch.randn(3, 5, dtype=torch.float64)
    g = torch.randn(3, 5, dtype=torch.float64)
    param = torch.nn.Parameter(w0.clone())
    opt = torch.optim.SGD([param], lr=lr, weight_decay=lam)
    param.grad = g.clone()
    opt.step()
    ours = solution.weight_decay_step(w0.numpy(), g.numpy(), lr, lam)
    np.testing.assert_allclose(ours, param.detach().numpy(), rtol=1e-13, atol=1e-15)
