"""Public sanity tests for the seq2seq topic: decoding a hand-made table of log-probabilities, and
the teacher-forcing loss of a tiny batch with padding.

A step function stays in your own process: the tests build one with the provided make_table_step
(kept as a handle) and pass it to your decoders.
"""

import math

import torch

from grader.checks import assert_close, assert_equal

BOS, EOS = 0, 1


def logp(*weights: float) -> torch.Tensor:
    p = torch.tensor(weights, dtype=torch.float64)
    return torch.log(p / p.sum())


# After [bos]: eos 0.3, token 2 0.4, token 3 0.2, token 4 0.1; after [bos, 2]: token 3 0.8; after
# [bos, 2, 3]: eos 0.9; after [bos, 3]: token 2 0.5; everything else: eos 0.3.
ROWS = [([BOS], logp(0, 3, 4, 2, 1)), ([BOS, 2], logp(0, 0.5, 0.5, 8, 1)),
        ([BOS, 3], logp(0, 2, 5, 1, 2)), ([BOS, 2, 3], logp(0, 9, 0.5, 0.25, 0.25))]
DEFAULT = logp(0, 3, 2, 2, 3)


def table(student):
    return student.call("make_table_step", ROWS, DEFAULT, keep=(0,))


def test_greedy_decode(student):
    tokens, total = student.greedy_decode(table(student), BOS, EOS, 5)
    assert_equal(list(tokens), [2, 3, 1], name="greedy_decode(step, bos, eos, 5) → tokens")
    assert_close(total, math.log(0.4 * 0.8 * 0.9), name="greedy_decode(step, bos, eos, 5) → log_prob")


def test_length_penalty(student):
    assert_close(student.length_penalty(7, 1.0), 2.0, name="length_penalty(7, 1.0)")
    assert_close(student.length_penalty(3, 0.0), 1.0, name="length_penalty(3, 0.0)")


def test_beam_search_without_length_penalty(student):
    got = student.beam_search(table(student), BOS, EOS, 2, 5, 0.0)
    assert_equal([list(h[0]) for h in got], [[1], [2, 3, 1]],
                 name="beam_search(step, bos, eos, beam=2, max_len=5) → tokens, best first")
    assert_close([h[1] for h in got], [math.log(0.3), math.log(0.4 * 0.8 * 0.9)],
                 name="beam_search(step, bos, eos, beam=2, max_len=5) → scores")


def test_beam_search_with_length_penalty(student):
    got = student.beam_search(table(student), BOS, EOS, 2, 5, 1.0)
    assert_equal([list(h[0]) for h in got], [[2, 3, 1], [1]],
                 name="beam_search(..., beam=2, max_len=5, alpha=1.0) → tokens, best first")
    assert_close([h[1] for h in got], [math.log(0.288) / (8 / 6), math.log(0.3)],
                 name="beam_search(..., beam=2, max_len=5, alpha=1.0) → scores")


def test_teacher_forcing_loss_ignores_padding(student):
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
                           [[0.0, 0.0, 3.0], [5.0, 5.0, 5.0]]], dtype=torch.float64)  # (2, 2, 3)
    targets = torch.tensor([[0, 1], [2, 0]])  # with pad_id = 1, the target at [0, 1] is padding
    loss = student.teacher_forcing_loss(logits, targets, 1)
    # Three targets count: −log softmax(2, 0, 0)[0], −log softmax(0, 0, 3)[2], −log softmax(5, 5, 5)[0]
    expected = (-math.log(math.e**2 / (math.e**2 + 2)) - math.log(math.e**3 / (math.e**3 + 2))
                + math.log(3)) / 3
    assert_close(loss, torch.tensor(expected, dtype=torch.float64),
                 name="teacher_forcing_loss(logits, targets, pad_id=1)")
