"""Hidden tests of the seq2seq topic: greedy and beam search over step functions built in the
student's process from data, GNMT's length penalty, and the teacher-forcing loss.

A step function cannot travel to the worker: the tests send weights (or a table of log-probs) to
the provided make_rnn_step / make_table_step, which build it there and return a handle, and pass
that handle to the student's decoder. The expected result is the reference decoder on the
reference's own step function from the same data.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from grader.checks import Mistakes, assert_close, assert_equal, expect_same, tensors_for_ints

BOS, EOS = 0, 1
DTYPES = [pytest.param(torch.float64, id="float64"), pytest.param(torch.float32, id="float32")]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _weights(g: torch.Generator, V: int = 7, Vs: int = 5, H: int = 6) -> dict[str, torch.Tensor]:
    def r(*shape: int, std: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64) * std

    w = {"src_emb": r(Vs, H), "tgt_emb": r(V, H), "enc_W": r(H, H, std=0.5),
         "enc_U": r(H, H, std=0.5), "enc_b": r(H, std=0.1), "dec_W": r(H, H, std=0.5),
         "dec_U": r(H, H, std=0.5), "dec_b": r(H, std=0.1), "out_W": r(H, V, std=1.5),
         "out_b": r(V, std=0.5)}
    w["out_b"][BOS] -= 4.0  # the decoder rarely emits bos again
    w["out_b"][EOS] += 1.0  # and stops now and then
    return w


def _rnn(student, reference, g: torch.Generator, max_len: int, beam: int = 1,
         alpha: float = 0.0) -> tuple[Any, Any]:
    """(the student's step handle, the reference's step) for a random model and source on which
    decoding stops at eos before max_len (after two tokens or more): a model that never stops
    would hide every mistake about stopping. Drawn again until it does (at most 50 times), from
    the test's own generator, so the same seed gives the same model."""
    for _ in range(50):
        weights = _weights(g)
        source = torch.randint(2, 5, (int(torch.randint(2, 6, (1,), generator=g)),),
                               generator=g).tolist()
        step = reference.make_rnn_step(weights, source)
        tokens, _ = reference.greedy_decode(step, BOS, EOS, max_len)
        stops = [t for t, _ in reference.beam_search(step, BOS, EOS, beam, max_len, alpha)
                 if len(t) < max_len]
        if 2 <= len(tokens) < max_len and tokens[-1] == EOS and stops:
            break
    return student.call("make_rnn_step", weights, source, keep=(0,)), step


def _table(student, reference, rows: list, default: torch.Tensor) -> tuple[Any, Any]:
    return (student.call("make_table_step", rows, default, keep=(0,)),
            reference.make_table_step(rows, default))


def _logp(*values: float) -> torch.Tensor:
    """A row of log-probabilities in proportion to the given weights."""
    p = torch.tensor(values, dtype=torch.float64)
    return torch.log(p / p.sum())


def _tokens(hypothesis: Any) -> str:
    """A token sequence as text, "[2, 3, 1]": compared as text, a wrong token reads as one."""
    return "[" + ", ".join(str(int(t)) for t in hypothesis) + "]"


def _check_greedy(student, reference, steps: tuple, max_len: int, what: str) -> None:
    got = student.greedy_decode(steps[0], BOS, EOS, max_len)
    tokens, logp = reference.greedy_decode(steps[1], BOS, EOS, max_len)
    assert isinstance(got, (tuple, list)) and len(got) == 2, \
        "greedy_decode should return (tokens, log_prob)"
    # The classic mistakes run on the reference's own step function, built from the same data.
    mistakes = Mistakes(reference, "greedy_decode", got, (steps[1], BOS, EOS, max_len))
    assert_equal(_tokens(got[0]), _tokens(tokens), name=f"greedy_decode {what} → tokens",
                 mistakes=mistakes, hint=lambda: tensors_for_ints(list(got[0]), tokens))
    assert_close(got[1], logp, name=f"greedy_decode {what} → log_prob", mistakes=mistakes)


