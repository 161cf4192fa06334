"""Hidden tests of the transformer topic: positional encodings, the causal mask, layer norm and
its hand-written backward pass (once at a size where a gradient taken by finite differences
cannot finish in time), the feed-forward block, and the encoder layer in post-norm and pre-norm
with and without masks, float32 and float64."""

from __future__ import annotations

import pytest
import torch

from grader.checks import Mistakes, assert_close, assert_equal, assert_raises, assert_shape
from grader.checks import beyond_differences, check_gradient, expect_same

DTYPES = [pytest.param(torch.float64, id="float64"), pytest.param(torch.float32, id="float32")]
NORM = [pytest.param(False, id="post_norm"), pytest.param(True, id="pre_norm")]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(g: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64,
           std: float = 1.0) -> torch.Tensor:
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * std).to(dtype)


# ----------------------------------------------------------------- positions and the mask


@pytest.mark.points(2)
@pytest.mark.parametrize("L,d", [(50, 16), (7, 9)], ids=["L50_d16", "odd_d"])
def test_positional_encoding_alone(student, reference, L, d):
    # On zeros, what comes back is the encoding itself.
    x = torch.zeros(L, d, dtype=torch.float64)
    expect_same(student, reference, "add_positional_encoding", x,
                label=f"add_positional_encoding(zeros ({L}, {d})), i.e. PE itself (sines in the "
                      "even dimensions, cosines in the odd ones, pair i at frequency "
                      "1/10000^(2i/d))")


@pytest.mark.points(1)
def test_positional_encoding_added_to_a_batch(student, reference, seed):
    x = _randn(_gen(seed), 3, 6, 10)
    expect_same(student, reference, "add_positional_encoding", x)


@pytest.mark.points(1)
def test_positional_encoding_float32(student, reference, seed):
    # Angles up to L radians: float32 rounding of p·ω alone moves sin/cos by a few 1e-6.
    x = _randn(_gen(seed), 2, 24, 8, dtype=torch.float32)
    expect_same(student, reference, "add_positional_encoding", x, atol=2e-5)


@pytest.mark.points(1)
@pytest.mark.parametrize("L", [1, 6])
def test_causal_mask(student, reference, L):
    expect_same(student, reference, "causal_mask", L, exact=True)


# ------------------------------------------------------------------------------- layer norm


def _layer_norm_inputs(g: torch.Generator, shape: tuple, dtype: torch.dtype):
    D = shape[-1]
    x = _randn(g, *shape, dtype=dtype, std=2.0) + 3.0  # a mean far from 0
    return x, _randn(g, D, dtype=dtype), _randn(g, D, dtype=dtype)


def _forward(student, x, gamma, beta, eps=1e-5):
    got = student.call("layer_norm_forward", x, gamma, beta, eps, keep=(1,))
    assert isinstance(got, (tuple, list)) and len(got) == 2, \
        "layer_norm_forward should return (out, cache)"
    return got


def _check_out(student, reference, x, gamma, beta, eps: float, name: str) -> None:
    out, _ = _forward(student, x, gamma, beta, eps)
    assert_close(out, reference.layer_norm_forward(x, gamma, beta, eps)[0], name=name,
                 mistakes=Mistakes(reference, "layer_norm_forward", out, (x, gamma, beta, eps),
                                   select=0))


@pytest.mark.points(1)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 5, 8), (4, 6)], ids=["B2_L5_D8", "N4_D6"])
def test_layer_norm_forward(student, reference, seed, dtype, shape):
    x, gamma, beta = _layer_norm_inputs(_gen(seed), shape, dtype)
    _check_out(student, reference, x, gamma, beta, 1e-5,
               f"layer_norm_forward(x {tuple(shape)}, gamma, beta) → out")


