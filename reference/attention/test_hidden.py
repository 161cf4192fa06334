"""Hidden tests of the attention topic: masks, causality, batch dims and multi-head layout."""

from __future__ import annotations

import pytest
import torch

from grader.checks import Mistakes, assert_close, assert_finite, expect_same

DTYPES = [pytest.param(torch.float64, id="float64"), pytest.param(torch.float32, id="float32")]
SDPA = "scaled_dot_product_attention"
MHA = "multi_head_attention"
OUT_W = ("out", "weights")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(g: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64,
           std: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64).mul_(std).to(dtype)


def _mask(g: torch.Generator, *shape: int, keep: float = 0.6) -> torch.Tensor:
    return torch.rand(*shape, generator=g) < keep


def _qkv(g: torch.Generator, lead: tuple, Lq: int, Lk: int, d: int, dv: int, dtype: torch.dtype):
    return (_randn(g, *lead, Lq, d, dtype=dtype), _randn(g, *lead, Lk, d, dtype=dtype),
            _randn(g, *lead, Lk, dv, dtype=dtype))


# ---------------------------------------------------------------------- scaled dot-product

@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_two_batch_dims_unequal_lengths(student, reference, seed, dtype):
    q, k, v = _qkv(_gen(seed), (2, 3), 5, 7, 8, 4, dtype)
    expect_same(student, reference, SDPA, q, k, v, outputs=OUT_W)


@pytest.mark.points(1)
def test_sdpa_no_batch_dims(student, reference, seed):
    q, k, v = _qkv(_gen(seed), (), 4, 9, 6, 3, torch.float64)
    expect_same(student, reference, SDPA, q, k, v, outputs=OUT_W)


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_mask_broadcast_over_heads(student, reference, seed, dtype):
    g = _gen(seed)
    q, k, v = _qkv(g, (2, 3), 6, 5, 8, 4, dtype)
    mask = _mask(g, 2, 1, 6, 5)
    mask[..., 0] = True  # every query keeps a key here; empty rows have their own test
    expect_same(student, reference, SDPA, q, k, v, mask=mask, outputs=OUT_W)


