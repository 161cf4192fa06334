"""Public sanity tests for the performance topic: tiny hand-sized inputs with known answers.

The test marked ``gpu`` runs where your machine has a GPU (and is shown as "needs a GPU — not
graded here" where it has none)."""

import pytest
import torch

from grader.checks import assert_close


def t(values: list) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_conv2d_fast_padding_and_stride(student):
    x = t([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]])  # (N=1, C=1, 3, 3)
    w = t([[[[1, 0], [0, -1]]]])  # (F=1, C=1, 2, 2): top-left minus bottom-right
    b = t([0.5])
    assert_close(student.conv2d_fast(x, w, b, 1, 0), t([[[[-3.5, -3.5], [-3.5, -3.5]]]]),
                 name="conv2d_fast(x, w, b, stride=1, pad=0)")
    # Padded by one zero on every side, windows two apart: the first reads [[0, 0], [0, 1]].
    assert_close(student.conv2d_fast(x, w, b, 2, 1), t([[[[-0.5, -2.5], [-6.5, -3.5]]]]),
                 name="conv2d_fast(x, w, b, stride=2, pad=1)")


def test_lstm_sequence_fast_two_steps(student):
    H = 1
    x = t([[[1.0]], [[-1.0]]])  # (T=2, B=1, I=1)
    h0, c0 = t([[0.0]]), t([[0.5]])
    W_ih = t([[1.0], [0.0], [2.0], [-1.0]])  # rows i, f, g, o
    W_hh = t([[0.5], [1.0], [0.0], [1.0]])
    b_ih, b_hh = torch.zeros(4 * H, dtype=torch.float64), t([0.0, 1.0, 0.0, 0.0])
    outputs, (h_T, c_T) = student.lstm_sequence_fast(x, h0, c0, W_ih, W_hh, b_ih, b_hh)
    assert_close(outputs, t([[[0.212348192174]], [[0.382868563552]]]),
                 name="lstm_sequence_fast(...) → outputs")
    assert_close(h_T, t([[0.382868563552]]), name="lstm_sequence_fast(...) → h_T")
    assert_close(c_T, t([[0.545010229298]]), name="lstm_sequence_fast(...) → c_T")


def test_attention_fast_causal(student):
    q = t([[1.0, 0.0], [0.0, 2.0]])  # (Lq=2, d=2)
    k = t([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # (Lk=3, d=2)
    v = t([[1.0, 2.0], [3.0, 4.0], [-1.0, 0.5]])  # (Lk=3, dv=2)
    assert_close(student.attention_fast(q, k, v), t([[0.593327443921, 1.793883490261],
                                                     [1.0, 2.222904137054]]),
                 name="attention_fast(q, k, v)")
    assert_close(student.attention_fast(q, k, v, True), t([[1.0, 2.0],
                                                           [2.608859365014, 3.608859365014]]),
                 name="attention_fast(q, k, v, causal=True)")


@pytest.mark.gpu
def test_attention_fast_on_the_gpu(student):
    # Inputs on the GPU: your result must be there too (make new tensors with device=q.device).
    q = t([[1.0, 0.0], [0.0, 2.0]]).cuda()
    k = t([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]).cuda()
    v = t([[1.0, 2.0], [3.0, 4.0], [-1.0, 0.5]]).cuda()
    assert_close(student.attention_fast(q, k, v, True),
                 t([[1.0, 2.0], [2.608859365014, 3.608859365014]]).cuda(),
                 name="attention_fast(q, k, v, causal=True) with q, k, v on the GPU")
