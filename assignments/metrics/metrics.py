"""Classification metrics exercise: confusion matrix, accuracy, precision, recall and F1."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion matrix C with C[i, j] = #{samples of true class i predicted as class j}.

    Rows are true classes, columns predicted classes; a class that never appears gives a
    row and a column of zeros.

    y_true: (n,) int, y_pred: (n,) int, labels in [0, num_classes) → C: (k, k) int, k = num_classes.
    """
    # TODO: confusion_matrix — count (true, predicted) pairs, rows true.
    raise NotImplementedError("confusion_matrix: not implemented yet")


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Accuracy (1/n)·#{i : ŷᵢ = yᵢ}.

    y_true: (n,) int, y_pred: (n,) int, n ≥ 1 → Python float in [0, 1].
    """
    # TODO: accuracy — the fraction of correct predictions.
    raise NotImplementedError("accuracy: not implemented yet")


def error_rate(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Error rate (1/n)·#{i : ŷᵢ ≠ yᵢ} = 1 − accuracy.

    y_true: (n,) int, y_pred: (n,) int, n ≥ 1 → Python float in [0, 1].
    """
    # TODO: error_rate — the fraction of wrong predictions.
    raise NotImplementedError("error_rate: not implemented yet")


def precision(
    y_true: np.ndarray, y_pred: np.ndarray, average: str = "binary", pos_label: int = 1
) -> float:
    """Precision P = TP / (TP + FP); 0.0 when TP + FP = 0.

    average="binary": P of class pos_label (every other label counts as negative).
    average="macro":  unweighted mean of the per-class P over the classes present in
                      y_true or y_pred.
    average="micro":  TP and FP summed over those classes, then one ratio.
    pos_label is used by "binary" only; any other average raises ValueError.

    y_true: (n,) int, y_pred: (n,) int → Python float in [0, 1].
    """
    # TODO: precision — binary, macro and micro precision.
    raise NotImplementedError("precision: not implemented yet")


def recall(
    y_true: np.ndarray, y_pred: np.ndarray, average: str = "binary", pos_label: int = 1
) -> float:
    """Recall R = TP / (TP + FN); 0.0 when TP + FN = 0.

    Averages as in precision: "binary" (class pos_label), "macro" (mean of per-class R over
    the classes present in y_true or y_pred), "micro" (pooled TP and FN).

    y_true: (n,) int, y_pred: (n,) int → Python float in [0, 1].
    """
    # TODO: recall — binary, macro and micro recall.
    raise NotImplementedError("recall: not implemented yet")


def f1_score(
    y_true: np.ndarray, y_pred: np.ndarray, average: str = "binary", pos_label: int = 1
) -> float:
    """F1 = 2·P·R / (P + R), the harmonic mean of precision and recall; 0.0 when P + R = 0.

    "binary": F1 of class pos_label; "macro": mean of the per-class F1 scores (not the F1 of
    macro P and macro R); "micro": F1 of the pooled counts.

    y_true: (n,) int, y_pred: (n,) int → Python float in [0, 1].
    """
    # TODO: f1_score — binary, macro and micro F1.
    raise NotImplementedError("f1_score: not implemented yet")
