"""Answer keys of the metrics exam questions, computed by the metrics reference and its mutants."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from grader.exam.keys import Key, Refs, answers


def _labels(C: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """y_true, y_pred with the counts of the confusion matrix C (rows true, columns predicted)."""
    pairs = [(i, j) for i, row in enumerate(C) for j, n in enumerate(row) for _ in range(n)]
    y = np.array(pairs, dtype=np.int64).reshape(-1, 2)  # (n, 2)
    return y[:, 0], y[:, 1]


@answers("metrics.confusion_matrix")
def confusion_matrix(p: dict[str, Any], ref: Refs) -> Key:
    y_true, y_pred = np.array(p["y_true"]), np.array(p["y_pred"])
    return ref.key("metrics", lambda m: {"C": m.confusion_matrix(y_true, y_pred, 3)},
                   mutants=["confusion_transposed"])


@answers("metrics.binary_prf")
def binary_prf(p: dict[str, Any], ref: Refs) -> Key:
    y_true, y_pred = _labels(p["C"])

    def scores(m: ModuleType) -> dict[str, float]:
        return {"precision": m.precision(y_true, y_pred), "recall": m.recall(y_true, y_pred),
                "f1": m.f1_score(y_true, y_pred)}

    right = scores(ref.solution("metrics"))
    return ref.key("metrics", scores, mutants=["precision_recall_swapped"], classic={
        "f1_arithmetic_mean": ({"f1": (right["precision"] + right["recall"]) / 2},
                               "F1 taken as the arithmetic mean of precision and recall")})


@answers("metrics.macro_average")
def macro_average(p: dict[str, Any], ref: Refs) -> Key:
    y_true, y_pred = _labels(p["C"])

    def scores(m: ModuleType) -> dict[str, float]:
        return {"macro_precision": m.precision(y_true, y_pred, average="macro"),
                "macro_recall": m.recall(y_true, y_pred, average="macro"),
                "macro_f1": m.f1_score(y_true, y_pred, average="macro"),
                "micro_f1": m.f1_score(y_true, y_pred, average="micro")}

    return ref.key("metrics", scores, mutants=["f1_of_macro_means", "micro_as_macro"])
