"""accuracy is the mean of each class's one-vs-rest accuracy, not the fraction of samples right."""

# expect: accuracy.*one-vs-rest

from __future__ import annotations

import numpy as np

AVERAGES = ("binary", "macro", "micro")


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts C[i, j] of samples with true class i predicted as class j.

    y_true, y_pred: (n,) ints in [0, num_classes) → C: (k, k) int64, rows true, columns predicted.
    """
    y_true = np.asarray(y_true, dtype=np.int64)  # (n,)
    y_pred = np.asarray(y_pred, dtype=np.int64)  # (n,)
    k = int(num_classes)
    # Each (true, predicted) pair gets one flat cell index; bincount counts them all at once.
    flat = np.bincount(y_true * k + y_pred, minlength=k * k)  # (k·k,)
    return flat.reshape(k, k).astype(np.int64)  # (k, k)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of samples with y_pred == y_true.  y_true, y_pred: (n,), n ≥ 1."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = np.union1d(y_true, y_pred)
    # Each class's one-vs-rest accuracy, averaged: a negative counted right for every class.
    return float(np.mean([np.mean((y_true == c) == (y_pred == c)) for c in classes]))


def error_rate(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of samples with y_pred != y_true.  y_true, y_pred: (n,), n ≥ 1."""
    return float(np.mean(np.asarray(y_true) != np.asarray(y_pred)))


def _ratio(num: float, den: float) -> float:
    """num / den, and 0.0 when den is 0 (the convention for an empty class)."""
    return float(num) / float(den) if den else 0.0


def _counts(
    y_true: np.ndarray, y_pred: np.ndarray, average: str, pos_label: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class true positives, false positives and false negatives, each (c,).

    binary: the single class pos_label; macro and micro: every class present in y_true or y_pred.
    """
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    y_true = np.asarray(y_true)  # (n,)
    y_pred = np.asarray(y_pred)  # (n,)
    if average == "binary":
        classes = np.array([pos_label])  # (1,)
    else:
        classes = np.union1d(y_true, y_pred)  # (c,) sorted
    is_true = y_true[None, :] == classes[:, None]  # (c, n)
    is_pred = y_pred[None, :] == classes[:, None]  # (c, n)
    tp = np.sum(is_true & is_pred, axis=1)  # (c,)
    fp = np.sum(~is_true & is_pred, axis=1)  # (c,)
    fn = np.sum(is_true & ~is_pred, axis=1)  # (c,)
    return tp, fp, fn


def _score(tp: int, fp: int, fn: int, which: str) -> float:
    """Precision, recall or F1 of one set of counts, 0.0 on a zero denominator."""
    if which == "precision":
        return _ratio(tp, tp + fp)
    if which == "recall":
        return _ratio(tp, tp + fn)
    # 2PR/(P + R) = 2TP/(2TP + FP + FN), and the latter has no 0/0 when TP = 0 but FP + FN > 0.
    return _ratio(2 * tp, 2 * tp + fp + fn)


def _average(
    y_true: np.ndarray, y_pred: np.ndarray, average: str, pos_label: int, which: str
) -> float:
    tp, fp, fn = _counts(y_true, y_pred, average, pos_label)
    if average == "micro":
        # Pool the counts over classes first, then take one ratio.
        return _score(int(tp.sum()), int(fp.sum()), int(fn.sum()), which)
    # binary has one class; macro is the unweighted mean of the per-class scores.
    per_class = [_score(int(t), int(p), int(f), which) for t, p, f in zip(tp, fp, fn)]
    return float(np.mean(per_class))


def precision(
    y_true: np.ndarray, y_pred: np.ndarray, average: str = "binary", pos_label: int = 1
) -> float:
    """TP / (TP + FP) — of the samples predicted positive, the fraction truly positive.

    average: "binary" (class pos_label only), "macro" (mean of per-class precisions) or "micro"
    (pooled counts), over the classes present in y_true or y_pred. 0.0 on a zero denominator.
    y_true, y_pred: (n,) ints.
    """
    return _average(y_true, y_pred, average, pos_label, "precision")


def recall(
    y_true: np.ndarray, y_pred: np.ndarray, average: str = "binary", pos_label: int = 1
) -> float:
    """TP / (TP + FN) — of the truly positive samples, the fraction predicted positive.

    Averages as in precision. y_true, y_pred: (n,) ints.
    """
    return _average(y_true, y_pred, average, pos_label, "recall")


def f1_score(
    y_true: np.ndarray, y_pred: np.ndarray, average: str = "binary", pos_label: int = 1
) -> float:
    """F1 = 2·P·R / (P + R), the harmonic mean of precision and recall (0.0 when P + R = 0).

    macro averages the per-class F1 scores (not the F1 of macro P and macro R); micro uses pooled
    counts. y_true, y_pred: (n,) ints.
    """
    return _average(y_true, y_pred, average, pos_label, "f1")
