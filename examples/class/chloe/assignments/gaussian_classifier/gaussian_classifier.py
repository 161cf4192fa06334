"""Alternative: np.cov per class, an explicit inverse, both quadratic forms, scipy's expit."""

from __future__ import annotations

import numpy as np
from scipy.special import expit


def fit_gaussian(X, y):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    n1 = int(np.sum(y == 1))
    n0 = int(np.sum(y == 0))
    mu1 = X[y == 1].mean(axis=0)
    mu0 = X[y == 0].mean(axis=0)
    # np.cov wants variables in rows; bias=True is the MLE. ndmin keeps d = 1 two-dimensional.
    s1 = np.atleast_2d(np.cov(X[y == 1].T, bias=True)) if n1 > 1 else np.zeros((X.shape[1],) * 2)
    s0 = np.atleast_2d(np.cov(X[y == 0].T, bias=True)) if n0 > 1 else np.zeros((X.shape[1],) * 2)
    sigma = (n1 * s1 + n0 * s0) / (n1 + n0)
    return mu1, mu0, sigma, n1, n0


def linear_form(mu1, mu0, sigma, n1, n0):
    P = np.linalg.inv(sigma)
    w = P @ (mu1 - mu0)
    b = -0.5 * mu1 @ P @ mu1 + 0.5 * mu0 @ P @ mu0 + np.log(n1 / n0)
    return w, float(b)


def posterior(X, w, b):
    return expit(X @ w + b)


def predict(X, w, b):
    return (posterior(X, w, b) >= 0.5).astype(np.int64)
