"""Cross-checks the seq2seq reference: the loss against F.cross_entropy(ignore_index), decoded
scores against the step function's own log-probabilities, beam = 1 against greedy, the beam's
invariants, and the step functions the stub provides."""

from __future__ import annotations

import ast
import importlib.util
import math
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
BOS, EOS = 0, 1


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load(ROOT / "reference/seq2seq/solution.py", "seq2seq_reference")


def _model(seed: int, V: int = 6, H: int = 5):
    g = torch.Generator().manual_seed(seed)
    names = {"src_emb": (4, H), "tgt_emb": (V, H), "enc_W": (H, H), "enc_U": (H, H),
             "enc_b": (H,), "dec_W": (H, H), "dec_U": (H, H), "dec_b": (H,), "out_W": (H, V),
             "out_b": (V,)}
    weights = {k: torch.randn(*s, generator=g, dtype=torch.float64) for k, s in names.items()}
    return ref.make_rnn_step(weights, [2, 3, 1])


def _log_prob(step, tokens: list[int]) -> float:
    """The log-probability of `tokens` after bos, one step function call per token."""
    prefix, total = [BOS], 0.0
    for y in tokens:
        total += float(step([prefix])[0, y])
        prefix.append(y)
    return total


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("pad", [0, 3])
def test_teacher_forcing_loss_matches_cross_entropy_with_ignore_index(dtype, pad) -> None:
    g = torch.Generator().manual_seed(pad)
    logits = torch.randn(3, 6, 5, generator=g, dtype=torch.float64).to(dtype) * 4
    targets = torch.randint(0, 5, (3, 6), generator=g)
    targets[1, 3:] = pad
    targets[2, 1:] = pad
    want = F.cross_entropy(logits.reshape(-1, 5), targets.reshape(-1), ignore_index=pad)
    got = ref.teacher_forcing_loss(logits, targets, pad)
    assert got.dtype == dtype and got.shape == ()
    torch.testing.assert_close(got, want)


def test_teacher_forcing_loss_is_finite_for_large_logits() -> None:
    logits = torch.tensor([[[1e4, 0.0, -1e4], [0.0, 5e3, 0.0]]], dtype=torch.float64)
    loss = ref.teacher_forcing_loss(logits, torch.tensor([[2, 1]]), 7)
    assert math.isclose(float(loss), 1e4, rel_tol=1e-12)


def test_length_penalty_values() -> None:
    assert ref.length_penalty(7, 1.0) == 2.0
    assert ref.length_penalty(13, 0.5) == pytest.approx(3**0.5)
    assert ref.length_penalty(40, 0.0) == 1.0


@pytest.mark.parametrize("seed", range(4))
def test_greedy_equals_a_beam_of_one_and_its_log_prob_is_the_steps(seed: int) -> None:
    step = _model(seed)
    tokens, logp = ref.greedy_decode(step, BOS, EOS, 7)
    assert ref.beam_search(step, BOS, EOS, 1, 7) == [(tokens, logp)]
    assert logp == pytest.approx(_log_prob(step, tokens), rel=1e-12)
    assert (tokens[-1] == EOS) or len(tokens) == 7
    assert EOS not in tokens[:-1]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("beam,alpha", [(2, 0.0), (4, 0.7), (6, 1.2)])
def test_beam_invariants_and_scores(seed: int, beam: int, alpha: float) -> None:
    step = _model(seed)
    out = ref.beam_search(step, BOS, EOS, beam, 6, alpha)
    assert len(out) == beam  # every finished hypothesis narrows the beam by one
    assert len({tuple(t) for t, _ in out}) == beam
    scores = [s for _, s in out]
    assert scores == sorted(scores, reverse=True)
    for tokens, score in out:
        assert EOS not in tokens[:-1] and (tokens[-1] == EOS or len(tokens) == 6)
        lp = ((5 + len(tokens)) / 6) ** alpha
        assert score == pytest.approx(_log_prob(step, tokens) / lp, rel=1e-12)


def test_a_beam_as_wide_as_the_vocabulary_over_one_step_ranks_every_token() -> None:
    step = _model(7, V=5)
    row = step([[BOS]])[0]
    out = ref.beam_search(step, BOS, EOS, 5, 1)
    assert [t for t, _ in out] == [[v] for v in torch.sort(row, descending=True,
                                                           stable=True).indices.tolist()]


def _provided(path: Path) -> dict[str, str]:
    tree = ast.parse(path.read_text())
    return {n.name: ast.unparse(n) for n in tree.body
            if isinstance(n, ast.FunctionDef) and n.name.startswith("make_")}


def test_the_stub_provides_the_same_step_functions_as_the_reference() -> None:
    given = _provided(ROOT / "assignments/seq2seq/seq2seq.py")
    assert set(given) == {"make_rnn_step", "make_table_step"}
    assert given == _provided(ROOT / "reference/seq2seq/solution.py")
