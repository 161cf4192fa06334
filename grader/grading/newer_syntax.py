"""Syntax that a newer Python accepts and the grading Python refuses, said as such.

A student whose own Python is newer than the one grading runs (3.12's f-strings that reuse
their quotes inside the braces, type aliases and type parameters; 3.14's unparenthesised
``except A, B:``) passes their own runs and ``grader check`` and scores 0 for "a syntax error"
when graded. From Python's own message and the line it shows (the worker's traceback, as
Python writes it), never by running anything; the hint names both versions and what to write
instead.
"""

from __future__ import annotations

import re
import sys

_FSTRING = ("f-string: unmatched", "f-string: expecting '}'",
            "f-string expression part cannot include")
_TYPE_ALIAS = re.compile(r"\s*type\s+[A-Za-z_]\w*\s*(\[[^\]]*\])?\s*=")
_TYPE_PARAMS = re.compile(r"\s*(async\s+def|def|class)\s+[A-Za-z_]\w*\s*\[")
_EXCEPT = "multiple exception types must be parenthesized"
# (the oldest Python that accepts it, what to write for an older one), by what Python says.
_ADVICE = {
    "fstring": ((3, 12), "inside an f-string's braces, use the other kind of quotes (f\"{d['k']}\"), "
                "and no backslash or comment; or compute the value before the f-string"),
    "alias": ((3, 12), "write the alias as an assignment (`Vector = list[float]`)"),
    "params": ((3, 12), "leave out the [T] after the name (use typing.TypeVar, or no type "
               "parameters)"),
    "except": ((3, 14), "put the exception types in parentheses: `except (A, B):`"),
}


def hint(traceback_text: str, version: tuple[int, int] = sys.version_info[:2]) -> str:
    """What to tell a student whose module has a syntax error that a Python newer than
    ``version`` (grading's) accepts; "" where the error is no such syntax."""
    lines = traceback_text.rstrip().splitlines()
    said = next((x.split(": ", 1)[1] for x in reversed(lines)
                 if x.startswith("SyntaxError: ")), "")
    code = next((lines[i + 1] for i in range(len(lines) - 1)
                 if lines[i].lstrip().startswith("File ") and ", line " in lines[i]), "")
    if said.startswith(_FSTRING):
        kind = "fstring"
    elif said == _EXCEPT:
        kind = "except"
    elif _TYPE_ALIAS.match(code):
        kind = "alias"
    elif _TYPE_PARAMS.match(code):
        kind = "params"
    else:
        return ""
    (major, minor), advice = _ADVICE[kind]
    if version >= (major, minor):
        return ""
    return (f"Python {major}.{minor} and newer accept this line; grading runs Python "
            f"{version[0]}.{version[1]}, which does not, so the module does not import there "
            f"(if `grader check` passed, your Python is newer): {advice}")
