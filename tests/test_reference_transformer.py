"""Cross-checks the transformer reference: the encoder layer against torch.nn.TransformerEncoderLayer
in post-norm and pre-norm, layer norm against F.layer_norm and autograd, the encoding against the
paper's formula, the causal mask against torch's is_causal."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "transformer_reference", ROOT / "reference/transformer/solution.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load()
TOL = {torch.float64: {"rtol": 1e-10, "atol": 1e-12}, torch.float32: {"rtol": 1e-5, "atol": 2e-6}}
DTYPES = [torch.float64, torch.float32]


def _torch_layer(E: int, heads: int, F_: int, dtype: torch.dtype, norm_first: bool,
                 activation: str, eps: float, seed: int) -> nn.TransformerEncoderLayer:
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(E, heads, F_, dropout=0.0, activation=activation,
                                       layer_norm_eps=eps, batch_first=True,
                                       norm_first=norm_first, dtype=dtype)
    with torch.no_grad():  # the norms' default weights are 1 and 0: make every entry count
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return layer.eval()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("mask_kind", ["none", "causal", "per_sequence"])
def test_encoder_layer_matches_torch(dtype, norm_first, mask_kind) -> None:
    B, L, E, heads, F_ = 3, 6, 12, 3, 20
    layer = _torch_layer(E, heads, F_, dtype, norm_first, "relu", 1e-5, seed=1)
    x = torch.randn(B, L, E, dtype=dtype)
    mask = src_mask = None
    if mask_kind == "causal":
        mask = ref.causal_mask(L)
        src_mask = ~mask  # torch: True = may not attend
    elif mask_kind == "per_sequence":
        mask = torch.ones(B, L, L, dtype=torch.bool)
        mask[1, :, 4:] = False
        mask[2, :, 2:] = False
        src_mask = (~mask).repeat_interleave(heads, dim=0)  # (B·heads, L, L)
    with torch.no_grad():
        want = layer(x, src_mask=src_mask)
    params = {k: v.detach() for k, v in layer.state_dict().items()}
    got = ref.encoder_layer(x, params, heads, mask=mask, norm_first=norm_first)
    torch.testing.assert_close(got, want, **TOL[dtype])


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_gelu_and_eps_match_torch(norm_first) -> None:
    layer = _torch_layer(8, 2, 16, torch.float64, norm_first, "gelu", 1e-3, seed=2)
    x = torch.randn(2, 4, 8, dtype=torch.float64)
    with torch.no_grad():
        want = layer(x)
    params = {k: v.detach() for k, v in layer.state_dict().items()}
    got = ref.encoder_layer(x, params, 2, norm_first=norm_first, activation="gelu", eps=1e-3)
    torch.testing.assert_close(got, want, **TOL[torch.float64])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 7), (5, 4)])
def test_layer_norm_matches_f_layer_norm_and_autograd(dtype, shape) -> None:
    torch.manual_seed(3)
    x = (torch.randn(*shape, dtype=dtype) * 3 + 2).requires_grad_()
    gamma = torch.randn(shape[-1], dtype=dtype, requires_grad=True)
    beta = torch.randn(shape[-1], dtype=dtype, requires_grad=True)
    want = F.layer_norm(x, (shape[-1],), gamma, beta, eps=1e-5)
    dout = torch.randn_like(want)
    want.backward(dout)
    out, cache = ref.layer_norm_forward(x.detach(), gamma.detach(), beta.detach())
    torch.testing.assert_close(out, want.detach(), **TOL[dtype])
    for got, t in zip(ref.layer_norm_backward(dout, cache), (x, gamma, beta)):
        torch.testing.assert_close(got, t.grad, **TOL[dtype])


def test_positional_encoding_follows_the_paper() -> None:
    for L, d in [(10, 8), (5, 7), (1, 2)]:
        pe = ref.add_positional_encoding(torch.zeros(L, d, dtype=torch.float64))
        for p in range(L):
            for j in range(d):
                angle = p / 10000 ** ((j - j % 2) / d)
                want = math.sin(angle) if j % 2 == 0 else math.cos(angle)
                assert pe[p, j].item() == pytest.approx(want, abs=1e-12)
    x = torch.randn(2, 5, 6, dtype=torch.float32)
    got = ref.add_positional_encoding(x)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got - x, ref.add_positional_encoding(torch.zeros(5, 6))
                               .expand(2, 5, 6))


def test_causal_mask_is_torch_s_is_causal() -> None:
    torch.manual_seed(4)
    q, k, v = (torch.randn(2, 5, 4, dtype=torch.float64) for _ in range(3))
    with_mask = F.scaled_dot_product_attention(q, k, v, attn_mask=ref.causal_mask(5))
    torch.testing.assert_close(with_mask, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert ref.causal_mask(1).tolist() == [[True]]


def test_feed_forward_is_two_linear_layers() -> None:
    torch.manual_seed(5)
    lin1, lin2 = nn.Linear(6, 9).double(), nn.Linear(9, 6).double()
    x = torch.randn(2, 3, 6, dtype=torch.float64)
    with torch.no_grad():
        for act, f in (("relu", F.relu), ("gelu", F.gelu)):
            got = ref.feed_forward(x, lin1.weight, lin1.bias, lin2.weight, lin2.bias, act)
            torch.testing.assert_close(got, lin2(f(lin1(x))), **TOL[torch.float64])
    with pytest.raises(ValueError):
        ref.feed_forward(x, lin1.weight, lin1.bias, lin2.weight, lin2.bias, "tanh")


def test_a_fully_masked_query_gets_a_zero_attention_output() -> None:
    layer = _torch_layer(8, 2, 8, torch.float64, False, "relu", 1e-5, seed=6)
    params = {k: v.detach() for k, v in layer.state_dict().items()}
    x = torch.randn(1, 3, 8, dtype=torch.float64)
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[1] = False
    got = ref.encoder_layer(x, params, 2, mask=mask)
    assert torch.isfinite(got).all()
    # Query 1's attention output is the output bias alone: its layer is norm1(x + b_o) → FFN.
    h = ref.layer_norm_forward(x[0, 1] + params["self_attn.out_proj.bias"],
                               params["norm1.weight"], params["norm1.bias"])[0]
    ff = ref.feed_forward(h, params["linear1.weight"], params["linear1.bias"],
                          params["linear2.weight"], params["linear2.bias"])
    want = ref.layer_norm_forward(h + ff, params["norm2.weight"], params["norm2.bias"])[0]
    torch.testing.assert_close(got[0, 1], want, **TOL[torch.float64])


def test_the_statement_says_what_the_reference_gives_a_fully_masked_query() -> None:
    # The attention topic says it too: zero heads, then the output projection (b_o alone).
    text = " ".join((ROOT / "assignments/transformer/README.md").read_text().split())
    assert "no allowed key** gets all-zero weights" in text
    assert "that query's `SA(x)` is the projection's bias `out_proj.bias`" in text
    attention = " ".join((ROOT / "assignments/attention/README.md").read_text().split())
    assert "its final output is `b_o`" in attention
