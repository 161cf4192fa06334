"""Tolerances per dtype: the table, the value in force for a dtype, and per-topic overrides."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
else:
    from grader.checks.lazy_torch import torch  # imported at the first tensor: NumPy topics skip it

__all__ = ["TOLERANCES", "Tol", "tolerance_for", "tolerance_overrides"]


@dataclass(frozen=True)
class Tol:
    """Elementwise tolerance: |actual - expected| <= atol + rtol * |expected| passes."""

    rtol: float
    atol: float

    def __post_init__(self) -> None:
        for field_name in ("rtol", "atol"):
            value = getattr(self, field_name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"Tol.{field_name} must be a finite number >= 0, got {value!r}")


TOLERANCES: dict[str, Tol] = {
    "float64": Tol(rtol=1e-6, atol=1e-9),
    "float32": Tol(rtol=1e-4, atol=1e-6),
    # float16 keeps about 3 significant digits (eps ≈ 1e-3); summing in another order moves the last.
    "float16": Tol(rtol=1e-2, atol=1e-3),
    # bfloat16 keeps 8 bits of mantissa (eps ≈ 8e-3), so even one rounding step is visible.
    "bfloat16": Tol(rtol=5e-2, atol=1e-2),
}

_EXACT = Tol(rtol=0.0, atol=0.0)
_OVERRIDES: ContextVar[Mapping[str, Tol]] = ContextVar(
    "grader_tolerance_overrides", default=MappingProxyType({})
)
# Complex values are compared with the tolerance of their real parts' precision.
_DTYPE_ALIASES = {"complex128": "float64", "complex64": "float32", "complex32": "float16"}


def _dtype_name(dtype: str | np.dtype[Any] | torch.dtype | type) -> str:
    if isinstance(dtype, str):
        return dtype.removeprefix("torch.")
    if isinstance(dtype, torch.dtype):
        return str(dtype).removeprefix("torch.")
    return np.dtype(dtype).name


def tolerance_for(dtype: str | np.dtype[Any] | torch.dtype | type) -> Tol:
    """The tolerance in force for `dtype`: an active override, else TOLERANCES; exact for ints and bools."""
    name = _dtype_name(dtype)
    name = _DTYPE_ALIASES.get(name, name)
    overrides = _OVERRIDES.get()
    if name in overrides:
        return overrides[name]
    if name in TOLERANCES:
        return TOLERANCES[name]
    if name.startswith("float"):
        # float8 variants and other narrow floats: no tighter than the loosest entry.
        return TOLERANCES["bfloat16"]
    return _EXACT


@contextlib.contextmanager
def tolerance_overrides(mapping: Mapping[str, Tol | Mapping[str, Any]]) -> Iterator[None]:
    """Replace TOLERANCES entries inside the block, e.g. with a topic's grading.toml [tolerances].

    Values are `Tol`s or tables such as {"rtol": 1e-5, "reason": "..."}; a missing rtol/atol keeps
    the entry in force. Nested blocks stack; leaving a block restores what was there before.
    """
    merged = dict(_OVERRIDES.get())
    for key, value in mapping.items():
        name = _dtype_name(key)
        if name not in TOLERANCES:
            raise ValueError(
                f"unknown dtype {key!r} in tolerance overrides; known: {', '.join(TOLERANCES)}"
            )
        base = merged.get(name, TOLERANCES[name])
        if isinstance(value, Tol):
            tol = value
        elif isinstance(value, Mapping):
            unknown = set(value) - {"rtol", "atol", "reason"}
            if unknown:
                raise ValueError(f"unknown keys {sorted(unknown)} in tolerance override {key!r}")
            tol = Tol(
                rtol=float(value.get("rtol", base.rtol)), atol=float(value.get("atol", base.atol))
            )
        else:
            raise TypeError(f"tolerance override {key!r} must be a Tol or a table, got {value!r}")
        merged[name] = tol
    token = _OVERRIDES.set(merged)
    try:
        yield
    finally:
        _OVERRIDES.reset(token)
