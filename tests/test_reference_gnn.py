"""Cross-checks the gnn reference: a per-node loop, dense adjacency, F.embedding and autograd."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def _load_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gnn_reference", ROOT / "reference/gnn/solution.py"
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


def _graph(N: int, E: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    edges = torch.randint(0, N - 1, (2, E), generator=g)  # node N-1 receives nothing
    return torch.cat([edges, edges[:, :2]], dim=1)  # two duplicate edges


def _loop_oracle(
    x: torch.Tensor, edge_index: torch.Tensor, W: torch.Tensor, aggr: str
) -> torch.Tensor:
    """The definition, one node at a time, in float64."""
    x64, W64 = x.double(), W.double()
    rows = []
    for i in range(x.shape[0]):
        msgs = [x64[j] @ W64 for j, d in edge_index.t().tolist() if d == i]
        if not msgs:
            rows.append(torch.zeros(W.shape[1], dtype=torch.float64))
        elif aggr == "sum":
            rows.append(torch.stack(msgs).sum(0))
        elif aggr == "mean":
            rows.append(torch.stack(msgs).mean(0))
        else:
            rows.append(torch.stack(msgs).amax(0))
    return torch.stack(rows)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("aggr", ["sum", "mean", "max"])
def test_message_passing_matches_per_node_loop(aggr: str, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    x, W = torch.randn(7, 4, dtype=dtype), torch.randn(4, 3, dtype=dtype)
    edge_index = _graph(7, 12, seed=1)
    got = ref.message_passing(x, edge_index, W, aggr)
    assert got.dtype == dtype and got.shape == (7, 3)
    torch.testing.assert_close(got, _loop_oracle(x, edge_index, W, aggr).to(dtype), **TOL[dtype])
    assert torch.all(got[6] == 0)  # the isolated node


@pytest.mark.parametrize("aggr", ["sum", "mean"])
def test_message_passing_matches_dense_adjacency(aggr: str) -> None:
    torch.manual_seed(2)
    x, W = torch.randn(6, 5, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    edge_index = _graph(6, 10, seed=3)
    A = torch.zeros(6, 6, dtype=torch.float64)  # A[i, j] = number of edges j → i
    A.index_put_(
        (edge_index[1], edge_index[0]),
        torch.ones(edge_index.shape[1], dtype=torch.float64),
        accumulate=True,
    )
    if aggr == "mean":
        A = A / A.sum(1, keepdim=True).clamp(min=1)
    torch.testing.assert_close(
        ref.message_passing(x, edge_index, W, aggr), A @ x @ W, **TOL[torch.float64]
    )


def test_message_passing_without_edges_gives_zeros() -> None:
    x, W = torch.randn(3, 2), torch.randn(2, 4)
    for aggr in ("sum", "mean", "max"):
        out = ref.message_passing(x, torch.zeros(2, 0, dtype=torch.long), W, aggr)
        assert out.shape == (3, 4) and torch.all(out == 0)


def test_message_passing_rejects_unknown_aggregation() -> None:
    with pytest.raises(ValueError, match="aggr"):
        ref.message_passing(
            torch.zeros(2, 2), torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, 2), "min"
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_matches_torch_forward_and_autograd(dtype: torch.dtype) -> None:
    torch.manual_seed(4)
    V, D = 9, 5
    weight = torch.randn(V, D, dtype=dtype, requires_grad=True)
    ids = torch.tensor([[1, 4, 1, 1], [8, 0, 4, 2]])  # repeated ids; ids 3, 5, 6, 7 unused
    out = F.embedding(ids, weight)
    dout = torch.randn_like(out)
    out.backward(dout)
    torch.testing.assert_close(
        ref.embedding_forward(weight.detach(), ids), out.detach(), rtol=0, atol=0
    )
    torch.testing.assert_close(ref.embedding_backward(dout, ids, V), weight.grad, **TOL[dtype])