def _check_beam(student, reference, steps: tuple, beam: int, max_len: int, alpha: float,
                what: str) -> None:
    call = f"beam_search(beam={beam}, max_len={max_len}, alpha={alpha}) {what}"
    got = student.beam_search(steps[0], BOS, EOS, beam, max_len, alpha)
    expected = reference.beam_search(steps[1], BOS, EOS, beam, max_len, alpha)
    assert isinstance(got, (list, tuple)) and all(
        isinstance(h, (list, tuple)) and len(h) == 2 for h in got), \
        f"{call} should return a list of (tokens, score) pairs"
    texts = [_tokens(h[0]) for h in got]
    twice = next((t for i, t in enumerate(texts) if t in texts[:i]), None)
    assert twice is None, (
        f"{call} returned the hypothesis {twice} more than once: start from the one hypothesis "
        "[bos] (not beam copies of it) and keep each candidate once")
    mistakes = Mistakes(reference, "beam_search", got, (steps[1], BOS, EOS, beam, max_len, alpha))
    assert_equal(len(got), len(expected), name=f"{call} → the number of finished hypotheses "
                 "(each one that finishes narrows the beam by one, so there are `beam` of them)",
                 mistakes=mistakes)
    held = next((h for g, e in zip(got, expected)
                 if (h := tensors_for_ints(list(g[0]), list(e[0])))), None)
    assert_equal(texts, [_tokens(h[0]) for h in expected],
                 name=f"{call} → the hypotheses' tokens, best first", mistakes=mistakes,
                 hint=held)
    assert_close([h[1] for h in got], [h[1] for h in expected],
                 name=f"{call} → the hypotheses' scores, best first", mistakes=mistakes)


# --------------------------------------------------------------------------- length penalty


@pytest.mark.points(2)
@pytest.mark.parametrize("length,alpha", [(1, 0.6), (7, 1.0), (12, 0.65), (4, 0.0), (30, 2.0)])
def test_length_penalty(student, reference, length, alpha):
    expect_same(student, reference, "length_penalty", length, alpha)


# ---------------------------------------------------------------------------------- greedy


@pytest.mark.points(2)
@pytest.mark.parametrize("max_len", [4, 9])
def test_greedy_on_a_recurrent_model(student, reference, seed, max_len):
    steps = _rnn(student, reference, _gen(seed), max_len)
    _check_greedy(student, reference, steps, max_len, "on a random encoder–decoder")


@pytest.mark.points(1)
def test_greedy_stops_at_eos(student, reference):
    # eos is the best token after [bos, 3]: decoding stops there, eos included.
    rows = [([BOS], _logp(1, 1, 2, 5, 1)), ([BOS, 3], _logp(1, 6, 2, 1, 1))]
    _check_greedy(student, reference, _table(student, reference, rows, _logp(1, 1, 3, 1, 2)), 6,
                  "where eos is the best token at the second step (stop there, eos included)")


@pytest.mark.points(1)
def test_greedy_stops_at_max_len(student, reference):
    # eos is never the best token: exactly max_len tokens.
    _check_greedy(student, reference, _table(student, reference, [], _logp(1, 2, 5, 1, 3)), 5,
                  "where eos never wins (exactly max_len tokens)")


@pytest.mark.points(1)
def test_greedy_ties_go_to_the_smallest_id(student, reference):
    rows = [([BOS], _logp(1, 1, 4, 4, 4)), ([BOS, 2], _logp(1, 3, 3, 1, 1))]
    _check_greedy(student, reference, _table(student, reference, rows, _logp(1, 5, 1, 1, 1)), 5,
                  "with tied best tokens (the smallest id wins)")


# ------------------------------------------------------------------------------ beam search


@pytest.mark.points(2)
@pytest.mark.parametrize("beam,alpha", [(2, 0.0), (3, 0.6), (5, 1.0)])
def test_beam_on_a_recurrent_model(student, reference, seed, beam, alpha):
    steps = _rnn(student, reference, _gen(seed), 8, beam, alpha)
    _check_beam(student, reference, steps, beam, 8, alpha, "on a random encoder–decoder")


@pytest.mark.points(1)
def test_beam_of_one_is_greedy(student, reference, seed):
    steps = _rnn(student, reference, _gen(seed), 7)
    _check_beam(student, reference, steps, 1, 7, 0.0, "on a random encoder–decoder")


# A table where [eos] finishes at the first step with log 0.3, while [2, 3, eos] has
# log(0.4 · 0.8 · 0.9) ≈ log 0.288: the short one wins without a length penalty, the long one with.
EARLY = [([BOS], _logp(0, 3, 4, 2, 1)), ([BOS, 2], _logp(0, 0.5, 0.5, 8, 1)),
         ([BOS, 3], _logp(0, 2, 5, 1, 2)), ([BOS, 2, 3], _logp(0, 9, 0.5, 0.25, 0.25)),
         ([BOS, 3, 2], _logp(0, 6, 1, 2, 1))]
