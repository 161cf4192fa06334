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
otherwise echo every hidden input back to the student. The same goes for every other string the
worker sent during the test (``details["worker_text"]``, collected by the student proxy): the
names of the types it returned (a class's ``__qualname__`` is the student's to choose), strings
it returned, warnings, errors. Wherever one shows in such a test's message, the student's copy
says ``(withheld)`` instead, unless it is the name of a type the grader itself knows (``float``,
``numpy.float64``, ``torch.Tensor``): those carry nothing of the student's choosing. Trip-wire
records are checked where they arrive (``grader.grading.remote.banned_calls``). The
instructor's copies (result.json, the instructor's report) keep everything.
"""

from __future__ import annotations

import builtins
import re
import sys
from dataclasses import replace

from grader.results.model import Flag, SubmissionResult, TestResult

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
WITHHELD_OUTPUT = ("(what your code printed during hidden tests is not shown, so that the "
                   "hidden inputs stay hidden)")
RELEASED_LATER = "The details of this test are not shown (yet)."
WITHHELD_EXCEPTION = ("(the message of the exception your code raised is not shown for hidden "
                      "tests, so that the hidden inputs stay hidden: the lines below say where it "
                      "was raised)")
WORKER_TEXT = "worker_text"  # the key of TestResult.details that lists what the worker sent
WITHHELD_TEXT = "(withheld)"
_NDARRAY = re.compile(r"numpy\.ndarray\(dtype=(\w+)\)")
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


def shown_now(t: TestResult, released: frozenset[str] = frozenset()) -> bool:
    """Whether a copy written at grading time may show the test's message; ``released``: the
    levels whose time has come (``after_due_date`` once the student's deadline has passed, for
    a copy made when it is read, as the submission service makes them)."""
    return level(t) == "visible" or level(t) in released


def combine(bundle: str, test: str) -> str:
    """The stricter of the whole results' visibility and one test's."""
    return min(bundle, test, key=lambda v: _ORDER.get(v, 0))


def student_test(t: TestResult, released: frozenset[str] = frozenset()) -> TestResult:
    """The test as a copy written at grading time shows it to the student."""
    sent = t.details.get(WORKER_TEXT) if isinstance(t.details, dict) else None
    if sent is not None:
        t = replace(t, details={k: v for k, v in t.details.items() if k != WORKER_TEXT})
    if not shown_now(t, released):
        return replace(t, message=RELEASED_LATER, output="", details={})
    if output_shown(t):
        return t
    if Flag.STUDENT_EXCEPTION in t.flags:  # its text is the student's: it may quote the inputs
        t = replace(t, message=_exception_withheld(t.message, t.topic))
    if sent:
        t = replace(t, message=withhold_text(t.message, sent))
    return replace(t, output=WITHHELD_OUTPUT) if t.output else t


def withhold_text(message: str, sent: object) -> str:
    """``message`` with each of the worker's strings in ``sent`` that it shows replaced by
    ``(withheld)``: whole, as ``repr`` writes it, or cut short (a message quotes a long string's
    beginning); longest first, names of types the grader knows kept."""
    if not isinstance(sent, (list, tuple)):
        return message
    texts = sorted({s for s in sent if isinstance(s, str) and s.strip() and not _known_name(s)},
                   key=len, reverse=True)
    for text in texts:
        for form in dict.fromkeys((text, repr(text)[1:-1])):
            if form in message:
                # Whole words only: a short text ("no", "1") also stands inside the grader's
                # own words ("not shown", "line 12"), which must stay readable; a longer one is
                # withheld wherever it stands.
                message = re.sub(r"(?<![\w])" + re.escape(form) + r"(?![\w])", WITHHELD_TEXT,
                                 message)
                if len(form) >= _MIN_CUT:
                    message = message.replace(form, WITHHELD_TEXT)
            elif len(form) > _MIN_CUT:
                cut = _longest_prefix_in(form, message)
                if cut >= _MIN_CUT:
                    message = message.replace(form[:cut], WITHHELD_TEXT)
    return message


_MIN_CUT = 6  # a message may quote this much of a long string's beginning


def _longest_prefix_in(text: str, message: str) -> int:
    """The length of the longest beginning of ``text`` that ``message`` contains."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if text[:mid] in message:
            low = mid
        else:
            high = mid - 1
    return low


def _known_name(text: str) -> bool:
    """Whether ``text`` names a type this process knows: a builtin, or a dotted path to a class
    in a loaded module (numpy.float64, torch.Tensor), or an array of a NumPy dtype."""
    if isinstance(getattr(builtins, text, None), type):
        return True
    found = _NDARRAY.fullmatch(text)
    if found:
        return found.group(1).isidentifier() and len(found.group(1)) <= 16 and \
            found.group(1).rstrip("0123456789") in {"float", "int", "uint", "complex", "bool"}
    module, _, name = text.rpartition(".")
    holder = sys.modules.get(module)
    for part in name.split("."):
        holder = getattr(holder, part, None) if holder is not None else None
    return module in sys.modules and isinstance(holder, type) and \
        module.split(".")[0] in ("numpy", "torch", "builtins", "collections", "decimal",
                                 "fractions", "datetime")


def _exception_withheld(message: str, topic: str = "") -> str:
    """"f raised ValueError: <the student's text>" and where it was raised, with the student's
    text left out. The traceback is the worker's text too: a function's name, a file's name and
    a source line can all be set at run time (``__code__.replace(co_name=…)``, ``compile(…,
    filename)``, ``linecache``), so of each frame only its line number stays, and its file's
    name where it is the topic's module."""
    found = _RAISED.match(message)
    head = f"{found.group(1)} raised {found.group(2)}" if found else "your code raised an exception"
    lines = [f"{head} {WITHHELD_EXCEPTION}"]
    if "\nin your code:\n" in message:
        trace = message.split("\nin your code:\n", 1)[1].splitlines()
        kept = []
        for line in trace:
            frame = _FRAME.match(line)
            if frame:
                name = frame.group(1).replace("\\", "/").rsplit("/", 1)[-1]
                shown = name if topic and name == f"{topic}.py" else "a file of yours"
                kept.append(f"  {shown}, line {frame.group(2)}")
        if kept:
            lines += ["in your code:", *kept]
    return "\n".join(lines)


_FRAME = re.compile(r'^  File "(.*)", line (\d+)')


def student_copy(result: SubmissionResult, released: frozenset[str] = frozenset()
                 ) -> SubmissionResult:
    """``result`` with what the student may not see yet taken out (scores unchanged)."""
    return replace(result, tests=tuple(student_test(t, released) for t in result.tests))


__all__ = ["VISIBILITIES", "WITHHELD_OUTPUT", "WITHHELD_EXCEPTION", "RELEASED_LATER", "WORKER_TEXT",
           "WITHHELD_TEXT", "level", "output_shown", "shown_now", "combine", "student_test",
           "student_copy", "withhold_text"]
