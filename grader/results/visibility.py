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
``numpy.float64``, ``torch.Tensor``, the exceptions NumPy and torch raise): those carry nothing
of the student's choosing; nor is one of the test's own words in its message (the keys of the
expected dict, ``grads["W1"]``, which the student's code sends too, as the statement asks: a
failed check carries them, ``CheckFailed.words``, and grading leaves them out of what the
worker sent). Trip-wire
records are checked where they arrive (``grader.grading.remote.banned_calls``).

Two kinds of the worker's text show all the same. Python's own words about names and types
(``'float' object has no attribute 'data'``), re-made with only the names that Python, NumPy or
torch define or the module spells (``grader.results.python_errors``). And a text the module
spells out whole in its source as handed in (``TopicResult.written``: the message of its own
``raise``, a dict key, a class it defines), at most ``MAX_WRITTEN_SHOWN`` of them per test: the
student's code can only choose among words written before any test ran, which tells about as
much as the line numbers shown, and never spells out an input.

Numbers in such a test's message that the student's code chooses are withheld too: a frame's line
number can be set at run time (``compile`` with padding lines, ``exec``,
``__code__.replace(co_firstlineno=…)``), so a traceback keeps only the lines of the topic's own
module that hold code as it was handed in (``TopicResult.code_lines``), each once, at most
``MAX_FRAMES`` of them; the same goes for the places of banned calls, and a crashed worker's exit
code or signal is not given. Recursing to a chosen depth, or calling a banned function a chosen
number of times, shows the same lines as doing it once.

