"""Alternative: the CS231n staged computational graph, dict cache, np.var and a lerp update."""

from __future__ import annotations

import numpy as np


def batchnorm_forward(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
    """BatchNorm1d forward, one elementary step at a time."""
    if not train:
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
        return out, running_mean, running_var, {"train": False}
    N = x.shape[0]
    if N == 1:
        raise ValueError("Expected more than 1 value per channel when training")
    mu = np.mean(x, axis=0)
    xmu = x - mu
    var = np.var(x, axis=0)
    sqrtvar = np.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    xhat = xmu * ivar
    out = gamma * xhat + beta
    # torch writes the update as a lerp: running += momentum * (batch - running)
    new_mean = running_mean + momentum * (mu - running_mean)
    new_var = running_var + momentum * (np.var(x, axis=0, ddof=1) - running_var)
    cache = {
        "train": True,
        "xhat": xhat,
        "gamma": gamma,
        "xmu": xmu,
        "ivar": ivar,
        "sqrtvar": sqrtvar,
        "var": var,
        "eps": eps,
    }
    return out, new_mean, new_var, cache


def batchnorm_backward(dout, cache):
    """Backpropagate through each stage of the graph in reverse."""
    N = dout.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * cache["xhat"], axis=0)
    dxhat = dout * cache["gamma"]
    divar = np.sum(dxhat * cache["xmu"], axis=0)
    dxmu1 = dxhat * cache["ivar"]
    dsqrtvar = -divar / cache["sqrtvar"] ** 2
    dvar = 0.5 * dsqrtvar / np.sqrt(cache["var"] + cache["eps"])
    dsq = np.ones_like(dout) * dvar / N
    dxmu2 = 2 * cache["xmu"] * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -np.sum(dx1, axis=0)
    dx2 = np.ones_like(dout) * dmu / N
    return dx1 + dx2, dgamma, dbeta
