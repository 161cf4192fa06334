"""Correct alternative: plain Python loops and dictionaries of counts, 2PR/(P + R) with a guard."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes):
    C = np.zeros((num_classes, num_classes), dtype=np.int64)
    for t, p in zip(y_true.tolist(), y_pred.tolist()):
        C[t][p] += 1
    return C


def accuracy(y_true, y_pred):
    correct = sum(1 for t, p in zip(y_true.tolist(), y_pred.tolist()) if t == p)
    return correct / len(y_true)


def error_rate(y_true, y_pred):
    return 1.0 - accuracy(y_true, y_pred)


def _safe_div(a, b):
    return a / b if b != 0 else 0.0


def _counts(y_true, y_pred):
    tp, fp, fn = {}, {}, {}
    for c in set(y_true.tolist()) | set(y_pred.tolist()):
        tp[c] = fp[c] = fn[c] = 0
    for t, p in zip(y_true.tolist(), y_pred.tolist()):
        if t == p:
            tp[t] += 1
        else:
            fp[p] += 1
            fn[t] += 1
    return tp, fp, fn


def _scores(tp, fp, fn):
    p = _safe_div(tp, tp + fp)
    r = _safe_div(tp, tp + fn)
    return p, r, _safe_div(2 * p * r, p + r)


def _metric(y_true, y_pred, average, pos_label, index):
    tp, fp, fn = _counts(y_true, y_pred)
    if average == "binary":
        c = pos_label
        return _scores(tp.get(c, 0), fp.get(c, 0), fn.get(c, 0))[index]
    if average == "macro":
        per_class = [_scores(tp[c], fp[c], fn[c])[index] for c in tp]
        return sum(per_class) / len(per_class)
    if average == "micro":
        return _scores(sum(tp.values()), sum(fp.values()), sum(fn.values()))[index]
    raise ValueError("unknown average: " + repr(average))


def precision(y_true, y_pred, average="binary", pos_label=1):
    return _metric(y_true, y_pred, average, pos_label, 0)


def recall(y_true, y_pred, average="binary", pos_label=1):
    return _metric(y_true, y_pred, average, pos_label, 1)


def f1_score(y_true, y_pred, average="binary", pos_label=1):
    return _metric(y_true, y_pred, average, pos_label, 2)