Every student-facing writer (report.html, results.json, the Gradescope bundle's results.json,
``grader ci``'s files and annotations, the service's student pages) takes a ``StudentView``,
which only ``student_view`` makes: handing one the full ``SubmissionResult`` does not type-check
(and fails at run time for code that is not type-checked). The instructor's copies (result.json,
the instructor's report, the gradebook and the class pages) keep everything.
"""

from __future__ import annotations

import ast
import builtins
import contextvars
import io
import re
import sys
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from grader.results import library_errors, python_errors, recursion
from grader.results.model import Flag, SubmissionResult, TestResult

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
WITHHELD_OUTPUT = ("(what your code printed during hidden tests is not shown, so that the "
                   "hidden inputs stay hidden)")
RELEASED_LATER = "The details of this test are not shown (yet)."
WITHHELD_EXCEPTION = ("(the message of the exception your code raised is not shown for hidden "
                      "tests, so that the hidden inputs stay hidden: the lines below say where it "
                      "was raised)")
# Where no line of the student's module ran before the exception: the call itself raised.
AT_CALL = ("no line of your module had run, so the call itself raised it; check that {fn} "
           "takes the parameters the statement gives it, and what stands in its place, such as "
           "a decorator")
WITHHELD_AT_CALL = ("(the message of the exception is not shown for hidden tests, so that the "
                    "hidden inputs stay hidden: " + AT_CALL + ")")
WORKER_TEXT = "worker_text"  # the key of TestResult.details that lists what the worker sent
WITHHELD_TEXT = "(withheld)"
_NDARRAY = re.compile(r"numpy\.ndarray\(dtype=(\w+)\)")
_RAISED = re.compile(r"^([A-Za-z_]\w*) raised ([A-Za-z_][\w.]{0,60})(?=:|$)")
# The levels that a Gradescope results.json leaves to Gradescope, which shows such a test only
# from its time on: a view for that file releases them.
GATED = frozenset({"after_due_date", "after_published"})
MAX_FRAMES = 6  # traceback lines a hidden test's student copy keeps, the innermost
WITHHELD_FRAMES = "  (earlier lines left out)"
RUNTIME_CODE = "code your module made at run time"  # a frame of it at a line that holds no code
OTHER_FILE = "another file of yours"
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


def student_test(t: TestResult, released: frozenset[str] = frozenset(),
                 code_lines: str = "", written: tuple[str, ...] = ()) -> TestResult:
    """The test as a copy written at grading time shows it to the student; ``code_lines``: the
    lines of the topic's module that hold code (``TopicResult.code_lines``; none known: no line
    number of the student's code shows in a hidden test); ``written``: the module's own words
    (``TopicResult.written``), which show where the worker sends one of them whole."""
    sent = t.details.get(WORKER_TEXT) if isinstance(t.details, dict) else None
    if sent is not None:
        t = replace(t, details={k: v for k, v in t.details.items() if k != WORKER_TEXT})
    if not shown_now(t, released):
        return replace(t, message=RELEASED_LATER, output="", details={})
    if output_shown(t):
        return t
    lines = LineRanges(code_lines)
    own = _own_words(written, t.topic, sent)
    # The descriptions of banned calls come first (the grader's own words: what is banned and
    # where); what follows them may be the student's exception.
    bans, rest = _ban_lines(t.message) if Flag.BANNED in t.flags else ("", t.message)
    if Flag.STUDENT_EXCEPTION in t.flags:  # its text is the student's: it may quote the inputs
        rest = _exception_withheld(rest, t.topic, lines, sent, own)
    if bans:
        bans = _places_withheld(bans, t.topic, lines)
    if Flag.BANNED in t.flags and Flag.STUDENT_EXCEPTION not in t.flags:
        rest = _places_withheld(rest, t.topic, lines)
    if Flag.CRASH in t.flags:
        rest = _exit_withheld(rest)
    # Not in the descriptions of banned calls (names checked against the ban, places said as
    # _places_withheld says them), nor in an exception's, which keeps none of the worker's text
    # but its type's name (withheld there) and places: the grader's own words stay readable.
    if sent and Flag.STUDENT_EXCEPTION not in t.flags:
        rest = withhold_text(rest, sent, own)
    t = replace(t, message="\n".join(part for part in (bans, rest) if part))
    return replace(t, output=WITHHELD_OUTPUT) if t.output else t


def withhold_text(message: str, sent: object, written: frozenset[str] = frozenset()) -> str:
    """``message`` with each of the worker's strings in ``sent`` that it shows replaced by
    ``(withheld)``: whole, as ``repr`` writes it, or cut short (a message quotes a long string's
    beginning); longest first, names of types the grader knows kept, and the module's own words
    (``written``: a key spelt in its source, a class it defines)."""
    if not isinstance(sent, (list, tuple)):
        return message
    texts = sorted({s for s in sent if isinstance(s, str) and s.strip() and not _known_name(s)
                    and not _spelt(s, written)}, key=len, reverse=True)
    for text in texts:
        if (said := python_errors.remade(text, written)) and text in message:
            # Python's words about names: shown with the names Python, NumPy and torch define.
            message = message.replace(text, said)
            continue
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


# Where NumPy and torch keep the exceptions they raise, named bare by a worker
# (``type(exc).__name__``: "AxisError", "UFuncTypeError", "LinAlgError", "_LinAlgError").
_EXCEPTION_MODULES = ("numpy.exceptions", "numpy.linalg", "numpy._core._exceptions",
                      "numpy.core._exceptions", "torch", "torch._C", "torch.cuda")


def _known_name(text: str) -> bool:
    """Whether ``text`` names a type this process knows: a builtin, or a dotted path to a class
    in a loaded module (numpy.float64, torch.Tensor), or an array of a NumPy dtype, or the bare
    name of an exception NumPy or torch raises."""
    if isinstance(getattr(builtins, text, None), type):
        return True
    if text.isidentifier() and any(
            isinstance(found := getattr(sys.modules.get(module), text, None), type) and
            issubclass(found, BaseException) for module in _EXCEPTION_MODULES):
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


def _exception_withheld(message: str, topic: str = "", code: "LineRanges | None" = None,
                        sent: object = None, written: frozenset[str] = frozenset()) -> str:
    """"f raised ValueError: <the student's text>" and where it was raised, with the student's
    text left out. The traceback is the worker's text too: a function's name, a file's name, a
    source line and a line number can all be set at run time (``__code__.replace(co_name=…,
    co_firstlineno=…)``, ``compile(…, filename)``, ``linecache``), so of each frame only its line
    number stays, where it is a line of the topic's module that holds code (``code``), and its
    file's name where it is that module; the same line twice in a row shows once, and at most
    the innermost ``MAX_FRAMES`` lines show. The function's name is the grader's (the one the
    test called); the type's is the worker's, withheld where it is one of the texts it ``sent``
    (a class named at run time can spell out an input)."""
    found = _RAISED.match(message)
    head = f"{found.group(1)} raised {withhold_text(found.group(2), sent, written)}" \
        if found else "your code raised an exception"
    # Python's own words about names and types, with only public names and the module's own in
    # them, are shown; so is a text the module spells out whole (its own raise's message).
    said = found and (python_errors.shown(found.group(2), _text_of(message[found.end():]),
                                          written) or
                      _written_text(_text_of(message[found.end():]), written))
    lines = [f"{head}: {said}" if said else f"{head} {WITHHELD_EXCEPTION}"]
    if "\nin your code:\n" in message:
        trace = message.split("\nin your code:\n", 1)[1].splitlines()
        kept = []
        for line in trace:
            frame = _FRAME.match(line)
            if frame:
                name = frame.group(1).replace("\\", "/").rsplit("/", 1)[-1]
                kept.append("  " + _place(name, int(frame.group(2)), topic, code))
        if found and found.group(2) == "RecursionError" and \
                (hint := recursion.hint_by_place([k.strip() for k in kept])):
            lines.append(f"  Hint: {hint}")
        elif found and (hint := library_errors.hint(message[found.end():].removeprefix(": "),
                                                    found.group(2))):
            lines.append(f"  Hint: {hint}")
        if kept:
            lines += ["in your code:", *_few(kept)]
    if found and len(lines) == 1:  # no frame of the student's: the call raised it
        lines = [f"{head}: {said} ({AT_CALL.format(fn=found.group(1))})" if said else
                 f"{head} {WITHHELD_AT_CALL.format(fn=found.group(1))}"]
    return "\n".join(lines)


_FRAME = re.compile(r'^  File "(.*)", line (\d{1,12})')


def _own_words(written: tuple[str, ...], topic: str, sent: object) -> frozenset[str]:
    """The module's words (and its own name) that a hidden test's copy may show of what the
    worker sent: none where the worker sent more than ``MAX_WRITTEN_SHOWN`` texts that are
    among them (a dict of many keys, each chosen by an input from words written for the
    purpose), so that a test shows at most a few choices among them, as it shows at most
    ``MAX_FRAMES`` line numbers."""
    if not written:
        return frozenset()
    own = frozenset((*written, topic))
    texts = {s for s in sent if isinstance(s, str)} if isinstance(sent, (list, tuple)) else set()
    return own if sum(_spelt(s, own) for s in texts) <= MAX_WRITTEN_SHOWN else frozenset()


def _spelt(text: str, written: frozenset[str]) -> bool:
    """Whether the module spells ``text``: whole, or each part of a dotted name of at most
    ``MAX_PARTS`` parts (a class it defines, sent as ``module.Class``): a longer one would be
    many choices among the words in one text."""
    parts = text.split(".")
    return text in written or 1 < len(parts) <= python_errors.MAX_PARTS and all(
        part.isidentifier() and part in written for part in parts)


def _text_of(rest: str) -> str:
    """An exception's own text in the message grading wrote (after "f raised Type"): up to the
    hint or the traceback that follow it."""
    rest = rest.removeprefix(": ")
    for end in ("\n  Hint: ", "\nin your code:\n"):
        rest = rest.split(end, 1)[0]
    return rest


def _written_text(text: str, written: frozenset[str]) -> str:
    """``text`` where the module spells it out whole (a KeyError's text is its key's repr)."""
    if text in written:
        return text
    if len(text) > 2 and text[0] == text[-1] and text[0] in "'\"" and text[1:-1] in written and \
            repr(text[1:-1]) == text:
        return text
    return ""


def _place(name: str, line: int, topic: str, code: "LineRanges | None") -> str:
    """Where a frame or a call was, as a hidden test's student copy says it: the topic module's
    line where it holds code, else no number."""
    if not topic or name != f"{topic}.py":
        return OTHER_FILE
    if code is None or not code.ranges:  # which lines hold code is not known: no number
        return name
    return f"{name}, line {line}" if line in code else f"{name}, {RUNTIME_CODE}"


def _few(lines: list[str]) -> list[str]:
    """``lines`` with each run of one line kept once, and at most the last ``MAX_FRAMES``."""
    kept = [x for i, x in enumerate(lines) if i == 0 or x != lines[i - 1]]
    return [WITHHELD_FRAMES, *kept[-MAX_FRAMES:]] if len(kept) > MAX_FRAMES else kept


# A banned call's place as grader.grading.remote.describe_banned_call writes it.
_CALL_PLACE = re.compile(r"\(([^()\n]{1,200}), line (\d{1,12})\)")


def _places_withheld(message: str, topic: str, code: "LineRanges") -> str:
    """The banned calls' descriptions with their places said as ``_place`` says them; the same
    description twice shows once."""
    out: list[str] = []
    for line in message.splitlines():
        line = _CALL_PLACE.sub(lambda m: f"({_place(m.group(1), int(m.group(2)), topic, code)})"
                               if m.group(1) == f"{topic}.py" else f"({m.group(1)})", line)
        if line not in out:
            out.append(line)
    return "\n".join(out)


# A banned call as grader.grading.banned.describe or remote.describe_banned_call writes it.
_BAN_LINE = re.compile(r"^(\S{1,200}|a banned function) is not allowed (in this exercise|here) "
                       r"\([^\n]{0,300}\): write it with basic array operations instead$")


def _ban_lines(message: str) -> tuple[str, str]:
    """(the leading descriptions of banned calls, the rest of the message)."""
    lines = message.split("\n")
    n = 0
    while n < len(lines) and _BAN_LINE.match(lines[n]):
        n += 1
    return "\n".join(lines[:n]), "\n".join(lines[n:])


_EXIT = re.compile(r" \((?:exit code \d+|killed by SIG\w+)\)")


def _exit_withheld(message: str) -> str:
    """A crashed worker's message without its exit code or signal, which the student's code
    chooses (``os._exit(n)``, ``os.kill``); a kill for going over the memory limit (the
    grader's, and said as such) stays."""
    return _EXIT.sub("", message)


class LineRanges:
    """Line numbers given as ranges, ``"1-5,7,9-20"`` (``TopicResult.code_lines``)."""

    def __init__(self, spec: str) -> None:
        self.ranges: list[tuple[int, int]] = []
        for part in spec.split(","):
            first, _, last = part.strip().partition("-")
            if first.isdigit() and (not last or last.isdigit()):
                self.ranges.append((int(first), int(last or first)))

    def __contains__(self, line: object) -> bool:
        return isinstance(line, int) and any(a <= line <= b for a, b in self.ranges)


_NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
             tokenize.ENCODING, tokenize.ENDMARKER}


