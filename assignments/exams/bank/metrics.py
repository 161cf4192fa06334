"""Exam questions on classification metrics: confusion matrix, binary and averaged P/R/F1."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array, Number


@question(
    "metrics.confusion_matrix",
    title="Confusion matrix",
    parts=[Array("C", "the confusion matrix, 3 × 3", shape=(3, 3), exact=True)],
    text="""
A classifier with classes 0, 1 and 2 labels ten samples:

{{ [y_true, y_pred]|table(["true class", "predicted"], range(1, 11)|list, corner="sample") }}

Give its confusion matrix C, with rows for the true class and columns for the predicted class
(C[i, j] counts the samples of true class i predicted as class j).
""",
)
def confusion_matrix(rng: np.random.Generator) -> dict[str, Any]:
    y_true = rng.integers(0, 3, size=10)
    # Mostly right, with some mistakes, as a real classifier.
    y_pred = np.where(rng.random(10) < 0.6, y_true, rng.integers(0, 3, size=10))
    return {"y_true": y_true, "y_pred": y_pred}


@question(
    "metrics.binary_prf",
    title="Precision, recall and F1",
    parts=[Number("precision", "precision"), Number("recall", "recall"),
           Number("f1", "F1 score")],
    text="""
A binary classifier (class 1 is the positive class) has this confusion matrix, rows for the
true class and columns for the predicted class:

{{ C|table(["true 0", "true 1"], ["predicted 0", "predicted 1"]) }}

Give its precision, recall and F1 score for the positive class.
""",
)
def binary_prf(rng: np.random.Generator) -> dict[str, Any]:
    tn, fp, fn, tp = (int(v) for v in rng.integers(1, 30, size=4))
    return {"C": [[tn, fp], [fn, tp]]}


@question(
    "metrics.macro_average",
    title="Macro and micro averages",
    parts=[Number("macro_precision", "macro-averaged precision"),
           Number("macro_recall", "macro-averaged recall"),
           Number("macro_f1", "macro-averaged F1"),
           Number("micro_f1", "micro-averaged F1")],
    text="""
A three-class classifier has this confusion matrix, rows for the true class and columns for
the predicted class:

{{ C|table(["true 0", "true 1", "true 2"], ["pred. 0", "pred. 1", "pred. 2"]) }}

Give the macro-averaged precision, recall and F1 score (macro F1 is the mean of the per-class
F1 scores), and the micro-averaged F1 score.
""",
)
def macro_average(rng: np.random.Generator) -> dict[str, Any]:
    C = rng.integers(0, 6, size=(3, 3))
    C[np.diag_indices(3)] = rng.integers(4, 15, size=3)  # mostly right
    return {"C": C}
