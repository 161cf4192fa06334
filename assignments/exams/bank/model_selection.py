"""Exam questions on model selection: a k-fold split, standardisation with training statistics."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array, Integers


@question(
    "model_selection.kfold",
    title="A k-fold split",
    parts=[Integers("sizes", "the sizes of the folds, in order"),
           Integers("val", "the validation indices of the fold asked", ordered=False)],
    text="""
The n = {{ n }} samples, numbered 0 to {{ n - 1 }}, are split into k = {{ k }} folds as
scikit-learn's `KFold({{ k }})` does (contiguous blocks, no shuffling; when n is not a
multiple of k, the first folds are one sample longer).

Give the sizes of the {{ k }} folds, and the indices of the validation samples of fold
{{ fold }} (folds counted from 1).
""",
)
def kfold(rng: np.random.Generator) -> dict[str, Any]:
    while True:
        n, k = int(rng.integers(7, 31)), int(rng.integers(3, 7))
        if n % k and n // k >= 2:
            return {"n": n, "k": k, "fold": int(rng.integers(1, k + 1))}


@question(
    "model_selection.standardize",
    title="Standardising a test set",
    parts=[Array("X_test_s", "the standardised test values (2 values)", shape=(2,))],
    text="""
One feature takes the values {{ train|vec }} on the training set and {{ test|vec }} on the
test set. It is standardised with the training mean and the training population standard
deviation (divide by n, not n − 1).

Give the two standardised test values.
""",
)
def standardize(rng: np.random.Generator) -> dict[str, Any]:
    while True:
        train = np.round(rng.uniform(-5, 15, size=5), 1)
        if train.std() > 1:
            break
    return {"train": train, "test": np.round(rng.uniform(-5, 15, size=2), 1)}