@pytest.mark.points(1)
def test_layer_norm_forward_eps(student, reference, seed):
    x, gamma, beta = _layer_norm_inputs(_gen(seed), (3, 4), torch.float64)
    x = x * 1e-2  # a variance near eps: where it is added shows
    _check_out(student, reference, x, gamma, beta, 1e-3,
               "layer_norm_forward(x, gamma, beta, eps=1e-3) → out")


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_backward(student, reference, seed, dtype):
    g = _gen(seed)
    x, gamma, beta = _layer_norm_inputs(g, (2, 3, 6), dtype)
    dout = _randn(g, 2, 3, 6, dtype=dtype)
    out, cache = _forward(student, x, gamma, beta)
    assert not getattr(out, "requires_grad", False), (
        "layer_norm_forward returned a tensor that records its graph (requires_grad=True): "
        "write layer_norm_backward by hand, without autograd")
    got = student.call("layer_norm_backward", dout, cache)
    expected = reference.layer_norm_backward(dout, reference.layer_norm_forward(x, gamma, beta)[1])
    assert isinstance(got, (tuple, list)) and len(got) == 3, \
        "layer_norm_backward should return (dx, dgamma, dbeta)"
    for name, a, e in zip(("dx", "dgamma", "dbeta"), got, expected):
        assert_close(a, e, name=f"layer_norm_backward(dout, cache) for a (2, 3, 6) input → {name}")


@pytest.mark.points(2)
def test_layer_norm_backward_at_scale(student, reference, seed):
    g = _gen(seed)
    x, gamma, beta = _layer_norm_inputs(g, (8, 64, 512), torch.float64)  # 262,144 entries
    dout = _randn(g, 8, 64, 512)
    _, cache = _forward(student, x, gamma, beta)
    with beyond_differences("x", x.numel()):
        got = student.call("layer_norm_backward", dout, cache)
    expected = reference.layer_norm_backward(dout, reference.layer_norm_forward(x, gamma, beta)[1])
    assert isinstance(got, (tuple, list)) and len(got) == 3, \
        "layer_norm_backward should return (dx, dgamma, dbeta)"
    for name, a, e in zip(("dx", "dgamma", "dbeta"), got, expected):
        assert_close(a, e, name=f"layer_norm_backward(dout, cache) for an (8, 64, 512) input → "
                                f"{name}")


@pytest.mark.points(2)
@pytest.mark.parametrize("wrt", ["x", "gamma"])
def test_layer_norm_backward_gradient_check(student, reference, seed, wrt):
    g = _gen(seed)
    x, gamma, beta = _layer_norm_inputs(g, (3, 5), torch.float64)
    dout = _randn(g, 3, 5)
    _, cache = _forward(student, x, gamma, beta)
    got = student.call("layer_norm_backward", dout, cache)
    analytic = got[0] if wrt == "x" else got[1]

    def args(v: torch.Tensor) -> tuple:
        return (v, gamma, beta) if wrt == "x" else (x, v, beta)

    def f_batch(values: list) -> list[float]:
        outs = student.batch("layer_norm_forward", [args(v) for v in values], select=0)
        for out in outs:
            assert_shape(out, dout.shape, name="layer_norm_forward(x, gamma, beta) → out")
        return [float((out * dout).sum()) for out in outs]

    check_gradient(analytic, f_batch, x if wrt == "x" else gamma,
                   name=f"layer_norm_backward → d{wrt}", wrt=wrt,
                   expected=lambda v: float((reference.layer_norm_forward(*args(v))[0]
                                             * dout).sum()))


# --------------------------------------------------------------------------- feed-forward


@pytest.mark.points(1)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_feed_forward(student, reference, seed, dtype, activation):
    g = _gen(seed)
    E, F = 6, 10  # F ≠ E: a weight used without its transpose does not fit
    x = _randn(g, 2, 3, E, dtype=dtype)
    W1, b1 = _randn(g, F, E, dtype=dtype, std=0.5), _randn(g, F, dtype=dtype)
    W2, b2 = _randn(g, E, F, dtype=dtype, std=0.5), _randn(g, E, dtype=dtype)
    expect_same(student, reference, "feed_forward", x, W1, b1, W2, b2, activation)


@pytest.mark.points(1)
def test_feed_forward_rejects_unknown_activation(student, seed):
    g = _gen(seed)
    x, W1, W2 = _randn(g, 1, 2, 3), _randn(g, 4, 3), _randn(g, 3, 4)
    assert_raises("ValueError", student.feed_forward, x, W1, _randn(g, 4), W2, _randn(g, 3),
                  "tanh", name='feed_forward(..., activation="tanh")')


# ---------------------------------------------------------------------------- encoder layer


