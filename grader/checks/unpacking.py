"""A test that takes several outputs from one call (``w, state = student.sgd_momentum(...)``)
of a function that returned no tuple: an array or a tensor whose first axis has that many
entries unpacks without an error, into rows instead of outputs, and the test would then blame
the first row for being no array. Said here instead, at the call, in both places a test calls
the student's code (grading's proxy, ``grader.grading.remote``, and the check's,
``grader.student.local``); and so is a tuple of another number of outputs, which Python would
tell as "not enough values to unpack" in the test's own line. A test that takes the outputs
apart itself says the same with ``assert_outputs``.

What the test does with the value is read from the calling test's own bytecode (the instruction
after the call), never from the student's code.
"""

from __future__ import annotations

import dis
import functools
import sys
from collections.abc import Sequence
from types import CodeType, FrameType
from typing import Any

from grader.checks.describe import _describe

# The proxies' own frames between a test and this check: skipped to reach the test's.
_PROXY_MODULES = ("grader.grading.remote", "grader.student.local", __name__)


def check_outputs(fn: str, result: Any) -> None:
    """Raise AssertionError where the code that called ``fn`` unpacks ``result`` into several
    outputs and ``result`` is no tuple (or list) to unpack, or a tuple of another length."""
    if isinstance(result, list):  # data to unpack, as likely as outputs: Python says it
        return
    wanted = _unpacked_by_caller()  # a tuple's subclass (a namedtuple) holds outputs as well
    if wanted is None:
        return
    problem = outputs_problem(fn, result, wanted)
    if problem:
        raise AssertionError(problem)


def outputs_problem(fn: str, result: Any, wanted: int, names: Sequence[str] = ()) -> str:
    """What is wrong with ``result`` as the ``wanted`` outputs of ``fn`` (``names``: the
    statement's names for them), "" where nothing is: a tuple (or list) of ``wanted`` values."""
    listed = f" ({', '.join(names)})" if len(names) == wanted else ""
    example = ", ".join("abcdefgh"[:wanted]) if wanted <= 8 else "a, b, …"
    if isinstance(result, (tuple, list)):
        if len(result) == wanted:
            return ""
        return (f"{fn} returned {len(result)} output{'' if len(result) == 1 else 's'}, not "
                f"{wanted}{listed}: the test takes {wanted} outputs from what {fn} returns. "
                f"Return all {wanted} outputs the statement gives, in its order, as a tuple "
                f"(`return {example}`)")
    # No names here: a dict's keys, withheld in a hidden test, are often the same words.
    return (f"{fn} returned {_describe(result)}, not a tuple of {wanted} outputs: the "
            f"test takes {wanted} outputs from what {fn} returns, and unpacking this value "
            f"would split it into its items instead (an array's rows, a dict's keys). Return "
            f"all {wanted} outputs the statement gives, as a tuple (`return {example}`)")


def assert_outputs(result: Any, names: Sequence[str], fn: str) -> tuple[Any, ...]:
    """``result`` as the tuple of the outputs named ``names`` that ``fn`` returns, for a test
    to take apart; AssertionError, in the words of ``check_outputs``, where it is not one."""
    __tracebackhide__ = True
    problem = outputs_problem(fn, result, len(names), names)
    if problem:
        raise AssertionError(problem)
    return tuple(result)


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
