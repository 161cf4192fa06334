"""torch for modules that only need it once a value is a tensor: a NumPy-only check never imports it.

Importing torch takes seconds; a NumPy topic's public tests on a student's laptop should not
pay that. While torch is not imported, no value can be a tensor, so ``isinstance(x,
torch.Tensor)`` (and ``torch.Size``, ``torch.dtype``) is answered with a class that has no
instances. Any other attribute, or any attribute once torch is imported, is torch's own.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

# The names an isinstance test reaches before any tensor exists.
_TYPES = frozenset({"Tensor", "Size", "dtype", "device"})


class _NotImported:
    """No value is an instance of this: torch is not imported yet."""

    def __init__(self) -> None:
        raise TypeError("torch is not imported")


class _LazyTorch:
    def __getattr__(self, name: str) -> Any:
        module = sys.modules.get("torch")
        if module is None:
            if name in _TYPES:
                return _NotImported
            module = importlib.import_module("torch")
        return getattr(module, name)


torch: Any = _LazyTorch()
