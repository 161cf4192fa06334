"""Public sanity tests for metrics: small examples with answers worked out by hand."""

import numpy as np

from grader.checks import assert_close, assert_equal, assert_no_warnings

# Three classes: class 0 is predicted right once and as 1 once, class 1 right twice and as 2 once.
Y_TRUE = np.array([0, 0, 1, 1, 1, 2])
Y_PRED = np.array([0, 1, 1, 1, 2, 2])

# Binary labels: TP = 2, FP = 1, FN = 2 for class 1; TP = 3, FP = 2, FN = 1 for class 0.
B_TRUE = np.array([1, 1, 1, 0, 0, 0, 1, 0])
B_PRED = np.array([1, 0, 1, 1, 0, 0, 0, 0])


def test_confusion_matrix_rows_are_true_classes(student):
    expected = np.array([[1, 1, 0], [0, 2, 1], [0, 0, 1]])
    assert_equal(
        student.confusion_matrix(Y_TRUE, Y_PRED, 3),
        expected,
        name="confusion_matrix(y_true, y_pred, num_classes=3)",
    )


def test_accuracy_and_error_rate(student):
    assert_close(student.accuracy(Y_TRUE, Y_PRED), 4 / 6, name="accuracy(y_true, y_pred)")
    assert_close(student.error_rate(Y_TRUE, Y_PRED), 2 / 6, name="error_rate(y_true, y_pred)")


def test_binary_scores(student):
    assert_close(student.precision(B_TRUE, B_PRED), 2 / 3, name="precision(y_true, y_pred)")
    assert_close(student.recall(B_TRUE, B_PRED), 2 / 4, name="recall(y_true, y_pred)")
    assert_close(student.f1_score(B_TRUE, B_PRED), 4 / 7, name="f1_score(y_true, y_pred)")


def test_binary_scores_pos_label_zero(student):
    assert_close(
        student.precision(B_TRUE, B_PRED, pos_label=0), 3 / 5, name="precision(..., pos_label=0)"
    )
    assert_close(
        student.recall(B_TRUE, B_PRED, pos_label=0), 3 / 4, name="recall(..., pos_label=0)"
    )
    assert_close(
        student.f1_score(B_TRUE, B_PRED, pos_label=0), 2 / 3, name="f1_score(..., pos_label=0)"
    )


def test_macro_and_micro(student):
    # Per class P = (1, 2/3, 1/2), R = (1/2, 2/3, 1), F1 = (2/3, 2/3, 2/3); micro = accuracy.
    assert_close(
        student.precision(Y_TRUE, Y_PRED, average="macro"),
        13 / 18,
        name="precision(..., average='macro')",
    )
    assert_close(
        student.recall(Y_TRUE, Y_PRED, average="macro"),
        13 / 18,
        name="recall(..., average='macro')",
    )
    # The mean of per-class F1, not 2PR/(P + R) of the macro averages (which would be 13/18).
    assert_close(
        student.f1_score(Y_TRUE, Y_PRED, average="macro"),
        2 / 3,
        name="f1_score(..., average='macro')",
    )
    assert_close(
        student.f1_score(Y_TRUE, Y_PRED, average="micro"),
        4 / 6,
        name="f1_score(..., average='micro')",
    )


def test_zero_denominator_gives_zero_without_warning(student):
    # Nothing is predicted positive: TP + FP = 0.
    got = student.precision(np.array([1, 1, 0]), np.array([0, 0, 0]))
    assert_no_warnings(student, name="precision(y_true, y_pred) with no positive prediction")
    assert_close(got, 0.0, name="precision(y_true, y_pred) with no positive prediction")