def _params(g: torch.Generator, E: int, F: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """A TransformerEncoderLayer's state_dict, every entry random (norms too)."""
    shapes = {"self_attn.in_proj_weight": (3 * E, E), "self_attn.in_proj_bias": (3 * E,),
              "self_attn.out_proj.weight": (E, E), "self_attn.out_proj.bias": (E,),
              "linear1.weight": (F, E), "linear1.bias": (F,), "linear2.weight": (E, F),
              "linear2.bias": (E,), "norm1.weight": (E,), "norm1.bias": (E,),
              "norm2.weight": (E,), "norm2.bias": (E,)}
    p = {k: _randn(g, *s, dtype=dtype, std=0.4) for k, s in shapes.items()}
    p["norm1.weight"] = p["norm1.weight"] + 1.0
    p["norm2.weight"] = p["norm2.weight"] + 1.0
    return p


def _check_layer(student, reference, g, *, B=2, L=5, E=12, F=20, heads=3, dtype=torch.float64,
                 mask=None, mask_text="None", norm_first=False, activation="relu") -> None:
    x = _randn(g, B, L, E, dtype=dtype)
    params = _params(g, E, F, dtype)
    expect_same(student, reference, "encoder_layer", x, params, heads, mask=mask,
                norm_first=norm_first, activation=activation,
                label=f"encoder_layer(x {(B, L, E)}, params, num_heads={heads}, "
                      f"mask={mask_text}, norm_first={norm_first}, activation=\"{activation}\")")


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", NORM)
def test_encoder_layer_without_mask(student, reference, seed, dtype, norm_first):
    _check_layer(student, reference, _gen(seed), dtype=dtype, norm_first=norm_first)


@pytest.mark.points(2)
@pytest.mark.parametrize("norm_first", NORM)
def test_encoder_layer_causal(student, reference, seed, norm_first):
    L = 6
    mask = torch.ones(L, L, dtype=torch.bool).tril()
    _check_layer(student, reference, _gen(seed), L=L, mask=mask, norm_first=norm_first,
                 mask_text="causal (L, L), True = may attend")


@pytest.mark.points(2)
@pytest.mark.parametrize("norm_first", NORM)
def test_encoder_layer_padding_mask_per_sequence(student, reference, seed, norm_first):
    B, L = 3, 5
    mask = torch.ones(B, L, L, dtype=torch.bool)
    mask[1, :, 3:] = False  # sequence 1 has 3 tokens, sequence 2 has 2
    mask[2, :, 2:] = False
    _check_layer(student, reference, _gen(seed), B=B, L=L, mask=mask, norm_first=norm_first,
                 heads=4, mask_text="(B, L, L) padding, True = may attend")


@pytest.mark.points(1)
def test_encoder_layer_fully_masked_query(student, reference, seed):
    L = 4
    mask = torch.ones(L, L, dtype=torch.bool).tril()
    mask[2] = False  # query 2 may attend to nothing: zero heads, so SA(x) there is b_o
    _check_layer(student, reference, _gen(seed), L=L, mask=mask,
                 mask_text="with a query that may attend to no key (zero weights and zero heads, "
                           "so its attention output is out_proj.bias)")


@pytest.mark.points(1)
@pytest.mark.parametrize("norm_first", NORM)
def test_encoder_layer_gelu_one_head_batch_one(student, reference, seed, norm_first):
    _check_layer(student, reference, _gen(seed), B=1, L=3, E=8, F=16, heads=1,
                 norm_first=norm_first, activation="gelu")


@pytest.mark.points(1)
def test_encoder_layer_float32_causal_pre_norm(student, reference, seed):
    L = 7
    _check_layer(student, reference, _gen(seed), L=L, dtype=torch.float32, norm_first=True,
                 mask=torch.ones(L, L, dtype=torch.bool).tril(), heads=6,
                 mask_text="causal (L, L), True = may attend")


@pytest.mark.points(1)
def test_causal_mask_and_encoder_layer_together(student, reference, seed):
    # The student's own causal mask must be the one the layer expects (True = may attend).
    mask = student.causal_mask(5)
    assert_equal(mask, reference.causal_mask(5), name="causal_mask(5)")
    _check_layer(student, reference, _gen(seed), mask=mask, mask_text="causal_mask(5)")
