"""Exercise gaussian_classifier: a two-class Gaussian generative classifier with a shared covariance."""

from __future__ import annotations

import numpy as np


def fit_gaussian(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Maximum-likelihood estimates of the class means and of the shared covariance.

        n_k = #{i : y_i = k}
        μ_k = (1/n_k) Σ_{i: y_i = k} x_i
        Σ_k = (1/n_k) Σ_{i: y_i = k} (x_i − μ_k)(x_i − μ_k)ᵀ     (MLE: divide by n_k, not n_k − 1)
        Σ   = (n1·Σ1 + n0·Σ0) / (n1 + n0)

    Shapes:
        X: (n, d) float64, y: (n,) int in {0, 1}
        returns mu1: (d,), mu0: (d,), sigma: (d, d), n1: int, n0: int
    """
    # TODO: compute the class counts, the class means and the shared MLE covariance.
    raise NotImplementedError("fit_gaussian: not implemented yet")


def linear_form(
    mu1: np.ndarray, mu0: np.ndarray, sigma: np.ndarray, n1: int, n0: int
) -> tuple[np.ndarray, float]:
    """Weights and bias of the linear log-odds  ln P(C1|x)/P(C0|x) = w·x + b.

        w = Σ⁻¹ (μ1 − μ0)
        b = −½ μ1ᵀ Σ⁻¹ μ1 + ½ μ0ᵀ Σ⁻¹ μ0 + ln(n1 / n0)

    Shapes:
        mu1: (d,), mu0: (d,), sigma: (d, d), n1: int, n0: int
        returns w: (d,), b: float
    """
    # TODO: solve Σ w = μ1 − μ0 and build the bias with the prior term ln(n1/n0).
    raise NotImplementedError("linear_form: not implemented yet")


def posterior(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """Posterior probability of class 1 for every row of X.

        P(C1 | x) = σ(w·x + b),   σ(z) = 1 / (1 + e^(−z))

    Must stay finite and raise no overflow warning for any |w·x + b| (try 1e3).

    Shapes:
        X: (n, d), w: (d,), b: float
        returns (n,) float64 in [0, 1]
    """
    # TODO: compute the logits w·x + b and apply a numerically stable sigmoid.
    raise NotImplementedError("posterior: not implemented yet")


def predict(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """Predicted label: 1 where P(C1 | x) ≥ 0.5, else 0 (a posterior of exactly 0.5 gives 1).

    Shapes:
        X: (n, d), w: (d,), b: float
        returns (n,) int64 in {0, 1}
    """
    # TODO: return 1 where the posterior is at least 0.5 and 0 elsewhere, as int64.
    raise NotImplementedError("predict: not implemented yet")
