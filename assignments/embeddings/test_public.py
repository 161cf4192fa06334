"""Public sanity tests for the embeddings topic: small inputs with answers worked by hand."""

import math

import numpy as np

from grader.checks import assert_close, assert_equal


def test_context_windows_pad_the_start(student):
    got = student.context_windows(np.array([5, 6, 7, 8]), 2, 0)
    assert_equal(got, np.array([[0, 0], [0, 5], [5, 6], [6, 7]]),
                 name="context_windows([5, 6, 7, 8], n=2, pad_id=0)")


def test_embed(student):
    E = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    assert_close(student.embed(E, np.array([2, 0, 2])), np.array([[4.0, 5.0], [0.0, 1.0],
                                                                  [4.0, 5.0]]),
                 name="embed(E, [2, 0, 2])")


def test_predict_next_loss_mean_with_a_repeated_word(student):
    # One example whose two context words are both word 1: h = E[1] = (1, 0); z = h W + b = (1, 0, 0).
    E = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    W = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    b = np.zeros(3)
    loss, grads = student.predict_next_loss(E, W, b, np.array([[1, 1]]), np.array([0]), "mean")
    p = np.array([math.e, 1.0, 1.0]) / (math.e + 2)
    assert_close(loss, -math.log(p[0]), name='predict_next_loss(..., combine="mean") → loss')
    dz = p - np.array([1.0, 0.0, 0.0])
    # dh = dz Wᵀ; each of the two uses of word 1 gets dh / 2, and they add up in row 1.
    assert_close(grads["E"], np.array([[0.0, 0.0], dz @ W.T, [0.0, 0.0]]),
                 name='predict_next_loss(..., combine="mean") → grads["E"]')
    assert_close(grads["b"], dz, name='predict_next_loss(..., combine="mean") → grads["b"]')


def test_nearest_by_cosine(student):
    # Word 1 points like word 0 but is longer; word 2 is long but at 45°; word 3 is opposite.
    E = np.array([[1.0, 0.0], [5.0, 0.5], [10.0, 10.0], [-1.0, 0.0]])
    assert_equal(student.nearest(E, 0, 2), np.array([1, 2]), name="nearest(E, word_id=0, k=2)")


def test_mask_tokens_80_10_10(student):
    ids = np.array([2, 11, 12, 13, 14, 3])  # 2 and 3 are special: never chosen
    u = np.array([[0.0, 0.1, 0.5],   # special
                  [0.1, 0.1, 0.5],   # chosen, u1 < 0.8: [MASK]
                  [0.1, 0.85, 0.5],  # chosen, 0.8 ≤ u1 < 0.9: random id floor(0.5 · 20) = 10
                  [0.1, 0.95, 0.5],  # chosen, u1 ≥ 0.9: kept, but still predicted
                  [0.5, 0.1, 0.5],   # not chosen (u0 ≥ 0.15)
                  [0.0, 0.1, 0.5]])  # special
    inputs, labels = student.mask_tokens(ids, u, 1, 20, [0, 1, 2, 3])
    assert_equal(inputs, np.array([2, 1, 10, 13, 14, 3]), name="mask_tokens(...) → inputs")
    assert_equal(labels, np.array([-100, 11, 12, 13, -100, -100]), name="mask_tokens(...) → labels")
