"""Public sanity tests for the rnn topic: tiny hand-sized inputs with known answers."""

import torch

from grader.checks import assert_close


def t(values: list) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# One input feature and one hidden unit, with a different weight in every gate block, so that
# a wrong gate order changes the answer.
X1, H1, C1 = t([[1.0]]), t([[0.5]]), t([[-1.0]])


def test_rnn_cell_one_step(student):
    h = student.rnn_cell(t([[1.0, -2.0]]), t([[0.5]]), t([[0.3, 0.1]]), t([[-0.4]]),
                         t([0.2]), t([0.4]))
    assert_close(h, t([[0.462117157260]]), name="rnn_cell(x, h, ...) → h'")


def test_lstm_cell_gate_order_ifgo(student):
    W_ih = t([[0.5], [-1.0], [2.0], [0.25]])
    W_hh = t([[1.0], [0.5], [-0.5], [-2.0]])
    h, c = student.lstm_cell(X1, H1, C1, W_ih, W_hh, t([0.1, 0.2, -0.3, 0.4]), t([0.0] * 4))
    assert_close(c, t([[0.306138221121]]), name="lstm_cell(...) → c'")
    assert_close(h, t([[0.122741437599]]), name="lstm_cell(...) → h'")


def test_gru_cell_pytorch_form(student):
    h = student.gru_cell(X1, H1, t([[0.5], [-1.0], [2.0]]), t([[1.0], [0.5], [-0.5]]),
                         t([0.1, 0.2, -0.3]), t([0.0, 0.0, 0.6]))
    assert_close(h, t([[0.792518537243]]), name="gru_cell(...) → h'")


X3 = t([[[1.0], [2.0]], [[-1.0], [0.5]], [[0.5], [3.0]]])  # (T=3, B=2, I=1)
H0 = t([[0.0], [0.2]])
P_FWD = {"W_ih": t([[0.8]]), "W_hh": t([[0.5]]), "b_ih": t([0.1]), "b_hh": t([0.0])}
P_BWD = {"W_ih": t([[-0.6]]), "W_hh": t([[0.3]]), "b_ih": t([0.0]), "b_hh": t([0.2])}


def test_run_rnn_with_lengths(student):
    outputs, h_T = student.run_rnn(X3, H0, P_FWD, "rnn", torch.tensor([3, 1]))
    expected = t([[[0.716297870199], [0.946806012846]],
                  [[-0.329128945809], [0.0]],
                  [[0.323396350724], [0.0]]])
    assert_close(outputs, expected, name="run_rnn(..., lengths=[3, 1]) → outputs")
    assert_close(h_T, t([[0.323396350724], [0.946806012846]]),
                 name="run_rnn(..., lengths=[3, 1]) → h_T")


def test_bidirectional_rnn_reverses_within_length(student):
    outputs, h_fwd, h_bwd = student.bidirectional_rnn(X3, H0, t([[0.1], [-0.1]]), P_FWD, P_BWD,
                                                      "rnn", torch.tensor([3, 2]))
    expected = t([[[0.716297870199, -0.201556456857], [0.946806012846, -0.777406545478]],
                  [[-0.329128945809, 0.652152031328], [0.750195904377, -0.129272583606]],
                  [[0.323396350724, -0.069885890316], [0.0, 0.0]]])
    assert_close(outputs, expected, name="bidirectional_rnn(..., lengths=[3, 2]) → outputs")
    assert_close(h_fwd, t([[0.323396350724], [0.750195904377]]),
                 name="bidirectional_rnn(..., lengths=[3, 2]) → h_fwd")
    assert_close(h_bwd, t([[-0.201556456857], [-0.777406545478]]),
                 name="bidirectional_rnn(..., lengths=[3, 2]) → h_bwd")
