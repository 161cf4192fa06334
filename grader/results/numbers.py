"""The one way a score, percentage or duration is printed: 2 decimals, trailing zeros dropped."""

from __future__ import annotations

import math


def number(x: float) -> str:
    """447.6245 → "447.62", 36.0 → "36", 0.5 → "0.5"; the same text in every table and page."""
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
