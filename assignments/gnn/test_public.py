"""Public sanity tests for the gnn topic: a four-node graph and a tiny embedding table."""

import torch

from grader.checks import assert_close


def t(values: list) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


X = t([[1.0, -1.0], [2.0, 0.5], [-3.0, 1.0], [0.5, 0.5]])  # (N=4, F=2)
W = t([[1.0, 0.0, -1.0], [0.5, 2.0, 1.0]])  # (F=2, F'=3)
# Edges 0→1, 1→2 (twice), 2→0, 0→2; node 3 receives nothing.
EDGES = torch.tensor([[0, 1, 1, 2, 0], [1, 2, 2, 0, 2]])


def test_message_passing_sum(student):
    out = student.message_passing(X, EDGES, W, "sum")
    expected = t([[-2.5, 2.0, 4.0], [0.5, -2.0, -2.0], [5.0, 0.0, -5.0], [0.0, 0.0, 0.0]])
    assert_close(out, expected, name='message_passing(x, edge_index, W, "sum")')


def test_message_passing_mean(student):
    out = student.message_passing(X, EDGES, W, "mean")
    third = 5.0 / 3.0
    expected = t([[-2.5, 2.0, 4.0], [0.5, -2.0, -2.0], [third, 0.0, -third], [0.0, 0.0, 0.0]])
    assert_close(out, expected, name='message_passing(x, edge_index, W, "mean")')


def test_message_passing_max(student):
    out = student.message_passing(X, EDGES, W, "max")
    expected = t([[-2.5, 2.0, 4.0], [0.5, -2.0, -2.0], [2.25, 1.0, -1.5], [0.0, 0.0, 0.0]])
    assert_close(out, expected, name='message_passing(x, edge_index, W, "max")')


WEIGHT = t([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]])  # (V=4, D=2)
IDS = torch.tensor([[1, 3, 1]])  # (B=1, T=3), id 1 twice


def test_embedding_forward(student):
    out = student.embedding_forward(WEIGHT, IDS)
    assert_close(out, t([[[2.0, 3.0], [6.0, 7.0], [2.0, 3.0]]]),
                 name="embedding_forward(weight, ids)")


def test_embedding_backward_accumulates_repeated_ids(student):
    dout = t([[[1.0, -1.0], [0.5, 0.25], [2.0, 3.0]]])
    dweight = student.embedding_backward(dout, IDS, 5)
    expected = t([[0.0, 0.0], [3.0, 2.0], [0.0, 0.0], [0.5, 0.25], [0.0, 0.0]])
    assert_close(dweight, expected, name="embedding_backward(dout, ids, num_embeddings=5)")
