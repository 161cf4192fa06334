"""A test that takes several outputs from one call (``w, state = student.sgd_momentum(...)``)
of a function that returned no tuple: an array or a tensor whose first axis has that many
entries unpacks without an error, into rows instead of outputs, and the test would then blame
the first row for being no array. Said here instead, at the call, in both places a test calls
the student's code (grading's proxy, ``grader.grading.remote``, and the check's,
``grader.student.local``).

What the test does with the value is read from the calling test's own bytecode (the instruction
after the call), never from the student's code.
"""

from __future__ import annotations

import dis
import functools
import sys
from types import CodeType, FrameType
from typing import Any

from grader.checks.describe import _describe

# The proxies' own frames between a test and this check: skipped to reach the test's.
_PROXY_MODULES = ("grader.grading.remote", "grader.student.local", __name__)


def check_outputs(fn: str, result: Any) -> None:
    """Raise AssertionError where the code that called ``fn`` unpacks ``result`` into several
    outputs and ``result`` is no tuple (or list) to unpack."""
    if isinstance(result, (tuple, list)):  # a namedtuple, torch.Size: outputs as well
        return
    wanted = _unpacked_by_caller()
    if wanted is None:
        return
    raise AssertionError(
        f"{fn} returned {_describe(result)}, not a tuple of {wanted} outputs: the test takes "
        f"{wanted} outputs from what {fn} returns, and unpacking this value would split it "
        f"into its items instead (an array's rows, a dict's keys). Return all {wanted} outputs the statement gives, as a "
        f"tuple (`return {', '.join('abcdefgh'[:wanted]) if wanted <= 8 else 'a, b, …'}`)")


def _unpacked_by_caller() -> int | None:
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__") in _PROXY_MODULES:
        frame = frame.f_back
    if frame is None:
        return None
    return _unpacks_after(frame.f_code, frame.f_lasti)


@functools.lru_cache(maxsize=4096)
def _unpacks_after(code: CodeType, offset: int) -> int | None:
    """N where the instruction after the call at ``offset`` is UNPACK_SEQUENCE N. ``offset``
    (a frame's ``f_lasti``) is the call's, or its last inline cache entry's (Python 3.11): the
    next instruction is the first that starts after it (``dis`` leaves the caches out)."""
    for ins in dis.get_instructions(code):
        if ins.offset > offset:
            return int(ins.arg) if ins.opname == "UNPACK_SEQUENCE" and ins.arg else None
    return None