def code_lines(path: Path | None) -> str:
    """The lines of a student's module that hold code (a token other than a comment), as
    ranges ``"1-5,7,9-20"``: where a traceback frame of that module can truly be. Read as text
    in the trusted process, never run; empty for a missing file, or one that does not tokenize
    (nothing of it ran then)."""
    return read_module(path)[0]


def written_words(path: Path | None) -> tuple[str, ...]:
    """The module's own words as handed in (``read_module``)."""
    return read_module(path)[1]


MAX_WRITTEN = 1000  # words of a module kept: what a text shown may be chosen among
MAX_WRITTEN_SHOWN = 6  # texts of the worker's a test shows where they are the module's words
_LONGEST_WRITTEN = 200


def read_module(path: Path | None) -> tuple[str, tuple[str, ...]]:
    """``code_lines`` and the module's own words as handed in, from one reading of its tokens:
    its names and the values of its string literals (adjacent ones joined, as Python joins
    them; none that is or joins an f-string or bytes, though from Python 3.12, whose tokens
    split an f-string, a plain literal beside one counts on its own: text the module spells all
    the same; each at most 200 characters), at most
    ``MAX_WRITTEN`` of them in the order they appear. Read as text in the trusted process,
    never run. A text the worker sends that is one of the words was written before any test
    ran, so it carries nothing of a hidden input but the choice among them, as a line number
    shown beside it does. Both empty for a missing file or one that does not tokenize."""
    if path is None:
        return "", ()
    marked: set[int] = set()
    found: dict[str, None] = {}
    literal: list[str | None] = []  # the parts of the string literal being read
    try:
        for tok in _tokens(Path(path).read_bytes()):
            if tok.type in _NOT_CODE:
                continue
            first, last = tok.start[0], tok.end[0]
            marked.update((first,) if first == last else range(first, last + 1))
            if tok.type == tokenize.STRING:
                literal.append(_plain_literal(tok.string))
                continue
            _keep_literal(literal, found)
            literal = []
            if tok.type == tokenize.NAME:
                _keep_word(tok.string, found)
        _keep_literal(literal, found)
    except (OSError, SyntaxError, tokenize.TokenError, UnicodeDecodeError):
        return "", ()
    parts: list[str] = []
    for line in sorted(marked):
        if parts and line == _last(parts) + 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{line}"
        else:
            parts.append(str(line))
    return ",".join(parts), tuple(found)


