"""Hidden tests of the embeddings topic: context windows, the next-word predictor's loss and its
gradients (repeated words above all, and once at a size where gradients taken by finite
differences cannot finish in time), cosine neighbours, and BERT's 80/10/10 masking rule."""

from __future__ import annotations

import numpy as np
import pytest

from grader.checks import Mistakes, assert_close, assert_equal, assert_finite
from grader.checks import assert_no_warnings, assert_raises, beyond_differences, check_gradient
from grader.checks import expect_same

MASK, CLS, SEP, PAD = 1, 2, 3, 0
SPECIAL = [PAD, MASK, CLS, SEP]
PNL = "predict_next_loss"


# ------------------------------------------------------------------------- context windows


@pytest.mark.points(1)
@pytest.mark.parametrize("T,n,pad", [(9, 3, 0), (3, 5, 7), (6, 1, 2)],
                         ids=["T9_n3", "window_longer_than_text", "n1_pad2"])
def test_context_windows(student, reference, rng, T, n, pad):
    ids = rng.integers(3, 20, size=T)
    expect_same(student, reference, "context_windows", ids, n, pad, exact=True)


# ----------------------------------------------------------------------------------- embed


@pytest.mark.points(1)
@pytest.mark.parametrize("shape", [(7,), (3, 4)], ids=["one_dim", "two_dim"])
def test_embed(student, reference, rng, shape):
    E = rng.normal(size=(9, 5))
    ids = rng.integers(0, 9, size=shape)
    ids.flat[0] = ids.flat[-1]  # a repeated word
    expect_same(student, reference, "embed", E, ids)


# ------------------------------------------------------------------ the next-word predictor


def _model(rng: np.random.Generator, V: int, D: int, n: int, combine: str, scale: float = 1.0):
    K = D if combine == "mean" else n * D
    return rng.normal(size=(V, D)), scale * rng.normal(size=(K, V)), rng.normal(size=V)


def _contexts(rng: np.random.Generator, N: int, n: int, V: int) -> tuple[np.ndarray, np.ndarray]:
    """Contexts in which words repeat within a row and across rows, and their targets."""
    contexts = rng.integers(0, V, size=(N, n))
    contexts[0, :] = contexts[0, 0]  # one word n times in one context
    contexts[1:, -1] = contexts[0, 0]  # and in every other context
    return contexts, rng.integers(0, V, size=N)


@pytest.mark.points(1)
@pytest.mark.parametrize("combine", ["mean", "concat"])
def test_loss_value(student, reference, rng, combine):
    E, W, b = _model(rng, 11, 4, 3, combine)
    contexts, targets = _contexts(rng, 6, 3, 11)
    got = student.call(PNL, E, W, b, contexts, targets, combine)
    assert_close(got[0], reference.predict_next_loss(E, W, b, contexts, targets, combine)[0],
                 name=f'{PNL}(..., combine="{combine}") → loss',
                 mistakes=Mistakes(reference, PNL, got, (E, W, b, contexts, targets, combine)))


@pytest.mark.points(2)
@pytest.mark.parametrize("combine", ["mean", "concat"])
def test_gradients_with_repeated_words(student, reference, rng, combine):
    E, W, b = _model(rng, 10, 4, 3, combine)
    contexts, targets = _contexts(rng, 7, 3, 10)
    got = student.call(PNL, E, W, b, contexts, targets, combine)
    assert_close(got[1], reference.predict_next_loss(E, W, b, contexts, targets, combine)[1],
                 name=f'{PNL}(..., combine="{combine}") with words repeated in the contexts '
                      "(each occurrence adds its gradient to its row of E) → grads",
                 mistakes=Mistakes(reference, PNL, got, (E, W, b, contexts, targets, combine)))


@pytest.mark.points(2)
def test_gradients_at_scale(student, reference, rng):
    # W has 262,144 entries, each a pass over a (32, 64) × (64, 4096) product by differences.
    E, W, b = _model(rng, 4096, 64, 3, "mean", scale=0.1)
    contexts, targets = _contexts(rng, 32, 3, 4096)
    with beyond_differences("W", W.size):
        got = student.call(PNL, E, W, b, contexts, targets, "mean")
    assert_close(got[1], reference.predict_next_loss(E, W, b, contexts, targets, "mean")[1],
                 name=f'{PNL}(..., combine="mean") with V = 4096, D = 64 → grads')


@pytest.mark.points(1)
def test_gradients_one_example(student, reference, rng):
    # V = 6, D = 4, n = 2, K = 8: every size its own, so a factor names one of them.
    E, W, b = _model(rng, 6, 4, 2, "concat")
    contexts, targets = np.array([[4, 2]]), np.array([5])
    got = student.call(PNL, E, W, b, contexts, targets, "concat")
    assert_close(got[1], reference.predict_next_loss(E, W, b, contexts, targets, "concat")[1],
                 name=f'{PNL}(..., combine="concat") on one example → grads',
                 mistakes=Mistakes(reference, PNL, got, (E, W, b, contexts, targets, "concat")))


