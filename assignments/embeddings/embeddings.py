"""Word embeddings: context windows, a next-word predictor that learns an embedding matrix,
nearest words by cosine similarity, and BERT's masking rule (NumPy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

IGNORE = -100  # the label of a position that is not predicted (as torch's ignore_index)


def context_windows(ids: np.ndarray, n: int, pad_id: int) -> np.ndarray:
    """The n ids before every position: row t = [ids[t−n], …, ids[t−1]], oldest first, with
    pad_id where t − j < 0 (before the start of the text).

    ids: (T,) int → (T, n) int.
    """
    # TODO: implement context_windows.
    raise NotImplementedError("context_windows: not implemented yet")


def embed(E: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The embedding of each id, onehot(ids) E, i.e. the rows E[ids].

    E: (V, D), ids: int array of any shape → (*ids.shape, D).
    """
    # TODO: implement embed.
    raise NotImplementedError("embed: not implemented yet")


def predict_next_loss(E: np.ndarray, W: np.ndarray, b: np.ndarray, contexts: np.ndarray,
                      targets: np.ndarray, combine: str = "mean") -> tuple[float, dict]:
    """Predict each target word from its context words, and backpropagate into E.

    For example i with context words c_1 … c_n (oldest first):
        h_i = (E[c_1] + … + E[c_n]) / n           combine="mean"    (K = D)
        h_i = [E[c_1], …, E[c_n]] side by side    combine="concat"  (K = n·D)
        z_i = h_i W + b,   loss = mean_i −log softmax(z_i)[targets_i]
    Any other combine raises ValueError. A word used several times adds its gradient to its
    row of E once per use.

    E: (V, D), W: (K, V), b: (V,), contexts: (N, n) int, targets: (N,) int.
    Returns (loss: float, {"E": dE (V, D), "W": dW (K, V), "b": db (V,)}).
    """
    # TODO: implement predict_next_loss.
    raise NotImplementedError("predict_next_loss: not implemented yet")


def nearest(E: np.ndarray, word_id: int, k: int) -> np.ndarray:
    """The k words most similar to word_id by cosine similarity, cos(u, v) = u·v / (‖u‖‖v‖),
    most similar first, word_id itself excluded; ties go to the smaller id; a zero vector has
    similarity 0 with every word.

    E: (V, D) → (k,) int.
    """
    # TODO: implement nearest.
    raise NotImplementedError("nearest: not implemented yet")


def mask_tokens(ids: np.ndarray, u: np.ndarray, mask_id: int, vocab_size: int,
                special_ids: Sequence[int] = (), rate: float = 0.15
                ) -> tuple[np.ndarray, np.ndarray]:
    """BERT's masked-word rule, driven by the uniform numbers u in [0, 1).

    Position p is chosen when u[p, 0] < rate and ids[p] is not in special_ids. A chosen
    position's input becomes mask_id when u[p, 1] < 0.8 (80 %), a random id
    floor(u[p, 2]·vocab_size) when 0.8 ≤ u[p, 1] < 0.9 (10 %), and stays ids[p] otherwise (10 %).
    labels[p] = ids[p] where chosen, IGNORE (−100) elsewhere.

    ids: int array of any shape, u: (*ids.shape, 3).
    Returns (inputs, labels), int arrays of ids' shape.
    """
    # TODO: implement mask_tokens.
    raise NotImplementedError("mask_tokens: not implemented yet")
