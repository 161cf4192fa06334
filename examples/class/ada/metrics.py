"""Correct alternative: scores from a confusion matrix of the classes present; np.divide(where=)."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes):
    C = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(C, (y_true, y_pred), 1)
    return C


def accuracy(y_true, y_pred):
    return float((y_true == y_pred).sum() / y_true.size)


def error_rate(y_true, y_pred):
    return float((y_true != y_pred).sum() / y_true.size)


def _divide(num, den):
    # where= leaves the zero-denominator entries at the 0.0 of `out`, with no warning.
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def _per_class(y_true, y_pred, average, pos_label):
    if average not in ("binary", "macro", "micro"):
        raise ValueError(f"average={average!r} is not supported")
    classes, inverse = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
    n = len(y_true)
    C = confusion_matrix(inverse[:n], inverse[n:], len(classes))  # (c, c) over present classes
    tp = np.diag(C)
    fp = C.sum(axis=0) - tp  # predicted as c, truly something else
    fn = C.sum(axis=1) - tp  # truly c, predicted as something else
    if average == "binary":
        hit = classes == pos_label
        tp, fp, fn = (
            tp[hit].sum(keepdims=True),
            fp[hit].sum(keepdims=True),
            fn[hit].sum(keepdims=True),
        )
    elif average == "micro":
        tp, fp, fn = tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True)
    return tp, fp, fn


def precision(y_true, y_pred, average="binary", pos_label=1):
    tp, fp, _ = _per_class(y_true, y_pred, average, pos_label)
    return float(_divide(tp, tp + fp).mean())


def recall(y_true, y_pred, average="binary", pos_label=1):
    tp, _, fn = _per_class(y_true, y_pred, average, pos_label)
    return float(_divide(tp, tp + fn).mean())


def f1_score(y_true, y_pred, average="binary", pos_label=1):
    tp, fp, fn = _per_class(y_true, y_pred, average, pos_label)
    return float(_divide(2 * tp, 2 * tp + fp + fn).mean())