@pytest.mark.points(2)
@pytest.mark.parametrize("combine", ["mean", "concat"])
def test_gradient_of_E_against_central_differences(student, reference, rng, combine):
    # V = 7, D = 4, n = 3, N = 5: a gradient off by n is not "off by the size of an axis of E".
    E, W, b = _model(rng, 7, 4, 3, combine)
    contexts, targets = _contexts(rng, 5, 3, 7)
    _, grads = student.call(PNL, E, W, b, contexts, targets, combine)
    assert isinstance(grads, dict) and "E" in grads, \
        f'{PNL} should return grads as a dict with the key "E"'

    def f_batch(values: list) -> list[float]:
        return student.batch(PNL, [(v, W, b, contexts, targets, combine) for v in values],
                             select=0)

    check_gradient(grads["E"], f_batch, E, name=f'{PNL}(..., combine="{combine}") → grads["E"]',
                   wrt="E", expected=lambda v: reference.predict_next_loss(
                       v, W, b, contexts, targets, combine)[0])


@pytest.mark.points(1)
def test_large_scores_stay_finite(student, reference, rng):
    E, W, b = _model(rng, 8, 4, 2, "mean", scale=300.0)
    b = b + 1000.0  # every score above 1e3 at every seed (a shift softmax ignores): exp overflows
    contexts, targets = _contexts(rng, 5, 2, 8)
    got = student.call(PNL, E, W, b, contexts, targets, "mean")
    assert_no_warnings(student, name=f"{PNL} with scores around 1e3")
    assert_finite(got, name=f"{PNL} with scores around 1e3")
    assert_close(got, reference.predict_next_loss(E, W, b, contexts, targets, "mean"),
                 name=f"{PNL} with scores around 1e3")


@pytest.mark.points(1)
def test_unknown_combine_is_refused(student, rng):
    E, W, b = _model(rng, 5, 2, 2, "mean")
    assert_raises("ValueError", student.predict_next_loss, E, W, b, np.array([[1, 2]]),
                  np.array([3]), "sum", name=f'{PNL}(..., combine="sum")')


# --------------------------------------------------------------------------------- nearest


def _with_decoy(rng: np.random.Generator, E: np.ndarray, word_id: int, twin: int,
                long: int) -> np.ndarray:
    """E with word `twin` pointing almost like word_id and word `long` 100 times longer at a
    wide angle: the cosine ranks `twin` first, the dot product `long`."""
    E = E.copy()
    w = E[word_id]
    E[twin] = 0.5 * w + 0.01 * np.linalg.norm(w) * rng.normal(size=w.shape)
    side = rng.normal(size=w.shape)
    side -= side @ w / (w @ w) * w  # orthogonal to w
    E[long] = 100.0 * (w / np.linalg.norm(w) + side / np.linalg.norm(side))
    return E


def _check_nearest(student, reference, E: np.ndarray, word_id: int, k: int, what: str) -> None:
    call = f"nearest(E, word_id={word_id}, k={k}) {what}"
    got = student.nearest(E, word_id, k)
    itself = word_id in np.asarray(got).ravel().tolist()
    assert_equal(got, reference.nearest(E, word_id, k), name=call,
                 hint=f"you returned word {word_id} itself: leave word_id out of its own "
                      "neighbours, wherever it ranks" if itself else None,
                 mistakes=Mistakes(reference, "nearest", got, (E, word_id, k)))
    # The statement gives a zero vector similarity 0, never NaN: a 0/0 on the way is a mistake
    # even where the NaN happens to sort into the right place.
    assert_no_warnings(student, name=call)


@pytest.mark.points(2)
@pytest.mark.parametrize("k", [1, 4])
def test_nearest_by_cosine(student, reference, rng, k):
    # Rows of very different lengths: the dot product and the cosine rank them differently.
    E = rng.normal(size=(12, 5)) * rng.uniform(0.1, 10.0, size=(12, 1))
    E = _with_decoy(rng, E, 3, twin=8, long=10)
    _check_nearest(student, reference, E, 3, k,
                   "with vectors of very different lengths (the cosine decides, not the dot "
                   "product)")


@pytest.mark.points(1)
def test_nearest_with_a_zero_vector_and_ties(student, reference, rng):
    E = _with_decoy(rng, rng.normal(size=(8, 4)), 2, twin=0, long=7)
    E[5] = 0.0  # similarity 0 with every word, not NaN
    E[6] = E[4]  # two words with the same vector tie: the smaller id first
    E[1] = -E[2]  # similarity −1: the zero vector (0) ranks above it, whatever the draw
    _check_nearest(student, reference, E, 2, 7,
                   "with a zero vector (similarity 0, above word 1's −1) and two equal vectors "
                   "(the smaller id first)")


