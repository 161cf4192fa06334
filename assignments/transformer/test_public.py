"""Public sanity tests for the transformer topic: small inputs with known answers."""

import torch

from grader.checks import assert_close, assert_equal


def t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_positional_encoding(student):
    # d = 4: pair 0 at frequency 1, pair 1 at 1/10000^(2/4) = 0.01.
    got = student.add_positional_encoding(torch.zeros(3, 4, dtype=torch.float64))
    assert_close(got, t([[0.0, 1.0, 0.0, 1.0],
                         [0.841470984808, 0.540302305868, 0.009999833334, 0.999950000417],
                         [0.909297426826, -0.416146836547, 0.019998666693, 0.999800006667]]),
                 name="add_positional_encoding(zeros (3, 4))")


def test_causal_mask(student):
    assert_equal(student.causal_mask(3), torch.tensor([[True, False, False],
                                                       [True, True, False],
                                                       [True, True, True]]),
                 name="causal_mask(3)")


def test_layer_norm_forward_and_backward(student):
    x = t([[1.0, 2.0, 3.0], [0.0, 0.0, 3.0]])
    out, cache = student.call("layer_norm_forward", x, t([1.0, 1.0, 1.0]), t([0.0, 0.0, 0.0]),
                              keep=(1,))
    assert_close(out, t([[-1.224735685908, 0.0, 1.224735685908],
                         [-0.707105013426, -0.707105013426, 1.414210026852]]),
                 name="layer_norm_forward(x, ones, zeros) → out")
    dx, dgamma, dbeta = student.layer_norm_backward(t([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), cache)
    assert_close(dx, t([[0.2041317996979, -0.4082452286361, 0.2041134289382],
                        [-1.178502463176e-06, -1.178502463176e-06, 2.357004926430e-06]]),
                 name="layer_norm_backward(dout, cache) → dx")
    assert_close(dgamma, t([-1.224735685908, 0.0, 1.414210026852]),
                 name="layer_norm_backward(dout, cache) → dgamma")
    assert_close(dbeta, t([1.0, 0.0, 1.0]), name="layer_norm_backward(dout, cache) → dbeta")


def test_feed_forward(student):
    x = t([[1.0, -1.0]])
    W1, b1 = t([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), t([0.0, 0.0, 0.5])  # F = 3, E = 2
    W2, b2 = t([[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]]), t([0.25, 0.0])
    # relu(x W1ᵀ + b1) = relu(1, −1, 0.5) = (1, 0, 0.5); then (1, 0, 0.5) W2ᵀ + b2
    assert_close(student.feed_forward(x, W1, b1, W2, b2), t([[2.75, 0.5]]),
                 name="feed_forward(x, W1, b1, W2, b2)")


def _params(E: int = 4, F: int = 8) -> dict:
    """Zero weights: self-attention gives its output bias, the FFN its last bias."""
    shapes = {"self_attn.in_proj_weight": (3 * E, E), "self_attn.in_proj_bias": (3 * E,),
              "self_attn.out_proj.weight": (E, E), "linear1.weight": (F, E),
              "linear1.bias": (F,), "linear2.weight": (E, F), "norm1.bias": (E,),
              "norm2.bias": (E,)}
    p = {k: torch.zeros(*s, dtype=torch.float64) for k, s in shapes.items()}
    p["norm1.weight"] = p["norm2.weight"] = torch.ones(E, dtype=torch.float64)
    p["self_attn.out_proj.bias"] = t([1.0, 0.0, 0.0, -1.0])
    p["linear2.bias"] = t([0.0, 1.0, 0.0, 0.0])
    return p


X = t([[[1.0, 2.0, 3.0, 6.0], [0.0, 1.0, 0.0, 1.0]]])  # (B=1, L=2, E=4)


def test_encoder_layer_pre_norm(student):
    # x + SA(LN1(x)) = x + b_o, then + FFN(...) = + b2: no norm on the residual path.
    got = student.encoder_layer(X, _params(), 2, norm_first=True)
    assert_close(got, t([[[2.0, 3.0, 3.0, 5.0], [1.0, 2.0, 0.0, 0.0]]]),
                 name="encoder_layer(x, params, 2, norm_first=True)")


def test_encoder_layer_post_norm(student):
    # LN2(LN1(x + b_o) + b2)
    got = student.encoder_layer(X, _params(), 2, norm_first=False)
    assert_close(got, t([[[-1.208142519617, -0.075325383262, -0.283204284089, 1.566672186967],
                          [0.577341715928, 1.347151198136, -0.962246457032, -0.962246457032]]]),
                 name="encoder_layer(x, params, 2, norm_first=False)")
