"""Model selection: standardise features, split into k folds, cross-validate ridge regression."""

import numpy as np


def standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise both sets with the statistics of the training set only.

    mean_j = (1/n) Σ_i X_train[i, j]
    std_j  = √((1/n) Σ_i (X_train[i, j] − mean_j)²)      (population std, ddof = 0)
    X_s    = (X − mean) / std                             for X_train and for X_test

    A feature whose training values are all equal has std 0: treat its std as 1, so it is
    only centred. Compute the variance from centred values (features may have a large offset).

    X_train: (n, d), X_test: (m, d) -> (X_train_s: (n, d), X_test_s: (m, d))
    """
    # TODO: standardise X_train and X_test with X_train's mean and std.
    raise NotImplementedError("standardize: not implemented yet")


def kfold_indices(n: int, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split range(n) into k contiguous folds, without shuffling (as sklearn's KFold(k)).

    The first n % k folds hold n // k + 1 samples, the others n // k. Fold i validates on its
    own block of indices and trains on all the others, in ascending order.

    n: int, k: int with 2 <= k <= n -> list of k tuples (train_idx: (n − s_i,) int,
    val_idx: (s_i,) int), s_i the size of fold i.
    """
    # TODO: build the k (train_idx, val_idx) pairs.
    raise NotImplementedError("kfold_indices: not implemented yet")


def cross_val_mse(X: np.ndarray, y: np.ndarray, k: int, lam: float) -> float:
    """Cross-validated mean squared error of ridge regression.

    For each (train, val) in kfold_indices(n, k):
        (w, b) = argmin Σ_{i ∈ train} (y_i − x_i·w − b)² + lam·‖w‖²   (b not penalised)
        MSE_f  = mean_{i ∈ val} (x_i·w + b − y_i)²
    return (1/k) Σ_f MSE_f            (each fold weighs the same, whatever its size)

    No standardisation inside. You may import your own linear_regression module.

    X: (n, d), y: (n,), k: int, lam: float >= 0 -> float
    """
    # TODO: average the validation MSE of a ridge fit over the k folds.
    raise NotImplementedError("cross_val_mse: not implemented yet")
