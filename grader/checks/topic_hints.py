"""Hints that know a topic's own rules, used where the generic hint would point the wrong way.

A NaN is "often after an overflow in exp" in general, but in a fully masked attention row it is a
softmax of a row of −∞, and in a metric it is a 0/0 the statement says must be 0.0. The table is
keyed by (topic, function, what went wrong); `what` is "nan", "inf" or a phrase of a warning
message ("divide by zero", "overflow encountered in exp", "invalid value").
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

_LOG_SOFTMAX = (
    "compute the log-softmax directly, log p = z − max(z) − log Σ exp(z − max(z)) per row, and "
    "take the loss from it (the softmax for the gradient is exp of that); do not clip or add an "
    "epsilon"
)
_MLP_LOSS = {
    "divide by zero": (
        "for scores around 1e3 a softmax probability underflows to 0 and log(0) = −inf, even "
        "after subtracting the row maximum: do not take the log of the softmax; " + _LOG_SOFTMAX
    ),
    "overflow encountered in exp": (
        "exp of a score around 1e3 overflows: subtract each row's maximum first; better, "
        + _LOG_SOFTMAX
    ),
    "invalid value": (
        "a NaN from inf − inf or 0·inf: exp overflowed or log(softmax) gave −inf; " + _LOG_SOFTMAX
    ),
    "nan": (
        "a NaN loss comes from exp overflowing (subtract the row maximum) or from log(0) of a "
        "probability that underflowed; " + _LOG_SOFTMAX
    ),
    "inf": (
        "an infinite loss is log(0) of a probability that underflowed (or exp overflowing); "
        + _LOG_SOFTMAX
    ),
}

_MASKED_ROW = (
    "NaN in attention has two usual causes: a query whose keys are all hidden (the softmax of a "
    "row of −∞ is 0/0; the statement gives that query all-zero weights and a zero output, so set "
    "such rows to 0 after the softmax, e.g. with torch.where), or exp of large scores (subtract "
    "each row's maximum before exponentiating)"
)

_ZERO_DIVISION = (
    "a NaN here is 0/0: when a denominator is 0 (TP + FP = 0, TP + FN = 0, or P + R = 0) the "
    "statement says the score is 0.0; check the denominator before you divide"
)
_METRIC = {
    "nan": _ZERO_DIVISION,
    "invalid value": _ZERO_DIVISION,
    "divide by zero": _ZERO_DIVISION,
}

_ZERO_NORM = (
    "a 0/0: the statement gives a zero vector similarity 0 with every word (itself included), "
    "never NaN; divide by a norm only where it is not 0, e.g. np.where(norms > 0, norms, 1.0)"
)

HINTS: dict[tuple[str, str, str], str] = {
    **{("backprop", "mlp_loss", what): hint for what, hint in _MLP_LOSS.items()},
    **{("embeddings", "predict_next_loss", what): hint for what, hint in _MLP_LOSS.items()},
    **{("seq2seq", "teacher_forcing_loss", what): hint for what, hint in _MLP_LOSS.items()},
    ("attention", "scaled_dot_product_attention", "nan"): _MASKED_ROW,
    ("attention", "multi_head_attention", "nan"): _MASKED_ROW,
    ("transformer", "encoder_layer", "nan"): _MASKED_ROW,
    ("embeddings", "nearest", "invalid value"): _ZERO_NORM,
    ("embeddings", "nearest", "divide by zero"): _ZERO_NORM,
    **{("metrics", fn, what): hint for fn in ("precision", "recall", "f1_score")
       for what, hint in _METRIC.items()},
}


def current_topic() -> str | None:
    """The topic of the running test, from pytest's PYTEST_CURRENT_TEST ("…/<topic>/test_x.py::…")."""
    nodeid = os.environ.get("PYTEST_CURRENT_TEST", "")
    path = PurePosixPath(nodeid.split("::", 1)[0].replace("\\", "/"))
    return path.parent.name or None


def _function(name: str) -> str:
    """The function a check's name is about: 'mlp_loss with scores around 1e3 → loss' → 'mlp_loss'."""
    m = re.match(r"\s*([A-Za-z_]\w*)", name)
    return m.group(1) if m else ""


def topic_hint(name: str, what: str) -> str | None:
    """The topic's hint for `what` going wrong in the function `name` is about, or None.

    `what` is "nan", "inf" or a warning message (matched by the phrases of the table). Where the
    running test's topic cannot be read, a function that only one topic defines still matches.
    """
    fn, topic = _function(name), current_topic()
    what = what.lower()
    named = what in ("nan", "inf")
    for (t, f, key), hint in HINTS.items():
        if f != fn or (topic is not None and t != topic):
            continue
        if key == what if named else key not in ("nan", "inf") and key in what:
            return hint
    return None
