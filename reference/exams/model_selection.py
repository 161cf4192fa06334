"""Answer keys of the model_selection exam questions, from its reference and mutants."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from grader.exam.keys import Key, Refs, answers


@answers("model_selection.kfold")
def kfold(p: dict[str, Any], ref: Refs) -> Key:
    def split(m: ModuleType) -> dict[str, Any]:
        folds = m.kfold_indices(p["n"], p["k"])
        return {"sizes": [len(val) for _, val in folds], "val": folds[p["fold"] - 1][1]}

    return ref.key("model_selection", split,
                   mutants=["kfold_ceil_sizes", "kfold_remainder_last"])


@answers("model_selection.standardize")
def standardize(p: dict[str, Any], ref: Refs) -> Key:
    train = np.array(p["train"], dtype=np.float64)[:, None]  # (5, 1)
    test = np.array(p["test"], dtype=np.float64)[:, None]  # (2, 1)
    return ref.key("model_selection", lambda m: {"X_test_s": m.standardize(train, test)[1][:, 0]},
                   mutants=["standardize_ddof1", "standardize_test_own_stats"])
