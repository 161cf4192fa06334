"""Answer keys of the embeddings exam questions, from its reference and mutants."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from grader.exam.keys import Key, Refs, answers


@answers("embeddings.mask_tokens")
def mask_tokens(p: dict[str, Any], ref: Refs) -> Key:
    ids, u = np.array(p["ids"]), np.array(p["u"], dtype=np.float64)
    special = [p["cls"], p["sep"], p["mask"]]

    def values(m: ModuleType) -> dict[str, Any]:
        inputs, labels = m.mask_tokens(ids, u, p["mask"], p["vocab"], special, p["rate"])
        return {"inputs": inputs, "labels": labels}

    return ref.key("embeddings", values, mutants=["labels_only_where_masked",
                                                  "special_tokens_chosen", "no_kept_tokens"])