@pytest.mark.points(1)
def test_sdpa_key_padding_mask(student, reference, seed):
    g = _gen(seed)
    q, k, v = _qkv(g, (3,), 4, 6, 5, 2, torch.float64)
    mask = torch.ones(3, 1, 6, dtype=torch.bool)  # (B, 1, Lk): keys past each length hidden
    mask[0, :, 4:] = False
    mask[2, :, 1:] = False
    expect_same(student, reference, SDPA, q, k, v, mask=mask, outputs=OUT_W)


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_fully_masked_query_gives_zeros(student, reference, seed, dtype):
    g = _gen(seed)
    q, k, v = _qkv(g, (2,), 4, 5, 8, 3, dtype)
    mask = _mask(g, 2, 4, 5, keep=0.7)
    mask[:, :, 2] = True
    mask[1, 3] = False  # query 3 of batch 1 may attend to nothing
    out, weights = student.scaled_dot_product_attention(q, k, v, mask=mask)
    assert_finite(out, name=f"{SDPA}(q, k, v, mask) → out with a fully masked query row")
    assert_finite(weights, name=f"{SDPA}(q, k, v, mask) → weights with a fully masked query row")
    exp_out, exp_w = reference.scaled_dot_product_attention(q, k, v, mask=mask)
    mistakes = Mistakes(reference, SDPA, (out, weights), (q, k, v), {"mask": mask})
    assert_close(weights, exp_w, name=f"{SDPA}(q, k, v, mask) → weights", mistakes=mistakes)
    assert_close(out, exp_out, name=f"{SDPA}(q, k, v, mask) → out", mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.parametrize("Lq,Lk", [(6, 6), (4, 7), (7, 4)], ids=["square", "Lq<Lk", "Lq>Lk"])
def test_sdpa_causal(student, reference, seed, Lq, Lk):
    q, k, v = _qkv(_gen(seed), (2,), Lq, Lk, 8, 3, torch.float64)
    expect_same(student, reference, SDPA, q, k, v, causal=True, outputs=OUT_W)


@pytest.mark.points(1)
def test_sdpa_causal_float32(student, reference, seed):
    q, k, v = _qkv(_gen(seed), (2, 2), 5, 5, 8, 4, torch.float32)
    expect_same(student, reference, SDPA, q, k, v, causal=True, outputs=OUT_W)


@pytest.mark.points(1)
def test_sdpa_causal_and_mask_together(student, reference, seed):
    g = _gen(seed)
    q, k, v = _qkv(g, (3,), 5, 5, 4, 4, torch.float64)
    mask = _mask(g, 3, 5, 5, keep=0.7)
    mask[..., 0] = True  # key 0 is before every query: no row is empty (they have their own test)
    expect_same(student, reference, SDPA, q, k, v, mask=mask, causal=True, outputs=OUT_W)


@pytest.mark.points(1)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_large_scores_stay_finite(student, reference, seed, dtype):
    g = _gen(seed)
    q, k, v = _qkv(g, (2,), 4, 6, 8, 3, dtype)
    # Every key shares a large part, so each row's scores are in the thousands in float64 and
    # the hundreds in float32 (of either sign: exp without the row maximum overflows, or
    # underflows to 0/0), while they differ from each other by a few units: the weights stay
    # spread out, and a wrong scale shows whatever the draw. (Larger float32 scores would round
    # by more than the tolerance whatever the order of the operations.)
    std = 40.0 if dtype == torch.float64 else 4.0
    shared = _randn(g, 2, 1, 8, dtype=dtype, std=std)  # (B, 1, d): the same for every key
    q, k = 30 * q, shared + 0.1 * k
    # In float32 a score of a few thousand is rounded by a few 1e-4, which moves the weights by
    # as much whatever the order of the operations, and the outputs (sums of values weighted by
    # them, near 0 where they cancel) by as much in absolute terms: a correct softmax differs by
    # that (measured over 400 draws: every correct solution within rtol 1e-3 and atol 1e-4).
    tol = {"rtol": 1e-3, "atol": 1e-4} if dtype == torch.float32 else {}
    expect_same(student, reference, SDPA, q, k, v, outputs=OUT_W, **tol)


# ---------------------------------------------------------------------------- multi-head

def _mha_inputs(g: torch.Generator, B: int, Lq: int, Lk: int, E: int, dtype: torch.dtype):
    x = (_randn(g, B, Lq, E, dtype=dtype), _randn(g, B, Lk, E, dtype=dtype),
         _randn(g, B, Lk, E, dtype=dtype))
    W = [_randn(g, E, E, dtype=dtype, std=0.5) for _ in range(4)]
    b = [_randn(g, E, dtype=dtype, std=0.3) for _ in range(4)]
    return (*x, *W, *b)


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", DTYPES)
def test_mha_unmasked_cross_attention(student, reference, seed, dtype):
    query, key, value, *w = _mha_inputs(_gen(seed), 2, 5, 7, 12, dtype)
    expect_same(student, reference, MHA, query, key, value, 3, *w)


@pytest.mark.points(1)
@pytest.mark.parametrize("num_heads", [1, 8], ids=["one_head", "head_dim_2"])
def test_mha_head_counts(student, reference, seed, num_heads):
    query, key, value, *w = _mha_inputs(_gen(seed), 3, 4, 4, 16, torch.float64)
    expect_same(student, reference, MHA, query, key, value, num_heads, *w)


@pytest.mark.points(2)
def test_mha_batch_mask_with_fully_masked_query(student, reference, seed):
    g = _gen(seed)
    query, key, value, *w = _mha_inputs(g, 2, 4, 6, 8, torch.float64)
    mask = _mask(g, 2, 4, 6)
    mask[..., 5] = True
    mask[0, 1] = False  # query 1 of batch 0 sees nothing: its output is b_o
    expect_same(student, reference, MHA, query, key, value, 2, *w, mask=mask)


@pytest.mark.points(1)
@pytest.mark.parametrize("dtype", DTYPES)
def test_mha_shared_2d_mask(student, reference, seed, dtype):
    g = _gen(seed)
    query, key, value, *w = _mha_inputs(g, 3, 5, 6, 8, dtype)
    mask = _mask(g, 5, 6)
    mask[:, 0] = True
    expect_same(student, reference, MHA, query, key, value, 4, *w, mask=mask)


@pytest.mark.points(1)
def test_mha_causal_self_attention(student, reference, seed):
    g = _gen(seed)
    x, _, _, *w = _mha_inputs(g, 2, 6, 6, 12, torch.float64)
    expect_same(student, reference, MHA, x, x, x, 3, *w, causal=True)
