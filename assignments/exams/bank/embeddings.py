"""Exam questions on word embeddings: BERT's masking rule on one sentence."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array

CLS, SEP, MASK = 2, 3, 1


@question(
    "embeddings.mask_tokens",
    title="BERT's masked words",
    parts=[Array("inputs", "the model's inputs (8 ids)", shape=(8,), exact=True),
           Array("labels", "the labels (8 ids, −100 where nothing is predicted)", shape=(8,),
                 exact=True)],
    text="""
BERT prepares a sentence for its fill-in-the-blank training. Its ids are

{{ ids|vec }}

where {{ cls }} is [CLS], {{ sep }} is [SEP] and {{ mask }} is [MASK] (special tokens, never
chosen); the vocabulary has {{ vocab }} ids. Each position p has three uniform numbers:

{{ u|table(positions, ["u₀", "u₁", "u₂"]) }}

Position p is chosen when u₀ < {{ rate }} (and its token is not special). A chosen position's
input becomes [MASK] when u₁ < 0.8, the random id ⌊u₂ · {{ vocab }}⌋ when 0.8 ≤ u₁ < 0.9, and
stays as it is when u₁ ≥ 0.9. The label of a chosen position is its original id; every other
label is −100.

Give the inputs and the labels.
""",
)
def mask_tokens(rng: np.random.Generator) -> dict[str, Any]:
    rate, vocab = 0.15, 20
    ids = np.concatenate([[CLS], rng.integers(4, vocab, size=6), [SEP]])
    # Five chosen positions: one special token that would be chosen but for being special, and
    # among the words at least one of each action (mask, random, keep).
    u = np.round(rng.uniform(0, 1, size=(8, 3)), 2)
    chosen = rng.permutation(np.arange(1, 7))[:4]
    u[:, 0] = np.round(rng.uniform(0.2, 0.99, size=8), 2)
    u[chosen, 0] = np.round(rng.uniform(0.0, 0.14, size=4), 2)
    u[rng.choice([0, 7]), 0] = np.round(rng.uniform(0.0, 0.14), 2)
    actions = [0.1 * rng.integers(0, 8), 0.8 + 0.01 * rng.integers(0, 10),
               0.9 + 0.01 * rng.integers(0, 10), 0.1 * rng.integers(0, 10)]
    u[chosen, 1] = np.round(actions, 2)
    return {"ids": ids, "u": u, "rate": rate, "vocab": vocab, "cls": CLS, "sep": SEP,
            "mask": MASK, "positions": [f"p = {i}" for i in range(8)]}