def _plain_literal(token: str) -> str | None:
    """The text of a string literal's token; None for an f-string, bytes or one unreadable."""
    prefix = token[:len(token) - len(token.lstrip("rRbBuUfF"))].lower()
    if "f" in prefix or "b" in prefix:
        return None
    try:
        value = ast.literal_eval(token)
    except (ValueError, SyntaxError, MemoryError):
        return None
    return value if isinstance(value, str) else None


def _keep_literal(parts: list[str | None], found: dict[str, None]) -> None:
    """Keep the literal made of ``parts`` (adjacent tokens), unless one of them is no text."""
    if parts and all(p is not None for p in parts):
        _keep_word("".join(p for p in parts if p is not None), found)


def _keep_word(word: str, found: dict[str, None]) -> None:
    if word.strip() and len(word) <= _LONGEST_WRITTEN and len(found) < MAX_WRITTEN:
        found[word] = None


def _tokens(source: bytes) -> Iterator[tokenize.TokenInfo]:
    """The tokens of ``source``, as ``tokenize.tokenize`` gives them: from the interpreter's own
    tokenizer where this Python lets it be called with the source's text (3.11: twice as fast;
    it leaves out comments and blank lines, which ``code_lines`` leaves out anyway), else from
    ``tokenize``'s, as for a source the interpreter's tokenizer refuses (Python 3.12 and later
    take another argument there, and ``tokenize`` is itself that tokenizer's)."""
    c_tokens = getattr(tokenize, "_generate_tokens_from_c_tokenizer", None)
    if c_tokens is not None:
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
            return iter(list(c_tokens(source.decode(encoding))))
        except Exception:  # noqa: BLE001 - tokenize's own tokenizer says
            pass
    return tokenize.tokenize(io.BytesIO(source).readline)


