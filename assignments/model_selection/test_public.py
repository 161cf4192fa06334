"""Public sanity tests for model_selection: small examples with answers worked out by hand."""

import numpy as np

from grader.checks import assert_close, assert_equal

R = 1.224744871391589  # √1.5 = 2 / √(8/3): ±2 divided by the population std of (1, 3, 5)


def test_standardize_small(student):
    # Column 0: mean 3, std √(8/3) (divide by n = 3). Column 1 is constant: only centred.
    X_train = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])
    X_test = np.array([[7.0, 4.0]])
    X_train_s, X_test_s = student.standardize(X_train, X_test)
    assert_close(
        X_train_s, np.array([[-R, 0.0], [0.0, 0.0], [R, 0.0]]), name="standardize → X_train_s"
    )
    # The test row uses the training mean and std, never its own.
    assert_close(X_test_s, np.array([[2 * R, 2.0]]), name="standardize → X_test_s")


def test_kfold_five_samples_two_folds(student):
    # 5 = 3 + 2: the first fold gets the extra sample.
    folds = student.kfold_indices(5, 2)
    assert len(folds) == 2, f"kfold_indices(5, 2) should return 2 folds, you returned {len(folds)}"
    assert_equal(folds[0][1], np.array([0, 1, 2]), name="kfold_indices(5, 2) → fold 0 val_idx")
    assert_equal(folds[0][0], np.array([3, 4]), name="kfold_indices(5, 2) → fold 0 train_idx")
    assert_equal(folds[1][1], np.array([3, 4]), name="kfold_indices(5, 2) → fold 1 val_idx")
    assert_equal(folds[1][0], np.array([0, 1, 2]), name="kfold_indices(5, 2) → fold 1 train_idx")


def test_cross_val_mse_by_hand(student):
    # Fold 0 trains on (2, 2), (3, 5): w = 1.5 / (0.5 + lam) = 1, b = 1; errors 0, 1 -> MSE 0.5.
    # Fold 1 trains on (0, 1), (1, 3): w = 1 / 1.5, b = 5/3; errors 1, 4/3 -> MSE 25/18.
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([1.0, 3.0, 2.0, 5.0])
    assert_close(student.cross_val_mse(X, y, 2, 1.0), 17.0 / 18.0, name="cross_val_mse")


def test_cross_val_mse_without_penalty(student):
    # lam = 0: each fold's two points are fitted exactly; MSEs (25 + 16)/2 and (9 + 4)/2.
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([1.0, 3.0, 2.0, 5.0])
    assert_close(student.cross_val_mse(X, y, 2, 0.0), 13.5, name="cross_val_mse")
