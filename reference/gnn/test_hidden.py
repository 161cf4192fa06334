"""Hidden tests of the gnn topic: aggregations on awkward graphs, and the embedding gradient (once
at a size where one taken by finite differences cannot finish in time)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grader.checks import assert_close, assert_raises, assert_shape, expect_same
from grader.checks import beyond_differences, check_gradient, dot_with_output

DTYPES = [pytest.param(torch.float64, id="float64"), pytest.param(torch.float32, id="float32")]
AGGRS = ["sum", "mean", "max"]
MP = "message_passing"


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(g: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)


def _graph(g: torch.Generator, N: int, E: int, isolated: int = 2) -> torch.Tensor:
    """About E random edges in random order, none into node `isolated`, each listed once, and
    then one edge listed twice into each of three nodes that receive another edge as well: a
    duplicate counted once changes their sum and their mean at any seed."""
    receivers = torch.tensor([i for i in range(N) if i != isolated])
    src = torch.randint(0, N, (E,), generator=g)  # the isolated node may still send
    dst = receivers[torch.randint(0, N - 1, (E,), generator=g)]
    edges = torch.unique(torch.stack([src, dst]), dim=1)  # (2, ≤ E), no edge twice
    indegree = torch.bincount(edges[1], minlength=N)
    shared = torch.nonzero(indegree[edges[1]] >= 2).flatten()  # edges into a busy node
    firsts = {}  # one edge per such node
    for e in shared[torch.randperm(len(shared), generator=g)].tolist():
        firsts.setdefault(int(edges[1, e]), e)
    twice = edges[:, sorted(firsts.values())[:3]]
    edges = torch.cat([edges, twice], dim=1)  # duplicates: count twice
    return edges[:, torch.randperm(edges.shape[1], generator=g)]


# ------------------------------------------------------------------------- message passing

@pytest.mark.points(2)
@pytest.mark.parametrize("aggr", AGGRS)
def test_message_passing_random_graph(student, reference, seed, aggr):
    g = _gen(seed)
    x, W = _randn(g, 8, 4), _randn(g, 4, 3)
    expect_same(student, reference, MP, x, _graph(g, 8, 14), W, aggr)


@pytest.mark.points(1)
@pytest.mark.parametrize("aggr", AGGRS)
def test_message_passing_float32(student, reference, seed, aggr):
    g = _gen(seed)
    x, W = _randn(g, 6, 5, dtype=torch.float32), _randn(g, 5, 2, dtype=torch.float32)
    expect_same(student, reference, MP, x, _graph(g, 6, 9, isolated=0), W, aggr)


@pytest.mark.points(1)
@pytest.mark.parametrize("aggr", ["sum", "mean"])
def test_message_passing_directed_chain(student, reference, seed, aggr):
    # 0 → 1 → 2 → 3 and 0 → 3: in-degrees 0, 1, 1, 2 but out-degrees 2, 1, 1, 0, so summing at
    # the source or dividing by the out-degree shows.
    g = _gen(seed)
    x, W = _randn(g, 4, 3), _randn(g, 3, 3)
    edges = torch.tensor([[0, 1, 2, 0], [1, 2, 3, 3]])
    expect_same(student, reference, MP, x, edges, W, aggr)


@pytest.mark.points(1)
def test_message_passing_max_of_negative_messages(student, reference, seed):
    # Every message is negative: a maximum that starts from 0 returns 0 instead.
    g = _gen(seed)
    x = _randn(g, 5, 3).abs() + 0.1
    W = -(_randn(g, 3, 4).abs() + 0.1)
    expect_same(student, reference, MP, x, _graph(g, 5, 8, isolated=4), W, "max")


@pytest.mark.points(1)
def test_message_passing_max_transforms_before_aggregating(student, reference, seed):
    # A mixed-sign W: max(x_j W) differs from (max x_j) W.
    g = _gen(seed)
    x = _randn(g, 4, 2)
    W = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
    edges = torch.tensor([[0, 1, 2, 3, 1], [3, 3, 3, 0, 0]])
    # Messages are ±(x0 − x1): nodes 0 and 3 send one sign and node 1 the other, so every
    # receiver gets a positive message in each feature and a maximum that starts from 0 cannot
    # fail here (it has its own test), whatever the draw.
    for i, sign in ((0, 1.0), (1, -1.0), (3, 1.0)):
        if sign * (x[i, 0] - x[i, 1]) < 0:
            x[i] = x[i].flip(0)
    expect_same(student, reference, MP, x, edges, W, "max")


@pytest.mark.points(1)
@pytest.mark.parametrize("aggr", AGGRS)
def test_message_passing_no_edges(student, reference, seed, aggr):
    g = _gen(seed)
    x, W = _randn(g, 3, 2), _randn(g, 2, 4)
    expect_same(student, reference, MP, x, torch.zeros(2, 0, dtype=torch.long), W, aggr)


@pytest.mark.points(1)
def test_message_passing_rejects_unknown_aggregation(student, seed):
    g = _gen(seed)
    x, W = _randn(g, 3, 2), _randn(g, 2, 2)
    assert_raises("ValueError", student.message_passing, x, torch.tensor([[0], [1]]), W, "median",
                  name='message_passing(..., aggr="median")')


# ------------------------------------------------------------------------------- embedding

def _numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _ids(g: torch.Generator, B: int, T: int, used: int) -> torch.Tensor:
    """(B, T) ids drawn from 0..used-1 so that many repeat; the first id appears at least twice."""
    ids = torch.randint(0, used, (B, T), generator=g)
    ids[0, 0] = ids[-1, -1] = ids[0, 1]
    return ids


@pytest.mark.points(1)
@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_forward(student, reference, seed, dtype):
    g = _gen(seed)
    weight = _randn(g, 7, 4, dtype=dtype)
    expect_same(student, reference, "embedding_forward", weight, _ids(g, 3, 5, used=7))


@pytest.mark.points(1)
def test_embedding_forward_single_token(student, reference, seed):
    g = _gen(seed)
    expect_same(student, reference, "embedding_forward", _randn(g, 5, 3), torch.tensor([[4]]))


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_backward_repeated_ids(student, reference, seed, dtype):
    g = _gen(seed)
    ids = _ids(g, 3, 6, used=5)  # ids 5..8 never appear: their rows stay zero
    dout = _randn(g, 3, 6, 4, dtype=dtype)
    expect_same(student, reference, "embedding_backward", dout, ids, 9)


@pytest.mark.points(2)
def test_embedding_backward_at_scale(student, reference, seed):
    g = _gen(seed)
    V, D = 32768, 64  # 2,097,152 entries of weight: by hand one scatter of 256 rows
    ids = _ids(g, 4, 64, used=V)
    dout = _randn(g, 4, 64, D)
    with beyond_differences("weight", V * D):
        dweight = student.call("embedding_backward", dout, ids, V, max_elements=2 * V * D)
    assert_close(dweight, reference.embedding_backward(dout, ids, V),
                 name=f"embedding_backward(dout, ids, num_embeddings={V}) for dout of shape "
                      f"(4, 64, {D})")


@pytest.mark.points(2)
def test_embedding_backward_matches_numerical_gradient(student, reference, seed):
    g = _gen(seed)
    V, D = 6, 3
    weight = _randn(g, V, D)
    ids = _ids(g, 2, 5, used=V)
    dout = _randn(g, 2, 5, D)
    dweight = student.embedding_backward(dout, ids, V)
    dout_np = dout.numpy()

    def f_batch(values: list) -> list[float]:
        outs = student.batch("embedding_forward", [(w, ids) for w in values])
        for out in outs:
            assert_shape(out, dout.shape, name="embedding_forward(weight, ids)")
        return [float(np.sum(_numpy(out) * dout_np)) for out in outs]

    check_gradient(dweight, f_batch, weight, name="embedding_backward → dweight", wrt="weight",
                   expected=dot_with_output(reference.embedding_forward, lambda w: (w, ids),
                                            dout_np, select=None))
    assert_close(dweight, reference.embedding_backward(dout, ids, V),
                 name="embedding_backward(dout, ids, num_embeddings)")
