"""What a student may see of each test: Gradescope's visibility levels, and the student's copy.

A test's ``visibility`` is set by the instructor, per topic in grading.toml (``[grading]
visibility = "after_due_date"``) or per test with ``@pytest.mark.visibility("visible")``; the
marker wins. The levels are Gradescope's:

- ``visible``: everything, including what the student's code printed;
- ``hidden``: the student never sees the test's message or output (Gradescope hides the whole
  test; our own student copies keep its verdict and points, which the total counts anyway);
- ``after_due_date`` / ``after_published``: Gradescope shows the test in full from then on; our
  own student copies, written when grading, cannot tell when that is and withhold it like
  ``hidden``.

Unset, a public test is ``visible``, and a hidden test shows its verdict and the grader's
message but not what the code printed, nor the text of an exception the code raised (only its
type and where it was raised): a module that prints its arguments, or raises them, would
otherwise echo every hidden input back to the student. The instructor's copies (result.json, the instructor's
report) keep everything.
"""

from __future__ import annotations

import re
from dataclasses import replace

from grader.results.model import Flag, SubmissionResult, TestResult

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
WITHHELD_OUTPUT = ("(what your code printed during hidden tests is not shown, so that the "
                   "hidden inputs stay hidden)")
RELEASED_LATER = "The details of this test are not shown (yet)."
WITHHELD_EXCEPTION = ("(the message of the exception your code raised is not shown for hidden "
                      "tests, so that the hidden inputs stay hidden: the lines below say where it "
                      "was raised)")
_RAISED = re.compile(r"^([A-Za-z_]\w*) raised ([A-Za-z_][\w.]{0,60})(?=:|$)")
# Stricter first: combining two levels keeps the stricter one.
_ORDER = {"hidden": 0, "after_published": 1, "after_due_date": 2, "visible": 3}


def level(t: TestResult) -> str:
    """The test's Gradescope visibility: its own, else ``visible``."""
    return t.visibility if t.visibility in VISIBILITIES else "visible"


def output_shown(t: TestResult) -> bool:
    """Whether the student may see what their code printed in this test (when it is shown)."""
    if t.visibility in VISIBILITIES:
        return t.visibility != "hidden"
    return t.kind != "hidden"


def shown_now(t: TestResult) -> bool:
    """Whether a copy written at grading time may show the test's message."""
    return level(t) == "visible"


def combine(bundle: str, test: str) -> str:
    """The stricter of the whole results' visibility and one test's."""
    return min(bundle, test, key=lambda v: _ORDER.get(v, 0))


def student_test(t: TestResult) -> TestResult:
    """The test as a copy written at grading time shows it to the student."""
    if not shown_now(t):
        return replace(t, message=RELEASED_LATER, output="", details={})
    if output_shown(t):
        return t
    if Flag.STUDENT_EXCEPTION in t.flags:  # its text is the student's: it may quote the inputs
        t = replace(t, message=_exception_withheld(t.message))
    return replace(t, output=WITHHELD_OUTPUT) if t.output else t


def _exception_withheld(message: str) -> str:
    """"f raised ValueError: <the student's text>" and its traceback, with the student's text
    (the exception's message, in the first line and the traceback's last) left out; the
    traceback's file and line entries stay."""
    found = _RAISED.match(message)
    head = f"{found.group(1)} raised {found.group(2)}" if found else "your code raised an exception"
    lines = [f"{head} {WITHHELD_EXCEPTION}"]
    if "\nin your code:\n" in message:
        trace = message.split("\nin your code:\n", 1)[1].splitlines()
        kept = [line for i, line in enumerate(trace)
                if line.startswith('  File "') or (i and trace[i - 1].startswith('  File "')
                                                   and line.startswith("    "))]
        if kept:
            lines += ["in your code:", *kept]
    return "\n".join(lines)


def student_copy(result: SubmissionResult) -> SubmissionResult:
    """``result`` with what the student may not see yet taken out (scores unchanged)."""
    return replace(result, tests=tuple(student_test(t) for t in result.tests))


__all__ = ["VISIBILITIES", "WITHHELD_OUTPUT", "WITHHELD_EXCEPTION", "RELEASED_LATER", "level", "output_shown",
           "shown_now", "combine", "student_test", "student_copy"]
