"""Checks the metrics reference against scikit-learn's metrics on random and edge-case labels."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn.metrics as skm

ROOT = Path(__file__).resolve().parents[1]


def _load_reference():
    path = ROOT / "reference" / "metrics" / "solution.py"
    spec = importlib.util.spec_from_file_location("reference_metrics", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()

SCORES = {"precision": skm.precision_score, "recall": skm.recall_score, "f1_score": skm.f1_score}


def _label_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    cases = []
    for n, k in [(1, 2), (9, 3), (60, 5), (200, 7)]:
        y_true = rng.integers(0, k, size=n)
        # Mostly right, with some random mistakes, so that no score is trivially 0 or 1.
        y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, k, size=n))
        cases.append((f"random n={n} k={k}", y_true, y_pred))
    gap_true = rng.choice([0, 2, 5], size=40)
    gap_pred = np.where(rng.random(40) < 0.5, gap_true, rng.choice([0, 2, 5, 8], size=40))
    gap_pred[0] = 8  # a class that only appears in the predictions
    cases.append(("labels with gaps", gap_true, gap_pred))
    cases.append(("all one class", np.zeros(6, int), np.zeros(6, int)))
    cases.append(("never predicted", np.array([0, 1, 1, 2]), np.array([0, 0, 0, 0])))
    return cases


CASES = _label_cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_confusion_matrix_accuracy_error_rate(case):
    _, y_true, y_pred = case
    k = int(max(y_true.max(), y_pred.max())) + 2  # one class that never appears
    got = ref.confusion_matrix(y_true, y_pred, k)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, skm.confusion_matrix(y_true, y_pred, labels=np.arange(k)))
    assert ref.accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert ref.error_rate(y_true, y_pred) == pytest.approx(1 - skm.accuracy_score(y_true, y_pred))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("average", ["macro", "micro"])
@pytest.mark.parametrize("score", sorted(SCORES))
def test_averaged_scores_match_sklearn(case, average, score):
    _, y_true, y_pred = case
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the reference must not warn, even on 0/0
        got = getattr(ref, score)(y_true, y_pred, average=average)
    expected = SCORES[score](y_true, y_pred, average=average, zero_division=0.0)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


BINARY = [
    (
        "random",
        np.random.default_rng(3).integers(0, 2, 50),
        np.random.default_rng(4).integers(0, 2, 50),
    ),
    ("no positive prediction", np.array([0, 1, 1, 0]), np.array([0, 0, 0, 0])),
    ("no positive truth", np.array([0, 0, 0]), np.array([1, 0, 1])),
    ("all negative", np.array([0, 0, 0]), np.array([0, 0, 0])),
    ("all positive", np.array([1, 1]), np.array([1, 1])),
]


@pytest.mark.parametrize("case", BINARY, ids=[c[0] for c in BINARY])
@pytest.mark.parametrize("pos_label", [0, 1])
@pytest.mark.parametrize("score", sorted(SCORES))
def test_binary_scores_match_sklearn(case, pos_label, score):
    _, y_true, y_pred = case
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = getattr(ref, score)(y_true, y_pred, average="binary", pos_label=pos_label)
    # labels=[0, 1] keeps sklearn in binary mode when only one class appears.
    expected = SCORES[score](
        y_true, y_pred, average="binary", pos_label=pos_label, labels=[0, 1], zero_division=0.0
    )
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_macro_f1_is_not_the_f1_of_macro_precision_and_recall():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2])
    p = ref.precision(y_true, y_pred, average="macro")
    r = ref.recall(y_true, y_pred, average="macro")
    got = ref.f1_score(y_true, y_pred, average="macro")
    assert got == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))
    assert got != pytest.approx(2 * p * r / (p + r))


def test_unknown_average_raises():
    with pytest.raises(ValueError, match="average"):
        ref.precision(np.array([0, 1]), np.array([1, 1]), average="weighted")