@pytest.mark.points(1)
def test_nearest_with_the_words_vector_at_a_smaller_id(student, reference, rng):
    # Word 2 has word 6's exact vector: both have similarity 1 and 2, the smaller id, ranks
    # first; dropping the first-ranked word rather than word 6 itself keeps 6. Rows of one
    # length: the dot product ranks as the cosine here (it has its own test) at every seed.
    E = rng.normal(size=(10, 4))
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    E[2] = E[6]
    _check_nearest(student, reference, E, 6, 3,
                   "where word 2 has word 6's vector (2 ranks first; leave out 6 itself)")


@pytest.mark.points(1)
def test_nearest_of_a_zero_vector(student, reference, rng):
    # Every similarity with a zero vector is 0: the k smallest ids other than word_id.
    E = rng.normal(size=(9, 4))
    E[5] = 0.0
    _check_nearest(student, reference, E, 5, 6,
                   "where E[5] is the zero vector (similarity 0 with every word: the smallest "
                   "ids other than 5 first)")


# ---------------------------------------------------------------------------- mask_tokens


def _sentences(rng: np.random.Generator, B: int, T: int, vocab: int) -> np.ndarray:
    ids = rng.integers(4, vocab, size=(B, T))
    ids[:, 0], ids[:, -1] = CLS, SEP
    ids[-1, -3:] = PAD
    return ids


def _check_masking(student, reference, ids, u, rate: float, what: str) -> None:
    got = student.mask_tokens(ids, u, MASK, 30, SPECIAL, rate)
    inputs, labels = reference.mask_tokens(ids, u, MASK, 30, SPECIAL, rate)
    assert isinstance(got, (tuple, list)) and len(got) == 2, \
        "mask_tokens should return (inputs, labels)"
    assert_equal(got[0], inputs, name=f"mask_tokens {what} → inputs")
    assert_equal(got[1], labels, name=f"mask_tokens {what} → labels (every chosen position, "
                 "masked, replaced or kept, is labelled with its original id; −100 elsewhere)")


def _every_case(ids: np.ndarray, u: np.ndarray, rate: float) -> np.ndarray:
    """u with, in row 0, a special token that would be chosen and a chosen word masked, one
    replaced by another id and one kept: whatever the draw, each rule is put to work."""
    u = u.copy()
    u[0, 0, 0] = u[0, 1:4, 0] = rate / 2  # [CLS] and words 1, 2, 3 fall under the rate
    u[0, 1:4, 1] = [0.4, 0.85, 0.95]  # masked, replaced, kept
    u[0, 2, 2] = ((ids[0, 2] + 1) % 30 + 0.5) / 30  # a replacement that differs from the word
    u[0, 3, 2] = ((ids[0, 3] + 1) % 30 + 0.5) / 30  # (and would, were the word not kept)
    return u


@pytest.mark.points(2)
@pytest.mark.parametrize("rate", [0.15, 0.6])
def test_mask_tokens_random(student, reference, rng, rate):
    ids = _sentences(rng, 4, 12, 30)
    u = _every_case(ids, rng.random(size=(4, 12, 3)), rate)
    _check_masking(student, reference, ids, u, rate, f"with rate={rate}")


@pytest.mark.points(2)
def test_mask_tokens_every_branch(student, reference, rng):
    # Every position chosen (u0 = 0), u1 sweeping the three branches and their boundaries.
    ids = rng.integers(4, 30, size=(1, 10))
    u = np.zeros((1, 10, 3))
    u[0, :, 1] = [0.0, 0.5, 0.79, 0.8, 0.85, 0.8999, 0.9, 0.95, 0.999, 0.3]
    u[0, :, 2] = ((ids[0] + 1 + rng.integers(0, 25, size=10)) % 30 + 0.5) / 30  # never the word
    _check_masking(student, reference, ids, u, 0.15,
                   "with u[..., 1] at 0.79, 0.8, 0.85, 0.9, … (mask below 0.8, a random id "
                   "from 0.8 to 0.9, the id kept from 0.9)")


@pytest.mark.points(2)
def test_mask_tokens_never_chooses_special_tokens(student, reference, rng):
    ids = _sentences(rng, 3, 8, 30)
    ids[1, 2:5] = [MASK, PAD, CLS]
    u = _every_case(ids, rng.random(size=(3, 8, 3)), 0.15)
    u[..., 0] = 0.01  # everything would be chosen but for the special tokens
    _check_masking(student, reference, ids, u, 0.15,
                   f"where special ids {SPECIAL} would be chosen (they never are)")


@pytest.mark.points(1)
def test_mask_tokens_rate_is_a_strict_bound(student, reference, rng):
    ids = rng.integers(4, 30, size=(6,))
    u = rng.random(size=(6, 3))
    u[:, 0] = [0.15, 0.1499, 0.15, 0.2, 0.0, 0.16]  # chosen only where u0 < rate
    u[:, 1] = 0.5  # and masked
    _check_masking(student, reference, ids, u, 0.15, "with u[..., 0] equal to rate")
