"""The test-author API: comparisons, gradient checks and speed tests that hidden tests call.

Hidden and public tests import from here (``from grader.checks import assert_close``); the
modules behind it are ``compare``, ``gradcheck``, ``timing``, ``tolerances``, ``describe``,
``hints`` and ``charges`` (what a grading charged already). Runs in the trusted grading process
only.
"""

from grader.checks.compare import (
    TOLERANCES,
    CheckFailed,
    Mismatch,
    Mistakes,
    Tol,
    assert_close,
    assert_equal,
    assert_finite,
    assert_no_warnings,
    assert_raises,
    assert_shape,
    expect_same,
    find_mismatch,
    tensors_for_ints,
    tolerance_for,
    tolerance_overrides,
)
from grader.checks.gradcheck import (
    assert_worked_out,
    beyond_differences,
    check_gradient,
    dot_with_output,
    expect_worked_out,
    numeric_gradient,
)
from grader.checks.unpacking import assert_outputs

__all__ = [
    "TOLERANCES",
    "CheckFailed",
    "Mismatch",
    "Mistakes",
    "Tol",
    "assert_close",
    "assert_equal",
    "assert_finite",
    "assert_no_warnings",
    "assert_outputs",
    "assert_raises",
    "assert_shape",
    "assert_worked_out",
    "beyond_differences",
    "check_gradient",
    "dot_with_output",
    "expect_worked_out",
    "expect_same",
    "find_mismatch",
    "numeric_gradient",
    "tensors_for_ints",
    "tolerance_for",
    "tolerance_overrides",
]
