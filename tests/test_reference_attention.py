"""Cross-checks the attention reference against torch's SDPA and nn.MultiheadAttention."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


def _load_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "attention_reference", ROOT / "reference/attention/solution.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()
TOL = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-12},
    torch.float32: {"rtol": 1e-5, "atol": 1e-6},
}
DTYPES = [torch.float64, torch.float32]


def _weights_by_hand(q, k, allowed):
    """Attention weights from the definition, in float64, with fully masked rows set to zero."""
    s = (q.double() @ k.double().transpose(-2, -1)) / q.shape[-1] ** 0.5
    e = torch.exp(s - s.amax(-1, keepdim=True)) * allowed
    total = e.sum(-1, keepdim=True)
    return torch.where(total > 0, e / total.clamp_min(1e-300), torch.zeros_like(e))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_matches_torch_with_batch_dims_mask_and_unequal_lengths(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    q = torch.randn(2, 3, 4, 8, dtype=dtype)
    k = torch.randn(2, 3, 6, 8, dtype=dtype)
    v = torch.randn(2, 3, 6, 5, dtype=dtype)
    mask = torch.rand(2, 1, 4, 6) > 0.4
    mask[1, 0, 2] = False  # a query that may attend to nothing
    out, weights = ref.scaled_dot_product_attention(q, k, v, mask=mask)
    torch.testing.assert_close(
        out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), **TOL[dtype]
    )
    torch.testing.assert_close(
        weights, _weights_by_hand(q, k, mask.expand(2, 3, 4, 6)).to(dtype), **TOL[dtype]
    )
    assert torch.all(out[1, :, 2] == 0) and torch.all(weights[1, :, 2] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("Lq,Lk", [(5, 5), (3, 6), (6, 3)])
def test_sdpa_causal_matches_torch(dtype: torch.dtype, Lq: int, Lk: int) -> None:
    torch.manual_seed(1)
    q, k, v = (
        torch.randn(3, Lq, 4, dtype=dtype),
        torch.randn(3, Lk, 4, dtype=dtype),
        torch.randn(3, Lk, 2, dtype=dtype),
    )
    out, weights = ref.scaled_dot_product_attention(q, k, v, causal=True)
    torch.testing.assert_close(
        out, F.scaled_dot_product_attention(q, k, v, is_causal=True), **TOL[dtype]
    )
    assert torch.all(weights.triu(1) == 0)
    # causal and a mask together: both must allow the key.
    mask = torch.rand(Lq, Lk) > 0.3
    out, _ = ref.scaled_dot_product_attention(q, k, v, mask=mask, causal=True)
    both = mask & torch.ones(Lq, Lk, dtype=torch.bool).tril()
    torch.testing.assert_close(
        out, F.scaled_dot_product_attention(q, k, v, attn_mask=both), **TOL[dtype]
    )


def test_sdpa_unmasked_weights_are_a_softmax() -> None:
    torch.manual_seed(2)
    q, k, v = (
        torch.randn(4, 7, dtype=torch.float64),
        torch.randn(9, 7, dtype=torch.float64),
        torch.randn(9, 3, dtype=torch.float64),
    )
    out, weights = ref.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(
        weights, torch.softmax(q @ k.T / 7**0.5, dim=-1), **TOL[torch.float64]
    )
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), **TOL[torch.float64])


def _torch_mha(E: int, nh: int, W, b, dtype) -> nn.MultiheadAttention:
    mha = nn.MultiheadAttention(E, nh, batch_first=True, dtype=dtype)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat(W[:3]))
        mha.in_proj_bias.copy_(torch.cat(b[:3]))
        mha.out_proj.weight.copy_(W[3])
        mha.out_proj.bias.copy_(b[3])
    return mha.eval()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_kind", ["none", "2d", "3d", "causal"])
def test_mha_matches_torch(dtype: torch.dtype, mask_kind: str) -> None:
    torch.manual_seed(3)
    B, Lq, Lk, E, nh = 2, 4, 6, 12, 3
    W = [torch.randn(E, E, dtype=dtype) * 0.4 for _ in range(4)]
    b = [torch.randn(E, dtype=dtype) * 0.3 for _ in range(4)]
    query, key, value = (
        torch.randn(B, Lq, E, dtype=dtype),
        torch.randn(B, Lk, E, dtype=dtype),
        torch.randn(B, Lk, E, dtype=dtype),
    )
    mha = _torch_mha(E, nh, W, b, dtype)
    mask = attn_mask = None
    causal = False
    if mask_kind == "2d":
        mask = torch.rand(Lq, Lk) > 0.3
        mask[:, 0] = True  # torch gives NaN for fully masked rows; keep every row attending
        attn_mask = ~mask  # torch's attn_mask: True = may NOT attend
    elif mask_kind == "3d":
        mask = torch.rand(B, Lq, Lk) > 0.3
        mask[..., 1] = True
        attn_mask = (~mask).repeat_interleave(nh, dim=0)  # (B·nh, Lq, Lk)
    elif mask_kind == "causal":
        causal = True
        key, value = key[:, :Lq], value[:, :Lq]
        attn_mask = ~torch.ones(Lq, Lq, dtype=torch.bool).tril()
    with torch.no_grad():
        expected, _ = mha(query, key, value, attn_mask=attn_mask, need_weights=False)
    got = ref.multi_head_attention(query, key, value, nh, *W, *b, mask=mask, causal=causal)
    torch.testing.assert_close(got, expected, **TOL[dtype])


def test_mha_fully_masked_query_gives_output_bias() -> None:
    torch.manual_seed(4)
    E, nh = 8, 2
    W = [torch.randn(E, E, dtype=torch.float64) for _ in range(4)]
    b = [torch.randn(E, dtype=torch.float64) for _ in range(4)]
    x = torch.randn(1, 3, E, dtype=torch.float64)
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[1] = False
    got = ref.multi_head_attention(x, x, x, nh, *W, *b, mask=mask)
    torch.testing.assert_close(got[0, 1], b[3])
    assert torch.isfinite(got).all()
