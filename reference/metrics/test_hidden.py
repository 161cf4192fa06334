"""Hidden tests for metrics: confusion matrix layout, absent classes, averages, pos_label, 0/0."""

import numpy as np
import pytest

from grader.checks import assert_no_warnings, assert_raises, expect_same

SCORES = ["precision", "recall", "f1_score"]


def _labels(
    rng: np.random.Generator, n: int, classes: list[int], hit: float = 0.6
) -> tuple[np.ndarray, np.ndarray]:
    """Imbalanced true labels and predictions that are right about `hit` of the time, else random.

    Uneven class frequencies make macro and micro averages differ and make a transposed
    confusion matrix visible.
    """
    p = rng.uniform(0.2, 1.0, size=len(classes))
    y_true = rng.choice(classes, size=n, p=p / p.sum())
    noise = rng.choice(classes, size=n)
    y_pred = np.where(rng.random(n) < hit, y_true, noise)
    return y_true.astype(np.int64), y_pred.astype(np.int64)


def _score_without_warning(
    student, reference, fn: str, case: str, y_true, y_pred, **kwargs
) -> None:
    """The score equals the reference's (0.0 on a zero denominator, never NaN) with no warning."""
    expect_same(student, reference, fn, y_true, y_pred, **kwargs)
    options = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    assert_no_warnings(student, name=f"{fn}(y_true, y_pred{options}) when {case}")


# --- confusion_matrix --------------------------------------------------------------------------


@pytest.mark.points(2)
def test_confusion_matrix_random(student, reference, rng):
    y_true, y_pred = _labels(rng, 60, [0, 1, 2, 3])
    expect_same(student, reference, "confusion_matrix", y_true, y_pred, 4, exact=True)


@pytest.mark.points(1)
def test_confusion_matrix_absent_classes(student, reference, rng):
    # Classes 2, 4 and 5 never appear: their rows and columns are zero but still there.
    y_true, y_pred = _labels(rng, 25, [0, 1, 3])
    expect_same(student, reference, "confusion_matrix", y_true, y_pred, 6, exact=True)


@pytest.mark.points(1)
def test_confusion_matrix_single_sample(student, reference, rng):
    y_true = np.array([2])
    y_pred = np.array([int(rng.integers(0, 2))])  # a miss: the count lands off the diagonal
    expect_same(student, reference, "confusion_matrix", y_true, y_pred, 3, exact=True)


# --- accuracy and error_rate --------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", ["accuracy", "error_rate"])
def test_accuracy_and_error_rate_random(student, reference, rng, fn):
    y_true, y_pred = _labels(rng, 37, [0, 1, 2])
    expect_same(student, reference, fn, y_true, y_pred)


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", ["accuracy", "error_rate"])
def test_accuracy_and_error_rate_single_sample(student, reference, rng, fn):
    expect_same(student, reference, fn, np.array([1]), np.array([1]))
    expect_same(student, reference, fn, np.array([0]), np.array([1]))


# --- binary -------------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", SCORES)
def test_binary_random(student, reference, rng, fn):
    y_true, y_pred = _labels(rng, 50, [0, 1])
    expect_same(student, reference, fn, y_true, y_pred)


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", SCORES)
def test_binary_pos_label_zero(student, reference, rng, fn):
    # With pos_label=0, class 0 plays the role of "positive".
    y_true, y_pred = _labels(rng, 50, [0, 1], hit=0.7)
    expect_same(student, reference, fn, y_true, y_pred, average="binary", pos_label=0)


@pytest.mark.points(2)
@pytest.mark.parametrize("fn", SCORES)
def test_binary_zero_denominators(student, reference, rng, fn):
    positives = (rng.random(12) < 0.5).astype(np.int64)
    positives[0] = 1
    none = np.zeros(12, dtype=np.int64)
    # Nothing predicted positive (TP + FP = 0), nothing truly positive (TP + FN = 0), neither.
    _score_without_warning(student, reference, fn, "nothing is predicted positive", positives, none)
    _score_without_warning(student, reference, fn, "nothing is truly positive", none, positives)
    _score_without_warning(student, reference, fn, "every label is 0", none, none.copy())


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", SCORES)
def test_binary_pos_label_absent(student, reference, rng, fn):
    # pos_label=0 on all-positive labels: class 0 is in neither array, every count is 0.
    ones = np.ones(5, dtype=np.int64)
    _score_without_warning(
        student,
        reference,
        fn,
        "class pos_label appears nowhere",
        ones,
        ones.copy(),
        average="binary",
        pos_label=0,
    )


# --- macro --------------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", SCORES)
def test_macro_random(student, reference, rng, fn):
    y_true, y_pred = _labels(rng, 80, [0, 1, 2, 3, 4])
    expect_same(student, reference, fn, y_true, y_pred, average="macro")


@pytest.mark.points(2)
@pytest.mark.parametrize("fn", SCORES)
def test_macro_labels_with_gaps_and_predicted_only_class(student, reference, rng, fn):
    # Labels 0, 2, 5 occur in y_true; 7 only in y_pred; 1, 3, 4, 6 nowhere. Macro runs over
    # {0, 2, 5, 7}: not over 0..7, and not over y_true's classes alone.
    y_true, y_pred = _labels(rng, 40, [0, 2, 5])
    y_pred[rng.choice(40, size=5, replace=False)] = 7
    _score_without_warning(
        student, reference, fn, "a class is only predicted", y_true, y_pred, average="macro"
    )


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", SCORES)
def test_macro_class_never_predicted(student, reference, rng, fn):
    # Class 3 is in y_true but never predicted: its precision is 0/0 and counts as 0.
    y_true, y_pred = _labels(rng, 30, [0, 1, 2, 3])
    y_true[:4] = 3
    y_pred[y_pred == 3] = 0
    _score_without_warning(
        student, reference, fn, "a class is never predicted", y_true, y_pred, average="macro"
    )


# --- micro --------------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", SCORES)
def test_micro_random(student, reference, rng, fn):
    y_true, y_pred = _labels(rng, 80, [0, 1, 2, 3, 4])
    expect_same(student, reference, fn, y_true, y_pred, average="micro")


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", SCORES)
def test_micro_labels_with_gaps(student, reference, rng, fn):
    y_true, y_pred = _labels(rng, 40, [1, 4, 6])
    y_pred[rng.choice(40, size=3, replace=False)] = 9
    _score_without_warning(
        student, reference, fn, "a class is only predicted", y_true, y_pred, average="micro"
    )


# --- arguments ----------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("fn", SCORES)
def test_unknown_average_raises(student, rng, fn):
    y_true, y_pred = _labels(rng, 10, [0, 1])
    assert_raises(
        "ValueError",
        getattr(student, fn),
        y_true,
        y_pred,
        average="weighted",
        name=f"{fn}(y_true, y_pred, average='weighted')",
    )
