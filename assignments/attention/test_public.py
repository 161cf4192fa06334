"""Public sanity tests for the attention topic: tiny hand-sized inputs with known answers."""

import torch

from grader.checks import assert_close


def t(values: list) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


Q = t([[1.0, 0.0], [0.0, 2.0]])  # (Lq=2, d=2), no batch dimension
K = t([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # (Lk=3, d=2)
V = t([[1.0, 2.0], [3.0, 4.0], [-1.0, 0.5]])  # (Lk=3, dv=2)


def test_sdpa_no_mask(student):
    out, weights = student.scaled_dot_product_attention(Q, K, V)
    assert_close(weights, t([[0.401112092680, 0.197775814640, 0.401112092680],
                             [0.108383451785, 0.445808274108, 0.445808274108]]),
                 name="scaled_dot_product_attention(q, k, v) → weights")
    assert_close(out, t([[0.593327443921, 1.793883490261], [1.0, 2.222904137054]]),
                 name="scaled_dot_product_attention(q, k, v) → out")


def test_sdpa_mask_true_means_may_attend_and_empty_row_is_zero(student):
    mask = torch.tensor([[True, False, True], [False, False, False]])
    out, weights = student.scaled_dot_product_attention(Q, K, V, mask=mask)
    assert_close(weights, t([[0.5, 0.0, 0.5], [0.0, 0.0, 0.0]]),
                 name="scaled_dot_product_attention(q, k, v, mask) → weights")
    assert_close(out, t([[0.0, 1.25], [0.0, 0.0]]),
                 name="scaled_dot_product_attention(q, k, v, mask) → out")


def test_sdpa_causal(student):
    out, weights = student.scaled_dot_product_attention(Q, K, V, causal=True)
    assert_close(weights, t([[1.0, 0.0, 0.0], [0.195570317493, 0.804429682507, 0.0]]),
                 name="scaled_dot_product_attention(q, k, v, causal=True) → weights")
    assert_close(out, t([[1.0, 2.0], [2.608859365014, 3.608859365014]]),
                 name="scaled_dot_product_attention(q, k, v, causal=True) → out")


EYE = torch.eye(4, dtype=torch.float64)
W_Q = 0.5 * EYE
W_K = EYE[[1, 0, 3, 2]]  # swaps features within each head
W_V = EYE
W_O = t([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 1]])
B_Q, B_K, B_V, B_O = t([0.1, 0, 0, 0]), t([0, 0, 0.2, 0]), t([0, 0.3, 0, 0]), t([0, 0, 0, 0.5])
X = t([[[1.0, 2.0, 0.0, -1.0], [0.5, -1.0, 1.0, 2.0], [0.0, 1.0, -2.0, 1.0]]])  # (B=1, L=3, E=4)


def test_multi_head_attention_two_heads(student):
    out = student.multi_head_attention(X, X, X, 2, W_Q, W_K, W_V, W_O, B_Q, B_K, B_V, B_O)
    expected = t([[[2.422292947273, 0.800215459086, -0.247044102946, 1.875033385241],
                   [1.728396022840, 1.912004041409, 2.187537002563, 2.503928983994],
                   [1.721649182752, 1.094029871935, -0.470895733410, 0.656723577406]]])
    assert_close(out, expected, name="multi_head_attention(x, x, x, num_heads=2, ...)")


def test_multi_head_attention_causal(student):
    out = student.multi_head_attention(X, X, X, 2, W_Q, W_K, W_V, W_O, B_Q, B_K, B_V, B_O,
                                       causal=True)
    expected = t([[[3.3, 2.3, -1.0, 0.5],
                   [2.032184551144, 2.067480793844, 2.416719000026, 2.881422757325],
                   [1.721649182752, 1.094029871935, -0.470895733410, 0.656723577406]]])
    assert_close(out, expected, name="multi_head_attention(..., causal=True)")
