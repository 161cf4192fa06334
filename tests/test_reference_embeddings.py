"""Cross-checks the embeddings reference: the predictor's loss and gradients against torch's
embedding, cross-entropy and autograd; windows and masking against loops over the definitions;
neighbours against torch's cosine similarity."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "embeddings_reference", ROOT / "reference/embeddings/solution.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load()


@pytest.mark.parametrize("T,n,pad", [(7, 3, 0), (2, 4, 9), (5, 1, 1), (0, 2, 0)])
def test_context_windows_follow_the_definition(T: int, n: int, pad: int) -> None:
    ids = np.arange(10, 10 + T)
    want = [[ids[t - j] if t - j >= 0 else pad for j in range(n, 0, -1)] for t in range(T)]
    got = ref.context_windows(ids, n, pad)
    assert got.shape == (T, n) and got.dtype.kind == "i"
    assert got.tolist() == want


@pytest.mark.parametrize("combine", ["mean", "concat"])
def test_predict_next_loss_matches_torch_autograd(combine: str) -> None:
    rng = np.random.default_rng(0)
    V, D, n, N = 9, 4, 3, 8
    E, b = rng.normal(size=(V, D)), rng.normal(size=V)
    W = rng.normal(size=(D if combine == "mean" else n * D, V))
    contexts = rng.integers(0, V, size=(N, n))
    contexts[0] = 2
    contexts[:, 1] = 2  # word 2 many times, within and across examples
    targets = rng.integers(0, V, size=N)
    tE, tW, tb = (torch.tensor(a, requires_grad=True) for a in (E, W, b))
    vectors = F.embedding(torch.tensor(contexts), tE)  # (N, n, D)
    h = vectors.mean(1) if combine == "mean" else vectors.reshape(N, n * D)
    loss = F.cross_entropy(h @ tW + tb, torch.tensor(targets))
    loss.backward()
    got_loss, grads = ref.predict_next_loss(E, W, b, contexts, targets, combine)
    assert got_loss == pytest.approx(loss.item(), rel=1e-12)
    for key, t in (("E", tE), ("W", tW), ("b", tb)):
        np.testing.assert_allclose(grads[key], t.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_predict_next_loss_is_stable_and_rejects_unknown_combine() -> None:
    rng = np.random.default_rng(1)
    E, W, b = rng.normal(size=(5, 2)), 500 * rng.normal(size=(2, 5)), np.zeros(5)
    with np.errstate(all="raise"):
        loss, _ = ref.predict_next_loss(E, W, b, np.array([[1, 2], [3, 3]]), np.array([0, 4]))
    assert np.isfinite(loss)
    with pytest.raises(ValueError):
        ref.predict_next_loss(E, W, b, np.array([[1, 2]]), np.array([0]), "sum")


def test_nearest_matches_torch_cosine_similarity() -> None:
    rng = np.random.default_rng(2)
    E = rng.normal(size=(15, 6)) * rng.uniform(0.1, 10, size=(15, 1))
    sims = F.cosine_similarity(torch.tensor(E), torch.tensor(E[4])[None], dim=1).numpy()
    sims[4] = -np.inf
    assert ref.nearest(E, 4, 6).tolist() == np.argsort(-sims, kind="stable")[:6].tolist()


def test_nearest_zero_vectors_and_ties() -> None:
    E = np.array([[1.0, 0.0], [0.0, 0.0], [2.0, 2.0], [2.0, 2.0], [-1.0, 0.0]])
    assert ref.nearest(E, 0, 4).tolist() == [2, 3, 1, 4]  # equal vectors tie: the smaller id first


def _mask_by_loop(ids, u, mask_id, vocab, special, rate):
    inputs, labels = ids.copy(), np.full(ids.shape, -100)
    for p in np.ndindex(ids.shape):
        if ids[p] in special or u[p][0] >= rate:
            continue
        labels[p] = ids[p]
        inputs[p] = (mask_id if u[p][1] < 0.8 else
                     int(np.floor(u[p][2] * vocab)) if u[p][1] < 0.9 else ids[p])
    return inputs, labels


@pytest.mark.parametrize("rate", [0.15, 0.5])
def test_mask_tokens_follows_the_rule(rate: float) -> None:
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 40, size=(5, 9))
    u = rng.random(size=(5, 9, 3))
    got = ref.mask_tokens(ids, u, 1, 40, [0, 1, 2, 3], rate)
    want = _mask_by_loop(ids, u, 1, 40, {0, 1, 2, 3}, rate)
    for g, w in zip(got, want):
        assert g.dtype == np.int64 and g.tolist() == w.tolist()


def test_mask_tokens_proportions_are_bert_s() -> None:
    rng = np.random.default_rng(4)
    ids = rng.integers(4, 1000, size=200_000)
    inputs, labels = ref.mask_tokens(ids, rng.random(size=(200_000, 3)), 1, 1000, [0, 1, 2, 3])
    chosen = labels != -100
    assert abs(chosen.mean() - 0.15) < 0.005
    masked, kept = (inputs[chosen] == 1).mean(), (inputs[chosen] == ids[chosen]).mean()
    assert abs(masked - 0.8) < 0.01 and abs(kept - 0.1) < 0.01  # (plus random ids equal by chance)
