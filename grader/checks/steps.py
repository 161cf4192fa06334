"""Checking an update step (an optimizer's new w): a wrong w is told by what its step did."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from grader.checks import CheckFailed, assert_close


def step_hint(
    actual: Any, expected: Any, before: Any, step: int, known: Mapping[float, str] | None = None
) -> str | None:
    """Words for a step that moved every entry by the same wrong factor, or None.

    `before` is w before this step, the same for the student and the reference when the earlier
    steps matched. `known` maps a factor to what it means ("what leaving out … gives").
    """
    before = np.asarray(before, dtype=np.float64)
    want = np.asarray(expected, dtype=np.float64) - before
    got = np.asarray(actual, dtype=np.float64) - before
    if got.shape != want.shape or not np.isfinite(got).all():
        return None
    moved = np.abs(want) > 1e-12 * np.maximum(1.0, np.abs(before))
    if not moved.any():
        return None
    ratio = got[moved] / want[moved]
    r = float(np.median(ratio))
    if r == 0 or abs(r - 1) < 1e-2 or not np.allclose(ratio, r, rtol=1e-2, atol=0):
        return None
    if r < 0:
        how = f"{-r:.3g}× as far as it should, in the opposite direction"
    elif r > 1:
        how = f"{r:.3g}× too far"
    else:
        how = f"only {r:.3g} of the way it should (1/{1 / r:.3g})"
    hint = f"in step {step} every entry of w moved {how} (your w − w before = {r:.3g} × expected)"
    for factor, meaning in (known or {}).items():
        if np.isclose(r, factor, rtol=1e-2):
            hint += f": {factor:.3g} is {meaning}"
            break
    return hint


def assert_step_close(
    actual: Any,
    expected: Any,
    before: Any,
    *,
    name: str,
    step: int,
    known: Mapping[float, str] | None = None,
) -> None:
    """assert_close on a new w; on failure, say what the step did rather than what w became."""
    __tracebackhide__ = True
    try:
        assert_close(actual, expected, name=name)
    except CheckFailed as err:
        hint = step_hint(actual, expected, before, step, known)
        if hint is None:
            raise
        # A factor between the old and the new w ("yours ≈ 0.76 × expected") says nothing about
        # the step: the step's hint replaces the generic ones.
        lines = [line for line in str(err).splitlines() if not line.startswith("  Hint: ")]
        raise CheckFailed("\n".join([*lines, f"  Hint: {hint}"])) from None


def adam_factors(step: int, beta1: float = 0.9, beta2: float = 0.999) -> dict[float, str]:
    """Known wrong factors of an Adam step: on step 1, the step without bias correction."""
    if step != 1:
        return {}
    uncorrected = (1 - beta1) / np.sqrt(1 - beta2)
    return {
        float(uncorrected): (
            "(1 − β1)/√(1 − β2), what a first step without the bias correction gives; use "
            "m̂ = m / (1 − β1ᵗ) and v̂ = v / (1 − β2ᵗ), so that the first step moves each entry "
            "by about lr"
        )
    }