EARLY_DEFAULT = _logp(0, 3, 2, 2, 2)


@pytest.mark.points(2)
def test_beam_sets_finished_hypotheses_aside(student, reference):
    steps = _table(student, reference, EARLY, EARLY_DEFAULT)
    _check_beam(student, reference, steps, 3, 6, 0.0,
                "where [eos] finishes at the first step (a hypothesis that emits eos is set aside "
                "and never extended; the beam narrows by one)")


@pytest.mark.points(2)
@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.5])
def test_beam_length_penalty_changes_the_winner(student, reference, alpha):
    # Without a penalty [eos] wins; dividing by ((5 + |Y|)/6)^alpha lifts the longer ones.
    steps = _table(student, reference, EARLY, EARLY_DEFAULT)
    _check_beam(student, reference, steps, 3, 6, alpha,
                "with GNMT's length penalty ((5 + |Y|)/6)^alpha, |Y| the tokens after bos")


@pytest.mark.points(2)
def test_beam_ties_go_to_the_earlier_hypothesis_then_the_smaller_id(student, reference):
    rows = [([BOS], _logp(0, 1, 3, 3, 3)), ([BOS, 2], _logp(0, 2, 2, 2, 2)),
            ([BOS, 3], _logp(0, 2, 2, 2, 2)), ([BOS, 4], _logp(0, 2, 2, 2, 2))]
    steps = _table(student, reference, rows, _logp(0, 4, 1, 1, 1))
    _check_beam(student, reference, steps, 3, 4, 0.0,
                "with tied scores (ties: the candidate of the better-ranked hypothesis first, "
                "then the smaller token id)")


@pytest.mark.points(1)
def test_beam_when_nothing_finishes_before_max_len(student, reference):
    steps = _table(student, reference, [], _logp(0, 1, 3, 4, 2))
    # Several penalties, none of them special: the hypotheses that reach max_len are finished
    # whatever alpha is (0 is no penalty at all).
    for alpha in (0.5, 0.0, 1.5):
        _check_beam(student, reference, steps, 2, 3, alpha,
                    "where eos never wins (every hypothesis stops at max_len)")


# ------------------------------------------------------------------------- teacher forcing


def _batch(g: torch.Generator, B: int, T: int, V: int, pad: int, dtype: torch.dtype,
           scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    logits = (torch.randn(B, T, V, generator=g, dtype=torch.float64) * scale).to(dtype)
    targets = torch.randint(0, V, (B, T), generator=g)
    targets[targets == pad] = (pad + 1) % V  # only the padding below is padding
    lengths = [T, max(1, T - 2), max(1, T - 4)][:B] + [T] * max(0, B - 3)
    for b, n in enumerate(lengths):
        targets[b, n:] = pad
    return logits, targets


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", DTYPES)
def test_teacher_forcing_loss_ignores_padding(student, reference, seed, dtype):
    logits, targets = _batch(_gen(seed), 3, 7, 6, pad=0, dtype=dtype)
    expect_same(student, reference, "teacher_forcing_loss", logits, targets, 0)


@pytest.mark.points(1)
def test_teacher_forcing_loss_pad_id_not_zero(student, reference, seed):
    logits, targets = _batch(_gen(seed), 4, 5, 8, pad=5, dtype=torch.float64)
    expect_same(student, reference, "teacher_forcing_loss", logits, targets, 5)


@pytest.mark.points(1)
def test_teacher_forcing_loss_without_padding(student, reference, seed):
    logits, targets = _batch(_gen(seed), 1, 6, 5, pad=4, dtype=torch.float64)
    targets[targets == 4] = 3
    expect_same(student, reference, "teacher_forcing_loss", logits, targets, 4)


@pytest.mark.points(2)
def test_teacher_forcing_loss_stable_for_large_logits(student, reference, seed):
    logits, targets = _batch(_gen(seed), 2, 5, 6, pad=0, dtype=torch.float64, scale=1e3)
    loss = expect_same(student, reference, "teacher_forcing_loss", logits, targets, 0)
    assert math.isfinite(float(loss)), \
        "teacher_forcing_loss with logits around 1e3 must stay finite: take log_softmax"