def _last(parts: list[str]) -> int:
    return int(parts[-1].rsplit("-", 1)[-1])


_MAKING = contextvars.ContextVar("making_a_student_view", default=False)


@dataclass(frozen=True)
class StudentView:
    """What a student may see of one result (``result``: the result with what the student may
    not see taken out, scores unchanged), as of ``released`` (the visibility levels whose time
    has come). Made only by ``student_view``; every student-facing writer takes this type."""

    result: SubmissionResult
    released: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not _MAKING.get():  # dataclasses.replace and direct construction come here too
            raise TypeError("a StudentView is made only by "
                            "grader.results.visibility.student_view(result)")


def student_view(result: SubmissionResult, released: frozenset[str] = frozenset()
                 ) -> StudentView:
    """The one student view of ``result``: each test as ``student_test`` shows it."""
    if not isinstance(result, SubmissionResult):
        raise TypeError(f"student_view takes a SubmissionResult, not {type(result).__name__}")
    code = {t.topic: (t.code_lines, t.written) for t in result.topics}
    shown = replace(result, tests=tuple(student_test(t, released, *code.get(t.topic, ("", ())))
                                        for t in result.tests))
    token = _MAKING.set(True)
    try:
        return StudentView(shown, frozenset(released))
    finally:
        _MAKING.reset(token)


def seen(view: StudentView) -> SubmissionResult:
    """The result a student-facing writer shows: ``view``'s, checked to be a view at run time
    too (for callers that are not type-checked)."""
    if not isinstance(view, StudentView):
        raise TypeError("a student-facing file is written from student_view(result), not from "
                        f"{type(view).__name__}")
    return view.result


__all__ = ["VISIBILITIES", "WITHHELD_OUTPUT", "WITHHELD_EXCEPTION", "WITHHELD_AT_CALL", "RELEASED_LATER", "WORKER_TEXT",
           "WITHHELD_TEXT", "GATED", "MAX_FRAMES", "StudentView", "level", "output_shown",
           "shown_now", "combine", "student_test", "student_view", "seen", "code_lines",
           "withhold_text"]
